#!/bin/bash
# Redis Cluster, for real: six redis-servers in cluster mode on 127.0.0.1
# (three primaries, three replicas, free ports, made by redis-cli --cluster
# create), the helpers given two of them as seeds (replay_redis_cluster) and
# replay_redis_wait_replicas = 1, so that each primary's replica must have
# a login before it is accepted.
#
# Proves: check-config shows the slot map and each primary; a new
# cluster's slots have no marker (rule 6 is kept per slot) until
# reset-store marks them; isuser = seen marks each JID on the primary of
# its own slot; two nodes' helpers racing on the same tokens, over
# JIDs of every shard: each accepted exactly once, replays refused; the
# stress harness's outcomes with batches over every primary; the map read
# with CLUSTER SLOTS where SHARDS is not allowed; a seed that does not
# answer, and none that does (refused, saying why); a slot migrated while a
# stream of logins for one of its JIDs runs (CLUSTER SETSLOT IMPORTING and
# MIGRATING, MIGRATE, SETSLOT NODE): the helpers follow ASK (with ASKING),
# then MOVED, and accept again without a restart; the primary of that slot
# killed: its logins refused until its replica is promoted and has a
# replica again, then accepted; a manual CLUSTER FAILOVER followed; no
# token accepted twice across any of it, and every token accepted during a
# stream refused after it.
#
# Valkey Cluster speaks the same protocol: with REDIS_SERVER=valkey-server
# (tests/lib/redis-lib.sh) the same cluster is Valkey's, made by valkey-cli
# (Debian 13 has it; t-80 runs this suite so there).
#
# HELPER may name another build. About 20 s.
# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/redis-lib.sh"

if ! redis_need; then
	skip "$REDIS_KIND Cluster" "no $REDIS_SERVER or $REDIS_CLI (Debian packages $REDIS_PACKAGES)"
	finish
	exit $?
fi

# The helpers' ACL user on a cluster: the script per login, its slots'
# marks and the keys' leases, reading the map and following ASK.
REDIS_ACL="$REDIS_ACL +evalsha +script|load +zremrangebyscore +zcard +pttl
+pexpire +hmget +hset +hget +hsetnx +hdel +hgetall +cluster|shards
+cluster|slots +asking"
NAMES="n1 n2 n3 n4 n5 n6"

