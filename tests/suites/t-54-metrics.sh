#!/bin/bash
# Metrics: a real Prosody with mod_http_openmetrics and the token provider
# takes every kind of login a known number of times (accepted, replayed, bad
# signature, outside the time window, malformed, a refused authzid, unknown
# domain, store failed, helper unreachable, no answer in time, queue full;
# and a helper too old to give reasons),
# then /metrics, scraped over HTTP on 127.0.0.1, must count each exactly,
# the answer-time histogram must count every answer, the gauges must be
# there, and every metric the example alerting rules and dashboard query
# must exist. promtool (Debian's prometheus package) checks the rules and
# runs their unit tests where it is installed.
#
# About 15 s on 2 quiet cores (two logins wait for a 2 s timeout).

. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

MONITORING=$TOP/examples/monitoring
RULES=$MONITORING/prometheus-rules.yml
RULES_TEST=$MONITORING/prometheus-rules.test.yml
DASHBOARD=$MONITORING/grafana-dashboard.json

if ! e2e_need; then
	fail "prerequisites (see above)"
	finish
	exit 1
fi
if [ ! -f /usr/lib/prosody/modules/mod_http_openmetrics.lua ] &&
	[ ! -f /usr/share/prosody/modules/mod_http_openmetrics.lua ]; then
	skip "every check" "this Prosody has no mod_http_openmetrics (0.12 or later has it)"
	finish
	exit 0
fi
HELPER=$(realpath -s "$HELPER")

PORT=$(free_port) && HTTP_PORT=$(free_port) && [ "$PORT" != "$HTTP_PORT" ] || {
	fail "no free ports"
	finish
	exit 1
}
SOCK=$WORK/helper.sock
BROKEN_SOCK=$WORK/broken-store.sock
SILENT_SOCK=$WORK/silent.sock
PCONF=$WORK/prosody/prosody.cfg.lua
PLOG=$WORK/prosody/prosody.log
mkdir -p "$WORK/replay" "$WORK/prosody"

# The helper knows example.test only: nosecrets.test is an unknown domain.
CONF=$WORK/helper.conf
{
	echo "replay_store = $WORK/replay"
	echo "replay_per_user = 100000"
	echo "[example.test]"
	echo "otp_seed = $OTP_SEED"
	echo "token_secret = $TOKEN_SECRET"
} >"$CONF"
# A helper whose replay store cannot be made (under a plain file): every
# valid token is refused as "store failed".
touch "$WORK/a-file"
BROKEN_CONF=$WORK/broken-store.conf
make_config "$BROKEN_CONF"
sed -i "s|^replay_store = .*|replay_store = $WORK/a-file/replay|" "$BROKEN_CONF"
chmod 600 "$CONF" "$BROKEN_CONF"

e2e_serve_helper "$SOCK" "$CONF" || fail "the helper's socket served"
e2e_serve_helper "$BROKEN_SOCK" "$BROKEN_CONF" || fail "the broken store's helper served"
# A helper that never answers
e2e_serve "$SILENT_SOCK" /bin/sh -c 'exec cat >/dev/null' || fail "the silent socket served"
# A helper older than options:reasons, as far as the provider can tell: a
# first line it does not know leaves it silent (the old helper took the
# stream for ejabberd's framing); otherwise it refuses every login, bare.
OLD_SOCK=$WORK/old.sock
cat >"$WORK/old-helper.py" <<'EOF'
import sys
line = sys.stdin.readline()
if line.rstrip("\r\n") == "options:reasons":
    sys.stdin.read()
