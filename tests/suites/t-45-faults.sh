#!/bin/bash
# Faults: the helper keeps its promises when things go wrong around it. A
# replay store it cannot write or that is full (fail closed, go on serving,
# say why), too little memory at start (a clear failure or a clean refusal,
# never a crash or a hang), a server that stops reading (exit 0 at once, no
# busy loop), SIGTERM, SIGINT (exit 0 through the clean path), SIGHUP (the
# helper goes on), a config changed or removed while it runs (it keeps what
# it loaded; a new process says what is wrong), and clocks that are off or
# jump (tokens outside the window refused). HELPER may name another build.
#
# Parts need root (a helper run as nobody, a read-only bind mount in a
# private mount namespace) or faketime (Debian package faketime); without
# them they are skipped, and say so.
. "$(dirname "$0")/../lib/lib.sh"

JID=bob@example.org
CONF=$WORK/token-auth.conf
make_config "$CONF"

# conf FILE STORE [LINES...]: the test secrets with their own replay store.
conf() {
	local file=$1 store=$2
	shift 2
	make_config "$file" "$@"
	sed -i "s|^replay_store = .*|replay_store = $store|" "$file"
}

# run CONF REQUEST...: the answers (space-separated), then "exit=N", with
# stderr (the log, --log stderr) kept in $WORK/stderr.
run() {
	local conf=$1 out status
	shift
	out=$(printf '%s\n' "$@" | timeout 30 $HELPER --config "$conf" --log stderr 2>"$WORK/stderr")
	status=$?
	echo $out "exit=$status"
}

logged() { grep -q -- "$1" "$WORK/stderr"; }

# --- the replay store cannot be written ----------------------------------

mid_step
echo "not a directory" >"$WORK/a-file"
conf "$WORK/c1.conf" "$WORK/a-file/replay"
check "store under a file: token refused, the helper goes on serving, exit 0" \
	"0 1 exit=0" "$(run "$WORK/c1.conf" "auth:bob:example.org:$(token $JID)" "isuser:bob:example.org")"
logged "replay store $WORK/a-file/replay" && logged "decision=refused reason=store_failed" &&
	pass "... and the log says the store failed, and where" ||
	fail "store under a file: log: $(head -c 300 "$WORK/stderr")"

conf "$WORK/c2.conf" "$WORK/a-file"
check "store path is a file: token refused, served on, exit 0" \
	"0 1 exit=0" "$(run "$WORK/c2.conf" "auth:bob:example.org:$(token $JID)" "isuser:bob:example.org")"
logged "replay store $WORK/a-file" || fail "store path is a file: not logged"

# A store others could move away (and replay): refused at start-up, with a
# message that says how to fix it; so is a symbolic link.
mkdir -m 0777 "$WORK/open-dir"
conf "$WORK/c4.conf" "$WORK/open-dir"
check "store's directory writable by others: exit 1 before any answer" "exit=1" \
	"$(run "$WORK/c4.conf" "isuser:bob:example.org")"
logged "replay store: $WORK/open-dir is writable by other users" && logged "chmod go-w" &&
	pass "... saying why and how to fix it" ||
	fail "open store directory: log: $(head -c 300 "$WORK/stderr")"
chmod 0700 "$WORK/open-dir"
ln -s "$WORK/open-dir" "$WORK/link-store"
conf "$WORK/c5.conf" "$WORK/link-store"
check "store named through a symbolic link: exit 1 before any answer" "exit=1" \
	"$(run "$WORK/c5.conf" "isuser:bob:example.org")"
logged "is a symbolic link" || fail "store through a link: log: $(head -c 300 "$WORK/stderr")"

