#!/bin/bash
# The helper over pipes: answers, framing, replay across processes, the
# subcommands. HELPER may name another build (valgrind, sanitizers).
. "$(dirname "$0")/../lib/lib.sh"

CONF=$WORK/token-auth.conf
make_config "$CONF"
JID=bob@example.org

# ask REQUEST...: the generic answers, space-separated; the exit status and
# stderr are checked too (helper mode writes nothing there, exits 0).
ask() {
	local out status
	out=$(printf '%s\n' "$@" | timeout 60 $HELPER --config "$CONF" 2>"$WORK/stderr")
	status=$?
	[ "$status" -eq 0 ] || echo "exit=$status"
	[ -s "$WORK/stderr" ] && echo "stderr=$(head -c 200 "$WORK/stderr")"
	echo $out
}

# ask_ejabberd REQUEST...: the same through ejabberd framing.
ask_ejabberd() {
	local out
	out=$(printf '%s\n' "$@" | $PY "$TOP/tests/lib/frames.py" encode |
		timeout 60 $HELPER --config "$CONF" 2>"$WORK/stderr" |
		$PY "$TOP/tests/lib/frames.py" decode)
	[ -s "$WORK/stderr" ] && echo "stderr=$(head -c 200 "$WORK/stderr")"
	echo $out
}

valid=$(token $JID)
check "valid token accepted, then its replay refused" "1 0" \
	"$(ask "auth:bob:example.org:$valid" "auth:bob:example.org:$valid")"
check "replay refused by a later process too" "0" \
	"$(ask "auth:bob:example.org:$valid")"
check "expired token refused" "0" "$(ask "auth:bob:example.org:$(token $JID --offset -120)")"
check "token from the future refused" "0" "$(ask "auth:bob:example.org:$(token $JID --offset 120)")"
mid_step 15
check "token one step old accepted" "1" "$(ask "auth:bob:example.org:$(token $JID --offset -30)")"
check "another user's token refused" "0" "$(ask "auth:alice:example.org:$(token $JID)")"
check "a token for 4bob refused for bob" "0" "$(ask "auth:bob:example.org:$(token 4bob@example.org)")"
check "garbage refused, and the next request still served" "0 0 0 1" \
	"$(ask "auth:bob:example.org:garbage" "no colon at all" "" "isuser:bob:example.org")"
t=$(token $JID)
check "a password with ':' is one field" "0 1" \
	"$(ask "auth:bob:example.org:$t:extra" "auth:bob:example.org:$t")"
check "CRLF line endings" "1" "$(printf 'auth:bob:example.org:%s\r\n' "$(token $JID)" |
	timeout 20 $HELPER --config "$CONF")"
check "CR inside a password refused" "0" "$(printf 'auth:bob:example.org:%s\rx\n' "$(token $JID)" |
	timeout 20 $HELPER --config "$CONF")"
check "isuser: well-formed user answered 1, bad names 0" "1 0 0 0" \
	"$(ask "isuser:anyone:example.org" "isuser::example.org" "isuser:a@b:example.org" "isuser:a b:example.org")"
check "account changes refused" "0 0 0 0 0" \
	"$(ask "setpass:bob:example.org:x" "tryregister:bob:example.org:x" "removeuser:bob:example.org" "removeuser3:bob:example.org:x" "certauth:bob:example.org:x")"
check "upper-case user is another JID (servers nodeprep first)" "0" \
	"$(ask "auth:Bob:example.org:$(token $JID)")"

# Reasons with the answers: only for a client whose first line asks for
# them (the Prosody provider); everyone else gets exactly 1 or 0.
# ask_lines REQUEST...: the generic answers, one per line, joined by '|'.
ask_lines() {
	printf '%s\n' "$@" | timeout 60 $HELPER --config "$CONF" 2>"$WORK/stderr" | paste -sd '|'
}
t=$(token $JID)
check "options:reasons first: answered 1, then refusals carry their reason" \
	"1|1|0 replayed|0 bad_signature|0 outside_window|0 malformed|1|0|0 malformed_request" \
	"$(ask_lines options:reasons "auth:bob:example.org:$t" "auth:bob:example.org:$t" \
		"auth:alice:example.org:$(token $JID)" \
		"auth:bob:example.org:$(token $JID --offset -120)" "auth:bob:example.org:garbage" \
		"isuser:bob:example.org" "setpass:bob:example.org:x" "no colon")"
