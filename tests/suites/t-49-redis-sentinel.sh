#!/bin/bash
# Redis Sentinel, for real: a primary, a replica and three redis-sentinels on
# 127.0.0.1 (free ports, short timeouts so that a failover takes seconds).
# The helpers ask the sentinels for the primary, check it says so (ROLE),
# and with replay_redis_wait_replicas = 1 accept a login only once the
# replica has it.
#
# Proves, with a pool of helpers racing on a stream of fresh tokens: the
# primary killed mid-stream, the helpers find the new primary by themselves;
# logins are refused (never accepted on a store that could lose them) while
# no replica acknowledges, and accepted again once the old primary is back
# as a replica; no token is accepted twice, and every token accepted before
# the failover is refused after it. Then a manual failover (SENTINEL
# FAILOVER): the primary the helpers use becomes a replica (READONLY, or its
# clients dropped), and they follow again. check-config shows what each
# sentinel says.
#
# The sentinels ask for a password (requirepass, as Bitnami's charts set
# them up): the right one (replay_redis_sentinel_password, with or without
# replay_redis_sentinel_user) lets the helpers in; a wrong one, or none, is
# refused, logged and shown by check-config, never the password itself. A
# sentinel that names a server which is not the primary (here a real
# sentinel monitoring a replica) is not trusted: alone, logins are refused,
# saying why; before an honest sentinel, the honest one is asked next. A
# sentinel named by a name that comes to point at it is followed.
#
# Where hiredis has TLS (Debian 13's), a rediss:// store asks its sentinels
# over TLS: a sentinel and a primary that speak TLS only (a test CA) let a
# login in; a plain-text sentinel, or one whose certificate is not trusted,
# does not. Where it has not (Debian 12's), that is skipped, saying why.
#
# HELPER may name another build; REDIS_SERVER=valkey-server runs it all
# against Valkey and valkey-sentinel (tests/lib/redis-lib.sh). About 30 s.
# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/redis-lib.sh"

if ! redis_need || ! command -v "$REDIS_SENTINEL" >/dev/null; then
	skip "$REDIS_KIND Sentinel" "no $REDIS_SERVER, $REDIS_CLI or $REDIS_SENTINEL (Debian packages $REDIS_PACKAGES)"
	finish
	exit $?
fi

MASTER=mymaster
declare -A SENTINEL_PORT
# What the sentinels ask of their clients, and of one another; and an ACL
# user of theirs with the documented minimal ACL (prosody-token-auth(1)).
SENTINEL_PASSWORD=sentinel-$RANDOM$RANDOM
SENTINEL_USER=pta-sentinel
SENTINEL_USER_PASSWORD=watch-$RANDOM$RANDOM
SENTINEL_ACL="resetchannels -@all +sentinel|get-master-addr-by-name"

declare -A SENTINEL_TLS
# scli N ARGS...: the client to sentinel N (its password from the
# environment, never the command line; over TLS, not verified, to one that
# speaks only TLS).
scli() {
	local n=$1 tls=()
	shift
	[ -z "${SENTINEL_TLS[$n]:-}" ] || tls=(--tls --insecure)
	REDISCLI_AUTH=$SENTINEL_PASSWORD "$REDIS_CLI" "${tls[@]}" -h 127.0.0.1 \
		-p "${SENTINEL_PORT[$n]}" --no-auth-warning "$@"
}

