#!/bin/bash
# Login storms through real servers ('make bench-e2e'): whole logins, side by
# side in one run, each outcome checked.
#
#   bench/storm.sh [options]
#
# One Prosody (loopback, a free high port, a throw-away config and data
# directory) serves three virtual hosts at once:
#   plain.test   authentication = "internal_plain"
#   hashed.test  authentication = "internal_hashed"   (SCRAM-SHA-1 stored)
#   token.test   authentication = "token_socket", the helper on a Unix socket
#                served as the socket unit does it (systemd-socket-activate
#                --accept --inetd: one helper per connection)
#   redis.test   the same with replay_store = redis://... (a throw-away
#                redis-server), when the helper has a Redis replay store
# and one ejabberd (Debian's, no Erlang distribution) serves two:
#   internal.test  auth_method: [internal]
#   token.test     auth_method: [external], the helper as extauth_program
#                  (a pool, ejabberd framing over pipes, auth_use_cache: false)
#
# Every row is one storm by tests/harness/xmpp_storm.py: N logins (SASL PLAIN over
# c2s without TLS), C at a time, tokens minted before the clock starts; it
# prints logins/s, p50/p99/max latency, and the CPU per login of the server
# (the scheduler's counts in /proc, all threads), of the helpers (every process below the
# socket server or below ejabberd, those that ended included) and of the
# client itself. Rows run in turn, ROUNDS times over, so that every row sees
# the same machine; the report gives the median of the rounds, their spread,
# the ratios to internal_plain and the targets.
#
# Options:
#   -n N            logins per row and round (internal_hashed: N/3)  [2000]
#   -c C            logins in flight                                   [32]
#   -r ROUNDS       rounds                                              [6]
#   --quick         -n 1000 -r 1
#   --smoke         correctness only, for 'make check': a few hundred
#                   logins per row with refusals mixed in, every outcome
#                   checked, pass/fail lines and a final count
#   --no-ejabberd   Prosody alone
#   --no-prosody    ejabberd alone
#   --log-level L   Prosody's log level (Debian logs info)           [info]
#   --pool N        token_socket_pool_size                              [4]
#   --extauth-pool N  ejabberd's extauth_pool_size                      [2]
#   --c2s-timeout S Prosody's c2s_timeout; rows are C2S_TIMEOUT + 1 s apart
#                   when it is 30 or less (Prosody's default, 300, shows
#                   the heap growing from storm to storm)                [5]
#   --keep          keep the work directory (configs and logs)
#
# Environment: HELPER (the helper binary, default the one built here),
# PROSODY_MODULES_DIR (default prosody/ here).
#
# Point the same client at a server of your own with
# prosody-token-auth-storm (tests/harness/xmpp_storm.py); see doc/performance.md.

# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../tests/lib/lib.sh"
# shellcheck source=tests/lib/e2e-lib.sh
. "$TOP/tests/lib/e2e-lib.sh"

# (no __pycache__ left in the tree: the client imports the token generator)
export PYTHONDONTWRITEBYTECODE=1
STORM=("$PY" "$TOP/tests/harness/xmpp_storm.py")
N=2000 C=32 ROUNDS=6 SMOKE=0 WANT_EJ=1 WANT_PROSODY=1
LOG_LEVEL=info POOL=4 EXT_POOL=2 KEEP=0 USERS=100 C2S_TIMEOUT=5
# Token logins go to many users in turn: one JID holds at most
# replay_per_user (30) live tokens, and a storm's live tokens are all those
# of the last 90 s. (The password rows need accounts: USERS of them.)
TOKEN_USERS=5000

die() {
	echo "storm: $*" >&2
	if [ "$SMOKE" -eq 1 ]; then
		# (as a test suite: a failure, counted)
		fail "storm: $*"
		finish
	fi
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	-n) N=${2:?}; shift ;;
	-c) C=${2:?}; shift ;;
	-r) ROUNDS=${2:?}; shift ;;
	--quick) N=1000 ROUNDS=1 ;;
	--smoke) SMOKE=1 ROUNDS=1 USERS=20 ;;
	--no-ejabberd) WANT_EJ=0 ;;
	--no-prosody) WANT_PROSODY=0 ;;
	--log-level) LOG_LEVEL=${2:?}; shift ;;
	--pool) POOL=${2:?}; shift ;;
	--extauth-pool) EXT_POOL=${2:?}; shift ;;
	--c2s-timeout) C2S_TIMEOUT=${2:?}; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done
