#!/bin/bash
# Single use that survives clock steps and config differences (the LMDB
# store). Each helper here is its own process with its own faked clock
# (faketime), all sharing one store, as helpers on one host do:
# - the clock stepped back and forth (X, X + 30 min, X - 60 min, X - 40 min,
#   X again): a token used at X is never accepted again, nor is any token
#   of a time step whose records may be gone;
# - helpers with otp_window 1 and 3 on one store, and one helper reloaded
#   from 1 to 3: a token accepted by the narrow window is refused by the
#   wide one for as long as the wide one could accept it;
# - the store keeps what the widest config needs once it has seen it;
# - a helper whose clock runs ahead of its peers locks none of them out;
# - with store_secret, the store holds HMACs of the nonces and JIDs, not
#   their plain hashes; when store_secret changes, tokens of the time steps
#   recorded before are refused, never accepted twice.
# Needs faketime (Debian package faketime); skipped without it.
. "$(dirname "$0")/../lib/lib.sh"

JID=bob@example.org

if ! command -v faketime >/dev/null; then
	skip "clock steps and config differences" "needs faketime (Debian package faketime)"
	finish
	exit 0
fi

# at OFFSET CONF REQUEST...: the answers of a helper whose clock is OFFSET
# seconds from now, space-separated; its log in $WORK/stderr.
at() {
	local offset=$1 conf=$2
	shift 2
	printf '%s\n' "$@" | timeout 30 faketime -f "$offset" $HELPER \
		--config "$conf" --log stderr 2>"$WORK/stderr" | tr '\n' ' ' | sed 's/ $//'
}

logged() { grep -q -- "$1" "$WORK/stderr"; }

auth() { echo "auth:${1%@*}:${1#*@}:$2"; }

# --- the clock stepped back and forth --------------------------------------

make_config "$WORK/clock.conf"
sed -i "s|^replay_store = .*|replay_store = $WORK/clock-store|" "$WORK/clock.conf"
mid_step 10
used=$(token $JID)
check "at X: a token accepted" "1" "$(at +0 "$WORK/clock.conf" "$(auth $JID "$used")")"
check "at X + 30 min: a token of that time accepted (the first one's record purged)" \
	"1" "$(at +1800 "$WORK/clock.conf" "$(auth alice@example.org "$(token alice@example.org --offset 1800)")")"
check "at X - 60 min: a token of that time refused (its step is before the mark)" \
	"0" "$(at -3600 "$WORK/clock.conf" "$(auth carol@example.org "$(token carol@example.org --offset -3600)")")"
check "at X - 40 min: still refused (not forgiven after one lifetime)" \
	"0" "$(at -2400 "$WORK/clock.conf" "$(auth dave@example.org "$(token dave@example.org --offset -2400)")")"
logged "clock is behind" && pass "... and the log says why" ||
	fail "clock behind: log: $(head -c 300 "$WORK/stderr")"
logged "decision=refused reason=before_mark" && ! logged "reason=store_failed" &&
	pass "... each refusal's reason is before_mark, not a failed store" ||
	fail "clock behind: reasons: $(grep -o 'reason=[a-z_]*' "$WORK/stderr" | sort | uniq -c | tr '\n' ' ')"
check "back at X: the token used at X is refused, not accepted a second time" \
	"0" "$(at +0 "$WORK/clock.conf" "$(auth $JID "$used")")"
$HELPER --config "$WORK/clock.conf" check-config >"$WORK/check" 2>&1
grep -q "WARNING: the clock is [0-9]* s behind nonces already purged" "$WORK/check" &&
	pass "check-config says the clock is behind, and by how much" ||
	fail "check-config with the clock behind: $(grep -i clock "$WORK/check")"
check "at X + 30 s: a token of a later step accepted" \
	"1" "$(at +30 "$WORK/clock.conf" "$(auth erin@example.org "$(token erin@example.org --offset 30)")")"
$HELPER --config "$WORK/clock.conf" reset-store >/dev/null 2>&1
$HELPER --config "$WORK/clock.conf" check-config >"$WORK/check" 2>&1
grep -q "the clock is" "$WORK/check" && fail "after reset-store, check-config still says the clock is behind" ||
	pass "after reset-store, check-config says nothing of the clock"

# --- records outlive every config that writes to the store -----------------

