# shellcheck shell=bash disable=SC2153 # CONF, P_PORT... are bench/storm.sh's
# The correctness part of bench/storm.sh (--smoke), sourced by it: on every
# row a storm with refusals mixed in, each login's outcome checked, then the
# accepted tokens replayed. Asserts outcomes, never speed.

# mixed_logins FILE DOMAIN KIND [CONFIG]: 120 logins, shuffled, each with the
# outcome it must have. KIND password: right passwords, wrong ones, unknown
# users. KIND token: fresh tokens, tokens of another user, expired tokens,
# garbage.
mixed_logins() {
	"$PY" - "$TOP/tests/harness" "$@" >"$1" <<-'EOF'
		import random, sys
		sys.path.insert(0, sys.argv[1])
		out, domain, kind = sys.argv[2:5]
		users = 20
		jid = lambda i: "storm%d@%s" % (i % users + 1, domain)
		rows = []
		if kind == "password":
		    rows += [(jid(i), "storm-pw", "ok") for i in range(80)]
		    rows += [(jid(i), "storm-pw-wrong", "refused") for i in range(25)]
		    rows += [("nobody%d@%s" % (i, domain), "storm-pw", "refused") for i in range(15)]
		else:
		    from xmpp_storm import load_config
		    from tokengen import mint
		    c = load_config(sys.argv[5], domain)
		    m = lambda j, off=c["otp_interval"]: mint(
		        c["otp_seed"], c["token_secret"], j, offset=off,
		        digits=c["otp_digits"], interval=c["otp_interval"])
		    rows += [(jid(i), m(jid(i)), "ok") for i in range(80)]
		    rows += [(jid(i), m(jid(i + 1)), "refused") for i in range(15)]
		    rows += [(jid(i), m(jid(i), -600), "refused") for i in range(10)]
		    rows += [(jid(i), "1234567812345678123456781234567812345678 xyz",
		              "refused") for i in range(15)]
		random.shuffle(rows)
		for r in rows:
		    print("\t".join(r))
	EOF
}

# smoke_row LABEL PORT DOMAIN KIND [CONFIG]
smoke_row() {
	local label=$1 port=$2 domain=$3 kind=$4 conf=${5:-} f out
	f=$WORK/smoke-${label//\//-}
	mixed_logins "$f" "$domain" "$kind" "$conf"
	out=$("${STORM[@]}" --port "$port" --domain "$domain" --logins "$f" \
		-c "$C" --timeout 20 --label "$label" 2>&1)
	if grep -q '^storm: .* ok=80 refused=40 errors=0 wrong=0 ' <<<"$out"; then
		pass "$label: 120 logins at once, each outcome right (80 in, 40 refused)"
	else
		fail "$label: 120 logins at once, each outcome right: $(tr '\n' ' ' <<<"$out" | head -c 600)"
	fi
	[ "$kind" = token ] || return 0
	# The 80 accepted tokens again, at once: every one refused
	awk -F '\t' '$3 == "ok" { print $1 "\t" $2 "\trefused" }' "$f" >"$f.replay"
	out=$("${STORM[@]}" --port "$port" --domain "$domain" --logins "$f.replay" \
		-c "$C" --timeout 20 --label "$label replays" 2>&1)
	if grep -q '^storm: .* ok=0 refused=80 errors=0 wrong=0 ' <<<"$out"; then
		pass "$label: the 80 accepted tokens replayed at once: all refused"
	else
		fail "$label: the 80 accepted tokens replayed at once: all refused: $(tr '\n' ' ' <<<"$out" | head -c 600)"
	fi
}

for label in "${ROWS[@]}"; do
	case $label in
	prosody/internal_plain) smoke_row "$label" "$P_PORT" plain.test password ;;
	prosody/internal_hashed) smoke_row "$label" "$P_PORT" hashed.test password ;;
	prosody/token) smoke_row "$label" "$P_PORT" token.test token "$CONF" ;;
	prosody/token+redis) smoke_row "$label" "$P_PORT" redis.test token "$RCONF" ;;
	ejabberd/internal) smoke_row "$label" "$E_PORT" internal.test password ;;
	ejabberd/token) smoke_row "$label" "$E_PORT" token.test token "$CONF" ;;
	esac
done

# token_socket_max_queue: 12 logins at once to a host whose helper never
# answers and whose queue holds 4. The 4 that wait fail after the 2 s
# timeout, the other 8 at once; one log line says so.
if [ "$WANT_PROSODY" -eq 1 ]; then
	for i in $(seq 1 12); do
		printf 'queued%d@capped.test\t12345678123456781234567812345678123456789 x\trefused\n' "$i"
	done >"$WORK/capped"
	"${STORM[@]}" --port "$P_PORT" --domain capped.test --mech X-TOKEN \
		--logins "$WORK/capped" -c 12 --timeout 20 --outcomes "$WORK/capped.out" \
		>"$WORK/capped.log" 2>&1
	got=$(awk -F '\t' '$2 == "error: temporary-auth-failure" { if ($3 < 1000) fast++; else if ($3 >= 2000) slow++ }
		END { printf "%d at once, %d after the timeout", fast, slow }' "$WORK/capped.out" 2>/dev/null)
	check "token_socket_max_queue = 4: of 12 logins at once, 8 are refused at once as temporary failures, 4 wait for the timeout" \
		"8 at once, 4 after the timeout" "$got"
	check "token_socket_max_queue: one log line for the refusals" 1 \
		"$(grep -c 'Refused [0-9]* login(s): 4 already wait for the token helper at .*silent.sock (token_socket_max_queue)' "$WORK/prosody/prosody.log")"
	if grep -q Traceback "$WORK/prosody/prosody.log"; then
		fail "no Lua errors in Prosody's log: $(grep -m1 Traceback "$WORK/prosody/prosody.log")"
	else
		pass "no Lua errors in Prosody's log"
	fi
fi
