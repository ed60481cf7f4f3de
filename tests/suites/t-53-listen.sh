#!/bin/bash
# serve --listen: the helper serves its own socket, without systemd.
#
# On this host: the socket's mode and group, the server running as --user,
# one helper process per connection (one killed takes no other down),
# logins and replays over the socket, --max-connections (the connections
# beyond it wait in the backlog, then are served), SIGHUP reaching every
# helper, SIGTERM (no helper left: checked by PID; the socket removed), a
# killed server (its helpers end by PR_SET_PDEATHSIG), a stale socket
# replaced and a live one refused, and wrong arguments refused clearly,
# as are, at the start, a config, a replay store or a program file that
# --user cannot use.
#
# In containers without systemd as PID 1 (systemd-nspawn over the system
# test's cached Debian 12 image, each running one program as its only
# process, sharing a bind-mounted directory for the socket): serve in one,
# Prosody with the project's provider in the other, as its own user, which
# reaches the socket through the socket's group alone; PLAIN and X-TOKEN
# logins, a replay refused, the helper's container stopped and started
# while Prosody runs (logins refused, then recover), serve killed (no
# helper left), and more logins at once than --max-connections. Skipped,
# saying why, where systemd-nspawn or the image cannot be had.
#
# Environment: HELPER, SYSTEM_CACHE, SYSTEM_MIRROR (see t-80).

. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"
. "$TOP/tests/system/container.sh"

HELPER=$(realpath -s "$HELPER")
DOMAIN=example.test
SESSION=("$PY" "$TOP/tests/lib/socket_session.py")

if [ ! -x "$HELPER" ]; then
	fail "no helper binary at $HELPER (run make, or set HELPER)"
	finish
	exit 1
fi

# As root the server runs as nobody, as it would as _prosody-token-auth:
# everything it reads or writes is made its own, and it runs a copy of the
# helper in $WORK (the tree it was built in may lie in a folder that the
# user nobody cannot enter).
if [ "$(id -u)" -eq 0 ]; then
	AS_USER=(--user nobody --group nogroup)
	chmod 0755 "$WORK"
	mkdir -m 0700 "$WORK/private"
	install -m 0755 "$HELPER" "$WORK/private/prosody-token-auth"
	install -m 0755 "$HELPER" "$WORK/prosody-token-auth"
	HELPER=$WORK/prosody-token-auth
else
	AS_USER=()
fi
own() {
	[ "$(id -u)" -ne 0 ] || chown nobody:nogroup "$@"
}

mkdir -p "$WORK/replay" "$WORK/run"
own "$WORK/replay" "$WORK/run"
CONF=$WORK/helper.conf
make_config "$CONF"
own "$CONF"
SOCK=$WORK/run/socket
LOG=$WORK/serve.log
: >"$LOG"

# serve_start [OPTIONS...]: serve $SOCK in the background; sets SERVER.
serve_start() {
	local before
	before=$(servings)
	spawn "$HELPER" --config "$CONF" --log stderr serve --listen "$SOCK" \
		"${AS_USER[@]}" "$@" 2>>"$LOG"
	SERVER=$!
	wait_for 10 serving_since "$before"
}
servings() {
	grep -c "serving $SOCK" "$LOG" 2>/dev/null
}
serving_since() {
	[ "$(servings)" -gt "$1" ] && test -S "$SOCK"
}

# helpers_of PID: the helper processes PID runs, one per line.
helpers_of() {
	pgrep -P "$1" 2>/dev/null
}
count_helpers() {
	helpers_of "$1" | wc -l
}
# helpers_are PID N: PID runs N helpers now.
helpers_are() {
	[ "$(count_helpers "$1")" -eq "$2" ]
}