# Two configs on one store: otp_window 1 and 3.
for name in a b c; do
	make_config "$WORK/$name-w1.conf"
	sed -i "s|^replay_store = .*|replay_store = $WORK/$name-store|" "$WORK/$name-w1.conf"
	sed 's/^replay_per_user.*/&\notp_window = 3/' "$WORK/$name-w1.conf" >"$WORK/$name-w3.conf"
	chmod 600 "$WORK/$name-w3.conf"
done
mid_step 10

# a: the window-1 helper first; the window-3 one has never written.
t=$(token $JID)
check "otp_window 1 accepts a token" "1" "$(at +0 "$WORK/a-w1.conf" "$(auth $JID "$t")")"
check "otp_window 3 refuses its replay" "0" "$(at +1 "$WORK/a-w3.conf" "$(auth $JID "$t")")"
# 90 s on, past what window 1 keeps (its record is purged by the next
# login), but within window 3's.
check "90 s on, window 1 accepts another token (and purges)" "1" \
	"$(at +90 "$WORK/a-w1.conf" "$(auth alice@example.org "$(token alice@example.org --offset 90)")")"
check "... window 3 still refuses the first token's replay" "0" \
	"$(at +91 "$WORK/a-w3.conf" "$(auth $JID "$t")")"

# b: the window-3 helper has written before: every record is kept for it.
check "otp_window 3 accepts a token" "1" \
	"$(at +0 "$WORK/b-w3.conf" "$(auth alice@example.org "$(token alice@example.org)")")"
t=$(token $JID)
check "then otp_window 1 accepts another" "1" "$(at +1 "$WORK/b-w1.conf" "$(auth $JID "$t")")"
at +90 "$WORK/b-w1.conf" "$(auth carol@example.org "$(token carol@example.org --offset 90)")" >/dev/null
check "90 s on, window 3 refuses its replay" "0" "$(at +91 "$WORK/b-w3.conf" "$(auth $JID "$t")")"
logged "reason=replayed" && pass "... found as a replay: its record was kept for window 3" ||
	fail "kept for window 3: log: $(head -c 300 "$WORK/stderr")"

# c: one helper, reloaded from window 1 to window 3 while it runs.
t=$(token $JID)
py_checks "$WORK/c-w1.conf" "$WORK/c-w3.conf" "$t" <<'PY'
import os, shutil, signal, sys, time
from suite import check, Helper
w1, w3, tok = sys.argv[1:4]
conf = os.path.join(os.path.dirname(w1), "c-live.conf")
shutil.copy(w1, conf)
os.chmod(conf, 0o600)
h = Helper(conf)
check(h.ask("auth:bob:example.org:" + tok) == "1", "reload: window 1 accepts a token")
shutil.copy(w3, conf + ".new")
os.chmod(conf + ".new", 0o600)
os.rename(conf + ".new", conf)
h.p.send_signal(signal.SIGHUP)
time.sleep(1.2)
check(h.ask("auth:bob:example.org:" + tok) == "0", "... reloaded to window 3: its replay refused")
check(h.stop() == 0, "... the helper exits 0")
PY
at +90 "$WORK/c-w1.conf" "$(auth carol@example.org "$(token carol@example.org --offset 90)")" >/dev/null
check "... 90 s on, after a purge, window 3 still refuses it" "0" \
	"$(at +91 "$WORK/c-w3.conf" "$(auth $JID "$t")")"
logged "reason=replayed" && pass "... as a replay: the reload raised what is kept" ||
	fail "reload: log: $(head -c 300 "$WORK/stderr")"

# A helper whose clock runs a minute ahead of its peers on the same store
# purges a record early: its token stays refused, and the peers' fresh
# tokens are not (2.0 refused every login on them for a token lifetime).
make_config "$WORK/skew.conf"
sed -i "s|^replay_store = .*|replay_store = $WORK/skew-store|" "$WORK/skew.conf"
mid_step 10
t=$(token $JID)
check "skew: a token accepted at X" "1" "$(at +0 "$WORK/skew.conf" "$(auth $JID "$t")")"
check "... a helper a minute ahead accepts one of its time (and purges the first)" "1" \
	"$(at +90 "$WORK/skew.conf" "$(auth alice@example.org "$(token alice@example.org --offset 90)")")"
check "... at X + 30 s, the first token, still in its window, is refused" "0" \
	"$(at +30 "$WORK/skew.conf" "$(auth $JID "$t")")"
check "... and a fresh token of that time is accepted" "1" \
	"$(at +31 "$WORK/skew.conf" "$(auth carol@example.org "$(token carol@example.org --offset 31)")")"

# --- keyed store keys --------------------------------------------------------

