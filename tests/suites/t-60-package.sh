#!/bin/bash
# The Debian package, for real: build it with dpkg-buildpackage from a copy of
# the tracked files, run lintian, install it with apt, check what the
# maintainer scripts made, run Prosody against the installed files (the
# installed helper behind the socket as the socket unit runs it, the installed
# modules and host fragment), run the end-to-end Prosody suite and the ejabberd
# suite against the installed files, verify the systemd units, reinstall and
# upgrade (the secrets never change), and purge: nothing of the package is
# left, and the machine is as it was before.
#
# Needs root (CI runs as root): otherwise it says why and runs nothing.
# Never starts a system service: systemd need not be running; the socket is
# served by systemd-socket-activate, as on a system without systemd.

# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "the Debian package" "building, installing and purging it needs root"
	finish
	exit 0
fi

PKG=prosody-token-auth
HUSER=_prosody-token-auth
CONF=/etc/prosody/token-auth.conf
STATE=/var/lib/prosody-token-auth
RUNDIR=/run/prosody-token-auth
SOCK=$RUNDIR/socket
MODDIR=/usr/lib/prosody/modules
FRAGMENT=/etc/prosody/conf.avail/prosody-token-auth.cfg.lua
DOCDIR=/usr/share/doc/$PKG
DOMAIN=example.test
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -y --no-install-recommends -o DPkg::Lock::Timeout=300)

missing=""
for tool in dpkg-buildpackage dpkg-parsechangelog lintian apt-get git \
	systemd-analyze systemd-socket-activate setpriv runuser prosody; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "missing:$missing (tests/deps.sh installs the Debian packages)" >&2
	fail "prerequisites"
	finish
	exit 1
fi

# --- clean-up: whatever happens, the package goes, and so does every
# process started here ------------------------------------------------------

we_installed=0
servers=()
pkg_cleanup() {
	local pid child
	for pid in "${servers[@]}"; do
		for child in $(pgrep -P "$pid" 2>/dev/null); do
			kill "$child" 2>/dev/null
		done
	done
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$we_installed" = 1 ] && dpkg -s "$PKG" >/dev/null 2>&1; then
		"${APT[@]}" purge "$PKG" >"$WORK/cleanup-purge.log" 2>&1 || {
			cat "$WORK/cleanup-purge.log"
			echo "# could not purge $PKG" >&2
		}
	fi
	cleanup
}
trap pkg_cleanup EXIT

installed_version() {
	dpkg-query -W -f='${db:Status-Status} ${Version}' "$PKG" 2>/dev/null
}

# An installed package is somebody's: its secrets, its store and its user are
# never touched here. (A package dpkg knows of only as "not-installed", as
# after a failed unpack, is not there.)
status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
	skip "the Debian package" "$PKG is installed on this machine, and this suite would replace and purge it (its secrets, replay store and user); run it on a machine without the package"
	finish
	exit 0
fi

# --- the machine before ---------------------------------------------------

# snapshot: every path under the places a package or its scripts write to,
# without the package manager's own records and caches.
snapshot() {
	find /etc /usr /lib /var/lib /opt /srv "$RUNDIR" -xdev 2>/dev/null |
		grep -v -e '^/var/lib/dpkg/' -e '^/var/lib/apt/' -e '/__pycache__' \
			-e '^/etc/ld\.so\.cache$' -e '^/var/lib/man-db/' \
			-e '^/var/lib/ucf/' -e '^/etc/\(passwd\|group\|shadow\|gshadow\)-$' |
		LC_ALL=C sort
}
# unowned: files whose owner or group no longer exists.
unowned() {
	find /etc /var /run /srv /opt /home /usr/local -xdev \
		\( -nouser -o -nogroup \) -print 2>/dev/null | LC_ALL=C sort
}
snapshot >"$WORK/before.paths"
unowned >"$WORK/before.unowned"
getent passwd "$HUSER" >"$WORK/before.user"
getent group "$HUSER" >"$WORK/before.group"

# --- build from a copy of the tracked files --------------------------------

