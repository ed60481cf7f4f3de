#!/bin/bash
# converse.js 14 in a real browser: headless Chromium (Debian's), driven by
# Playwright, opens the example page examples/converse/, which fetches a
# token from a stand-in web application (tests/lib/webapp.py, on 127.0.0.1) and
# logs in to a real Prosody over WebSocket or BOSH with the X-TOKEN
# mechanism; the helper checks the token on its Unix socket.
#
# converse.js and playwright-core come from npm, at the versions pinned in
# tests/browser/package-lock.json, installed once into tests/browser/
# node_modules (git-ignored). Without Chromium, Node.js/npm or the npm
# registry the checks are skipped, with the reason.
#
# Environment: HELPER, PROSODY_MODULES_DIR (as tests/suites/t-50-prosody.sh),
# BROWSER_SHOTS (a directory to keep the pages' screenshots in),
# CHROMIUM (default /usr/bin/chromium).

. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

DOMAIN=example.test
JID=alice@$DOMAIN
BROWSER_DIR=$TOP/tests/browser
DIST=$BROWSER_DIR/node_modules/converse.js/dist
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

# The checks this suite makes, so that each is skipped by name when the
# browser cannot run here.
CHECKS=(
	"websocket: a fresh token logs in"
	"bosh: a fresh token logs in"
	"websocket: a tampered token is refused, once"
	"bosh: a tampered token is refused, once"
	"websocket: an expired token is refused, once"
	"bosh: an expired token is refused, once"
	"both URLs: the WebSocket is used"
	"auto_reconnect on: a refused login is retried with fresh tokens"
	"the endpoint's tampered token is a bad signature"
	"the endpoint's expired token is outside the time window"
	"auto_reconnect on, endpoint rate-limited: no further login"
	"without consider_*_secure: no token login over plain HTTP"
	"endpoint says 401: asked again and again, even with auto_reconnect off"
	"websocket: a JWT from the endpoint logs in, the page unchanged"
)

# browser_missing: print why the browser checks cannot run here (nothing
# when they can); installs the npm packages when they are missing or stale.
browser_missing() {
	if [ ! -x "$CHROMIUM" ]; then
		echo "no Chromium at $CHROMIUM (Debian package chromium; tests/deps.sh installs it)"
		return
	fi
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "no Node.js/npm (Debian packages nodejs and npm)"
		return
	fi
	if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
		echo "Node.js $(node --version) is older than 18, which playwright-core needs"
		return
	fi
	local stamp=$BROWSER_DIR/node_modules/.package-lock.json
	if [ ! -f "$DIST/converse.min.js" ] || [ ! -f "$stamp" ] ||
		[ "$BROWSER_DIR/package-lock.json" -nt "$stamp" ]; then
		echo "installing converse.js and playwright-core (npm ci in tests/browser)" >&2
		if ! (cd "$BROWSER_DIR" && timeout 600 npm ci --no-audit --no-fund \
			--ignore-scripts) >"$WORK/npm.log" 2>&1; then
			echo "npm ci in tests/browser failed (no npm registry?): $(grep -m 1 -i 'error' "$WORK/npm.log")"
			return
		fi
	fi
	local v
	v=$(node -p 'require(process.argv[1]).version' \
		"$BROWSER_DIR/node_modules/converse.js/package.json" 2>/dev/null)
	case $v in
	14.*) ;;
	*) echo "tests/browser/node_modules has converse.js '$v', not 14.x (remove it and rerun)" ;;
	esac
}

if ! e2e_need; then
	fail "prerequisites (see above)"
	finish
	exit 1
fi
HELPER=$(realpath -s "$HELPER")

why=$(browser_missing)
if [ -n "$why" ]; then
	for c in "${CHECKS[@]}"; do
		skip "$c" "$why"
	done
	finish
	exit
fi

if ! PORT=$(free_port) || ! E2E_HTTP_PORT=$(free_port); then
	fail "no free port"
	finish
	exit 1
fi
# Token logins only over BOSH and WebSocket, which Prosody considers secure
# here (consider_*_secure): so X-TOKEN is offered there, as behind a reverse
# proxy that does the HTTPS, and nowhere without encryption.
E2E_ALLOW_UNENCRYPTED=false
SOCK=$WORK/helper.sock
CONF=$WORK/helper.conf
PCONF=$WORK/prosody/prosody.cfg.lua
mkdir -p "$WORK/replay" "$WORK/prosody" "$WORK/tmp"
# A key pair for JWTs: the web application signs with its private half.
"$HELPER" jwt-keygen --kid web --jwks "$WORK/jwt.jwks" \
	--private-key "$WORK/jwt.pem" >/dev/null || fail "jwt-keygen"
