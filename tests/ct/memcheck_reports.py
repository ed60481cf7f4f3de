#!/usr/bin/python3
"""Reads a valgrind memcheck XML log and prints one line per report that was
not suppressed, tab-separated:

    REPORT  where  kind  innermost frame  first frame in our code  stack

where is "ours" when the innermost frame is in the program under test (the
product's sources or the test's own), else "library" (e.g. OpenSSL, reached
from our code). A secret-dependent branch is kind UninitCondition, a
secret-dependent memory index UninitValue. Then a last line:

    SUMMARY  reports  suppressed

usage: memcheck_reports.py LOG.xml PROGRAM
"""
import os
import sys
import xml.etree.ElementTree as ET


def frames(stack):
    for f in stack.findall("frame"):
        d, fl = f.findtext("dir", ""), f.findtext("file", "")
        yield {
            "obj": f.findtext("obj", "?"),
            "fn": f.findtext("fn", "???"),
            "src": os.path.join(d, fl) if fl else "",
            "line": f.findtext("line", ""),
        }


def where(f):
    if f["src"]:
        return "%s (%s:%s)" % (f["fn"], short(f["src"]), f["line"])
    return "%s (%s)" % (f["fn"], os.path.basename(f["obj"]))


def short(path):
    """src/token.c or tests/ct/ct_verify.c, without the checkout's path."""
    parts = path.split(os.sep)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("src", "tests"):
            return os.sep.join(parts[i:])
    return os.path.basename(path)


def main():
    log, program = sys.argv[1], os.path.realpath(sys.argv[2])
    try:
        root = ET.parse(log).getroot()
    except (OSError, ET.ParseError) as e:
        print("SUMMARY\t-1\t-1\t%s" % e)
        return
    reports = 0
    for err in root.findall("error"):
        stack = err.find("stack")
        fs = list(frames(stack)) if stack is not None else []
        ours = [f for f in fs if os.path.realpath(f["obj"]) == program]
        inner = fs[0] if fs else {"obj": "?", "fn": "?", "src": "", "line": ""}
        kind = err.findtext("kind", "?")
        reports += 1
        print("\t".join([
            "REPORT",
            "ours" if fs and ours and ours[0] is fs[0] else "library",
            kind,
            where(inner),
            where(ours[0]) if ours else "-",
            " <- ".join(where(f) for f in fs),
        ]))
    suppressed = sum(int(p.findtext("count", "0"))
                     for p in root.iter("pair"))
    print("SUMMARY\t%d\t%d" % (reports, suppressed))


if __name__ == "__main__":
    main()