ARCH=$(dpkg --print-architecture)
B1=$WORK/build1
SRC=$B1/$PKG
mkdir -p "$SRC"
tree_state() { git -C "$TOP" status --porcelain --untracked-files=all 2>/dev/null; }
tree_state >"$WORK/tree.before"
if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	# The tracked files as they are in the work tree (a file deleted there
	# is left out).
	(cd "$TOP" && git ls-files -z | tar --null -T - --ignore-failed-read \
		-cf - 2>/dev/null) | tar -xf - -C "$SRC"
else
	(cd "$TOP" && tar --exclude=.git --exclude=./tests/browser/node_modules -cf - .) |
		tar -xf - -C "$SRC"
fi
VERSION=$(cd "$SRC" && dpkg-parsechangelog -SVersion)
DEB=$B1/${PKG}_${VERSION}_$ARCH.deb

started=$SECONDS
if (cd "$SRC" && dpkg-buildpackage -b -us -uc) >"$WORK/build1.log" 2>&1 &&
	[ -f "$DEB" ]; then
	pass "dpkg-buildpackage -b builds ${DEB##*/} ($((SECONDS - started)) s)"
else
	tail -40 "$WORK/build1.log"
	fail "dpkg-buildpackage -b builds ${PKG}_${VERSION}_$ARCH.deb"
	finish
	exit 1
fi
grep -q 'override_dh_auto_test' "$WORK/build1.log" &&
	grep -q 'unit-check' "$WORK/build1.log" &&
	pass "the build ran the unit tests (make unit-check)" ||
	fail "the build ran the unit tests (make unit-check)"
check "the work tree is left as it was" "$(cat "$WORK/tree.before")" "$(tree_state)"

# (lintian leaves temporary files behind: keep them in $WORK)
mkdir -p "$WORK/lintian-tmp"
if TMPDIR=$WORK/lintian-tmp lintian --fail-on error,warning "$DEB" \
	>"$WORK/lintian.out" 2>&1; then
	pass "lintian --fail-on error,warning: clean"
else
	fail "lintian --fail-on error,warning"
fi
sed 's/^/# lintian: /' "$WORK/lintian.out" | grep -v 'running with root privileges'

# What the package holds, and what it must not.
dpkg-deb -c "$DEB" | awk '{ print $NF }' | sed 's|^\./|/|' >"$WORK/contents"
# The units go where the release's debhelper puts them: /lib/systemd/system
# on Debian 12, /usr/lib/systemd/system from Debian 13 on.
UNITDIR=/usr/lib/systemd/system
grep -qxF "/lib/systemd/system/$PKG.socket" "$WORK/contents" && UNITDIR=/lib/systemd/system
absent=""
for path in /usr/bin/$PKG /usr/share/man/man1/$PKG.1.gz \
	$MODDIR/mod_auth_token_socket.lua $MODDIR/mod_sasl_token.lua \
	$MODDIR/token_socket_pool.lib.lua \
	$FRAGMENT $UNITDIR/$PKG.socket "$UNITDIR/$PKG@.service" \
	$DOCDIR/README.Debian $DOCDIR/copyright $DOCDIR/changelog \
	$DOCDIR/examples/ejabberd.yml $DOCDIR/examples/ejabberd-connect.yml \
	$DOCDIR/examples/ejabberd-socket.conf $DOCDIR/test-vectors.md $DOCDIR/doc/operating.md \
	$DOCDIR/examples/converse/index.html \
	$DOCDIR/examples/monitoring/prometheus-rules.yml $DOCDIR/examples/monitoring/grafana-dashboard.json \
	$DOCDIR/examples/converse/chat.js $DOCDIR/examples/converse/x-token.js; do
	# (dh_compress may have compressed a document)
	grep -qxF -e "$path" -e "$path.gz" "$WORK/contents" ||
		absent="$absent $path"
done
check "package holds the helper, man page, Prosody modules, fragment, units, docs, examples" \
	"" "$absent"
# The web application's token examples run as they are: never compressed.
absent=""
for ex in mint_token.py mint_token.php mint_token.mjs; do
	grep -qxF "$DOCDIR/examples/$ex" "$WORK/contents" || absent="$absent $ex"
