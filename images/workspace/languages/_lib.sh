# shellcheck shell=bash
# Helpers for the language installers languages/<name>.sh (sourced, not run).
#
# An installer is run by wws-agent as the workspace's owner, with:
#   $1                      packages | install | version
#   WWS_LANGUAGE            its name
#   WWS_LANGUAGE_VERSION    the version asked for ("" for the default)
#   WWS_LANG_PREFIX         where it installs: ~/.wws/languages/<name> (its bin/ goes on PATH)
#   WWS_DEBS                for `install`: a folder with the .deb files of the Debian
#                           packages that `packages` named, plus what they need beyond the
#                           image (fetched once per home by the agent, as root, into
#                           /home/.wws/cache/apt); empty when none
# `packages` prints Debian package names (or nothing); `install` installs (its output goes
# to ~/.wws/logs/languages/<name>.log); `version` prints the installed version on its last
# line and fails when the language is not (or no longer) installed.

# wws_extract_debs DEST: unpack every .deb of $WWS_DEBS into DEST and re-point absolute
# symbolic links inside DEST (relative links, so DEST can be moved).
wws_extract_debs() {
    local dest=$1 deb link target
    mkdir -p "$dest"
    for deb in "${WWS_DEBS:?no Debian packages were fetched}"/*.deb; do
        [[ -e $deb ]] || continue
        echo "unpacking ${deb##*/}"
        dpkg-deb -x "$deb" "$dest"
    done
    while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        if [[ $target == /* ]]; then
            ln -sfnr "$dest$target" "$link"
        fi
    done < <(find "$dest" -type l -print0)
}

# wws_swap_prefix NEW: replace $WWS_LANG_PREFIX by the freshly built NEW.
wws_swap_prefix() {
    local new=$1
    rm -rf "$WWS_LANG_PREFIX.old"
    if [[ -e $WWS_LANG_PREFIX ]]; then
        mv "$WWS_LANG_PREFIX" "$WWS_LANG_PREFIX.old"
    fi
    mv "$new" "$WWS_LANG_PREFIX"
    rm -rf "$WWS_LANG_PREFIX.old"
}

# The multiarch triplet of this machine's libraries (x86_64-linux-gnu, aarch64-linux-gnu).
wws_multiarch() {
    echo "$(uname -m)-linux-gnu"
}
