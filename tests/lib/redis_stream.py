#!/usr/bin/python3
"""A stream of logins through a pool of helpers while the suite breaks
things around them (a failover): every fresh token is sent to every helper
of the pool at once, so that they race; none may be accepted twice. When
told to stop (STOP_FILE appears, or after DEADLINE seconds), every token
accepted during the stream is sent again: each must be refused, whatever
happened to Redis in between.

    redis_stream.py HELPER SEED SECRET CONFIG POOL WORK STOP_FILE DEADLINE [USER]

USER is the JID's local part at example.org (default s).

Writes its progress to WORK/stream.progress ("sent accepted refused") after
every token, and prints "ok   ..." / "FAIL ..." lines and "# ..." notes at
the end.
"""
import os
import random
import selectors
import subprocess
import sys
import time

HELPER, SEED, SECRET, CONFIG = sys.argv[1:5]
POOL = int(sys.argv[5])
WORK, STOP_FILE = sys.argv[6], sys.argv[7]
DEADLINE = float(sys.argv[8])
USER = sys.argv[9] if len(sys.argv) > 9 else "s"
PACE = 0.02  # a token every 20 ms
ANSWER_TIMEOUT = 5.0

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "harness"))
import tokengen  # noqa: E402  (the web application's own minting)
import checks  # noqa: E402
from checks import check  # noqa: E402

helpers = []
for i in range(POOL):
    helpers.append(subprocess.Popen(
        [HELPER, "--config", CONFIG, "--log", "stderr"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(os.path.join(WORK, "stream.%d.log" % i), "wb"),
        bufsize=0))


def ask(procs, line):
    """line to each of procs at once; their answers (None: no answer)."""
    for p in random.sample(procs, len(procs)):
        p.stdin.write(line + b"\n")
    answers = {}
    sel = selectors.DefaultSelector()
    for p in procs:
        sel.register(p.stdout, selectors.EVENT_READ, p)
    end = time.monotonic() + ANSWER_TIMEOUT
    while len(answers) < len(procs) and time.monotonic() < end:
        for key, _ in sel.select(0.2):
            answers[key.data] = os.read(key.data.stdout.fileno(), 2)
            sel.unregister(key.data.stdout)
    sel.close()
    return [answers.get(p) for p in procs]


accepted, twice, unanswered = [], 0, 0
sent = refused = 0
longest_gap, last_yes = 0.0, None
start = time.monotonic()
while not os.path.exists(STOP_FILE) and time.monotonic() - start < DEADLINE:
    line = ("auth:%s:example.org:" % USER +
            tokengen.mint(SEED, SECRET, USER + "@example.org")).encode()
    answers = ask(helpers, line)
    sent += 1
    yes = answers.count(b"1\n")
    unanswered += answers.count(None)
    twice += yes > 1
    now = time.monotonic()
    if yes:
        accepted.append(line)
        if last_yes is not None:
            longest_gap = max(longest_gap, now - last_yes)
        last_yes = now
    else:
        refused += 1
    with open(os.path.join(WORK, "stream.progress.tmp"), "w") as f:
        f.write("%d %d %d\n" % (sent, len(accepted), refused))
    os.replace(os.path.join(WORK, "stream.progress.tmp"),
               os.path.join(WORK, "stream.progress"))
    time.sleep(max(0.0, PACE - (time.monotonic() - now)))

check(twice == 0, "%d tokens raced by %d helpers: none accepted twice "
      "(%d accepted, %d refused)" % (sent, POOL, len(accepted), refused),
      "%d accepted twice" % twice)
check(unanswered == 0, "every login answered within %g s" % ANSWER_TIMEOUT,
      "%d unanswered" % unanswered)
print("# longest time without an accepted login: %.1f s" % longest_gap)
replayed = sum(ask([random.choice(helpers)], line)[0] != b"0\n"
               for line in accepted)
check(accepted and replayed == 0, "all %d tokens accepted during the stream "
      "refused afterwards" % len(accepted),
      "%d accepted again" % replayed)
statuses = []
for p in helpers:
    p.stdin.close()
for p in helpers:
    try:
        statuses.append(p.wait(timeout=10))
    except subprocess.TimeoutExpired:
        p.kill()
        statuses.append("hung")
check(all(s == 0 for s in statuses), "the helpers exit 0", repr(statuses))
sys.exit(1 if checks.failed else 0)
