#!/bin/bash
# prosody-token-auth stress harness: many helpers at once, each fed a mix of
# requests, every answer checked.
#
#   tests/harness/stress.sh [options]                 (installed: prosody-token-auth-stress)
#
# Runs several helper processes over pipes (as ejabberd's pool does, either
# framing), or opens several connections to the socket of the installed
# service (generic framing, one helper per connection), and sends each a mix
# of requests: valid tokens, replays of accepted ones, expired tokens, bad
# signatures, another user's tokens, malformed and oversized requests, isuser
# requests, and tokens sent to two helpers at the same moment (races). It
# checks the exact number of yes and no answers of every helper and in all
# (every valid token accepted exactly once across all helpers, everything
# else refused), and detects a crash (an exit status other than 0, a signal,
# a connection dropped), a hang (an answer later than --timeout) and, for
# runs of a minute or more, a leak (the helpers' private resident memory,
# sampled over the run, must stay flat). It prints throughput and latency
# percentiles; its last line is "N passed, M failed" and it exits non-zero
# if anything failed.
#
# By default it makes its own throw-away secrets (gen-secrets), config and
# replay store in a temporary directory, removed at the end: it never touches
# a production store unless told to (--use-store). --store runs the helpers
# on another store, such as a Redis shared with other hosts.
#
# Options:
#   -p, --processes N     helper processes (pipes) or connections (socket)  [4]
#   -n, --requests N      requests per process                          [2000]
#   -d, --duration S      run for S seconds instead (a soak)
#   -r, --rate N          at most N requests per second per process  [no limit]
#   -w, --window N        requests outstanding per process; 1 is how
#                         servers use a helper                             [1]
#   -m, --mix LIST        weights, e.g. valid=30,replayed=10,expired=10,
#                         badsig=10,otheruser=10,malformed=10,oversized=2,
#                         isuser=15,race=3                 [that, the default]
#   -f, --framing F       generic, ejabberd, or mixed (alternate processes)
#                         for pipes                                    [mixed]
#   -s, --socket PATH     test a served socket (e.g. /run/prosody-token-auth/
#                         socket) instead of starting helpers; needs --config
#                         with the service's secrets
#   -c, --config FILE     take the secrets and token settings from FILE (it
#                         must be readable by you); for pipes the helpers get
#                         a private copy pointing at a throw-away store
#       --use-store       for pipes, use FILE's own replay store as it is
#       --store STORE     for pipes, the helpers' replay store: a directory
#                         (made if need be) or a Redis URL (redis://...,
#                         rediss://..., unix://...); its valid tokens stay
#                         recorded there for their lifetime
#       --domain D        domain of the test JIDs                 [example.org]
#       --helper PATH     the helper binary    [$HELPER, else the built one]
#       --log syslog|stderr  where the helpers log: stderr is kept in the
#                         work directory (one line per request)      [stderr]
#   -t, --timeout S       longest wait for one answer: longer is a hang   [10]
#       --sample S        seconds between memory samples     [duration / 20]
#       --leak-kib K      private memory growth allowed over a run      [512]
#       --leak-check      judge memory even in a run shorter than a minute
#       --progress        a line every 5 s on how the run goes (the default
#                         when the output is a terminal)
#       --keep            keep the work directory
#   -h, --help
#
# Examples:
#   tests/harness/stress.sh                             # 4 x 2000 requests, pipes
#   tests/harness/stress.sh -p 8 -d 600 -r 200          # a 10-minute soak
#   prosody-token-auth-stress -s /run/prosody-token-auth/socket \
#       -c my-copy-of-token-auth.conf -p 4 -n 500
#
# In socket mode the valid tokens are recorded in the service's own replay
# store and count against its replay_capacity for about two minutes.
#
# Needs bash, Python 3 with pyotp (Debian: python3 python3-pyotp), and for
# memory samples of socket helpers, ss (iproute2) and the right to see them.
set -u

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${HELPER:-}" ]; then
	if [ -x "$HARNESS_DIR/../../prosody-token-auth" ]; then
		HELPER=$HARNESS_DIR/../../prosody-token-auth
	else
		HELPER=prosody-token-auth
	fi
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

