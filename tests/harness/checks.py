"""One check's line, as the suites count them: "ok NAME", or "FAIL NAME:
why". The stress harness, the suites' Python helpers and suite.py all
print through check(), and summary() gives the last line."""
import sys

passed = failed = 0


def check(ok, name, why=""):
    """Prints the check's line; returns ok."""
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL %s%s" % (name, ": " + why if why else ""))
    sys.stdout.flush()
    return ok


def summary():
    """The last line of a run: "N passed, M failed"."""
    return "%d passed, %d failed" % (passed, failed)