declare -A BUS_PORT
# cluster_node NAME: a server of the cluster (its bus on a free port too,
# the same one when it starts again). A first start that fails is tried
# twice more on other ports: a free port can be taken between its check
# and the server's bind, and the bus port is checked before the server's
# own is chosen.
cluster_node() {
	local first=yes
	[ -z "${BUS_PORT[$1]:-}" ] || first=no
	for _ in 1 2 3; do
		BUS_PORT[$1]=${BUS_PORT[$1]:-$(redis_free_port)}
		redis_start "$1" cluster-enabled yes cluster-config-file nodes.conf \
			cluster-node-timeout 1000 cluster-port "${BUS_PORT[$1]}" \
			cluster-require-full-coverage no cluster-replica-validity-factor 0 \
			masterauth "$REDIS_ADMIN_PASSWORD" && return 0
		[ "$first" = yes ] || return 1
		redis_stop "$1"
		unset "REDIS_PORT[$1]" "BUS_PORT[$1]"
		rm -f "$WORK/redis-$1/nodes.conf"
	done
	return 1
}
# cluster_ok NAME: the server sees the cluster whole: its state ok, and
# three primaries and three replicas, none failing.
cluster_ok() {
	rcli "$1" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' &&
		[ "$(rcli "$1" CLUSTER NODES | awk '$3 !~ /fail/ && $3 ~ /master/' | wc -l)" -eq 3 ] &&
		[ "$(rcli "$1" CLUSTER NODES | awk '$3 !~ /fail/ && $3 ~ /slave/' | wc -l)" -eq 3 ]
}
all_ok() {
	local n
	for n in $NAMES; do
		[ -z "${REDIS_PID[$n]}" ] || cluster_ok "$n" || return 1
	done
}
# role NAME: master or slave, as the server says.
role() { rcli "$1" ROLE 2>/dev/null | head -1; }
# node_id NAME: the server's cluster id.
node_id() { rcli "$1" CLUSTER MYID; }
# owner SLOT: the name of the server that serves SLOT, as n1 sees it.
owner() {
	local port n
	port=$(rcli n1 CLUSTER SHARDS | awk -v s="$1" '
		$0 == "slots" { getline; a = $0; getline; b = $0; in_range = (s >= a && s <= b) }
		$0 == "port" && in_range { getline; port = $0 }
		$0 == "role" && in_range { getline; if ($0 == "master") { print port; exit } }')
	for n in $NAMES; do
		[ "${REDIS_PORT[$n]}" = "$port" ] && echo "$n"
	done
}
# stat NAME FIELD: a counter of INFO's (errorstat_ASK, cmdstat_asking, ...).
stat() {
	local v
	v=$(rcli "$1" INFO all | tr -d '\r' | sed -n "s/^$2:\(count\|calls\)=\([0-9]*\).*/\2/p")
	echo "${v:-0}"
}

for n in $NAMES; do
	cluster_node "$n" || { fail "$REDIS_SERVER $n started in cluster mode"; finish; exit 1; }
done
seeds=()
for n in $NAMES; do
	seeds+=("127.0.0.1:${REDIS_PORT[$n]}")
done
if "$REDIS_CLI" --no-auth-warning --cluster create "${seeds[@]}" --cluster-replicas 1 \
	--cluster-yes >"$WORK/create.log" 2>&1 && wait_for 30 all_ok; then
	pass "a $(redis_what) cluster of three primaries and three replicas ($REDIS_CLI --cluster create)"
else
	fail "the cluster is made"
	tail -5 "$WORK/create.log"
	finish
	exit 1
fi

CONF=$WORK/token-auth.conf
redis_config "$CONF" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = ${seeds[0]},${seeds[3]}" \
	"replay_redis_wait_replicas = 1" \
	"replay_per_user = 100000"

# --- check-config --------------------------------------------------------------

out=$($HELPER --config "$CONF" check-config 2>&1)
echo "$out" | sed -n '/^replay store/,$p' | sed 's/^/# /'
[ "$(grep -c '^  node 127.0.0.1:[0-9]*: primary of slots [0-9]*-[0-9]*, 1 replica (127.0.0.1:[0-9]*)$' <<<"$out")" -eq 3 ] &&
	pass "check-config: the slot map, three primaries with a replica each" ||
	fail "check-config shows the cluster's primaries"
[ "$(grep -c 'role: primary, 1 replica connected' <<<"$out")" -eq 3 ] &&
	pass "check-config: each primary has the replica WAIT needs" || fail "check-config: each primary's role"
# A new cluster: no slot has a mark yet (rule 6: a slot's mark says from
# when it holds every nonce, on which node, and moves and is lost with its
# nonces); reset-store marks them all, each with its node.
[ "$(grep -c 'slots have no mark yet' <<<"$out")" -eq 3 ] &&
	pass "check-config: a new cluster's slots have no mark yet" || fail "check-config: marks missing"
out=$($HELPER --config "$CONF" reset-store 2>&1)
grep -q "^marked 16384 slots of the cluster" <<<"$out" &&
	pass "reset-store marks the 16384 slots of a new cluster" || fail "reset-store on a cluster: $out"
out=$($HELPER --config "$CONF" reset-store 2>&1)
grep -q "^marked 0 slots of the cluster .*16384 had a mark already" <<<"$out" &&
	pass "... and a second time marks none (HSETNX)" || fail "reset-store again: $out"
out=$($HELPER --config "$CONF" check-config 2>&1)
status=$?
[ "$(grep -c '  \([0-9]*\) of its \1 slots hold every nonce recorded' <<<"$out")" -eq 3 ] &&
	grep -q 'recorded, refused the second time, and found: OK' <<<"$out" &&
	check "check-config once marked: every slot complete, the test nonce, exit 0" 0 "$status" ||
	{ echo "$out" | sed 's/^/# /'; fail "check-config once marked"; }
[ "$(for n in $NAMES; do [ "$(role "$n")" = master ] && rcli "$n" --scan --pattern 'pta:{*}mark'; done | wc -l)" -eq 16384 ] &&
	pass "a mark per slot, each on the primary of its slot" || fail "the marks' places"
[ "$(for n in $NAMES; do [ "$(role "$n")" = master ] && rcli "$n" --scan --pattern 'pta:{*}since'; done | sort -u | wc -l)" -eq 16384 ] &&
	[ "$(rcli n1 CLUSTER KEYSLOT 'pta:{0}since')" = "$(rcli n1 CLUSTER KEYSLOT 'pta:{0}mark')" ] &&
	pass "... and the first layout's marks, which shut its helpers out" || fail "the first layout's marks"

# --- isuser = seen: each JID's mark where its slot is served ----------------------

# (under a prefix of its own: helpers with a store_secret and helpers
# without refuse each other's slots, rule 8)
CONF_SEEN=$WORK/token-auth-seen.conf
redis_config "$CONF_SEEN" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = ${seeds[0]}" "replay_redis_key_prefix = pta:seen:" \
	"store_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" "isuser = seen" \
	"isuser_seen_days = 2"
$HELPER --config "$CONF_SEEN" reset-store >/dev/null 2>&1 || fail "reset-store under pta:seen:"
reqs=()
for i in 1 2 3 4 5 6 7 8; do
	reqs+=("auth:seen$i:example.org:$(token "seen$i@example.org")")
done
for i in 1 2 3 4 5 6 7 8; do reqs+=("isuser:seen$i:example.org"); done
reqs+=("isuser:never:example.org")
out=$(printf '%s\n' "${reqs[@]}" | timeout 30 $HELPER --config "$CONF_SEEN" \
	--log stderr 2>"$WORK/seen.err" | tr '\n' ' ' | sed 's/ $//')
check "isuser = seen on the cluster: 8 logins, each then exists, a stranger not" \
	"1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 0" "$out"
[ "$(for n in $NAMES; do [ "$(role "$n")" = master ] && rcli "$n" --scan --pattern 'pta:seen:{*}:s'; done | wc -l)" -eq 8 ] &&
	pass "isuser = seen on the cluster: 8 marks, each on the primary of its JID's slot" ||
	fail "isuser = seen on the cluster: the marks' places"
# (the marks last until the end of the day isuser_seen_days ahead, set
# with EXAT; now is taken before the TTLs are read)
now=$(date +%s)
left=$(((now / 86400 + 3) * 86400 - now))
ttls=$(for n in $NAMES; do
	[ "$(role "$n")" = master ] || continue
	rcli "$n" --scan --pattern 'pta:seen:{*}:s' | while read -r key; do
		rcli "$n" TTL "$key"
	done
done | sort -n | sed -n '1p;$p' | tr '\n' ' ')
read -r least most <<<"$ttls"
[ "${least:-0}" -gt $((left - 60)) ] && [ "${most:-0}" -le "$left" ] &&
	pass "isuser = seen on the cluster: each mark expires at the end of its last day ($least-$most s)" ||
	fail "isuser = seen on the cluster: the marks' TTLs $ttls, expected at most $left"

# --- two nodes' helpers racing, over JIDs of every shard -------------------------

CONF2=$WORK/token-auth-2.conf
redis_config "$CONF2" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = ${seeds[2]}" \
	"replay_redis_wait_replicas = 1" \
	"replay_per_user = 100000"
while IFS= read -r line; do
	case $line in
	"ok   "*) pass "${line#ok   }" ;;
	"FAIL "*) fail "${line#FAIL }" ;;
	*) echo "# $line" ;;
	esac