# A session: one connection driven through a FIFO (tests/lib/socket_session.py).
declare -A session_fd=()
session_open() {
	local name=$1 sock=${2:-$SOCK} fd
	rm -f "$WORK/$name.in" "$WORK/$name.out"
	mkfifo "$WORK/$name.in"
	(
		close_sessions
		exec "${SESSION[@]}" "$sock" "$WORK/$name.in" >"$WORK/$name.out" 2>>"$WORK/session.err"
	) &
	pids+=($!)
	exec {fd}>"$WORK/$name.in"
	session_fd[$name]=$fd
}
# close_sessions: in a subshell, let go of every session's FIFO (each
# session must see its own end when the test closes it).
close_sessions() {
	local fd
	for fd in "${session_fd[@]}"; do
		exec {fd}>&-
	done
}
session_send() {
	echo "$2" >&"${session_fd[$1]}"
}
# session_answers NAME: the answers so far, on one line.
session_answers() {
	grep -v '^connected$' "$WORK/$1.out" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}
answers_beyond() {
	[ "$(grep -vc '^connected$' "$WORK/$1.out" 2>/dev/null)" -gt "$2" ]
}
# session_ask NAME REQUEST: send it and print its answer (10 s at most).
session_ask() {
	local before
	before=$(grep -vc '^connected$' "$WORK/$1.out" 2>/dev/null)
	session_send "$1" "$2"
	wait_for 10 answers_beyond "$1" "$before" ||
		{ echo none; return; }
	grep -v '^connected$' "$WORK/$1.out" | tail -n 1
}
session_close() {
	local fd=${session_fd[$1]}
	exec {fd}>&-
	unset "session_fd[$1]"
}

# answers NAME...: the sessions' answers, joined by '|'; answered TEXT
# NAME...: they are TEXT (in whichever order they came).
answers() {
	local name out=""
	for name in "$@"; do
		out="$out|$(session_answers "$name")"
	done
	printf '%s\n' "${out#|}" | tr '|' '\n' | sort -r | tr '\n' '|' | sed 's/|$//'
}
answered() {
	local want=$1
	shift
	[ "$(answers "$@")" = "$want" ]
}

# ask REQUEST...: one connection, the requests, their answers on one line.
ask() {
	printf '%s\n' "$@" | timeout 10 "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(" ".join(data.decode().split()))' "$SOCK" 2>>"$WORK/session.err"
}

# gone PIDS...: none of the PIDs runs any more.
gone() {
	local pid
	for pid in "$@"; do
		kill -0 "$pid" 2>/dev/null && return 1
	done
	return 0
}

echo "# the host: $HELPER"

# --- Wrong arguments and the socket's path --------------------------------

out=$("$HELPER" --config "$CONF" serve 2>&1)
check "serve without --listen is refused" 2 $?
grep -q -- '--listen PATH' <<<"$out" && pass "... and the message names --listen" ||
	fail "no --listen in: $out"
out=$("$HELPER" --config "$CONF" serve --listen "$SOCK" --mode 0999 "${AS_USER[@]}" 2>&1)
check "a mode that is not octal is refused" 2 $?
grep -q "octal" <<<"$out" && pass "... and the message says how to fix it" || fail "message: $out"
out=$("$HELPER" --config "$CONF" serve --listen "$SOCK" --max-connections 0 "${AS_USER[@]}" 2>&1)
check "--max-connections 0 is refused" 2 $?
if [ "$(id -u)" -eq 0 ]; then
	out=$("$HELPER" --config "$CONF" serve --listen "$SOCK" 2>&1)
	check "as root without --user: refused" 1 $?
	grep -q -- "--user" <<<"$out" && pass "... naming --user" || fail "message: $out"
	out=$("$HELPER" --config "$CONF" serve --listen "$SOCK" --user no-such-user-here 2>&1)
	check "an unknown --user is refused" 1 $?
	out=$("$WORK/private/prosody-token-auth" --config "$CONF" serve --listen "$SOCK" \
		"${AS_USER[@]}" 2>&1)
	check "a helper --user may not run fails the start" 1 $?
	grep -q "nobody cannot run $WORK/private/prosody-token-auth" <<<"$out" &&
		pass "... naming the user and the file" || fail "message: $out"
	test ! -e "$SOCK" && pass "... and leaves no socket behind" || fail "a socket was left"
else
	skip "as root without --user: refused" "not root"
