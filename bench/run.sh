#!/bin/bash
# The benchmarks ('make bench'): every figure measured side by side in one
# run, each the best of a few tries, then the ratios and PASS/MISS per target.
#
#   bench/run.sh [--quick]          (--quick: fewer requests and tries)
#
# Figures (requests are valid tokens, each a fresh nonce, so every helper
# answer includes the replay store's write transaction):
#   - the verification floor: auth_check() alone, in process (bench/
#     verify_floor.c, linking src/ without main.c and cli.c);
#   - the transport floor: a helper that answers yes to every frame
#     (bench/yes_helper.c), pipelined and ping-pong;
#   - the helper over pipes (both framings), a pseudo-terminal, and the Unix
#     socket as the socket unit runs it (systemd-socket-activate --accept
#     --inetd, one helper per connection, one long-lived connection);
#   - the store on Redis, with a redis-server of the bench's own on
#     loopback: a bare round trip (PING, bench/redis_ping.c), verification
#     and store in process (one nonce a round trip, and 64), and the helper
#     over pipes, to Redis over TCP and over its Unix socket;
#   - a plain Python helper of the same contract (bench/python_helper.py,
#     replay protection in SQLite);
#   - the releases 1.1.0 and 2.0.0, built from this checkout's history (in
#     bench/out/release-COMMIT, once), beside today's helper: verification
#     and store in process (their own bench/verify_floor), and the helper
#     over a pipe, pipelined and ping-pong; each try measures every
#     version in turn, so that a busy machine slows them alike;
#   - the helper's peak resident memory after a million requests;
#   - instructions per valid request (callgrind, marginal: 1200 minus 200
#     requests, so that start-up cancels), the helper and the floor;
#   - JWTs in every algorithm: the signature alone, jwt_verify, and the
#     helper over a pipe, pipelined and ping-pong, as today's tokens are
#     measured (bench/jwt_floor.c makes the keys and the requests, which
#     the load generator reads).
# Ping-pong runs (one request outstanding, as servers use a helper) are
# pinned, load generator and helper, to one CPU (taskset).
#
# The valid tokens of a run are for as many JIDs as half its requests, so
# that a JID holds one or two live nonces, as in a storm of reconnections
# (many users, a token or two each; the default replay_per_user is 30). A
# store's cost per login grows with the live nonces of the login's JID
# (the LMDB store walks them on each record), so 1000 JIDs for 150,000
# requests, over a hundred live nonces each, measured the store far above
# a real storm's: that one row stays, "1000 JIDs", to keep the cost in
# sight. The same spread for every version, and for the rows held to the
# LMDB helper's: Python, and JWTs (bench/jwt_floor.c --emit, N/2 JIDs;
# they had 500). The Redis rows keep 1000 JIDs, and are held to the
# 1000-JID row: on Redis each new JID is a key of its own, a cost the
# Redis targets were not set with. The memory and instruction counts keep
# 1000 JIDs too: the figures they are held to (2.0.0's) were taken so.
#
# Everything it makes goes to bench/out/ (results in bench/out/results.txt).
# The releases are skipped, with a line saying why, when this is not a git
# checkout or a release does not build; building them takes some seconds
# the first time.
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
OUT=$TOP/bench/out
HELPER=$TOP/prosody-token-auth
LOADGEN=$OUT/loadgen
FLOOR=$OUT/verify_floor
JWT_FLOOR=$OUT/jwt_floor
YES=$OUT/yes_helper
REDIS_PING=$OUT/redis_ping
PY=/usr/bin/python3
RUN=$OUT/run
RESULTS=$OUT/results.txt

quick=0
[ "${1:-}" = --quick ] && quick=1
if [ "$quick" -eq 1 ]; then
	TRIES=1 PIPE_N=30000 PP_N=10000 PY_PIPE_N=3000 PY_PP_N=2000 RSS_N=200000
	JWT_N=3000 STORE_N=30000
else
	TRIES=3 PIPE_N=150000 PP_N=40000 PY_PIPE_N=15000 PY_PP_N=8000 RSS_N=1000000
	JWT_N=20000 STORE_N=100000
fi
# the JIDs of a run of N requests: one or two live nonces each
jids() { echo $(($1 / 2)); }
# The releases beside today's helper, and the commits that made them.
RELEASES="1.1.0 2.0.0"
declare -A RELEASE_COMMIT=([1.1.0]=ef88a67 [2.0.0]=70ff3d9)

for f in "$HELPER" "$LOADGEN" "$FLOOR" "$JWT_FLOOR" "$YES" "$REDIS_PING"; do
	[ -x "$f" ] || { echo "bench: $f missing: run 'make bench'" >&2; exit 1; }
done
rm -rf "$RUN"
mkdir -p "$RUN"
exec > >(tee "$RESULTS") 2>&1

CPU=$(($(nproc) - 1))
PIN="taskset -c $CPU"
command -v taskset >/dev/null || PIN=""