for v in N C ROUNDS POOL EXT_POOL C2S_TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a whole number above 0"
done
case $LOG_LEVEL in debug | info | warn | error) ;; *) die "--log-level: debug, info, warn or error" ;; esac

if [ "$KEEP" -eq 1 ]; then
	trap 'echo "# work directory kept: $WORK"; WORK=/nonexistent e2e_cleanup' EXIT
fi

HELPER=$(realpath -s "$HELPER")
[ -x "$HELPER" ] || die "no helper at $HELPER (run make, or set HELPER)"
missing=""
command -v prosody >/dev/null || missing="$missing prosody"
command -v systemd-socket-activate >/dev/null || missing="$missing systemd"
$PY -c 'import pyotp' 2>/dev/null || missing="$missing python3-pyotp"
[ -n "$missing" ] && die "missing Debian packages:$missing (tests/deps.sh installs them)"

EJ_OK=$WANT_EJ
if [ "$WANT_EJ" -eq 1 ] && { ! command -v erl >/dev/null || [ ! -x /usr/sbin/ejabberdctl ]; }; then
	skip "ejabberd rows" "ejabberd is not installed (tests/deps.sh installs it)"
	EJ_OK=0
fi

RESULTS=$WORK/results
: >"$RESULTS"

# --- the helper: secrets, a throw-away replay store, the socket ---------

CONF=$WORK/helper.conf
mkdir -p "$WORK/replay"
"$HELPER" gen-secrets >"$CONF" || die "$HELPER gen-secrets failed"
{
	echo "replay_store = $WORK/replay"
	# every token stays recorded about 90 s: room for 3,000 logins/s
	echo "replay_capacity = 300000"
} >>"$CONF"
chmod 600 "$CONF"
SOCK=$WORK/helper.sock

# redis_new PORT: the Redis at PORT marked as a store that never held a
# nonce, on this server (the man page, Redis): no record lifetime of
# refusals first.
redis_new() {
	local info
	info=$(redis-cli -p "$1" INFO server | tr -d '\r'; redis-cli -p "$1" INFO replication | tr -d '\r')
	redis-cli -p "$1" SET pta:id "$(sed -n 's/^run_id://p' <<<"$info") $(sed -n 's/^master_replid://p' <<<"$info")" >/dev/null &&
		redis-cli -p "$1" ZADD pta:meta 0 since >/dev/null
}

# The Redis row, when this helper has a Redis replay store: a throw-away
# redis-server on a free port (loopback, no persistence), and a second
# socket whose helpers use it.
REDIS_OK=0
if [ "$WANT_PROSODY" -eq 0 ]; then
	:
elif command -v redis-server >/dev/null; then
	REDIS_PORT=$(free_port)
	mkdir -p "$WORK/redis"
	spawn redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$WORK/redis" >"$WORK/redis/out" 2>&1
	REDIS_PID=$!
	RCONF=$WORK/helper-redis.conf
	{
		grep -v '^replay_' "$CONF"
		echo "replay_store = redis://127.0.0.1:$REDIS_PORT"
	} >"$RCONF"
	chmod 600 "$RCONF"
	if ! wait_for 10 port_open "$REDIS_PORT"; then
		skip "token + Redis rows" "redis-server did not start ($(head -c 200 "$WORK/redis/out"))"
	elif "$HELPER" --config "$RCONF" check-config >"$WORK/redis-check" 2>&1; then
		# A Redis that never held nonces: no token lifetime of refusals
		# (see the man page, "A Redis that lost its nonces")
		if redis_new "$REDIS_PORT"; then
			REDIS_OK=1
		else
			skip "token + Redis rows" "redis-cli could not mark the store new"
		fi
	else
		skip "token + Redis rows" "this helper has no replay_store = redis://... ($(head -c 120 "$WORK/redis-check"))"
	fi