fi
touch "$WORK/run/plain-file"
out=$("$HELPER" --config "$CONF" serve --listen "$WORK/run/plain-file" "${AS_USER[@]}" 2>&1)
check "a path holding a file that is not a socket is refused" 1 $?
grep -q "not a socket" <<<"$out" && pass "... saying so" || fail "message: $out"
test -f "$WORK/run/plain-file" && pass "... and the file is left alone" || fail "the file was removed"
make_config "$WORK/bad.conf" "otp_digits = 99"
own "$WORK/bad.conf"
out=$("$HELPER" --config "$WORK/bad.conf" serve --listen "$SOCK" "${AS_USER[@]}" 2>&1)
check "a config the helpers could not load fails the start" 1 $?
grep -q "bad.conf:" <<<"$out" && pass "... naming the file" || fail "message: $out"
test ! -e "$SOCK" && pass "... and leaves no socket behind" || fail "a socket was left"
if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 0700 "$WORK/root-only"
	make_config "$WORK/unwritable.conf"
	sed -i "s|^replay_store = .*|replay_store = $WORK/root-only/replay|" "$WORK/unwritable.conf"
	own "$WORK/unwritable.conf"
	out=$("$HELPER" --config "$WORK/unwritable.conf" serve --listen "$SOCK" "${AS_USER[@]}" 2>&1)
	check "a replay store --user cannot make fails the start" 1 $?
	grep -q "replay store: cannot create $WORK/root-only/replay: Permission denied (the user the helpers run as" <<<"$out" &&
		pass "... naming the store and saying who must write it" || fail "message: $out"
	test ! -e "$SOCK" && pass "... and leaves no socket behind" || fail "a socket was left"
fi

# --- Serving ---------------------------------------------------------------

serve_start --max-connections 2 || fail "serve makes its socket"
if [ "$(id -u)" -eq 0 ]; then
	check "the socket: mode 0660, group nogroup" "660 nogroup" "$(stat -c '%a %G' "$SOCK")"
	check "the server runs as nobody" 65534 \
		"$(awk '/^Uid:/ { print $2 }' "/proc/$SERVER/status")"
fi
out=$("$HELPER" --config "$CONF" serve --listen "$SOCK" "${AS_USER[@]}" 2>&1)
check "a second server on a live socket is refused" 1 $?
grep -q "already listening" <<<"$out" && pass "... saying a server listens there" || fail "message: $out"
test -S "$SOCK" && pass "... and the live socket is kept" || fail "the live socket was removed"

if [ "$(id -u)" -eq 0 ]; then
	# (a group by number: in a container it may exist only in Prosody's image)
	spawn "$HELPER" --config "$CONF" --log stderr serve --listen "$WORK/run/numeric" \
		--user nobody --group 4242 --mode 0600 2>>"$WORK/numeric.log"
	numeric=$!
	wait_for 10 test -S "$WORK/run/numeric"
	check "--group by number, --mode 0600" "600 4242" "$(stat -c '%a %g' "$WORK/run/numeric" 2>&1)"
	kill -TERM "$numeric"
	wait_for 10 gone "$numeric"
	test ! -e "$WORK/run/numeric" && pass "... and its socket is removed at SIGTERM" ||
		fail "socket left at $WORK/run/numeric"
fi

mid_step 8
tok=$(token "alice@$DOMAIN")
check "a login over the socket; its replay refused; garbage refused" "1 0 0 1" \
	"$(ask "auth:alice:$DOMAIN:$tok" "auth:alice:$DOMAIN:$tok" "auth:alice:$DOMAIN:garbage" "isuser:alice:$DOMAIN")"
tok=$(token "bob@$DOMAIN")
check "a token used on one connection is refused on another" "1 0" \
	"$(ask "auth:bob:$DOMAIN:$tok") $(ask "auth:bob:$DOMAIN:$tok")"

# --- One process per connection --------------------------------------------

session_open a
session_open b
check "connection a is answered" 1 "$(session_ask a "isuser:a:$DOMAIN")"
check "connection b is answered" 1 "$(session_ask b "isuser:b:$DOMAIN")"
mapfile -t kids < <(helpers_of "$SERVER")
check "two connections: two helper processes" 2 "${#kids[@]}"
if [ "$(id -u)" -eq 0 ] && [ "${#kids[@]}" -gt 0 ]; then
	users=$(for k in "${kids[@]}"; do awk '/^Uid:/ { print $2 }' "/proc/$k/status"; done | sort -u | tr '\n' ' ')
	check "each helper runs as nobody" "65534 " "$users"