# The store's directory read-only: root ignores modes, so a read-only bind
# mount in a private mount namespace, and a helper run as nobody.
mkdir -p "$WORK/ro-store"
conf "$WORK/c3.conf" "$WORK/ro-store"
run "$WORK/c3.conf" "auth:bob:example.org:$(token $JID)" >/dev/null # make it
if [ "$(id -u)" -eq 0 ] && unshare -m --propagation private true 2>/dev/null; then
	mid_step
	t=$(token $JID)
	out=$(printf 'auth:bob:example.org:%s\nisuser:bob:example.org\n' "$t" |
		timeout 30 unshare -m --propagation private sh -c '
			mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
			shift; exec "$@"' sh "$WORK/ro-store" $HELPER --config "$WORK/c3.conf" \
		--log stderr 2>"$WORK/stderr")
	check "store on a read-only mount: token refused, served on, exit 0" \
		"0 1 exit=0" "$(echo $out "exit=$?")"
	logged "Read-only file system" || fail "read-only store: log: $(head -c 300 "$WORK/stderr")"
	check "... and the same token accepted once the store is writable" \
		"1 exit=0" "$(run "$WORK/c3.conf" "auth:bob:example.org:$t")"
else
	skip "read-only mount" "needs root and unshare"
fi
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	# nobody must reach its config but not the root-owned store.
	chmod 711 "$WORK"
	mkdir -m 755 "$WORK/nobody"
	# (A copy nobody can run wherever the tree is.)
	install -m 0755 "$HELPER" "$WORK/nobody/prosody-token-auth"
	NH=$WORK/nobody/prosody-token-auth
	conf "$WORK/nobody/c.conf" "$WORK/ro-store"
	chown nobody "$WORK/nobody/c.conf"
	mid_step
	out=$(printf 'auth:bob:example.org:%s\nisuser:bob:example.org\n' "$(token $JID)" |
		timeout 30 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			$NH --config "$WORK/nobody/c.conf" --log stderr 2>"$WORK/stderr")
	check "store not writable by the helper's user: refused, served on, exit 0" \
		"0 1 exit=0" "$(echo $out "exit=$?")"
	logged "Permission denied" || fail "store not writable: log: $(head -c 300 "$WORK/stderr")"
	# No locked memory for the secrets (a container without CAP_IPC_LOCK):
	# the helper serves, and says once what is missing.
	nolock() { # CONFIG: one isuser request, memlock limit 0, as nobody
		echo "isuser:bob:example.org" | timeout 30 setpriv --reuid=nobody \
			--regid="$(id -g nobody)" --clear-groups sh -c 'ulimit -l 0; exec "$@"' sh \
			"$NH" --config "$1" --log stderr 2>"$WORK/stderr"
	}
	out=$(nolock "$WORK/nobody/c.conf")
	check "no locked memory allowed: served all the same, exit 0" "1 exit=0" "$(echo $out "exit=$?")"
	check "... with one warning saying what is missing and how to grant it" 1 \
		"$(grep -c 'not locked in memory (Operation not permitted).*CAP_IPC_LOCK' "$WORK/stderr")"
	out=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups sh -c 'ulimit -l 0; exec "$@"' sh \
		$NH --config "$WORK/nobody/c.conf" check-config 2>&1)
	grep -q "warning: the secrets are not locked in memory" <<<"$out" &&
		pass "... and check-config shows the same warning" ||
		fail "check-config without locked memory: $(head -c 300 <<<"$out")"
	echo "lock_memory = required" >>"$WORK/nobody/c.conf"
	out=$(nolock "$WORK/nobody/c.conf")
	check "lock_memory = required: exit 1 before any answer" "exit=1" "$(echo $out "exit=$?")"
	grep -q "prosody-token-auth: .*c.conf:[0-9]*: lock_memory = required, but the secrets cannot be locked" "$WORK/stderr" &&
		pass "... with a message naming the line and saying why" ||
		fail "lock_memory = required: stderr: $(head -c 300 "$WORK/stderr")"
else
	skip "helper as nobody" "needs root and setpriv"
fi