else
	skip "token + Redis rows" "redis-server is not installed"
fi

# --- Prosody -------------------------------------------------------------

prosody_config() { # FILE PORT
	local dir
	dir=$(dirname "$1")
	mkdir -p "$dir/data" "$dir/certs"
	cat >"$1" <<-EOF
		-- Throw-away Prosody for the login storm: loopback only
		run_as_root = true
		pidfile = "$dir/prosody.pid"
		data_path = "$dir/data"
		certificates = "$dir/certs"
		plugin_paths = { "$PROSODY_MODULES_DIR" }
		log = {
			{ levels = { min = "$LOG_LEVEL" }, to = "file", filename = "$dir/prosody.log" };
		}
		c2s_ports = { $2 }
		c2s_interfaces = { "127.0.0.1" }
		modules_enabled = { "saslauth", "register", "ping", "disco", "roster" }
		modules_disabled = { "s2s", "s2s_auth_certs" }
		-- no TLS on loopback: PLAIN without encryption (never on a real server)
		c2s_require_encryption = false
		allow_unencrypted_plain_auth = true
		network_backend = "epoll"
		-- Prosody 0.12 keeps every connection's session until c2s_timeout
		-- after it began (a timer it does not cancel), so a storm's heap,
		-- and the garbage collector's work per login, grow with every login
		-- of the last c2s_timeout seconds (300 by default). Short here, and
		-- a pause between storms, so that every row starts from the same heap.
		c2s_timeout = $C2S_TIMEOUT

		VirtualHost "plain.test"
			authentication = "internal_plain"
			allow_registration = true

		VirtualHost "hashed.test"
			authentication = "internal_hashed"
			allow_registration = true

		VirtualHost "token.test"
			authentication = "token_socket"
			token_socket_path = "$SOCK"
			token_socket_pool_size = $POOL
	EOF
	if [ "$SMOKE" -eq 1 ]; then
		# A helper that never answers, and a queue of 4 logins at most
		cat >>"$1" <<-EOF

			VirtualHost "capped.test"
				authentication = "token_socket"
				token_socket_path = "$WORK/silent.sock"
				token_socket_timeout = 2
				token_socket_max_queue = 4
		EOF
	fi
	if [ "$REDIS_OK" -eq 1 ]; then
		cat >>"$1" <<-EOF

			VirtualHost "redis.test"
				authentication = "token_socket"
				token_socket_path = "$WORK/helper-redis.sock"
				token_socket_pool_size = $POOL
		EOF
	fi
}

# --- ejabberd ------------------------------------------------------------

ejabberd_config() { # DIR PORT
	cat >"$1/ejabberd.yml" <<-EOF
		hosts:
		  - internal.test
		  - token.test
		loglevel: $([ "$LOG_LEVEL" = warn ] && echo warning || echo "$LOG_LEVEL")
		acme:
		  auto: false
		listen:
		  -
		    port: $2
		    ip: "127.0.0.1"
		    module: ejabberd_c2s
		    starttls: false
		    max_stanza_size: 65536
		    # (the default, 5, drops connects in a storm: a 1 s retry each)
		    backlog: 1024
		access_rules:
		  register:
		    allow: all
		registration_timeout: infinity
		host_config:
		  internal.test:
		    auth_method: [internal]
		    modules:
		      mod_register:
		        access: register
		        ip_access: all
		  token.test:
		    auth_method: [external]
		    extauth_program: "$HELPER --config $CONF"
		    extauth_pool_size: $EXT_POOL
		    auth_use_cache: false
	EOF
}

