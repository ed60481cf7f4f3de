#!/bin/bash
# The package on Debian 12 and Debian 13 under a real systemd: for each
# release, a container (systemd-nspawn) booted with systemd as PID 1 on a
# private network (its own loopback), from a cached debootstrap image
# (tests/system/image.sh). Inside it: the package is built from the tracked
# files of this tree and linted, installed with apt next to the release's
# Prosody and ejabberd, and the real services are used: the socket unit
# listens, Prosody logs users in through it and the sandboxed per-connection
# service (PLAIN and X-TOKEN), replays, garbage and a token made for
# another user are refused, the journal has one line per decision and never
# a token, no helper instance failed, the release's mod_http_openmetrics
# counts those logins exactly, systemd-analyze security rates the service
# at 1.0 or below, Prosody's log has no warning or error, and apt purge
# leaves no secret, store or user.
# The replay store on the container's Redis works through each drop-in the
# package ships (TCP, Unix socket), and not without it.
# On Debian 13 the Prosody, ejabberd, Redis and metrics suites (t-50, t-70,
# t-48, t-49, t-51, t-54) run inside too, the Redis ones against Redis 8
# and again against Valkey (valkey-server, valkey-sentinel, valkey-cli),
# with rediss:// to a server and to the sentinels, which must not be
# skipped there; what those suites skip there is counted among this
# suite's skips, each with its reason.
# One more Debian 12 container runs without CAP_IPC_LOCK and with no
# lockable memory: logins work, and the journal warns.
#
# Needs root, systemd-nspawn (systemd-container), debootstrap, and the
# network to a Debian mirror the first time (the images are cached in
# tests/system/cache/); otherwise it says why and skips. Every container is
# powered off and its files removed at the end.
#
# Environment:
#   SYSTEM_RELEASES  the releases to test (default: "bookworm trixie")
#   SYSTEM_MIRROR    the Debian mirror (default: http://deb.debian.org/debian)
#   SYSTEM_CACHE     where the images are kept (default: tests/system/cache)

# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/system/container.sh"

RELEASES=${SYSTEM_RELEASES:-bookworm trixie}
PKG=prosody-token-auth
HUSER=_prosody-token-auth
DOMAIN=example.test
SRC=/root/build/$PKG
# Prosody's HTTP port for /metrics, on the container's own loopback
METRICS_PORT=5280
suite_started=$SECONDS

# --- can it run here? -------------------------------------------------------

why_not() {
	local tool
	[ "$(id -u)" -eq 0 ] || { echo "it needs root"; return; }
	for tool in systemd-nspawn debootstrap unshare nsenter findmnt dpkg-checkbuilddeps; do
		command -v "$tool" >/dev/null ||
			{ echo "$tool is missing (tests/deps.sh installs systemd-container and debootstrap)"; return; }
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
		{ echo "the kernel has no overlay file system"; return; }
	findmnt -n -t cgroup2 >/dev/null ||
		{ echo "no cgroup2 hierarchy is mounted"; return; }
	unshare --mount true 2>/dev/null ||
		{ echo "cannot make a mount namespace (unshare --mount)"; return; }
}
reason=$(why_not)
if [ -n "$reason" ]; then
	skip "the system test (Debian 12 and 13 in booted containers)" "$reason"
	finish
	exit 0
fi

# Whatever happens, the container goes, and so does an image being made.
CT_DIR=
declare -A image_pids=()
sys_cleanup() {
	local pid
	for pid in "${image_pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		# shellcheck disable=SC2046 # a list of PIDs
		kill $(ct_descendants "$pid") "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ -n "${CT_NSPAWN:-}" ]; then
		ct_poweroff 60 || echo "# a container had to be killed" >&2
	fi
	[ -z "$CT_DIR" ] || rm -rf "$CT_DIR"
	cleanup
}
trap sys_cleanup EXIT

# The tracked files as they are in the work tree, as t-60 builds them.
tar_tree() {
	if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$TOP" && git ls-files -z | tar --null -T - --ignore-failed-read \
			-cf - 2>/dev/null)
	else
		(cd "$TOP" && tar --exclude=.git --exclude=tests/system/cache -cf - .)
	fi
}

# run_in NAME SCRIPT: run SCRIPT in the container, its output in $WORK/NAME.log.
run_in() {
	ct_sh "$2" >"$WORK/$1.log" 2>&1
}
# show NAME: the end of a log, indented.
show() {
	tail -n "${2:-20}" "$WORK/$1.log" | sed 's/^/#   /'
}

# --- a container -----------------------------------------------------------