processes=4 requests=2000 duration=0 rate=0 window=1
mix="valid=30,replayed=10,expired=10,badsig=10,otheruser=10,malformed=10,oversized=2,isuser=15,race=3"
framing=mixed socket="" config="" use_store=0 store="" domain=example.org
log=stderr timeout=10 sample=0 leak_kib=512 leak_check=0 keep=0 progress=0
[ -t 1 ] && progress=5

usage() {
	sed -n '/^# Options:/,/^#   -h, --help/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
	echo "stress: $*" >&2
	echo "0 passed, 1 failed"
	exit 2
}

need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
	case $1 in
	-p | --processes) need_arg "$@"; processes=$2; shift ;;
	-n | --requests) need_arg "$@"; requests=$2; shift ;;
	-d | --duration) need_arg "$@"; duration=$2; shift ;;
	-r | --rate) need_arg "$@"; rate=$2; shift ;;
	-w | --window) need_arg "$@"; window=$2; shift ;;
	-m | --mix) need_arg "$@"; mix=$2; shift ;;
	-f | --framing) need_arg "$@"; framing=$2; shift ;;
	-s | --socket) need_arg "$@"; socket=$2; shift ;;
	-c | --config) need_arg "$@"; config=$2; shift ;;
	--use-store) use_store=1 ;;
	--store) need_arg "$@"; store=$2; shift ;;
	--domain) need_arg "$@"; domain=$2; shift ;;
	--helper) need_arg "$@"; HELPER=$2; shift ;;
	--log) need_arg "$@"; log=$2; shift ;;
	-t | --timeout) need_arg "$@"; timeout=$2; shift ;;
	--sample) need_arg "$@"; sample=$2; shift ;;
	--leak-kib) need_arg "$@"; leak_kib=$2; shift ;;
	--leak-check) leak_check=1 ;;
	--keep) keep=1 ;;
	--progress) progress=5 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option: $1" ;;
	esac
	shift
done

is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
for v in processes requests window leak_kib; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || [ "$v" = leak_kib ] ||
		die "--$v must be a whole number above 0"
done
for v in duration rate timeout sample; do
	is_number "${!v}" || die "--$v must be a number"
done
case $framing in generic | ejabberd | mixed) ;; *) die "--framing: generic, ejabberd or mixed" ;; esac
case $log in syslog | stderr) ;; *) die "--log: syslog or stderr" ;; esac
if [ -n "$socket" ]; then
	[ -n "$config" ] || die "--socket needs --config FILE with the service's secrets"
	[ -S "$socket" ] || die "$socket: not a socket"
	framing=generic
