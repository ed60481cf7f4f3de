#!/bin/bash
# The documentation holds together: every relative link in README.md and
# doc/*.md names a file that exists (and a heading of it, for #anchors, as
# GitHub and Debian's markdown renderers make them), and README's Layout
# section names every file in src/ (a header whose .c is named counts); the
# README fits a screen or two, and its test command is what CI runs.
. "$(dirname "$0")/../lib/lib.sh"

cd "$TOP" || exit 1

cat >"$WORK/links.py" <<'PY'
import os, re, sys

def slug(title):
    title = re.sub(r"[`*_]", "", title.strip().lower())
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")

def anchors(path):
    seen, out = {}, set()
    in_code = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            in_code = not in_code
        m = re.match(r"(#{1,6}) (.*)", line)
        if m and not in_code:
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else "%s-%d" % (s, n))
    return out

bad = []
count = 0
for page in sys.argv[1:]:
    text = open(page, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        count += 1
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(full):
            bad.append("%s: %s (no such file)" % (page, target))
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            bad.append("%s: %s (no such heading)" % (page, target))
print(count)
for b in bad:
    print(b)
PY
out=$($PY "$WORK/links.py" README.md doc/*.md)
n=$(head -n 1 <<<"$out")
[ "${n:-0}" -ge 10 ] && pass "README.md and doc/: $n relative links found" ||
	fail "too few relative links found ($n): is the checker broken?"
check "every relative link resolves, to a file and a heading" "" "$(tail -n +2 <<<"$out")"

lines=$(wc -l <README.md)
[ "$lines" -le 300 ] && pass "README.md: $lines lines (at most 300)" ||
	fail "README.md: $lines lines, more than 300: move the rest to doc/"
command=$(sed -n '/^## Run the tests/,/^## /{s/^    \(bash tests\/deps.sh .*\)$/\1/p}' README.md)
grep -qxF "$command" .ci/run && pass "the README's test command is what .ci/run runs: $command" ||
	fail "the README's test command ('$command') is not in .ci/run"

layout=$(sed -n '/^## Layout/,/^## /p' README.md)
missing=""
for f in src/*; do
	name=${f##*/}
	grep -q "src/$name\b" <<<"$layout" && continue
	case $name in
	*.h) grep -q "src/${name%.h}\.c\b" <<<"$layout" && continue ;;
	esac
	missing="$missing $name"
done
check "README's Layout names every file in src/" "" "$missing"
missing=""
for d in bench doc examples packaging prosody debian tests mk; do
	grep -q "^    $d/" <<<"$layout" || missing="$missing $d/"
done
check "... and every top-level directory" "" "$missing"

finish
