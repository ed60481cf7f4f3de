#!/usr/bin/python3
"""Several XMPP nodes sharing one replay store: each node (a config) runs a
pool of helpers over pipes, and every token is sent to every helper of
every node at the same moment; exactly one of them may accept it. Then the
accepted tokens are replayed, and expired, bad-signature and other users'
tokens sent: all must be refused.

    redis_nodes.py HELPER SEED SECRET TOKENS POOL CONFIG [CONFIG...]

Prints "ok   ..." or "FAIL ..." lines (as tests/lib/lib.sh counts them) and
exits 1 if any failed.
"""
import base64
import hmac
import os
import random
import secrets
import selectors
import subprocess
import sys
import time

HELPER, SEED, SECRET = sys.argv[1:4]
TOKENS, POOL = int(sys.argv[4]), int(sys.argv[5])
CONFIGS = sys.argv[6:]
DOMAIN = "example.org"
TIMEOUT = 10.0

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "harness"))
import checks  # noqa: E402
from checks import check  # noqa: E402

KEY = base64.b32decode(SEED + "=" * ((8 - len(SEED)) % 8))


def otp(at):
    h = hmac.digest(KEY, (int(at) // 30).to_bytes(8, "big"), "sha1")
    o = h[19] & 15
    return "%08d" % ((int.from_bytes(h[o:o + 4], "big") & 0x7FFFFFFF) % 10**8)


def mint(jid, offset=0, secret=SECRET):
    code = otp(time.time() + offset)
    nonce = "".join(str(secrets.randbelow(10)) for _ in range(32))
    sig = hmac.digest(secret.encode(), (code + nonce + jid).encode(),
                      "sha256")
    return code + nonce + " " + base64.b64encode(sig).decode()


class Helper:
    def __init__(self, node, config):
        self.node = node
        self.proc = subprocess.Popen(
            [HELPER, "--config", config, "--log", "stderr"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.devnull, "wb"), bufsize=0)
        self.buf = b""


def ask_all(helpers, line, timeout=None):
    """Sends line to every helper at once; returns their answers."""
    data = line.encode() + b"\n"
    for h in random.sample(helpers, len(helpers)):  # nobody always first
        h.proc.stdin.write(data)
    answers = {}
    sel = selectors.DefaultSelector()
    for h in helpers:
        sel.register(h.proc.stdout, selectors.EVENT_READ, h)
    deadline = time.monotonic() + (timeout or TIMEOUT)
    while len(answers) < len(helpers) and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            h = key.data
            h.buf += os.read(h.proc.stdout.fileno(), 64)
            if len(h.buf) >= 2:
                answers[h] = h.buf[:2]
                h.buf = h.buf[2:]
                sel.unregister(h.proc.stdout)
    sel.close()
    return answers


helpers = [Helper(n, c) for n, c in enumerate(CONFIGS) for _ in range(POOL)]
# Every helper up and answering before the races (under valgrind, on a busy
# machine, starting takes seconds).
started = ask_all(helpers, "isuser:u0:" + DOMAIN, timeout=120)
check(len(started) == len(helpers) and all(a == b"1\n" for a in
                                          started.values()),
      "all %d helpers started" % len(helpers),
      "%d of %d answered" % (len(started), len(helpers)))
wins = [0] * len(CONFIGS)
bad, accepted = [], []
start = time.monotonic()
for i in range(TOKENS):
    jid = "u%d@%s" % (i % 37, DOMAIN)
    token = mint(jid)
    line = "auth:%s:%s:%s" % (jid.split("@")[0], DOMAIN, token)
    answers = ask_all(helpers, line)
    yes = [h for h, a in answers.items() if a == b"1\n"]
    if len(answers) != len(helpers) or len(yes) != 1 or any(
            a not in (b"0\n", b"1\n") for a in answers.values()):
        bad.append((i, len(answers), len(yes)))
    else:
        wins[yes[0].node] += 1
        accepted.append(line)
elapsed = time.monotonic() - start
check(not bad, "%d tokens, each sent to all %d helpers of %d nodes at once: "
      "each accepted exactly once (by node: %s; %.1f s)" % (
          TOKENS, len(helpers), len(CONFIGS),
          ", ".join(map(str, wins)), elapsed),
      "%d wrong, e.g. token %d: %d answers, %d yes" % (
          (len(bad),) + bad[0]) if bad else "")
if TOKENS >= 100:
    check(all(w > 0 for w in wins), "every node won some races (%s)" % wins,
          "a node never accepted: are they really racing?")

refused = {"replayed": 0, "expired": 0, "badsig": 0, "otheruser": 0}
wrong = {k: 0 for k in refused}
for i, line in enumerate(accepted[:40]):
    user = "u%d" % (i % 37)
    jid = user + "@" + DOMAIN
    cases = {
        "replayed": line,
        "expired": "auth:%s:%s:%s" % (user, DOMAIN, mint(jid, -600)),
        "badsig": "auth:%s:%s:%s" % (user, DOMAIN,
                                     mint(jid, secret="WRONG" + SECRET)),
        "otheruser": "auth:%s:%s:%s" % (user, DOMAIN,
                                        mint("other@" + DOMAIN)),
    }
    for kind, text in cases.items():
        answers = ask_all(helpers, text)
        ok = len(answers) == len(helpers) and all(
            a == b"0\n" for a in answers.values())
        refused[kind] += ok
        wrong[kind] += not ok
for kind in refused:
    check(wrong[kind] == 0 and refused[kind] > 0,
          "%s tokens refused by every helper of every node (%d)" % (
              kind, refused[kind]), "%d accepted or unanswered" % wrong[kind])

statuses = []
for h in helpers:
    h.proc.stdin.close()
for h in helpers:
    try:
        statuses.append(h.proc.wait(timeout=TIMEOUT))
    except subprocess.TimeoutExpired:
        h.proc.kill()
        statuses.append("hung")
check(all(s == 0 for s in statuses), "every helper exited 0 at end of input",
      repr(statuses))
sys.exit(1 if checks.failed else 0)