# The file system under the store full: a private tmpfs too small for the
# store, then one filled up after the store was made. Every request is
# answered, no crash, exit 0; a token is accepted only if it was recorded.
if [ "$(id -u)" -eq 0 ] && unshare -m --propagation private true 2>/dev/null; then
	mkdir -p "$WORK/small"
	conf "$WORK/small.conf" "$WORK/small/store" "replay_capacity = 2000"
	mid_step
	$TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" $JID --count 600 | sed 's/^/auth:bob:example.org:/' >"$WORK/600"
	# in_tmpfs SIZE SETUP: the helper fed $WORK/600 then isuser, with a
	# tmpfs of SIZE on $WORK/small after SETUP (shell code, with $H the
	# helper, $C its config, $D the tmpfs, $T the tokens) has run in
	# it; the answers go to $WORK/answers.
	in_tmpfs() {
		{ cat "$WORK/600"; echo "isuser:bob:example.org"; } |
			H=$HELPER C=$WORK/small.conf D=$WORK/small T=$WORK/600 timeout 60 \
			unshare -m --propagation private sh -c '
				mount -t tmpfs -o "size=$0" tmpfs "$D" || exit 99
				eval "$1"; exec $H --config "$C" --log stderr' "$1" "$2" \
			>"$WORK/answers" 2>"$WORK/stderr"
	}
	# Too small for the map: the helper writes the store's pages with
	# write(2), accepts tokens while there is room, then refuses them.
	in_tmpfs 128k :
	status=$?
	check "store on a full file system: no crash, exit 0" 0 $status
	check "... every request answered, isuser last" "601 1" \
		"$(wc -l <"$WORK/answers") $(tail -n 1 "$WORK/answers")"
	yes=$(head -n 600 "$WORK/answers" | grep -c '^1$')
	failed_store=$(grep -c "decision=refused reason=store_failed" "$WORK/stderr")
	[ "$yes" -gt 0 ] && [ "$((yes + failed_store))" -eq 600 ] &&
		pass "... $yes tokens accepted while there was room, $failed_store refused as the store failed" ||
		fail "full file system: $yes accepted, $failed_store refused for the store, of 600"
	# (A store made on a file system already full is another matter:
	# LMDB's lock file is written through a map too, at creation.)
	in_tmpfs 1m 'tail -n 1 "$T" |
		$H --config "$C" >/dev/null && head -c 10000000 /dev/zero >"$D/filler" 2>/dev/null; true'
	status=$?
	check "store made, then its file system filled up: no crash, exit 0" 0 $status
	check "... and the tokens recorded in the room it reserved (the last was used)" \
		"$(printf '1 %.0s' $(seq 599))0 1" "$(tr '\n' ' ' <"$WORK/answers" | sed 's/ $//')"
else
	skip "full file system" "needs root and unshare"
fi

# --- the replay store is full --------------------------------------------

conf "$WORK/full.conf" "$WORK/full-store" "replay_capacity = 100"
mid_step
$TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" $JID --count 130 | sed 's/^/auth:bob:example.org:/' >"$WORK/130"
{
	cat "$WORK/130"
	head -n 5 "$WORK/130" # replays of accepted ones
	echo "isuser:bob:example.org"
} | timeout 60 $HELPER --config "$WORK/full.conf" --log stderr >"$WORK/answers" 2>"$WORK/stderr"
check "store full: the helper exits 0" 0 $?
# One JID takes all but the reserve (1% of the capacity: here the last
# one), which is kept for a JID that holds none.
check "store full (capacity 100): one JID gets exactly 99 of 130 valid tokens" 99 "$(head -n 130 "$WORK/answers" | grep -c '^1$')"
check "... the first 99, then refusals" "$(printf '1\n%.0s' $(seq 99); printf '0\n%.0s' $(seq 31))" \
	"$(head -n 130 "$WORK/answers")"
check "... replays still refused, isuser still served" "0 0 0 0 0 1" "$(tail -n 6 "$WORK/answers" | tr '\n' ' ' | sed 's/ $//')"
logged "store full: 99 live nonces of 100 (the last 1 are kept for JIDs that hold none); raise replay_capacity" &&
	pass "... and the log says the store is full and what to do" ||
	fail "store full: log: $(grep -v accepted "$WORK/stderr" | head -c 300)"
check "... another JID takes the last entry, in a new process: the store is shared" "1 exit=0" \
	"$(run "$WORK/full.conf" "auth:alice:example.org:$(token alice@example.org)")"
check "... and then nobody: the store is full" "0 0 exit=0" \
	"$(run "$WORK/full.conf" "auth:bob:example.org:$(token $JID)" "auth:carol:example.org:$(token carol@example.org)")"

# --- too little memory at start ------------------------------------------