fi
[ "$use_store" -eq 0 ] || [ -n "$config" ] || die "--use-store needs --config"
[ -z "$store" ] || [ "$use_store" -eq 0 ] || die "--store and --use-store: choose one"
[ -z "$store" ] || [ -z "$socket" ] || die "--store is for pipes: a served socket has its own store"
case $store in
"" | /* | redis://* | rediss://* | unix://*) ;;
*) die "--store: an absolute directory or a redis://, rediss:// or unix:// URL" ;;
esac
[ -z "$config" ] || [ -r "$config" ] || die "$config: cannot read it"
if [ -z "$socket" ]; then
	command -v "$HELPER" >/dev/null 2>&1 || die "no helper at $HELPER (set HELPER or --helper)"
	HELPER=$(command -v "$HELPER")
fi
"$PY" -c 'import pyotp' 2>/dev/null || die "needs Python 3 with pyotp (Debian: python3-pyotp)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pta-stress.XXXXXX") || die "cannot make a work directory"
cleanup() {
	if [ "$keep" -eq 1 ]; then
		echo "stress: work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The helpers' config: throw-away secrets, or a private copy of the given
# config whose replay store is a throw-away one (unless --use-store). The
# store is sized for the run: every valid token stays recorded for about
# two minutes.
if [ "$duration" != 0 ]; then
	if [ "$rate" != 0 ]; then
		capacity=$("$PY" -c "print(max(100000, int(2 * $rate * $processes * 150)))")
	else
		capacity=4000000
	fi
else
	capacity=$((processes * requests * 2 + 100000))
fi
[ "$capacity" -le 100000000 ] || capacity=100000000
CONF=$WORK/token-auth.conf
umask 077
# The store's lines: a directory is sized for the run; Redis by its
# maxmemory.
[ -n "$store" ] || store=$WORK/replay
case $store in
/*) store_lines="replay_store = $store
replay_capacity = $capacity" ;;
*) store_lines="replay_store = $store" ;;
esac
if [ -n "$socket" ] || [ "$use_store" -eq 1 ]; then
	CONF=$config
elif [ -n "$config" ]; then
	# Its own store's lines go (with a directory, its Redis keys too).
	case $store in
	/*) drop='replay_store|replay_capacity|replay_redis_[a-z_]+' ;;
	*) drop='replay_store|replay_capacity' ;;
	esac
	grep -vE "^[[:space:]]*($drop)[[:space:]]*=" "$config" >"$WORK/body"
	# Global keys must stay before the first section.
	awk -v lines="$store_lines" '
		!done && /^[[:space:]]*\[/ { print lines; done = 1 }
		{ print }
		END { if (!done) print lines }
	' "$WORK/body" >"$CONF"
	rm -f "$WORK/body"
else
	"$HELPER" gen-secrets >"$CONF" 2>"$WORK/gen-secrets.err" ||
		die "$HELPER gen-secrets failed: $(head -c 300 "$WORK/gen-secrets.err")"
	echo "$store_lines" >>"$CONF"
fi
chmod 600 "$CONF" 2>/dev/null
if [ -z "$socket" ]; then
	"$HELPER" --config "$CONF" check-config >"$WORK/check-config" 2>&1 ||
		die "the helper refuses the config: $(grep -m3 'PROBLEM\|prosody-token-auth:' "$WORK/check-config" | head -c 500)"
	# A Redis store that holds no record yet refuses logins for one token
	# lifetime after its first: every valid token would be refused.
	if grep -q 'no nonce recorded yet\|a new record of nonces' "$WORK/check-config"; then
		die "$(grep -m1 'no nonce recorded yet\|a new record of nonces' "$WORK/check-config" | sed 's/^ *//'); wait that long, or, on a Redis that never held nonces, set its key by hand (see replay_store in prosody-token-auth(1))"
	fi
fi


if [ -n "$socket" ]; then
	target="socket $socket"
else
	target="$HELPER, pipes ($framing framing)"
fi
if [ "$duration" != 0 ]; then
	amount="for $duration s"
else
	amount="$requests requests each"
fi
if [ -n "$socket" ]; then what=connections; else what=processes; fi
pace=""
[ "$rate" = 0 ] || pace=", at most $rate requests/s each"
echo "stress: $processes $what, $target, $amount, window $window$pace"
echo "stress: mix $mix"
[ -n "$socket" ] || echo "stress: config $CONF"

# The driver runs in the background so that a signal to the harness stops
# it too (its helpers then see end of input and exit).
"$PY" "$HARNESS_DIR/stress_driver.py" processes="$processes" requests="$requests" \
	duration="$duration" rate="$rate" window="$window" mix="$mix" \
	framing="$framing" socket="$socket" domain="$domain" \
	timeout="$timeout" leak_kib="$leak_kib" leak_check="$leak_check" \
	work="$WORK" \
	helper="${HELPER:-}" conf="$CONF" log="$log" sample="$sample" \
	harness_dir="$HARNESS_DIR" progress="$progress" &
driver=$!
trap 'kill "$driver" 2>/dev/null; wait "$driver" 2>/dev/null
	echo "stress: interrupted"; echo "0 passed, 1 failed"; exit 130' INT TERM
wait "$driver"
status=$?
trap 'exit 130' INT TERM

passed=0 failed=0
if [ -s "$WORK/counts" ]; then
	read -r passed failed <"$WORK/counts"
else
	echo "FAIL the driver ended without a result (status $status)"
	failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