check "options:reasons not first: an unknown request, no reasons after it" "0|0|0" \
	"$(ask_lines "auth:bob:example.org:$t" options:reasons "auth:bob:example.org:garbage")"
check "no options: the same requests get bare answers" "1|0|0|0" \
	"$(ask_lines "auth:bob:example.org:$(token $JID)" "auth:bob:example.org:$t" \
		"auth:alice:example.org:$(token $JID)" "auth:bob:example.org:garbage")"
check "options:reasons over ejabberd framing: refused, and no reasons" "0 1 0" \
	"$(ask_ejabberd options:reasons "auth:bob:example.org:$(token $JID)" "auth:bob:example.org:$t")"
check "an unknown option is refused and asks for nothing" "0|0" \
	"$(ask_lines options:everything "auth:bob:example.org:$t")"

# Per-domain secrets: the global secrets do not open a domain with its own.
DCONF=$WORK/domains.conf
{
	echo "replay_store = $WORK/replay-domains"
	echo "[chat.example.org]"
	echo "otp_seed = ABCDEFGHIJKLMNOP"
	echo "token_secret = ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	echo "[prosody.cfg.lua]"
	echo "prosody_otp_seed = $OTP_SEED"
	echo "prosody_token_secret = $TOKEN_SECRET"
} >"$DCONF"
chmod 600 "$DCONF"
chat=$($TOKENGEN ABCDEFGHIJKLMNOP ABCDEFGHIJKLMNOPQRSTUVWXYZ234567 bob@chat.example.org)
out=$(printf '%s\n' "auth:bob:chat.example.org:$(token bob@chat.example.org)" \
	"auth:bob:CHAT.example.org:$chat" "auth:bob:chat.example.org:$chat" \
	"auth:bob:other.org:$(token bob@other.org)" |
	timeout 20 $HELPER --config "$DCONF")
check "domain sections: own secrets only, case-insensitive domain, global elsewhere" \
	"0 0 1 1" "$(echo $out)"
sed -i '/prosody.cfg.lua/,$d' "$DCONF"
out=$(printf '%s\n' "auth:bob:other.org:$(token bob@other.org)" "isuser:bob:other.org" \
	"isuser:bob:chat.example.org" | timeout 20 $HELPER --config "$DCONF")
check "no global secrets: unknown domains refused" "0 0 1" "$(echo $out)"

# ejabberd framing over pipes, detected from the first byte and forced.
t=$(token $JID)
check "ejabberd framing" "1 0 1 0 0" "$(ask_ejabberd "auth:bob:example.org:$t" \
	"auth:bob:example.org:$t" "isuser:bob:example.org" "" "auth:bob:example.org:junk")"
out=$(printf '\0\5isu' | timeout 20 $HELPER --config "$CONF" | $PY "$TOP/tests/lib/frames.py" decode)
check "ejabberd: a frame cut short by end of input is answered 0" "0" "$out"
out=$( { printf '\377\377'; head -c 65535 /dev/zero; printf '\0\026isuser:bob:example.org'; } |
	timeout 20 $HELPER --config "$CONF" | $PY "$TOP/tests/lib/frames.py" decode)
check "ejabberd: an oversized frame is skipped whole" "0 1" "$(echo $out)"
# A client picks its password's length, and so the first byte of a fresh
# helper's input: a printable one must not switch it to the generic framing.
for n in 2304 2600 3583 8192 9000 26000; do
	t=$(token $JID)
	out=$(printf '%s\n' "auth:bob:example.org:$(head -c $((n - 21)) /dev/zero | tr '\0' p)" \
		"auth:bob:example.org:$t" "isuser:bob:example.org" | $PY "$TOP/tests/lib/frames.py" encode |
		timeout 20 $HELPER --config "$CONF" | $PY "$TOP/tests/lib/frames.py" decode)
	check "ejabberd detected when the first frame is $n bytes (printable length byte)" \
		"0 1 1" "$(echo $out)"
done
for b in 3 4 13 17 19 21 26 28 127; do
	body=$(head -c "$b" /dev/zero | tr '\0' x)
	out=$(printf '%s\n' "$body" "isuser:bob:example.org" | $PY "$TOP/tests/lib/frames.py" encode |
		timeout 20 $HELPER --protocol ejabberd --config "$CONF" |
		$PY "$TOP/tests/lib/frames.py" decode)
	check "ejabberd: length byte $b" "0 1" "$(echo $out)"