# boot NAME LABEL IMAGE [NSPAWN OPTIONS...]: boot a container (its machine
# and host name NAME) and wait for systemd.
boot() {
	local name=$1 label=$2 image=$3 state
	shift 3
	CT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pta-system.XXXXXX")
	local started=$SECONDS
	if ! ct_boot "$name" "$image" "$CT_DIR" "$@"; then
		tail -20 "$CT_DIR/console.log" | sed 's/^/#   /'
		fail "$label: the container starts"
		return 1
	fi
	state=$(ct_booted 120)
	if [ "$(ct_exec cat /proc/1/comm)" = systemd ] &&
		{ [ "$state" = running ] || [ "$state" = degraded ]; }; then
		pass "$label: boots with systemd as PID 1 on a private network ($state, $((SECONDS - started)) s)"
	else
		tail -20 "$CT_DIR/console.log" | sed 's/^/#   /'
		fail "$label: boots with systemd as PID 1 (state: $state)"
		return 1
	fi
	ct_exec systemctl --failed --no-legend --plain >"$WORK/failed-at-boot" 2>&1
	check "$label: no unit failed at boot" "" "$(cat "$WORK/failed-at-boot")"
	check "$label: the container's network is its loopback alone" "lo" \
		"$(ct_exec ls /sys/class/net | tr '\n' ' ' | sed 's/ $//')"
}

# poweroff LABEL: power the container off and remove its files.
poweroff() {
	if ct_poweroff 60; then
		pass "$1: powered off, its cgroup removed"
	else
		fail "$1: powered off (it had to be killed, or its cgroup stayed)"
	fi
	rm -rf "$CT_DIR"
	CT_DIR=
}

# --- the checks ------------------------------------------------------------

# build LABEL: build the package in the container from this tree, and lint it.
build() {
	local label=$1 started=$SECONDS
	tar_tree | ct_exec /bin/sh -c "rm -rf $SRC && mkdir -p $SRC && tar -xf - -C $SRC"
	DEB=
	if run_in build "cd $SRC && dpkg-buildpackage -b -us -uc" &&
		DEB=$(ct_exec find /root/build -maxdepth 1 -name "${PKG}_*.deb" ! -name '*dbgsym*') &&
		[ -n "$DEB" ]; then
		pass "$label: dpkg-buildpackage -b -us -uc builds ${DEB##*/} ($((SECONDS - started)) s)"
	else
		show build 30
		fail "$label: dpkg-buildpackage -b -us -uc builds the package"
		return 1
	fi
	if run_in lintian "cd /root/build && lintian --fail-on error,warning ${DEB##*/}"; then
		pass "$label: lintian --fail-on error,warning: clean"
	else
		fail "$label: lintian --fail-on error,warning"
	fi
	grep -v 'running with root privileges' "$WORK/lintian.log" | sed 's/^/#   lintian: /'
	run_in depends "dpkg-deb -f $DEB Depends"
	echo "#   Depends: $(cat "$WORK/depends.log")"
}

# install LABEL: install the built package with apt, under the running systemd.
install_pkg() {
	local label=$1
	if run_in install "cd /root/build && DEBIAN_FRONTEND=noninteractive apt-get -q -y install ./${DEB##*/}"; then
		pass "$label: apt-get install ./${DEB##*/}"
	else
		show install
		fail "$label: apt-get install ./${DEB##*/}"
		return 1
	fi
}

# socket_listens LABEL: the socket unit, started by the package, listens.
socket_listens() {
	local label=$1
	check "$label: $PKG.socket is enabled and active" "enabled active" \
		"$(ct_exec systemctl is-enabled $PKG.socket) $(ct_exec systemctl is-active $PKG.socket)"
	check "$label: the socket listens, root:prosody 0660" "socket 660 root prosody" \
		"$(ct_exec stat -c '%F %a %U %G' /run/$PKG/socket 2>&1 | sed 's/^unix //')"
	ct_exec ss -xlnH src /run/$PKG/socket >"$WORK/ss.log" 2>&1
	grep -q "/run/$PKG/socket" "$WORK/ss.log" &&
		pass "$label: ss sees it listening" || fail "$label: ss sees it listening"
}