# A clear failure (non-zero status and a message) or a clean refusal or
# acceptance (exit 0, every request answered), never a signal or a hang.
mid_step
bad=""
outcomes=""
for kib in 1000 3000 6000 10000 20000 40000 80000 160000; do
	rm -rf "$WORK/oom-store"
	conf "$WORK/oom.conf" "$WORK/oom-store"
	out=$(printf 'auth:bob:example.org:%s\nisuser:bob:example.org\n' "$(token $JID)" |
		timeout 30 bash -c 'ulimit -v "$0" && exec "$@"' "$kib" \
			$HELPER --config "$WORK/oom.conf" --log stderr 2>"$WORK/stderr")
	status=$?
	answers=$(echo $out)
	if [ "$status" -eq 0 ]; then
		case $answers in
		"1 1" | "0 1") outcomes="$outcomes $kib:answered($answers)" ;;
		*) bad="$bad $kib:exit 0 with answers '$answers'" ;;
		esac
	elif [ "$status" -ge 124 ] && [ "$status" -ne 127 ]; then
		bad="$bad $kib:status $status (a signal or a hang)"
	elif [ -z "$answers" ] && [ -s "$WORK/stderr" ]; then
		outcomes="$outcomes $kib:failed($status)"
	else
		bad="$bad $kib:status $status, answers '$answers', stderr '$(head -c 100 "$WORK/stderr")'"
	fi
done
[ -z "$bad" ] && pass "little memory (ulimit -v):$outcomes" || fail "little memory:$bad"
case $outcomes in *"answered(0 1)"*) pass "... a store it cannot map is a refusal, not a crash" ;; esac

# --- the server stops reading, signals, the config changes -----------------

mid_step
py_checks "$CONF" <<'EOF'
import array, fcntl, os, resource, select, signal, subprocess, sys, termios, time
from suite import HELPER, WORK, check, token, Helper
TOP = os.environ["TOP"]
CONF = sys.argv[1]

# The server closes its end of the answers but keeps sending.
before = resource.getrusage(resource.RUSAGE_CHILDREN)
h = Helper(CONF)
check(h.ask("isuser:bob:example.org") == "1", "a helper answers")
h.p.stdout.close()
t0 = time.monotonic()
try:
    h.p.stdin.write(b"isuser:bob:example.org\n")
    h.p.stdin.flush()
except BrokenPipeError:
    pass
rc = h.wait(5)
took = time.monotonic() - t0
check(rc == 0, "answers no longer read (stdin still open): exit 0",
      "status %s" % rc)
check(took < 2, "... at once (%.2f s)" % took, "%.2f s" % took)
h.kill()
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
check(cpu < 0.5, "... without a busy loop (%.3f s of CPU)" % cpu,
      "%.3f s of CPU" % cpu)

# SIGHUP asks for the config again: the helper goes on, and the half
# request it holds is completed and answered.
for partial in (b"", b"auth:bob:exam"):
    h = Helper(CONF)
    h.ask("isuser:bob:example.org")
    if partial:
        h.p.stdin.write(partial)
        h.p.stdin.flush()
        time.sleep(0.1)
    h.p.send_signal(signal.SIGHUP)
    rest = "ple.org:junk" if partial else "isuser:bob:example.org"
    answer = h.ask(rest)
    check(answer == ("0" if partial else "1"),
          "SIGHUP%s: the helper goes on, the request answered" %
          (" with half a request read" if partial else ""), answer)
    h.p.stdin.close()
    check(h.wait(5) == 0, "... and exits 0 at end of input")
    h.kill()

# SIGTERM, SIGINT: exit 0 at once, waiting for input or holding half a
# request.
for sig in (signal.SIGTERM, signal.SIGINT):
    for partial in (b"", b"auth:bob:exam"):
        h = Helper(CONF)
        h.ask("isuser:bob:example.org")
        if partial:
            h.p.stdin.write(partial)
            h.p.stdin.flush()
            time.sleep(0.1)
        h.p.send_signal(sig)
        rc = h.wait(2)
        check(rc == 0, "%s%s: exit 0 within 2 s" % (
            signal.Signals(sig).name,
            " with half a request read" if partial else ""),
            "status %s" % rc)
        h.kill()

