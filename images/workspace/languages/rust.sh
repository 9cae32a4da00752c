#!/bin/bash
# rust: Debian's rustc and cargo, unpacked into ~/.wws/languages/rust/root, with small
# wrappers in bin/ that point the dynamic loader at the unpacked libraries. The image's
# gcc is the linker. `cargo install` puts tools in ~/.cargo/bin, which is on PATH too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "${WWS_LIB_DIR:-/usr/local/lib/wws}/languages/_lib.sh"
prefix=${WWS_LANG_PREFIX:?}

case ${1:-} in
packages)
    echo rustc cargo
    ;;
install)
    new="$prefix.new"
    rm -rf "$new"
    wws_extract_debs "$new/root"
    mkdir -p "$new/bin"
    for tool in rustc rustdoc cargo; do
        [[ -x $new/root/usr/bin/$tool ]] || continue
        cat >"$new/bin/$tool" <<WRAPPER
#!/bin/sh
# Written by images/workspace/languages/rust.sh: Debian's $tool, unpacked in the home.
root=\$(dirname "\$(dirname "\$(readlink -f "\$0")")")/root
LD_LIBRARY_PATH="\$root/usr/lib/$(wws_multiarch)\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "\$root/usr/bin/$tool" "\$@"
WRAPPER
        chmod 755 "$new/bin/$tool"
    done
    wws_swap_prefix "$new"
    "$prefix/bin/rustc" --version
    "$prefix/bin/cargo" --version
    ;;
version)
    "$prefix/bin/cargo" --version >/dev/null
    "$prefix/bin/rustc" --version | sed -n 's/^rustc \([0-9.]*\).*/\1/p'
    ;;
*)
    echo "usage: $0 packages|install|version" >&2
    exit 2
    ;;
esac
