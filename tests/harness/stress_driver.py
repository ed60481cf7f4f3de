"""The stress harness's driver (tests/harness/stress.sh runs it): drives every
helper at once from one event loop, mints the tokens, keeps the oracle, and
prints the "ok"/"FAIL" lines and the figures. Importable: nothing runs until
main(), which takes the harness's key=value arguments.

    python3 stress_driver.py processes=4 requests=2000 ... work=DIR conf=FILE
"""
import base64
import collections
import hashlib
import hmac
import os
import random
import re
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402
import tokenconf  # noqa: E402
from checks import check  # noqa: E402

KINDS = ("valid", "replayed", "expired", "badsig", "otheruser", "malformed",
         "oversized", "isuser", "race")

def note(text):
    print("     " + text)
    sys.stdout.flush()


# --- the secrets and the token settings, read as the helper reads them ----

def load_config(path, domain):
    try:
        return tokenconf.for_domain(path, domain)
    except OSError as e:
        sys.exit("stress: %s: %s" % (path, e.strerror))
    except LookupError as e:
        sys.exit("stress: %s" % e)


_otp_cache = {}


def otp_at(step):
    code = _otp_cache.get(step)
    if code is None:
        h = hmac.digest(SEED, step.to_bytes(8, "big"), "sha1")
        off = h[19] & 0xF
        v = int.from_bytes(h[off:off + 4], "big") & 0x7FFFFFFF
        code = str(v % 10 ** C["otp_digits"]).zfill(C["otp_digits"])
        if len(_otp_cache) > 64:
            _otp_cache.clear()
        _otp_cache[step] = code
    return code


