#!/bin/bash
# Builds code-server from the npm registry into /usr/lib/wws (run by `wws image build` in a
# throwaway Debian root that has the build tools; only the folders of `outputs` go into the
# image). The image's Node.js and npm are private: they are not on anyone's PATH.
#
# Environment: WWS_NPM_TARBALLS (the tarballs of npm-pack.txt), npm_config_cache (npm's
# cache, kept under the data dir between builds), JOBS (parallel compile jobs).
set -euo pipefail
code_server_version=4.139.1

tarballs=${WWS_NPM_TARBALLS:?}
lib=/usr/lib/wws
node_dir=$lib/node
npm_dir=$lib/npm

echo "--- Node.js and npm"
mkdir -p "$node_dir" "$npm_dir" "$lib/bin"
tar -xzf "$tarballs"/node-linux-*.tgz -C "$node_dir" --strip-components=1 --no-same-owner
tar -xzf "$tarballs"/npm-*.tgz -C "$npm_dir" --strip-components=1 --no-same-owner
"$node_dir/bin/node" --version

export PATH="$node_dir/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
# node-gyp: the headers of this Node.js (never a download from nodejs.org).
export npm_config_nodedir=$node_dir
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export npm_config_loglevel=http
# Install scripts (node-gyp compiling) print as they go: visible progress in the build.
export npm_config_foreground_scripts=true

npm() { "$node_dir/bin/node" "$npm_dir/bin/npm-cli.js" "$@"; }
# code-server's postinstall runs `npm install` in its own folders: it needs `npm` on PATH.
ln -sf ../../npm/bin/npm-cli.js "$node_dir/bin/npm"

echo "--- code-server $code_server_version"
npm install --global --prefix "$lib/code-server" "code-server@$code_server_version"
rm -f "$node_dir/bin/npm"

app=$lib/code-server/lib/node_modules/code-server
cat >"$lib/bin/code-server" <<WRAPPER
#!/bin/sh
# code-server $code_server_version on the image's own Node.js ($("$node_dir/bin/node" --version)).
exec $node_dir/bin/node $app/out/node/entry.js "\$@"
WRAPPER
chmod 755 "$lib/bin/code-server"

echo "--- trimming"
# Headers and docs of the private Node.js; other platforms' prebuilt binaries; compilers'
# intermediate files.
rm -rf "$node_dir/include" "$node_dir/share" "$node_dir"/*.md
platform="linux-$(case $(uname -m) in x86_64) echo x64 ;; aarch64) echo arm64 ;; *) uname -m ;; esac)"
find "$app" -type d \( -name prebuilds -o -path '*/ripgrep-universal/bin' \) -prune -print0 |
    while IFS= read -r -d '' dir; do
        find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name "$platform*" -exec rm -rf {} +
    done
find "$app" -type d -path '*/build/Release/obj.target' -prune -exec rm -rf {} +
rm -rf /root/.npm/_logs

"$lib/bin/code-server" --version
du -sh "$node_dir" "$npm_dir" "$lib/code-server"