# SIGTERM while the server reads no answers: the helper is blocked writing
# answers, with their pipe full. A batch's answers go in one write, which
# the pipe takes whole or not at all: full is within one batch's answers
# (64 of at most 34 bytes) of its 64 KiB, and staying so while requests
# keep coming.
h = Helper(CONF)
fcntl.fcntl(h.p.stdin, fcntl.F_SETFL, os.O_NONBLOCK)
line, sent = b"isuser:bob:example.org\n" * 1000, 0
deadline, full, last = time.monotonic() + 10, False, -1
while time.monotonic() < deadline and not full:
    try:
        sent += os.write(h.p.stdin.fileno(), line)
    except BlockingIOError:
        time.sleep(0.01)
    queued = array.array("i", [0])
    fcntl.ioctl(h.p.stdout, termios.FIONREAD, queued)
    if queued[0] >= 65536 - 64 * 34:
        time.sleep(0.2)
        full = queued[0] == last
        last = queued[0]
check(full, "the server reads no answers: their pipe fills up",
      "%d bytes sent, %d queued" % (sent, last))
h.p.send_signal(signal.SIGTERM)
rc = h.wait(2)
check(rc == 0, "... SIGTERM while blocked writing an answer: exit 0 within "
      "2 s", "status %s" % rc)
h.kill()

# A helper idle for a while does not spin.
before = resource.getrusage(resource.RUSAGE_CHILDREN)
h = Helper(CONF)
h.ask("isuser:bob:example.org")
time.sleep(1.5)
h.p.stdin.close()
rc = h.wait(5)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
check(rc == 0 and cpu < 0.3, "idle 1.5 s: %.3f s of CPU, exit 0" % cpu,
      "status %s, %.3f s of CPU" % (rc, cpu))
EOF

mid_step
cp "$CONF" "$WORK/live.conf"
py_checks "$WORK/live.conf" <<'EOF'
import array, fcntl, os, resource, select, signal, subprocess, sys, termios, time
from suite import HELPER, WORK, check, token, Helper
TOP = os.environ["TOP"]
LIVE = sys.argv[1]
NEW_SEED, NEW_SECRET = "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

def fresh_process():
    p = subprocess.run(HELPER + ["--config", LIVE], input=b"isuser:bob:example.org\n",
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()

h = Helper(LIVE)
check(h.ask("auth:bob:example.org:" + token()) == "1", "a running helper accepts a token")
os.unlink(LIVE)
check(h.ask("auth:bob:example.org:" + token()) == "1",
      "config removed: the running helper serves on with what it loaded")
rc, out, err = fresh_process()
check(rc == 1 and out == "" and LIVE in err,
      "... a new process fails at start, naming the file",
      "status %d, stdout %r, stderr %r" % (rc, out, err[:200]))

with open(LIVE, "w") as f:
    f.write("otp_seed = %s\ntoken_secret = %s\nreplay_store = %s/replay\n" %
            (NEW_SEED, NEW_SECRET, os.environ["WORK"]))
os.chmod(LIVE, 0o600)
# A valid new file is taken within a second or two (t-46 tests that at
# length); the old secrets go with it.
deadline = time.monotonic() + 3
while (h.ask("auth:bob:example.org:" + token(seed=NEW_SEED, secret=NEW_SECRET))
       != "1" and time.monotonic() < deadline):
    time.sleep(0.2)
check(time.monotonic() < deadline and
      h.ask("auth:bob:example.org:" + token()) == "0",
      "config rewritten with new secrets: the running helper takes them, "
      "and drops the old ones")

with open(LIVE, "a") as f:
    f.write("otp_window = many\n")
rc, out, err = fresh_process()
check(rc == 1 and out == "" and (LIVE + ":4:") in err,
      "config broken: a new process fails at start, naming the file and line",
      "status %d, stderr %r" % (rc, err[:200]))
os.chmod(LIVE, 0o644)
rc, out, err = fresh_process()
check(rc == 1 and out == "" and "readable by other users" in err,
      "config readable by others: a new process refuses to start, saying why",
      "status %d, stderr %r" % (rc, err[:200]))
check(h.ask("isuser:bob:example.org") == "1", "... the running helper still serves")
h.p.stdin.close()
check(h.wait(5) == 0, "... and exits 0 at end of input")
EOF

# --- the helper started with no stdout -------------------------------------

# With fd 1 closed at start, the next file the helper opens gets it: its
# answers must not land in its replay store.
rm -rf "$WORK/nostdout-store"
conf "$WORK/nostdout.conf" "$WORK/nostdout-store"
mid_step
printf 'auth:bob:example.org:%s\n' "$(token $JID)" "$(token $JID)" |
	timeout 30 $HELPER --config "$WORK/nostdout.conf" >&- 2>/dev/null
status=$?
[ "$status" -lt 124 ] && pass "started with stdout closed: no crash, no hang (status $status)" ||
	fail "started with stdout closed: status $status"
magic=$(od -An -tx1 -N4 "$WORK/nostdout-store/lock.mdb" 2>/dev/null | tr -d ' ')
[ -z "$magic" ] || [ "$magic" = dec0efbe ]
check "started with stdout closed: nothing written into the replay store's lock file" 0 $?

# --- a connection that stalls ----------------------------------------------

# On a socket (one helper per connection, as the packaged service runs it),
# a request begun and never finished ends the connection after 10 s, its
# request answered 0, so that it does not hold one of the socket's
# connections for ever. (An idle connection ends after 300 s the same way.)
if command -v systemd-socket-activate >/dev/null; then
	spawn systemd-socket-activate --accept --inetd -l "$WORK/stall.sock" \
		$HELPER --config "$CONF" --log stderr 2>"$WORK/stall.log"
	if wait_for 10 test -S "$WORK/stall.sock"; then
		out=$($PY - "$WORK/stall.sock" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"isuser:bob:example.org\nauth:bob:exam")
s.settimeout(30)
start, data = time.monotonic(), b""
while True:
    chunk = s.recv(64)
    if not chunk:
        break
    data += chunk
print(data.decode().replace("\n", " ").strip(), "closed after %d s" %
      round(time.monotonic() - start))
EOF
)
		case $out in
		"1 0 closed after "1[0-2]" s") pass "socket: a request left unfinished is answered 0, and the connection closed after 10 s" ;;
		*) fail "socket, stalled request: $out" ;;
		esac
		grep -q "a request begun was not finished within 10 s" "$WORK/stall.log" &&
			pass "... with a log line that says why" ||
			fail "stalled request: log: $(head -c 300 "$WORK/stall.log")"
	else
		fail "systemd-socket-activate did not make its socket"
	fi
