#!/bin/bash
# The helper behind a pseudo-terminal, as Prosody's mod_auth_external runs
# it through lua-lpty (see tests/lib/pty_helper.py).
. "$(dirname "$0")/../lib/lib.sh"

CONF=$WORK/token-auth.conf
make_config "$CONF"
$PY "$TOP/tests/lib/pty_helper.py" "$HELPER" "$CONF" "$OTP_SEED" "$TOKEN_SECRET"