fi
# Which helper is a's: the one whose stdin is a's connection is not easy to
# tell from here, so one helper is killed and exactly one session must lose
# its connection while the other goes on.
kill -KILL "${kids[0]:-}" 2>/dev/null
wait_for 5 gone "${kids[0]:-}"
mid_step 8
ra=$(session_ask a "auth:carol:$DOMAIN:$(token "carol@$DOMAIN")")
rb=$(session_ask b "auth:dave:$DOMAIN:$(token "dave@$DOMAIN")")
check "one helper killed: one connection lost, the other logs in" "1 closed" \
	"$(printf '%s\n' "$ra" "$rb" | sort | tr '\n' ' ' | sed 's/ $//')"
session_close a
session_close b
wait_for 5 helpers_are "$SERVER" 0 ||
	fail "the helpers of closed connections end"
check "the server still serves" 1 "$(ask "isuser:x:$DOMAIN")"

# --- --max-connections 2: two held, three more wait, then all are served ----

session_open h1
session_open h2
session_ask h1 "isuser:h:$DOMAIN" >/dev/null
session_ask h2 "isuser:h:$DOMAIN" >/dev/null
mid_step 15
for i in 1 2 3; do
	session_open "e$i"
	session_send "e$i" "auth:wait$i:$DOMAIN:$(token "wait$i@$DOMAIN")"
done
sleep 2
check "at the limit the three more connections wait unanswered" "||" \
	"$(session_answers e1)|$(session_answers e2)|$(session_answers e3)"
check "... and no more than two helpers run" 2 "$(count_helpers "$SERVER")"
session_close h1
session_close h2
wait_for 15 answered "1|1|" e1 e2 e3
check "two held ones closed: two waiting logins are served, the third waits" "1|1|" \
	"$(answers e1 e2 e3)"
session_close e1
wait_for 15 answered "1|1|1" e1 e2 e3
check "... and is served once another closes" "1|1|1" "$(answers e1 e2 e3)"
for i in 2 3; do session_close "e$i"; done
wait_for 5 helpers_are "$SERVER" 0

# --- SIGHUP reaches every helper ---------------------------------------------

session_open h1
session_open h2
session_ask h1 "isuser:h:$DOMAIN" >/dev/null
session_ask h2 "isuser:h:$DOMAIN" >/dev/null
before=$(grep -c 'loaded again' "$LOG")
kill -HUP "$SERVER"
sleep 0.5
session_ask h1 "isuser:h:$DOMAIN" >/dev/null
session_ask h2 "isuser:h:$DOMAIN" >/dev/null
check "SIGHUP, file unchanged: each of the two helpers loads it again" 2 \
	$(($(grep -c 'loaded again' "$LOG") - before))
OLD_SECRET=$TOKEN_SECRET
TOKEN_SECRET=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567
sed -i "s/^token_secret .*/token_secret = $TOKEN_SECRET/" "$CONF"
kill -HUP "$SERVER"
mid_step 8
check "SIGHUP, new secret: a new token is accepted on a running helper" 1 \
	"$(session_ask h1 "auth:erin:$DOMAIN:$(token "erin@$DOMAIN")")"
check "... and one made with the old secret refused" 0 \
	"$(session_ask h2 "auth:erin:$DOMAIN:$(TOKEN_SECRET=$OLD_SECRET token "erin@$DOMAIN")")"

# --- SIGTERM: no helper left, the socket removed ----------------------------

mapfile -t kids < <(helpers_of "$SERVER")
check "two helpers before SIGTERM" 2 "${#kids[@]}"
# One helper stopped (SIGSTOP) cannot act on SIGTERM: it is killed after
# the bound, 10 s.
kill -STOP "${kids[0]:-}"
stop_started=$SECONDS
kill -TERM "$SERVER"
wait_for 20 gone "$SERVER" && pass "SIGTERM: the server ends" || fail "SIGTERM: the server still runs"
wait "$SERVER"
check "... with status 0" 0 $?
took=$((SECONDS - stop_started))
[ "$took" -ge 9 ] && [ "$took" -le 14 ] &&
	pass "... after the 10 s bound, with a helper that would not end ($took s)" ||
	fail "SIGTERM with a stopped helper took $took s, not about 10"