# sentinel_start N [SERVER [QUORUM [DIRECTIVE VALUE...]]]: sentinel N,
# watching the primary on server SERVER's port (a by default), each further
# "DIRECTIVE VALUE" a line of its config. With "port 0 tls-port PORT" it
# speaks TLS only, on SENTINEL_PORT[N] = PORT.
sentinel_start() {
	local n=$1 dir=$WORK/sentinel-$1 port watched=${REDIS_PORT[${2:-a}]} quorum=${3:-2}
	shift $(($# < 3 ? $# : 3))
	mkdir -p "$dir"
	port=$(redis_free_port)
	{
		cat <<-EOF
			port $port
			bind 127.0.0.1
			dir $dir
			logfile $dir/sentinel.log
			daemonize no
			sentinel resolve-hostnames no
			sentinel announce-hostnames no
			sentinel announce-ip 127.0.0.1
			requirepass $SENTINEL_PASSWORD
			sentinel sentinel-pass $SENTINEL_PASSWORD
			user $SENTINEL_USER on >$SENTINEL_USER_PASSWORD $SENTINEL_ACL
			sentinel monitor $MASTER 127.0.0.1 $watched $quorum
			sentinel auth-pass $MASTER $REDIS_ADMIN_PASSWORD
			sentinel down-after-milliseconds $MASTER 1000
			sentinel failover-timeout $MASTER 4000
			sentinel parallel-syncs $MASTER 1
		EOF
		while [ $# -ge 2 ]; do
			[ "$1" = tls-port ] && { SENTINEL_TLS[$n]=1; port=$2; }
			echo "$1 $2"
			shift 2
		done
	} >"$dir/sentinel.conf"
	spawn "$REDIS_SENTINEL" "$dir/sentinel.conf"
	SENTINEL_PORT[$n]=$port
}

# primary_port [N]: the port of the primary, as sentinel N (1) names it.
primary_port() {
	scli "${1:-1}" SENTINEL get-master-addr-by-name "$MASTER" 2>/dev/null | sed -n 2p
}
# ready: every sentinel knows the primary, its replica and the others.
ready() {
	local n
	for n in 1 2 3; do
		[ "$(primary_port "$n")" = "$1" ] || return 1
		[ "$(scli "$n" SENTINEL replicas "$MASTER" | grep -c '^slave$')" -ge 1 ] || return 1
		[ "$(scli "$n" SENTINEL sentinels "$MASTER" | grep -c '^name$')" -eq 2 ] || return 1
	done
	scli 1 SENTINEL replicas "$MASTER" | grep -A1 '^flags$' | grep -q '^slave$'
}
replica_in_sync() { rcli "$1" INFO replication | grep -q 'master_link_status:up'; }

# Two servers, a and b: a the primary at first, b its replica.
redis_start a || { fail "$REDIS_SERVER a started"; finish; exit 1; }
redis_seed a
REDIS_PORT["b"]=$(redis_free_port)
redis_start b replicaof "127.0.0.1 ${REDIS_PORT[a]}" masterauth "$REDIS_ADMIN_PASSWORD" \
	replica-announce-ip 127.0.0.1 || fail "$REDIS_SERVER b started"
wait_for 15 replica_in_sync b && pass "$(redis_what): a primary (a) and its replica (b) in sync" ||
	fail "the replica is in sync"
for n in 1 2 3; do
	sentinel_start "$n"
done
wait_for 30 ready "${REDIS_PORT[a]}" &&
	pass "three sentinels know the primary, the replica and one another" ||
	{ fail "the sentinels are ready"; tail -5 "$WORK"/sentinel-*/sentinel.log; }

CONF=$WORK/token-auth.conf
redis_config "$CONF" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/0" \
	"replay_redis_sentinels = 127.0.0.1:${SENTINEL_PORT[1]},127.0.0.1:${SENTINEL_PORT[2]},127.0.0.1:${SENTINEL_PORT[3]}" \
	"replay_redis_master = $MASTER" \
	"replay_redis_sentinel_password = $SENTINEL_PASSWORD" \
	"replay_redis_wait_replicas = 1" \
	"replay_per_user = 100000"

out=$($HELPER --config "$CONF" check-config 2>&1)
status=$?
echo "$out" | sed -n '/^replay store/,$p' | sed 's/^/# /'
check "check-config with Sentinel: exit 0" 0 "$status"
[ "$(grep -c "sentinel 127.0.0.1:[0-9]*: the primary of $MASTER is 127.0.0.1:${REDIS_PORT[a]}" <<<"$out")" -eq 3 ] &&
	pass "check-config: each sentinel names the primary" || fail "check-config: each sentinel names the primary"
grep -q 'role: primary, 1 replica connected' <<<"$out" &&
	pass "check-config: the primary has the replica WAIT needs" || fail "check-config: role and replica"
sed 's/^replay_redis_wait_replicas = 1$/replay_redis_wait_replicas = 0/' "$CONF" >"$WORK/nowait.conf"
chmod 600 "$WORK/nowait.conf"
out=$($HELPER --config "$WORK/nowait.conf" check-config 2>&1)
grep -q 'WARNING: Sentinel with replay_redis_wait_replicas = 0' <<<"$out" &&
	pass "check-config warns of Sentinel without WAIT (a failover may lose nonces)" ||
	fail "check-config warns of Sentinel with replay_redis_wait_replicas = 0: $out"
! grep -q -- "$SENTINEL_PASSWORD" <<<"$out" && pass "check-config never shows the sentinels' password" ||
	fail "check-config showed the sentinels' password"

# --- sentinels that ask for a password ---------------------------------------

# sconf FILE SENTINELS [EXTRA LINES...]: the config, with other sentinels or
# another way of logging in to them.
sconf() {
	local file=$1 sentinels=$2
	shift 2
	redis_config "$file" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/0" \
		"replay_redis_sentinels = $sentinels" "replay_redis_master = $MASTER" \
		"replay_per_user = 100000" "$@"
}
# one_login CONF LOG: the answer to one fresh login, the helper's log in LOG.
one_login() {
	echo "auth:s:example.org:$(token s@example.org)" |
		timeout 20 "$HELPER" --config "$1" --log stderr 2>"$2"
}
S1=127.0.0.1:${SENTINEL_PORT[1]}

sconf "$WORK/user.conf" "$S1" "replay_redis_sentinel_user = $SENTINEL_USER" \
	"replay_redis_sentinel_password = $SENTINEL_USER_PASSWORD"
out=$($HELPER --config "$WORK/user.conf" check-config 2>&1)
check "the sentinels' ACL user (minimal ACL) and password: check-config exit 0" 0 $?
grep -q "logging in to each sentinel as user $SENTINEL_USER" <<<"$out" &&
	grep -q "sentinel $S1: the primary of $MASTER is" <<<"$out" &&
	pass "... it logs in to the sentinel as that user, which names the primary" ||
	fail "check-config with the sentinels' user: $out"
check "... and a login through it is accepted" 1 "$(one_login "$WORK/user.conf" "$WORK/user.log")"

WRONG=wrong-$RANDOM$RANDOM
sconf "$WORK/wrong.conf" "$S1" "replay_redis_sentinel_password = $WRONG"
out=$($HELPER --config "$WORK/wrong.conf" check-config 2>&1)
status=$?
[ "$status" -ne 0 ] && grep -q "WARNING: sentinel $S1: sentinel $S1 refused AUTH: WRONGPASS" <<<"$out" &&
	grep -q "PROBLEM: no sentinel named the primary" <<<"$out" &&
	pass "a wrong sentinel password: check-config says the sentinel refused it, exit $status" ||
	fail "check-config with a wrong sentinel password (exit $status): $out"
check "... a login is refused" 0 "$(one_login "$WORK/wrong.conf" "$WORK/wrong.log")"
grep -q "sentinel $S1 refused AUTH: WRONGPASS.*replay_redis_sentinel_password" "$WORK/wrong.log" &&
	pass "... and logged, naming the keys to fix" || fail "the wrong password's log: $(cat "$WORK/wrong.log")"
! grep -q -- "$WRONG" "$WORK/wrong.log" && ! grep -q -- "$WRONG" <<<"$out" &&
	pass "... the password never shown" || fail "the wrong password was shown"

sconf "$WORK/nopass.conf" "$S1"
out=$($HELPER --config "$WORK/nopass.conf" check-config 2>&1)
[ $? -ne 0 ] && grep -q "sentinel $S1 asks for a password (NOAUTH): set replay_redis_sentinel_password" <<<"$out" &&
	pass "no sentinel password: check-config says the sentinel asks for one" ||
	fail "check-config without a sentinel password: $out"
check "... a login is refused" 0 "$(one_login "$WORK/nopass.conf" "$WORK/nopass.log")"
grep -q "asks for a password (NOAUTH)" "$WORK/nopass.log" && pass "... and logged" ||
	fail "no password's log: $(cat "$WORK/nopass.log")"

# --- TLS to the sentinels ------------------------------------------------------

# With a rediss:// replay_store the sentinels are asked over TLS too, their
# certificates checked as the primary's, where hiredis has TLS (Debian 13's
# 1.x; Debian 12's 0.14 has none, and refuses rediss:// at start-up). A pair
# of their own: a primary (tp) and a sentinel (ts) that speak TLS only
# (port 0), certificates of a test CA; so a login accepted through ts was
# asked of it over TLS. The sentinel, a plain-text one, and one whose
# certificate the helper does not trust: refused, saying why.
if ! redis_tls_need; then
	skip "TLS to the sentinels" "this build's hiredis has no TLS (Debian 12's hiredis 0.14; Debian 13's 1.x has it, and t-80 runs this suite there)"
elif ! command -v openssl >/dev/null; then
	skip "TLS to the sentinels" "no openssl to make certificates (Debian package openssl)"
else
	redis_tls_certs || fail "certificates made (openssl)"
	TLS_DIRECTIVES=(tls-cert-file "$WORK/good.crt" tls-key-file "$WORK/good.key"
		tls-ca-cert-file "$WORK/ca.crt" tls-auth-clients no)
	REDIS_PORT[tp]=$(redis_free_port)
	redis_start tp port 0 tls-port "${REDIS_PORT[tp]}" "${TLS_DIRECTIVES[@]}" ||
		fail "a TLS-only primary (tp) started"
	redis_seed tp
	sentinel_start ts tp 1 port 0 tls-port "$(redis_free_port)" "${TLS_DIRECTIVES[@]}" \
		tls-replication yes
	wait_for 15 eval '[ "$(primary_port ts)" = "${REDIS_PORT[tp]}" ]' &&
		pass "a sentinel (ts) and a primary (tp) that speak TLS only: ts names tp" ||
		fail "the TLS sentinel names the TLS primary: $(tail -3 "$WORK/sentinel-ts/sentinel.log")"
	ST=127.0.0.1:${SENTINEL_PORT[ts]}
	TLS_URL="rediss://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/0"
	tconf() {
		redis_config "$WORK/$1.conf" "$TLS_URL" "replay_redis_sentinels = $2" \
			"replay_redis_master = $MASTER" "replay_per_user = 100000" \
			"replay_redis_sentinel_password = $SENTINEL_PASSWORD"
	}
	# tls_logins CONF LOG: a fresh token twice, the CA trusted; the answers.
	tls_logins() {
		local t
		t=$(token s@example.org)
		printf 'auth:s:example.org:%s\n' "$t" "$t" | SSL_CERT_FILE=$WORK/ca.crt \
			timeout 20 "$HELPER" --config "$WORK/$1.conf" --log stderr 2>"$WORK/$1.log" |
			tr '\n' ' ' | sed 's/ $//'
	}
	tconf tls "$ST"
	out=$(SSL_CERT_FILE=$WORK/ca.crt $HELPER --config "$WORK/tls.conf" check-config 2>&1)
	status=$?
	grep -q "sentinel $ST: the primary of $MASTER is 127.0.0.1:${REDIS_PORT[tp]}" <<<"$out" &&
		check "rediss:// with a sentinel that speaks TLS only: check-config asks it, exit 0" 0 "$status" ||
		{ echo "$out" | sed 's/^/# /'; fail "check-config with a TLS sentinel (exit $status)"; }
	check "... a login through it accepted, its replay refused" "1 0" "$(tls_logins tls)"
	tconf tls-plain "$S1"
	check "rediss:// with a sentinel that speaks plain text: refused (no fallback)" "0 0" \
		"$(tls_logins tls-plain)"
	grep -q "TLS with 127.0.0.1 failed" "$WORK/tls-plain.log" &&
		pass "... saying TLS with it failed" || fail "the plain sentinel's log: $(cat "$WORK/tls-plain.log")"
	grep -m1 'TLS with' "$WORK/tls-plain.log" | cut -c1-230 | sed 's/^/# /'
	check "rediss:// with the TLS sentinel, its CA not trusted: refused" 0 \
		"$(echo "auth:s:example.org:$(token s@example.org)" |
			timeout 20 "$HELPER" --config "$WORK/tls.conf" --log stderr 2>"$WORK/tls-untrusted.log")"
	grep -q "TLS with 127.0.0.1: the certificate is refused" "$WORK/tls-untrusted.log" &&
		pass "... saying the sentinel's certificate is refused" ||
		fail "the untrusted sentinel's log: $(cat "$WORK/tls-untrusted.log")"
	grep -m1 'certificate is refused' "$WORK/tls-untrusted.log" | cut -c1-230 | sed 's/^/# /'
	redis_stop tp
fi

# --- a sentinel that names a server which is not the primary -----------------

# A pair of its own (r1, and r2 its replica), which the honest sentinels
# never see, and a real sentinel told that r2 is the primary: it names r2
# (a replica, which accepts the helpers' user and password) as mymaster.
redis_start r1 || fail "redis-server r1 started"
redis_start r2 replicaof "127.0.0.1 ${REDIS_PORT[r1]}" masterauth "$REDIS_ADMIN_PASSWORD" ||
	fail "redis-server r2 started"
wait_for 15 replica_in_sync r2 || fail "r2 is in sync with r1"
sentinel_start 9 r2 1
wait_for 10 eval '[ "$(primary_port 9)" = "${REDIS_PORT[r2]}" ]' ||
	fail "the wrong sentinel names r2"
S9=127.0.0.1:${SENTINEL_PORT[9]}
R2=127.0.0.1:${REDIS_PORT[r2]}

sconf "$WORK/rogue.conf" "$S9" "replay_redis_sentinel_password = $SENTINEL_PASSWORD"
check "a sentinel naming a replica, alone: a login is refused" 0 \
	"$(one_login "$WORK/rogue.conf" "$WORK/rogue.log")"
grep -q "sentinel $S9 named $R2 as the primary of $MASTER, not trusted: $R2 says it is slave, not the primary (ROLE)" "$WORK/rogue.log" &&
	pass "... saying which sentinel named which server, and why it is not trusted" ||
	fail "the wrong sentinel's log: $(cat "$WORK/rogue.log")"
out=$($HELPER --config "$WORK/rogue.conf" check-config 2>&1)
[ $? -ne 0 ] && grep -q "PROBLEM: this server is a slave, not the primary\|PROBLEM: .*not trusted" <<<"$out" &&
	pass "... check-config says so" || fail "check-config with the wrong sentinel: $out"
[ "$(rcli r2 DBSIZE)" = 0 ] && pass "... and nothing was written to the replica" ||
	fail "keys on the replica: $(rcli r2 DBSIZE)"

sconf "$WORK/rogue2.conf" "$S9,$S1" "replay_redis_sentinel_password = $SENTINEL_PASSWORD"
check "a sentinel naming a replica, then an honest one: a login is accepted" 1 \
	"$(one_login "$WORK/rogue2.conf" "$WORK/rogue2.log")"
grep -q "not trusted: .*; asking the next sentinel" "$WORK/rogue2.log" &&
	pass "... through the honest one, the wrong one logged" ||
	fail "the log with two sentinels: $(cat "$WORK/rogue2.log")"

# --- a sentinel named by a name that moves -------------------------------------

# A sentinel's name in a private /etc/hosts (a mount namespace of this
# test's own; resolv.conf there names 127.0.0.1, so no real resolver is
# asked) points first where nothing listens (127.0.0.3), then at sentinel 1:
# a helper serving throughout refuses, then recovers by itself.
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
	skip "a sentinel whose name moves" "needs root and unshare (a mount namespace)"
else
	SNAME=sentinel.pta.test
	printf '127.0.0.1 localhost\n127.0.0.3 %s\n' "$SNAME" >"$WORK/hosts"
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$WORK/resolv.conf"
	sconf "$WORK/named.conf" "$SNAME:${SENTINEL_PORT[1]}" \
		"replay_redis_sentinel_password = $SENTINEL_PASSWORD"
	coproc NAMED { exec unshare -m sh -c 'mount --bind "$1" /etc/hosts &&
		mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"' sh \
		"$WORK/hosts" "$WORK/resolv.conf" "$HELPER" --config "$WORK/named.conf" \
		--log stderr 2>"$WORK/named.log"; }
	pids+=("$NAMED_PID")
	named_pid=$NAMED_PID
	named_in=${NAMED[1]}
	named_out=${NAMED[0]}
	# named_login: one fresh login through that helper; sets ANS.
	named_login() {
		echo "auth:s:example.org:$(token s@example.org)" >&"$named_in"
		read -r -t 5 -u "$named_out" ANS || ANS=none
	}
	named_login
	check "the sentinel's name points where nothing listens: a login refused" 0 "$ANS"
	printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$SNAME" >"$WORK/hosts"
	named_ok() { named_login && [ "$ANS" = 1 ]; }
	wait_for 20 named_ok && pass "... it moves to the sentinel: logins recover, the helper not restarted" ||
		fail "logins through a sentinel's moved name: $(tail -3 "$WORK/named.log")"
	grep -q "the sentinels' names now resolve to 127.0.0.1:${SENTINEL_PORT[1]} (was 127.0.0.3:${SENTINEL_PORT[1]})" \
		"$WORK/named.log" && pass "... and the move is logged" ||
		fail "the sentinel's move, logged: $(cat "$WORK/named.log")"
	eval "exec $named_in>&-"
	wait "$named_pid"
	check "... the confined helper exits 0" 0 $?
	unspawn "$named_pid"
fi

# stream_start: the stream of logins, in the background; stream_done ends it
# and counts its verdicts.
stream_start() {
	rm -f "$WORK/stop" "$WORK/stream.progress"
	"$PY" "$TOP/tests/lib/redis_stream.py" "$HELPER" "$OTP_SEED" "$TOKEN_SECRET" \
		"$CONF" 2 "$WORK" "$WORK/stop" 90 >"$WORK/stream.out" 2>&1 &
	STREAM=$!
	pids+=("$STREAM")
}
stream_done() {
	local line
	touch "$WORK/stop"
	wait "$STREAM"
	unspawn "$STREAM"
	while IFS= read -r line; do
		case $line in
		"ok   "*) pass "${line#ok   }" ;;
		"FAIL "*) fail "${line#FAIL }" ;;
		*) echo "$line" ;;
		esac
	done <"$WORK/stream.out"
}
# accepted: how many logins the stream had accepted so far.
accepted() { awk '{ print $2 }' "$WORK/stream.progress" 2>/dev/null || echo 0; }
# accepted_more N: the stream has accepted more than N.
accepted_more() { [ "$(accepted)" -gt "$1" ]; }
# refusing: the stream's last logins were refused (its refusals grow).
refused() { awk '{ print $3 }' "$WORK/stream.progress" 2>/dev/null || echo 0; }
refused_more() { [ "$(refused)" -gt "$1" ]; }
new_primary() { [ "$(primary_port 1)" = "$1" ] && [ "$(primary_port 2)" = "$1" ]; }

