#!/usr/bin/env bash
# The Debian packages the tests use: Chromium (the report test renders a page in it) and a font
# with Chinese characters (for its screenshot). Installed when missing and possible (root, or
# sudo without a password); otherwise one line says which command installs them.
set -uo pipefail
missing=""
[ -x /usr/bin/chromium ] || missing="chromium"
dpkg-query -W -f='${Status}' fonts-wqy-zenhei 2>/dev/null | grep -q "install ok installed" || missing="$missing fonts-wqy-zenhei"
missing="${missing# }"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages: no apt-get here; install $missing yourself (the report test needs them)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "system-packages: run 'sudo apt-get install $missing' (the report test needs them)" >&2
        exit 0
    fi
fi
echo "system-packages: installing $missing" >&2
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null || \
    echo "system-packages: could not install $missing; run 'apt-get install $missing'" >&2
exit 0