grep -q "killing 1 helper still running after 10 s" "$LOG" && pass "... which it killed, and said so" ||
	fail "no word of the helper killed"
gone "${kids[@]}" && pass "... and none of its helpers (by PID) is left" || fail "helpers left: ${kids[*]}"
test ! -e "$SOCK" && pass "... and the socket is removed" || fail "the socket is left"
session_close h1
session_close h2

# --- A killed server: its helpers end; its socket is replaced ---------------

serve_start || fail "serve starts again"
session_open k1
session_open k2
session_ask k1 "isuser:k:$DOMAIN" >/dev/null
session_ask k2 "isuser:k:$DOMAIN" >/dev/null
mapfile -t kids < <(helpers_of "$SERVER")
check "two helpers before the server is killed" 2 "${#kids[@]}"
{
	kill -KILL "$SERVER"
	wait "$SERVER"
} 2>/dev/null
wait_for 5 gone "${kids[@]}" && pass "server killed: its helpers end (PR_SET_PDEATHSIG)" ||
	fail "server killed: helpers left: ${kids[*]}"
session_close k1
session_close k2
test -S "$SOCK" && pass "the killed server's socket file is still there" || fail "no stale socket"
serve_start || fail "serve replaces the stale socket"
grep -q "replacing the socket" "$LOG" && pass "... and says so" || fail "no word of the stale socket"
mid_step 8
check "... and serves" 1 "$(ask "auth:frank:$DOMAIN:$(token "frank@$DOMAIN")")"
kill -TERM "$SERVER"
wait_for 15 gone "$SERVER" || fail "the server stops"
grep -qE "$OTP_SEED|$TOKEN_SECRET|$OLD_SECRET" "$LOG" &&
	fail "a secret in the log" || pass "no secret in the log"

# --- In containers without systemd ------------------------------------------

why_not() {
	local tool
	[ "$(id -u)" -eq 0 ] || { echo "it needs root"; return; }
	for tool in systemd-nspawn debootstrap unshare findmnt dpkg-checkbuilddeps; do
		command -v "$tool" >/dev/null ||
			{ echo "$tool is missing (tests/deps.sh installs systemd-container and debootstrap)"; return; }
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
		{ echo "the kernel has no overlay file system"; return; }
	findmnt -n -t cgroup2 >/dev/null || { echo "no cgroup2 hierarchy is mounted"; return; }
	unshare --mount true 2>/dev/null || { echo "cannot make a mount namespace"; return; }
	command -v prosody >/dev/null || { echo "prosody is missing (for its config's fragment)"; return; }
}
reason=$(why_not)
IMAGE=
if [ -z "$reason" ]; then
	IMAGE=$(bash "$TOP/tests/system/image.sh" bookworm 2>"$WORK/image.err" | tail -n 1)
	[ -d "$IMAGE" ] || reason="the Debian 12 image cannot be made: $(tail -n 1 "$WORK/image.err")"
fi
if [ -n "$reason" ]; then
	skip "serve and Prosody in containers without systemd" "$reason"
	finish
	exit $?
fi

# Both containers: host network (its loopback), one directory shared for
# the socket; the helper's secrets and store are mounted in its own alone.
CTS=$WORK/ct
mkdir -p "$CTS/socket" "$CTS/secrets" "$CTS/replay" "$CTS/prosody"
own "$CTS/socket" "$CTS/replay"
chmod 0755 "$CTS" "$CTS/secrets"
CT_CONF=$CTS/secrets/token-auth.conf
{
	echo "otp_seed     = $OTP_SEED"
	echo "token_secret = $TOKEN_SECRET"
	echo "replay_store = /var/lib/prosody-token-auth/replay"
	echo "replay_per_user = 100000"
} >"$CT_CONF"
chmod 0600 "$CT_CONF"
own "$CT_CONF"
CT_MAX=2
PORT=$(free_port) || { fail "no free port"; finish; exit 1; }