ejabberd_start() { # DIR PORT
	local erl_libs
	erl_libs=$(sed -n "s/^ERL_LIBS='\(.*\)'$/\1/p" /usr/sbin/ejabberdctl)
	mkdir -p "$1/spool" "$1/log"
	# +sbwt none...: schedulers sleep instead of spinning when idle, so
	# that CPU time is work done (spinning would be counted per login)
	(cd "$1/spool" && exec env HOME="$1" ERL_LIBS="$erl_libs" \
		EJABBERD_CONFIG_PATH="$1/ejabberd.yml" \
		EJABBERD_LOG_PATH="$1/log/ejabberd.log" \
		ERL_CRASH_DUMP="$1/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0 \
		erl -noinput -noshell -start_epmd false +K true \
		+sbwt none +sbwtdcpu none +sbwtdio none \
		-mnesia dir "\"$1/spool\"" -s ejabberd) >"$1/log/erl.out" 2>&1 &
	EJ_PID=$!
	pids+=("$EJ_PID")
	wait_for 60 port_open "$2"
}

# --- one storm -----------------------------------------------------------

# storm LABEL ROUND STORM-ARGS...: one row's storm; its result line goes to
# $RESULTS as "LABEL ROUND storm: ...".
storm() {
	local label=$1 round=$2 out
	shift 2
	out=$("${STORM[@]}" --quiet --label "$label" "$@" 2>&1)
	local status=$?
	echo "$out" >>"$WORK/storm.log"
	local line
	line=$(grep '^storm: ' <<<"$out" | head -1)
	if [ -z "$line" ]; then
		echo "# $label: no result: $(tail -3 <<<"$out")"
		echo "$label $round storm: failed" >>"$RESULTS"
		return 1
	fi
	echo "$label $round $line" >>"$RESULTS"
	[ "$round" = warm ] || printf '# %-18s round %s: %s\n' "$label" "$round" "${line#storm: }"
	return "$status"
}

# --- start everything ----------------------------------------------------

if [ "$WANT_PROSODY" -eq 1 ]; then
	e2e_serve_helper "$SOCK" "$CONF" || die "cannot serve the helper on $SOCK"
	SOCK_SERVER=$E2E_SERVER
	if [ "$REDIS_OK" -eq 1 ]; then
		e2e_serve_helper "$WORK/helper-redis.sock" "$RCONF" ||
			die "cannot serve the Redis helper"
		RSOCK_SERVER=$E2E_SERVER
	fi
	if [ "$SMOKE" -eq 1 ]; then
		e2e_serve "$WORK/silent.sock" /bin/sh -c 'exec cat >/dev/null' ||
			die "cannot serve the silent helper"
	fi
	P_PORT=$(free_port) || die "no free port"
	PCONF=$WORK/prosody/prosody.cfg.lua
	prosody_config "$PCONF" "$P_PORT"
	if ! e2e_start_prosody "$PCONF" "$P_PORT"; then
		tail -20 "$WORK/prosody/prosody.out" "$WORK/prosody/prosody.log" 2>/dev/null
		die "Prosody did not start"
	fi
	PROSODY=$E2E_PROSODY
	echo "# Prosody $(dpkg-query -W -f='${Version}' prosody 2>/dev/null) on 127.0.0.1:$P_PORT (pid $PROSODY), log level $LOG_LEVEL, token_socket_pool_size $POOL"
	for host in plain.test hashed.test; do
		"${STORM[@]}" --quiet --port "$P_PORT" --domain "$host" --register \
			--password storm-pw -n "$USERS" -u "$USERS" -c 8 >"$WORK/register-$host" 2>&1 ||
			die "registering $USERS users on $host failed: $(tail -3 "$WORK/register-$host")"
	done
fi

if [ "$EJ_OK" -eq 1 ]; then
	EJ=$WORK/ejabberd
	mkdir -p "$EJ"
	E_PORT=$(free_port) || die "no free port"
	ejabberd_config "$EJ" "$E_PORT"
	if ! ejabberd_start "$EJ" "$E_PORT"; then
		tail -20 "$EJ/log/erl.out" "$EJ/log/ejabberd.log" 2>/dev/null
		die "ejabberd did not start"
	fi
	echo "# ejabberd $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null) on 127.0.0.1:$E_PORT (pid $EJ_PID), extauth_pool_size $EXT_POOL"
	"${STORM[@]}" --quiet --port "$E_PORT" --domain internal.test --register \
		--password storm-pw -n "$USERS" -u "$USERS" -c 8 >"$WORK/register-ej" 2>&1 ||
		die "registering $USERS users on ejabberd failed: $(tail -3 "$WORK/register-ej")"