while line:
    sys.stdout.write("0\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
EOF
e2e_serve "$OLD_SOCK" "$PY" "$WORK/old-helper.py" || fail "the old helper's socket served"

# Metrics computed when scraped (statistics_interval = "manual"), served on
# 127.0.0.1 only, as mod_http_openmetrics allows by default.
E2E_HTTP_PORT=$HTTP_PORT
E2E_MODULES='"http_openmetrics"'
E2E_GLOBAL='statistics = "internal"
statistics_interval = "manual"'
e2e_prosody_config "$PCONF" "$PORT" example.test "$SOCK" 2
cat >>"$PCONF" <<EOF

VirtualHost "nosecrets.test"
	authentication = "token_socket"
	token_socket_path = "$SOCK"

VirtualHost "storefail.test"
	authentication = "token_socket"
	token_socket_path = "$BROKEN_SOCK"

VirtualHost "down.test"
	authentication = "token_socket"
	token_socket_path = "$WORK/nothing-here.sock"

VirtualHost "silent.test"
	authentication = "token_socket"
	token_socket_path = "$SILENT_SOCK"
	token_socket_timeout = 2
	token_socket_max_queue = 3

VirtualHost "old.test"
	authentication = "token_socket"
	token_socket_path = "$OLD_SOCK"
	token_socket_timeout = 2
EOF
if ! e2e_start_prosody "$PCONF" "$PORT"; then
	fail "Prosody starts with mod_http_openmetrics"
	tail -20 "$WORK/prosody/prosody.out" "$PLOG" 2>/dev/null
	finish
	exit 1
fi
wait_for 10 port_open "$HTTP_PORT" || fail "Prosody serves HTTP on 127.0.0.1:$HTTP_PORT"

# storm KIND EXPECTED-OUTCOME: log in with every "JID TOKEN" line of
# $WORK/KIND at once (SASL PLAIN) and check each got EXPECTED-OUTCOME.
storm() {
	local kind=$1 want=$2 n got
	n=$(wc -l <"$WORK/$kind")
	got=$(timeout 60 "${XMPP_CLIENT[@]}" --port "$PORT" --batch "$WORK/$kind" \
		--timeout 20 2>>"$WORK/client.err" | awk -v w="$want" '$2 == w { n++ } END { print n + 0 }')
	check "$kind: $n logins, each $want" "$n" "$got"
}

# lines KIND N JID [tokengen options]: N lines "JID TOKEN" into $WORK/KIND.
lines() {
	local kind=$1 n=$2 jid=$3
	shift 3
	: >"$WORK/$kind"
	for _ in $(seq 1 "$n"); do
		echo "$jid $(token "$jid" "$@")" >>"$WORK/$kind"
	done
}

mid_step 10
lines accepted 4 alice@example.test
storm accepted success
head -n 3 "$WORK/accepted" >"$WORK/replayed"
storm replayed not-authorized
sed 's/^alice@/bob@/' "$WORK/accepted" | head -n 2 >"$WORK/bad_signature"
storm bad_signature not-authorized
lines outside_window 2 alice@example.test --offset -120
storm outside_window not-authorized
printf '%s\n' "alice@example.test garbage" "alice@example.test 12345678 AAAA" >"$WORK/malformed"
storm malformed not-authorized
lines unknown_domain 2 alice@nosecrets.test
storm unknown_domain not-authorized
lines store_failed 2 alice@storefail.test
storm store_failed not-authorized
lines unreachable 2 alice@down.test
storm unreachable not-authorized
check "X-TOKEN: an authzid naming another user is refused by the plugin" invalid-authzid \
	"$(timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --mech X-TOKEN --jid alice@example.test \
		--authzid bob@example.test --password "$(token alice@example.test)" 2>>"$WORK/client.err")"
# Five at once where three may wait: two refused at once, three after the
# 2 s timeout.
lines silent 5 alice@silent.test
storm silent not-authorized
# The old helper: the first login waits with the question and times out;
# then the provider asks no more, and the next two are refused, reason
# unknown.
lines old_first 1 alice@old.test
storm old_first not-authorized
lines old_then 2 alice@old.test
storm old_then not-authorized
grep -q 'The token helper at .*old.sock did not answer "options:reasons".*asking without reasons' "$PLOG" &&
	pass "a helper that does not answer options:reasons: Prosody says so" ||
	fail "a helper that does not answer options:reasons: Prosody says so"

# Scrape, as Prometheus would, over HTTP on the loopback interface.
if ! $PY - "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/scrape" 2>"$WORK/scrape.err" <<-'EOF'; then
	import sys, urllib.request
	with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
	    sys.stdout.write(r.read().decode())
EOF
	fail "GET /metrics: $(head -c 300 "$WORK/scrape.err")"
fi
grep -q '^prosody_mod_auth_token_socket__' "$WORK/scrape" &&
	pass "GET /metrics serves the provider's metrics" ||
	fail "GET /metrics serves the provider's metrics: $(head -c 300 "$WORK/scrape")"

# The counts, per host: what was sent above, and nothing else.
py_checks "$WORK/scrape" "$RULES" "$DASHBOARD" <<-'EOF'
	import re, sys
	from suite import check
	from openmetrics import Scrape

	scrape, rules, dashboard = sys.argv[1:4]
	M = "prosody_mod_auth_token_socket__"
	s = Scrape(scrape, prefix=M)
	samples, value = s.samples, s.value

	expected = {
	    ("example.test", "accepted", "none"): 4,
	    ("example.test", "refused", "replayed"): 3,
	    ("example.test", "refused", "bad_signature"): 2,
	    ("example.test", "refused", "outside_window"): 2,
	    ("example.test", "refused", "malformed"): 2,
	    ("example.test", "refused", "invalid_authzid"): 1,
	    ("nosecrets.test", "refused", "unknown_domain"): 2,
	    ("storefail.test", "refused", "store_failed"): 2,
	    ("down.test", "not_asked", "helper_unreachable"): 2,
	    ("silent.test", "not_asked", "timeout"): 3,
	    ("silent.test", "not_asked", "queue_full"): 2,
	    ("old.test", "not_asked", "timeout"): 1,
	    ("old.test", "refused", "unknown"): 2,
	}
	for (host, outcome, reason), n in expected.items():
	    check(value("logins_total", host=host, outcome=outcome, reason=reason) == n,
	          "logins_total{host=%s,outcome=%s,reason=%s} = %d" % (host, outcome, reason, n))
	got = {(l.get("host"), l.get("outcome"), l.get("reason")): v
	       for l, v in s.series("logins_total") if v}
	extra = {k: v for k, v in got.items() if k not in expected}
	check(not extra, "no other login counted: %s" % (extra or "none"))

	# Every answer of the helper timed: accepted and refused by it
	for host in ("example.test", "nosecrets.test", "storefail.test", "down.test", "silent.test",
	             "old.test"):
	    answers = sum(n for (h, o, r), n in expected.items()
	                  if h == host and o in ("accepted", "refused") and r != "invalid_authzid")
	    count = value("helper_answer_seconds_count", host=host)
	    inf = value("helper_answer_seconds_bucket", host=host, le="+Inf")
	    check(count == answers and inf == answers,
	          "%s: the answer-time histogram counts its %d answers (count %g, +Inf %g)"
	          % (host, answers, count, inf))
	check(0 < value("helper_answer_seconds_sum", host="example.test") < 13 * 2,
	      "the answer times add up to something, less than the timeouts")

	for gauge in ("requests_waiting", "requests_in_flight", "helper_connections"):
	    check(s.has(gauge, host="example.test"), "gauge %s published" % gauge)
	check(value("requests_waiting", host="example.test") == 0 and
	      value("requests_in_flight", host="example.test") == 0,
	      "nothing waits or is in flight once every login is answered")
	check(value("helper_connections", host="example.test") >= 1,
	      "example.test holds a connection to its helper")
	check(value("helper_connections", host="down.test") == 0,
	      "down.test holds none")

	# What the rules and the dashboard query exists in the scrape
	for path in (rules, dashboard):
	    names = set(re.findall(M + r"[a-z_]+", open(path).read()))
	    check(len(names) >= 2, "%s queries the provider's metrics" % path.split("/")[-1])
	    missing = sorted(n for n in names if n not in samples)
	    check(not missing, "%s: every metric it queries is scraped (missing: %s)"
	          % (path.split("/")[-1], missing or "none"))
	EOF

check "the dashboard is valid JSON" 0 "$($PY -m json.tool "$DASHBOARD" >/dev/null 2>&1; echo $?)"
if command -v promtool >/dev/null; then
	out=$(promtool check rules "$RULES" 2>&1) && pass "promtool check rules" ||
		fail "promtool check rules: $out"
	out=$(cd "$MONITORING" && promtool test rules "$(basename "$RULES_TEST")" 2>&1) &&
		pass "promtool test rules: each alert fires when it should, and only then" ||
		fail "promtool test rules: $out"
else
	skip "promtool check rules" "promtool is not installed (Debian's prometheus package; tests/deps.sh installs it)"
	skip "promtool test rules" "promtool is not installed"
fi

# The client never learns why: the helper's reasons stay in the metrics
grep -q 'Token of alice@example.test refused by the helper: replayed' "$PLOG" &&
	pass "Prosody's log gives the helper's reason" ||
	fail "Prosody's log gives the helper's reason"
if grep -q Traceback "$PLOG"; then
	fail "no Lua errors in Prosody's log: $(grep -m1 -A3 Traceback "$PLOG")"
else
	pass "no Lua errors in Prosody's log"
fi

finish