declare -A ct_nspawn=() ct_leader=() ct_cgroup=()
ct_cleanup() {
	local name
	for name in "${!ct_nspawn[@]}"; do
		ct_stop 20 "${ct_nspawn[$name]}" "${ct_cgroup[$name]}"
	done
	e2e_cleanup
}
trap ct_cleanup EXIT

# helper_ct_start: the helper's container, serve as its PID 1.
helper_ct_start() {
	rm -rf "$CTS/helper"
	ct_start "pta-helper-$$" "$IMAGE" "$CTS/helper" \
		--bind-ro="$HELPER:/usr/bin/prosody-token-auth" \
		--bind-ro="$CTS/secrets:/etc/prosody-token-auth" \
		--bind="$CTS/replay:/var/lib/prosody-token-auth" \
		--bind="$CTS/socket:/srv/pta-socket" \
		-- /usr/bin/prosody-token-auth \
		--config /etc/prosody-token-auth/token-auth.conf --log stderr \
		serve --listen /srv/pta-socket/socket --user nobody --group prosody \
		--max-connections "$CT_MAX" || return 1
	ct_nspawn[helper]=$CT_NSPAWN
	ct_leader[helper]=$CT_LEADER
	ct_cgroup[helper]=$CT_CGROUP
	wait_for 20 test -S "$CTS/socket/socket"
}
helper_ct_stop() {
	ct_stop 20 "${ct_nspawn[helper]}" "${ct_cgroup[helper]}"
	local rc=$?
	unset "ct_nspawn[helper]"
	return "$rc"
}

# Prosody's container: Prosody as PID 1, the shipped fragment and modules.
PROSODY_MODULES_DIR=/srv/pta-modules e2e_prosody_config "$CTS/prosody/prosody.cfg.lua" \
	"$PORT" "$DOMAIN" /srv/pta-socket/socket 20 1
sed -i "s|$CTS/prosody|/srv/prosody|g" "$CTS/prosody/prosody.cfg.lua"
# Prosody runs as its own user, which reaches the socket through its group
# alone (the ids are the image's, the same in both containers).
PROSODY_UID=$(awk -F: '$1 == "prosody" { print $3 }' "$IMAGE/etc/passwd")
PROSODY_GID=$(awk -F: '$1 == "prosody" { print $4 }' "$IMAGE/etc/passwd")
chown -R "$PROSODY_UID:$PROSODY_GID" "$CTS/prosody"
helper_ct_start || fail "the helper's container starts serve as its only process"
check "the shared socket: mode 0660, Prosody's group" "660 $PROSODY_GID" \
	"$(stat -c '%a %g' "$CTS/socket/socket" 2>&1)"
check "in its container serve is PID 1" /usr/bin/prosody-token-auth \
	"$(tr '\0' '\n' <"/proc/${ct_leader[helper]}/cmdline" 2>/dev/null | head -n 1)"
ct_start "pta-prosody-$$" "$IMAGE" "$CTS/prosody-ct" \
	--bind-ro="$TOP/prosody:/srv/pta-modules" \
	--bind="$CTS/prosody:/srv/prosody" \
	--bind="$CTS/socket:/srv/pta-socket" \
	--user=prosody \
	-- /usr/bin/prosody --config /srv/prosody/prosody.cfg.lua -F ||
	fail "Prosody's container starts"
ct_nspawn[prosody]=$CT_NSPAWN
ct_cgroup[prosody]=$CT_CGROUP
check "in its container Prosody runs as prosody, not root" "$PROSODY_UID" \
	"$(awk '/^Uid:/ { print $2 }' "/proc/$CT_LEADER/status" 2>/dev/null)"
if ! wait_for 30 port_open "$PORT"; then
	fail "Prosody listens in its container"
	tail -20 "$CTS/prosody-ct/console.log" "$CTS/prosody/prosody.log" 2>/dev/null
	finish
	exit 1
fi
pass "Prosody runs in its container (PID 1, no systemd) on 127.0.0.1:$PORT"

login() {
	timeout 40 "${XMPP_CLIENT[@]}" --port "$PORT" --mech "$1" --jid "$2" \
		--password "$3" --timeout 30 2>>"$WORK/client.err"
}

