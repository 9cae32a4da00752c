#!/bin/bash
# go: Debian's Go toolchain (golang-go), unpacked into ~/.wws/languages/go/root; bin/go and
# bin/gofmt link to it (go finds its GOROOT from its own path). `go install` puts tools
# in ~/go/bin, which is on PATH too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "${WWS_LIB_DIR:-/usr/local/lib/wws}/languages/_lib.sh"
prefix=${WWS_LANG_PREFIX:?}

case ${1:-} in
packages)
    echo golang-go
    ;;
install)
    new="$prefix.new"
    rm -rf "$new"
    wws_extract_debs "$new/root"
    goroot=$(find "$new/root/usr/lib" -maxdepth 1 -type d -name 'go-*' | sort -V | tail -n 1)
    if [[ -z $goroot ]]; then
        echo "no GOROOT in the unpacked packages" >&2
        exit 1
    fi
    mkdir -p "$new/bin"
    for tool in go gofmt; do
        ln -sr "$goroot/bin/$tool" "$new/bin/$tool"
    done
    wws_swap_prefix "$new"
    "$prefix/bin/go" version
    ;;
version)
    "$prefix/bin/go" version | sed -n 's/^go version go\([0-9.]*\).*/\1/p'
    ;;
*)
    echo "usage: $0 packages|install|version" >&2
    exit 2
    ;;
esac
