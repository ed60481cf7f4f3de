#!/bin/bash
# The replay store on Redis, for real: a redis-server from Debian on
# 127.0.0.1 (a free port, a temporary directory, no persistence, a password,
# the helpers logging in as an ACL user with the documented minimal ACL),
# over TCP and over its Unix socket.
#
# Proves: two "nodes" (two configs, the same secrets, one Redis), each with a
# pool of helpers, fed the same tokens at once, accept each exactly once in
# all, and refuse replays, expired, bad-signature and other users' tokens;
# the per-JID limit holds across nodes; no key holds a JID or a nonce;
# check-config connects, probes, reads maxmemory-policy, never shows the
# password; verify and reset-store; the ACL is minimal (a key outside the
# prefix is refused); rediss:// verifies the server's certificate and name
# where hiredis has TLS, and is refused at start-up, saying what to do
# instead, where it has not. Faults, with one helper serving throughout: Redis
# stopped (SIGSTOP: refused within the deadline, then at once while backing
# off), continued, killed and restarted (with persistence: nothing
# forgotten), restarted empty (refused for a token lifetime), out of memory
# with noeviction, its script cache flushed, a wrong password, an evicting
# policy (check-config warns), Redis down when the helper starts, no connect
# storm against a server that keeps failing; the helper never crashes, never
# hangs, recovers by itself, and exits 0. The same under ASan and valgrind,
# briefly. The systemd drop-ins pass systemd-analyze verify with the unit.
#
# HELPER may name another build; REDIS_SERVER=valkey-server runs it all
# against Valkey (tests/lib/redis-lib.sh). About a minute.
# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/redis-lib.sh"

DROPINS=$TOP/packaging/prosody-token-auth@.service.d

# --- the systemd drop-ins (need no Redis) ---------------------------------

# verify_units DROPIN: systemd-analyze's complaints about the unit, the
# socket and DROPIN together, but for the installed binary, which is not
# here.
verify_units() {
	local d=$WORK/units/prosody-token-auth@.service.d
	rm -rf "$WORK/units"
	mkdir -p "$d"
	cp "$TOP/packaging/prosody-token-auth@.service" "$TOP/packaging/prosody-token-auth.socket" "$WORK/units/"
	cp "$1" "$d/"
	SYSTEMD_UNIT_PATH="$WORK/units:" systemd-analyze verify --man=no \
		"$WORK/units/prosody-token-auth.socket" \
		"$WORK/units/prosody-token-auth@.service" 2>&1 |
		grep -v 'Command /usr/bin/prosody-token-auth is not executable'
}

if command -v systemd-analyze >/dev/null; then
	for d in redis-tcp redis-unix; do
		out=$(verify_units "$DROPINS/$d.conf")
		check "systemd-analyze verify: the unit with $d.conf" "" "$out"
	done
	# The drop-in is read: a bad one is reported.
	printf '[Service]\nRestrictAddressFamilies=AF_BOGUS\nNoSuchKey=1\n' >"$WORK/bad.conf"
	out=$(verify_units "$WORK/bad.conf")
	grep -q NoSuchKey <<<"$out" && pass "... (a bad drop-in is reported: verify reads them)" ||
		fail "a bad drop-in is reported by systemd-analyze verify: '$out'"
	grep -q '^IPAddressAllow=' "$DROPINS/redis-tcp.conf" &&
		grep -q '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' "$DROPINS/redis-tcp.conf" &&
		grep -q '^PrivateNetwork=no' "$DROPINS/redis-tcp.conf" &&
		pass "redis-tcp.conf: network to the allowed address only" ||
		fail "redis-tcp.conf: PrivateNetwork=no, AF_INET, IPAddressAllow"
	grep -q '^SupplementaryGroups=redis' "$DROPINS/redis-unix.conf" &&
		pass "redis-unix.conf: the redis group" ||
		fail "redis-unix.conf: SupplementaryGroups=redis"
else
	skip "systemd drop-ins" "no systemd-analyze (Debian package systemd)"
fi

if ! redis_need; then
	skip "the Redis store" "no $REDIS_SERVER or $REDIS_CLI (Debian packages $REDIS_PACKAGES)"
	finish
	exit $?
fi

# --- one Redis, two nodes ---------------------------------------------------

redis_start main || { fail "$REDIS_SERVER started"; finish; exit 1; }
redis_seed main || fail "pta:since set"
pass "$(redis_what) on 127.0.0.1:${REDIS_PORT[main]} and ${REDIS_DIR[main]##*/}/redis.sock, ACL user $REDIS_USER"

NODE1=$WORK/node1.conf
NODE2=$WORK/node2.conf
redis_config "$NODE1" "$(redis_url main)" "replay_per_user = 100000"
redis_config "$NODE2" "$(redis_unix_url main)" "replay_per_user = 100000"

out=$($HELPER --config "$NODE1" check-config 2>&1)
status=$?
echo "$out" | sed -n '/^replay store/,$p' | sed 's/^/# /'
check "check-config over TCP as the ACL user: exit 0" 0 "$status"
grep -q "replay store: redis://$REDIS_USER:\*\*\*@127.0.0.1:${REDIS_PORT[main]}/0" <<<"$out" &&
	pass "check-config shows the URL with the password as ***" ||
	fail "check-config shows the URL with the password as ***"
grep -qF -- "${REDIS_USER_PASSWORD##*:}" <<<"$out" &&
	fail "check-config shows the password" ||
	pass "check-config never shows the password"
grep -q 'a test nonce .* recorded, refused the second time, and found.*: OK' <<<"$out" &&
	pass "check-config: SET NX, the counts, the mark and EVAL work as the ACL user" ||
	fail "check-config: the test nonce"
grep -q 'note: maxmemory-policy not checked (this ACL user may not run CONFIG GET' <<<"$out" &&
	pass "check-config: a note when the ACL forbids CONFIG GET" ||
	fail "check-config: the note on CONFIG GET"
out=$($HELPER --config "$NODE2" check-config 2>&1)
check "check-config over the Unix socket: exit 0" 0 "$?"
ADMIN_CONF=$WORK/admin.conf
redis_config "$ADMIN_CONF" "redis://:$REDIS_ADMIN_PASSWORD@127.0.0.1:${REDIS_PORT[main]}"
out=$($HELPER --config "$ADMIN_CONF" check-config 2>&1)
grep -q 'maxmemory-policy noeviction: OK' <<<"$out" && grep -q "server: $REDIS_KIND [0-9]" <<<"$out" &&
	pass "check-config as an administrator: $REDIS_KIND's version, and noeviction: OK" ||
	{ echo "$out" | sed 's/^/# /'; fail "check-config as an administrator"; }

py_nodes() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok   "*) pass "${line#ok   }" ;;
		"FAIL "*) fail "${line#FAIL }" ;;
		*) echo "# $line" ;;
		esac
	done < <(timeout 300 "$PY" "$TOP/tests/lib/redis_nodes.py" "$@" 2>&1)
}
py_nodes "$HELPER" "$OTP_SEED" "$TOKEN_SECRET" 150 3 "$NODE1" "$NODE2"

# --- one helper each, line by line ------------------------------------------

# ask CONF LINE...: one helper, the answers space-separated; its log in
# $WORK/stderr.
ask() {
	local conf=$1
	shift
	printf '%s\n' "$@" | timeout 30 $HELPER --config "$conf" --log stderr 2>"$WORK/stderr" | tr '\n' ' ' | sed 's/ $//'
}
auth() { echo "auth:${1%@*}:${1#*@}:$2"; }