else
	skip "a connection that stalls" "needs systemd-socket-activate (Debian package systemd)"
fi

# --- clocks ----------------------------------------------------------------

mid_step
check "tokens one step either side accepted, two steps refused" "1 1 0 0 exit=0" \
	"$(run "$CONF" "auth:bob:example.org:$(token $JID --offset -30)" \
		"auth:bob:example.org:$(token $JID --offset 30)" \
		"auth:bob:example.org:$(token $JID --offset -60)" \
		"auth:bob:example.org:$(token $JID --offset 60)")"
check "tokens from an hour, a day, a year away refused" "0 0 0 0 0 0 exit=0" \
	"$(run "$CONF" "auth:bob:example.org:$(token $JID --offset -3600)" \
		"auth:bob:example.org:$(token $JID --offset 3600)" \
		"auth:bob:example.org:$(token $JID --offset -86400)" \
		"auth:bob:example.org:$(token $JID --offset 86400)" \
		"auth:bob:example.org:$(token $JID --offset -31536000)" \
		"auth:bob:example.org:$(token $JID --offset 31536000)")"

LIBFAKETIME=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if command -v faketime >/dev/null && [ -n "$LIBFAKETIME" ]; then
	# Each faked clock gets a store of its own: a store refuses while the
	# clock is behind entries it has purged (tested further down).
	mid_step
	conf "$WORK/fast.conf" "$WORK/fast-store"
	conf "$WORK/slow.conf" "$WORK/slow-store"
	out=$(printf 'auth:bob:example.org:%s\n' "$(token $JID)" "$(token $JID --offset 3600)" |
		timeout 30 faketime -f "+1h" $HELPER --config "$WORK/fast.conf")
	check "helper's clock an hour fast: a token of the real time refused, one of its time accepted" \
		"0 1" "$(echo $out)"
	out=$(printf 'auth:bob:example.org:%s\n' "$(token $JID)" "$(token $JID --offset -3600)" |
		timeout 30 faketime -f "-1h" $HELPER --config "$WORK/slow.conf")
	check "helper's clock an hour slow: the same the other way" "0 1" "$(echo $out)"
	for when in "1969-12-31 23:59:00" "1970-01-01 00:00:05" "2038-01-19 03:14:10" "2200-01-01 00:00:00"; do
		out=$(printf '%s\n' "auth:bob:example.org:$(token $JID)" "isuser:bob:example.org" |
			timeout 30 faketime "$when" $HELPER --config "$CONF" 2>&1)
		check "helper's clock at $when: token refused, no crash" "0 1" "$(echo $out)"
	done

	# The clock jumps while the helper runs (libfaketime reads the offset
	# from a file on every call).
	mid_step
	echo "+0" >"$WORK/clock"
	py_checks "$LIBFAKETIME" <<'EOF'
