#!/bin/bash
# python: the image's CPython (Debian's python3) in a virtual environment of the owner's,
# ~/.wws/languages/python, whose bin/ is on PATH: `python` and `pip` install into it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "${WWS_LIB_DIR:-/usr/local/lib/wws}/languages/_lib.sh"
prefix=${WWS_LANG_PREFIX:?}

case ${1:-} in
packages) ;; # python3, python3-venv and python3-pip are in the image
install)
    have=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    want=${WWS_LANGUAGE_VERSION:-$have}
    if [[ $want != "$have" ]]; then
        echo "python $want is not in this image (it has python $have)" >&2
        exit 1
    fi
    python3 -m venv "$prefix"
    "$prefix/bin/python" -m pip --version
    ;;
version)
    "$prefix/bin/python" -c 'import platform; print(platform.python_version())'
    ;;
*)
    echo "usage: $0 packages|install|version" >&2
    exit 2
    ;;
esac
