#!/bin/bash
# JWT login, interoperating: tokens made by Debian's python3-jwt (PyJWT)
# and python3-jwcrypto, and by npm's jose (pinned in tests/lib/jose), in every
# algorithm are each accepted exactly once
# by the helper over pipes; both formats side by side; a domain without
# jwt_keys refuses JWTs; the helper's own jwt-keygen and mint agree with
# PyJWT; verify explains; a replay is refused on a second node sharing a
# Redis; and a real Prosody logs users in with JWTs (PLAIN and X-TOKEN).
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

JWTGEN="$PY $TOP/tests/lib/jwtgen.py"
AUD=xmpp:example.org
ISS=https://app.example

if ! $PY -c 'import jwt, jwcrypto' 2>/dev/null; then
	fail "python3-jwt and python3-jwcrypto are installed (tests/deps.sh installs them)"
	finish
	exit 1
fi

KEYS=$WORK/keys
$JWTGEN keys "$KEYS" || { fail "keys made"; finish; exit 1; }
CONF=$WORK/jwt.conf
make_config "$CONF" "jwt_keys = $KEYS/set.jwks" "jwt_audience = $AUD" \
	"jwt_issuer = $ISS" \
	"[jwtonly.example]" "jwt_keys = $KEYS/set.jwks" "jwt_audience = $AUD" \
	"[converse.example]" "otp_seed = $OTP_SEED" "token_secret = $TOKEN_SECRET"

check "check-config accepts the set" 0 \
	"$($HELPER --config "$CONF" check-config >"$WORK/check.out" 2>&1; echo $?)"
for kid in ed es rs ps hs; do
	grep -q "^  key $kid: " "$WORK/check.out" &&
		pass "check-config lists key $kid" || fail "check-config lists key $kid"
done

# mint KID JID [jwtgen options]
mint() {
	local kid=$1 jid=$2
	shift 2
	$JWTGEN mint "$KEYS" "$kid" "$jid" "$AUD" --iss "$ISS" "$@"
}