done
check "package holds the token examples, uncompressed" "" "$absent"
grep -qxF "$CONF" "$WORK/contents" &&
	fail "package does not ship the secrets file" ||
	pass "package does not ship the secrets file (made on installation)"
dpkg-deb -I "$DEB" triggers 2>/dev/null | grep -q '^interest-noawait /usr/bin/prosody$' &&
	pass "package starts its socket when Prosody arrives later (dpkg trigger)" ||
	fail "package has an interest trigger on /usr/bin/prosody"
if [ -f "$TOP/tests/harness/stress.sh" ]; then
	grep -qxF /usr/bin/$PKG-stress "$WORK/contents" &&
		pass "package holds the stress harness" ||
		fail "package holds the stress harness"
fi
if [ -f "$TOP/tests/harness/xmpp_storm.py" ]; then
	grep -qxF /usr/bin/$PKG-storm "$WORK/contents" &&
		pass "package holds the login storm client" ||
		fail "package holds the login storm client"
fi

# --- install ----------------------------------------------------------------

we_installed=1
if "${APT[@]}" install "$DEB" >"$WORK/install1.log" 2>&1; then
	pass "apt-get install ./${DEB##*/}"
else
	tail -30 "$WORK/install1.log"
	fail "apt-get install ./${DEB##*/}"
	finish
	exit 1
fi
check "package installed" "installed $VERSION" "$(installed_version)"

# The user and group.
IFS=: read -r _ _ huid hgid _ hhome hshell < <(getent passwd "$HUSER")
if [ -n "${huid:-}" ] && [ "$huid" -lt 1000 ] && getent group "$HUSER" >/dev/null &&
	[ "$(getent group "$HUSER" | cut -d: -f3)" = "$hgid" ]; then
	pass "system user and group $HUSER (uid $huid)"
else
	fail "system user and group $HUSER"
fi
check "$HUSER cannot log in" /usr/sbin/nologin "${hshell:-}"
[ ! -e "${hhome:-/nonexistent}" ] && pass "$HUSER has no home directory" ||
	fail "$HUSER has no home directory ($hhome)"

# The secrets.
check "config mode, owner, group" "640 root $HUSER" "$(stat -c '%a %U %G' "$CONF" 2>/dev/null)"
grep -Eq '^[[:space:]]*otp_seed[[:space:]]*=[[:space:]]*[A-Z2-7]{16,}' "$CONF" &&
	grep -Eq '^[[:space:]]*token_secret[[:space:]]*=[[:space:]]*[A-Z2-7]{32,}' "$CONF" &&
	pass "config has generated otp_seed and token_secret" ||
	fail "config has generated otp_seed and token_secret"
secret() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\([A-Z2-7]*\).*/\1/p" "$CONF"; }
SEED=$(secret otp_seed)
SECRET=$(secret token_secret)
[ "$SEED" != "$OTP_SEED" ] && [ "$SECRET" != "$TOKEN_SECRET" ] &&
	pass "the secrets are this host's own" || fail "the secrets are this host's own"
leftover=$(find /etc/prosody -maxdepth 1 -name '.token-auth.conf.*')
check "no temporary secrets file left" "" "$leftover"
dpkg-query -W -f='${Conffiles}\n' "$PKG" >"$WORK/conffiles"
grep -q "$FRAGMENT" "$WORK/conffiles" && ! grep -q "$CONF" "$WORK/conffiles" &&
	pass "the fragment is a conffile, the secrets file is not" ||
	fail "the fragment is a conffile, the secrets file is not"
if runuser -u "$HUSER" -- $PKG check-config >"$WORK/check-config.out" 2>&1; then
	pass "check-config as $HUSER accepts the generated config"
else
	cat "$WORK/check-config.out"
	fail "check-config as $HUSER accepts the generated config"
fi
if getent passwd prosody >/dev/null; then
	runuser -u prosody -- cat "$CONF" >/dev/null 2>&1 &&
		fail "Prosody's user cannot read the secrets" ||
		pass "Prosody's user cannot read the secrets"
fi
runuser -u nobody -- cat "$CONF" >/dev/null 2>&1 &&
	fail "other users cannot read the secrets" ||
	pass "other users cannot read the secrets"