make_config "$CONF" "jwt_keys = $WORK/jwt.jwks" "jwt_audience = xmpp:$DOMAIN"

if ! e2e_serve_helper "$SOCK" "$CONF"; then
	fail "serve the helper on $SOCK"
	finish
	exit 1
fi
e2e_prosody_config "$PCONF" "$PORT" "$DOMAIN" "$SOCK" 5
if ! e2e_start_prosody "$PCONF" "$PORT" || ! wait_for 10 port_open "$E2E_HTTP_PORT"; then
	fail "Prosody starts with BOSH and WebSocket"
	tail -n 20 "$WORK/prosody/prosody.out" "$WORK/prosody/prosody.log"
	finish
	exit 1
fi

spawn "$PY" "$TOP/tests/lib/webapp.py" --page "$TOP/examples/converse" --dist "$DIST" \
	--helper "$HELPER" --config "$CONF" --jid "$JID" \
	--websocket-url "ws://127.0.0.1:$E2E_HTTP_PORT/xmpp-websocket" \
	--bosh-url "http://127.0.0.1:$E2E_HTTP_PORT/http-bind" \
	--log "$WORK/webapp.log" --jwt-key "$WORK/jwt.pem" --jwt-kid web \
	>"$WORK/webapp.out" 2>&1
if ! wait_for 10 grep -q '^http://' "$WORK/webapp.out"; then
	fail "the web application starts"
	cat "$WORK/webapp.out"
	finish
	exit 1
fi
APP=$(head -n 1 "$WORK/webapp.out")

# The pages to open, "NAME QUERY [--watch S | --for S]", all in one browser
# (tests/browser/login.mjs); the report of NAME is $WORK/pages/NAME.out, and
# $(field NAME FIELD) one of its fields.
scenarios() {
	cat <<-EOF
		ws-fresh transport=websocket
		bosh-fresh transport=bosh
		ws-tampered transport=websocket&token=tampered&reconnect=0 --watch 2
		bosh-tampered transport=bosh&token=tampered&reconnect=0 --watch 2
		ws-expired transport=websocket&token=expired&reconnect=0 --watch 2
		bosh-expired transport=bosh&token=expired&reconnect=0 --watch 2
		both-fresh
		ws-loop transport=websocket&token=tampered&reconnect=1 --for 8
		ws-limited transport=websocket&token=limited&reconnect=1 --for 8
		ws-denied transport=websocket&token=denied&reconnect=0 --for 5
		ws-jwt transport=websocket&token=jwt
	EOF
}
field() {
	sed -n "s/^$2: //p" "$WORK/pages/$1.out" 2>/dev/null | head -n 1
}

# expect_login NAME TRANSPORT CHECK: the page NAME logged in with X-TOKEN
# over TRANSPORT, from one token, and converse.js shows the user online.
expect_login() {
	local name=$1 transport=$2 got want
	got="$(field "$name" outcome) $(field "$name" mechanisms) $(field "$name" sasl) $(field "$name" transport) $(field "$name" token_requests) $(field "$name" user)"
	want="connected X-TOKEN success $transport 1 $JID online"
	check "$3" "$want" "$got"
}

# expect_refused NAME TRANSPORT CHECK: the server refused the login of page
# NAME (not-authorized to X-TOKEN), converse.js shows the failure, and it
# fetched no further token in the seconds watched.
expect_refused() {
	local name=$1 transport=$2 got want
	got="$(field "$name" outcome) $(field "$name" mechanisms) $(field "$name" sasl) $(field "$name" transport) $(field "$name" token_requests)"
	want="authfail X-TOKEN failure:not-authorized $transport 1"
	check "$3" "$want" "$got"
}

# endpoint_token KIND: the password /token?kind=KIND hands out.
endpoint_token() {
	"$PY" - "${APP}token?kind=$1" <<-'EOF'
		import json, sys, urllib.request
		with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
		    print(json.load(r)["password"])
	EOF
}
# The refusals below are for the reason their names say.
check "${CHECKS[8]}" "invalid: bad signature" \
	"$("$HELPER" --config "$CONF" verify "$JID" "$(endpoint_token tampered)" 2>&1 | head -n 1)"
check "${CHECKS[9]}" "invalid: OTP outside the time window" \
	"$("$HELPER" --config "$CONF" verify "$JID" "$(endpoint_token expired)" 2>&1 | head -n 1)"

mkdir -p "$WORK/pages"
started=$SECONDS
scenarios | sed "s|^\([^ ]*\) *\([^ ]*\)|\1 $APP?\2|" |
	TMPDIR=$WORK/tmp timeout 300 node "$BROWSER_DIR/login.mjs" --timeout 30 \
		--batch "$WORK/pages" 2>"$WORK/login.err"
