# shellcheck shell=sh
# WWS: the owner's tools on PATH in login shells (/etc/profile resets PATH before this).
# shellcheck source-path=SCRIPTDIR source=../wws/path.sh
. /etc/wws/path.sh