def mint(jid, offset=0, nonce=None, secret=None):
    secret = secret or SECRET
    otp = otp_at(int(time.time() + offset) // INTERVAL)
    if nonce is None:
        nonce = str(secrets.randbelow(10 ** C["nonce_digits"])).zfill(
            C["nonce_digits"])
    sig = hmac.digest(secret, (otp + nonce + jid).encode(), "sha256")
    return otp + nonce + " " + base64.b64encode(sig).decode()


def check_minting():
    """Our fast minting must agree with the web application's own code."""
    sys.path.insert(0, A["harness_dir"])
    try:
        import tokengen
    except ImportError:
        note("tokengen.py not found: minting not cross-checked")
        return
    for i in range(3):
        nonce = "".join(random.choice("0123456789")
                        for _ in range(C["nonce_digits"]))
        jid = "check%d@%s" % (i, DOMAIN)
        t = time.time()
        ours = mint(jid, nonce=nonce)
        ref = tokengen.mint(C["otp_seed"], C["token_secret"], jid,
                            nonce=nonce, digits=C["otp_digits"],
                            interval=INTERVAL,
                            nonce_digits=C["nonce_digits"])
        if int(t) // INTERVAL != int(time.time()) // INTERVAL:
            continue  # a step boundary between the two
        if ours != ref:
            sys.exit("stress: our tokens differ from tokengen.py's")


# --- the requests ----------------------------------------------------------

def parse_mix(text):
    w = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        k = k.strip()
        if k not in KINDS or not v.strip().isdigit():
            sys.exit("stress: bad --mix entry %r (kinds: %s)" %
                     (part, ", ".join(KINDS)))
        w[k] = int(v)
    if PROCS < 2:
        w.pop("race", None)
    if not w or sum(w.values()) == 0:
        sys.exit("stress: --mix gives nothing to send")
    return w


accepted_pool = collections.deque(maxlen=2000)  # (request, process)


def malformed(user, ejabberd):
    tok = mint(user + "@" + DOMAIN)
    bad_b64 = tok[:-3] + "*" + tok[-2:]
    choices = [
        "auth:%s:%s:%s" % (user, DOMAIN, secrets.token_hex(20)),
        "auth:%s:%s:%s" % (user, DOMAIN, tok[:9] + tok[10:]),
        "auth:%s:%s:%sx" % (user, DOMAIN, tok),
        "auth:%s:%s:%s" % (user, DOMAIN, bad_b64),
        "auth::%s:%s" % (DOMAIN, tok),
        "auth:%s %s:%s:%s" % (user, user, DOMAIN, tok),
        "auth:%s/x:%s:%s" % (user, DOMAIN, tok),
        "auth:%s:%s" % (user, DOMAIN),
        "isuser:a@b:%s" % DOMAIN,
        "isuser::%s" % DOMAIN,
        "setpass:%s:%s:x" % (user, DOMAIN),
        "tryregister:%s:%s:x" % (user, DOMAIN),
        "removeuser:%s:%s" % (user, DOMAIN),
        "removeuser3:%s:%s:x" % (user, DOMAIN),
        "certauth:%s:%s:x" % (user, DOMAIN),
        "",
        "no colon at all",
        "auth:%s:%s:%s\rjunk" % (user, DOMAIN, tok),
    ]
    text = random.choice(choices).encode()
    if random.random() < 0.2:
        junk = bytes(random.randrange(256) for _ in range(random.randrange(
            1, 200)))
        if not ejabberd:
            junk = junk.replace(b"\n", b"") + b"x"
        text = b"auth:" + junk
    return text


def oversized(ejabberd):
    n = random.randrange(4097, 65536 if ejabberd else 70000)
    body = b"auth:bob:" + DOMAIN.encode() + b":" + b"7" * n
    return body[:65535] if ejabberd else body


def frame(text, ejabberd):
    if ejabberd:
        return len(text).to_bytes(2, "big") + text
    return text + b"\n"


class Req:
    __slots__ = ("data", "expect", "kind", "race", "sent", "text")

    def __init__(self, text, expect, kind, race=None):
        self.text = text
        self.expect = expect  # 1, 0, or None (a race: decided in total)
        self.kind = kind
        self.race = race
        self.sent = 0.0
        self.data = b""


race_answers = collections.defaultdict(list)  # race -> answers so far
race_count = 0
races_done = 0
races_bad = 0


def step_edge():
    """With otp_window = 0, a token minted in the last moment of a step may
    be checked in the next: tokens that must pass are not sent then."""
    return OTP_WINDOW == 0 and INTERVAL - time.time() % INTERVAL < 0.5


def make_request(p):
    global race_count
    kind = random.choices(MIX_KINDS, MIX_WEIGHTS)[0]
    user = "s%du%d" % (p.index, random.randrange(100))
    jid = user + "@" + DOMAIN
    if kind in ("valid", "race") and step_edge():
        kind = "isuser"
    if kind == "replayed" and not accepted_pool:
        kind = "isuser"
    if kind == "valid":
        return Req(("auth:%s:%s:%s" % (user, DOMAIN, mint(jid))).encode(), 1,
                   kind)
    if kind == "replayed":
        # Prefer a token another process accepted.
        text, owner = random.choice(accepted_pool)
        return Req(text, 0, kind)
    if kind == "expired":
        shift = (OTP_WINDOW + 3) * INTERVAL * random.choice((-1, 1))
        return Req(("auth:%s:%s:%s" % (user, DOMAIN, mint(jid, shift))
                    ).encode(), 0, kind)
    if kind == "badsig":
        if random.random() < 0.5:
            tok = mint(jid, secret=WRONG_SECRET)
        else:
            tok = mint(jid)
            i = len(tok) - 44 + random.randrange(42)
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            tok = tok[:i] + random.choice(
                [c for c in alphabet if c != tok[i]]) + tok[i + 1:]
        return Req(("auth:%s:%s:%s" % (user, DOMAIN, tok)).encode(), 0, kind)
    if kind == "otheruser":
        other = "o%du%d" % (p.index, random.randrange(100))
        return Req(("auth:%s:%s:%s" % (user, DOMAIN,
                                       mint(other + "@" + DOMAIN))).encode(),
                   0, kind)
    if kind == "malformed":
        return Req(malformed(user, p.ejabberd), 0, kind)
    if kind == "oversized":
        return Req(oversized(p.ejabberd), 0, kind)
    if kind == "race":
        race_count += 1
        text = ("auth:%s:%s:%s" % (user, DOMAIN, mint(jid))).encode()
        others = [q for q in procs if q is not p and q.alive and
                  not q.closing]
        if not others:
            return Req(text, 1, "valid")
        q = random.choice(others)
        twin = Req(text, None, kind, race_count)
        q.pending.appendleft(twin)
        return Req(text, None, kind, race_count)
    return Req(("isuser:%s:%s" % (user, DOMAIN)).encode(), 1, "isuser")


# --- the helpers -----------------------------------------------------------

class Proc:
    def __init__(self, index, ejabberd):
        self.index = index
        self.ejabberd = ejabberd
        if SOCKET:
            self.name = "connection %d" % index
        else:
            self.name = "process %d (%s)" % (index, "ejabberd" if ejabberd
                                             else "generic")
        self.pending = collections.deque()
        self.outstanding = collections.deque()
        self.out = bytearray()
        self.inbuf = bytearray()
        self.made = 0
        self.answers = 0
        self.yes = self.no = 0
        self.expect_yes = self.expect_no = 0
        self.wrong = collections.Counter()
        self.wrong_example = {}
        self.alive = True
        self.closing = False
        self.closed_at = None
        self.failure = None
        self.hang = False
        self.proc = None
        self.pid = None
        self.sock = None
        self.rss = []  # (t, RssAnon KiB, VmRSS KiB)
        self.next_send = 0.0
        self.truncated = None

    def start(self):
        if SOCKET:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(TIMEOUT)
            self.sock.connect(SOCKET)
            self.sock.setblocking(False)
            self.rfd = self.wfd = self.sock.fileno()
        else:
            args = [HELPER, "--config", CONF]
            if LOG == "stderr":
                args += ["--log", "stderr"]
            self.err = open(os.path.join(WORK, "stderr.%d" % self.index),
                            "wb")
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE,
                                         stderr=self.err, bufsize=0)
            self.pid = self.proc.pid
            self.rfd = self.proc.stdout.fileno()
            self.wfd = self.proc.stdin.fileno()
            os.set_blocking(self.rfd, False)
            os.set_blocking(self.wfd, False)

    def write_ready(self):
        """Bytes to send now."""
        return bool(self.out)

    def close_input(self):
        self.closing = True
        self.closed_at = time.monotonic()
        if SOCKET:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        else:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


