#!/bin/bash
# Makes (once) and caches a minimal Debian root file system for the system
# test: debootstrap's minbase, systemd as init, and everything the test needs
# inside it (the package's build dependencies from debian/control, lintian,
# Prosody, ejabberd, Redis, on Debian 13 Valkey too, the Python client), so
# that later runs need no network.
#
#   tests/system/image.sh RELEASE        (bookworm, trixie, ...)
#
# Prints the image's directory on its last line. Images live in
# tests/system/cache/ (git-ignored; SYSTEM_CACHE overrides), one per release,
# named after a hash of what went into them: a change of the package list
# makes a new one, and so does a build dependency in debian/control that the
# image does not satisfy (dpkg-checkbuilddeps); the old one of that release
# is removed. Needs root, debootstrap and systemd-nspawn. The mirror is
# SYSTEM_MIRROR (default http://deb.debian.org/debian).
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/tests/system/container.sh"

RELEASE=${1:?usage: image.sh RELEASE}
MIRROR=${SYSTEM_MIRROR:-http://deb.debian.org/debian}
CACHE=${SYSTEM_CACHE:-$TOP/tests/system/cache}

# In the image: the init, what the suites inside run (and a Redis for the
# drop-ins' case), and the build's own tools. The build dependencies are added from debian/control (apt-get
# build-dep); those the C build is about to need are listed here already.
PACKAGES="systemd systemd-sysv dbus adduser procps iproute2 util-linux
build-essential debhelper dpkg-dev fakeroot lintian
libhiredis-dev libseccomp-dev
prosody ejabberd redis-server python3 python3-slixmpp python3-pyotp"
# Debian 13 has Valkey: the Redis suites run inside against it too (and
# its sentinel, and Redis's, for t-49); none of their services runs. With
# faketime their clock checks run there too, with python3-jwt and
# python3-jwcrypto t-70's JWT logins through Debian 13's ejabberd, and with
# valgrind t-48's two nodes under valgrind (and under ASan, which
# build-essential's compiler has).
SERVICES="ejabberd.service redis-server.service"
case $RELEASE in
trixie)
	PACKAGES="$PACKAGES redis-sentinel valkey-server valkey-sentinel valkey-tools openssl
faketime python3-jwt python3-jwcrypto valgrind"
	SERVICES="$SERVICES redis-sentinel.service valkey-server.service valkey-sentinel.service"
	;;
esac

# shellcheck disable=SC2086 # the list, one line
KEY=$( { echo "$RELEASE $MIRROR"; echo $PACKAGES; sed -n '/^# image-version/p' "$0"; } |
	sha256sum | cut -c1-12)
# image-version 1
IMAGE=$CACHE/$RELEASE-$KEY

# usable: the image is complete and has every build dependency.
usable() {
	[ -f "$IMAGE/.complete" ] &&
		dpkg-checkbuilddeps --admindir="$IMAGE/var/lib/dpkg" "$TOP/debian/control" 2>/dev/null
}

if usable; then
	echo "$IMAGE"
	exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.$RELEASE.lock"
flock -w 3600 9 || { echo "image: cannot lock $CACHE/.$RELEASE.lock" >&2; exit 1; }
if usable; then
	echo "$IMAGE"
	exit 0
fi
[ ! -f "$IMAGE/.complete" ] ||
	echo "image: the $RELEASE image lacks a build dependency of debian/control: making it again" >&2

started=$SECONDS
TMP=$CACHE/.$RELEASE-$KEY.tmp
rm -rf "$TMP"
echo "image: debootstrap $RELEASE from $MIRROR into ${TMP#"$TOP"/}" >&2
if ! debootstrap --variant=minbase --include=systemd,systemd-sysv \
	"$RELEASE" "$TMP" "$MIRROR" >"$CACHE/.$RELEASE.log" 2>&1; then
	tail -20 "$CACHE/.$RELEASE.log" >&2
	echo "image: debootstrap $RELEASE failed (log: $CACHE/.$RELEASE.log)" >&2
	exit 1
fi

# Services must not start while the image is made.
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod 0755 "$TMP/usr/sbin/policy-rc.d"
echo "deb $MIRROR $RELEASE main" >"$TMP/etc/apt/sources.list"
mkdir -p "$TMP/root/control/debian"
cp "$TOP/debian/control" "$TOP/debian/changelog" "$TMP/root/control/debian/"

echo "image: installing the test's packages and the build dependencies" >&2
# shellcheck disable=SC2086,SC2116 # the list, one line
if ! ct_run_once "$TMP" /bin/sh -ec '
	export DEBIAN_FRONTEND=noninteractive
	apt-get -q update
	apt-get -q -y --no-install-recommends install '"$(echo $PACKAGES)"'
	apt-get -q -y --no-install-recommends build-dep /root/control
	apt-get clean
	# The test boots Prosody as the service; ejabberd runs in the suite,
	# Redis when its case starts it, Valkey in the suites alone.
	systemctl disable '"$SERVICES"'
	systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
		fstrim.timer man-db.timer dpkg-db-backup.timer 2>/dev/null || true
	' >>"$CACHE/.$RELEASE.log" 2>&1; then
	tail -20 "$CACHE/.$RELEASE.log" >&2
	echo "image: installing packages into the $RELEASE image failed (log: $CACHE/.$RELEASE.log)" >&2
	exit 1
fi
rm -rf "$TMP/root/control" "$TMP/usr/sbin/policy-rc.d"
# The container gets its machine id at boot.
: >"$TMP/etc/machine-id"
echo "$RELEASE" >"$TMP/etc/hostname"

for old in "$CACHE/$RELEASE"-*; do
	[ -d "$old" ] && rm -rf "$old"
done
mv "$TMP" "$IMAGE"
touch "$IMAGE/.complete"
rm -f "$CACHE/.$RELEASE.log"
echo "image: $RELEASE ready in $((SECONDS - started)) s" >&2
echo "$IMAGE"