done < <(timeout 300 "$PY" "$TOP/tests/lib/redis_nodes.py" "$HELPER" "$OTP_SEED" "$TOKEN_SECRET" 150 2 "$CONF" "$CONF2" 2>&1)
# The stress harness, 16 requests outstanding per helper: batches of logins
# for many JIDs, an exchange with each primary in every batch, all written
# before any is read; every outcome checked (valid once, replays, races).
# (Redis given time to answer a helper slowed down, under valgrind)
CONF_STRESS=$WORK/token-auth-stress.conf
redis_config "$CONF_STRESS" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = ${seeds[0]}" "replay_redis_wait_replicas = 1" \
	"replay_redis_timeout_ms = 5000" "replay_per_user = 100000"
out=$(HELPER=$HELPER timeout 300 bash "$TOP/tests/harness/stress.sh" -c "$CONF_STRESS" --use-store -p 4 -n 1500 -w 16 2>&1)
if tail -1 <<<"$out" | grep -q '^[0-9]* passed, 0 failed'; then
	pass "stress, 4 helpers x 1500 requests, 16 outstanding each: every outcome right"
	grep -E 'throughput|latency' <<<"$out" | sed 's/^ */# /'
else
	fail "stress on the cluster"
	tail -20 <<<"$out"
fi

# An ACL user allowed CLUSTER SLOTS alone (as servers before Redis 7 have):
# the map is read from it.
for n in $NAMES; do
	# shellcheck disable=SC2086 # the ACL is a list of words
	rcli "$n" ACL SETUSER slotsonly on ">$REDIS_USER_PASSWORD" ${REDIS_ACL/+cluster|shards/} >/dev/null