status=$?
echo "# the browser ran for $((SECONDS - started)) s (status $status)"
for f in "$WORK"/pages/*.out; do
	[ -f "$f" ] || continue
	echo "# ${f##*/}"
	sed 's/^/#   /' "$f"
done
[ ! -s "$WORK/login.err" ] || sed 's/^/# /' "$WORK/login.err"
if [ -n "${BROWSER_SHOTS:-}" ]; then
	mkdir -p "$BROWSER_SHOTS" && cp "$WORK"/pages/*.png "$BROWSER_SHOTS/" 2>/dev/null
fi

expect_login ws-fresh websocket "${CHECKS[0]}"
expect_login bosh-fresh bosh "${CHECKS[1]}"
expect_refused ws-tampered websocket "${CHECKS[2]}"
expect_refused bosh-tampered bosh "${CHECKS[3]}"
expect_refused ws-expired websocket "${CHECKS[4]}"
expect_refused bosh-expired bosh "${CHECKS[5]}"
# The page as shipped: both URLs and its own auto_reconnect (off).
expect_login both-fresh websocket "${CHECKS[6]}"
expect_login ws-jwt websocket "${CHECKS[13]}"

# What the page's auto_reconnect advice is about: with it on, converse.js
# answers a refused login with a fresh token and a new login at once, then
# every 3 s, for as long as the page is open.
n=$(field ws-loop token_requests)
refused=$(field ws-loop sasl | tr ',' '\n' | grep -c '^failure:not-authorized$')
if [ "${n:-0}" -ge 3 ] && [ "$refused" -ge 3 ] && ! field ws-loop sasl | grep -q success; then
	pass "${CHECKS[7]} ($n tokens, $refused refused logins in 8 s)"
else
	fail "${CHECKS[7]}: $n token requests, SASL answers '$(field ws-loop sasl)'"
fi

# The other way out: an endpoint that rate-limits. After the first refused
# login converse.js keeps asking it (every 2 s) but logs in no more.
n=$(field ws-limited token_requests)
got="$(field ws-limited mechanisms) $(field ws-limited sasl)"
if [ "$got" = "X-TOKEN failure:not-authorized" ] && [ "${n:-0}" -ge 2 ]; then
	pass "${CHECKS[10]} ($n token requests, 1 login in 8 s)"
else
	fail "${CHECKS[10]}: $n token requests, logins: $got"
fi

# A page shown to someone the endpoint does not know: converse.js asks every
# 2 s, whatever auto_reconnect says (the README's advice: serve the page to
# logged-in users only), and never logs in.
n=$(field ws-denied token_requests)
if [ "${n:-0}" -ge 2 ] && [ -z "$(field ws-denied mechanisms)" ]; then
	pass "${CHECKS[12]} ($n requests in 5 s)"
else
	fail "${CHECKS[12]}: $n token requests, logins '$(field ws-denied mechanisms)'"
fi

# Without consider_websocket_secure and consider_bosh_secure, Prosody takes
# BOSH and WebSocket over plain HTTP for what they are, unencrypted, and
# offers neither PLAIN nor X-TOKEN there: behind an HTTPS proxy, say them.
kill "$E2E_PROSODY" 2>/dev/null
wait "$E2E_PROSODY" 2>/dev/null
mv "$WORK/prosody/prosody.log" "$WORK/prosody/prosody-secure.log"
E2E_HTTP_SECURE=false
e2e_prosody_config "$PCONF" "$PORT" "$DOMAIN" "$SOCK" 5
if e2e_start_prosody "$PCONF" "$PORT" && wait_for 10 port_open "$E2E_HTTP_PORT"; then
	printf '%s\n' "insecure-websocket ${APP}?transport=websocket --for 5" \
		"insecure-bosh ${APP}?transport=bosh --for 5" |
		TMPDIR=$WORK/tmp timeout 120 node "$BROWSER_DIR/login.mjs" --timeout 30 \
			--batch "$WORK/pages" 2>>"$WORK/login.err"
	for t in websocket bosh; do
		echo "# insecure-$t.out"
		sed 's/^/#   /' "$WORK/pages/insecure-$t.out"
	done
	forbidden=$(grep -c "All SASL mechanisms provided by authentication module 'token_socket' are forbidden on insecure connections" \
		"$WORK/prosody/prosody.log")
	# (no SASL exchange, no logged-in view; Prosody says why, once a session)
	[ "$forbidden" -lt 2 ] || forbidden="logged"
	got="$(field insecure-websocket mechanisms)/$(field insecure-websocket user)"
	got="$got $(field insecure-bosh mechanisms)/$(field insecure-bosh user) $forbidden"
	check "${CHECKS[11]}" "/ / logged" "$got"
else
	fail "${CHECKS[11]}: Prosody did not start again"
fi

finish