# The replay store's directory, and the socket's enablement.
check "state directory mode and owner" "700 $HUSER $HUSER" \
	"$(stat -c '%a %U %G' "$STATE" 2>/dev/null)"
[ -L /etc/systemd/system/sockets.target.wants/$PKG.socket ] &&
	pass "socket unit enabled (sockets.target wants it)" ||
	fail "socket unit enabled"

# --- the units -----------------------------------------------------------

if systemd-analyze verify "$UNITDIR/$PKG.socket" "$UNITDIR/$PKG@.service" \
	>"$WORK/verify.out" 2>&1 && ! grep -q . "$WORK/verify.out"; then
	pass "systemd-analyze verify: socket and service"
else
	sed 's/^/# verify: /' "$WORK/verify.out"
	fail "systemd-analyze verify: socket and service"
fi
systemd-analyze security --offline=true "$UNITDIR/$PKG@.service" \
	>"$WORK/security.out" 2>&1
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$WORK/security.out")
echo "# systemd-analyze security: $(grep 'Overall exposure' "$WORK/security.out")"
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 1.0) }'; then
	pass "service exposure $score (at most 1.0)"
else
	grep '✗' "$WORK/security.out" | sed 's/^/# security: /'
	fail "service exposure ${score:-unknown} (at most 1.0)"
fi
grep -q '^StandardError=journal' "$UNITDIR/$PKG@.service" &&
	pass "the service's stderr never reaches the socket" ||
	fail "the service's stderr never reaches the socket"

# --- Prosody with the installed pieces ----------------------------------
# The installed helper behind the socket, as the socket unit runs it: as
# its own user, with the installed config. Prosody runs as its user with
# the installed modules (its default plugin path) and the installed host
# fragment, renamed to the test host.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install -d -m 0755 "$RUNDIR"
spawn systemd-socket-activate --accept --inetd -l "$SOCK" \
	setpriv --reuid="$HUSER" --regid="$HUSER" --init-groups --no-new-privs \
	--inh-caps=-all --bounding-set=-all -- /usr/bin/$PKG \
	2>>"$WORK/socket-activate.log"
SERVER=$!
servers+=("$SERVER")
if wait_for 10 test -S "$SOCK"; then
	chgrp prosody "$SOCK" && chmod 0660 "$SOCK"
	pass "installed helper served on $SOCK"
else
	fail "installed helper served on $SOCK"
fi

PI=$WORK/prosody
PORT=$(free_port)
chmod 0711 "$WORK"
install -d -o prosody -g prosody -m 0750 "$PI" "$PI/data" "$PI/certs"
sed "s/chat\.example\.org/$DOMAIN/g" "$FRAGMENT" >"$PI/fragment.cfg.lua"
grep -q "^VirtualHost \"$DOMAIN\"" "$PI/fragment.cfg.lua" &&
	pass "installed fragment adapted in its host name only" ||
	fail "installed fragment names its VirtualHost"
cat >"$PI/prosody.cfg.lua" <<EOF
-- Loopback only, no certificates: plain-text PLAIN and X-TOKEN allowed.
pidfile = "$PI/prosody.pid"
data_path = "$PI/data"
certificates = "$PI/certs"
log = { { levels = { min = "info" }, to = "file", filename = "$PI/prosody.log" } }
c2s_ports = { $PORT }
c2s_interfaces = { "127.0.0.1" }
modules_enabled = { "saslauth", "ping", "disco", "roster" }
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

Include "$PI/fragment.cfg.lua"
EOF
chown prosody:prosody "$PI/prosody.cfg.lua" "$PI/fragment.cfg.lua"
spawn setpriv --reuid=prosody --regid=prosody --init-groups -- \
	prosody --config "$PI/prosody.cfg.lua" -F >"$PI/prosody.out" 2>&1
PROSODY=$!
if wait_for 20 port_open "$PORT"; then
	pass "Prosody (as user prosody) starts with the installed modules and fragment"
else
	tail -20 "$PI/prosody.out" "$PI/prosody.log" 2>/dev/null
	fail "Prosody starts with the installed modules and fragment"
fi

