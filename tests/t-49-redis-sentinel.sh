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
# HELPER may name another build. About 30 s.
# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis-lib.sh"

if ! redis_need || ! command -v redis-sentinel >/dev/null; then
	skip "Redis Sentinel" "no redis-server, redis-cli or redis-sentinel (Debian packages redis-server, redis-sentinel)"
	finish
	exit $?
fi

MASTER=mymaster
declare -A SENTINEL_PORT

# scli N ARGS...: redis-cli to sentinel N (no password).
scli() {
	local n=$1
	shift
	env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "${SENTINEL_PORT[$n]}" "$@"
}

# sentinel_start N: sentinel N, watching the primary on port $1's server.
sentinel_start() {
	local n=$1 dir=$WORK/sentinel-$1 port
	mkdir -p "$dir"
	port=$(redis_free_port)
	cat >"$dir/sentinel.conf" <<-EOF
		port $port
		bind 127.0.0.1
		dir $dir
		logfile $dir/sentinel.log
		daemonize no
		sentinel resolve-hostnames no
		sentinel announce-hostnames no
		sentinel announce-ip 127.0.0.1
		sentinel monitor $MASTER 127.0.0.1 ${REDIS_PORT[a]} 2
		sentinel auth-pass $MASTER $REDIS_ADMIN_PASSWORD
		sentinel down-after-milliseconds $MASTER 1000
		sentinel failover-timeout $MASTER 4000
		sentinel parallel-syncs $MASTER 1
	EOF
	spawn redis-sentinel "$dir/sentinel.conf"
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
redis_start a || { fail "redis-server a started"; finish; exit 1; }
redis_seed a
REDIS_PORT["b"]=$(redis_free_port)
redis_start b replicaof "127.0.0.1 ${REDIS_PORT[a]}" masterauth "$REDIS_ADMIN_PASSWORD" \
	replica-announce-ip 127.0.0.1 || fail "redis-server b started"
wait_for 15 replica_in_sync b && pass "a primary (a) and its replica (b) in sync" ||
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

# stream_start: the stream of logins, in the background; stream_done ends it
# and counts its verdicts.
stream_start() {
	rm -f "$WORK/stop" "$WORK/stream.progress"
	"$PY" "$TOP/tests/redis_stream.py" "$HELPER" "$OTP_SEED" "$TOKEN_SECRET" \
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
sleep_until=$((SECONDS + 2))
n=$(accepted)
while [ "$SECONDS" -lt "$sleep_until" ]; do sleep 0.2; done
check "... and while no replica acknowledges, nothing is accepted" "$n" "$(accepted)"
grep -q 'of 1 replicas acknowledged' "$WORK"/stream.*.log &&
	pass "... saying: 0 of 1 replicas acknowledged" || fail "... saying why (WAIT)"
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