STORE_SECRET=MZXW6YTBOJRGC4TFMFZXIZLSONSWG4TF
# keys STORE NONCE: which of the nonce's and bob's keys STORE's file holds:
# "hmac" (under STORE_SECRET), "sha256" (unkeyed), or "none".
keys() {
	"$PY" - "$1/data.mdb" "$2" "$STORE_SECRET" <<'PY'
import hashlib, hmac, sys
data = open(sys.argv[1], "rb").read()
nonce, secret = sys.argv[2], sys.argv[3].encode()
found = []
for kind, f in (("hmac", lambda m: hmac.new(secret, m, hashlib.sha256).digest()),
                ("sha256", lambda m: hashlib.sha256(m).digest())):
    nk = f(nonce.encode() + b"\0bob@example.org")[:16]
    uk = f(b"jid\0bob@example.org")[:16]
    if nk in data and uk in data:
        found.append(kind)
print(" ".join(found) or "none")
PY
}
nonce=12345678901234567890123456789012
make_config "$WORK/plain.conf"
sed -i "s|^replay_store = .*|replay_store = $WORK/plain-store|" "$WORK/plain.conf"
make_config "$WORK/keyed.conf" "store_secret = $STORE_SECRET"
sed -i "s|^replay_store = .*|replay_store = $WORK/keyed-store|" "$WORK/keyed.conf"
mid_step 10
check "without store_secret: accepted" "1" \
	"$(at +0 "$WORK/plain.conf" "$(auth $JID "$(token $JID --nonce $nonce)")")"
check "... and the store holds the plain SHA-256 of the nonce and of the JID" "sha256" \
	"$(keys "$WORK/plain-store" $nonce)"
check "with store_secret: accepted" "1" \
	"$(at +0 "$WORK/keyed.conf" "$(auth $JID "$(token $JID --nonce $nonce)")")"
check "... and the store holds their HMAC under store_secret, not their hashes" "hmac" \
	"$(keys "$WORK/keyed-store" $nonce)"
make_config "$WORK/short.conf" "store_secret = TOOSHORT"
out=$($HELPER --config "$WORK/short.conf" check-config 2>&1)
grep -q "short.conf:5: store_secret must be 16 to 256 characters" <<<"$out" &&
	! grep -q TOOSHORT <<<"$out" && pass "a short store_secret: refused, naming the line, not the value" ||
	fail "short store_secret: $out"
make_config "$WORK/section.conf" "[chat.example.org]" "store_secret = $STORE_SECRET"
out=$($HELPER --config "$WORK/section.conf" check-config 2>&1)
grep -q "section.conf:6: store_secret applies to every domain" <<<"$out" &&
	pass "store_secret in a domain's section: refused, naming the line" ||
	fail "store_secret in a section: $out"
out=$($HELPER --config "$WORK/plain.conf" check-config)
grep -q "warning: no store_secret" <<<"$out" && pass "check-config warns without store_secret" ||
	fail "check-config without store_secret: $out"

# store_secret set on a store that has entries, then changed.
t=$(token $JID)
check "a token accepted under plain keys" "1" "$(at +0 "$WORK/plain.conf" "$(auth $JID "$t")")"
sed "s|^replay_store = .*|replay_store = $WORK/plain-store|" "$WORK/keyed.conf" >"$WORK/now-keyed.conf"
chmod 600 "$WORK/now-keyed.conf"
check "store_secret added: its replay refused" "0" "$(at +1 "$WORK/now-keyed.conf" "$(auth $JID "$t")")"
logged "keys changed" && pass "... and the log says the store's keys changed" ||
	fail "keys changed: log: $(head -c 300 "$WORK/stderr")"
check "... a token of the next step accepted" "1" \
	"$(at +30 "$WORK/now-keyed.conf" "$(auth alice@example.org "$(token alice@example.org --offset 30)")")"
t=$(token $JID --offset 30)
check "a token accepted under the store_secret" "1" "$(at +31 "$WORK/now-keyed.conf" "$(auth $JID "$t")")"
sed "s|^store_secret = .*|store_secret = ONSWG4TFMZXW6YTBOJRGC4TFMFZXIZLS|" "$WORK/now-keyed.conf" >"$WORK/rotated.conf"
chmod 600 "$WORK/rotated.conf"
check "store_secret changed: its replay refused" "0" "$(at +32 "$WORK/rotated.conf" "$(auth $JID "$t")")"
check "... and under the old one too" "0" "$(at +33 "$WORK/now-keyed.conf" "$(auth $JID "$t")")"

finish