mid_step 10
check "containers: PLAIN logs in" success "$(login PLAIN "alice@$DOMAIN" "$(token "alice@$DOMAIN")")"
check "containers: X-TOKEN logs in" success "$(login X-TOKEN "alice@$DOMAIN" "$(token "alice@$DOMAIN")")"
tok=$(token "bob@$DOMAIN")
check "containers: a token's first use" success "$(login PLAIN "bob@$DOMAIN" "$tok")"
check "containers: its replay is refused" not-authorized "$(login PLAIN "bob@$DOMAIN" "$tok")"

# The helper's container stopped (SIGTERM to serve) and started again.
mapfile -t kids < <(helpers_of "${ct_leader[helper]}")
helper_ct_stop && pass "the helper's container stops on SIGTERM, in time" ||
	fail "the helper's container had to be killed"
gone "${kids[@]}" && pass "... leaving no helper (by PID)" || fail "helpers left: ${kids[*]}"
test ! -e "$CTS/socket/socket" && pass "... and no socket" || fail "the socket is left"
mid_step 10
out=$(login PLAIN "carol@$DOMAIN" "$(token "carol@$DOMAIN")")
test "$out" != success && pass "helper stopped: a login is refused ($out)" ||
	fail "helper stopped: a login succeeded"
helper_ct_start || fail "the helper's container starts again"
mid_step 10
check "helper started again: logins recover" success \
	"$(login X-TOKEN "carol@$DOMAIN" "$(token "carol@$DOMAIN")")"

# serve killed (PID 1 of its container): no helper left.
# (one connection held from here, so that a helper surely runs, whether or
# not Prosody's own connection has been closed as idle yet)
session_open z "$CTS/socket/socket"
check "a connection from the host to the container's socket" 1 \
	"$(session_ask z "isuser:z:$DOMAIN")"
mapfile -t kids < <(helpers_of "${ct_leader[helper]}")
test "${#kids[@]}" -gt 0 && pass "the connections have helpers (${#kids[@]})" ||
	fail "no helper for the connections"
kill -KILL "${ct_leader[helper]}"
wait_for 10 gone "${kids[@]}" && pass "serve killed: no helper left (by PID)" ||
	fail "serve killed: helpers left: ${kids[*]}"
session_close z
helper_ct_stop
helper_ct_start || fail "the helper's container starts over the stale socket"
mid_step 10
check "... and logins recover" success "$(login PLAIN "dave@$DOMAIN" "$(token "dave@$DOMAIN")")"

# More logins at once than --max-connections: two connections held from
# here, three logins through Prosody wait, then succeed.
wait_for 15 helpers_are "${ct_leader[helper]}" 0 || {
	fail "Prosody's idle connections close"
	ps -o pid,stat,etimes,args --ppid "${ct_leader[helper]}"
}
session_open c1 "$CTS/socket/socket"
session_open c2 "$CTS/socket/socket"
session_ask c1 "isuser:h:$DOMAIN" >/dev/null
session_ask c2 "isuser:h:$DOMAIN" >/dev/null
check "containers: the limit ($CT_MAX) is taken" "$CT_MAX" "$(count_helpers "${ct_leader[helper]}")"
mid_step 20
for i in 1 2 3; do
	(
		close_sessions
		login PLAIN "many$i@$DOMAIN" "$(token "many$i@$DOMAIN")" >"$WORK/many$i"
	) &
	pids+=($!)
done
sleep 3
check "containers: beyond the limit, logins wait" "||" \
	"$(cat "$WORK/many1")|$(cat "$WORK/many2")|$(cat "$WORK/many3")"
session_close c1
session_close c2
all_logged_in() {
	[ "$(cat "$WORK/many1" "$WORK/many2" "$WORK/many3" | tr -d '\n')" = successsuccesssuccess ]
}
wait_for 30 all_logged_in
check "containers: ... then all three log in" "success|success|success" \
	"$(cat "$WORK/many1")|$(cat "$WORK/many2")|$(cat "$WORK/many3")"
grep -E '\s(warn|error)\s' "$CTS/prosody/prosody.log" | sed 's/^/# Prosody: /' | head -n 5

finish