fi
echo "# helper $HELPER; $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the rows --------------------------------------------------------------

# row LABEL ROUND COUNT: one storm of COUNT logins for the row LABEL.
row() {
	local label=$1 round=$2 n=$3
	case $label in
	prosody/internal_plain)
		storm "$label" "$round" --port "$P_PORT" --domain plain.test \
			--password storm-pw -n "$n" -c "$C" -u "$USERS" --server-pid "$PROSODY" ;;
	prosody/internal_hashed)
		storm "$label" "$round" --port "$P_PORT" --domain hashed.test \
			--password storm-pw -n "$n" -c "$C" -u "$USERS" --server-pid "$PROSODY" ;;
	prosody/token)
		storm "$label" "$round" --port "$P_PORT" --domain token.test \
			--tokens "$CONF" -n "$n" -c "$C" -u "$TOKEN_USERS" --server-pid "$PROSODY" \
			--helpers-under "$SOCK_SERVER" ;;
	prosody/token+redis)
		storm "$label" "$round" --port "$P_PORT" --domain redis.test \
			--tokens "$RCONF" -n "$n" -c "$C" -u "$TOKEN_USERS" --server-pid "$PROSODY" \
			--helpers-under "$RSOCK_SERVER" --store-pid "$REDIS_PID" ;;
	ejabberd/internal)
		storm "$label" "$round" --port "$E_PORT" --domain internal.test \
			--password storm-pw -n "$n" -c "$C" -u "$USERS" --server-pid "$EJ_PID" ;;
	ejabberd/token)
		storm "$label" "$round" --port "$E_PORT" --domain token.test \
			--tokens "$CONF" -n "$n" -c "$C" -u "$TOKEN_USERS" --server-pid "$EJ_PID" \
			--helpers-under "$EJ_PID" ;;
	esac
}

ROWS=()
if [ "$WANT_PROSODY" -eq 1 ]; then
	ROWS+=(prosody/internal_plain prosody/internal_hashed prosody/token)
	[ "$REDIS_OK" -eq 1 ] && ROWS+=(prosody/token+redis)
fi
[ "$EJ_OK" -eq 1 ] && ROWS+=(ejabberd/internal ejabberd/token)
[ "${#ROWS[@]}" -gt 0 ] || die "nothing to run"

if [ "$SMOKE" -eq 1 ]; then
	. "$TOP/bench/storm-smoke.sh"
	finish
	exit
fi

# settle: let the sessions of the last storm go (see c2s_timeout above).
settle() {
	[ "$C2S_TIMEOUT" -le 30 ] && sleep $((C2S_TIMEOUT + 1))
	return 0
}

# A short warm-up per row: connections to the helpers open, caches warm.
for label in "${ROWS[@]}"; do
	row "$label" warm 300 >/dev/null
done

# Each round runs every row once, starting one row further on than the
# round before, so that no row always follows the same one.
nrows=${#ROWS[@]}
for round in $(seq 1 "$ROUNDS"); do
	for i in $(seq 0 $((nrows - 1))); do
		label=${ROWS[$(((i + round - 1) % nrows))]}
		n=$N
		[ "$label" = prosody/internal_hashed ] && n=$((N / 3))
		settle
		row "$label" "$round" "$n"
	done
done

echo
mkdir -p "$TOP/bench/out"
"$PY" "$TOP/bench/storm_report.py" "$RESULTS" "$N" "$C" "$ROUNDS" "$TOP/bench/out/storm.tsv"
status=$?
"$TOP/bench/plot.sh" --storm "$TOP/bench/out" \
	"prosody-token-auth $(sed -n 's/^VERSION = //p' "$TOP/Makefile"), $(date -u '+%Y-%m-%d'), $(nproc) CPUs, $N logins a row, $ROUNDS round(s)"
exit "$status"
