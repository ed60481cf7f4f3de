#!/bin/bash
# ejabberd, for real: Debian's ejabberd runs on 127.0.0.1 with the shipped
# configuration snippet (packaging/ejabberd.yml), adapted only in its paths,
# starts a pool of helpers as extauth_program, and a real XMPP client
# (slixmpp) logs in. Proves: a valid token logs in; replays are refused, also
# by the other processes of the pool (they share the replay store); parallel
# logins with one token let exactly one in; expired, other users', other
# domains' and garbage tokens are refused; JWTs in every algorithm (made by
# python3-jwt and python3-jwcrypto) log in once; the helpers exit when
# ejabberd stops.
#
# ejabberd runs in the foreground of a background job, as whoever runs this
# suite, with its own config, spool and log in a temporary directory, and
# without Erlang distribution (no node name, no epmd). The system's ejabberd
# service is never used.
#
# Environment:
#   HELPER            the helper binary (default: the one built in the tree;
#                     installed: /usr/bin/prosody-token-auth)
#   EJABBERD_SNIPPET  the snippet to run (default: packaging/ejabberd.yml;
#                     installed: .../doc/prosody-token-auth/examples/ejabberd.yml)
#   EJABBERD_VIA      "connector": the other shipped snippet,
#                     ejabberd-connect.yml, whose pool is of connectors that
#                     reach the helper behind its socket (served here by
#                     systemd-socket-activate, as the socket unit does)
#   PARALLEL_ROUNDS   rounds of three parallel logins with one token
#                     (default 3; more to hunt a rare race)

# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"

EJABBERD_VIA=${EJABBERD_VIA:-pipes}
if [ "$EJABBERD_VIA" = connector ]; then
	EJABBERD_SNIPPET=${EJABBERD_SNIPPET:-$TOP/packaging/ejabberd-connect.yml}
else
	EJABBERD_SNIPPET=${EJABBERD_SNIPPET:-$TOP/packaging/ejabberd.yml}
fi
LOGIN=("$PY" "$TOP/tests/lib/ejabberd-login.py")
DOMAIN=example.test
POOL=3
PARALLEL_ROUNDS=${PARALLEL_ROUNDS:-3}
SHIPPED_HELPER=/usr/bin/prosody-token-auth
SHIPPED_CONF=/etc/ejabberd/token-auth.conf
SHIPPED_SOCKET=/run/prosody-token-auth/socket