done
out=$( { printf "\\$(printf %o 13)\\0"; head -c $((13 * 256)) /dev/zero; printf '\0\026isuser:bob:example.org'; } |
	timeout 20 $HELPER --protocol ejabberd --config "$CONF" | $PY "$TOP/tests/lib/frames.py" decode)
check "ejabberd: high length byte 13" "0 1" "$(echo $out)"
check "generic: an oversized line is refused whole" "0 1" \
	"$(ask "auth:bob:example.org:$(head -c 100000 /dev/zero | tr '\0' 7)" "isuser:bob:example.org")"
check "--protocol generic forced" "1" "$(printf 'isuser:bob:example.org\n' |
	timeout 20 $HELPER --protocol generic --config "$CONF")"

# 10,000 requests in one stream: the exact count of 1s and 0s.
$TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" $JID --count 5000 >"$WORK/tokens"
awk '{ print "auth:bob:example.org:" $0; print "auth:alice:example.org:" $0 }' "$WORK/tokens" >"$WORK/stream"
timeout 120 $HELPER --config "$CONF" <"$WORK/stream" >"$WORK/answers"
check "10000 requests: all answered" "10000" "$(wc -l <"$WORK/answers")"
check "10000 requests: 5000 accepted" "5000" "$(grep -c '^1$' "$WORK/answers")"
check "10000 requests: 5000 refused" "5000" "$(grep -c '^0$' "$WORK/answers")"
check "10000 requests: in order" "$(printf '1\n0\n%.0s' $(seq 5000) | md5sum)" "$(md5sum <"$WORK/answers")"

# Several processes fed the same tokens: each accepted exactly once in all.
for n in 2 4; do
	$TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" $JID --count 200 | sed 's/^/auth:bob:example.org:/' >"$WORK/shared"
	pids=()
	for i in $(seq $n); do
		shuf "$WORK/shared" --random-source=<(yes $i) >"$WORK/in.$i"
		timeout 120 $HELPER --config "$CONF" <"$WORK/in.$i" >"$WORK/out.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	total=$(cat "$WORK"/out.* | grep -c '^1$')
	check "$n processes: 200 tokens accepted exactly 200 times in all" 200 "$total"
	dup=$(for i in $(seq $n); do paste -d' ' "$WORK/in.$i" "$WORK/out.$i"; done |
		awk '$2 == 1 { print $1 }' | sort | uniq -d | wc -l)
	check "$n processes: no token accepted twice" 0 "$dup"
	rm -f "$WORK"/in.* "$WORK"/out.*
done

# Start-up errors: loud, naming the file, before any request is read.
chmod 644 "$CONF"
out=$(echo "isuser:bob:example.org" | $HELPER --config "$CONF" 2>&1)
check "config readable by others: exit 1" 1 "$(echo "isuser:bob:example.org" | $HELPER --config "$CONF" >/dev/null 2>&1; echo $?)"
case $out in *"$CONF: readable by other users"*) pass "config error names the file";; *) fail "config error: $out";; esac
chmod 600 "$CONF"
echo "otp_window = many" >>"$CONF"
out=$($HELPER --config "$CONF" check-config 2>&1)
case $out in *"$CONF:5: otp_window must be a whole number"*) pass "config error names the line";; *) fail "config line error: $out";; esac
make_config "$CONF"
out=$($HELPER --config "$CONF" check-config 2>&1)
# (the same values as doc/test-vectors.md and the examples give)
check "check-config shows the secrets' fingerprints, never the secrets" \
	"otp_seed fingerprint: d77245a2c0b671af|token_secret fingerprint: 19ac59720dd0e4bd|" \
	"$(grep -o '[a-z_]* fingerprint: [0-9a-f]*' <<<"$out" | tr '\n' '|')$(grep -c -e "$OTP_SEED" -e "$TOKEN_SECRET" <<<"$out" | sed 's/^0$//')"
make_config "$CONF"
out=$(PROSODY_TOKEN_AUTH_CONFIG=$CONF $HELPER check-config 2>&1)
case $out in "$CONF: valid"*) pass "config taken from PROSODY_TOKEN_AUTH_CONFIG";; *) fail "env config: $out";; esac
out=$(PROSODY_TOKEN_AUTH_CONFIG=/nonexistent $HELPER --config "$CONF" check-config 2>&1)
case $out in "$CONF: valid"*) pass "--config wins over the environment";; *) fail "--config: $out";; esac

