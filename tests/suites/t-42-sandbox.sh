#!/bin/bash
# The helper sandboxes itself wherever it runs: a helper spawned over pipes
# (as ejabberd does) has no_new_privs and a seccomp filter, and a build that
# tries, once confined, what the helper never does (read a file outside its
# store and config, write one, execute a program, open an Internet socket,
# fork) is refused by Landlock or killed by seccomp. --no-sandbox turns it
# all off, for debugging. (The other suites run the helper with its sandbox
# on: pipes, pty, faults, stress, Prosody, ejabberd, rotation, upgrades.)
. "$(dirname "$0")/../lib/lib.sh"

TEST_HELPER=$TOP/tests/prosody-token-auth-sandbox-test
CONF=$WORK/token-auth.conf
make_config "$CONF"

# status_of ARGS...: NoNewPrivs and Seccomp of a helper waiting for input.
status_of() {
	local pid st
	mkfifo "$WORK/in.$$" 2>/dev/null
	"$HELPER" --config "$CONF" "$@" <"$WORK/in.$$" >/dev/null 2>&1 &
	pid=$!
	pids+=("$pid")
	exec 3>"$WORK/in.$$"
	# Confined once it has loaded its config: wait for the filter.
	wait_for 10 grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status" 2>/dev/null ||
		[ "$*" = --no-sandbox ]
	sleep 0.2
	st=$(grep -E '^(NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s '\t ' ' ' | tr '\n' ' ')
	exec 3>&-
	wait "$pid" 2>/dev/null
	rm -f "$WORK/in.$$"
	echo "$st"
}

check "a helper spawned over pipes: no_new_privs and a seccomp filter" \
	"NoNewPrivs: 1 Seccomp: 2 " "$(status_of)"
check "... and none with --no-sandbox" "NoNewPrivs: 0 Seccomp: 0 " "$(status_of --no-sandbox)"
check "the connector (ejabberd's extauth_program): no_new_privs and a seccomp filter" \
	"NoNewPrivs: 1 Seccomp: 2 " "$(status_of --protocol generic connect "$WORK/no.sock")"
check "... and, confined, it answers 0 when nothing serves the socket, and exits 0" \
	"0 exit=0" "$(echo "isuser:bob:example.org" | timeout 20 "$HELPER" --protocol generic \
		--log stderr connect "$WORK/no.sock" 2>/dev/null | tr '\n' ' ')exit=$?"

if [ ! -x "$TEST_HELPER" ]; then
	fail "no $TEST_HELPER (make sandbox-test builds it)"
	finish
	exit 1
fi

# attempt WHAT: the answer to "sandbox-test:WHAT" after a valid login, and
# how the helper ended.
attempt() {
	local out status
	out=$(printf '%s\n' "auth:bob:example.org:$(token bob@example.org)" "sandbox-test:$1" \
		"isuser:bob:example.org" | timeout 20 "$TEST_HELPER" --config "$CONF" "${@:2}" 2>&1)
	status=$?
	echo $out "status=$status"
}

landlock=$($PY -c 'import ctypes; print(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1))')
if [ "${landlock:--1}" -ge 1 ]; then
	check "reading a file outside the store and the config: refused (Landlock), served on" \
		"1 0 1 status=0" "$(attempt open)"
	check "writing a file outside the store: refused (Landlock), served on" \
		"1 0 1 status=0" "$(attempt write)"
	rm -f /tmp/pta-sandbox-escape
	# A store that could not be made (here: on a read-only mount) is not
	# a reason to allow its parent, or the working directory, instead: a
	# write beneath the working directory (/tmp here) is refused.
	if command -v unshare >/dev/null && [ "$(id -u)" -eq 0 ]; then
		mkdir -p "$WORK/ro"
		make_config "$WORK/ro.conf" "replay_store = $WORK/ro/store"
		sed -i "/^replay_store = ${WORK//\//\\/}\/replay$/d" "$WORK/ro.conf"
		out=$(cd /tmp && printf '%s\n' "auth:bob:example.org:$(token bob@example.org)" \
			"sandbox-test:write" "isuser:bob:example.org" | timeout 20 \
			unshare -m sh -c 'mount --bind "$1" "$1" &&
				mount -o remount,bind,ro "$1" && shift && exec "$@"' sh \
			"$WORK/ro" "$TEST_HELPER" --config "$WORK/ro.conf" --log stderr \
			2>"$WORK/ro.err")
		check "a store that could not be made: nothing allowed in its place (a write in the working directory refused), served on" \
			"0 0 1 status=0" "$(echo $out) status=$?"
		rm -f /tmp/pta-sandbox-escape
		grep -q "store's directory $WORK/ro/store could not be made .* refused until the helper is restarted" "$WORK/ro.err" &&
			pass "... saying which directory, and what to do" ||
			fail "store not made: $(cat "$WORK/ro.err")"
	else
		skip "a store directory that could not be made" "needs root and unshare"
	fi
else
	skip "Landlock" "this kernel has none (Landlock ABI $landlock)"
fi
# 159: killed by SIGSYS (128 + 31), before or after the answers it had
# made were written.
for what in exec inet fork; do
	out=$(attempt "$what")
	case $out in
	*status=159) pass "$what: killed (seccomp)" ;;
	*) fail "$what: expected a kill by SIGSYS, got: $out" ;;
	esac