case $HELPER in /*) ;; *) HELPER=$PWD/$HELPER ;; esac

# What the suite needs; a missing piece is a failure, named.
missing=""
command -v erl >/dev/null || missing="$missing erlang-base"
[ -x /usr/sbin/ejabberdctl ] || missing="$missing ejabberd"
$PY -c 'import slixmpp' 2>/dev/null || missing="$missing python3-slixmpp"
$PY -c 'import pyotp' 2>/dev/null || missing="$missing python3-pyotp"
if [ -n "$missing" ]; then
	echo "missing Debian packages:$missing (tests/deps.sh installs them)" >&2
	fail "prerequisites"
	finish
	exit 1
fi
if [ ! -x "$HELPER" ] || [ ! -f "$EJABBERD_SNIPPET" ]; then
	echo "no helper at $HELPER or no snippet at $EJABBERD_SNIPPET" >&2
	fail "prerequisites"
	finish
	exit 1
fi

# Where Debian's ejabberd keeps its Erlang applications (ejabberdctl says).
ERL_LIBS=$(sed -n "s/^ERL_LIBS='\(.*\)'$/\1/p" /usr/sbin/ejabberdctl)
[ -n "$ERL_LIBS" ] || ERL_LIBS=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT=$(free_port)
CONF=$WORK/token-auth.conf
SNIP=$WORK/ejabberd-auth.yml
EJ=$WORK/ejabberd
mkdir -p "$WORK/replay" "$EJ/spool" "$EJ/log"
# JWTs too, where Debian's python3-jwt and python3-jwcrypto can make them.
JWT_KEYS=""
if $PY -c 'import jwt, jwcrypto' 2>/dev/null &&
	$PY "$TOP/tests/lib/jwtgen.py" keys "$WORK/jwt"; then
	JWT_KEYS=$WORK/jwt
	make_config "$CONF" "jwt_keys = $JWT_KEYS/set.jwks" \
		"jwt_audience = xmpp:$DOMAIN"
else
	make_config "$CONF"
fi

echo "# ejabberd on 127.0.0.1:$PORT, helper $HELPER, snippet $EJABBERD_SNIPPET"

# --- the snippet, adapted only in its paths --------------------------------

if [ "$EJABBERD_VIA" = connector ]; then
	# The pool is of connectors; the helpers are behind the socket.
	SHIPPED_CMD="$SHIPPED_HELPER --protocol ejabberd connect $SHIPPED_SOCKET"
	POOL_CMD="$HELPER --protocol ejabberd connect $WORK/helper.sock"
	. "$TOP/tests/lib/e2e-lib.sh"
	e2e_serve_helper "$WORK/helper.sock" "$CONF" &&
		pass "the helper served on a socket" || fail "the helper served on a socket"
	SUBST=(-e "s|$SHIPPED_HELPER|$HELPER|g" -e "s|$SHIPPED_SOCKET|$WORK/helper.sock|g")
	UNSUBST=(-e "s|$HELPER|$SHIPPED_HELPER|g" -e "s|$WORK/helper.sock|$SHIPPED_SOCKET|g")
else
	SHIPPED_CMD="$SHIPPED_HELPER --protocol ejabberd --config $SHIPPED_CONF"
	POOL_CMD="$HELPER --protocol ejabberd --config $CONF"
	SUBST=(-e "s|$SHIPPED_HELPER|$HELPER|g" -e "s|$SHIPPED_CONF|$CONF|g")
	UNSUBST=(-e "s|$HELPER|$SHIPPED_HELPER|g" -e "s|$CONF|$SHIPPED_CONF|g")
fi
grep -q "$SHIPPED_CMD" "$EJABBERD_SNIPPET" &&
	pass "snippet runs $SHIPPED_CMD" ||
	fail "snippet runs $SHIPPED_CMD"
grep -q '^auth_use_cache: false' "$EJABBERD_SNIPPET" &&
	pass "snippet turns ejabberd's password cache off" ||
	fail "snippet has auth_use_cache: false"
grep -q '^auth_method: \[external\]' "$EJABBERD_SNIPPET" &&
	grep -q "^extauth_pool_size: $POOL\$" "$EJABBERD_SNIPPET" &&
	pass "snippet: external auth, a pool of $POOL" ||
	fail "snippet has auth_method: [external] and extauth_pool_size: $POOL"

sed "${SUBST[@]}" "$EJABBERD_SNIPPET" >"$SNIP"
# Nothing else differs: undoing the two substitutions gives the shipped file.
if sed "${UNSUBST[@]}" "$SNIP" | cmp -s - "$EJABBERD_SNIPPET"; then
	pass "adapted snippet differs from the shipped one in paths only"
else
	fail "adapted snippet differs from the shipped one in paths only"
fi

# The rest of a minimal ejabberd: one host, one c2s listener on loopback,
# no TLS (no certificate; the client allows PLAIN without it), no ACME
# (which would reach out to the network), no modules.
cat >"$EJ/ejabberd.yml" <<EOF
hosts:
  - $DOMAIN
loglevel: info
acme:
  auto: false
listen:
  -
    port: $PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
include_config_file: $SNIP
EOF

# --- start ejabberd -------------------------------------------------------

cd "$EJ/spool" || exit 1
spawn env HOME="$EJ" ERL_LIBS="$ERL_LIBS" \
	EJABBERD_CONFIG_PATH="$EJ/ejabberd.yml" \
	EJABBERD_LOG_PATH="$EJ/log/ejabberd.log" \
	ERL_CRASH_DUMP="$EJ/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0 \
	erl -noinput -noshell -start_epmd false +K true \
	-mnesia dir "\"$EJ/spool\"" -s ejabberd >"$EJ/log/erl.out" 2>&1
BEAM=$!
cd "$TOP" || exit 1

if wait_for 60 port_open "$PORT"; then
	pass "ejabberd started (no Erlang distribution)"
else
	fail "ejabberd started"
	tail -20 "$EJ/log/erl.out" "$EJ/log/ejabberd.log" 2>/dev/null
	finish
	exit 1
fi

# --- check-config reads this very ejabberd config ---------------------------

# ejabberd_check FILE: what check-config says of ejabberd's FILE.
ejabberd_check() {
	PROSODY_TOKEN_AUTH_EJABBERD_CONFIG=$1 "$HELPER" --config "$CONF" check-config 2>&1
}
out=$(ejabberd_check "$EJ/ejabberd.yml")
grep -q "runs prosody-token-auth with its password cache off" <<<"$out" &&
	! grep -q WARNING <<<"$out" &&
	pass "check-config: the running ejabberd's config (the snippet included) has its cache off" ||
	fail "check-config on the running config: $out"
# The same without 'auth_use_cache: false': warned of, naming the line.
mkdir -p "$WORK/cached"
grep -v '^auth_use_cache' "$SNIP" >"$WORK/cached/snippet.yml"
sed "s|^include_config_file: .*|include_config_file: snippet.yml|" "$EJ/ejabberd.yml" \
	>"$WORK/cached/ejabberd.yml"
line=$(grep -n '^extauth_program' "$WORK/cached/snippet.yml" | cut -d: -f1)
out=$(ejabberd_check "$WORK/cached/ejabberd.yml")
grep -q "^WARNING: $WORK/cached/snippet.yml:$line: ejabberd runs prosody-token-auth .* password cache is on .*auth_use_cache: false" <<<"$out" &&
	pass "... without auth_use_cache: false, a warning naming the included file and line" ||
	fail "check-config, cache on: $out"
# The cache off for all, but on again for the host.
cp "$SNIP" "$WORK/cached/snippet.yml"
printf 'host_config:\n  "%s":\n    auth_use_cache: true\n' "$DOMAIN" >>"$WORK/cached/ejabberd.yml"
out=$(ejabberd_check "$WORK/cached/ejabberd.yml")
grep -q "^WARNING: $WORK/cached/ejabberd.yml:[0-9]*: .* for $DOMAIN, but its password cache is on (set here)" <<<"$out" &&
	pass "... on again for one host in host_config: a warning naming the host and line" ||
	fail "check-config, cache on for one host: $out"

# descendants PID: every process below PID.
descendants() {
	local child
	for child in $(pgrep -P "$1"); do
		echo "$child"
		descendants "$child"
	done
}
# pool_pids: the helper processes below ejabberd. (The helper makes itself
# non-dumpable, so only root may read its /proc/PID/exe: its command line,
# which anyone may read, names it.)
pool_pids() {
	local pid
	for pid in $(descendants "$BEAM"); do
		case "$(ps -o args= -p "$pid" 2>/dev/null)" in
		"$POOL_CMD") echo "$pid" ;;
		esac
	done
}
# words WORD...: how many.
words() { echo $#; }
pool_full() { [ "$(pool_pids | wc -l)" -eq "$POOL" ]; }

wait_for 15 pool_full
POOL_PIDS=$(pool_pids | tr '\n' ' ')
# shellcheck disable=SC2086 # a list of PIDs, split on purpose
check "ejabberd runs a pool of $POOL helpers" "$POOL" "$(words $POOL_PIDS)"

# Which pool process handled a login: the one that woke up (a helper waits
# for a request in read(2): each request it handles adds a voluntary context
# switch; the others sleep). /proc/PID/status is readable by anyone.
reads() {
	local pid
	for pid in $POOL_PIDS; do
		printf '%s=%s ' "$pid" "$(awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
	done
}
# moved BEFORE AFTER: the PIDs whose count differs.
moved() {
	local entry pid
	for entry in $2; do
		pid=${entry%%=*}
		case " $1 " in *" $entry "*) ;; *) printf '%s ' "$pid" ;; esac
	done
}

# login JID PASSWORD: one login; sets OUT to its outcome (ok, refused,
# error: ...) and HANDLED to the pool processes that took part.
login() {
	local before after
	before=$(reads)
	OUT=$(printf '%s\t%s\n' "$1" "$2" | timeout 30 "${LOGIN[@]}" 127.0.0.1 "$PORT" 2>>"$WORK/client.err")
	after=$(reads)
	HANDLED=$(moved "$before" "$after")
	OUT=${OUT:-error: no outcome}
}
# expect NAME OUTCOME JID PASSWORD: check one login's outcome.
expect() {
	login "$3" "$4"
	check "$1" "$2" "$OUT"
}

# --- logins ---------------------------------------------------------------

T=$(token "alice@$DOMAIN")
expect "valid token logs in" ok "alice@$DOMAIN" "$T"
ACCEPTED_BY=$HANDLED
echo "# accepted by helper(s): $ACCEPTED_BY"
# shellcheck disable=SC2086 # a list of PIDs, split on purpose
[ "$(words $ACCEPTED_BY)" -ge 1 ] &&
	pass "the helper that accepted it is known" ||
	fail "the helper that accepted it is known"

# Replays, until each other process of the pool has refused one.
others_left=""
for pid in $POOL_PIDS; do
	case " $ACCEPTED_BY " in *" $pid "*) ;; *) others_left="$others_left $pid" ;; esac
done
replays=0 replay_ok=0
for i in $(seq 1 12); do
	login "alice@$DOMAIN" "$T"
	replays=$((replays + 1))
	[ "$OUT" = refused ] || replay_ok=$((replay_ok + 1))
	echo "# replay $i: $OUT by helper(s) $HANDLED"
	for pid in $HANDLED; do
		others_left=$(echo " $others_left " | sed "s/ $pid / /; s/^ *//; s/ *$//")
	done
	[ -z "$others_left" ] && [ "$i" -ge 3 ] && break