# The per-JID limit, across nodes.
# (in a database of its own, where its JIDs alone have sets)
LIM1=$WORK/lim1.conf
LIM2=$WORK/lim2.conf
redis_seed main 1
redis_config "$LIM1" "$(redis_url main 1)" "replay_per_user = 3"
redis_config "$LIM2" "$(redis_unix_url main 1)" "replay_per_user = 3"
mapfile -t LIMITED < <(token limited@example.org --count 5)
check "per-JID limit: node 1 accepts 2 of limited's tokens" "1 1" \
	"$(ask "$LIM1" "$(auth limited@example.org "${LIMITED[0]}")" "$(auth limited@example.org "${LIMITED[1]}")")"
check "... node 2 a third, then refuses the fourth and fifth" "1 0 0" \
	"$(ask "$LIM2" "$(auth limited@example.org "${LIMITED[2]}")" "$(auth limited@example.org "${LIMITED[3]}")" "$(auth limited@example.org "${LIMITED[4]}")")"
grep -q 'decision=refused reason=user_limit jid=limited@example.org' "$WORK/stderr" &&
	pass "... logging reason=user_limit (too many live tokens for this JID)" ||
	fail "... logging reason=user_limit (too many live tokens for this JID)"
check "... while another JID logs in" "1" \
	"$(ask "$LIM1" "$(auth other@example.org "$(token other@example.org)")")"
check "... and a refused token of limited's was not used up (node 1 refuses it too)" "0" \
	"$(ask "$LIM1" "$(auth limited@example.org "${LIMITED[3]}")")"
# counts DB: the most one JID counts in database DB (over its periods).
counts() {
	rcli main -n "$1" --scan --pattern 'pta:{*}:c:*' |
		while read -r k; do echo "${k%%:c:*} $(rcli main -n "$1" GET "$k")"; done |
		awk '{ s[$1] += $2 } END { m = 0; for (j in s) if (s[j] > m) m = s[j]; print m }'
}
check "... the JID's counts hold its 3 live nonces (refusals taken back)" 3 "$(counts 1)"
# Once its periods pass (2 s steps: a record lifetime of 6 s plus 5 s for
# the clocks, and a nonce counts for two periods: at most 22 s), the JID
# has room again.
LIM3=$WORK/lim3.conf
redis_seed main 2
redis_config "$LIM3" "$(redis_url main 2)" "replay_per_user = 2" "otp_interval = 2"
mapfile -t SHORT < <(token short@example.org --interval 2 --count 3)
check "a JID at its limit of 2 (tokens of 2 s steps): the third refused" "1 1 0" \
	"$(ask "$LIM3" "$(auth short@example.org "${SHORT[0]}")" "$(auth short@example.org "${SHORT[1]}")" "$(auth short@example.org "${SHORT[2]}")")"
room_again() { [ "$(ask "$LIM3" "$(auth short@example.org "$(token short@example.org --interval 2)")")" = 1 ]; }
wait_for 40 room_again && pass "... once they expire, a fresh one is accepted" ||
	fail "... once they expire, a fresh one is accepted"
n=$(counts 2)
[ "${n:-9}" -ge 1 ] && [ "${n:-9}" -le 2 ] && pass "... and its counts hold no more than the limit ($n)" ||
	fail "... and its counts hold no more than the limit (${n:-none})"

# verify, and reset-store.
V=$(token verify@example.org)
out=$($HELPER --config "$NODE1" verify verify@example.org "$V")
check "verify: a fresh token, exit 0" "0" "$?"
grep -q 'not used yet' <<<"$out" && pass "verify: not used yet (read from Redis)" || fail "verify: not used yet: $out"
check "the helper accepts it" 1 "$(ask "$NODE2" "$(auth verify@example.org "$V")")"
out=$($HELPER --config "$NODE1" verify verify@example.org "$V")
check "verify after use: exit 1" 1 "$?"
check "verify after use: replayed" "invalid: replayed token (nonce already used)" "$out"
# (reset-store on a database of its own: it refuses logins for a lifetime)
RESET=$WORK/reset.conf
redis_seed main 3
redis_config "$RESET" "$(redis_url main 3)"
out=$($HELPER --config "$RESET" reset-store 2>&1)
check "reset-store on a Redis no helper used: exit 0" 0 "$?"
grep -q 'nothing to reset' <<<"$out" && pass "... nothing to reset" || fail "reset-store: $out"
check "a login on it" 1 "$(ask "$RESET" "$(auth reset@example.org "$(token reset@example.org)")")"
out=$($HELPER --config "$RESET" reset-store 2>&1)
check "reset-store on Redis: exit 0" 0 "$?"
grep -q 'high-water mark forgotten; logins are refused for 9[0-9] s' <<<"$out" &&
	pass "reset-store on Redis: the clock's mark forgotten, logins refused for one record lifetime" ||
	fail "reset-store: $out"
check "... and so they are" 0 "$(ask "$RESET" "$(auth reset@example.org "$(token reset@example.org)")")"

# No key holds a JID or a nonce.
KEYS=$(redis_keys main; redis_keys main 1; redis_keys main 2)
nkeys=$(grep -c . <<<"$KEYS")
odd=$(grep -vE '^pta:(since|meta|id|\{[0-9a-f]{32}\}:(c:[0-9]+|n:[0-9a-f]{64}))$' <<<"$KEYS" | head -3)
check "every one of the $nkeys keys is pta:since, meta, id, {JID hash}:c:PERIOD or {JID hash}:n:NONCE HASH" "" "$odd"
leaks=""
for t in "${LIMITED[@]}" "$V"; do
	nonce=${t:8:32}
	grep -q "$nonce" <<<"$KEYS" && leaks="$leaks nonce"
	grep -q "$(printf '%s' "$nonce" | od -An -tx1 | tr -d ' \n')" <<<"$KEYS" && leaks="$leaks hex-nonce"
done
grep -qiE 'limited|verify|example|org|@' <<<"$KEYS" && leaks="$leaks jid"
grep -qF "$(printf '%s' limited@example.org | od -An -tx1 | tr -d ' \n')" <<<"$KEYS" && leaks="$leaks hex-jid"
check "no key holds a JID or a nonce, as text or in hex" "" "$leaks"
k=$(grep -m1 ':n:' <<<"$KEYS")
ttl=$(rcli main PTTL "$k")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 95000 ] &&
	pass "a nonce's key expires with its token (PTTL $ttl ms <= 90 s + 5 s for the clocks)" ||
	fail "a nonce's key expires with its token (PTTL $ttl)"
check "pta:meta and pta:id never expire" "-1 -1" "$(rcli main TTL pta:meta) $(rcli main TTL pta:id)"
check "pta:since, 2.0's mark, shuts 2.0 helpers out" 9999999999 "$(rcli main GET pta:since)"
k=$(grep -m1 ':c:' <<<"$KEYS")
ttl=$(rcli main PTTL "$k")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 190000 ] &&
	pass "a JID's count expires after two periods (PTTL $ttl ms <= 2 x 95 s)" ||
	fail "a JID's count expires after two periods (PTTL $ttl)"

# The ACL is minimal: outside the prefix, and FLUSHALL, refused.
OUTSIDE=$WORK/outside.conf
redis_config "$OUTSIDE" "$(redis_url main)" "replay_redis_key_prefix = other:"
check "a prefix outside the ACL user's keys: refused" 0 \
	"$(ask "$OUTSIDE" "$(auth bob@example.org "$(token bob@example.org)")")"