done
check "... and all of it works with --no-sandbox (the test build is honest)" \
	"1 1 1 status=0" "$(attempt open --no-sandbox)"
rm -f /tmp/pta-sandbox-escape

# Resolving names again (a Redis store that names its host by name) is
# allowed to such a store only: reading /etc/hosts and a netlink socket.
# (No Redis runs: the helpers serve while it is down. "localhost" is in
# /etc/hosts, so that nothing is asked of a resolver.)
# rattempt CONF WHAT: the answers to "sandbox-test:WHAT" and an isuser, and
# how the helper ended.
rattempt() {
	local out status
	out=$(printf '%s\n' "sandbox-test:$2" "isuser:bob:example.org" |
		timeout 20 "$TEST_HELPER" --config "$1" --protocol generic 2>&1)
	status=$?
	echo $out "status=$status"
}
RPORT=$((20000 + RANDOM % 40000))
make_config "$WORK/by-name.conf" "replay_store = redis://localhost:$RPORT/0"
sed -i "/^replay_store = ${WORK//\//\\/}\/replay$/d" "$WORK/by-name.conf"
make_config "$WORK/by-address.conf" "replay_store = redis://127.0.0.1:$RPORT/0"
sed -i "/^replay_store = ${WORK//\//\\/}\/replay$/d" "$WORK/by-address.conf"
check "a Redis store named by name: reading /etc/hosts allowed" "1 1 status=0" \
	"$(rattempt "$WORK/by-name.conf" hosts)"
check "... and a netlink socket (getaddrinfo's)" "1 1 status=0" \
	"$(rattempt "$WORK/by-name.conf" netlink)"
if [ "${landlock:--1}" -ge 1 ]; then
	check "a Redis store named by address: reading /etc/hosts refused (Landlock)" \
		"0 1 status=0" "$(rattempt "$WORK/by-address.conf" hosts)"
fi
out=$(rattempt "$WORK/by-address.conf" netlink)
case $out in
*status=159) pass "... and a netlink socket: killed (seccomp)" ;;
*) fail "a netlink socket with a store named by address: expected a kill by SIGSYS, got: $out" ;;
esac

# A helper the sandbox killed leaves the replay store whole.
check "the store a killed helper shared still answers" "1 exit=0" \
	"$(echo "auth:bob:example.org:$(token bob@example.org)" | "$HELPER" --config "$CONF" |
		tr '\n' ' ')exit=$?"

finish