done
check "replayed token refused ($replays replays)" 0 "$replay_ok"
if [ -n "$POOL_PIDS" ]; then
	check "replays reached every other helper of the pool" "" "$others_left"
else
	fail "replays reached every other helper of the pool (no pool found)"
fi

# What ejabberd's log says since byte FROM of it (its decisions are logged
# as "Accepted c2s PLAIN authentication for JID by external backend" and
# "Failed c2s PLAIN authentication for JID ...", the same in 23.01 and
# 24.12; its extauth module logs any trouble with a helper: no answer in
# time, an answer it could not read, a helper that exited).
log_since() { tail -c +"$(($1 + 1))" "$EJ/log/ejabberd.log" 2>/dev/null; }
# decisions FROM JID: "A accepted, R refused, E helper errors".
decisions() {
	local since
	since=$(log_since "$1")
	printf '%s accepted, %s refused, %s helper errors' \
		"$(grep -c "Accepted c2s [A-Z0-9-]* authentication for $2 by external" <<<"$since")" \
		"$(grep -c "Failed c2s [A-Z0-9-]* authentication for $2 " <<<"$since")" \
		"$(grep -ci 'external authentication program' <<<"$since")"
}
# decided FROM JID N: ejabberd has logged N decisions for JID since FROM
# (its logger writes a moment after the client hears).
decided() {
	[ "$(log_since "$1" | grep -c "c2s [A-Z0-9-]* authentication for $2 ")" -ge "$3" ]
}