done
CONF3=$WORK/token-auth-3.conf
redis_config "$CONF3" "redis://slotsonly:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = ${seeds[1]}" "replay_per_user = 100000"
out=$($HELPER --config "$CONF3" check-config 2>&1)
[ "$(grep -c '^  node 127.0.0.1:[0-9]*: primary of slots [0-9]*-[0-9]*, 1 replica (127.0.0.1:[0-9]*)$' <<<"$out")" -eq 3 ] &&
	grep -q 'recorded, refused the second time, and found: OK' <<<"$out" &&
	pass "the map from CLUSTER SLOTS, where CLUSTER SHARDS is not allowed" ||
	{ echo "$out" | sed 's/^/# /'; fail "the map from CLUSTER SLOTS"; }

# Seeds that do not answer: the next one is asked; none at all: logins
# refused, saying why.
dead=$(redis_free_port)
CONF4=$WORK/token-auth-4.conf
redis_config "$CONF4" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = 127.0.0.1:$dead,${seeds[4]}" "replay_per_user = 100000"
mid_step
answer=$(echo "auth:d:example.org:$(token d@example.org)" | timeout 30 "$HELPER" --config "$CONF4" --log stderr 2>"$WORK/dead.log")
check "a seed that does not answer: the next one tells the map" 1 "$answer"
redis_config "$CONF4" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = 127.0.0.1:$dead" "replay_per_user = 100000"
answer=$(echo "auth:d:example.org:$(token d@example.org)" | timeout 30 "$HELPER" --config "$CONF4" --log stderr 2>"$WORK/dead.log")
[ "$answer" = 0 ] && grep -qF "no node of the cluster told its slot map (Redis unreachable (127.0.0.1:$dead: Connection refused)" "$WORK/dead.log" &&
	pass "no seed answers: the login refused, and the log says why" ||
	{ cat "$WORK/dead.log"; fail "no seed answers: refused, saying why"; }

for n in $NAMES; do
	[ "$(role "$n")" = master ] && rcli "$n" DBSIZE
done >"$WORK/sizes"
[ "$(awk '$1 > 1' "$WORK/sizes" | wc -l)" -eq 3 ] &&
	pass "the JIDs' records spread over the three primaries" || fail "records on every primary: $(tr '\n' ' ' <"$WORK/sizes")"

# --- a stream of logins through two helpers, for one JID --------------------------

# stream_start [USER]: the stream, for USER@example.org (default s).
stream_start() {
	rm -f "$WORK/stop" "$WORK/stream.progress" "$WORK"/stream.*.log
	"$PY" "$TOP/tests/lib/redis_stream.py" "$HELPER" "$OTP_SEED" "$TOKEN_SECRET" \
		"$CONF" 2 "$WORK" "$WORK/stop" 90 "${1:-s}" >"$WORK/stream.out" 2>&1 &
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
		"ok   "*) pass "$1: ${line#ok   }" ;;
		"FAIL "*) fail "$1: ${line#FAIL }" ;;
		*) echo "$line" ;;
		esac
	done <"$WORK/stream.out"
	# what the helpers logged, each kind of line once, with its count
	grep -h 'replay store' "$WORK"/stream.*.log | sed 's/[0-9]\{1,\}/N/g' |
		sort | uniq -c | sort -rn | head -6 | cut -c1-230 | sed 's/^/# /' |
		tee "$WORK/stream.said"
}
accepted() { awk '{ print $2 }' "$WORK/stream.progress" 2>/dev/null || echo 0; }
accepted_more() { [ "$(accepted)" -gt "$1" ]; }
refused() { awk '{ print $3 }' "$WORK/stream.progress" 2>/dev/null || echo 0; }
refused_more() { [ "$(refused)" -gt "$1" ]; }
# still N: nothing more accepted for N seconds.
still() {
	local n until=$((SECONDS + $1))
	n=$(accepted)
	while [ "$SECONDS" -lt "$until" ]; do sleep 0.2; done
	[ "$n" = "$(accepted)" ]
}
user_sets() {
	local n
	for n in $NAMES; do
		[ -n "${REDIS_PID[$n]}" ] && rcli "$n" --scan --pattern 'pta:{*}:u'
	done | sort -u
}

