#!/bin/bash
# Lint: the Prosody modules with luacheck (.luacheckrc: Lua 5.4, Prosody's
# module API), the Python pieces with pyflakes, the shell scripts with bash -n.
. "$(dirname "$0")/../lib/lib.sh"

cd "$TOP" || exit 1
if command -v luacheck >/dev/null; then
	out=$(luacheck --no-color prosody/ 2>&1)
	case $out in
	*"Total: 0 warnings / 0 errors"*) pass "luacheck: the Prosody modules are clean" ;;
	*) fail "luacheck: $(grep -v '^Checking' <<<"$out" | head -c 600)" ;;
	esac
else
	skip "luacheck" "not installed (Debian package lua-check)"
fi

if $PY -m pyflakes --version >/dev/null 2>&1; then
	out=$($PY -m pyflakes tests/lib/*.py tests/harness/*.py bench/*.py examples/*.py 2>&1)
	check "pyflakes: the Python pieces are clean" "" "$out"
else
	skip "pyflakes" "not installed (Debian package python3-pyflakes)"
fi

bad=""
for f in tests/*.sh tests/suites/*.sh tests/lib/*.sh tests/harness/*.sh tests/system/*.sh bench/*.sh tests/lib/valgrind-helper packaging/prosody-token-auth-stress packaging/prosody-token-auth-storm; do
	[ -f "$f" ] || continue
	bash -n "$f" 2>>"$WORK/bash-n.err" || bad="$bad $f"
done
check "bash -n: every shell script parses" "" "$bad"

finish