# --- the primary killed mid-stream -------------------------------------------

stream_start
wait_for 10 accepted_more 30 && pass "a stream of logins through 2 helpers racing: accepted" ||
	fail "the stream's logins are accepted"
before=$(refused)
redis_stop a KILL
killed=$SECONDS
wait_for 20 refused_more "$before" && pass "the primary killed: logins refused" ||
	fail "the primary killed: logins refused"
if wait_for 30 new_primary "${REDIS_PORT[b]}"; then
	pass "the sentinels promoted the replica (in $((SECONDS - killed)) s)"
else
	fail "the sentinels promoted the replica"
fi
# The new primary has no replica yet: WAIT 1 cannot be met, so nothing is
# accepted (it could be lost with this one server).
# (A helper still backing off from the killed primary asks the new one
# only when its back-off ends: the reason may take a few seconds to come.)
wait_logged() { grep -q 'of 1 replicas acknowledged' "$WORK"/stream.*.log; }
n=$(accepted)
wait_for 15 wait_logged && pass "... saying: 0 of 1 replicas acknowledged" ||
	fail "... saying why (WAIT)"
check "... and while no replica acknowledges, nothing is accepted" "$n" "$(accepted)"
# The old primary comes back, as a replica of the new one.
redis_start a replicaof "127.0.0.1 ${REDIS_PORT[b]}" masterauth "$REDIS_ADMIN_PASSWORD" \
	replica-announce-ip 127.0.0.1 || fail "redis-server a restarted as a replica"
n=$(accepted)
wait_for 30 accepted_more "$((n + 20))" &&
	pass "once a replica is back, logins are accepted again (the helpers were not restarted)" ||
	fail "logins accepted again after the failover"
grep -q "the sentinels now name 127.0.0.1:${REDIS_PORT[b]} as the primary" "$WORK"/stream.*.log &&
	pass "the helpers logged the new primary" || fail "the helpers logged the new primary"
stream_done

# --- a manual failover: the helpers' primary becomes a replica -----------------

wait_for 30 ready "${REDIS_PORT[b]}" || fail "the sentinels are ready again"
wait_for 15 replica_in_sync a || fail "a is in sync with b"
stream_start
wait_for 10 accepted_more 30 || fail "the stream's logins are accepted"
scli 1 SENTINEL FAILOVER "$MASTER" >/dev/null
if wait_for 30 new_primary "${REDIS_PORT[a]}"; then
	pass "SENTINEL FAILOVER: a is the primary again"
else
	fail "SENTINEL FAILOVER: a is the primary again"
fi
n=$(accepted)
wait_for 30 accepted_more "$((n + 20))" &&
	pass "the helpers followed it by themselves" || fail "the helpers followed the manual failover"
stream_done

finish