# first_login USER: a first login for USER@example.org; its token in FIRST,
# and the slot of the keys it made in SLOT.
first_login() {
	local answer ukey
	user_sets >"$WORK/sets.before"
	mid_step
	FIRST=$(token "$1@example.org")
	answer=$(echo "auth:$1:example.org:$FIRST" | timeout 30 "$HELPER" --config "$CONF" --log stderr 2>"$WORK/first.log")
	check "a first login for $1@example.org" 1 "$answer"
	user_sets >"$WORK/sets.after"
	ukey=$(comm -13 "$WORK/sets.before" "$WORK/sets.after" | head -1)
	SLOT=$(rcli n1 CLUSTER KEYSLOT "$ukey")
	echo "# $1@example.org's keys ($ukey) are in slot $SLOT, on $(owner "$SLOT")"
}
first_login s
out=$($HELPER --config "$CONF" verify s@example.org "$FIRST" 2>&1)
status=$?
grep -q 'nonce already used' <<<"$out" && check "verify finds the used token on its slot's primary (exit 1)" 1 "$status" ||
	fail "verify on a cluster: $out"
out=$($HELPER --config "$CONF" verify v@example.org "$(token v@example.org)" 2>&1)
grep -q 'not used yet' <<<"$out" && pass "verify: a token not used yet, its keys the only ones leased" ||
	fail "verify of an unused token on a cluster: $out"
stream_slot=$SLOT
# (its primary named now: owner reads one range per shard, and a
# migration splits one)
victim=$(owner "$stream_slot")
# The migration's JID (m@example.org): its slot moves to another primary.
first_login m
slot=$SLOT
src=$(owner "$slot")
[ "$slot" != "$stream_slot" ] || fail "m@ and s@ in different slots"
for n in $NAMES; do
	[ "$n" != "$src" ] && [ "$(role "$n")" = master ] && { dst=$n; break; }
done
echo "# slot $slot moves from $src to $dst"

# --- a slot migrated mid-stream: ASK, then MOVED -----------------------------------

stream_start m
wait_for 10 accepted_more 20 && pass "a stream of logins for the JID through 2 helpers: accepted" ||
	fail "the stream's logins are accepted"
asked=$(stat "$dst" cmdstat_asking)
rcli "$dst" CLUSTER SETSLOT "$slot" IMPORTING "$(node_id "$src")" >/dev/null
rcli "$src" CLUSTER SETSLOT "$slot" MIGRATING "$(node_id "$dst")" >/dev/null
n=$(refused)
wait_for 10 refused_more "$((n + 5))" &&
	pass "the slot migrating: its JID's logins refused (TRYAGAIN: a multi-key script cannot run on half a slot)" ||
	fail "logins refused while the slot migrates"
# shellcheck disable=SC2046 # the keys are words
rcli "$src" MIGRATE 127.0.0.1 "${REDIS_PORT[$dst]}" "" 0 5000 AUTH "$REDIS_ADMIN_PASSWORD" \
	KEYS $(rcli "$src" CLUSTER GETKEYSINSLOT "$slot" 1000) >/dev/null
asked_more() { [ "$(stat "$dst" cmdstat_asking)" -gt "$asked" ]; }
wait_for 10 asked_more &&
	pass "the keys migrated: the helpers follow ASK to $dst, with ASKING ($(stat "$src" errorstat_ASK) ASK)" ||
	fail "the helpers follow ASK with ASKING"
moved=$(stat "$src" errorstat_MOVED)
# (the new owner first, then the old one, as redis-cli --cluster does: so
# that neither sends the other's clients back)
for n in "$dst" "$src" $NAMES; do
	[ "$(role "$n")" = master ] && rcli "$n" CLUSTER SETSLOT "$slot" NODE "$(node_id "$dst")" >/dev/null
done
# The slot's mark moved with it, written by $src: on $dst that is a loss
# (what a node restored from a snapshot shows), refused for one record
# lifetime, as the documentation says of resharding.
n=$(refused)
wait_for 15 refused_more "$((n + 20))" && still 2 &&
	pass "the slot moved: its logins refused on $dst, as after a loss (its mark was written by $src)" ||
	fail "logins refused after the migration"
[ "$(stat "$src" errorstat_MOVED)" -gt "$moved" ] &&
	pass "... after a MOVED from $src, the map asked again" || fail "the helpers met MOVED"
[ "$(rcli "$dst" CLUSTER COUNTKEYSINSLOT "$slot")" -gt 0 ] && [ "$(rcli "$src" CLUSTER COUNTKEYSINSLOT "$slot")" -eq 0 ] &&
	pass "the JID's records are on $dst alone" || fail "the JID's records moved"