grep -q 'NOPERM' "$WORK/stderr" && pass "... saying NOPERM (the ACL)" || fail "... saying NOPERM"
out=$("$REDIS_CLI" -h 127.0.0.1 -p "${REDIS_PORT[main]}" --user "$REDIS_USER" --pass "$REDIS_USER_PASSWORD" --no-auth-warning FLUSHALL 2>&1)
grep -q NOPERM <<<"$out" && pass "the ACL user may not FLUSHALL" || fail "the ACL user may not FLUSHALL: $out"
out=$("$REDIS_CLI" -h 127.0.0.1 -p "${REDIS_PORT[main]}" --user "$REDIS_USER" --pass "$REDIS_USER_PASSWORD" --no-auth-warning GET secret:thing 2>&1)
grep -q NOPERM <<<"$out" && pass "the ACL user may not read keys outside pta:" || fail "GET outside the prefix: $out"

# --- rediss:// ----------------------------------------------------------------

# Where hiredis has no TLS (Debian 12's 0.14), rediss:// is refused at
# start-up in one sentence that names the alternatives; where it has, the
# server's certificate is verified against the CAs (SSL_CERT_FILE here, the
# system's otherwise) and must name the host.
TLSC=$WORK/tls.conf
redis_config "$TLSC" "rediss://$REDIS_USER:$REDIS_USER_PASSWORD_URL@localhost:6380"
out=$($HELPER --config "$TLSC" check-config 2>&1)
status=$?
if grep -q 'rediss:// needs TLS, which this build' <<<"$out"; then
	check "rediss:// without TLS in hiredis: refused at start-up" 1 "$status"
	grep -q "$(basename "$TLSC"):3: .*unix:///PATH.*stunnel or spiped" <<<"$out" &&
		pass "... on its line, naming the alternatives (a Unix socket, stunnel, spiped)" ||
		fail "... on its line, naming the alternatives: $out"
	out=$(printf 'isuser:a:example.org\n' | $HELPER --config "$TLSC" 2>&1)
	check "... and the helper does not start (no plain-text fallback)" "1" "$?"
	skip "rediss:// connections" "this build's hiredis has no TLS (Debian 12's hiredis 0.14; Debian 13's 1.x has it, and t-80 runs this suite there)"
elif ! command -v openssl >/dev/null; then
	skip "rediss:// connections" "no openssl to make certificates (Debian package openssl)"
else
	redis_tls_certs || fail "certificates made (openssl)"
	for c in good wrong; do
		REDIS_PORT["tls$c"]=$(redis_free_port)
		redis_start "tls$c" port 0 tls-port "${REDIS_PORT["tls$c"]}" \
			tls-cert-file "$WORK/$c.crt" tls-key-file "$WORK/$c.key" \
			tls-ca-cert-file "$WORK/ca.crt" tls-auth-clients no
	done
	redis_seed tlsgood
	redis_seed tlswrong
	for host in localhost 127.0.0.1; do
		redis_config "$TLSC" "rediss://$REDIS_USER:$REDIS_USER_PASSWORD_URL@$host:${REDIS_PORT[tlsgood]}"
		T=$(token tls@example.org)
		check "rediss:// to $host, its certificate signed by the CA given: accepted, then a replay refused" "1 0" \
			"$(SSL_CERT_FILE=$WORK/ca.crt ask "$TLSC" "$(auth tls@example.org "$T")" "$(auth tls@example.org "$T")")"
	done
	check "rediss:// to a CA the helper does not trust: refused" 0 \
		"$(ask "$TLSC" "$(auth tls@example.org "$(token tls@example.org)")")"
	grep -q 'the certificate is refused' "$WORK/stderr" && pass "... saying the certificate is refused" ||
		fail "... saying the certificate is refused"
	redis_config "$TLSC" "rediss://$REDIS_USER:$REDIS_USER_PASSWORD_URL@127.0.0.1:${REDIS_PORT[tlswrong]}"
	check "rediss:// to a certificate for another name: refused" 0 \
		"$(SSL_CERT_FILE=$WORK/ca.crt ask "$TLSC" "$(auth tls@example.org "$(token tls@example.org)")")"
	grep -q 'mismatch' "$WORK/stderr" && pass "... saying the name does not match" ||
		fail "... saying the name does not match: $(tail -1 "$WORK/stderr")"
fi

# --- faults, one helper serving throughout ----------------------------------

# A Redis with persistence (every write to its append-only file at once),
# and a token lifetime of at most 6 s (30 s steps would make the test wait).
redis_start faulty appendonly yes appendfsync always || fail "second redis-server started"
redis_seed faulty
FCONF=$WORK/fault.conf
redis_config "$FCONF" "$(redis_url faulty)" "replay_per_user = 100000" \
	"otp_interval = 2" "replay_redis_timeout_ms = 250"
ftoken() { token "f@example.org" --interval 2; }

# session_start CONF LOG: one helper serving throughout, as a coprocess
# (SESSION_PID), its log in LOG; session_end closes its input and sets
# STATUS to its exit status.
session_start() {
	coproc SESSION { exec $HELPER --config "$1" --log stderr 2>"$2"; }
	pids+=("$SESSION_PID")
	CO_PID=$SESSION_PID
	CO_IN=${SESSION[1]}
	CO_OUT=${SESSION[0]}
}
session_end() {
	eval "exec $CO_IN>&-"
	wait "$CO_PID"
	STATUS=$?
	unspawn "$CO_PID"
}

# login [TOKEN]: one login (a fresh token by default); sets ANS (1, 0 or
# "none") and MS, how long the answer took.
login() {
	local t=${1:-$(ftoken)} start
	start=$(date +%s%N)
	echo "auth:f:example.org:$t" >&"$CO_IN"
	read -r -t 5 -u "$CO_OUT" ANS || ANS=none
	MS=$((($(date +%s%N) - start) / 1000000))
}
logins_ok() { login && [ "$ANS" = 1 ]; }
logged() { grep -q -- "$1" "$WORK/fault.log"; }

session_start "$FCONF" "$WORK/fault.log"
login
check "fault helper: a login" 1 "$ANS"

# Stopped: refused within the deadline, tried once more at the next login
# (a single slow reply is no reason to wait), then refused at once while
# backing off (the logins follow one another at once: their tokens are
# made before).
T1=$(ftoken)
T2=$(ftoken)
T3=$(ftoken)
kill -STOP "${REDIS_PID[faulty]}"
login "$T1"
ANS1=$ANS MS1=$MS
login "$T2"
ANS2=$ANS MS2=$MS
login "$T3"
check "Redis stopped (SIGSTOP): refused" "0 0" "$ANS1 $ANS2"
[ "$MS1" -lt 1000 ] && [ "$MS2" -lt 1000 ] &&
	pass "... within the deadline (250 ms; took $MS1 ms, then $MS2 ms to try again)" ||
	fail "... within the deadline (took $MS1 and $MS2 ms)"
logged 'no reply in time (replay_redis_timeout_ms)' && pass "... saying: no reply in time" ||
	fail "... saying: no reply in time"
# (at once: under 100 ms, or, on a loaded machine, sooner than the first
# refusal, which waited for the deadline)
[ "$ANS" = 0 ] && { [ "$MS" -lt 100 ] || [ "$MS" -lt "$MS1" ]; } &&
	pass "... then, after two failures, refused at once while backing off ($MS ms)" ||
	fail "... then refused at once while backing off ($ANS, $MS ms)"
logged 'next attempt in' && pass "... saying: next attempt in N ms" || fail "... saying: next attempt in"
kill -CONT "${REDIS_PID[faulty]}"
wait_for 10 logins_ok && pass "continued (SIGCONT): logins accepted again, no restart" ||
	fail "continued: logins accepted again"

