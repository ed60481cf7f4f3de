# shellcheck shell=bash disable=SC2034 # it sets variables for the scripts that source it
# Shared by the Redis suites: throw-away redis-server and redis-sentinel
# processes on 127.0.0.1 (free high ports, a directory each under $WORK, no
# persistence unless asked), never the system's Redis or its port 6379.
# Source it after tests/lib/lib.sh; do not run it.
#
# The same suites run against Valkey (Debian 13's valkey-server) when the
# environment names its programs:
#   REDIS_SERVER    the server (default redis-server; valkey-server)
#   REDIS_SENTINEL  the sentinel (default: the server's, e.g. valkey-sentinel)
#   REDIS_CLI       the client (default: the server's, e.g. valkey-cli)
#
# Every server is started with spawn and stopped by its PID; a server
# stopped early is struck off cleanup's list, so that its PID, once reused
# by another process, is never signalled.

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_SENTINEL=${REDIS_SENTINEL:-${REDIS_SERVER%-server}-sentinel}
REDIS_CLI=${REDIS_CLI:-${REDIS_SERVER%-server}-cli}
# REDIS_KIND: Redis or Valkey, as the server names itself (and check-config
# names it); the Debian package that brings it, for a skip's reason.
case $("$REDIS_SERVER" --version 2>/dev/null) in
[Vv]alkey*) REDIS_KIND=Valkey REDIS_PACKAGES="valkey-server, valkey-tools, valkey-sentinel" ;;
*) REDIS_KIND=Redis REDIS_PACKAGES="redis-server, redis-sentinel" ;;
esac
REDIS_VERSION=$("$REDIS_SERVER" --version 2>/dev/null | sed -n 's/.* v=\([0-9.]*\).*/\1/p')

REDIS_ADMIN_PASSWORD=admin-$RANDOM$RANDOM
# redis-cli takes it from the environment, never from its command line.
export REDISCLI_AUTH=$REDIS_ADMIN_PASSWORD
# The helpers' ACL user: its password has characters a URL must encode.
REDIS_USER=pta
REDIS_USER_PASSWORD="u@s/er:$RANDOM$RANDOM"
REDIS_USER_PASSWORD_URL=$(printf '%s' "$REDIS_USER_PASSWORD" | sed 's/@/%40/g; s|/|%2F|g; s/:/%3A/g')
# The minimal ACL of the documentation (prosody-token-auth(1)): the keys
# under the prefix, and the commands the helper uses, in its script too.
REDIS_ACL="resetkeys ~pta:* resetchannels -@all +set +incr +decr +pexpireat
+get +del +exists +zadd +zrange +zscore +zrem +time +info +eval +wait +ping
+select +role"

# REDIS_HOST[NAME]: the loopback address server NAME listens on (127.0.0.1
# unless set before redis_start).
declare -A REDIS_PORT REDIS_PID REDIS_DIR REDIS_TLS REDIS_HOST

# redis_need: whether the server and its client are here (else the caller
# skips, naming the packages: REDIS_PACKAGES).
redis_need() {
	command -v "$REDIS_SERVER" >/dev/null && command -v "$REDIS_CLI" >/dev/null
}

# redis_what: the server as a pass line names it ("Redis 7.0.15").
redis_what() { echo "$REDIS_KIND ${REDIS_VERSION:-?} ($REDIS_SERVER)"; }

# redis_free_port: a TCP port nobody listens on, 20000 to 60000.
redis_free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40001))
		[ "$port" -eq 6379 ] && continue
		if $PY -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$port" 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# unspawn PID: strike PID off cleanup's list (it was stopped already).
unspawn() {
	local p kept=()
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || kept+=("$p")
	done
	pids=("${kept[@]}")
}

# rcli NAME ARGS...: redis-cli to server NAME as its administrator (over
# TLS, not verified, to a server that speaks only TLS).
rcli() {
	local name=$1 tls=()
	shift
	[ -z "${REDIS_TLS[$name]:-}" ] || tls=(--tls --insecure)
	"$REDIS_CLI" "${tls[@]}" -h "${REDIS_HOST[$name]:-127.0.0.1}" -p "${REDIS_PORT[$name]}" \
		--no-auth-warning "$@"
}

redis_up() { [ "$(rcli "$1" PING 2>/dev/null)" = PONG ]; }