# twice JID TOKEN: the helper's answers to the token given twice.
twice() {
	local user=${1%@*} domain=${1#*@}
	printf 'auth:%s:%s:%s\n' "$user" "$domain" "$2" "$user" "$domain" "$2" |
		$HELPER --config "$CONF" | tr '\n' ' ' | sed 's/ $//'
}

for lib in pyjwt jwcrypto; do
	for kid in ed es rs ps hs; do
		t=$(mint "$kid" bob@example.org --lib "$lib")
		check "$lib $kid: accepted once, then a replay" "1 0" \
			"$(twice bob@example.org "$t")"
	done
done

t=$(mint ed bob@example.org)
check "a JWT for another user is refused" 0 \
	"$(echo "auth:alice:example.org:$t" | $HELPER --config "$CONF")"
check "collective.converse tokens still pass beside JWTs" "1 0" \
	"$(twice bob@example.org "$(token bob@example.org)")"
t=$(mint es carol@jwtonly.example)
check "a section with only jwt_keys accepts JWTs" "1 0" \
	"$(twice carol@jwtonly.example "$t")"
check "... and refuses collective.converse tokens" 0 \
	"$(echo "auth:carol:jwtonly.example:$(token carol@jwtonly.example)" | $HELPER --config "$CONF")"
t=$(mint ed dave@converse.example)
check "a section without jwt_keys refuses JWTs" 0 \
	"$(echo "auth:dave:converse.example:$t" | $HELPER --config "$CONF")"
check "... and accepts its own tokens" 1 \
	"$(echo "auth:dave:converse.example:$(token dave@converse.example)" | $HELPER --config "$CONF")"

# verify explains, without using the token up.
t=$(mint ed erin@example.org --claims "{\"exp\": $(($(date +%s) - 100))}")
out=$($HELPER --config "$CONF" verify erin@example.org "$t")
check "verify: an expired JWT exits 1" 1 "$?"
grep -q 'invalid: expired' <<<"$out" && grep -q 'expired 10[0-3] s ago' <<<"$out" &&
	pass "verify says expired, and by how much" || fail "verify on expiry: $out"
t=$(mint ed erin@example.org --header '{"kid": "nope"}')
grep -q "kid 'nope' is not in" <<<"$($HELPER --config "$CONF" verify erin@example.org "$t")" &&
	pass "verify names the unknown kid" || fail "verify names the unknown kid"
t=$(mint ed erin@example.org --claims '{"aud": "xmpp:other"}')
grep -q "aud is missing or does not hold '$AUD'" <<<"$($HELPER --config "$CONF" verify erin@example.org "$t")" &&
	pass "verify names the audience expected" || fail "verify names the audience"
t=$(mint rs erin@example.org)
check "verify: a valid JWT exits 0" 0 \
	"$($HELPER --config "$CONF" verify erin@example.org "$t" >/dev/null; echo $?)"
check "... and does not use it up" "1 0" "$(twice erin@example.org "$t")"
out=$($HELPER --config "$CONF" verify erin@example.org "$t")
grep -q 'its jti was used before' <<<"$out" &&
	pass "verify: a used JWT is a replay" || fail "verify: a used JWT: $out"

# Reasons for JWT refusals, one word each: on the wire for a client that
# asks (the Prosody provider), and in the log. The store here is keyed
# with store_secret, as a new installation's is.
KCONF=$WORK/keyed.conf
{
	echo "replay_store = $WORK/keyed-replay"
	echo "store_secret = Q2S3MC5P4ZT4SDHYEA7JYXEX4IQOEYFY"
	echo "jwt_keys = $KEYS/set.jwks"
	echo "jwt_audience = $AUD"
	echo "jwt_issuer = $ISS"
} >"$KCONF"
chmod 600 "$KCONF"
now=$(date +%s)
t=$(mint ed bob@example.org)
t2=$(mint ed bob@example.org)
forged=${t%.*}.${t2##*.}
reasons=$(printf 'auth:bob:example.org:%s\n' options:reasons "$t" "$t" \
	"$(mint ed bob@example.org --claims "{\"exp\": $((now - 100))}")" \
	"$(mint ed bob@example.org --claims "{\"nbf\": $((now + 600))}")" \
	"$(mint ed bob@example.org --claims "{\"exp\": $((now + 3600))}")" \
	"$(mint ed bob@example.org --header '{"kid": "nope"}')" \
	"$(mint ed bob@example.org --claims '{"aud": "xmpp:other"}')" \
	"$forged" |
	sed '1s/^auth:bob:example.org://' |
	timeout 60 $HELPER --config "$KCONF" --log stderr 2>"$WORK/reasons.log" |
	paste -sd '|')
check "JWT refusals carry their reason (store_secret set)" \
	"1|1|0 replayed|0 expired|0 not_yet_valid|0 lifetime_too_long|0 unknown_key|0 bad_claims|0 bad_signature" \
	"$reasons"
check "... and the log says the same words" \
	"accepted none|refused replayed|refused expired|refused not_yet_valid|refused lifetime_too_long|refused unknown_key|refused bad_claims|refused bad_signature" \
	"$(sed -n 's/.*decision=\([a-z]*\) reason=\([a-z_]*\) jid=bob@example.org .*/\1 \2/p' "$WORK/reasons.log" | paste -sd '|')"
out=$($HELPER --config "$KCONF" verify bob@example.org "$t")
grep -q 'its jti was used before' <<<"$out" &&
	pass "verify finds the JWT used, under store_secret" ||
	fail "verify finds the JWT used, under store_secret: $out"

# The helper's own keys and tokens, checked by PyJWT.
NEW=$WORK/new.jwks
for alg in EdDSA ES256 RS256; do
	$HELPER jwt-keygen --kid "k$alg" --alg "$alg" --jwks "$NEW" \
		--private-key "$WORK/k$alg.pem" >/dev/null ||
		fail "jwt-keygen --alg $alg"
done
check "jwt-keygen: the private key has mode 0600" 600 "$(stat -c %a "$WORK/kEdDSA.pem")"
check "jwt-keygen never overwrites a private key" 1 \
	"$($HELPER jwt-keygen --kid other --jwks "$NEW" --private-key "$WORK/kEdDSA.pem" 2>/dev/null; echo $?)"
make_config "$WORK/new.conf" "jwt_keys = $NEW" "jwt_audience = $AUD"
for alg in EdDSA ES256 RS256; do
	t=$($HELPER --config "$WORK/new.conf" mint bob@example.org --jwt \
		--private-key "$WORK/k$alg.pem" --kid "k$alg")
	check "mint --jwt $alg: PyJWT verifies it with the set's public key" ok \
		"$($PY - "$NEW" "k$alg" "$t" "$AUD" <<-'PYEOF'
			import json, sys, jwt
			from jwt import PyJWK
			keys = json.load(open(sys.argv[1]))["keys"]
			k = next(k for k in keys if k["kid"] == sys.argv[2])
			c = jwt.decode(sys.argv[3], PyJWK(k).key, algorithms=[k["alg"]], audience=sys.argv[4])
			print("ok" if c["sub"] == "bob@example.org" and c["jti"] else "bad")
		PYEOF
		)"
	check "mint --jwt $alg: the helper accepts it once" "1 0" \
		"$(printf 'auth:bob:example.org:%s\n' "$t" "$t" | $HELPER --config "$WORK/new.conf" | tr '\n' ' ' | sed 's/ $//')"
done

. "$TOP/tests/lib/redis-lib.sh"
if redis_need; then
	redis_start main || fail "redis-server started"
	redis_seed main || fail "pta:since set"
	N1=$WORK/node1.conf
	N2=$WORK/node2.conf
	# Two nodes: their own configs, one Redis (over TCP, and over its
	# Unix socket), one store_secret.
	STORE_SECRET=QK4XWMRZ7TDE2YHN5BVJ6PAL3FGC4S2U
	redis_config "$N1" "$(redis_url main)" "jwt_keys = $KEYS/set.jwks" \
		"jwt_audience = $AUD" "store_secret = $STORE_SECRET"
	redis_config "$N2" "$(redis_unix_url main)" "jwt_keys = $KEYS/set.jwks" \
		"jwt_audience = $AUD" "store_secret = $STORE_SECRET"
	for kid in ed hs; do
		t=$(mint "$kid" bob@example.org)
		check "Redis: $kid accepted on node 1" 1 \
			"$(echo "auth:bob:example.org:$t" | $HELPER --config "$N1")"
		check "Redis: the same $kid token refused on node 2" 0 \
			"$(echo "auth:bob:example.org:$t" | $HELPER --config "$N2")"
	done
	# Two helpers serving at once, one a node, as servers keep them: a
	# token used on either is refused on the other, a fresh jti accepted.
	# node_start NAME CONF: a helper reading fifo NAME.in and writing
	# NAME.out, started with none of the other nodes' descriptors (so that
	# each sees the end of its own input).
	declare -A NODE_IN NODE_OUT NODE_PID
	node_start() {
		local fd
		mkfifo "$WORK/$1.in" "$WORK/$1.out"
		(
			for fd in "${NODE_IN[@]}" "${NODE_OUT[@]}"; do
				exec {fd}>&-
			done
			exec $HELPER --config "$2" <"$WORK/$1.in" >"$WORK/$1.out"
		) &
		pids+=($!)
		NODE_PID[$1]=$!
		exec {fd}>"$WORK/$1.in"
		NODE_IN[$1]=$fd
		exec {fd}<"$WORK/$1.out"
		NODE_OUT[$1]=$fd
	}
	# node_ask NAME TOKEN: node NAME's answer to bob's login (5 s at most).
	node_ask() {
		local ans
		echo "auth:bob:example.org:$2" >&"${NODE_IN[$1]}"
		read -r -t 5 -u "${NODE_OUT[$1]}" ans || ans=none
		echo "$ans"
	}
	# node_stop NAME: end of input; the helper must exit within 5 s.
	node_stop() {
		local pid=${NODE_PID[$1]} fd=${NODE_IN[$1]}
		exec {fd}>&-
		if wait_for 5 eval "! kill -0 $pid 2>/dev/null"; then
			wait "$pid"
			check "Redis: node $1 exits 0 at end of input" 0 $?
		else
			fail "Redis: node $1 exits at end of input"
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
		fd=${NODE_OUT[$1]}
		exec {fd}>&-
		unspawn "$pid"
	}
	node_start a "$N1"
	node_start b "$N2"
	for kid in rs es; do
		t=$(mint "$kid" bob@example.org)
		u=$(mint "$kid" bob@example.org)
		check "Redis, live nodes: $kid accepted on node a" 1 "$(node_ask a "$t")"
		check "Redis, live nodes: the same $kid token refused on node b" 0 "$(node_ask b "$t")"
		check "Redis, live nodes: a fresh $kid jti accepted on node b" 1 "$(node_ask b "$u")"
		check "Redis, live nodes: that one refused on node a" 0 "$(node_ask a "$u")"
		check "Redis, live nodes: and on node b again" 0 "$(node_ask b "$u")"
	done
	node_stop a
	node_stop b
	keys=$(redis_keys main | grep -v '^pta:since$' | tr '\n' ' ')
	grep -q 'bob\|example\|jti' <<<"$keys" &&
		fail "Redis keys hold a JID or jti in clear: $keys" ||
		pass "Redis keys hold no JID or jti in clear"
else
	skip "a replay across two nodes sharing a Redis" "no redis-server (Debian package redis-server)"
fi

# --- jose (Node.js), pinned in tests/lib/jose ------------------------------

# jose_ready: jose installed in tests/lib/jose (npm ci when missing), or why not.
jose_ready() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "no Node.js/npm (Debian packages nodejs and npm)"
		return 1
	fi
	[ -f "$TOP/tests/lib/jose/node_modules/jose/package.json" ] && return 0
	if ! (cd "$TOP/tests/lib/jose" && timeout 300 npm ci --no-audit --no-fund \
		--ignore-scripts) >"$WORK/npm.log" 2>&1; then
		echo "npm ci in tests/lib/jose failed (no npm registry?): $(grep -m 1 -i error "$WORK/npm.log")"
		return 1
	fi
}
if why=$(jose_ready); then
	for kid in ed es rs ps hs; do
		t=$(node "$TOP/tests/lib/jose/mint.mjs" "$KEYS" "$kid" bob@example.org "$AUD" "$ISS")
		check "jose $kid: accepted once, then a replay" "1 0" \
			"$(twice bob@example.org "$t")"
	done