stream_done "migration"
grep -q 'still redirected after N tries (TRYAGAIN' "$WORK/stream.said" &&
	grep -q "slot map changed" "$WORK/stream.said" &&
	pass "... the helpers logged why (TRYAGAIN), and the new map" || fail "the helpers logged the migration"
grep -qh "its mark was written by another node" "$WORK"/stream.*.log &&
	pass "... and why the slot refuses: its mark was written by another node" ||
	fail "the helpers logged the moved mark"

# --- the primary killed: its replica promoted ---------------------------------------

# replica_of NAME: the server that replicates NAME.
replica_of() {
	local n
	for n in $NAMES; do
		[ -n "${REDIS_PID[$n]}" ] && [ "$(role "$n")" = slave ] &&
			rcli "$n" ROLE | sed -n 3p | grep -qx "${REDIS_PORT[$1]}" && echo "$n"
	done
}
is_primary() { [ "$(role "$1")" = master ]; }
in_sync() { rcli "$1" INFO replication | grep -q 'master_link_status:up'; }
heir=$(replica_of "$victim")
echo "# s@example.org's slot $stream_slot: $victim, its replica $heir"
stream_start
wait_for 10 accepted_more 20 || fail "the stream's logins are accepted"
n=$(refused)
redis_stop "$victim" KILL
killed=$SECONDS
wait_for 20 refused_more "$n" && pass "$victim killed: its JID's logins refused" ||
	fail "$victim killed: logins refused"
if wait_for 30 is_primary "$heir"; then
	pass "the cluster promoted its replica $heir (in $((SECONDS - killed)) s)"
else
	fail "the cluster promoted the replica"
fi
# The new primary has no replica: WAIT 1 cannot be met, nothing is accepted.
still 2 && pass "... and while no replica acknowledges, nothing is accepted" ||
	fail "nothing accepted without a replica"
cluster_node "$victim" || fail "$victim restarted"
n=$(accepted)
wait_for 30 accepted_more "$((n + 20))" &&
	pass "$victim back as $heir's replica: logins accepted again, on $heir" ||
	fail "logins accepted again after the failover"
[ "$(role "$victim")" = slave ] && pass "... $victim is a replica now" || fail "$victim rejoined as a replica"
stream_done "failover"
grep -q 'slot N has no reachable primary' "$WORK/stream.said" && grep -q 'N of N replicas acknowledged' "$WORK/stream.said" &&
	pass "... the helpers logged why: no primary, then no replica to acknowledge" || fail "the helpers logged the failover"

# --- a manual failover: the helpers' primary becomes a replica -----------------------

wait_for 30 all_ok || fail "the cluster is whole again"
wait_for 15 in_sync "$victim" || fail "$victim is in sync with $heir"
stream_start
wait_for 10 accepted_more 20 || fail "the stream's logins are accepted"
rcli "$victim" CLUSTER FAILOVER >/dev/null
wait_for 30 is_primary "$victim" && pass "CLUSTER FAILOVER: $victim is the primary again" ||
	fail "CLUSTER FAILOVER"
n=$(accepted)
wait_for 30 accepted_more "$((n + 20))" &&
	pass "the helpers followed it by themselves" || fail "the helpers followed the manual failover"
stream_done "manual failover"

# --- losses, lifetimes, clocks and keys, on a cluster of one node -----------------

