#!/bin/bash
# Upgrading with helpers running: ejabberd keeps its pool of helpers for its
# whole life, so during an upgrade helpers of the old version still answer
# while a new one converts the replay store they share. The old ones must
# then refuse (fail closed), never crash, and never accept a token the new
# one accepted (nor the reverse); the new one finds what the old ones
# recorded. The old versions are built from this project's own history
# (1.0.0 and 1.1.0, 2.0.0 with layout 2, and the last with layout 3, which
# the store converts to layout 4, on LMDB; the Redis store's first layout
# on Redis, and on a Redis Cluster); without that history the suite says
# so and skips.
. "$(dirname "$0")/../lib/lib.sh"

declare -A RELEASE=([1.0.0]=33b554f [1.1.0]=ef88a67 [2.0.0]=70ff3d9)
# The LMDB store's layout 3 (a nonce and its place in an expiry index), as
# it was last before layout 4; it came after 2.0.0.
RELEASE[lmdb-3]=e221fad
# The Redis store's first layout (a Lua script per login, PREFIXsince), as
# it was last before its second; it came after 2.0.0.
RELEASE[redis-1]=1b156aa
# The same first layout on a Redis Cluster (a mark per slot, read by a GET
# of its own), as it was last before the cluster's own layout.
RELEASE[redis-cluster-1]=996a0b2

if ! git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	skip "upgrades" "not a git checkout: the old versions are built from its history"
	finish
	exit 0
fi

# build VERSION: the helper of an old release, in $WORK/VERSION.
build() {
	local dir=$WORK/$1
	mkdir -p "$dir"
	git -C "$TOP" archive "${RELEASE[$1]}" | tar -x -C "$dir" &&
		env -u MAKEFLAGS -u MFLAGS make -s -C "$dir" prosody-token-auth >"$dir.log" 2>&1
}

# The Python side: long-running helpers over pipes, asked in turn.
cat >"$WORK/upgrade.py" <<'EOF'
import sys
from suite import Helper
import suite

old_bin, new_bin, conf, name = sys.argv[1:5]


def check(ok, what, why=""):
    suite.check(ok, "%s: %s" % (name, what), why)


def token(jid):
    return suite.token(jid)


old = Helper(conf, binary=old_bin, name=name + "-old")
t1 = token("bob@example.org")
check(old.auth("bob@example.org", t1) == "1", "the old helper accepts a token")
new = Helper(conf, binary=new_bin, name=name + "-new")
check(new.auth("bob@example.org", t1) == "0",
      "the new helper converts the store, and refuses the token the old one accepted")
t2 = token("alice@example.org")
check(old.auth("alice@example.org", t2) == "0",
      "the old helper, still running, refuses after the conversion (fail closed)")
check(new.auth("alice@example.org", t2) == "1",
      "... and that token is accepted once, by the new helper")
t3 = token("carol@example.org")
check(new.auth("carol@example.org", t3) == "1", "the new helper accepts a token")
check(old.auth("carol@example.org", t3) == "0",
      "... which the old helper refuses (a second yes is never given)")
again = Helper(conf, binary=old_bin, name=name + "-again")
check(again.auth("dave@example.org", token("dave@example.org")) == "0",
      "an old helper started after the conversion refuses too")
check(old.stop() == 0 and again.stop() == 0,
      "the old helpers never crashed, and exit 0 at the end of input")
check(new.stop() == 0, "the new helper exits 0")
log = old.log()
check("replay store" in log and "refused" in log,
      "the old helper logs why it refuses", log[-300:])
EOF

for version in 1.0.0 1.1.0 2.0.0 lmdb-3; do
	if ! git -C "$TOP" cat-file -e "${RELEASE[$version]}^{commit}" 2>/dev/null; then
		skip "upgrade from $version" "commit ${RELEASE[$version]} is not in this clone's history (a shallow clone?)"
		continue
	fi
	if ! build "$version"; then
		fail "build $version: $(tail -n 5 "$WORK/$version.log")"
		continue
	fi
	store=$WORK/store-$version
	make_config "$WORK/$version.conf"
	sed -i "s|^replay_store = .*|replay_store = $store|; /^replay_per_user/d" "$WORK/$version.conf"
	py_checks "$WORK/$version/prosody-token-auth" "$HELPER" "$WORK/$version.conf" \
		"from $version" <"$WORK/upgrade.py"
done


# --- Redis: the first layout, its helpers still running ----------------------

# The new helper shares the first layout's nonce keys, shuts its helpers
# out (they refuse every login from then on, and say why) and begins a new
# record (one record lifetime of refusals: a first-layout mark cannot be
# told from one restored from a snapshot); no token is accepted twice
# meanwhile.
cat >"$WORK/upgrade-redis.py" <<'EOF'
import sys, time
from suite import Helper, SEED, SECRET
import suite
import tokengen

old_bin, new_bin, conf = sys.argv[1:4]
# (what is upgraded, and its helpers' names in the logs)
name = sys.argv[4] if len(sys.argv) > 4 else "Redis from the first layout"
tag = sys.argv[5] if len(sys.argv) > 5 else "redis"


def check(ok, what, why=""):
    suite.check(ok, "%s: %s" % (name, what), why)


def token(jid):
    return tokengen.mint(SEED, SECRET, jid, interval=2)