else
	skip "tokens minted by jose" "$why"
fi

# --- Rotation: a running helper takes a changed set by itself ---------------

# The set lives apart from the config (the sandbox must let it be read
# again); a key added to it is taken within about a second, a broken set
# changes nothing and is logged once.
mkdir -p "$WORK/etc" "$WORK/rot"
cp "$KEYS/set.jwks" "$WORK/rot/set.jwks"
$PY - "$WORK/rot/set.jwks" <<-'PYEOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	s["keys"] = [k for k in s["keys"] if k["kid"] == "ed"]
	json.dump(s, open(sys.argv[1], "w"))
PYEOF
make_config "$WORK/etc/rot.conf" "jwt_keys = $WORK/rot/set.jwks" "jwt_audience = $AUD"
py_checks "$WORK/etc/rot.conf" "$WORK/rot/set.jwks" "$KEYS" <<-'PYEOF'
	import os, shutil, subprocess, sys, time
	from suite import check, Helper
	conf, live, keys = sys.argv[1:4]

	def mint(kid, jid="bob@example.org"):
	    return subprocess.run(["/usr/bin/python3", os.environ["TOP"] + "/tests/lib/jwtgen.py",
	                           "mint", keys, kid, jid, "xmpp:example.org"],
	                          capture_output=True, text=True).stdout.strip()

	def auth(h, jid, tok):
	    user, domain = jid.split("@")
	    return h.ask("auth:%s:%s:%s" % (user, domain, tok))

	h = Helper(conf)
	check(auth(h, "bob@example.org", mint("ed")) == "1", "rotation: the set's one key works")
	check(auth(h, "bob@example.org", mint("es")) == "0", "rotation: a key not yet in the set is refused")
	tmp = live + ".new"
	shutil.copy(os.path.join(keys, "set.jwks"), tmp)
	os.rename(tmp, live)
	deadline = time.monotonic() + 3
	while True:
	    answer = auth(h, "alice@example.org", mint("es", "alice@example.org"))
	    if answer == "1" or time.monotonic() > deadline:
	        break
	    time.sleep(0.1)
	check(answer == "1", "rotation: a key added to the set is taken within a second or so, sandboxed", answer)
	with open(tmp, "w") as f:
	    f.write("{not json")
	os.rename(tmp, live)
	time.sleep(1.5)
	check(auth(h, "carol@example.org", mint("rs", "carol@example.org")) == "1",
	      "rotation: a broken set changes nothing")
	time.sleep(1.2)
	log = h.log()
	check(log.count("not JSON") == 1, "rotation: ... and is logged once", log[-400:])
	h.stop()