client() {
	timeout 30 $PY "$TOP/tests/lib/xmpp_client.py" --port "$PORT" "$@" \
		2>>"$WORK/client.err"
}
webtoken() { $TOKENGEN "$SEED" "$SECRET" "$1"; }

T=$(webtoken "alice@$DOMAIN")
check "web app's token (generated secrets) logs in with PLAIN" success \
	"$(client --mech PLAIN --jid "alice@$DOMAIN" --password "$T")"
check "the same token replayed is refused" not-authorized \
	"$(client --mech PLAIN --jid "alice@$DOMAIN" --password "$T")"
check "X-TOKEN logs in" success \
	"$(client --mech X-TOKEN --jid "bob@$DOMAIN" --password "$(webtoken "bob@$DOMAIN")")"
M=$(runuser -u "$HUSER" -- $PKG mint "carol@$DOMAIN" 2>&1)
check "a token from 'mint' (as $HUSER) logs in" success \
	"$(client --mech PLAIN --jid "carol@$DOMAIN" --password "$M")"
check "another user's token is refused" not-authorized \
	"$(client --mech PLAIN --jid "alice@$DOMAIN" --password "$(webtoken "bob@$DOMAIN")")"
check "a token made with other secrets is refused" not-authorized \
	"$(client --mech PLAIN --jid "alice@$DOMAIN" --password "$(token "alice@$DOMAIN")")"
check "garbage is refused" not-authorized \
	"$(client --mech PLAIN --jid "alice@$DOMAIN" --password "garbage")"
bad=$(find "$STATE" ! -user "$HUSER" 2>/dev/null)
[ -f "$STATE/replay/data.mdb" ] && [ -z "$bad" ] &&
	pass "the helper keeps its replay store in $STATE, as $HUSER" ||
	fail "the helper keeps its replay store in $STATE, as $HUSER (not theirs: $bad)"

kill "$PROSODY" 2>/dev/null
wait "$PROSODY" 2>/dev/null
for child in $(pgrep -P "$SERVER"); do kill "$child" 2>/dev/null; done
kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null
rm -f "$SOCK"

# --- the suites, against the installed files ------------------------------

# run_suite NAME ENV... SCRIPT: run another suite, its output indented.
run_suite() {
	local name=$1 out rc
	shift
	out=$WORK/$name.out
	started=$SECONDS
	env "$@" >"$out" 2>&1
	rc=$?
	sed 's/^/#   /' "$out"
	if [ "$rc" -eq 0 ]; then
		pass "$name against the installed files: $(tail -1 "$out") ($((SECONDS - started)) s)"
	else
		fail "$name against the installed files: $(tail -1 "$out")"
	fi
}
if [ -f "$TOP/tests/suites/t-50-prosody.sh" ]; then
	run_suite t-50-prosody HELPER=/usr/bin/$PKG PROSODY_MODULES_DIR=$MODDIR \
		bash "$TOP/tests/suites/t-50-prosody.sh"
else
	fail "tests/suites/t-50-prosody.sh exists"
fi
run_suite t-70-ejabberd HELPER=/usr/bin/$PKG \
	EJABBERD_SNIPPET=$DOCDIR/examples/ejabberd.yml \
	bash "$TOP/tests/suites/t-70-ejabberd.sh"

# --- reinstall and upgrade: the admin's config and secrets stay ------------

# The admin edits the config: the edit must survive too.
echo "# an administrator's note" >>"$CONF"
hash_before=$(sha256sum "$CONF")
store_before=$(stat -c '%i' "$STATE")
if "${APT[@]}" install --reinstall "$DEB" >"$WORK/reinstall.log" 2>&1; then
	pass "apt-get install --reinstall"
else
	tail -20 "$WORK/reinstall.log"
	fail "apt-get install --reinstall"
fi
check "reinstall: config and secrets unchanged" "$hash_before" "$(sha256sum "$CONF")"
check "reinstall: config mode, owner, group" "640 root $HUSER" "$(stat -c '%a %U %G' "$CONF")"