# redis_start NAME [DIRECTIVE VALUE...]: start server NAME (on the port it
# had, if it ran before, or REDIS_PORT[NAME] if set), with its Unix socket
# at ${REDIS_DIR[NAME]}/redis.sock, the helpers' ACL user, and each further
# "DIRECTIVE VALUE" as a line of its config. With "port 0 tls-port PORT",
# it speaks TLS only, on REDIS_PORT[NAME] = PORT.
redis_start() {
	local name=$1 dir port a
	shift
	for a in "$@"; do
		[ "$a" = tls-port ] && REDIS_TLS[$name]=1
	done
	dir=$WORK/redis-$name
	mkdir -p "$dir"
	port=${REDIS_PORT[$name]:-$(redis_free_port)}
	{
		echo "port $port"
		echo "bind ${REDIS_HOST[$name]:-127.0.0.1}"
		echo "dir $dir"
		echo "unixsocket $dir/redis.sock"
		echo "unixsocketperm 700"
		echo "requirepass $REDIS_ADMIN_PASSWORD"
		echo "save \"\""
		echo "appendonly no"
		echo "logfile $dir/redis.log"
		echo "daemonize no"
		echo "enable-debug-command local"
		# A replica's full resynchronisation starts at once (by default
		# 5 s later, during which WAIT cannot be met).
		echo "repl-diskless-sync-delay 0"
		# shellcheck disable=SC2086 # the ACL is a list of words
		echo "user $REDIS_USER reset on >$REDIS_USER_PASSWORD" $REDIS_ACL
		while [ $# -ge 2 ]; do
			echo "$1 $2"
			shift 2
		done
	} >"$dir/redis.conf"
	spawn "$REDIS_SERVER" "$dir/redis.conf"
	REDIS_PID[$name]=$!
	REDIS_PORT[$name]=$port
	REDIS_DIR[$name]=$dir
	wait_for 10 redis_up "$name" && return 0
	echo "# $name did not answer on port $port within 10 s; its log ends:"
	tail -n 5 "$dir/redis.log" 2>/dev/null | sed 's/^/#   /'
	return 1
}

# redis_stop NAME [SIGNAL]: stop server NAME and wait for it.
redis_stop() {
	local pid=${REDIS_PID[$1]}
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	kill -CONT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unspawn "$pid"
	REDIS_PID[$1]=""
}

# redis_seed NAME [DB]: mark server NAME's database DB as holding every
# nonce ever recorded, on this server (a Redis that never held one, as the
# documentation says); otherwise the helpers refuse logins for the first
# record lifetime.
redis_seed() {
	local info id
	info=$(rcli "$1" INFO server | tr -d '\r'; rcli "$1" INFO replication | tr -d '\r')
	id="$(sed -n 's/^run_id:\([0-9a-f]*\)$/\1/p' <<<"$info") $(sed -n 's/^master_replid:\([0-9a-f]*\)$/\1/p' <<<"$info")"
	[ "$(rcli "$1" -n "${2:-0}" SET pta:id "$id")" = OK ] &&
		rcli "$1" -n "${2:-0}" ZADD pta:meta 0 since >/dev/null
}

# redis_url NAME [DB]: the helpers' URL of server NAME, over TCP.
redis_url() {
	echo "redis://$REDIS_USER:$REDIS_USER_PASSWORD_URL@127.0.0.1:${REDIS_PORT[$1]}/${2:-0}"
}

# redis_unix_url NAME [DB]: the same over its Unix socket.
redis_unix_url() {
	echo "unix://$REDIS_USER:$REDIS_USER_PASSWORD_URL@${REDIS_DIR[$1]}/redis.sock?db=${2:-0}"
}

# redis_config FILE URL [EXTRA LINES...]: the test secrets, with URL as the
# replay store.
redis_config() {
	local file=$1 url=$2 line
	shift 2
	{
		echo "otp_seed     = $OTP_SEED"
		echo "token_secret = $TOKEN_SECRET"
		echo "replay_store = $url"
		for line in "$@"; do
			echo "$line"
		done
	} >"$file"
	chmod 600 "$file"
}

# redis_tls_need: whether this build's hiredis has TLS (a rediss://
# replay_store is refused at start-up where it has not).
redis_tls_need() {
	printf 'otp_seed = %s\ntoken_secret = %s\nreplay_store = rediss://:x@localhost:1\n' \
		"$OTP_SEED" "$TOKEN_SECRET" >"$WORK/tls-probe.conf"
	chmod 600 "$WORK/tls-probe.conf"
	! $HELPER --config "$WORK/tls-probe.conf" check-config 2>&1 |
		grep -q 'rediss:// needs TLS, which this build'
}

# redis_tls_certs: in $WORK, a test CA (ca.crt) and two server
# certificates it signed: good.crt for localhost and 127.0.0.1, wrong.crt
# for another name (keys good.key, wrong.key).
redis_tls_certs() {
	(
		cd "$WORK" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt \
			-days 2 -subj "/CN=test CA" || exit 1
		for c in good:DNS:localhost,IP:127.0.0.1 wrong:DNS:wrong.example; do
			openssl req -newkey rsa:2048 -nodes -keyout "${c%%:*}.key" \
				-out "${c%%:*}.csr" -subj "/CN=${c%%:*}" || exit 1
			echo "subjectAltName=${c#*:}" >"${c%%:*}.ext"
			openssl x509 -req -in "${c%%:*}.csr" -CA ca.crt -CAkey ca.key \
				-CAcreateserial -out "${c%%:*}.crt" -days 2 \
				-extfile "${c%%:*}.ext" || exit 1
		done
	) >"$WORK/openssl.log" 2>&1
}

# redis_keys NAME [DB]: every key of server NAME's database DB, one a line.
redis_keys() {
	rcli "$1" -n "${2:-0}" --scan
}