PYEOF

# --- Through a real Prosody: PLAIN and X-TOKEN ------------------------------

if e2e_need 2>"$WORK/e2e.need"; then
	DOMAIN=example.test
	PORT=$(free_port) || fail "a free port"
	SOCK=$WORK/helper.sock
	PCONF=$WORK/prosody/prosody.cfg.lua
	mkdir -p "$WORK/prosody"
	make_config "$WORK/prosody.conf" "jwt_keys = $KEYS/set.jwks" \
		"jwt_audience = $AUD"
	HELPER=$(realpath -s "$HELPER")
	e2e_serve_helper "$SOCK" "$WORK/prosody.conf" || fail "socket served"
	e2e_prosody_config "$PCONF" "$PORT" "$DOMAIN" "$SOCK" 2 3
	if e2e_start_prosody "$PCONF" "$PORT"; then
		# login MECH JID TOKEN: the outcome of one login.
		login() {
			timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --mech "$1" \
				--jid "$2" --password "$3" 2>>"$WORK/client.err"
		}
		for kid in ed es rs ps hs; do
			for mech in PLAIN X-TOKEN; do
				t=$(mint "$kid" "bob@$DOMAIN")
				check "Prosody $mech: a $kid JWT logs in" success \
					"$(login "$mech" "bob@$DOMAIN" "$t")"
				check "Prosody $mech: the same $kid JWT again is refused" \
					not-authorized "$(login "$mech" "bob@$DOMAIN" "$t")"
			done
		done
		check "Prosody: a JWT for another user is refused" not-authorized \
			"$(login PLAIN "alice@$DOMAIN" "$(mint ed "bob@$DOMAIN")")"
		check "Prosody: today's tokens log in beside JWTs" success \
			"$(login PLAIN "carol@$DOMAIN" "$(token "carol@$DOMAIN")")"
	else
		fail "Prosody starts"
		tail -20 "$WORK/prosody/prosody.out" "$WORK/prosody/prosody.log" 2>/dev/null
	fi
else
	skip "JWT logins through Prosody" "$(cat "$WORK/e2e.need")"
fi

finish