def fill(p, now):
    """Queues requests while the window allows (and the rate, and the run)."""
    while len(p.outstanding) < WINDOW and not p.closing:
        if not p.pending:
            if stopping_new(p):
                break
            if RATE and now < p.next_send:
                break
            p.pending.append(make_request(p))
            p.made += 1
            if RATE:
                p.next_send = max(p.next_send, now - 1) + 1.0 / RATE
        r = p.pending.popleft()
        r.data = frame(r.text, p.ejabberd)
        r.sent = now
        p.outstanding.append(r)
        p.out += r.data
        if r.kind == "race":
            pass
        elif r.expect:
            p.expect_yes += 1
        else:
            p.expect_no += 1


def stopping_new(p):
    if DURATION:
        return time.monotonic() >= t_end
    return p.made >= REQUESTS


latencies = []


def take_answers(p, now):
    size = 4 if p.ejabberd else 2
    while len(p.inbuf) >= size:
        a = bytes(p.inbuf[:size])
        del p.inbuf[:size]
        if p.ejabberd:
            ok = a[:3] == b"\0\2\0" and a[3] in (0, 1)
            yes = a[3] == 1
        else:
            ok = a in (b"1\n", b"0\n")
            yes = a == b"1\n"
        if not ok:
            p.failure = "framing lost: answer %r" % a
            p.alive = False
            return
        if p.truncated is not None and not p.outstanding:
            # The answer to the request cut short by end of input.
            p.truncated = "yes" if yes else "no"
            continue
        if not p.outstanding:
            p.failure = "an answer to no request"
            p.alive = False
            return
        r = p.outstanding.popleft()
        keep_latency(now - r.sent)
        p.answers += 1
        p.yes += yes
        p.no += not yes
        if r.kind == "race":
            race_answered(r, p, yes)
        elif yes != r.expect:
            p.wrong[r.kind] += 1
            p.wrong_example.setdefault(r.kind, r.text[:60])
        elif yes and r.kind == "valid":
            accepted_pool.append((r.text, p.index))
        if r.kind == "valid":
            counts["valid"] += 1
            counts["valid refused"] += not yes
        elif r.kind == "replayed":
            counts["replayed"] += 1
            counts["replayed accepted"] += yes


counts = collections.Counter()
MAX_LATENCIES = 1000000


