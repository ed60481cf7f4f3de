#!/bin/bash
# The one-command demo: a throw-away Prosody on 127.0.0.1 that logs users in
# with tokens through the helper, proven with a real XMPP client, and the
# example converse.js page (examples/converse/) with a token endpoint, to
# open in a browser.
#
#   HELPER=./prosody-token-auth tests/demo.sh [--once]
#
# It builds nothing: HELPER names a built helper (default: the one in the
# tree). It makes throw-away secrets, serves the helper on a Unix socket
# (systemd-socket-activate, one helper per connection), starts Prosody with a
# temporary config and data directory on a free port (with BOSH and
# WebSocket on another), mints a token, logs in with it, serves the example
# converse.js page and its token endpoint (tests/lib/webapp.py), and prints how
# to connect a browser or another client. It then stays up until interrupted
# (Ctrl-C); with --once or DEMO_ONCE=1 it stops after the proof.
#
# The page needs converse.js, installed from npm into tests/browser/
# (npm ci --prefix tests/browser); without it everything else still runs.
# Everything it started is stopped by PID, and its files are removed.

. "$(dirname "$0")/lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

ONCE=${DEMO_ONCE:-0}
[ "${1:-}" = --once ] && ONCE=1
DOMAIN=localhost
DEMO_USER=demo
JID=$DEMO_USER@$DOMAIN

say() { printf '%s\n' "$*"; }
die() {
	say "demo: $*" >&2
	exit 1
}

e2e_need || exit 1
HELPER=$(realpath -s "$HELPER")

if ! PORT=$(free_port) || ! E2E_HTTP_PORT=$(free_port); then
	die "no free port on 127.0.0.1"
fi
DIST=$TOP/tests/browser/node_modules/converse.js/dist
SOCK=$WORK/helper.sock
CONF=$WORK/helper.conf
PCONF=$WORK/prosody/prosody.cfg.lua
mkdir -p "$WORK/replay" "$WORK/prosody"

# Throw-away secrets, from the helper itself.
if secrets=$("$HELPER" gen-secrets 2>/dev/null) &&
	grep -q '^otp_seed *=' <<<"$secrets" && grep -q '^token_secret *=' <<<"$secrets"; then
	:
else
	say "demo: '$HELPER gen-secrets' failed; using fixed test secrets" >&2
	secrets="otp_seed = $OTP_SEED
token_secret = $TOKEN_SECRET"
fi
{
	say "# Throw-away secrets for the demo"
	grep -E '^(otp_seed|token_secret) *=' <<<"$secrets"
	say "replay_store = $WORK/replay"
} >"$CONF"
chmod 600 "$CONF"

# mint: a fresh token for JID from the helper ("mint"), or from the web
# application's reference generator when the helper cannot.
mint() {
	if PROSODY_TOKEN_AUTH_CONFIG=$CONF "$HELPER" mint "$1" 2>/dev/null; then
		return 0
	fi
	local seed secret
	seed=$(sed -n 's/^otp_seed *= *//p' "$CONF")
	secret=$(sed -n 's/^token_secret *= *//p' "$CONF")
	$TOKENGEN "$seed" "$secret" "$1"
}

e2e_serve_helper "$SOCK" "$CONF" || die "could not serve $SOCK"
e2e_prosody_config "$PCONF" "$PORT" "$DOMAIN" "$SOCK" 5
e2e_start_prosody "$PCONF" "$PORT" || {
	tail -20 "$WORK/prosody/prosody.out" "$WORK/prosody/prosody.log" >&2
	die "Prosody did not start"
}

say "Prosody is running on 127.0.0.1:$PORT (virtual host $DOMAIN), with BOSH"
say "and WebSocket on 127.0.0.1:$E2E_HTTP_PORT; it checks tokens with $HELPER on $SOCK."

# The web application's side: the example page and its token endpoint.
spawn "$PY" "$TOP/tests/lib/webapp.py" --page "$TOP/examples/converse" --dist "$DIST" \
	--helper "$HELPER" --config "$CONF" --jid "$JID" \
	--websocket-url "ws://127.0.0.1:$E2E_HTTP_PORT/xmpp-websocket" \
	--bosh-url "http://127.0.0.1:$E2E_HTTP_PORT/http-bind" \
	--log "$WORK/webapp.log" >"$WORK/webapp.out" 2>&1
wait_for 10 grep -q '^http://' "$WORK/webapp.out" ||
	die "the token endpoint did not start: $(cat "$WORK/webapp.out")"
APP=$(head -n 1 "$WORK/webapp.out")

proved=1
for mech in X-TOKEN PLAIN; do
	token=$(mint "$JID") || die "could not mint a token"
	outcome=$(timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --mech "$mech" \
		--jid "$JID" --password "$token" 2>/dev/null)
	say "login: ${outcome:-no answer} ($JID with a fresh token, SASL $mech)"
	[ "$outcome" = success ] || proved=0
	outcome=$(timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --mech "$mech" \
		--jid "$JID" --password "$token" 2>/dev/null)
	say "replay: ${outcome:-no answer} (the same token again)"
	[ "$outcome" = not-authorized ] || proved=0
done
# The token endpoint answers as a credentials_url must.
outcome=$("$PY" - "${APP}token" "$JID" 2>/dev/null <<-'EOF'
	import json, sys, urllib.request
	with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
	    d = json.load(r)
	ok = d.get("jid") == sys.argv[2] and len(d.get("password", "")) > 40
	print("success" if ok else "unexpected answer")
EOF
)
say "token endpoint: ${outcome:-no answer} (GET ${APP}token: {\"jid\": \"$JID\", \"password\": TOKEN})"
[ "$outcome" = success ] || proved=0
[ "$proved" = 1 ] || die "the proof failed; Prosody's log: $(tail -5 "$WORK/prosody/prosody.log")"

if [ "$ONCE" = 1 ]; then
	say "demo: done (--once)"
	exit 0
fi

if [ -f "$DIST/converse.min.js" ]; then
	page="$APP  (in a browser on this machine; from another,
            forward both ports with ssh -L): converse.js fetches a token from
            ${APP}token and logs in as $JID over WebSocket"
else
	page="$APP serves the page, but converse.js is not installed:
            run  npm ci --prefix tests/browser  (Node.js and npm; it installs
            converse.js 14 from npm), then open $APP"
fi
token=$(mint "$JID")
cat <<EOF

converse.js in a browser:
  page:     $page
  files:    $TOP/examples/converse/

Connect another client:
  JID:      $JID
  token:    $token
            (the password; single use, valid for about a minute)
  server:   127.0.0.1, port $PORT, without TLS (this throw-away server
            allows PLAIN and X-TOKEN unencrypted, on the loopback only)
  e.g.:     $PY $TOP/tests/lib/xmpp_client.py --port $PORT --jid $JID --password '$token'
  more:     PROSODY_TOKEN_AUTH_CONFIG=$CONF $HELPER mint USER@$DOMAIN
  log:      $WORK/prosody/prosody.log

Press Ctrl-C to stop (everything the demo started is stopped and removed).
EOF

trap 'exit 0' INT TERM
wait "$E2E_PROSODY"
die "Prosody stopped"