# Parallel logins with one fresh token: exactly one gets in. Two views of
# each round are checked apart, so that one cannot hide the other: what
# ejabberd decided with the helpers' answers (its log), and what each client
# heard. Each client writes its outcome to a file of its own: Python's
# print() writes a line and its newline in two write(2) calls, so clients
# appending to one file could interleave to "refusedok", "", "refused" or
# "refusedrefused", "", "ok" (once in a few hundred rounds; read as "0 ok,
# 1 refused" or "1 ok, 0 refused").
for round in $(seq 1 "$PARALLEL_ROUNDS"); do
	T=$(token "carol@$DOMAIN")
	log_from=$(stat -c %s "$EJ/log/ejabberd.log" 2>/dev/null || echo 0)
	par=()
	for i in 1 2 3; do
		printf '%s\t%s\n' "carol@$DOMAIN" "$T" |
			timeout 30 "${LOGIN[@]}" 127.0.0.1 "$PORT" \
				>"$WORK/par.$i.out" 2>"$WORK/par.$i.err" &
		par+=($!)
	done
	wait "${par[@]}"
	heard=()
	for i in 1 2 3; do
		out=$(cat "$WORK/par.$i.out")
		heard+=("${out:-error: no outcome}")
	done
	got="$(printf '%s\n' "${heard[@]}" | grep -c '^ok$') ok, $(printf '%s\n' "${heard[@]}" | grep -c '^refused$') refused"
	wait_for 10 decided "$log_from" "carol@$DOMAIN" 3
	said=$(decisions "$log_from" "carol@$DOMAIN")
	check "parallel logins with one token, round $round: ejabberd and its helpers let one in" \
		"1 accepted, 2 refused, 0 helper errors" "$said"
	check "parallel logins with one token, round $round: each client heard, one got in" \
		"1 ok, 2 refused" "$got"
	if [ "$got" != "1 ok, 2 refused" ] || [ "$said" != "1 accepted, 2 refused, 0 helper errors" ]; then
		for i in 1 2 3; do
			echo "#   client $i: ${heard[$((i - 1))]}"
			grep -v 'slower stringprep' "$WORK/par.$i.err" | tail -n 5 | sed "s/^/#   client $i stderr: /"
		done
		log_since "$log_from" | sed 's/^/#   ejabberd: /'
	fi