# The bench's own secrets; every measured run gets a fresh replay store,
# sized for it (the store reserves its map, bounded by replay_capacity, on
# disk).
CONF=$RUN/bench.conf
STORE=$RUN/store
"$HELPER" gen-secrets >"$CONF"
{
	echo "replay_store = $STORE"
	echo "replay_capacity = $((RSS_N + 100000))"
	# (the 1000-JID row holds over a hundred live nonces a JID)
	echo "replay_per_user = 100000"
} >>"$CONF"
chmod 600 "$CONF"
# rcli ARGS...: redis-cli to the bench's Redis (while it runs).
rcli() { env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
# redis_cpu: the seconds of CPU the bench's Redis has used (INFO cpu).
redis_cpu() {
	rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'
}
fresh_store() {
	local info
	rm -rf "$STORE" "$STORE"-* "$RUN"/python-store*
	# Redis emptied, and marked as a store that lost nothing, on this
	# server (the man page, Redis).
	[ -n "${RPORT:-}" ] || return 0
	info=$(rcli INFO server | tr -d '\r'; rcli INFO replication | tr -d '\r')
	{ rcli FLUSHALL && rcli ZADD pta:meta 0 since &&
		rcli SET pta:id "$(sed -n 's/^run_id://p' <<<"$info") $(sed -n 's/^master_replid://p' <<<"$info")"; } >/dev/null
}

# --- helpers ------------------------------------------------------------

declare -A R # results: R[label.key]=value

field() { # LINE KEY
	sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"
}

# once LABEL MODE COMMAND...: runs COMMAND (a loadgen line) once, on a
# fresh store, and keeps its figures as LABEL's if they are the first, or
# better than those kept: a higher rps (MODE rps) or a lower p50 (MODE p50).
once() {
	local label=$1 mode=$2 line kv
	shift 2
	fresh_store
	line=$("$@" 2>"$RUN/err") || {
		echo "bench: $label failed: $(head -c 300 "$RUN/err") $line" >&2
		return 1
	}
	if [ "$(field "$line" mismatches)" != 0 ] && [ -n "$(field "$line" mismatches)" ]; then
		echo "bench: $label: wrong answers: $line" >&2
		return 1
	fi
	if [ -n "${R[$label.rps]:-}" ]; then
		if [ "$mode" = rps ]; then
			awk -v a="$(field "$line" rps)" -v b="${R[$label.rps]}" 'BEGIN { exit !(a > b) }' || return 0
		else
			awk -v a="$(field "$line" p50_us)" -v b="${R[$label.p50_us]}" 'BEGIN { exit !(a < b) }' || return 0
		fi
	fi
	for kv in $line; do
		case $kv in *=*) R[$label.${kv%%=*}]=${kv#*=} ;; esac
	done
}

# best LABEL MODE COMMAND...: once, TRIES times.
best() {
	local i
	for ((i = 0; i < TRIES; i++)); do
		once "$@"
	done
	[ -n "${R[$1.rps]:-}" ]
}

# store_once LABEL FLOOR CONFIG: a verification with its commit, in process
# (FLOOR CONFIG --count STORE_N --store), on a fresh store; kept as LABEL's
# if the first or faster (rps: per second; p50_us: the mean time each).
store_once() {
	local line
	fresh_store
	line=$("$2" "$3" --count "$STORE_N" --store 2>"$RUN/err") || {
		echo "bench: $1 failed: $(head -c 300 "$RUN/err")" >&2
		return 1
	}
	awk -v a="$(field "$line" per_second)" -v b="${R[$1.rps]:-0}" 'BEGIN { exit !(a > b) }' || return 0
	R[$1.rps]=$(field "$line" per_second)
	R[$1.p50_us]=$(field "$line" us_each)
}

# row LABEL DESCRIPTION: a line of the report, and of $OUT/rows.tsv for the
# pictures (bench/plot.sh).
row() {
	local l=$1
	if [ -z "${R[$l.rps]:-}" ]; then
		printf '  %-58s %12s\n' "$2" "(not measured)"
		return
	fi
	printf '  %-58s %12.0f %9.2f %9.2f\n' "$2" "${R[$l.rps]}" "${R[$l.p50_us]:-0}" "${R[$l.p99_us]:-0}"
	printf '%s\t%s\t%s\t%s\t%s\n' "$l" "$2" "${R[$l.rps]}" "${R[$l.p50_us]:-0}" \
		"${R[$l.p99_us]:-0}" >>"$OUT/rows.tsv"
}

# inproc_row LABEL DESCRIPTION: the same for a figure taken in process
# (its p50 column: the mean time each).
inproc_row() {
	if [ -z "${R[$1.rps]:-}" ]; then
		printf '  %-58s %12s\n' "$2" "(not measured)"
		return
	fi
	printf '  %-58s %12.0f %9.3f %9s\n' "$2" "${R[$1.rps]}" "${R[$1.p50_us]}" "-"
	printf '%s\t%s\t%s\t-\t-\n' "$1" "$2" "${R[$1.rps]}" >>"$OUT/rows.tsv"
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

# --- the releases ----------------------------------------------------------

# release_dir VERSION: where that release is built.
release_dir() { echo "$OUT/release-${RELEASE_COMMIT[$1]}"; }

# release_build VERSION: the helper of a release, and its own verify_floor
# where its tree makes one, built from this checkout's history; once, and
# again only when missing.
release_build() {
	local c=${RELEASE_COMMIT[$1]} dir
	dir=$(release_dir "$1")
	if [ ! -x "$dir/prosody-token-auth" ]; then
		echo "building $1 ($c) from this checkout's history..."
		rm -rf "$dir"
		mkdir -p "$dir"
		if ! { git -C "$TOP" archive "$c" | tar -x -C "$dir" &&
			env -u MAKEFLAGS -u MFLAGS make -C "$dir" -j2 prosody-token-auth >"$dir.log" 2>&1; }; then
			echo "bench: $1 ($c) does not build (${dir#"$TOP"/}.log): not measured"
			return 1
		fi
	fi
	[ -x "$dir/bench/out/verify_floor" ] ||
		env -u MAKEFLAGS -u MFLAGS make -C "$dir" bench/out/verify_floor >>"$dir.log" 2>&1 ||
		echo "bench: $1's own bench/out/verify_floor does not build: its store in process not measured"
}

# release_config VERSION: a config that release accepts, with the bench's
# secrets and a store of its own (replay_per_user only where it is known).
release_config() {
	local dir
	dir=$(release_dir "$1")
	(
		umask 077
		{
			grep -E '^(otp_seed|token_secret)' "$CONF"
			echo "replay_store = $STORE-$1"
			echo "replay_capacity = $((RSS_N + 100000))"
			if grep -q '"replay_per_user"' "$dir/src/config.c"; then
				echo "replay_per_user = 100000"
			fi
		} >"$RUN/release-$1.conf"
	)
}

# --- the machine ------------------------------------------------------------

echo "prosody-token-auth benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "load average before: $(load_average)"
awk '$1 > 0.5 { print "bench: the machine is busy (load average " $1 "): figures will be noisy" }' /proc/loadavg
if [ -S /dev/log ]; then
	echo "syslog: /dev/log present (the helper logs a line per request to it)"
else
	echo "syslog: no /dev/log (the helper's log lines are dropped at once)"
fi
echo "tries per figure: $TRIES (best kept); ping-pong pinned to CPU $CPU"
echo

MEASURED="" # the releases built, to measure beside today's helper
if ! git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	echo "bench: not a git checkout: the releases, built from its history, not measured"
else
	for v in $RELEASES; do
		if ! git -C "$TOP" cat-file -e "${RELEASE_COMMIT[$v]}^{commit}" 2>/dev/null; then
			echo "bench: $v: commit ${RELEASE_COMMIT[$v]} is not in this checkout's history" \
				"(a shallow clone?): not measured"
		elif release_build "$v"; then
			release_config "$v"
			MEASURED+=" $v"
		fi
	done
fi

# --- the floors -----------------------------------------------------------------

echo "measuring the floors..."
keep=""
for ((i = 0; i < TRIES; i++)); do
	line=$("$FLOOR" "$CONF" --seconds 2)
	v=$(field "$line" per_second)
	[ -z "$keep" ] || awk -v a="$v" -v b="$keep" 'BEGIN { exit !(a > b) }' && keep=$v
done
R[floor.rps]=$keep
R[floor.p50_us]=$(awk -v v="$keep" 'BEGIN { printf "%.3f", 1e6 / v }')

best yes_pipe rps "$LOADGEN" --config "$CONF" --label yes --requests $((PIPE_N * 2)) \
	--window 128 --no-check -- "$YES"
best yes_pp p50 $PIN "$LOADGEN" --config "$CONF" --label yes --requests "$PP_N" \
	--window 1 --no-check -- "$YES"

# --- the helper ---------------------------------------------------------------

# Today's helper and the releases, each try every version in turn: a
# verification with its commit in process (each version's own verify_floor),
# and the helper over a pipe, pipelined and ping-pong. Labels: floorstore,
# pipe, pipe_pp for today's; the same with _VERSION for a release's.
echo "measuring the helper${MEASURED:+, beside$MEASURED}..."
for ((i = 0; i < TRIES; i++)); do
	for v in today $MEASURED; do
		if [ "$v" = today ]; then
			sfx="" helper=$HELPER conf=$CONF floor=$FLOOR
		else
			sfx=_$v helper=$(release_dir "$v")/prosody-token-auth
			conf=$RUN/release-$v.conf floor=$(release_dir "$v")/bench/out/verify_floor
		fi
		[ ! -x "$floor" ] || store_once "floorstore$sfx" "$floor" "$conf"
		once "pipe$sfx" rps "$LOADGEN" --config "$CONF" --users "$(jids "$PIPE_N")" \
			--requests "$PIPE_N" --window 128 -- "$helper" --config "$conf"
		once "pipe_pp$sfx" p50 $PIN "$LOADGEN" --config "$CONF" --users "$(jids "$PP_N")" \
			--requests "$PP_N" --window 1 -- "$helper" --config "$conf"
	done
done
# The heavy JIDs of earlier runs: 1000, each with up to HEAVY live nonces.
HEAVY=$(((PIPE_N + 1000) / 1000))
best pipe_heavy rps "$LOADGEN" --config "$CONF" --users 1000 --requests "$PIPE_N" \
	--window 128 -- "$HELPER" --config "$CONF"
best ej rps "$LOADGEN" --config "$CONF" --framing ejabberd --users "$(jids "$PIPE_N")" \
	--requests "$PIPE_N" --window 128 -- "$HELPER" --config "$CONF"
best ej_pp p50 $PIN "$LOADGEN" --config "$CONF" --framing ejabberd --users "$(jids "$PP_N")" \
	--requests "$PP_N" --window 1 -- "$HELPER" --config "$CONF"
best pty_pp p50 $PIN "$LOADGEN" --config "$CONF" --transport pty --users "$(jids "$PP_N")" \
	--requests "$PP_N" --window 1 -- "$HELPER" --config "$CONF"
best pty rps "$LOADGEN" --config "$CONF" --transport pty --users "$(jids "$PIPE_N")" \
	--requests "$PIPE_N" --window 32 -- "$HELPER" --config "$CONF"

if command -v systemd-socket-activate >/dev/null; then
	servers=()
	for s in free pinned; do
		rm -f "$RUN/socket-$s"
		if [ $s = pinned ]; then
			$PIN systemd-socket-activate --accept --inetd -l "$RUN/socket-$s" \
				"$HELPER" --config "$CONF" 2>>"$RUN/socket.log" &
		else
			systemd-socket-activate --accept --inetd -l "$RUN/socket-$s" \
				"$HELPER" --config "$CONF" 2>>"$RUN/socket.log" &
		fi
		servers+=($!)
	done
	for ((i = 0; i < 100; i++)); do
		[ -S "$RUN/socket-free" ] && [ -S "$RUN/socket-pinned" ] && break
		sleep 0.05
	done
	best sock rps "$LOADGEN" --config "$CONF" --socket "$RUN/socket-free" \
		--users "$(jids "$PIPE_N")" --requests "$PIPE_N" --window 128
	best sock_pp p50 $PIN "$LOADGEN" --config "$CONF" --socket "$RUN/socket-pinned" \
		--users "$(jids "$PP_N")" --requests "$PP_N" --window 1
	kill "${servers[@]}" 2>/dev/null
	wait "${servers[@]}" 2>/dev/null
else
	echo "bench: no systemd-socket-activate (Debian package systemd): socket not measured"
fi

# --- the store on Redis -------------------------------------------------------

# A redis-server of the bench's own (loopback, no persistence), and the
# bench's secrets with it as the store, over TCP and over its Unix socket.
RPORT=""
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	RPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$RUN/redis"
	redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$RUN/redis" \
		--save '' --appendonly no --unixsocket "$RUN/redis/redis.sock" \
		--unixsocketperm 700 --daemonize no --logfile "$RUN/redis/redis.log" &
	RPID=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(rcli PING 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
	for t in tcp unix; do
		grep -E '^(otp_seed|token_secret)' "$CONF" >"$RUN/redis-$t.conf"
		echo "replay_per_user = 100000" >>"$RUN/redis-$t.conf"
		chmod 600 "$RUN/redis-$t.conf"
	done
	echo "replay_store = redis://127.0.0.1:$RPORT" >>"$RUN/redis-tcp.conf"
	echo "replay_store = unix://$RUN/redis/redis.sock" >>"$RUN/redis-unix.conf"
	fresh_store
	echo "measuring the store on Redis ($(redis-server --version | cut -d' ' -f3))..."
	for t in tcp unix; do
		if [ $t = tcp ]; then where=(--tcp 127.0.0.1 "$RPORT"); else where=(--unix "$RUN/redis/redis.sock"); fi
		best "ping_$t" rps "$REDIS_PING" "${where[@]}" --count $((PIPE_N * 4)) --window 64
		best "ping_${t}_pp" p50 $PIN "$REDIS_PING" "${where[@]}" --count "$PP_N" --window 1
		for b in 1 64; do
			fresh_store
			line=$("$FLOOR" "$RUN/redis-$t.conf" --count $((PP_N * b / 4 + PP_N / 2)) --store --batch $b)
			R[rfloor_${t}_$b.rps]=$(field "$line" per_second)
			R[rfloor_${t}_$b.p50_us]=$(field "$line" us_each)
		done
		# (1000 JIDs, as the Redis targets were set with)
		best "redis_$t" rps "$LOADGEN" --config "$CONF" --users 1000 \
			--requests "$PIPE_N" --window 128 -- "$HELPER" --config "$RUN/redis-$t.conf"
		best "redis_${t}_pp" p50 $PIN "$LOADGEN" --config "$CONF" --users 1000 \
			--requests "$PP_N" --window 1 -- "$HELPER" --config "$RUN/redis-$t.conf"
		# Redis's CPU per login, pipelined: its own count of user and
		# system time over a run (the load generator's warm-up of 1000
		# logins included), the least of TRIES runs (noise only adds),
		# and what INFO commandstats gives the commands alone in that
		# run.
		for ((i = 0; i < TRIES; i++)); do
			fresh_store
			rcli CONFIG RESETSTAT >/dev/null
			c0=$(redis_cpu)
			"$LOADGEN" --config "$CONF" --users 1000 --requests "$PIPE_N" --window 128 \
				-- "$HELPER" --config "$RUN/redis-$t.conf" >/dev/null 2>&1
			c1=$(redis_cpu)
			cpu=$(awk -v a="$c0" -v b="$c1" -v n=$((PIPE_N + 1000)) 'BEGIN { printf "%.2f", (b - a) * 1e6 / n }')
			awk -v a="$cpu" -v b="${R[rcpu_$t]:-}" 'BEGIN { exit !(b == "" || a < b) }' || continue
			R[rcpu_$t]=$cpu
			R[rcmd_$t]=$(rcli INFO commandstats | tr -d '\r' | awk -F'usec=' -v n=$((PIPE_N + 1000)) \
				'/^cmdstat_/ { split($2, f, ","); s += f[1] } END { printf "%.2f", s / n }')
		done
	done
	# What a live nonce costs Redis: its memory before and after many.
	fresh_store
	before=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
	"$FLOOR" "$RUN/redis-unix.conf" --count 100000 --store --batch 64 >/dev/null
	after=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
	R[redis_bytes]=$(((after - before) / 100000))
	kill "$RPID"
	wait "$RPID" 2>/dev/null
	RPORT=""
else
	echo "bench: no redis-server (Debian package redis-server): the Redis store not measured"
fi

# --- the Python helper ----------------------------------------------------------

if "$PY" -c 'import pyotp' 2>/dev/null; then
	echo "measuring the Python helper..."
	best py rps "$LOADGEN" --config "$CONF" --users "$(jids "$PY_PIPE_N")" \
		--requests "$PY_PIPE_N" --warmup 200 \
		--window 128 -- "$PY" "$TOP/bench/python_helper.py" --config "$CONF" \
		--store "$RUN/python-store"
	best py_pp p50 $PIN "$LOADGEN" --config "$CONF" --users "$(jids "$PY_PP_N")" \
		--requests "$PY_PP_N" --warmup 200 \
		--window 1 -- "$PY" "$TOP/bench/python_helper.py" --config "$CONF" \
		--store "$RUN/python-store"
else
	echo "bench: no pyotp (Debian package python3-pyotp): the Python helper not measured"
fi

# --- memory after a million requests ----------------------------------------

echo "measuring memory after $RSS_N requests..."
fresh_store
line=$("$LOADGEN" --config "$CONF" --requests "$RSS_N" --warmup 0 --window 128 \
	-- "$HELPER" --config "$CONF")
for kv in $line; do
	case $kv in *=*) R[rss.${kv%%=*}]=${kv#*=} ;; esac
done
# 2.0.0's, the figure the target holds today's to, in the same run
case " $MEASURED " in *" 2.0.0 "*)
	fresh_store
	line=$("$LOADGEN" --config "$CONF" --requests "$RSS_N" --warmup 0 --window 128 \
		-- "$(release_dir 2.0.0)/prosody-token-auth" --config "$RUN/release-2.0.0.conf")
	for kv in $line; do
		case $kv in *=*) R[rss_2.0.0.${kv%%=*}]=${kv#*=} ;; esac
	done
	;;
esac
fresh_store
line=$("$LOADGEN" --config "$CONF" --requests "$RSS_N" --warmup 0 --window 128 \
	--mix isuser -- "$HELPER" --config "$CONF")
for kv in $line; do
	case $kv in *=*) R[rss_isuser.${kv%%=*}]=${kv#*=} ;; esac
done

# --- instructions (callgrind) --------------------------------------------------

# instructions COMMAND...: the total of instructions callgrind counts.
instructions() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		--log-file="$RUN/callgrind.log" "$@" >/dev/null 2>&1
	sed -n 's/.*Collected : \([0-9,]*\).*/\1/p' "$RUN/callgrind.log" | tr -d ,
}
# helper_instructions REQUESTS WINDOW: callgrind's count for the helper
# answering REQUESTS valid tokens, WINDOW of them outstanding at a time.
# Without the sandbox, whose seccomp filter refuses valgrind's own system
# calls; it is set up once at start, so the marginal count is the same.
helper_instructions() {
	fresh_store
	"$LOADGEN" --config "$CONF" --requests "$1" --warmup 0 --window "$2" \
		-- valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		--log-file="$RUN/callgrind.log" "$HELPER" --config "$CONF" --no-sandbox >/dev/null &&
		sed -n 's/.*Collected : \([0-9,]*\).*/\1/p' "$RUN/callgrind.log" | tr -d ,
}
if command -v valgrind >/dev/null; then
	echo "counting instructions (callgrind)..."
	f200=$(instructions "$FLOOR" "$CONF" --count 200)
	f1200=$(instructions "$FLOOR" "$CONF" --count 1200)
	[ -n "$f200" ] && [ -n "$f1200" ] && R[ir.floor]=$(((f1200 - f200) / 1000))
	# One at a time (each login its own commit), and 16 outstanding (the
	# logins read together share a commit).
	for w in 1 16; do
		h200=$(helper_instructions 200 $w)
		h1200=$(helper_instructions 1200 $w)
		if [ -n "$h200" ] && [ -n "$h1200" ]; then
			R[ir.helper$w]=$(((h1200 - h200) / 1000))
		else
			echo "bench: callgrind could not count the helper, $w outstanding:" \
				"$(tail -n 3 "$RUN/callgrind.log" 2>/dev/null)"
		fi
	done
else
	echo "bench: no valgrind: instructions not counted"
fi

# --- JWTs ------------------------------------------------------------------------

# For each algorithm, in one run: OpenSSL's signature verification alone
# and jwt_verify, in process (bench/jwt_floor.c), and the helper over a
# pipe driven by the load generator as for today's tokens, pipelined and
# ping-pong (every token its own jti, recorded in LMDB), on the same keys.
# The floor and the helper take turns, TRIES times, each keeping its best:
# a shared VM's speed can drift by a third within minutes, and a floor
# measured minutes apart from the helper moved the ratio by as much. So
# HS256's pipelined run takes turns with one of today's tokens, both of
# PIPE_N requests (a run's store grows with it, and is part of its cost),
# and is judged against it. The tokens live an hour (jwt_max_lifetime set
# to match): the section takes minutes.
echo "measuring JWTs..."
JWT_DIR=$RUN/jwt
JWT_WARMUP=200
mkdir -p "$JWT_DIR"
JWT_ALGS="EdDSA ES256 RS256 PS256 HS256"
"$JWT_FLOOR" --seconds 0.3 --emit "$JWT_DIR" "$((JWT_N + JWT_WARMUP))" >/dev/null
"$JWT_FLOOR" --seconds 0.3 --only HS256 --emit "$JWT_DIR" "$((PIPE_N + JWT_WARMUP))" >/dev/null
for alg in $JWT_ALGS; do
	sed "s|^otp_seed.*||; s|^token_secret.*||" "$CONF" >"$JWT_DIR/$alg.conf"
	printf 'jwt_keys = %s\njwt_audience = xmpp:example.org\njwt_max_lifetime = 3600\n' \
		"$JWT_DIR/$alg.jwks" >>"$JWT_DIR/$alg.conf"
	chmod 600 "$JWT_DIR/$alg.conf"
done
# the greater of the figure kept as $1 and $2
higher() { awk -v a="${R[$1]:-0}" -v b="$2" 'BEGIN { print (b > a ? b : a) }'; }
for ((i = 0; i < TRIES; i++)); do
	"$JWT_FLOOR" --seconds "$((2 - quick))" >"$JWT_DIR/floor.txt"
	for alg in $JWT_ALGS; do
		R[jwt_floor_$alg]=$(higher "jwt_floor_$alg" \
			"$(awk -v a="$alg" '$1 == a { print $2 }' "$JWT_DIR/floor.txt")")
		R[jwt_verify_$alg]=$(higher "jwt_verify_$alg" \
			"$(awk -v a="$alg" '$1 == a { print $3 }' "$JWT_DIR/floor.txt")")
		n=$JWT_N
		if [ "$alg" = HS256 ]; then
			n=$PIPE_N
			once jwt_today rps "$LOADGEN" --config "$CONF" --users "$(jids "$PIPE_N")" \
				--requests "$PIPE_N" --window 128 -- "$HELPER" --config "$CONF"
		fi
		once "jwt_pipe_$alg" rps "$LOADGEN" --requests-from "$JWT_DIR/$alg.req" \
			--requests "$n" --warmup "$JWT_WARMUP" --window 128 \
			-- "$HELPER" --config "$JWT_DIR/$alg.conf"
		once "jwt_pp_$alg" p50 $PIN "$LOADGEN" --requests-from "$JWT_DIR/$alg.req" \
			--requests "$JWT_N" --warmup "$JWT_WARMUP" --window 1 \
			-- "$HELPER" --config "$JWT_DIR/$alg.conf"
	done
done

# --- the report -------------------------------------------------------------------

echo
echo "load average after: $(load_average)"
echo
printf '  %-58s %12s %9s %9s\n' "" "requests/s" "p50 us" "p99 us"
: >"$OUT/rows.tsv"
inproc_row floor "verification floor (in process)"
inproc_row floorstore "verification + replay store (in process)"
row yes_pipe "transport floor, pipe, pipelined"
row yes_pp "transport floor, pipe, ping-pong (pinned)"
row pipe "helper, pipe, pipelined"
row pipe_pp "helper, pipe, ping-pong (pinned)"
row pipe_heavy "helper, pipe, pipelined, 1000 JIDs ($HEAVY live nonces each)"
for v in $RELEASES; do
	inproc_row "floorstore_$v" "$v: verification + replay store (in process)"
	row "pipe_$v" "$v: helper, pipe, pipelined"
	row "pipe_pp_$v" "$v: helper, pipe, ping-pong (pinned)"
done
row ej "helper, pipe, ejabberd framing, pipelined"
row ej_pp "helper, pipe, ejabberd, ping-pong (pinned)"
row pty "helper, pty, pipelined (window 32)"
row pty_pp "helper, pty, ping-pong (pinned)"
row sock "helper, Unix socket, pipelined"
row sock_pp "helper, Unix socket, ping-pong (pinned)"
row ping_tcp "Redis PING, TCP, 64 a round trip"
row ping_tcp_pp "Redis PING, TCP, ping-pong (pinned)"
row ping_unix "Redis PING, Unix socket, 64 a round trip"
row ping_unix_pp "Redis PING, Unix socket, ping-pong (pinned)"
row rfloor_tcp_1 "verification + Redis (TCP), in process, 1 a trip"
row rfloor_tcp_64 "verification + Redis (TCP), in process, 64 a trip"
row rfloor_unix_1 "verification + Redis (Unix), in process, 1 a trip"
row rfloor_unix_64 "verification + Redis (Unix), in process, 64 a trip"
row redis_tcp "helper on Redis (TCP), pipe, pipelined"
row redis_tcp_pp "helper on Redis (TCP), pipe, ping-pong (pinned)"
row redis_unix "helper on Redis (Unix), pipe, pipelined"
row redis_unix_pp "helper on Redis (Unix), pipe, ping-pong (pinned)"
row py "Python helper, pipe, pipelined"
row py_pp "Python helper, pipe, ping-pong (pinned)"
echo "  (pipelined: 128 requests outstanding; latencies include the queue;"
echo "   in process, the p50 column is the mean time per verification; valid"
echo "   tokens for as many JIDs as half the requests, one or two live nonces"
echo "   each, but where 1000 JIDs are said; 1.1.0 and 2.0.0 built from history)"
echo
kib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo "memory of the helper after $RSS_N valid tokens (all live in the replay store):"
echo "  peak RSS $(kib "${R[rss.hwm_kb]:-}"): private $(kib "${R[rss.anon_kb]:-}")," \
	"the replay store's pages $(kib "${R[rss.store_kb]:-}") (shared by all helpers," \
	"bounded by replay_capacity), the rest program and libraries"
echo "  peak RSS without the store's pages: $(kib "$(( ${R[rss.hwm_kb]:-0} - ${R[rss.store_kb]:-0} ))")"
echo "  the store's pages per live nonce: $(awk -v s="${R[rss.store_kb]:-0}" -v n="$RSS_N" \
	'BEGIN { printf "%.0f bytes", s * 1024 / n }')"
echo "memory of the helper after $RSS_N isuser requests (no store): peak" \
	"$(kib "${R[rss_isuser.hwm_kb]:-}"), private $(kib "${R[rss_isuser.anon_kb]:-}")"
if [ -n "${R[ir.floor]:-}" ]; then
	echo "instructions per valid request: helper ${R[ir.helper1]:-?} one at a time," \
		"${R[ir.helper16]:-?} 16 outstanding; verification floor ${R[ir.floor]}"
fi
echo

verdict() { # NAME VALUE TARGET-TEXT CONDITION(awk, on v)
	local ok
	if [ -z "$2" ]; then
		printf '  %-58s %10s  %-18s %s\n' "$1" "-" "$3" "MISS (not measured)"
		return
	fi
	ok=$(awk -v v="$2" "BEGIN { print ($4) ? \"PASS\" : \"MISS\" }")
	printf '  %-58s %10s  %-18s %s\n' "$1" "$2" "$3" "$ok"
}
ratio() { # A B: A / B, 2 decimals, empty if either is missing
	[ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

ideal=$(awk -v v="${R[floor.rps]}" -v t="${R[yes_pipe.rps]:-0}" 'BEGIN { if (t > 0) printf "%.0f", 1 / (1 / v + 1 / t) }')
echo "ratios (serial ideal 1/(1/verification + 1/transport) = ${ideal:-?} requests/s):"
printf '  %-58s %10s\n' "helper pipelined / verification floor" "$(ratio "${R[pipe.rps]:-}" "${R[floor.rps]}")"
printf '  %-58s %10s\n' "helper ping-pong / transport floor ping-pong (req/s)" "$(ratio "${R[pipe_pp.rps]:-}" "${R[yes_pp.rps]:-}")"
printf '  %-58s %10s\n' "helper / Python helper, pipelined" "$(ratio "${R[pipe.rps]:-}" "${R[py.rps]:-}")"
printf '  %-58s %10s\n' "helper / Python helper, ping-pong (pinned)" "$(ratio "${R[pipe_pp.rps]:-}" "${R[py_pp.rps]:-}")"
echo
echo "targets (PASS: met in this run; MISS: not met, or \"not measured\" when the figure could"
echo "not be taken, as said above; doc/performance.md says why each MISS is what it is):"
verdict "pipelined throughput / serial ideal" "$(ratio "${R[pipe.rps]:-}" "$ideal")" ">= 0.40" "v >= 0.40"
verdict "ping-pong p50, helper minus transport floor (us)" \
	"$(awk -v a="${R[pipe_pp.p50_us]:-}" -v b="${R[yes_pp.p50_us]:-}" 'BEGIN { if (a != "" && b != "") printf "%.2f", a - b }')" \
	"<= 2.00" "v <= 2.0"
verdict "helper / Python helper, pipelined" "$(ratio "${R[pipe.rps]:-}" "${R[py.rps]:-}")" ">= 8" "v >= 8"
verdict "helper / Python helper, ping-pong pinned" "$(ratio "${R[pipe_pp.rps]:-}" "${R[py_pp.rps]:-}")" ">= 3" "v >= 3"
verdict "instructions per valid request / floor's, one at a time" \
	"$(ratio "${R[ir.helper1]:-}" "${R[ir.floor]:-}")" "<= 1.3" "v <= 1.3"
verdict "instructions per valid request / floor's, 16 outstanding" \
	"$(ratio "${R[ir.helper16]:-}" "${R[ir.floor]:-}")" "<= 1.15" "v <= 1.15"
verdict "peak RSS after $RSS_N valid tokens (MiB)" \
	"$(awk -v k="${R[rss.hwm_kb]:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" "<= 8" "v <= 8"
# Held to 2.0.0's, measured in this run (in KiB: a tenth of a MiB is
# the whole difference); without it, to 2.0.0's own figures (its run of
# 2026-12-02, one million valid tokens): 6.0 MiB without the store's map,
# and 182 bytes of the store's pages per live nonce.
own_kib() { # PREFIX: peak RSS without the store's pages, in KiB
	awk -v k="${R[$1.hwm_kb]:-}" -v s="${R[$1.store_kb]:-}" \
		'BEGIN { if (k != "" && s != "") print k - s }'
}
per_nonce() { # PREFIX: the store's pages per live nonce, in bytes
	awk -v s="${R[$1.store_kb]:-}" -v n="$RSS_N" \
		'BEGIN { if (s != "" && s > 0) printf "%.0f", s * 1024 / n }'
}
if [ -n "$(own_kib rss_2.0.0)" ]; then
	verdict "  the same, without the replay store's shared map (KiB)" "$(own_kib rss)" \
		"<= $(own_kib rss_2.0.0) (2.0.0)" "v <= $(own_kib rss_2.0.0)"
	verdict "the replay store's pages per live nonce (bytes)" "$(per_nonce rss)" \
		"<= $(per_nonce rss_2.0.0) (2.0.0)" "v <= $(per_nonce rss_2.0.0)"
else
	verdict "  the same, without the replay store's shared map (MiB)" \
		"$(awk -v k="$(own_kib rss)" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" \
		"<= 6.0 (2.0.0)" "v <= 6.0"
	verdict "the replay store's pages per live nonce (bytes)" "$(per_nonce rss)" \
		"<= 182 (2.0.0)" "v <= 182"
fi
# against NAME VALUE OP BASE: a target of today's VALUE against 1.1.0's
# BASE, in this run.
against() {
	if [ -z "$4" ]; then
		printf '  %-58s %10s  %-18s %s\n' "$1" "${2:--}" "$3 1.1.0's" "MISS (1.1.0 not measured)"
		return
	fi
	verdict "$1" "$2" "$3 $4 (1.1.0)" "v $3 $4"
}
echo
echo "the store against 1.1.0, built from history and measured in this run (2.0.0 in"
echo "brackets, where it was):"
against "verification with its commit, in process (us each)" "${R[floorstore.p50_us]:-}" \
	"<=" "${R[floorstore_1.1.0.p50_us]:-}"
echo "    (2.0.0: ${R[floorstore_2.0.0.p50_us]:--} us)"
against "helper, pipe, pipelined (requests/s)" "${R[pipe.rps]:-}" ">=" "${R[pipe_1.1.0.rps]:-}"
echo "    (2.0.0: ${R[pipe_2.0.0.rps]:--} requests/s)"
against "helper, pipe, ping-pong p50 (us, pinned)" "${R[pipe_pp.p50_us]:-}" \
	"<=" "${R[pipe_pp_1.1.0.p50_us]:-}"
echo "    (2.0.0: ${R[pipe_pp_2.0.0.p50_us]:--} us)"
if [ -n "${R[redis_tcp.rps]:-}${R[redis_unix.rps]:-}" ]; then
	echo
	echo "the store on Redis, 1000 JIDs, against the LMDB helper (pipelined: at least half"
	echo "the rate of its 1000-JID row; ping-pong: at most its p50, whose JIDs hold one or"
	echo "two live nonces, plus one bare Redis round trip plus 5 us):"
	for t in tcp unix; do
		verdict "helper on Redis ($t) / LMDB helper, pipelined, 1000 JIDs" \
			"$(ratio "${R[redis_$t.rps]:-}" "${R[pipe_heavy.rps]:-}")" ">= 0.50" "v >= 0.5"
		verdict "ping-pong p50 on Redis ($t) - LMDB p50 - PING p50 (us)" \
			"$(awk -v a="${R[redis_${t}_pp.p50_us]:-}" -v b="${R[pipe_pp.p50_us]:-}" -v c="${R[ping_${t}_pp.p50_us]:-}" \
				'BEGIN { if (a != "" && b != "" && c != "") printf "%.2f", a - b - c }')" "<= 5.00" "v <= 5.0"
		verdict "Redis CPU per login ($t), pipelined (us, INFO cpu)" "${R[rcpu_$t]:-}" "<= 6.00" "v <= 6.0"
		echo "    (of which its commands, INFO commandstats: ${R[rcmd_$t]:-?} us)"
	done
	echo "  Redis's memory per live nonce (its key, and its share of its JID's count):" \
		"${R[redis_bytes]:-?} bytes"
fi
echo
echo "JWTs (floor: the signature alone, OpenSSL, in process; jwt_verify in process;"
echo "the helper over a pipe as today's tokens above, each jti recorded; per second,"
echo "but ping-pong: its p50 in us, beside today's token's, pinned, ${R[pipe_pp.p50_us]:-?} us):"
printf '  %-8s %12s %12s %12s %12s %12s\n' alg floor jwt_verify pipelined ping-pong "pp - today"
for alg in $JWT_ALGS; do
	printf '  %-8s %12s %12s %12s %12s %12s\n' "$alg" "${R[jwt_floor_$alg]:--}" \
		"${R[jwt_verify_$alg]:--}" "${R[jwt_pipe_$alg.rps]:--}" \
		"${R[jwt_pp_$alg.p50_us]:--}" \
		"$(awk -v a="${R[jwt_pp_$alg.p50_us]:-}" -v b="${R[pipe_pp.p50_us]:-}" \
			'BEGIN { if (a != "" && b != "") printf "%.2f", a - b; else print "-" }')"
done
echo "  (pp - today: what a JWT adds to a login's time over today's token; the"
echo "   signature alone takes 1e6 / floor us. The issue sets no ping-pong target."
echo "   HS256 pipelined: $PIPE_N requests, in turn with today's tokens, ${R[jwt_today.rps]:-?}/s.)"
for alg in EdDSA ES256 RS256; do
	verdict "JWT $alg: helper pipelined / signature floor" \
		"$(ratio "${R[jwt_pipe_$alg.rps]:-}" "${R[jwt_floor_$alg]:-}")" ">= 0.85" "v >= 0.85"
done
verdict "JWT HS256: helper pipelined / helper with today's tokens" \
	"$(ratio "${R[jwt_pipe_HS256.rps]:-}" "${R[jwt_today.rps]:-}")" ">= 0.60" "v >= 0.60"
# The pictures, with the targets marked: the helper pipelined at 0.40 of
# the serial ideal, its ping-pong p50 at most the transport's plus 2 us.
echo
bench/plot.sh "$OUT" "$(awk -v i="${ideal:-0}" 'BEGIN { printf "%.0f", 0.40 * i }')" \
	"$(awk -v t="${R[yes_pp.p50_us]:-0}" 'BEGIN { printf "%.2f", t + 2 }')" \
	"prosody-token-auth $(sed -n 's/^VERSION = //p' Makefile), $(date -u '+%Y-%m-%d'), $(nproc) CPUs"
echo "results also in ${RESULTS#"$TOP"/}"