def race_answered(r, p, yes):
    global races_done, races_bad
    p.expect_yes += yes
    p.expect_no += not yes
    if yes:
        accepted_pool.append((r.text, p.index))
    v = race_answers[r.race]
    v.append(yes)
    if len(v) == 2:
        races_done += 1
        races_bad += sum(v) != 1
        del race_answers[r.race]


def keep_latency(x):
    """Every latency, or a uniform sample of a million of them."""
    counts["latencies"] += 1
    if len(latencies) < MAX_LATENCIES:
        latencies.append(x)
    else:
        i = random.randrange(counts["latencies"])
        if i < MAX_LATENCIES:
            latencies[i] = x


def sample_memory(procs, now):
    if SOCKET and any(p.pid is None and p.alive for p in procs):
        socket_pids([p for p in procs if p.pid is None and p.alive])
    for p in procs:
        pid = p.pid
        if pid is None:
            continue
        try:
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
        except OSError:
            continue
        anon = re.search(r"^RssAnon:\s+(\d+)", status, re.M)
        rss = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
        if anon and rss:
            p.rss.append((now, int(anon.group(1)), int(rss.group(1))))


def socket_pids(procs):
    """The helpers behind our connections, from ss (best effort)."""
    try:
        out = subprocess.run(["ss", "-xpnH"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return
    ours = {os.fstat(p.sock.fileno()).st_ino: p for p in procs}
    for line in out.splitlines():
        f = line.split()
        # Netid State Recv-Q Send-Q Local Port Peer Port [users]
        if len(f) < 9 or not f[7].isdigit():
            continue
        p = ours.get(int(f[7]))
        m = re.search(r"pid=(\d+)", line)
        if p is not None and m:
            p.pid = int(m.group(1))


def run():
    global procs, t_end
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    procs = []
    for i in range(PROCS):
        ej = FRAMING == "ejabberd" or (FRAMING == "mixed" and i % 2 == 1)
        procs.append(Proc(i + 1, ej))
    sel = selectors.DefaultSelector()
    for p in procs:
        try:
            p.start()
        except OSError as e:
            p.failure = "cannot start: %s" % e
            p.alive = False
            continue
        # The first request decides the framing: a well-formed one.
        user = "s%du0" % p.index
        p.pending.append(Req(("isuser:%s:%s" % (user, DOMAIN)).encode(), 1,
                             "isuser"))
        p.made += 1
        sel.register(p.rfd, selectors.EVENT_READ, (p, "r"))
    t0 = time.monotonic()
    t_end = t0 + DURATION
    sample_every = SAMPLE or max(1.0, DURATION / 20 if DURATION else 1.0)
    next_sample = t0 + min(1.0, sample_every)
    next_progress = t0 + PROGRESS if PROGRESS else float("inf")
    registered_w = set()
    while True:
        now = time.monotonic()
        if now >= next_sample:
            sample_memory(procs, now)
            next_sample = now + sample_every
        if now >= next_progress:
            show_progress(procs, now - t0)
            next_progress = now + PROGRESS
        live = [p for p in procs if p.alive]
        if not live:
            break
        for p in live:
            fill(p, now)
            if not p.closing and not p.outstanding and not p.pending and \
                    stopping_new(p):
                # Everything answered: end of input, sometimes mid-request.
                if not SOCKET and p.index % 2 == 0:
                    try:
                        os.write(p.wfd, frame(b"isuser:cut", p.ejabberd)[:-3])
                        p.truncated = "pending"
                    except OSError:
                        pass
                p.close_input()
            if p.out and p.wfd not in registered_w and not p.closing:
                try:
                    sel.register(p.wfd, selectors.EVENT_WRITE, (p, "w"))
                except (KeyError, ValueError):
                    sel.modify(p.rfd, selectors.EVENT_READ |
                               selectors.EVENT_WRITE, (p, "rw"))
                registered_w.add(p.wfd)
            # A hang: the oldest request unanswered for too long, or no
            # end after end of input.
            if p.outstanding and now - p.outstanding[0].sent > TIMEOUT:
                p.failure = "no answer within %g s (a hang) after %d " \
                    "answers" % (TIMEOUT, p.answers)
                p.hang = True
                kill(p)
                finish_proc(p, sel)
            elif p.closing and now - p.closed_at > TIMEOUT:
                p.failure = "still running %g s after end of input" % TIMEOUT
                p.hang = True
                kill(p)
                finish_proc(p, sel)
        waits = [0.2]
        if RATE:
            waits.append(max(0.0, min(p.next_send for p in live) - now))
        events = sel.select(min(waits))
        now = time.monotonic()
        for key, mask in events:
            p, _ = key.data
            if mask & selectors.EVENT_WRITE and p.out and p.alive:
                try:
                    n = os.write(p.wfd, p.out)
                    del p.out[:n]
                except BlockingIOError:
                    pass
                except OSError as e:
                    p.failure = "cannot write a request: %s" % e
                    finish_proc(p, sel)
                    continue
                if not p.out:
                    unregister_write(p, sel, registered_w)
            if mask & selectors.EVENT_READ and p.alive:
                try:
                    data = os.read(p.rfd, 65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    data = b""
                    if not p.failure:
                        p.failure = "read error: %s" % e
                if data:
                    p.inbuf += data
                    take_answers(p, now)
                    if not p.alive:
                        kill(p)
                        finish_proc(p, sel)
                else:
                    finish_proc(p, sel)
    elapsed = time.monotonic() - t0
    sample_memory(procs, time.monotonic())
    return procs, elapsed


def show_progress(procs, elapsed):
    """A line on how the run goes (a soak is otherwise silent)."""
    answers = sum(p.answers for p in procs)
    trouble = sum(1 for p in procs if p.failure)
    note("%d s: %d answers, %.0f/s, %d of %d helpers in trouble so far" %
         (elapsed, answers, answers / elapsed if elapsed else 0, trouble,
          len(procs)))


def unregister_write(p, sel, registered_w):
    if p.wfd in registered_w:
        registered_w.discard(p.wfd)
        if p.wfd == p.rfd:
            sel.modify(p.rfd, selectors.EVENT_READ, (p, "r"))
        else:
            sel.unregister(p.wfd)


def kill(p):
    if p.proc is not None and p.proc.poll() is None:
        p.proc.kill()
    p.alive = False


def finish_proc(p, sel):
    """End of the answers: the process is done (or died)."""
    if not p.alive and p.rfd not in sel.get_map():
        return
    for fd in {p.rfd, p.wfd}:
        try:
            sel.unregister(fd)
        except (KeyError, ValueError):
            pass
    p.alive = False
    if p.outstanding and not p.failure:
        p.failure = "stopped answering after %d answers" % p.answers
    if p.proc is not None:
        try:
            p.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()
            if not p.failure:
                p.failure = "closed its output but did not exit"
        if not p.closing and not p.failure:
            p.failure = "ended before end of input"
    if p.sock is not None:
        p.sock.close()


def pct(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[i]


def report(procs, elapsed):
    total = sum(p.answers for p in procs)
    for p in procs:
        n = sum(p.wrong.values())
        check(not p.failure, "%s: every request answered" % p.name,
              p.failure or "")
        if n == 0 and p.yes == p.expect_yes and p.no == p.expect_no:
            check(True, "%s: %d answers as expected (%d yes, %d no)" % (
                p.name, p.answers, p.yes, p.no))
        else:
            check(False, "%s: answers" % p.name,
                  "%d yes and %d no, expected %d and %d; wrong: %s" % (
                      p.yes, p.no, p.expect_yes, p.expect_no, ", ".join(
                          "%s %d (e.g. %r)" % (k, v, p.wrong_example[k])
                          for k, v in sorted(p.wrong.items()))))
        if p.truncated is not None:
            check(p.truncated == "no",
                  "%s: a request cut short by end of input answered 0" %
                  p.name, "answer: %s" % p.truncated)
        if p.proc is not None:
            rc = p.proc.returncode
            if rc is None:
                check(False, "%s: exit status" % p.name, "did not exit")
            elif rc < 0:
                check(False, "%s: exit status" % p.name,
                      "killed by signal %d%s" % (-rc, " (by the harness: "
                                                 "hang)" if p.hang else ""))
            else:
                check(rc == 0, "%s: exit status 0" % p.name,
                      "exit status %d" % rc)
            p.err.close()
            errs = open(p.err.name, "rb").read().splitlines()
            other = [l for l in errs if not l.startswith(
                b"prosody-token-auth: ")]
            check(not other, "%s: nothing on stderr but log lines" % p.name,
                  repr(b"\n".join(other[:5])[:400]))
    if "valid" in MIX:
        check(counts["valid"] > 0 and counts["valid refused"] == 0,
              "every valid token accepted (%d tokens, each sent once)" %
              counts["valid"], "%d refused" % counts["valid refused"])
    if "replayed" in MIX:
        check(counts["replayed accepted"] == 0,
              "no replay of an accepted token accepted (%d replays)" %
              counts["replayed"], "%d accepted" %
              counts["replayed accepted"])
    if races_done:
        check(races_bad == 0, "races: each of %d tokens sent to two "
              "processes at once accepted exactly once" % races_done,
              "%d accepted twice or never" % races_bad)
    lat = sorted(latencies)
    note("throughput: %d answers in %.2f s = %.0f requests/s" % (
        total, elapsed, total / elapsed if elapsed else 0))
    note("latency: p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us, "
         "max %.0f us" % tuple(1e6 * pct(lat, q)
                               for q in (0.5, 0.9, 0.99, 0.999, 1.0)))
    memory(procs, elapsed)


def memory(procs, elapsed):
    """A leak shows as private memory (RssAnon) that keeps growing; the
    replay store's pages (file-backed) grow until the store is in a steady
    state and are not judged."""
    judged = elapsed >= 60 or A["leak_check"] == "1"
    for p in procs:
        s = p.rss
        if len(s) < 4:
            continue
        line = "RssAnon %d -> %d KiB, VmRSS %d -> %d KiB (%d samples)" % (
            s[0][1], s[-1][1], s[0][2], s[-1][2], len(s))
        if not judged:
            note("%s: %s" % (p.name, line))
            continue
        q = max(1, len(s) // 4)
        early = max(v for _, v, _ in s[1:1 + q])
        late = max(v for _, v, _ in s[-q:])
        check(late - early <= LEAK_KIB, "%s: memory flat: %s" % (
            p.name, line), "RssAnon grew by %d KiB (allowed %d)" % (
               late - early, LEAK_KIB))


def configure(argv):
    """The run's settings, module-wide, from the harness's arguments."""
    global A, PROCS, REQUESTS, DURATION, RATE, WINDOW, FRAMING, SOCKET
    global DOMAIN, TIMEOUT, LEAK_KIB, WORK, HELPER, CONF, LOG, SAMPLE
    global PROGRESS, C, SEED, SECRET, WRONG_SECRET, INTERVAL, OTP_WINDOW
    global MIX, MIX_KINDS, MIX_WEIGHTS
    A = dict(a.split("=", 1) for a in argv)
    PROCS = int(A["processes"])
    REQUESTS = int(A["requests"])
    DURATION = float(A["duration"])
    RATE = float(A["rate"])
    WINDOW = int(A["window"])
    FRAMING = A["framing"]
    SOCKET = A["socket"]
    DOMAIN = A["domain"]
    TIMEOUT = float(A["timeout"])
    LEAK_KIB = int(A["leak_kib"])
    WORK = A["work"]
    HELPER = A["helper"]
    CONF = A["conf"]
    LOG = A["log"]
    SAMPLE = float(A["sample"])
    PROGRESS = float(A.get("progress", "0"))
    C = load_config(CONF, DOMAIN)
    SEED = base64.b32decode(C["otp_seed"].upper() +
                            "=" * ((8 - len(C["otp_seed"])) % 8))
    SECRET = C["token_secret"].encode()
    WRONG_SECRET = hashlib.sha256(SECRET).hexdigest()[:32].upper().encode()
    INTERVAL = C["otp_interval"]
    OTP_WINDOW = C["otp_window"]
    MIX = parse_mix(A["mix"])
    MIX_KINDS = list(MIX)
    MIX_WEIGHTS = [MIX[k] for k in MIX_KINDS]


def main(argv):
    configure(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    check_minting()
    procs_, elapsed_ = run()
    report(procs_, elapsed_)
    with open(os.path.join(WORK, "counts"), "w") as f:
        f.write("%d %d\n" % (checks.passed, checks.failed))


if __name__ == "__main__":
    main(sys.argv[1:])
