# WWS: the owner's tool folders on PATH (as /etc/wws/path.sh does for sh, bash and zsh).
for dir in $HOME/.cargo/bin $HOME/go/bin $HOME/.wws/languages/*/bin $HOME/.local/bin
    if test -d $dir; and not contains -- $dir $PATH
        set -gx PATH $dir $PATH
    end
end
set -q NODE_EXTRA_CA_CERTS; or set -gx NODE_EXTRA_CA_CERTS /etc/ssl/certs/ca-certificates.crt