# Killed and restarted with its data: nothing forgotten, but the helpers
# cannot tell that from a server that lost the end of it, so they refuse
# for one record lifetime (6 s and 5 s for the clocks here).
BEFORE=$(ftoken)
login "$BEFORE"
check "a token accepted before the kill" 1 "$ANS"
redis_stop faulty KILL
login
check "Redis killed: refused" 0 "$ANS"
logged 'Connection refused' && pass "... saying: Connection refused" || fail "... saying: Connection refused"
redis_start faulty appendonly yes appendfsync always || fail "redis-server restarted"
wait_for 10 eval 'login; [ "$ANS" != none ] && logged "not the server the store was on"' &&
	pass "restarted (its append-only file kept): another server, as the helper sees it, so refused" ||
	fail "restarted: refused, saying it is not the server the store was on"
wait_for 30 logins_ok && pass "... then, one record lifetime later, logins accepted again" ||
	fail "restarted: logins accepted again"
login "$BEFORE"
check "... and the token accepted before the kill is refused (nothing forgotten)" 0 "$ANS"

# Restarted empty: refused for a token lifetime, then accepted.
BEFORE=$(ftoken)
login "$BEFORE"
redis_stop faulty KILL
rm -rf "${REDIS_DIR[faulty]}/appendonlydir"
redis_start faulty appendonly yes appendfsync always || fail "redis-server restarted empty"
login "$BEFORE"
check "Redis restarted empty: the token accepted before it is refused" 0 "$ANS"
login
check "... so is a fresh one, for a token lifetime" 0 "$ANS"
logged 'began a new record of nonces' && pass "... saying: began a new record of nonces" ||
	fail "... saying: began a new record of nonces"
wait_for 30 logins_ok && pass "... then logins are accepted again, by themselves" ||
	fail "... then logins accepted again"

