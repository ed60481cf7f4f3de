#!/bin/sh
# Installs, on Debian 12, every package that building, testing and the demo
# need. As root it runs apt-get; otherwise it names what is missing and how to
# install it. Safe to run again: it does nothing when all is there.
set -eu

PACKAGES="build-essential pkgconf libssl-dev libbsd-dev liblmdb-dev check
libhiredis-dev libseccomp-dev libjansson-dev python3-jwt python3-jwcrypto
clang libclang-rt-14-dev valgrind lmdb-utils procps util-linux
python3 python3-pyotp python3-slixmpp python3-pyflakes oathtool lua-check
prosody systemd debhelper dpkg-dev fakeroot lintian ejabberd faketime iproute2
systemd-container debootstrap
redis-server redis-sentinel php-cli tzdata strace
chromium gnuplot-nox prometheus"

# The Node.js example and the browser suite need Node.js (18 or later) and
# npm (for converse.js and playwright-core): Debian's packages only where
# there are none, so that a Node.js installed otherwise (NodeSource, nvm,
# with its own npm) is left alone.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	PACKAGES="$PACKAGES nodejs npm"
fi

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: install them with: sudo apt-get install$missing" >&2
	exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# (another apt run, such as unattended-upgrades, may hold the lock a while)
apt-get -o DPkg::Lock::Timeout=300 update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing
