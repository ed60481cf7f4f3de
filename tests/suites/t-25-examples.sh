#!/bin/bash
# The web application's side: the minting examples in examples/ (Python, PHP,
# Node.js) make tokens, and JWTs (mint_jwt.*, with keys from jwt-keygen),
# that the helper accepts exactly once, in time zones far from UTC; they reproduce the test vectors of doc/test-vectors.md and the
# fingerprints of their secrets; they refuse bad input with one line on
# stderr. The vectors themselves are computed again independently (pyotp)
# and must be those of the page and of the C unit test.
. "$(dirname "$0")/../lib/lib.sh"

EX=$TOP/examples
DOC=$TOP/doc/test-vectors.md
COUNT=100
ZONES="Europe/Berlin Pacific/Kiritimati"
JID=bob@example.org

CONF=$WORK/token-auth.conf
make_config "$CONF"
# Vector 1, for these secrets.
V1_NONCE=01234567890123456789012345678901
V1_TOKEN="8095230901234567890123456789012345678901 6rFafUhB2ZKCkiNdoFd9cyZ0wp+7fPcayphbHS85/5s="

# --- the vectors: the page, an independent computation, the C unit test --

vectors=
if $PY -c 'import pyotp' 2>/dev/null; then
	if out=$($PY "$TOP/tests/lib/vectors.py" check "$DOC" 2>&1); then
		pass "doc/test-vectors.md: $(grep -c '^ok' <<<"$out") vectors, computed again with pyotp"
	else
		fail "doc/test-vectors.md differs from tests/lib/vectors.py: $(grep -v '^ok' <<<"$out" | tr '\n' ' ')"
	fi
	mkdir "$WORK/vectors"
	$PY "$TOP/tests/lib/vectors.py" export "$WORK/vectors" >"$WORK/vectors/list" &&
		vectors=$WORK/vectors/list
else
	skip "test vectors computed again" "python3-pyotp is not installed (tests/deps.sh installs it)"
fi

if [ -n "$vectors" ]; then
	# The C test's string literals, adjacent ones joined.
	ctext=$(tr -d '\n\t' <"$TOP/tests/unit/test_vectors.c" | sed 's/" *"//g')
	missing=
	while IFS=$'\t' read -r n _ _ _ _ token seed_fp secret_fp; do
		for want in "$token" "$seed_fp" "$secret_fp"; do
			grep -qF -- "\"$want\"" <<<"$ctext" || missing="$missing $n:$want"
		done
	done <"$vectors"
	check "tests/unit/test_vectors.c has every vector's token and fingerprints" "" "$missing"
fi

# --- which examples can run here ------------------------------------------

mint_python() { $PY "$EX/mint_token.py" "$@"; }
mint_php() { php "$EX/mint_token.php" "$@"; }
mint_node() { node "$EX/mint_token.mjs" "$@"; }

examples=(python)
if command -v php >/dev/null; then
	examples+=(php)
else
	skip "the PHP example" "no php on PATH (tests/deps.sh installs php-cli)"
fi
if ! command -v node >/dev/null; then
	skip "the Node.js example" "no node on PATH (tests/deps.sh installs nodejs)"
elif ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
	skip "the Node.js example" "node $(node --version) is older than 18"
else
	examples+=(node)
fi

zones=()
for zone in $ZONES; do
	# Without its tzdata file a zone silently means UTC, proving nothing.
	if [ "$(TZ=$zone date +%z)" = +0000 ]; then
		skip "minting in $zone" "the zone is unknown here (package tzdata)"
	else
		zones+=("$zone")
	fi
done

# helper_answers CONF < REQUESTS: the helper's answers on one line.
helper_answers() {
	$HELPER --config "$1" --log stderr 2>>"$WORK/helper.log" | tr -d '\n'
}

# expect_error NAME WORDS COMMAND...: COMMAND fails with one line on stderr
# that contains WORDS and no secret, and prints nothing on stdout.
expect_error() {
	local name=$1 words=$2 status
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err"
	status=$?
	if [ "$status" -ne 0 ] && [ ! -s "$WORK/out" ] &&
		[ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -qF -- "$words" "$WORK/err" &&
		! grep -qiF -e "$OTP_SEED" -e "$TOKEN_SECRET" -e NOT-BASE32 "$WORK/err"; then
		pass "$name"
	else
		fail "$name: status $status, stdout '$(head -c 200 "$WORK/out")', stderr '$(head -c 400 "$WORK/err")'"
	fi
}

# A second domain with secrets of its own, and other numbers.
MIXED=$WORK/mixed.conf
cat >"$MIXED" <<CFG
otp_seed     = $OTP_SEED
token_secret = $TOKEN_SECRET
otp_digits   = 10
otp_interval = 60
nonce_digits = 20
replay_store = $WORK/replay

[Chat.Example.ORG]
otp_seed     = HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M
token_secret = BJWMVD7TUFD25U7ZBKGRDZJPBUCK747J
CFG
# collective.converse's secrets.cfg as it is.
SECRETS_CFG=$WORK/secrets.cfg
printf '[prosody.cfg.lua]\nprosody_otp_seed = %s\nprosody_token_secret = %s\nreplay_store = %s\n' \
	"$OTP_SEED" "$TOKEN_SECRET" "$WORK/secrets-cfg-store" >"$SECRETS_CFG"
# The same but for one secret each.
printf 'otp_seed = %s\ntoken_secret = %s\n' "$OTP_SEED" NOTTHESECRETNOTTHESECRET32CHARS0 >"$WORK/other-secret.conf"
printf 'otp_seed = %s\ntoken_secret = %s\n' HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M "$TOKEN_SECRET" >"$WORK/other-seed.conf"
printf 'otp_seed = %s\n' "$OTP_SEED" >"$WORK/no-secret.conf"
printf '[chat.example.org]\notp_seed = %s\ntoken_secret = %s\n' "$OTP_SEED" "$TOKEN_SECRET" >"$WORK/only-domain.conf"
printf 'otp_seed = %s\ntoken_secret = %s\n' "NOT-BASE32-AT-ALL!" "$TOKEN_SECRET" >"$WORK/bad-seed.conf"
chmod 600 "$WORK"/*.conf "$WORK"/*.cfg

all_nonces=$WORK/nonces
for ex in "${examples[@]}"; do
	mint="mint_$ex"

	# --- the vectors and the fingerprints, in a zone far from UTC -----
	if [ -n "$vectors" ]; then
		bad=
		while IFS=$'\t' read -r n conf jid now nonce token seed_fp secret_fp; do
			got=$(TZ=Pacific/Kiritimati "$mint" "$conf" "$jid" "$now" "$nonce" 2>&1)
			[ "$got" = "$token" ] || bad="$bad vector $n: '$got';"
			got=$("$mint" --fingerprint "$conf" "$jid" 2>&1)
			[ "$got" = "otp_seed fingerprint: $seed_fp"$'\n'"token_secret fingerprint: $secret_fp" ] ||
				bad="$bad fingerprints $n: '$got';"
		done <"$vectors"
		check "$ex: every vector's token and fingerprints reproduced" "" "$bad"
		check "$ex: fingerprints of the global secrets without a JID" \
			"otp_seed fingerprint: d77245a2c0b671af token_secret fingerprint: 19ac59720dd0e4bd" \
			"$("$mint" --fingerprint "$CONF" | tr '\n' ' ' | sed 's/ $//')"
	fi

	# --- a library for the web application: loading it runs nothing ---
	# (the code below is PHP and JavaScript, not shell)
	# shellcheck disable=SC2016
	case $ex in
	python) got=$($PY -c 'import sys; sys.path.insert(0, sys.argv[1]); import mint_token as m
print(m.mint_token(m.read_config(sys.argv[2]), sys.argv[3], 1700000000, sys.argv[4]))' \
		"$EX" "$CONF" "$JID" "$V1_NONCE" 2>&1) ;;
	php) got=$(php -r 'require $argv[1] . "/mint_token.php";
echo pta_mint_token(pta_read_config($argv[2]), $argv[3], 1700000000, $argv[4]), "\n";' \
		"$EX" "$CONF" "$JID" "$V1_NONCE" 2>&1) ;;
	node) got=$(node --input-type=module -e 'const [dir, conf, jid, nonce] = process.argv.slice(1);
const m = await import(dir + "/mint_token.mjs");
console.log(m.mintToken(m.readConfig(conf), jid, 1700000000, nonce));' \
		"$EX" "$CONF" "$JID" "$V1_NONCE" 2>&1) ;;
	esac
	check "$ex: used as a library, it mints vector 1 and prints nothing else" "$V1_TOKEN" "$got"

	# --- many fresh tokens, accepted once each, in every zone ---------
	for zone in "${zones[@]}"; do
		tokens=$WORK/$ex-${zone//\//-}.tokens
		if ! TZ=$zone "$mint" --count "$COUNT" "$CONF" "$JID" >"$tokens" 2>"$WORK/err"; then
			fail "$ex ($zone): --count $COUNT failed: $(head -c 300 "$WORK/err")"
			continue
		fi
		check "$ex ($zone): $COUNT well-formed tokens" "$COUNT" \
			"$(grep -cE '^[0-9]{40} [A-Za-z0-9+/]{43}=$' "$tokens")"
		check "$ex ($zone): $COUNT different nonces" "$COUNT" "$(cut -c9-40 "$tokens" | sort -u | wc -l)"
		cut -c9-40 "$tokens" >>"$all_nonces"
		sed 's/^/auth:bob:example.org:/' "$tokens" >"$WORK/requests"
		answers=$(cat "$WORK/requests" "$WORK/requests" | helper_answers "$CONF")
		first=${answers:0:COUNT}
		again=${answers:COUNT}
		check "$ex ($zone): each token accepted, then each replay refused" \
			"$COUNT of $COUNT accepted, $COUNT replays refused" \
			"$(tr -cd 1 <<<"$first" | wc -c) of ${#first} accepted, $(tr -cd 0 <<<"$again" | wc -c) replays refused"
	done

	# --- what the config and the JID change ---------------------------
	t1=$("$mint" "$MIXED" Alice@Chat.Example.ORG)
	t2=$("$mint" "$MIXED" Jürgen@example.org)
	check "$ex: a [domain] section, a JID in capitals, a non-ASCII user, 10 digits, 20-digit nonce, 60 s" \
		"11" "$(printf 'auth:alice:chat.example.org:%s\nauth:jürgen:example.org:%s\n' "$t1" "$t2" |
			helper_answers "$MIXED")"
	check "$ex: collective.converse's secrets.cfg" 1 \
		"$(echo "auth:bob:example.org:$("$mint" "$SECRETS_CFG" "$JID")" | helper_answers "$SECRETS_CFG")"
	t=$("$mint" "$WORK/other-secret.conf" "$JID")
	check "$ex: a token made with another token_secret is refused" "0 invalid: bad signature" \
		"$(echo "auth:bob:example.org:$t" | helper_answers "$CONF") $($HELPER --config "$CONF" verify "$JID" "$t" | head -n 1)"
	t=$("$mint" "$WORK/other-seed.conf" "$JID")
	check "$ex: a token made with another otp_seed is refused" "0 invalid: OTP outside the time window" \
		"$(echo "auth:bob:example.org:$t" | helper_answers "$CONF") $($HELPER --config "$CONF" verify "$JID" "$t" | head -n 1)"

	# --- mistakes: one line on stderr, no token, no secret -------------
	expect_error "$ex: a missing config file is named" "$WORK/nonexistent.conf" \
		"$mint" "$WORK/nonexistent.conf" "$JID"
	expect_error "$ex: a missing token_secret is named" token_secret \
		"$mint" "$WORK/no-secret.conf" "$JID"
	expect_error "$ex: an otp_seed that is not base32" "otp_seed must be" \
		"$mint" "$WORK/bad-seed.conf" "$JID"
	for bad in bob "bo b@example.org" "bob@" "@example.org" "bob@example.org/res" "a:b@example.org"; do
		expect_error "$ex: bad JID '$bad' refused" "must be USER@DOMAIN" "$mint" "$CONF" "$bad"
	done
	expect_error "$ex: a nonce of the wrong length" "NONCE must be exactly 32 digits" \
		"$mint" "$CONF" "$JID" 1700000000 0123
	expect_error "$ex: no secrets for the JID's domain" "no [other.example] section" \
		"$mint" "$WORK/only-domain.conf" bob@other.example
	expect_error "$ex: a usage line for unknown arguments" "usage:" "$mint" --bogus
done

# --- the nonces' digits are uniform ------------------------------------
# Pearson's chi-squared over every digit minted above, 9 degrees of
# freedom: above 45 happens by chance once in a million runs; a generator
# that favours some digits by a few percent, or never draws some, is far
# above it.
if [ -s "$all_nonces" ]; then
	chi=$(fold -w1 "$all_nonces" | sort | uniq -c |
		awk '{ n[$2] = $1; total += $1 }
		END { e = total / 10; for (d = 0; d < 10; d++) x += (n[d] - e) ^ 2 / e; printf "%.1f %d", x, total }')
	if awk -v x="${chi% *}" 'BEGIN { exit !(x < 45) }'; then
		pass "nonce digits uniform: chi-squared ${chi% *} over ${chi#* } digits (< 45)"
	else
		fail "nonce digits not uniform: chi-squared ${chi% *} over ${chi#* } digits"
	fi
fi

# --- JWTs: keys from jwt-keygen, tokens from each example ---------------

# jwt_python etc. KEY JID: a JWT minted by the example (PyJWT, PHP's sodium
# and openssl, node:crypto), run as EXAMPLE PRIVATE_KEY JID.
jwt_python() { $PY "$EX/mint_jwt.py" "$@"; }
jwt_php() { php "$EX/mint_jwt.php" "$@"; }
jwt_node() { node "$EX/mint_jwt.mjs" "$@"; }

if $PY -c 'import jwt' 2>/dev/null; then
	JWT_DIR=$WORK/jwt
	mkdir -p "$JWT_DIR"
	for alg in EdDSA ES256 RS256; do
		$HELPER jwt-keygen --kid "$alg" --alg "$alg" --jwks "$JWT_DIR/set.jwks" \
			--private-key "$JWT_DIR/$alg.pem" >/dev/null ||
			fail "jwt-keygen --alg $alg"
	done
	make_config "$WORK/jwt.conf" "jwt_keys = $JWT_DIR/set.jwks" \
		"jwt_audience = xmpp:example.org"
	for ex in "${examples[@]}"; do
		for alg in EdDSA ES256 RS256; do
			for zone in "${zones[@]}"; do
				t=$(TZ=$zone "jwt_$ex" "$JWT_DIR/$alg.pem" Bob@Example.org)
				check "mint_jwt ($ex, $alg) in $zone: accepted once" 10 \
					"$(printf 'auth:bob:example.org:%s\n' "$t" "$t" | helper_answers "$WORK/jwt.conf")"
			done
		done
		expect_error "mint_jwt ($ex): a missing key file is one line on stderr" \
			"$JWT_DIR/none.pem" "jwt_$ex" "$JWT_DIR/none.pem" bob@example.org
	done
else
	skip "the JWT examples" "python3-jwt is not installed (tests/deps.sh installs it)"
fi

# --- the zones matter: the old README generator fails in them -----------
if $PY -c 'import pyotp' 2>/dev/null && [ "${#zones[@]}" -gt 0 ]; then
	for zone in "${zones[@]}"; do
		t=$(TZ=$zone $PY - "$OTP_SEED" "$TOKEN_SECRET" "$JID" <<'PY'
import base64, hashlib, hmac, random, sys
from datetime import datetime
import pyotp
seed, secret, jid = sys.argv[1:]
totp = pyotp.TOTP(seed, digits=8, interval=30)
otp = totp.generate_otp(totp.timecode(datetime.utcnow()))
nonce = "".join(str(random.randint(0, 9)) for _ in range(32))
sig = hmac.new(secret.encode(), (otp + nonce + jid).encode(), hashlib.sha256).digest()
print(otp + nonce + " " + base64.b64encode(sig).decode())
PY
		)
		check "the old generator, run in $zone, is refused (the zone is a real test)" 0 \
			"$(echo "auth:bob:example.org:$t" | helper_answers "$CONF")"
	done
fi

finish