old = Helper(conf, binary=old_bin, name=tag + "-old")
t1 = token("bob@example.org")
check(old.auth("bob@example.org", t1) == "1", "the old helper accepts a token")
new = Helper(conf, binary=new_bin, name=tag + "-new")
check(new.auth("bob@example.org", t1) == "0",
      "the new helper converts the store, and refuses the token the old one accepted")
t2 = token("alice@example.org")
check(old.auth("alice@example.org", t2) == "0",
      "the old helper, still running, refuses after the conversion (shut out; "
      "on a cluster, in a slot no new helper used)")
check(new.auth("alice@example.org", t2) == "0",
      "... and so does the new one, for one record lifetime")
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    t3 = token("carol@example.org")
    if new.auth("carol@example.org", t3) == "1":
        break
    time.sleep(0.5)
check(time.monotonic() < deadline, "one record lifetime later, the new helper accepts a token")
check(old.auth("carol@example.org", t3) == "0", "... which the old helper refuses")
check(old.auth("dave@example.org", token("dave@example.org")) == "0",
      "... as it refuses every token now")
again = Helper(conf, binary=old_bin, name=tag + "-again")
check(again.auth("erin@example.org", token("erin@example.org")) == "0",
      "an old helper started after the conversion refuses too")
check(old.stop() == 0 and again.stop() == 0,
      "the old helpers never crashed, and exit 0 at the end of input")
check(new.stop() == 0, "the new helper exits 0")
log = old.log()
check("replay store" in log and "refused" in log,
      "the old helper logs why it refuses", log[-300:])
EOF
. "$(dirname "$0")/../lib/redis-lib.sh"
if ! redis_need; then
	skip "upgrade from the first Redis layout" "no redis-server or redis-cli (Debian package redis-server)"
elif ! git -C "$TOP" cat-file -e "${RELEASE[redis-1]}^{commit}" 2>/dev/null; then
	skip "upgrade from the first Redis layout" "commit ${RELEASE[redis-1]} is not in this clone's history (a shallow clone?)"
elif ! build redis-1; then
	fail "build redis-1: $(tail -n 5 "$WORK/redis-1.log")"
elif ! redis_start upgrade; then
	fail "a redis-server for the upgrade started"
else
	# The first layout's own mark: a store that holds every nonce.
	rcli upgrade SET pta:since 0 >/dev/null
	# (as the administrator: the ACL of each layout lacks commands of
	# the other, and the old helpers must first be seen to accept)
	redis_config "$WORK/redis-upgrade.conf" \
		"redis://:$REDIS_ADMIN_PASSWORD@127.0.0.1:${REDIS_PORT[upgrade]}" "otp_interval = 2"
	py_checks "$WORK/redis-1/prosody-token-auth" "$HELPER" "$WORK/redis-upgrade.conf" <"$WORK/upgrade-redis.py"
	check "the first layout's mark now shuts its helpers out" 9999999999 "$(rcli upgrade GET pta:since)"
fi

# --- Redis Cluster: the first layout, its helpers still running --------------

# The first new helper finds the keys' leases new: it shuts the old helpers
# out of every slot at once (they refuse every login, even in slots no new
# helper has used, as alice's), and each slot begins a new record (one
# record lifetime of refusals); no token is accepted twice meanwhile. The
# same checks as on one Redis.
cluster_up() { rcli upcluster CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok'; }
if ! redis_need; then
	skip "upgrade from the cluster's first layout" "no redis-server or redis-cli (Debian package redis-server)"
elif ! git -C "$TOP" cat-file -e "${RELEASE[redis-cluster-1]}^{commit}" 2>/dev/null; then
	skip "upgrade from the cluster's first layout" "commit ${RELEASE[redis-cluster-1]} is not in this clone's history (a shallow clone?)"
elif ! build redis-cluster-1; then
	fail "build redis-cluster-1: $(tail -n 5 "$WORK/redis-cluster-1.log")"
elif ! redis_start upcluster cluster-enabled yes cluster-config-file nodes.conf; then
	fail "a redis-server in cluster mode for the upgrade started"
else
	# A cluster of one node serving every slot.
	rcli upcluster CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null
	wait_for 20 cluster_up || fail "the one-node cluster is up"
	redis_config "$WORK/cluster-upgrade.conf" "redis://:$REDIS_ADMIN_PASSWORD@/" \
		"replay_redis_cluster = 127.0.0.1:${REDIS_PORT[upcluster]}" "otp_interval = 2"
	# (the first layout's reset-store: every slot's mark, SET 0 NX)
	"$WORK/redis-cluster-1/prosody-token-auth" --config "$WORK/cluster-upgrade.conf" reset-store >/dev/null 2>&1 ||
		fail "the old helper's reset-store"
	py_checks "$WORK/redis-cluster-1/prosody-token-auth" "$HELPER" "$WORK/cluster-upgrade.conf" \
		"Redis Cluster from the first layout" cluster <"$WORK/upgrade-redis.py"
	shut=$(rcli upcluster --scan --pattern 'pta:{*}since' | head -200 |
		while read -r k; do rcli upcluster GET "$k"; done | sort -u)
	check "the first layout's marks now shut its helpers out, in every slot" 9999999999 "$shut"
fi

finish