# A cluster of one primary serving every slot, no replica (WAIT 0), tokens
# of 2-second steps: helpers with otp_window 1 and 3 share it.
cluster_node solo || fail "a one-node cluster's server started"
rcli solo CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null
solo_ok() { rcli solo CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok'; }
wait_for 20 solo_ok && pass "a cluster of one node serving the 16384 slots" || fail "the one-node cluster"
for w in 1 3; do
	redis_config "$WORK/solo-$w.conf" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
		"replay_redis_cluster = 127.0.0.1:${REDIS_PORT[solo]}" \
		"otp_interval = 2" "otp_window = $w" "replay_per_user = 1000"
done
redis_config "$WORK/solo-key.conf" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@/" \
	"replay_redis_cluster = 127.0.0.1:${REDIS_PORT[solo]}" \
	"otp_interval = 2" "otp_window = 3" "store_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
$HELPER --config "$WORK/solo-3.conf" reset-store >/dev/null 2>&1 || fail "reset-store on the one-node cluster"
# solo WINDOW USER TOKEN [LOG] [FAKETIME]: a helper of otp_window WINDOW
# (or of conf WINDOW) asked one login; its answer.
solo() {
	local conf=$WORK/solo-$1.conf pre=()
	[ -z "${5:-}" ] || pre=(faketime -f "$5")
	echo "auth:$2:example.org:$3" | timeout 30 "${pre[@]}" "$HELPER" --config "$conf" \
		--log stderr 2>>"$WORK/${4:-solo}.log"
}
stoken() { token "$1@example.org" --interval 2 "${@:2}"; }

# A nonce kept for the longest lifetime any helper of the slot used: the
# window-1 helper's token replayed to the window-3 one after the window-1
# lifetime, while the token is still valid for the window-3 one.
check "window 3: a login for w@ (the slot learns its lifetime)" 1 "$(solo 3 w "$(stoken w)")"
# (at the start of a step k; the window-1 helper keeps the nonce for 6 s,
# until step k + 3 begins, the window-3 one accepts the token until step
# k + 3 ends: replayed in its second half)
while [ $(($(date +%s) % 2)) -ne 0 ]; do sleep 0.05; done
k=$(($(date +%s) / 2))
t=$(stoken w)
check "window 1: a token for w@ accepted" 1 "$(solo 1 w "$t")"
while [ "$(date +%s)" -lt $((2 * k + 7)) ]; do sleep 0.05; done
check "window 3: that token replayed after the window-1 lifetime: refused" 0 "$(solo 3 w "$t" window)"
grep -q 'replayed' "$WORK/window.log" &&
	pass "... as a nonce already used (kept for the longest lifetime)" || { cat "$WORK/window.log"; fail "the window replay's reason"; }

# A clock set back (faketime): refused, the script comparing it with Redis's.
if ldd "${HELPER%% *}" 2>/dev/null | grep -q libasan; then
	skip "a clock set back" "libfaketime cannot be preloaded before ASan's runtime (the plain build runs it)"
elif command -v faketime >/dev/null; then
	check "a helper whose clock is 5 s behind: refused" 0 \
		"$(solo 1 c "$(stoken c --offset -5)" clock -5s)"
	grep -q "clock is [0-9]* ms behind Redis's" "$WORK/clock.log" &&
		pass "... and it logs that its clock is behind Redis's" || { cat "$WORK/clock.log"; fail "the clock refusal's reason"; }
else
	skip "a clock set back" "needs faketime (Debian package faketime)"
fi

# Helpers with other keys (a store_secret set, changed, or some without):
# nonces recorded under the other keys cannot be found, and they fall in
# other slots: the keys in use are leased in one record for the cluster,
# and a helper refuses while other keys were in use within a lifetime.
t=$(stoken k)
check "a token accepted by a helper without store_secret" 1 "$(solo 3 k "$t")"
check "... replayed to a helper with a store_secret: refused" 0 "$(solo key k "$t" keys)"
grep -q "the store's keys changed" "$WORK/keys.log" &&
	pass "... which logs that the store's keys changed" || { cat "$WORK/keys.log"; fail "the keys refusal's reason"; }
# verify writes nothing, but reads the keys' leases as a login's would
out=$($HELPER --config "$WORK/solo-key.conf" verify k2@example.org "$(stoken k2)" 2>&1)
grep -q "cannot be told.*the store's keys changed" <<<"$out" &&
	pass "... and verify, under either keys, says logins are refused for it" ||
	{ echo "$out" | sed 's/^/# /'; fail "verify while the store's keys changed"; }

# A node flushed between two batches: its slots' marks are gone with the
# nonces (and the keys' leases), and the replay is refused.
$HELPER --config "$WORK/solo-3.conf" reset-store >/dev/null 2>&1 || fail "reset-store (the keys in use forgotten)"
t=$(stoken f)
check "a token for f@ accepted" 1 "$(solo 3 f "$t")"
rcli solo FLUSHALL >/dev/null
check "the node flushed: the token replayed is refused" 0 "$(solo 3 f "$t" flush)"
grep -q "its mark was missing\|record of the keys in use was lost" "$WORK/flush.log" &&
	pass "... and the log says the slot's mark, or the keys' leases, were missing" || { cat "$WORK/flush.log"; fail "the flush refusal's reason"; }

# One helper throughout (a coprocess): it reads the node's identity once a
# connection (and again each second), not at each login: INFO is not among
# a login's commands.
$HELPER --config "$WORK/solo-3.conf" reset-store >/dev/null 2>&1 || fail "reset-store after the flush"
coproc SOLO { exec $HELPER --config "$WORK/solo-3.conf" --log stderr 2>"$WORK/session.log"; }
SOLO_HELPER=$SOLO_PID
pids+=("$SOLO_HELPER")
SOLO_IN=${SOLO[1]}
SOLO_OUT=${SOLO[0]}
session_start=$SECONDS
# slogins USER TOKEN...: the tokens for USER@ through that helper, all
# written before any answer is read; its answers.
slogins() {
	local user=$1 t ans out=()
	shift
	for t in "$@"; do echo "auth:$user:example.org:$t"; done >&"$SOLO_IN"
	for t in "$@"; do
		read -r -t 10 -u "$SOLO_OUT" ans || ans=none
		out+=("$ans")
	done
	echo "${out[*]}"
}
check "one helper: a login for q@" 1 "$(slogins q "$(stoken q)")"
mapfile -t hundred < <(stoken q --count 100)
rcli solo CONFIG RESETSTAT >/dev/null
answers=$(slogins q "${hundred[@]}")
[ "$(tr ' ' '\n' <<<"$answers" | grep -c '^1$')" = 100 ] &&
	pass "... then 100 logins for q@ at once: all accepted" || fail "100 logins for q@: $answers"
infos=$(stat solo cmdstat_info)
[ "$infos" -le 10 ] &&
	pass "... INFO asked $infos times for them (once a connection and second, not at each login)" ||
	fail "INFO asked $infos times for 100 logins"
# The identity goes with its connection: the node killed and restarted
# from a snapshot, the same helper's replay, on a new connection, is
# refused by the slot's mark (the keys' leases, renewed every 10 s, are
# not read again before then).
[ "$(rcli solo SAVE)" = OK ] || fail "SAVE"
t=$(stoken q)
check "one helper: a token for q@ accepted after the snapshot" 1 "$(slogins q "$t")"
redis_stop solo KILL
cluster_node solo || fail "the node restarted"
wait_for 20 solo_ok || fail "the one-node cluster back"
check "... replayed through the same helper after the node's restart from the snapshot: refused" 0 "$(slogins q "$t")"
if grep -q "its mark was written by another node" "$WORK/session.log"; then
	pass "... by the slot's mark, the node not the one the helper read before"
elif [ $((SECONDS - session_start)) -ge 9 ]; then
	skip "the refusal by the slot's mark" "the keys' leases were due again first ($((SECONDS - session_start)) s)"
else
	cat "$WORK/session.log"
	fail "the session's restore refusal's reason"
fi
eval "exec ${SOLO_IN}>&-"
wait "$SOLO_HELPER"
unspawn "$SOLO_HELPER"
# (every slot's mark is now another node's: emptied, and marked again)
rcli solo FLUSHALL >/dev/null

# A node killed and restarted from a snapshot taken before a login: the
# snapshot's marks are its own, the login's nonce is lost: the identity
# check (run_id) of the slot's mark, or of the keys' leases, refuses the
# replay.
$HELPER --config "$WORK/solo-3.conf" reset-store >/dev/null 2>&1 || fail "reset-store after the session's restore, emptied"
check "a token for r@ accepted" 1 "$(solo 3 r "$(stoken r)")"
[ "$(rcli solo SAVE)" = OK ] && pass "a snapshot (SAVE)" || fail "SAVE"
t=$(stoken r)
check "a token for r@ accepted after the snapshot" 1 "$(solo 3 r "$t")"
redis_stop solo KILL
cluster_node solo || fail "the node restarted"
wait_for 20 solo_ok || fail "the one-node cluster back"
[ "$(rcli solo EXISTS "$(rcli solo --scan --pattern 'pta:{*}mark' | head -1)")" = 1 ] &&
	pass "the node restarted from the snapshot, its marks with it" || fail "the snapshot loaded"
# verify writes nothing, but checks the node as a login's script would
out=$($HELPER --config "$WORK/solo-3.conf" verify r@example.org "$t" 2>&1)
grep -q "cannot be told.*was written by another node" <<<"$out" &&
	pass "verify of the token whose nonce was lost: not 'not used yet', the node named replaced" ||
	{ echo "$out" | sed 's/^/# /'; fail "verify after the node's restart from a snapshot"; }
check "the token accepted after the snapshot, replayed: refused" 0 "$(solo 3 r "$t" restore)"
grep -q "its mark was written by another node\|record of the keys in use was lost" "$WORK/restore.log" &&
	pass "... as the node is not the one that wrote the slot's mark (or the keys' leases)" || { cat "$WORK/restore.log"; fail "the restore refusal's reason"; }

finish