# A higher version from the same source.
V2=$VERSION.1
{
	printf '%s (%s) unstable; urgency=medium\n\n  * Upgrade test.\n\n' "$PKG" "$V2"
	printf ' -- %s  %s\n\n' "$(cd "$SRC" && dpkg-parsechangelog -SMaintainer)" "$(date -R)"
	cat "$SRC/debian/changelog"
} >"$WORK/changelog.new"
mv "$WORK/changelog.new" "$SRC/debian/changelog"
DEB2=$B1/${PKG}_${V2}_$ARCH.deb
started=$SECONDS
if (cd "$SRC" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc -Pnocheck) \
	>"$WORK/build2.log" 2>&1 && [ -f "$DEB2" ]; then
	pass "version $V2 builds without the unit tests (nocheck) ($((SECONDS - started)) s)"
else
	tail -30 "$WORK/build2.log"
	fail "version $V2 builds with nocheck"
fi
if "${APT[@]}" install "$DEB2" >"$WORK/upgrade.log" 2>&1; then
	pass "apt-get install ./${DEB2##*/} (upgrade)"
else
	tail -20 "$WORK/upgrade.log"
	fail "upgrade to $V2"
fi
check "upgraded" "installed $V2" "$(installed_version)"
check "upgrade: config and secrets unchanged" "$hash_before" "$(sha256sum "$CONF")"
check "upgrade: same user" "$huid" "$(getent passwd "$HUSER" | cut -d: -f3)"
check "upgrade: same replay store" "$store_before" "$(stat -c '%i' "$STATE")"
[ -f "$STATE/replay/data.mdb" ] && pass "upgrade: replay store kept" ||
	fail "upgrade: replay store kept"

# --- remove, then purge -----------------------------------------------------

if "${APT[@]}" remove "$PKG" >"$WORK/remove.log" 2>&1; then
	pass "apt-get remove"
else
	tail -20 "$WORK/remove.log"
	fail "apt-get remove"
fi
[ ! -e /usr/bin/$PKG ] && pass "remove: the helper is gone" || fail "remove: the helper is gone"
check "remove: config and secrets kept" "$hash_before" "$(sha256sum "$CONF" 2>/dev/null)"
getent passwd "$HUSER" >/dev/null && pass "remove: the user is kept" ||
	fail "remove: the user is kept"

if "${APT[@]}" purge "$PKG" >"$WORK/purge.log" 2>&1; then
	pass "apt-get purge"
else
	tail -20 "$WORK/purge.log"
	fail "apt-get purge"
fi
grep -i 'warn\|error\|could not' "$WORK/purge.log" | sed 's/^/# purge: /'
check "purge: package gone" "" "$(installed_version | grep -v '^not-installed')"
[ ! -e "$CONF" ] && pass "purge: the secrets are gone" || fail "purge: the secrets are gone"
[ ! -e "$STATE" ] && pass "purge: the replay store is gone" ||
	fail "purge: the replay store is gone"
[ ! -e "$RUNDIR" ] && pass "purge: the socket directory is gone" ||
	fail "purge: the socket directory is gone"
check "purge: user as before" "$(cat "$WORK/before.user")" "$(getent passwd "$HUSER")"
check "purge: group as before" "$(cat "$WORK/before.group")" "$(getent group "$HUSER")"
snapshot >"$WORK/after.paths"
LC_ALL=C comm -13 "$WORK/before.paths" "$WORK/after.paths" >"$WORK/left.paths"
LC_ALL=C comm -23 "$WORK/before.paths" "$WORK/after.paths" >"$WORK/gone.paths"
sed 's/^/# left behind: /' "$WORK/left.paths"
sed 's/^/# gone: /' "$WORK/gone.paths"
check "purge: no file or directory left behind" 0 "$(grep -c . "$WORK/left.paths")"
check "purge: nothing that was there before is gone" 0 "$(grep -c . "$WORK/gone.paths")"
unowned >"$WORK/after.unowned"
LC_ALL=C comm -13 "$WORK/before.unowned" "$WORK/after.unowned" >"$WORK/left.unowned"
sed 's/^/# owned by no one: /' "$WORK/left.unowned"
check "purge: no file of the deleted user left" 0 "$(grep -c . "$WORK/left.unowned")"
we_installed=0

finish
