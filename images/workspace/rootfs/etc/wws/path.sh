# shellcheck shell=sh
# WWS: the owner's tool folders on PATH, first: ~/.local/bin, the languages of
# ~/.wws/languages/*/bin, ~/go/bin and ~/.cargo/bin. Sourced by the startup files of sh,
# bash and zsh (fish: /etc/fish/conf.d/wws.fish); safe to source more than once.
_wws_prepend() {
    case ":$PATH:" in
    *":$1:"*) ;;
    *) if [ -d "$1" ]; then PATH="$1:$PATH"; fi ;;
    esac
}
if [ -n "${HOME:-}" ]; then
    _wws_prepend "$HOME/.cargo/bin"
    _wws_prepend "$HOME/go/bin"
    for _wws_dir in "$HOME"/.wws/languages/*/bin; do
        _wws_prepend "$_wws_dir"
    done
    unset _wws_dir
    _wws_prepend "$HOME/.local/bin"
    export PATH
fi
unset -f _wws_prepend
# Node.js trusts the system's certificates too (an operator's CA added to the image).
: "${NODE_EXTRA_CA_CERTS:=/etc/ssl/certs/ca-certificates.crt}"
export NODE_EXTRA_CA_CERTS