# Out of memory, with noeviction.
used=$(rcli faulty INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p' | tr -d '\r')
rcli faulty CONFIG SET maxmemory "$((used / 2))" >/dev/null
login
check "maxmemory reached (noeviction): refused" 0 "$ANS"
logged 'OOM' && pass "... saying OOM, and how to fix it" || fail "... saying OOM"
rcli faulty CONFIG SET maxmemory 0 >/dev/null
wait_for 10 logins_ok && pass "... accepted again once there is room" || fail "... accepted again once there is room"

# The script cache flushed: no login needs a script.
rcli faulty SCRIPT FLUSH >/dev/null
login
check "script cache flushed (SCRIPT FLUSH): no matter" 1 "$ANS"

# The helper lived through it all.
session_end
check "the helper served through every fault and exits 0 at end of input" 0 "$STATUS"
grep -qE 'AddressSanitizer|runtime error|Segmentation' "$WORK/fault.log" &&
	fail "no crash report in the helper's log" || pass "no crash report in the helper's log"

# A wrong password.
WRONG=$WORK/wrong.conf
redis_config "$WRONG" "redis://$REDIS_USER:Zebra-wrong-pw@127.0.0.1:${REDIS_PORT[faulty]}"
check "a wrong password: refused" 0 "$(ask "$WRONG" "$(auth bob@example.org "$(token bob@example.org)")")"
grep -q 'WRONGPASS' "$WORK/stderr" && pass "... saying WRONGPASS" || fail "... saying WRONGPASS"
out=$($HELPER --config "$WRONG" check-config 2>&1)
status=$?
check "check-config with a wrong password: exit 1" 1 "$status"
grep -q 'PROBLEM: .*WRONGPASS' <<<"$out" && pass "... a PROBLEM line naming WRONGPASS" ||
	{ echo "$out" | sed 's/^/# /'; fail "... a PROBLEM line naming WRONGPASS"; }
grep -q Zebra <<<"$out$(cat "$WORK/stderr")" && fail "... the password is never shown" ||
	pass "... the password is never shown (check-config, log)"

# An evicting policy.
rcli main CONFIG SET maxmemory-policy allkeys-lru >/dev/null
out=$($HELPER --config "$ADMIN_CONF" check-config 2>&1)
status=$?
grep -q 'WARNING: maxmemory-policy is allkeys-lru: .* a token whose nonce was evicted can be used again' <<<"$out" &&
	pass "check-config warns of an evicting policy, and why" ||
	{ echo "$out" | sed 's/^/# /'; fail "check-config warns of an evicting policy"; }
check "... a warning, not a problem (exit 0)" 0 "$status"
rcli main CONFIG SET maxmemory-policy noeviction >/dev/null

# Redis down when the helper starts: it serves, refusing, and recovers.
LATE_PORT=$(redis_free_port)
LATE=$WORK/late.conf
redis_config "$LATE" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@127.0.0.1:$LATE_PORT" "otp_interval = 2"
session_start "$LATE" "$WORK/late.log"
login
check "Redis down at start: the helper serves, refusing" 0 "$ANS"
REDIS_PORT["late"]=$LATE_PORT
redis_start late || fail "a late redis-server started"
redis_seed late
wait_for 10 logins_ok && pass "... and accepts once Redis is up, by itself" || fail "... accepts once Redis is up"
session_end
check "... and exits 0 at end of input" 0 "$STATUS"

# No connect storm: a server that accepts and hangs up at once, counting
# connections, while one login comes every 10 ms for 2.5 s.
cat >"$WORK/storm.py" <<'EOF'
import os, socket, subprocess, sys, threading, time
sys.path.insert(0, os.environ["TOP"] + "/tests/harness")
import tokengen
seed, secret, helper, work = sys.argv[1:5]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
port = s.getsockname()[1]
conns = 0
def serve():
    global conns
    while True:
        c, _ = s.accept()
        conns += 1
        c.close()
threading.Thread(target=serve, daemon=True).start()
conf = work + "/storm.conf"
with open(conf, "w") as f:
    f.write("otp_seed = %s\ntoken_secret = %s\n"
            "replay_store = redis://:pw@127.0.0.1:%d\n" % (seed, secret, port))
os.chmod(conf, 0o600)
tokens = [tokengen.mint(seed, secret, "s@example.org") for _ in range(250)]
p = subprocess.Popen([helper, "--config", conf, "--log", "stderr"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=open(work + "/storm.log", "wb"), bufsize=0)
start = time.monotonic()
answers, slowest = [], 0.0
for i, t in enumerate(tokens):
    time.sleep(max(0.0, start + i * 0.01 - time.monotonic()))
    sent = time.monotonic()
    p.stdin.write(b"auth:s:example.org:" + t.encode() + b"\n")
    answers.append(p.stdout.read(2))
    slowest = max(slowest, time.monotonic() - sent)
elapsed = time.monotonic() - start
p.stdin.close()
print(answers.count(b"0\n"), len(answers), conns, int(elapsed * 1000),
      int(slowest * 1000), p.wait(timeout=10))
EOF
read -r refused total conns ms slowest status < <(TOP=$TOP "$PY" "$WORK/storm.py" \
	"$OTP_SEED" "$TOKEN_SECRET" "$HELPER" "$WORK" 2>"$WORK/storm.err")
check "a server that keeps failing: every login refused" "${total:-?}" "${refused:-none}"
# A first failure is tried again at once; then back-off steps of 100, 200,
# 400, ... ms: within ms, at most that many tries.
allowed=$(awk -v t="${ms:-0}" 'BEGIN { n = 2; d = 100; s = d; while (s < t) { n++; if (d < 5000) d *= 2; s += d } print n + 1 }')
[ -n "$conns" ] && [ "$conns" -le "$allowed" ] &&
	pass "no connect storm: $conns connections for $total logins in $ms ms (back-off allows $allowed)" ||
	fail "no connect storm: ${conns:-?} connections in ${ms:-?} ms (back-off allows $allowed)"
[ -n "$slowest" ] && [ "$slowest" -lt 1000 ] &&
	pass "... the slowest refusal took $slowest ms" || fail "... the slowest refusal took ${slowest:-?} ms"
check "... and the helper exits 0" 0 "${status:-none}"

# A server that misbehaves on purpose (which a real Redis cannot be made to
# do): one that drips its reply a byte every 200 ms, one that floods a 2 GB
# reply, one that never answers. With replay_redis_timeout_ms = 250 each
# login is refused within the deadline plus a bound, the helper's memory
# stays small, it says why, and it serves on.
cat >"$WORK/misbehave.py" <<'EOF'
import os, select, socket, subprocess, sys, threading, time
sys.path.insert(0, os.environ["TOP"] + "/tests/harness")
import tokengen
seed, secret, helper, work, mode = sys.argv[1:6]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
port = s.getsockname()[1]
def reply(c):
    try:
        c.recv(65536)
        if mode == "drip":
            c.sendall(b"$100000\r\n")
            for _ in range(300):
                c.sendall(b"a")
                time.sleep(0.2)
        elif mode == "flood":
            c.sendall(b"$2000000000\r\n")
            chunk = b"a" * 65536
            for _ in range(6000):  # 400 MB at most
                c.sendall(chunk)
        else:
            while c.recv(65536):
                pass
    except OSError:
        pass
    c.close()
def serve():
    while True:
        c, _ = s.accept()
        threading.Thread(target=reply, args=(c,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
conf = "%s/%s.conf" % (work, mode)
with open(conf, "w") as f:
    f.write("otp_seed = %s\ntoken_secret = %s\nreplay_redis_timeout_ms = 250\n"
            "replay_store = redis://:pw@127.0.0.1:%d\n" % (seed, secret, port))
os.chmod(conf, 0o600)
p = subprocess.Popen([helper, "--config", conf, "--log", "stderr"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=open("%s/%s.log" % (work, mode), "wb"), bufsize=0)
def ask(line):
    p.stdin.write(line.encode() + b"\n")
    r, _, _ = select.select([p.stdout], [], [], 10)
    return p.stdout.read(2).decode().strip() if r else "none"
answers, slowest = [], 0
for _ in range(3):
    t = tokengen.mint(seed, secret, "m@example.org")
    start = time.monotonic()
    answers.append(ask("auth:m:example.org:" + t))
    slowest = max(slowest, int((time.monotonic() - start) * 1000))
alive = ask("isuser:m:example.org")
with open("/proc/%d/status" % p.pid) as f:
    hwm = [int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM")][0]
if alive == "none":
    p.kill()
else:
    p.stdin.close()
print(" ".join(answers), alive, slowest, hwm, p.wait(timeout=10))
EOF
for mode in drip flood silent; do
	read -r a1 a2 a3 alive slowest hwm status < <(TOP=$TOP "$PY" "$WORK/misbehave.py" \
		"$OTP_SEED" "$TOKEN_SECRET" "$HELPER" "$WORK" "$mode" 2>"$WORK/$mode.err")
	case $mode in drip) what="drips its reply" ;; flood) what="floods" ;; *) what="never answers" ;; esac
	check "a server that $what: every login refused, the helper serves on, exits 0" \
		"0 0 0 1 0" "${a1:-none} ${a2:-none} ${a3:-none} ${alive:-none} ${status:-none}"
	[ -n "$slowest" ] && [ "$slowest" -lt 1500 ] &&
		pass "... the slowest refusal took $slowest ms (deadline 250 ms)" ||
		fail "... the slowest refusal took ${slowest:-?} ms (deadline 250 ms)"
	[ -n "$hwm" ] && [ "$hwm" -lt 64 ] && pass "... the helper's peak memory: $hwm MiB" ||
		fail "... the helper's peak memory: ${hwm:-?} MiB"
done
grep -q "no reply in time" "$WORK/drip.log" && pass "the drip: logged as no reply in time" ||
	fail "the drip's log: $(head -c 400 "$WORK/drip.log")"
grep -q "a reply of more than 256 KiB" "$WORK/flood.log" && pass "the flood: logged as a reply far too large" ||
	fail "the flood's log: $(head -c 400 "$WORK/flood.log")"

# --- a host name whose address moves -----------------------------------------

# A name in a private /etc/hosts (a mount namespace of this test's own, a
# file of $WORK bind-mounted over /etc/hosts there only; resolv.conf too,
# naming 127.0.0.1, so that nothing is ever asked of a real resolver) names
# Redis "old" on 127.0.0.1, then "new" on 127.0.0.2, on the same port (the
# name carries it), old's replica until old stops and new is promoted, as a
# failover behind a name would be (and, before all that, to nothing at all). The helper, confined as ever, serves
# throughout: its logins are refused while the name points nowhere useful,
# and recover on new by themselves; a token accepted on old is refused on
# new; check-config shows what the name resolves to now.

# both_free PORT: PORT is free on 127.0.0.1 and 127.0.0.2.
both_free() {
	$PY -c 'import socket, sys
for a in ("127.0.0.1", "127.0.0.2"):
    s = socket.socket(); s.bind((a, int(sys.argv[1]))); s.close()' "$1" 2>/dev/null
}
# in_ns CMD...: CMD in a mount namespace of its own, seeing $WORK/hosts and
# $WORK/resolv.conf as /etc/hosts and /etc/resolv.conf.
in_ns() {
	unshare -m sh -c 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf &&
		shift 2 && exec "$@"' sh "$WORK/hosts" "$WORK/resolv.conf" "$@"
}
NAME=redis.pta.test
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
	skip "a host name whose address moves" "needs root and unshare (a mount namespace)"
else
	for _ in $(seq 1 20); do
		MPORT=$(redis_free_port) && both_free "$MPORT" && break
	done
	REDIS_PORT[old]=$MPORT
	REDIS_PORT[new]=$MPORT
	REDIS_HOST[new]=127.0.0.2
	redis_start old || fail "redis-server old started on 127.0.0.1"
	redis_seed old
	redis_start new replicaof "127.0.0.1 $MPORT" masterauth "$REDIS_ADMIN_PASSWORD" ||
		fail "redis-server new started on 127.0.0.2"
	in_sync() { rcli new INFO replication | grep -q 'master_link_status:up'; }
	wait_for 15 in_sync || fail "new is old's replica, in sync"
	# At first the name resolves to nothing (not in /etc/hosts; the
	# resolver at 127.0.0.1 does not answer).
	printf '127.0.0.1 localhost\n' >"$WORK/hosts"
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$WORK/resolv.conf"
	MCONF=$WORK/move.conf
	redis_config "$MCONF" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@$NAME:$MPORT/0" \
		"replay_per_user = 100000"
	out=$(in_ns "$HELPER" --config "$MCONF" check-config 2>&1)
	[ $? -ne 0 ] && grep -q "PROBLEM: the host $NAME: cannot resolve $NAME" <<<"$out" &&
		pass "a name that does not resolve: check-config says so" ||
		fail "check-config with a name that does not resolve: $out"

	coproc SESSION { exec unshare -m sh -c 'mount --bind "$1" /etc/hosts &&
		mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"' sh \
		"$WORK/hosts" "$WORK/resolv.conf" "$HELPER" --config "$MCONF" \
		--log stderr 2>"$WORK/move.log"; }
	pids+=("$SESSION_PID")
	CO_PID=$SESSION_PID
	CO_IN=${SESSION[1]}
	CO_OUT=${SESSION[0]}
	mtoken() { token f@example.org; }
	login "$(mtoken)"
	check "... a helper started with it refuses a login" 0 "$ANS"
	grep -q "cannot resolve $NAME" "$WORK/move.log" && pass "... saying it cannot resolve the name" ||
		fail "the unresolved name's log: $(cat "$WORK/move.log")"
	printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$NAME" >"$WORK/hosts"
	moved_ok() { login "$(mtoken)" && [ "$ANS" = 1 ]; }
	wait_for 20 moved_ok && pass "... the name added to /etc/hosts: logins recover, the helper not restarted" ||
		fail "logins once the name resolves: $(tail -3 "$WORK/move.log")"
	out=$(in_ns "$HELPER" --config "$MCONF" check-config 2>&1)
	grep -q "the host $NAME resolves now to 127.0.0.1 (resolved again whenever" <<<"$out" &&
		grep -q "connected to 127.0.0.1:$MPORT" <<<"$out" &&
		pass "check-config shows the addresses the name has now (127.0.0.1)" ||
		fail "check-config with a name: $out"
	OLD_TOKEN=$(mtoken)
	login "$OLD_TOKEN"
	check "a helper reaching Redis by name: a login" 1 "$ANS"
	wait_for 10 eval '[ "$(rcli old WAIT 1 1000)" -ge 1 ]' || fail "new has old's writes"

	# The name moves; old stops (its replica has every write: SIGTERM
	# waits for it); new is promoted.
	printf '127.0.0.1 localhost\n127.0.0.2 %s\n' "$NAME" >"$WORK/hosts"
	redis_stop old
	login
	check "old stopped: a login refused" 0 "$ANS"
	[ "$(rcli new REPLICAOF NO ONE)" = OK ] || fail "new promoted"
	# Another server to the helpers, promoted without WAIT: it would refuse
	# for one record lifetime; it had every write of old (above), which
	# the administrator says by marking it, as on a new Redis.
	redis_seed new || fail "new marked as holding every nonce"
	wait_for 20 moved_ok && pass "logins recover on new (127.0.0.2), the helper not restarted" ||
		fail "logins recover on new: $(tail -3 "$WORK/move.log")"
	login "$OLD_TOKEN"
	check "... a token accepted on old is refused on new" 0 "$ANS"
	grep -q "replay store: $NAME now resolves to 127.0.0.2 (was 127.0.0.1)" "$WORK/move.log" &&
		pass "... the helper logged the name's new address" ||
		fail "the move's log: $(cat "$WORK/move.log")"
	out=$(in_ns "$HELPER" --config "$MCONF" check-config 2>&1)
	grep -q "the host $NAME resolves now to 127.0.0.2" <<<"$out" &&
		pass "check-config shows the addresses the name has now (127.0.0.2)" ||
		fail "check-config after the move: $out"
	session_end
	check "... and the confined helper exits 0 (resolving again was allowed)" 0 "$STATUS"

	# A helper confined for a store named by address cannot take, on a
	# reload, one named by name: it serves on with the one it has.
	ACONF=$WORK/by-address.conf
	redis_config "$ACONF" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@127.0.0.2:$MPORT/0" \
		"replay_per_user = 100000"
	coproc SESSION { exec unshare -m sh -c 'mount --bind "$1" /etc/hosts &&
		mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"' sh \
		"$WORK/hosts" "$WORK/resolv.conf" "$HELPER" --config "$ACONF" \
		--log stderr 2>"$WORK/reload.log"; }
	pids+=("$SESSION_PID")
	CO_PID=$SESSION_PID
	CO_IN=${SESSION[1]}
	CO_OUT=${SESSION[0]}
	login "$(mtoken)"
	check "a helper reaching Redis by address: a login" 1 "$ANS"
	redis_config "$ACONF" "$(sed -n 's/^replay_store = //p' "$MCONF")" "replay_per_user = 100000"
	kill -HUP "$CO_PID"
	sleep 0.3
	login "$(mtoken)"
	check "... replay_store changed to a name, SIGHUP: it serves on with the address" 1 "$ANS"
	grep -q "now name a host by name, which the helper's sandbox .* cannot resolve: restart the helpers" \
		"$WORK/reload.log" && pass "... and logs that a restart is needed" ||
		fail "the reload's log: $(cat "$WORK/reload.log")"
	session_end
	check "... and exits 0" 0 "$STATUS"
	redis_stop new
fi

# --- a Redis restored from a snapshot ------------------------------------------

# Debian's default save points (RDB, no append-only file): marked as new,
# saved, a login and its replay, killed and restarted from the snapshot,
# which holds the mark but not the nonce: the replay stays refused, as the
# server is not the one the store was on.
redis_start rdb save "3600 1 300 100 60 10000" || fail "an RDB-only redis-server started"
redis_seed rdb
RCONF=$WORK/rdb.conf
redis_config "$RCONF" "$(redis_url rdb)" "otp_interval = 2"
out=$($HELPER --config "$RCONF" check-config 2>&1)
grep -q 'WARNING: no append-only file' <<<"$out" &&
	pass "check-config warns of persistence by RDB snapshots only" ||
	fail "check-config warns of RDB-only persistence: $out"
rcli rdb SAVE >/dev/null
R1=$(ftoken)
check "RDB only, saved: a login, then its replay refused" "1 0" \
	"$(ask "$RCONF" "$(auth f@example.org "$R1")" "$(auth f@example.org "$R1")")"
redis_stop rdb KILL
redis_start rdb save "3600 1 300 100 60 10000" || fail "the RDB-only redis-server restarted"
check "... killed and restarted from the snapshot (the mark kept, the nonce lost): the replay refused" 0 \
	"$(ask "$RCONF" "$(auth f@example.org "$R1")")"
grep -q 'not the server the store was on' "$WORK/stderr" &&
	pass "... saying it is not the server the store was on" ||
	fail "... saying why: $(tail -1 "$WORK/stderr")"
check "... and a fresh token too, for one record lifetime" 0 \
	"$(ask "$RCONF" "$(auth f@example.org "$(ftoken)")")"
rdb_ok() { [ "$(ask "$RCONF" "$(auth f@example.org "$(ftoken)")")" = 1 ]; }
wait_for 30 rdb_ok && pass "... after which logins are accepted again" || fail "... logins accepted again"
check "... the replay still refused (its token has expired)" 0 "$(ask "$RCONF" "$(auth f@example.org "$R1")")"

# --- a flush between the mark and the record ------------------------------------

# A proxy between a helper and Redis runs FLUSHALL, as an administrator,
# in the middle of the helper's pipeline, just before its record of a
# replayed token (where it would hide the nonce recorded before; the
# first layout read its mark before that point, and accepted the replay):
# the mark is read after the records, so the flush is seen and the replay
# refused.
cat >"$WORK/flush_proxy.py" <<'EOF'
import os, socket, sys, threading
up_port, trigger = int(sys.argv[1]), sys.argv[2]
password = os.environ["REDISCLI_AUTH"].encode()
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print(ls.getsockname()[1], flush=True)


def flush():
    a = socket.create_connection(("127.0.0.1", up_port))
    a.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$8\r\nFLUSHALL\r\n"
              % (len(password), password))
    got = b""
    while got.count(b"\r\n") < 2:
        got += a.recv(100)
    a.close()
    with open(trigger + ".done", "wb") as f:
        f.write(got)


def commands(buf):
    """(end, words) of each whole command at the start of buf."""
    pos = 0
    while buf.startswith(b"*", pos):
        e = buf.find(b"\r\n", pos)
        if e < 0:
            return
        p, words = e + 2, []
        for _ in range(int(buf[pos + 1:e])):
            e = buf.find(b"\r\n", p)
            if e < 0:
                return
            n = int(buf[p + 1:e])
            if len(buf) < e + 2 + n + 2:
                return
            words.append(buf[e + 2:e + 2 + n])
            p = e + 2 + n + 2
        pos = p
        yield p, words


def records(words):
    return words[0].upper() in (b"EVALSHA", b"SET") and any(
        b":n:" in w for w in words[1:4])


def up(c, s):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        sent = last = 0
        start = 0
        for end, words in commands(buf):
            if records(words) and os.path.exists(trigger):
                s.sendall(buf[sent:start])
                sent = start
                os.unlink(trigger)
                flush()
            start = last = end
        s.sendall(buf[sent:last])
        buf = buf[last:]
    s.close()


def down(s, c):
    while True:
        d = s.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()


while True:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", up_port))
    threading.Thread(target=up, args=(c, s), daemon=True).start()
    threading.Thread(target=down, args=(s, c), daemon=True).start()
EOF
redis_start flushy || fail "a redis-server to flush started"
redis_seed flushy
spawn "$PY" "$WORK/flush_proxy.py" "${REDIS_PORT[flushy]}" "$WORK/flush-now" >"$WORK/proxy.port"
PROXY_PID=$!
wait_for 10 test -s "$WORK/proxy.port" || fail "the flushing proxy started"
PROXY_PORT=$(head -n 1 "$WORK/proxy.port")
FLCONF=$WORK/flush.conf
redis_config "$FLCONF" "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@127.0.0.1:${PROXY_PORT:-1}" "otp_interval = 2"
session_start "$FLCONF" "$WORK/flush.log"
F1=$(ftoken)
login "$F1"
check "through the proxy: a login" 1 "$ANS"
touch "$WORK/flush-now"
login "$F1"
check "FLUSHALL just before the record of a replay: the replay refused" 0 "$ANS"
[ -f "$WORK/flush-now.done" ] && grep -q OK "$WORK/flush-now.done" &&
	pass "... (the flush did land in the middle of its pipeline)" || fail "... the proxy flushed"
grep -q 'holds no pta:meta' "$WORK/flush.log" && pass "... saying the store lost its mark" ||
	fail "... saying why: $(tail -1 "$WORK/flush.log")"
login "$F1"
check "... and refused again" 0 "$ANS"
login
check "... a fresh token too, for one record lifetime" 0 "$ANS"
wait_for 30 logins_ok && pass "... after which logins are accepted again" ||
	fail "... logins accepted again after the flush"
session_end
check "... the helper exits 0" 0 "$STATUS"
kill "$PROXY_PID" 2>/dev/null
wait "$PROXY_PID" 2>/dev/null
unspawn "$PROXY_PID"

# --- lifetimes: helpers with other windows on one Redis -------------------------

# otp_window 3 with 10 s steps: a token is valid up to 40 s after its step
# began; with otp_window 1, a record made at once would go after 30 s.
redis_seed main 4
redis_seed main 5
W1=$WORK/w1.conf
W3=$WORK/w3.conf
redis_config "$W1" "$(redis_url main 4)" "otp_interval = 10" "otp_window = 1"
redis_config "$W3" "$(redis_url main 4)" "otp_interval = 10" "otp_window = 3"
wtoken() { token "$1" --interval 10; }
check "otp_window 3 first on a store: a login" 1 "$(ask "$W3" "$(auth w@example.org "$(wtoken w@example.org)")")"
WT=$(wtoken w@example.org)
check "... then otp_window 1: a login, and its replay refused" "1 0" \
	"$(ask "$W1" "$(auth w@example.org "$WT")" "$(auth w@example.org "$WT")")"
check "... the replay refused by otp_window 3 too" 0 "$(ask "$W3" "$(auth w@example.org "$WT")")"
low=$(rcli main -n 4 --scan --pattern 'pta:{*}:n:*' | while read -r k; do rcli main -n 4 PTTL "$k"; done | sort -n | head -1)
[ "${low:-0}" -gt 55000 ] &&
	pass "... every record, even otp_window 1's, kept for otp_window 3's lifetime (70 s + 5 s; least PTTL $low ms)" ||
	fail "... every record kept for the longest lifetime (least PTTL ${low:-none} ms)"
redis_config "$W1" "$(redis_url main 5)" "otp_interval = 10" "otp_window = 1"
redis_config "$W3" "$(redis_url main 5)" "otp_interval = 10" "otp_window = 3"
check "otp_window 1 first on another store: a login" 1 "$(ask "$W1" "$(auth w@example.org "$(wtoken w@example.org)")")"
check "... then otp_window 3 comes: refused" 0 "$(ask "$W3" "$(auth w@example.org "$(wtoken w@example.org)")")"
grep -q 'longer token lifetime' "$WORK/stderr" && pass "... saying a longer token lifetime began to be used" ||
	fail "... saying why: $(tail -1 "$WORK/stderr")"
check "... and otp_window 1 refuses too, until the records of before have expired for otp_window 3" 0 \
	"$(ask "$W1" "$(auth w@example.org "$(wtoken w@example.org)")")"
life=$(rcli main -n 5 ZSCORE pta:meta life)
[ "${life:-0}" -gt 60000 ] && pass "... the store's lifetime is now otp_window 3's ($life ms)" ||
	fail "... the store's lifetime is now otp_window 3's (${life:-none} ms)"

# A reload that raises the window: the same, from the helper that reloaded.
redis_seed main 8
RL=$WORK/reload.conf
redis_config "$RL" "$(redis_url main 8)" "otp_interval = 2" "otp_window = 1"
session_start "$RL" "$WORK/reload.log"
login
check "otp_window 1: a login" 1 "$ANS"
redis_config "$RL" "$(redis_url main 8)" "otp_interval = 2" "otp_window = 3"
kill -HUP "$CO_PID"
reloaded() { grep -q 'loaded again' "$WORK/reload.log"; }
wait_for 10 reloaded || true
login
check "... reloaded with otp_window 3: refused" 0 "$ANS"
grep -q 'longer token lifetime' "$WORK/reload.log" && pass "... saying a longer token lifetime began to be used" ||
	fail "... saying why: $(tail -2 "$WORK/reload.log")"
session_end
check "... the helper exits 0" 0 "$STATUS"

# --- clocks ----------------------------------------------------------------------

LIBFAKETIME=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if ldd "${HELPER%% *}" 2>/dev/null | grep -q libasan; then
	skip "clocks" "libfaketime cannot be preloaded before ASan's runtime (the plain build runs it)"
elif [ -n "$LIBFAKETIME" ] && command -v faketime >/dev/null; then
	# The helper's clock moved while it runs (libfaketime reads the offset
	# from a file on every call); the helper without its sandbox, which
	# would refuse libfaketime's own system calls. Redis's clock is the
	# real one: records expire by it.
	redis_seed main 6
	CCONF=$WORK/clock.conf
	redis_config "$CCONF" "$(redis_url main 6)"
	echo "+0" >"$WORK/clock"
	coproc CLOCKY { FAKETIME_TIMESTAMP_FILE=$WORK/clock FAKETIME_NO_CACHE=1 LD_PRELOAD=$LIBFAKETIME \
		exec $HELPER --config "$CCONF" --log stderr --no-sandbox 2>"$WORK/clocky.log"; }
	CPID=$CLOCKY_PID
	pids+=("$CPID")
	cask() { echo "auth:c:example.org:$1" >&"${CLOCKY[1]}"; read -r -t 10 -u "${CLOCKY[0]}" A || A=none; echo "$A"; }
	mid_step 10
	C1=$(token c@example.org)
	check "helper's clock moving: a login" 1 "$(cask "$C1")"
	echo "+3600" >"$WORK/clock"
	check "the helper's clock an hour ahead of Redis's: a token of its time refused" 0 \
		"$(cask "$(token c@example.org --offset 3600)")"
	grep -q 'ms ahead of Redis' "$WORK/clocky.log" && pass "... saying the clocks differ" ||
		fail "... saying why: $(tail -1 "$WORK/clocky.log")"
	echo "+0" >"$WORK/clock"
	check "the clock set back: the first token, still in its window, refused" 0 "$(cask "$C1")"
	check "... a fresh one accepted" 1 "$(cask "$(token c@example.org)")"
	eval "exec ${CLOCKY[1]}>&-"
	wait "$CPID"
	check "... the helper exits 0" 0 "$?"
	unspawn "$CPID"

	out=$(printf '%s\n' "$(auth c@example.org "$(token c@example.org --offset -10)")" |
		faketime -f -10s $HELPER --config "$CCONF" --log stderr 2>"$WORK/stderr")
	check "a helper whose clock is 10 s behind Redis's: refused" 0 "$out"
	grep -q 'ms behind Redis' "$WORK/stderr" && pass "... saying the clocks differ" ||
		fail "... saying why: $(tail -1 "$WORK/stderr")"
else
	skip "clocks" "needs faketime (Debian package faketime)"
fi

# Redis's clock and the helpers' stepped ahead and back together (one
# host's clock set back): records made before the step expired by the
# clock that ran ahead, while logins raised the latest time a helper
# recorded at. (redis-server does not start under libfaketime, so that
# state is written here as it would be left.)
redis_seed main 7
HCONF=$WORK/hw.conf
redis_config "$HCONF" "$(redis_url main 7)"
mid_step 10
H1=$(token h@example.org)
check "a login" 1 "$(ask "$HCONF" "$(auth h@example.org "$H1")")"
rcli main -n 7 --scan --pattern 'pta:{*}:n:*' | while read -r k; do rcli main -n 7 DEL "$k" >/dev/null; done
rcli main -n 7 ZADD pta:meta GT "$((($(date +%s) + 3600) * 1000))" hw >/dev/null
check "its record gone by a clock an hour ahead, which logins saw: its replay refused" 0 \
	"$(ask "$HCONF" "$(auth h@example.org "$H1")")"
grep -q 'behind the latest time a helper recorded at' "$WORK/stderr" &&
	pass "... saying the clock is behind the latest time a helper recorded at" ||
	fail "... saying why: $(tail -1 "$WORK/stderr")"
check "... and a fresh token too, while the clock is behind" 0 "$(ask "$HCONF" "$(auth h@example.org "$(token h@example.org)")")"
out=$($HELPER --config "$HCONF" reset-store 2>&1)
check "reset-store: exit 0" 0 "$?"
check "... the replay still refused (one record lifetime of refusals instead)" 0 \
	"$(ask "$HCONF" "$(auth h@example.org "$H1")")"
grep -q 'until every token accepted before has expired' "$WORK/stderr" &&
	pass "... saying for how long" || fail "... saying for how long: $(tail -1 "$WORK/stderr")"

# --- the store's keys: store_secret changed --------------------------------------

# The keys are MACs under store_secret: a changed one makes every key new,
# and the nonces recorded under the old one cannot be found. Each batch
# writes its keys' id beside the mark (never the secret), and a helper
# refuses while other keys were in use within a record lifetime.
redis_seed main 9
K1=$WORK/key1.conf
K2=$WORK/key2.conf
K0=$WORK/key0.conf
redis_config "$K1" "$(redis_url main 9)" "store_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
redis_config "$K2" "$(redis_url main 9)" "store_secret = 234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
redis_config "$K0" "$(redis_url main 9)"
mid_step 10
KT=$(token k@example.org)
check "a login under one store_secret" 1 "$(ask "$K1" "$(auth k@example.org "$KT")")"
check "store_secret changed: the token accepted before, replayed, refused" 0 \
	"$(ask "$K2" "$(auth k@example.org "$KT")")"
grep -q "the store's keys changed" "$WORK/stderr" && pass "... saying the store's keys changed" ||
	fail "... saying why: $(tail -1 "$WORK/stderr")"
check "... a fresh token too, for one record lifetime" 0 \
	"$(ask "$K2" "$(auth k2@example.org "$(token k2@example.org)")")"
check "... and the old store_secret's helpers, still running, refuse as well" 0 \
	"$(ask "$K1" "$(auth k3@example.org "$(token k3@example.org)")")"
check "... and helpers without store_secret on the same Redis" 0 \
	"$(ask "$K0" "$(auth k4@example.org "$(token k4@example.org)")")"
[ "$(rcli main -n 9 ZRANGE pta:meta 0 -1 | grep -c '^k:[0-9a-f]\{16\}$')" -eq 3 ] &&
	! rcli main -n 9 ZRANGE pta:meta 0 -1 | grep -q ABCDEFGH &&
	pass "the keys' ids beside the mark, one per store_secret (and none), not the secrets" ||
	fail "the keys' ids in pta:meta: $(rcli main -n 9 ZRANGE pta:meta 0 -1 | tr '\n' ' ')"

# Each keys' id stays beside the mark only a while: ten minutes after the
# last token its helpers accepted may be valid, the next helper to connect
# drops it. As if time had passed: the three ids' tokens expired eleven
# minutes ago, and two more ids, eleven and five minutes ago.
past_ms() { echo $((($(date +%s) - $1 * 60) * 1000)); }
for id in $(rcli main -n 9 ZRANGE pta:meta 0 -1 | grep '^k:'); do
	rcli main -n 9 ZADD pta:meta XX "$(past_ms 11)" "$id" >/dev/null
done
rcli main -n 9 ZADD pta:meta "$(past_ms 11)" k:00000000000000aa "$(past_ms 5)" \
	k:00000000000000bb >/dev/null
check "the other keys' tokens expired: a login accepted" 1 \
	"$(ask "$K0" "$(auth k5@example.org "$(token k5@example.org)")")"
now_ms=$(past_ms 0)
check "... of the keys' ids past, those past by over ten minutes dropped" \
	k:00000000000000bb \
	"$(rcli main -n 9 ZRANGE pta:meta -inf "($now_ms" BYSCORE | grep '^k:' | tr '\n' ' ' | sed 's/ $//')"
check "... its own kept (raised again), and the mark's since and life" "1 2" \
	"$(rcli main -n 9 ZRANGE pta:meta "$now_ms" +inf BYSCORE | grep -c '^k:') $(rcli main -n 9 ZRANGE pta:meta 0 -1 | grep -c -x -e since -e life)"

# --- the same under the sanitizers and valgrind, briefly ---------------------

for build in "$TOP/prosody-token-auth-asan" "$TOP/tests/lib/valgrind-helper"; do
	name=${build##*/}
	if [ ! -x "$build" ] || { [ "$name" = valgrind-helper ] && ! command -v valgrind >/dev/null; }; then
		skip "two nodes with $name" "not built or no valgrind (make check builds it)"
		continue
	fi
	# (Leaks are valgrind's to find: LeakSanitizer's pass at exit uses
	# system calls a sandboxed helper may not make.)
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
		py_nodes "$build" "$OTP_SEED" "$TOKEN_SECRET" 20 2 "$NODE1" "$NODE2"
done

finish
