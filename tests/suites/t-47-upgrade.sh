#!/bin/bash
# Upgrading with helpers running: ejabberd keeps its pool of helpers for its
# whole life, so during an upgrade helpers of the old version still answer
# while a new one converts the replay store they share. The old ones must
# then refuse (fail closed), never crash, and never accept a token the new
# one accepted (nor the reverse); the new one finds what the old ones
# recorded. The old versions are built from this project's own history
# (1.0.0 and 1.1.0, and 2.0.0, whose layout 2 the store converts to layout
# 3); without that history the suite says so and skips.
. "$(dirname "$0")/../lib/lib.sh"

declare -A RELEASE=([1.0.0]=33b554f [1.1.0]=ef88a67 [2.0.0]=70ff3d9)

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

for version in 1.0.0 1.1.0 2.0.0; do
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

finish
