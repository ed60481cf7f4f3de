#!/bin/bash
# Interoperability in both directions: the web application's own Python code
# makes tokens the helper accepts; the helper's 'mint' makes tokens that an
# independent verifier written from the contract accepts; oathtool agrees
# with the helper's OTP.
. "$(dirname "$0")/../lib/lib.sh"

CONF=$WORK/token-auth.conf
make_config "$CONF"

for jid in bob@example.org alice@chat.example.org x@y; do
	user=${jid%@*}
	domain=${jid#*@}
	check "reference generator -> helper ($jid)" 1 \
		"$(echo "auth:$user:$domain:$(token "$jid")" | $HELPER --config "$CONF")"
	t=$($HELPER --config "$CONF" mint "$jid")
	check "helper mint -> independent verifier ($jid)" valid \
		"$($PY "$TOP/tests/lib/tokencheck.py" "$OTP_SEED" "$TOKEN_SECRET" "$jid" "$t")"
done
t=$($HELPER --config "$CONF" mint bob@example.org)
check "independent verifier refuses another user" "bad signature" \
	"$($PY "$TOP/tests/lib/tokencheck.py" "$OTP_SEED" "$TOKEN_SECRET" alice@example.org "$t")"

# A secrets.cfg as collective.converse documents it (the replay store line
# only moves the store into this test's directory).
cat >"$WORK/secrets.cfg" <<CFG
[prosody.cfg.lua]
prosody_otp_seed = $OTP_SEED
prosody_token_secret = $TOKEN_SECRET
replay_store = $WORK/replay
CFG
chmod 600 "$WORK/secrets.cfg"
check "collective.converse secrets.cfg works as it is" 1 \
	"$(echo "auth:bob:example.org:$(token bob@example.org)" |
		$HELPER --config "$WORK/secrets.cfg")"

# oathtool and the helper compute the same OTP (retried if a 30 s step
# boundary falls between the two readings).
agree=no
for attempt in 1 2 3; do
	before=$(oathtool --totp -d 8 -b "$OTP_SEED")
	otp=$($HELPER --config "$CONF" mint bob@example.org | cut -c1-8)
	after=$(oathtool --totp -d 8 -b "$OTP_SEED")
	if [ "$before" = "$after" ]; then
		[ "$otp" = "$before" ] && agree=yes
		break
	fi
done
check "oathtool --totp -d 8 agrees with the helper's OTP" yes "$agree"

# A longer OTP and a shorter nonce, configured on both sides.
make_config "$CONF" "otp_digits = 10" "nonce_digits = 20" "otp_interval = 60"
t=$($TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" bob@example.org --digits 10 --nonce-digits 20 --interval 60)
check "otp_digits, nonce_digits and otp_interval honoured" "1 0" \
	"$(printf 'auth:bob:example.org:%s\n' "$t" "$(token bob@example.org)" |
		$HELPER --config "$CONF" | tr '\n' ' ' | sed 's/ $//')"

finish
