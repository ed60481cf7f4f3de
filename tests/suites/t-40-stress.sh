#!/bin/bash
# The stress harness, briefly: several helpers at once over pipes in both
# framings, pipelined, over a served socket, a short leak check; then the
# harness's own self-test against helpers that misbehave on purpose (it must
# see a wrong answer, a crash, a hang, a leak, a bad exit status, noise on
# stderr). Two runs on Redis (--store). HELPER may name another build.
. "$(dirname "$0")/../lib/lib.sh"

STRESS=$TOP/tests/harness/stress.sh

# stress NAME ARGS...: one harness run that must pass.
stress() {
	local name=$1 out status last
	shift
	out=$(HELPER=$HELPER timeout 120 bash "$STRESS" "$@" 2>&1)
	status=$?
	last=$(tail -n 1 <<<"$out")
	if [ "$status" -eq 0 ] && [[ $last =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
		pass "$name ($last; $(grep -o 'throughput: .*' <<<"$out"))"
	else
		fail "$name: status $status"
		grep -E '^(FAIL|stress:)' <<<"$out" | head -n 20
		tail -n 3 <<<"$out"
	fi
}

# stress_fails NAME PATTERN ARGS...: a harness run that must fail, saying
# PATTERN.
stress_fails() {
	local name=$1 pattern=$2 out status
	shift 2
	out=$(timeout 120 bash "$STRESS" "$@" 2>&1)
	status=$?
	if [ "$status" -eq 1 ] && grep -qE "$pattern" <<<"$out" &&
		[[ $(tail -n 1 <<<"$out") =~ ^[0-9]+\ passed,\ [1-9][0-9]*\ failed$ ]]; then
		pass "$name"
	else
		fail "$name: status $status, no /$pattern/ in:"
		tail -n 8 <<<"$out"
	fi
}

stress "8 processes, both framings, 2000 requests each" -p 8 -n 2000
stress "3 processes, ejabberd framing, pipelined (window 8)" -p 3 -n 1500 -f ejabberd -w 8
stress "2 processes, generic framing, pipelined (window 16)" -p 2 -n 1500 -f generic -w 16
# A soak is not silent: --progress (the default on a terminal) prints a line
# every 5 s.
out=$(HELPER=$HELPER timeout 120 bash "$STRESS" -p 2 -d 6 -r 100 --progress 2>&1)
grep -Eq '^ +5 s: [0-9]+ answers, [0-9]+/s, 0 of 2 helpers in trouble so far$' <<<"$out" &&
	pass "--progress: a line every 5 s on how the run goes" ||
	fail "--progress: $(grep -v '^ok' <<<"$out" | head -c 400)"
stress "2 processes for 4 s at 300 requests/s, memory judged" -p 2 -d 4 -r 300 --leak-check --sample 0.5

# A served socket, one helper per connection, as the socket unit runs it.
if command -v systemd-socket-activate >/dev/null; then
	CONF=$WORK/token-auth.conf
	$HELPER gen-secrets >"$CONF"
	echo "replay_store = $WORK/socket-replay" >>"$CONF"
	chmod 600 "$CONF"
	SOCK=$WORK/socket
	spawn systemd-socket-activate --accept --inetd -l "$SOCK" \
		"$HELPER" --config "$CONF" 2>>"$WORK/socket-activate.log"
	if wait_for 10 test -S "$SOCK"; then
		stress "4 connections to a served socket" -s "$SOCK" -c "$CONF" -p 4 -n 800
	else
		fail "systemd-socket-activate did not make $SOCK"
	fi
else
	skip "socket mode" "no systemd-socket-activate (Debian package systemd)"
fi

# The store on Redis (--store): the harness's helpers on one redis-server,
# over TCP and over its Unix socket.
. "$TOP/tests/lib/redis-lib.sh"
if redis_need; then
	if redis_start stress && redis_seed stress && redis_seed stress 1; then
		stress "4 processes on Redis over TCP, both framings, 1000 requests each" \
			-p 4 -n 1000 --store "$(redis_url stress)"
		stress "2 processes on Redis over its Unix socket, pipelined (window 16)" \
			-p 2 -n 1500 -w 16 --store "$(redis_unix_url stress 1)"
	else
		fail "redis-server started for the stress runs"
	fi
	redis_stop stress
	out=$(bash "$STRESS" -p 1 -n 10 --store "redis://:pw@127.0.0.1:$(redis_free_port)" 2>&1)
	grep -q 'stress: the helper refuses the config: .*PROBLEM: .*Connection refused' <<<"$out" &&
		pass "--store: a Redis that cannot be reached is said so before the run" ||
		fail "--store with Redis down: $(tail -n 2 <<<"$out")"
else
	skip "stress runs on Redis" "no redis-server (Debian package redis-server)"
fi

# The harness's self-test: helpers that misbehave on purpose.
cat >"$WORK/fake-helper" <<'EOF'
#!/usr/bin/python3
"""A helper that misbehaves as FAKE_MODE says: yes (answers yes to all),
crash (SIGSEGV at the 50th request), hang (stops at the 50th), leak (keeps
64 KiB per request), exit1 (exit status 1 at the end), noise (writes to
stderr). Subcommands go to the real helper."""
import os, resource, signal, sys, time

if len(sys.argv) > 1 and sys.argv[-1] in ("check-config", "gen-secrets"):
    real = os.environ["REAL_HELPER"]
    os.execv(real, [real] + sys.argv[1:])
mode = os.environ["FAKE_MODE"]
buf, n, ejabberd, kept = b"", 0, None, []
while True:
    data = os.read(0, 65536)
    if not data:
        break
    buf += data
    if ejabberd is None:
        ejabberd = buf[0] < 0x20 and buf[0] not in b"\r\n\t"
    while True:
        if ejabberd:
            if len(buf) < 2 or len(buf) < 2 + (buf[0] << 8 | buf[1]):
                break
            buf = buf[2 + (buf[0] << 8 | buf[1]):]
        else:
            i = buf.find(b"\n")
            if i < 0:
                break
            buf = buf[i + 1:]
        n += 1
        if mode == "crash" and n == 50:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
            os.kill(os.getpid(), signal.SIGSEGV)
        if mode == "hang" and n == 50:
            time.sleep(3600)
        if mode == "leak":
            kept.append(bytearray(os.urandom(65536)))
        if mode == "noise" and n == 10:
            sys.stderr.write("==1== ERROR: AddressSanitizer: boom\n")
            sys.stderr.flush()
        os.write(1, b"\0\2\0\1" if ejabberd else b"1\n")
sys.exit(1 if mode == "exit1" else 0)
EOF
chmod 755 "$WORK/fake-helper"
export REAL_HELPER=$HELPER
fake() { # MODE NAME PATTERN ARGS...
	local mode=$1
	shift
	FAKE_MODE=$mode stress_fails "$@" --helper "$WORK/fake-helper"
}
fake yes "self-test: a helper that accepts everything is caught" \
	'FAIL process 1 \(generic\): answers: .*expected.*(badsig|expired|malformed|otheruser|replayed)' -p 2 -n 200
fake yes "self-test: ... and replays accepted across processes are counted" \
	'FAIL no replay of an accepted token accepted' -p 2 -n 300
fake crash "self-test: a crash (signal) is caught" \
	'FAIL process 1 \(generic\): exit status: killed by signal 11' -p 2 -n 200
fake hang "self-test: a hang is caught within the timeout" \
	'FAIL process 2 \(ejabberd\): every request answered: no answer within 2 s \(a hang\)' -p 2 -n 200 -t 2
fake leak "self-test: a leak is caught" \
	'FAIL process 1 \(generic\): memory flat: .*RssAnon grew by' -p 1 -d 3 -r 400 --leak-check --sample 0.3
fake exit1 "self-test: a bad exit status is caught" \
	'FAIL process 2 \(ejabberd\): exit status 0: exit status 1' -p 2 -n 100
fake noise "self-test: noise on stderr is caught" \
	'FAIL process 1 \(generic\): nothing on stderr but log lines' -p 1 -n 100

# Usage errors are loud and say so in the last line.
out=$(bash "$STRESS" --socket "$WORK/nothing" 2>&1)
check "--socket without --config: exit 2" 2 $?
check "... and a last line that counts a failure" "0 passed, 1 failed" "$(tail -n 1 <<<"$out")"

finish