import array, fcntl, os, resource, select, signal, subprocess, sys, termios, time
from suite import HELPER, WORK, check, token, Helper
TOP = os.environ["TOP"]
CLOCK = os.path.join(WORK, "clock")
CONF = os.path.join(WORK, "jump.conf")
with open(os.path.join(WORK, "token-auth.conf")) as f:
    text = f.read().replace(WORK + "/replay", WORK + "/jump-store")
with open(CONF, "w") as f:
    f.write(text)
os.chmod(CONF, 0o600)
env = dict(os.environ, LD_PRELOAD=sys.argv[1], FAKETIME_TIMESTAMP_FILE=CLOCK,
           FAKETIME_NO_CACHE="1")

def jump(spec):
    with open(CLOCK, "w") as f:
        f.write(spec + "\n")

# (--no-sandbox: libfaketime, preloaded here to move the clock, removes its
# shared memory when the process exits, a system call the helper itself
# never makes, and its sandbox would kill it for. The faketime commands
# above make and remove that memory themselves, and keep the sandbox on.)
h = Helper(CONF, env=env, args=["--no-sandbox"])
first = "auth:bob:example.org:" + token()
check(h.ask(first) == "1", "clock jumps: a token accepted before the jump")
jump("+1h")
check(h.ask("auth:bob:example.org:" + token()) == "0",
      "clock jumped an hour ahead: a token of the real time refused")
check(h.ask("auth:bob:example.org:" + token(offset=3600)) == "1",
      "... a token of the helper's new time accepted")
jump("+0")
# The hour ahead purged the first token's record while it is still within
# its time window: the store refuses rather than accept it a second time,
# and so every token of its time step or before (the store's high-water
# mark), however long the clock stays there; tokens of later steps, which
# cannot have been used, are accepted.
check(h.ask(first) == "0",
      "clock set right again: a token used before the jump is still refused")
check(h.ask("auth:bob:example.org:" + token()) == "0",
      "... and so is a fresh one of the same time step")
jump("+30")
check(h.ask(first) == "0",
      "... 30 s later, still within its window: still refused")
jump("+60")
check(h.ask("auth:bob:example.org:" + token(offset=60)) == "1",
      "... a token of a later time step than any purged is accepted")
jump("+91")
check(h.ask("auth:bob:example.org:" + token(offset=91)) == "1",
      "one token lifetime later: fresh tokens accepted again, not an hour")
check(h.ask(first) == "0",
      "... and the token used before the jump has expired by then")
jump("+3h")
check(h.ask("auth:bob:example.org:" + token(offset=3 * 3600)) == "1",
      "clock three hours ahead: a token of its time accepted")
jump("+91")
check(h.ask("auth:bob:example.org:" + token(offset=91)) == "0",
      "clock set right: refused again")
r = subprocess.run(HELPER + ["--config", CONF, "reset-store"], env=env,
                   capture_output=True, text=True, timeout=30)
check(r.returncode == 0 and "forgotten" in r.stdout,
      "reset-store says what it did", r.stdout + r.stderr)
check(h.ask("auth:bob:example.org:" + token(offset=91)) == "1",
      "... and fresh tokens are accepted at once after reset-store")
h.p.stdin.close()
rc = h.wait(5)
check(rc == 0, "clock jumps: exit 0 at end of input", "status %s; %s" % (rc, h.log()[-300:]))
EOF
else
	skip "clock jumps" "needs faketime (Debian package faketime)"
fi

finish