done

expect "expired token refused" refused "alice@$DOMAIN" \
	"$(token "alice@$DOMAIN" --offset -600)"
expect "token from the future refused" refused "alice@$DOMAIN" \
	"$(token "alice@$DOMAIN" --offset 600)"
expect "other user's token refused" refused "alice@$DOMAIN" \
	"$(token "bob@$DOMAIN")"
expect "other domain's token refused" refused "alice@$DOMAIN" \
	"$(token "alice@other.test")"
expect "garbage refused" refused "alice@$DOMAIN" "not a token"
tampered=$(token "alice@$DOMAIN")
c=${tampered:60:1}
[ "$c" = A ] && c=B || c=A
tampered=${tampered:0:60}$c${tampered:61}
expect "token with one signature character changed refused" refused \
	"alice@$DOMAIN" "$tampered"
expect "empty password refused" refused "alice@$DOMAIN" ""
expect "still logs in after refusals" ok "bob@$DOMAIN" "$(token "bob@$DOMAIN")"
if [ -n "$JWT_KEYS" ]; then
	for kid in ed es rs ps hs; do
		J=$($PY "$TOP/tests/lib/jwtgen.py" mint "$JWT_KEYS" "$kid" "dave@$DOMAIN" \
			"xmpp:$DOMAIN")
		expect "a $kid JWT logs in" ok "dave@$DOMAIN" "$J"
		expect "... and is refused the second time" refused "dave@$DOMAIN" "$J"
	done
else
	skip "JWT logins through ejabberd" "no python3-jwt or python3-jwcrypto (tests/deps.sh installs them)"
fi
check "the pool is the same processes" "$POOL_PIDS" "$(pool_pids | tr '\n' ' ')"

# --- stop ejabberd: its helpers exit ---------------------------------------

kill -TERM "$BEAM"
gone() { ! kill -0 "$1" 2>/dev/null; }
if wait_for 30 gone "$BEAM"; then
	pass "ejabberd stopped"
else
	fail "ejabberd stopped on SIGTERM"
	kill -KILL "$BEAM" 2>/dev/null
fi
wait "$BEAM" 2>/dev/null
helpers_gone() {
	local pid
	for pid in $POOL_PIDS; do
		kill -0 "$pid" 2>/dev/null && return 1
	done
	return 0
}
if wait_for 10 helpers_gone; then
	pass "the helpers exited with ejabberd"
else
	fail "the helpers exited with ejabberd (still running: $POOL_PIDS)"
	for pid in $POOL_PIDS; do kill "$pid" 2>/dev/null; done
fi

if grep -q 'extauth\|external' "$EJ/log/ejabberd.log" &&
	grep -qi 'crash\|exit_status' "$EJ/log/ejabberd.log"; then
	echo "# ejabberd's log mentions helper trouble:"
	grep -i 'extauth\|crash\|exit_status' "$EJ/log/ejabberd.log" | tail -5
	fail "no helper crashed or exited while ejabberd ran"
else
	pass "no helper crashed or exited while ejabberd ran"
fi

finish