# prosody_setup LABEL: the host fragment for $DOMAIN, linked as the README
# says; clients without TLS on the container's loopback; Prosody's log at
# debug level in a file of its own; metrics served by mod_http_openmetrics
# (uncommented in Debian's prosody.cfg.lua, as doc/operating.md says) over
# plain HTTP on the loopback, computed when scraped; restart the Prosody
# service.
prosody_setup() {
	local label=$1
	if run_in prosody-setup "
		set -e
		sed -i 's/\"chat\\.example\\.org\"/\"$DOMAIN\"/' /etc/prosody/conf.avail/$PKG.cfg.lua
		ln -sf ../conf.avail/$PKG.cfg.lua /etc/prosody/conf.d/$PKG.cfg.lua
		sed -i 's/^\([[:space:]]*\)--[[:space:]]*\"http_openmetrics\";/\1\"http_openmetrics\";/' /etc/prosody/prosody.cfg.lua
		grep -q '^[[:space:]]*\"http_openmetrics\";' /etc/prosody/prosody.cfg.lua
		cat >/etc/prosody/conf.d/zz-system-test.cfg.lua <<-'EOF'
			-- The container's own loopback, no certificates: PLAIN and X-TOKEN
			-- without TLS; everything logged.
			c2s_require_encryption = false
			allow_unencrypted_plain_auth = true
			c2s_interfaces = { \"127.0.0.1\" }
			s2s_ports = { }
			log = { { levels = { min = \"debug\" }, to = \"file\", filename = \"/var/log/prosody/test.log\" } }
			statistics = \"internal\"
			statistics_interval = \"manual\"
			http_ports = { $METRICS_PORT }
			http_interfaces = { \"127.0.0.1\" }
			https_ports = { }
			https_interfaces = { }
		EOF
		systemctl restart prosody
		for i in \$(seq 1 200); do
			ss -tlnH 'sport = :5222' | grep -q . &&
				ss -tlnH 'sport = :$METRICS_PORT' | grep -q . && exit 0
			sleep 0.1
		done
		exit 1"; then
		# shellcheck disable=SC2016 # a dpkg-query format
		pass "$label: Prosody ($(ct_exec dpkg-query -W -f '${Version}' prosody)) restarted with the fragment, listening (XMPP, and HTTP for metrics)"
	else
		show prosody-setup
		ct_exec journalctl -u prosody -n 20 --no-pager | sed 's/^/#   /'
		fail "$label: Prosody restarted with the fragment"
		return 1
	fi
}

# account_enabled LABEL: Prosody 13 asks the provider whether an account is
# enabled (Prosody 0.12 never does): the web application's users are.
account_enabled() {
	local label=$1 out
	# shellcheck disable=SC2016 # a dpkg-query format
	case $(ct_exec dpkg-query -W -f '${Version}' prosody) in
	0.*) return ;;
	esac
	out=$(ct_exec timeout 20 prosodyctl shell \
		"> require'prosody.core.usermanager'.user_is_enabled('alice', '$DOMAIN')" 2>&1 |
		grep '^Result:')
	check "$label: Prosody counts the web application's users as enabled (user_is_enabled)" \
		"Result: true" "$out"
}

# web_token JID: a token from the web application's reference code, with the
# secrets the package generated.
web_token() {
	ct_exec /bin/sh -c "
		seed=\$(sed -n 's/^[[:space:]]*otp_seed[[:space:]]*=[[:space:]]*\([A-Z2-7]*\).*/\1/p' /etc/prosody/token-auth.conf)
		secret=\$(sed -n 's/^[[:space:]]*token_secret[[:space:]]*=[[:space:]]*\([A-Z2-7]*\).*/\1/p' /etc/prosody/token-auth.conf)
		python3 $SRC/tests/harness/tokengen.py \"\$seed\" \"\$secret\" '$1'"
}

# login MECH JID PASSWORD: one login through the container's Prosody.
login() {
	ct_exec timeout 30 python3 "$SRC/tests/lib/xmpp_client.py" --port 5222 \
		--mech "$1" --jid "$2" --password "$3" 2>>"$WORK/client.err"
}

TOKENS=()
# logins LABEL: the logins through Prosody, the socket and the service.
logins() {
	local label=$1 t
	t=$(web_token "alice@$DOMAIN")
	TOKENS+=("$t")
	check "$label: PLAIN: a valid token logs in" success "$(login PLAIN "alice@$DOMAIN" "$t")"
	check "$label: PLAIN: the same token replayed is refused" not-authorized \
		"$(login PLAIN "alice@$DOMAIN" "$t")"
	t=$(web_token "bob@$DOMAIN")
	TOKENS+=("$t")
	check "$label: X-TOKEN: a valid token logs in" success "$(login X-TOKEN "bob@$DOMAIN" "$t")"
	check "$label: X-TOKEN: the same token replayed is refused" not-authorized \
		"$(login X-TOKEN "bob@$DOMAIN" "$t")"
	check "$label: garbage is refused" not-authorized \
		"$(login PLAIN "alice@$DOMAIN" "garbage")"
	t=$(web_token "alice@$DOMAIN")
	TOKENS+=("$t")
	check "$label: a token made for another user is refused" not-authorized \
		"$(login PLAIN "bob@$DOMAIN" "$t")"
	# (6 decisions so far)
	DECISIONS=6
}

# journal LABEL: one line per decision, never a token, no failed helper.
journal() {
	local label=$1 t n
	ct_exec journalctl -q --no-pager -o cat SYSLOG_IDENTIFIER=$PKG >"$WORK/journal.helper"
	sed 's/^/#   journal: /' "$WORK/journal.helper"
	n=$(grep -cE "^decision=[a-z]+ reason=[a-z_]+ jid=[a-z]+@$DOMAIN domain=$DOMAIN store=[a-z]+ time_us=[0-9]+$" "$WORK/journal.helper")
	check "$label: the journal has one line per decision" "$DECISIONS" "$n"
	check "$label: ...saying which" "2 accepted, 2 replayed, 1 malformed, 1 bad_signature" \
		"$(grep -c "^decision=accepted " "$WORK/journal.helper") accepted, $(grep -c "^decision=refused reason=replayed " "$WORK/journal.helper") replayed, $(grep -c "^decision=refused reason=malformed " "$WORK/journal.helper") malformed, $(grep -c "^decision=refused reason=bad_signature " "$WORK/journal.helper") bad_signature"
	# The whole journal, every field: no token, nor its nonce or signature.
	ct_exec journalctl -q --no-pager -o export >"$WORK/journal.all"
	local leaked=0
	for t in "${TOKENS[@]}"; do
		grep -qF -e "${t:8:32}" -e "${t#* }" "$WORK/journal.all" && leaked=$((leaked + 1))
	done
	check "$label: no token (nor its nonce or signature) anywhere in the journal" 0 "$leaked"
	ct_exec journalctl -q --no-pager -o cat -u "$PKG@*" -u $PKG.socket >"$WORK/journal.units" 2>/dev/null
	if grep -E 'Failed with result|status=[1-9]|code=(killed|dumped)|Failed to' "$WORK/journal.units" >"$WORK/journal.failed"; then
		sed 's/^/#   /' "$WORK/journal.failed"
		fail "$label: no helper instance failed"
	else
		n=$(grep -c 'Started .*connection' "$WORK/journal.units")
		pass "$label: no helper instance failed ($n started)"
	fi
}

# security LABEL: systemd-analyze security, under the running systemd.
security() {
	local label=$1 score
	ct_exec systemd-analyze security --no-pager "$PKG@system-test.service" >"$WORK/security.log" 2>&1
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$WORK/security.log")
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 1.0) }'; then
		pass "$label: systemd-analyze security $PKG@.service: $score (at most 1.0)"
	else
		grep '✗' "$WORK/security.log" | sed 's/^/#   /'
		fail "$label: systemd-analyze security $PKG@.service: ${score:-unknown} (at most 1.0)"
	fi
}

# helper_down LABEL: with the socket and its helpers stopped, logins fail
# cleanly, and work again once the socket is back.
helper_down() {
	local label=$1
	ct_exec systemctl stop $PKG.socket "$PKG@*.service"
	check "$label: helper down: PLAIN fails cleanly" not-authorized \
		"$(login PLAIN "carol@$DOMAIN" "$(web_token "carol@$DOMAIN")")"
	check "$label: helper down: X-TOKEN fails as temporary" temporary-auth-failure \
		"$(login X-TOKEN "carol@$DOMAIN" "$(web_token "carol@$DOMAIN")")"
	ct_exec systemctl start $PKG.socket
	check "$label: helper back: logins work again" success \
		"$(login PLAIN "carol@$DOMAIN" "$(web_token "carol@$DOMAIN")")"
}

# metrics LABEL: Prosody's mod_http_openmetrics, scraped on the container's
# loopback as Prometheus would, serves what the provider counted of the
# logins above (logins and helper_down): each outcome and reason exactly,
# an answer-time histogram that counts every answer of the helper, and the
# gauges, with nothing waiting or in flight once all is answered.
metrics() {
	local label=$1 started=$SECONDS
	if ! ct_exec timeout 20 python3 -c "$SCRAPE_PY" "http://127.0.0.1:$METRICS_PORT/metrics" \
		>"$WORK/scrape" 2>"$WORK/scrape.err"; then
		sed 's/^/#   /' "$WORK/scrape.err"
		fail "$label: metrics: GET /metrics"
		return 1
	fi
	py_checks "$WORK/scrape" "$label" "$DOMAIN" <<-'EOF'
		import sys
		from suite import check
		from openmetrics import Scrape

		scrape, label, host = sys.argv[1:4]
		s = Scrape(scrape, prefix="prosody_mod_auth_token_socket__")
		expected = {
		    ("accepted", "none"): 3,
		    ("refused", "replayed"): 2,
		    ("refused", "malformed"): 1,
		    ("refused", "bad_signature"): 1,
		    ("not_asked", "helper_unreachable"): 2,
		}
		for (outcome, reason), n in expected.items():
		    got = s.value("logins_total", host=host, outcome=outcome, reason=reason)
		    check(got == n, "%s: metrics: logins_total{outcome=%s,reason=%s} = %d (got %g)"
		          % (label, outcome, reason, n, got))
		extra = {(l.get("outcome"), l.get("reason")): v for l, v in s.series("logins_total")
		         if v and (l.get("outcome"), l.get("reason")) not in expected}
		check(not extra, "%s: metrics: no other login counted: %s" % (label, extra or "none"))
		answers = sum(n for (outcome, _), n in expected.items() if outcome != "not_asked")
		count = s.value("helper_answer_seconds_count", host=host)
		inf = s.value("helper_answer_seconds_bucket", host=host, le="+Inf")
		check(count == answers and inf == answers,
		      "%s: metrics: the answer-time histogram counts the helper's %d answers (count %g, +Inf %g)"
		      % (label, answers, count, inf))
		check(s.value("helper_answer_seconds_sum", host=host) > 0,
		      "%s: metrics: the answer times add up to more than 0 s" % label)
		gauges = ("requests_waiting", "requests_in_flight", "helper_connections")
		check(all(s.has(g, host=host) for g in gauges),
		      "%s: metrics: the gauges %s are published" % (label, ", ".join(gauges)))
		check(s.value("requests_waiting", host=host) == 0 and
		      s.value("requests_in_flight", host=host) == 0 and
		      s.value("helper_connections", host=host) >= 1,
		      "%s: metrics: nothing waits or is in flight, a connection to the helper is open" % label)
	EOF
	echo "# $label: metrics scraped and checked in $((SECONDS - started)) s"
}

# prosody_log LABEL: no warning or error in Prosody's log, but the one the
# provider gives on purpose while the helper is down.
prosody_log() {
	local label=$1
	ct_exec cat /var/log/prosody/test.log >"$WORK/prosody.log" 2>/dev/null
	grep -E '^[^ ]+ +[^ ]+ +(warn|error)[[:space:]]' "$WORK/prosody.log" |
		grep -v 'Cannot reach the token helper at /run/prosody-token-auth/socket' |
		grep -v 'Cannot verify the token of carol@' >"$WORK/prosody.warnings"
	grep -i 'traceback' "$WORK/prosody.log" >>"$WORK/prosody.warnings"
	if [ -s "$WORK/prosody.warnings" ]; then
		sed 's/^/#   /' "$WORK/prosody.warnings"
		fail "$label: no warning or error in Prosody's log"
	else
		pass "$label: no warning or error in Prosody's log ($(wc -l <"$WORK/prosody.log") lines at debug level)"
	fi
	grep -q 'Cannot reach the token helper' "$WORK/prosody.log" &&
		pass "$label: Prosody's log says when the helper cannot be reached" ||
		fail "$label: Prosody's log says when the helper cannot be reached"
	for t in "${TOKENS[@]}"; do
		if grep -qF -e "${t:8:32}" -e "${t#* }" "$WORK/prosody.log"; then
			fail "$label: no token in Prosody's log"
			return
		fi
	done
	pass "$label: no token in Prosody's log"
}

# use_store STORE: the helpers' replay_store (empty: the default), and the
# helpers serving Prosody stopped, so that the next login starts one that
# reads it under the unit as it is now.
use_store() {
	ct_sh "
		set -e
		sed -i '/^[[:space:]]*replay_store[[:space:]]*=/d' /etc/prosody/token-auth.conf
		[ -z '$1' ] || sed -i '1i replay_store = $1' /etc/prosody/token-auth.conf
		systemctl daemon-reload
		systemctl stop '$PKG@*.service'" >"$WORK/use-store.log" 2>&1
}

# redis_login LABEL CASE OUTCOME: a fresh token, and if OUTCOME is success
# the same again; on a surprise, the helper's last words.
redis_login() {
	local t first again=not-authorized
	t=$(web_token "dave@$DOMAIN")
	TOKENS+=("$t")
	first=$(login PLAIN "dave@$DOMAIN" "$t")
	if [ "$3" = success ]; then
		check "$1: $2: a valid token logs in" success "$first"
		again=$(login PLAIN "dave@$DOMAIN" "$t")
		check "$1: $2: the same token replayed is refused" not-authorized "$again"
	else
		check "$1: $2: a valid token is refused" "$3" "$first"
	fi
	if [ "$first" != "$3" ] || [ "$again" != not-authorized ]; then
		ct_exec journalctl -q --no-pager -o cat -n 8 SYSLOG_IDENTIFIER=$PKG |
			sed 's/^/#   journal: /'
	fi
}

# redis_nonces: how many nonces the container's Redis holds.
redis_nonces() {
	ct_exec redis-cli --scan --pattern 'pta:*:n:*' | wc -l
}

# redis_dropins LABEL: the replay store on the container's own Redis, over
# TCP and over its Unix socket, each reached through the drop-in the package
# ships for it. Without the drop-in the service's sandbox keeps Redis out
# and every login is refused (fail closed); with it, each token logs in
# once, and its record is in Redis.
redis_dropins() {
	local label="$1, Redis" before
	local ex=/usr/share/doc/$PKG/examples/$PKG@.service.d
	local dropins=/etc/systemd/system/$PKG@.service.d
	if ! run_in redis-start "
		set -e
		printf 'unixsocket /run/redis/redis-server.sock\nunixsocketperm 770\n' >>/etc/redis/redis.conf
		systemctl start redis-server
		# A new Redis: no token can have been accepted before, on this
		# server (the man page, Redis).
		redis-cli SET pta:id \"\$(redis-cli INFO server | tr -d '\\r' | sed -n 's/^run_id://p') \$(redis-cli INFO replication | tr -d '\\r' | sed -n 's/^master_replid://p')\"
		redis-cli ZADD pta:meta 0 since"; then
		show redis-start
		fail "$label: the container's redis-server starts"
		return 1
	fi
	TOKENS=()

	use_store redis://127.0.0.1:6379
	redis_login "$label" "TCP, no drop-in" not-authorized
	ct_exec journalctl -q --no-pager -o cat SYSLOG_IDENTIFIER=$PKG >"$WORK/journal.redis"
	grep -q 'replay store redis://127.0.0.1:6379: Redis unreachable' "$WORK/journal.redis" &&
		pass "$label: TCP, no drop-in: the journal says Redis is unreachable" ||
		fail "$label: TCP, no drop-in: the journal says Redis is unreachable"
	ct_exec install -D -m 0644 "$ex/redis-tcp.conf" "$dropins/redis-tcp.conf"
	ct_exec sed -i 's/^IPAddressAllow=.*/IPAddressAllow=127.0.0.1/' "$dropins/redis-tcp.conf"
	use_store redis://127.0.0.1:6379
	before=$(redis_nonces)
	redis_login "$label" "TCP, redis-tcp.conf allowing 127.0.0.1" success
	check "$label: TCP: the login's record is in Redis" 1 "$(($(redis_nonces) - before))"
	ct_exec sed -i 's/^IPAddressAllow=.*/IPAddressAllow=192.0.2.10/' "$dropins/redis-tcp.conf"
	use_store redis://127.0.0.1:6379
	if [ "$(ct_exec systemd-run -q --wait --pipe -p IPAddressDeny=any \
		python3 -c "$CONNECT_PY" 127.0.0.1 6379 2>&1)" = connected ]; then
		skip "$label: TCP, redis-tcp.conf allowing another address" \
			"systemd cannot filter IP addresses in this container (IPAddressDeny=any lets a service reach 127.0.0.1; BPF needs privileges nspawn does not give)"
	else
		redis_login "$label" "TCP, redis-tcp.conf allowing another address" not-authorized
	fi
	ct_exec rm -f "$dropins/redis-tcp.conf"

	use_store unix:///run/redis/redis-server.sock
	redis_login "$label" "Unix socket, no drop-in" not-authorized
	ct_exec install -D -m 0644 "$ex/redis-unix.conf" "$dropins/redis-unix.conf"
	use_store unix:///run/redis/redis-server.sock
	before=$(redis_nonces)
	redis_login "$label" "Unix socket, redis-unix.conf" success
	check "$label: Unix socket: the login's record is in Redis" 1 "$(($(redis_nonces) - before))"

	ct_exec rm -rf "$dropins"
	use_store "" || { show use-store; fail "$label: back to the default store"; }
	ct_exec systemctl stop redis-server
	ct_exec journalctl -q --no-pager -o cat -u "$PKG@*" >"$WORK/journal.units" 2>/dev/null
	if grep -E 'status=[1-9]|code=(killed|dumped)' "$WORK/journal.units" >"$WORK/journal.failed"; then
		sed 's/^/#   /' "$WORK/journal.failed"
		fail "$label: no helper instance failed, with Redis out of reach or not"
	else
		pass "$label: no helper instance failed, with Redis out of reach or not"
	fi
}

# suite LABEL NAME ENV...: run one of the project's suites in the container,
# against the installed files (with REDIS_SERVER=... among ENV, against
# that server).
suite() {
	local label=$1 name=$2 started=$SECONDS a what log
	shift 2
	what=$name log=$name
	for a in "$@"; do
		case $a in REDIS_SERVER=*) what="$name with ${a#*=}" log=$name-${a#*=} ;; esac
	done
	ct_exec env "$@" TOP="$SRC" bash "$SRC/tests/suites/$name.sh" >"$WORK/$log.log" 2>&1
	local rc=$? last line
	last=$(tail -n 1 "$WORK/$log.log")
	sed 's/^/#   /' "$WORK/$log.log"
	if [ "$rc" -eq 0 ]; then
		pass "$label: $what against the installed files: $last ($((SECONDS - started)) s)"
	else
		fail "$label: $what against the installed files: $last"
	fi
	# What the suite skipped there is unproven here too: each is one of
	# this suite's skips, with its reason, so the summary counts it.
	while IFS= read -r line; do
		line=${line#skip }
		skip "$label: $what: ${line%%: *}" "${line#*: }"
	done < <(grep '^skip ' "$WORK/$log.log")
}

# sanitizer_build LABEL: the helper with ASan and UBSan, made in the
# container's tree, where dpkg-buildpackage has left the plain build.
sanitizer_build() {
	local label=$1 started=$SECONDS
	if run_in asan "cd $SRC && test -x prosody-token-auth && make -j2 prosody-token-auth-asan"; then
		pass "$label: make prosody-token-auth-asan, beside the package's build ($((SECONDS - started)) s)"
	else
		show asan
		fail "$label: make prosody-token-auth-asan, beside the package's build"
	fi
}

# tls_ran LABEL LOG: the suite whose log is $WORK/LOG.log ran its rediss://
# checks (their pass lines begin so) and skipped none about TLS: where
# hiredis has TLS, a skip would hide that TLS went unproven.
tls_ran() {
	local n skipped
	n=$(grep -c '^ok   rediss://' "$WORK/$2.log")
	skipped=$(grep -E '^skip .*(rediss|TLS)' "$WORK/$2.log")
	[ "$n" -gt 0 ] && [ -z "$skipped" ] &&
		pass "$1: $2 ran its $n rediss:// checks, none skipped" ||
		fail "$1: $2 ran its rediss:// checks ($n; skipped: ${skipped:-none})"
}

# purge LABEL: apt purge leaves no secret, store, socket or user.
purge() {
	local label=$1
	ct_exec rm -f /etc/prosody/conf.d/$PKG.cfg.lua
	if run_in purge "DEBIAN_FRONTEND=noninteractive apt-get -q -y purge $PKG"; then
		pass "$label: apt-get purge"
	else
		show purge
		fail "$label: apt-get purge"
	fi
	local left
	left=$(ct_exec /bin/sh -c "ls -d /etc/prosody/token-auth.conf /etc/prosody/.token-auth.conf.* \
		/var/lib/$PKG /run/$PKG /usr/bin/$PKG /etc/systemd/system/sockets.target.wants/$PKG.socket 2>/dev/null
		getent passwd $HUSER; getent group $HUSER; find / -xdev \\( -nouser -o -nogroup \\) -print 2>/dev/null" | tr '\n' ' ')
	check "$label: purge leaves no secret, store, socket, user or file of the user" "" "$left"
	check "$label: the socket unit is gone" inactive "$(ct_exec systemctl is-active $PKG.socket)"
}

# The helper's warning when it cannot lock its secrets in memory.
NOT_LOCKED='cannot lock memory|not locked in memory'

# --- the releases ------------------------------------------------------------

release() {
	local r=$1 label image started=$SECONDS s
	case $r in
	bookworm) label="Debian 12" ;;
	trixie) label="Debian 13" ;;
	*) label=$r ;;
	esac
	echo "# --- $label ($r)"
	if wait "${image_pids[$r]}" && image=$(tail -n 1 "$WORK/image-$r.out") &&
		[ -d "$image" ]; then
		if grep -q '^image: .* ready in' "$WORK/image-$r.log"; then
			pass "$label: image made with debootstrap (in $(sed -n 's/^image: .* ready in //p' "$WORK/image-$r.log"); waited for it $((SECONDS - started)) s)"
		else
			pass "$label: image cached ($((SECONDS - started)) s)"
		fi
	elif grep -qiE 'Failed getting release file|Couldn.t download|Temporary failure resolving|Could not resolve|Connection failed|Unable to connect' \
		"$WORK/image-$r.log" "$(sed -n 's/.*(log: \(.*\))$/\1/p' "$WORK/image-$r.log" | head -n 1)" 2>/dev/null; then
		sed 's/^/#   /' "$WORK/image-$r.log"
		skip "$label" "the Debian mirror (${SYSTEM_MIRROR:-http://deb.debian.org/debian}) cannot be reached to make its image"
		return
	else
		sed 's/^/#   /' "$WORK/image-$r.log"
		fail "$label: image made with debootstrap"
		return
	fi
	# With CAP_IPC_LOCK, as on a machine of its own: nspawn's seccomp filter
	# lets services lock memory only then.
	boot "$r" "$label" "$image" --capability=CAP_IPC_LOCK || { poweroff "$label"; return; }
	check "$label: a service can lock memory" "mlock works" \
		"$(ct_exec systemd-run -q --wait --pipe -p LimitMEMLOCK=8M python3 -c "$MLOCK_PY" 2>&1)"
	if build "$label" && install_pkg "$label"; then
		socket_listens "$label"
		[ "$r" = bookworm ] && ct_exec cat "$DEB" >"$WORK/bookworm.deb"
		if prosody_setup "$label"; then
			TOKENS=()
			logins "$label"
			account_enabled "$label"
			journal "$label"
			grep -qE "$NOT_LOCKED" "$WORK/journal.helper" &&
				fail "$label: the helper locks its secrets in memory (no warning)" ||
				pass "$label: the helper locks its secrets in memory (no warning)"
			helper_down "$label"
			metrics "$label"
			prosody_log "$label"
			redis_dropins "$label"
		fi
		security "$label"
		if [ "$r" = trixie ]; then
			suite "$label" t-50-prosody HELPER=/usr/bin/$PKG \
				PROSODY_MODULES_DIR=/usr/lib/prosody/modules
			suite "$label" t-70-ejabberd HELPER=/usr/bin/$PKG \
				EJABBERD_SNIPPET=/usr/share/doc/$PKG/examples/ejabberd.yml
			# (Debian 13's hiredis has TLS: rediss:// for real.)
			# The store, its sentinels (over TLS too) and its cluster:
			# Redis 8, then Valkey, which Debian 13 has. t-48 also
			# runs two nodes under ASan and under valgrind: the
			# sanitizer build is made beside the package's build in
			# the tree (which tests/lib/valgrind-helper runs).
			sanitizer_build "$label"
			for s in t-48-redis t-49-redis-sentinel t-51-redis-cluster; do
				suite "$label" "$s" HELPER=/usr/bin/$PKG
			done
			for s in t-48-redis t-49-redis-sentinel t-51-redis-cluster; do
				suite "$label" "$s" HELPER=/usr/bin/$PKG REDIS_SERVER=valkey-server
			done
			for s in t-48-redis t-49-redis-sentinel t-48-redis-valkey-server \
				t-49-redis-sentinel-valkey-server; do
				tls_ran "$label" "$s"
			done
			# Every kind of login counted by Prosody 13's metrics
			suite "$label" t-54-metrics HELPER=/usr/bin/$PKG \
				PROSODY_MODULES_DIR=/usr/lib/prosody/modules
		fi
		purge "$label"
	fi
	poweroff "$label"
	echo "# $label: $((SECONDS - started)) s"
	[ "$r" = bookworm ] && no_memlock "$image"
}

# no_memlock IMAGE: Debian 12 without CAP_IPC_LOCK, as nspawn runs a
# container by default: its seccomp filter then refuses mlock(2) to every
# service, whatever its LimitMEMLOCK. The helper cannot lock its secrets,
# warns once per process, and serves anyway.
no_memlock() {
	local image=$1 label="Debian 12, no CAP_IPC_LOCK" started=$SECONDS
	echo "# --- $label"
	if [ ! -s "$WORK/bookworm.deb" ]; then
		fail "$label: the package built on Debian 12"
		return
	fi
	boot bookworm-nomemlock "$label" "$image" --drop-capability=CAP_IPC_LOCK ||
		{ poweroff "$label"; return; }
	local bnd
	bnd=$(ct_exec sed -n 's/^CapBnd:[[:space:]]*//p' /proc/1/status)
	[ -n "$bnd" ] && [ $((0x$bnd & (1 << 14))) -eq 0 ] &&
		pass "$label: the container has no CAP_IPC_LOCK (bounding set $bnd)" ||
		fail "$label: the container has no CAP_IPC_LOCK (bounding set ${bnd:-unknown})"
	check "$label: a service cannot lock memory there" "mlock refused" \
		"$(ct_exec systemd-run -q --wait --pipe -p LimitMEMLOCK=8M python3 -c "$MLOCK_PY" 2>&1)"
	tar_tree | ct_exec /bin/sh -c "mkdir -p $SRC && tar -xf - -C $SRC"
	ct_exec /bin/sh -c "cat >/root/build/${PKG}.deb" <"$WORK/bookworm.deb"
	DEB=/root/build/$PKG.deb
	if install_pkg "$label" && prosody_setup "$label"; then
		socket_listens "$label"
		TOKENS=()
		logins "$label"
		journal "$label"
		# Per helper process (the journal's _PID): how many warnings.
		ct_exec journalctl -q --no-pager -o json SYSLOG_IDENTIFIER=$PKG >"$WORK/journal.json"
		local per
		per=$($PY -c '
import json, re, sys
pids = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    msg = e.get("MESSAGE", "")
    if isinstance(msg, str) and msg.startswith("auth "):
        pids.setdefault(e.get("_PID"), 0)
    if isinstance(msg, str) and re.search(sys.argv[2], msg):
        pids[e.get("_PID")] = pids.get(e.get("_PID"), 0) + 1
counts = sorted(set(pids.values()))
print(len(pids), "helpers, warnings each:", " ".join(map(str, counts)) or "none")
' "$WORK/journal.json" "$NOT_LOCKED")
		case $per in
		"0 helpers"*) fail "$label: the journal warns once per helper process that the secrets are not locked in memory: $per" ;;
		*"warnings each: 1") pass "$label: the journal warns once per helper process that the secrets are not locked in memory ($per)" ;;
		*) fail "$label: the journal warns once per helper process that the secrets are not locked in memory: $per" ;;
		esac
	fi
	poweroff "$label"
	echo "# $label: $((SECONDS - started)) s"
}

# Locks a page of memory; prints whether it could.
MLOCK_PY='
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
m = mmap.mmap(-1, 4096)
a = ctypes.addressof(ctypes.c_char.from_buffer(m))
print("mlock refused" if libc.mlock(ctypes.c_void_p(a), ctypes.c_size_t(4096)) else "mlock works")
'

# GETs a URL and prints the body (Prosody's /metrics).
SCRAPE_PY='
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    sys.stdout.write(r.read().decode())
'

# Connects to an address and port; prints whether it could.
CONNECT_PY='
import socket, sys
s = socket.socket()
s.settimeout(5)
print("refused" if s.connect_ex((sys.argv[1], int(sys.argv[2]))) else "connected")
'

# The images are made (or found in the cache) all at once, in the
# background: mostly downloads and unpacking, so that one release's image is
# made while the other's tests run. The tests themselves, which build and
# time things, run one release after the other.
for r in $RELEASES; do
	bash "$TOP/tests/system/image.sh" "$r" >"$WORK/image-$r.out" 2>"$WORK/image-$r.log" &
	image_pids[$r]=$!
done
for r in $RELEASES; do
	release "$r"
done

echo "# system test: $((SECONDS - suite_started)) s"
finish