# Subcommands for people.
t=$($HELPER --config "$CONF" mint Bob@Example.org)
out=$($HELPER --config "$CONF" verify bob@example.org "$t")
check "mint lower-cases, verify accepts (exit 0)" "0" "$?"
case $out in valid:*"not used yet"*) pass "verify says valid and unused";; *) fail "verify: $out";; esac
check "verify does not use the token up" "1" "$(ask "auth:bob:example.org:$t")"
out=$($HELPER --config "$CONF" verify bob@example.org "$t")
check "verify after use: exit 1" 1 $?
check "verify after use: replayed, and nothing else" "invalid: replayed token (nonce already used)" "$out"
out=$($HELPER --config "$CONF" verify alice@example.org "$(token $JID)")
check "verify: bad signature" "invalid: bad signature" "$(head -n 1 <<<"$out")"
case $out in *"not signed with this token_secret for alice@example.org"*) pass "... and what to compare" ;;
*) fail "verify, bad signature: $out" ;; esac
out=$($HELPER --config "$CONF" verify bob@example.org "$(token $JID --offset -300)")
check "verify: expired" "invalid: OTP outside the time window" "$(head -n 1 <<<"$out")"
case $out in *"is that of "*", 10 steps (300 s) behind this server's clock"*|*"is that of "*", 11 steps (330 s) behind this server's clock"*)
	pass "... and by how much the clocks differ" ;;
*) fail "verify, expired: $out" ;; esac
check "verify: malformed" "invalid: malformed token" "$($HELPER --config "$CONF" verify bob@example.org "123 abc" | head -n 1)"
# What is malformed, for the mistakes web developers make.
t=$(token $JID)
for mistake in "6-digit OTP|$(token $JID --digits 6)|a 6-digit OTP, pyotp's default" \
	"URL-safe base64|$(tr '+/' '-_' <<<"$t" | sed 's/[A-Za-z0-9]\(=*\)$/-\1/')|URL-safe base64" \
	"no padding|${t%=}|lacks its '=' padding" \
	"trailing space|$t |white space at its end" \
	"hex signature|${t%% *} $(printf '%064d' 7)|the signature is hex" \
	"no space|${t/ /}|no space between"; do
	IFS='|' read -r what bad words <<<"$mistake"
	out=$($HELPER --config "$CONF" verify bob@example.org "$bad")
	case $out in *"$words"*) pass "verify names the mistake: $what" ;;
	*) fail "verify, $what: $out" ;; esac
done
$HELPER --config "$CONF" verify bob@example.org "123 abc" >/dev/null
check "verify: exit 1 when invalid" 1 $?
$HELPER gen-secrets >"$WORK/gen.conf"
chmod 600 "$WORK/gen.conf"
echo "replay_store = $WORK/replay-gen" >>"$WORK/gen.conf"
check "gen-secrets makes a valid config" 0 "$($HELPER --config "$WORK/gen.conf" check-config >/dev/null; echo $?)"
seed=$(awk '$1 == "otp_seed" { print $3 }' "$WORK/gen.conf")
secret=$(awk '$1 == "token_secret" { print $3 }' "$WORK/gen.conf")
check "gen-secrets: 32 base32 characters each" "32 32" "${#seed} ${#secret}"
[ "$($HELPER gen-secrets | md5sum)" != "$(md5sum <"$WORK/gen.conf")" ] && pass "gen-secrets differs each time" || fail "gen-secrets repeats"
t=$($TOKENGEN "$seed" "$secret" carol@example.org)
check "gen-secrets secrets work with the web app's code" "1" \
	"$(echo "auth:carol:example.org:$t" | $HELPER --config "$WORK/gen.conf")"
$HELPER --help | grep -q "mint USER@DOMAIN" && pass "--help" || fail "--help"
check "--version" "prosody-token-auth $PTA_VERSION" "$($HELPER --version)"
check "the version is the Debian changelog's" "$PTA_VERSION" \
	"$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$TOP/debian/changelog")"
$HELPER bogus >/dev/null 2>&1
check "unknown subcommand: exit 2" 2 $?

finish
