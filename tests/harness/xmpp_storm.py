#!/usr/bin/python3
"""Login storm: many XMPP logins at once against a real server, each outcome
checked, with throughput, latency and the CPU each login cost.

    xmpp_storm.py --port PORT --domain D (--tokens CONFIG | --password PW |
                  --logins FILE) [-n N] [-c C] [options]

Each login is one TCP connection: stream header, stream features (with
--tls: STARTTLS, the TLS handshake, the stream again), SASL PLAIN (or
X-TOKEN) with the token or password, and the server's <success/> or
<failure/>. That answer is the login's outcome and the end of its latency
(measured from the connect); the client then closes the stream and the
connection. No resource binding: what it measures is the server's
authentication path.

Where the logins come from (one of):
  --tokens CONFIG   N fresh tokens for USER1..USERk@D, minted before the
                    clock starts with the secrets in CONFIG (the helper's
                    config format; it must be readable by you), the OTP one
                    step ahead so that each stays valid for at least one
                    whole interval; every login must succeed
  --password PW     N logins of USER1..USERk@D with password PW (accounts of
                    the server's own); every login must succeed
  --logins FILE     one login per line: JID TAB PASSWORD [TAB ok|refused]

Options:
  -n, --count N        logins (with --tokens or --password)          [1000]
  -c, --concurrency C  logins in flight at once                         [32]
  -u, --users K        distinct users USER1..USERk                     [100]
  -P, --processes K    client processes sharing the logins and the
                       concurrency (one core drives several thousand
                       plaintext logins a second, a few hundred with TLS) [1]
      --user-prefix P  USER is P                                      [storm]
      --host H         server address                           [127.0.0.1]
      --mech M         PLAIN or X-TOKEN                              [PLAIN]
      --register       create the accounts (in-band registration,
                       XEP-0077) instead of logging in; "exists" is fine
      --tls            STARTTLS before logging in, the server's certificate
                       verified for D (a real server offers PLAIN only on
                       encrypted connections); costs the client and the
                       server a TLS handshake per login
      --tls-insecure   the same without verifying the certificate
      --timeout S      longest wait for one login                       [30]
      --server-pid PID the server process: its CPU per login (all threads)
      --helpers-under PID  the CPU per login of every process below PID
                       (helpers that ended during the run included, through
                       PID's own count of its reaped children)
      --helpers-cgroup DIR  the same for every process of a cgroup (v2),
                       such as the socket unit's helpers: /sys/fs/cgroup/
                       system.slice/system-prosody\\x2dtoken\\x2dauth.slice
      --store-pid PID  a replay store server (Redis): its CPU per login
      --replays K      then log in again with K of the accepted tokens (or
                       all): every replay must be refused
      --outcomes FILE  write each login's JID, outcome and latency (ms)
      --quiet          only the result line

Output: human lines, then one line
  storm: logins=N ok=A refused=B errors=E wrong=W seconds=S rate=R
         p50_ms= p99_ms= max_ms= client_us= [server_us=] [helpers_us=]
         [store_us=]
(the *_us are CPU microseconds per login). Exit status 0 when every outcome
was the expected one, 1 otherwise, 2 on a usage error.
"""
import argparse
import base64
import errno
import marshal
import os
import resource
import select
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tokenconf  # noqa: E402

NS_SASL = b"urn:ietf:params:xml:ns:xmpp-sasl"
FEATURES_END = b"</stream:features>"
CLK = os.sysconf("SC_CLK_TCK")

# Connection states
CONNECTING, FEATURES, PROCEED, HANDSHAKE, TLS_FEATURES, RESULT = range(6)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"


def die(message):
    print("storm: " + message, file=sys.stderr)
    sys.exit(2)


# --- what to log in with ---------------------------------------------------

def load_config(path, domain):
    """The secrets and token settings for DOMAIN, as the helper reads them."""
    try:
        return tokenconf.for_domain(path, domain)
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    except LookupError as e:
        die(str(e))


def mint_all(conf, jids):
    """One fresh token per JID, by the web application's reference code."""
    from tokengen import mint
    return [mint(conf["otp_seed"], conf["token_secret"], jid,
                 offset=conf["otp_interval"], digits=conf["otp_digits"],
                 interval=conf["otp_interval"],
                 nonce_digits=conf["nonce_digits"]) for jid in jids]


def read_logins(path):
    logins = []
    try:
        f = open(path)
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    with f:
        for number, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw:
                continue
            fields = raw.split("\t")
            if len(fields) < 2 or "@" not in fields[0]:
                die("%s:%d: expected JID TAB PASSWORD [TAB ok|refused]"
                    % (path, number))
            expect = fields[2] if len(fields) > 2 else "ok"
            if expect not in ("ok", "refused"):
                die("%s:%d: the expected outcome is ok or refused, not %r"
                    % (path, number, expect))
            logins.append((fields[0], fields[1], expect))
    return logins


# --- CPU time from /proc ----------------------------------------------------

def runtime(pid):
    """CPU seconds PID has run, all its threads, or None if it is gone: from
    the scheduler's own count (nanoseconds), where the kernel keeps one,
    else from /proc/PID/stat (clock ticks)."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    try:
        for task in tasks:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        times = stat_times(pid)
        return times[0] if times else None


def stat_times(pid):
    """(own, reaped children) CPU seconds of PID from /proc/PID/stat, or
    None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state): utime is field 14, cstime field 17
    own = int(fields[11]) + int(fields[12])
    reaped = int(fields[13]) + int(fields[14])
    return own / CLK, reaped / CLK


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def subtree_cpu(root):
    """CPU seconds of every process below ROOT, living or ended: the living
    ones' own time, plus the ended ones through their parents' count of
    reaped children (which is in clock ticks)."""
    kids = children_map()
    total = 0.0
    todo = [root]
    while todo:
        pid = todo.pop()
        times = stat_times(pid)
        if times is None:
            continue
        total += times[1]
        if pid != root:
            own = runtime(pid)
            total += own if own is not None else times[0]
        todo.extend(kids.get(pid, ()))
    return total


def cgroup_cpu(path):
    """CPU seconds of every process a cgroup has held, ended ones included
    (cgroup v2's cpu.stat, or v1's cpuacct.usage)."""
    try:
        with open(os.path.join(path, "cpu.stat")) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(path, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9
    except (OSError, ValueError):
        return None


class CpuWatch:
    def __init__(self, args):
        self.probes = []
        for label, what, kind, option in (
                ("server", args.server_pid, "pid", "--server-pid"),
                ("helpers", args.helpers_under, "under", "--helpers-under"),
                ("helpers", args.helpers_cgroup, "cgroup", "--helpers-cgroup"),
                ("store", args.store_pid, "pid", "--store-pid")):
            if not what:
                continue
            if kind == "cgroup":
                if cgroup_cpu(what) is None:
                    die("%s: no CPU count there (%s needs a cgroup "
                        "directory, such as /sys/fs/cgroup/system.slice/"
                        "system-prosody\\x2dtoken\\x2dauth.slice)"
                        % (what, option))
            elif runtime(what) is None:
                die("no process %d (%s)" % (what, option))
            self.probes.append((label, what, kind))

    def read(self):
        out = {}
        for label, what, kind in self.probes:
            if kind == "under":
                value = subtree_cpu(what)
            elif kind == "cgroup":
                value = cgroup_cpu(what)
            else:
                value = runtime(what)
            out[label] = value if value is not None else float("nan")
        out["client"] = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            ru = resource.getrusage(who)
            out["client"] += ru.ru_utime + ru.ru_stime
        return out


# --- the storm ----------------------------------------------------------------

class Storm:
    """Drives the logins with one epoll loop: no framework between the
    sockets and the state machine, so the client stays cheap."""

    def __init__(self, host, port, domain, mech, register, timeout,
                 tls=None):
        self.addr = (host, port)
        self.tls = tls          # an SSLContext for STARTTLS, or None
        self.tls_name = domain
        self.header = ("<?xml version='1.0'?><stream:stream to='%s' "
                       "version='1.0' xmlns='jabber:client' xmlns:stream="
                       "'http://etherx.jabber.org/streams'>"
                       % domain).encode()
        self.mech = mech
        self.register = register
        self.timeout = timeout

    def request(self, jid, password):
        user = jid.split("@", 1)[0]
        if self.register:
            esc = (lambda s: s.replace("&", "&amp;").replace("<", "&lt;"))
            return ("<iq type='set' id='reg1'><query xmlns='jabber:iq:"
                    "register'><username>%s</username><password>%s"
                    "</password></query></iq>"
                    % (esc(user), esc(password))).encode()
        message = b"\0" + user.encode() + b"\0" + password.encode()
        return (b"<auth xmlns='" + NS_SASL + b"' mechanism='" +
                self.mech.encode() + b"'>" + base64.b64encode(message) +
                b"</auth>")

    def outcome(self, buf):
        """The outcome in what the server sent after the request, or None
        while it is incomplete."""
        if self.register:
            i = buf.find(b"<iq ")
            if i < 0:
                return None
            end = buf.find(b">", i)
            if end < 0:
                return None
            tag = buf[i:end]
            if b"'result'" in tag or b'"result"' in tag:
                return "ok"
            if b"</iq>" not in buf[i:] and not tag.endswith(b"/"):
                return None
            return "exists" if b"<conflict" in buf[i:] else \
                "error: registration refused"
        if b"<success" in buf:
            return "ok"
        i = buf.find(b"<failure")
        if i >= 0:
            tail = buf[i:]
            if b"</failure>" not in tail and not tail.rstrip().endswith(b"/>"):
                return None
            if b"<not-authorized" in tail:
                return "refused"
            j = tail.find(b"><")
            cond = tail[j + 2:].split(b"/", 1)[0].split(b" ", 1)[0] \
                if j >= 0 else b"?"
            return "error: " + cond.decode(errors="replace")
        if b"<stream:error" in buf:
            return "error: stream error"
        return None

    def run(self, logins, concurrency, on_start=None):
        """Logs every (jid, password) in; returns [(outcome, seconds)] in
        input order."""
        requests = [self.request(jid, pw) for jid, pw, _ in logins]
        results = [None] * len(logins)
        ep = select.epoll()
        conns = {}   # fd -> [sock, index, state, buffer, started]
        nxt = 0
        done = 0
        now = time.perf_counter
        header = self.header
        timeout = self.timeout
        tls = self.tls
        EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
        addr = self.addr

        def start():
            nonlocal nxt
            index = nxt
            nxt += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = now()
            err = s.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS):
                s.close()
                results[index] = ("error: connect: " + os.strerror(err),
                                  now() - t0)
                return False
            fd = s.fileno()
            conns[fd] = [s, index, CONNECTING, b"", t0]
            ep.register(fd, EPOLLOUT)
            return True

        def finish(fd, conn, outcome):
            nonlocal done
            s = conn[0]
            results[conn[1]] = (outcome, now() - conn[4])
            done += 1
            del conns[fd]
            ep.unregister(fd)
            try:
                s.send(b"</stream:stream>")
            except (OSError, ssl.SSLError):
                pass
            s.close()

        def handshake(fd, conn):
            """Drives a TLS handshake on; True once it is done."""
            try:
                conn[0].do_handshake()
            except ssl.SSLWantReadError:
                ep.modify(fd, EPOLLIN)
                return False
            except ssl.SSLWantWriteError:
                ep.modify(fd, EPOLLOUT)
                return False
            conn[0].send(header)
            conn[2] = TLS_FEATURES
            ep.modify(fd, EPOLLIN)
            return True

        def receive(s):
            data = s.recv(65536)
            # (TLS may hold more than the socket says is there)
            while data and tls and isinstance(s, ssl.SSLSocket) and \
                    s.pending():
                data += s.recv(65536)
            return data

        if on_start:
            on_start()
        total = len(logins)
        while nxt < total and len(conns) < concurrency:
            if not start():
                done += 1
        last_sweep = now()
        while done < total:
            events = ep.poll(0.25)
            for fd, ev in events:
                conn = conns.get(fd)
                if conn is None:
                    continue
                s = conn[0]
                state = conn[2]
                try:
                    if state == CONNECTING:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            finish(fd, conn, "error: connect: " +
                                   os.strerror(err))
                            continue
                        s.send(header)
                        conn[2] = FEATURES
                        ep.modify(fd, EPOLLIN)
                        continue
                    if state == HANDSHAKE:
                        handshake(fd, conn)
                        continue
                    try:
                        data = receive(s)
                    except (BlockingIOError, ssl.SSLWantReadError):
                        continue
                    if not data:
                        finish(fd, conn, "error: closed by the server")
                        continue
                    buf = conn[3] + data
                    if state == FEATURES or state == TLS_FEATURES:
                        if FEATURES_END not in buf:
                            conn[3] = buf
                            continue
                        conn[3] = b""
                        if tls and state == FEATURES:
                            if b"urn:ietf:params:xml:ns:xmpp-tls" not in buf:
                                finish(fd, conn, "error: no STARTTLS offered")
                                continue
                            s.send(STARTTLS)
                            conn[2] = PROCEED
                            continue
                        s.send(requests[conn[1]])
                        conn[2] = RESULT
                        continue
                    if state == PROCEED:
                        if b"<proceed" not in buf:
                            if b"<failure" in buf or b"</stream" in buf:
                                finish(fd, conn, "error: STARTTLS refused")
                            else:
                                conn[3] = buf
                            continue
                        conn[3] = b""
                        conn[0] = self.tls.wrap_socket(
                            s, server_hostname=self.tls_name,
                            do_handshake_on_connect=False)
                        conn[2] = HANDSHAKE
                        handshake(fd, conn)
                        continue
                    outcome = self.outcome(buf)
                    if outcome is None:
                        conn[3] = buf
                        continue
                    finish(fd, conn, outcome)
                except ssl.SSLError as e:
                    finish(fd, conn, "error: TLS: %s" % (e.reason or e))
                except OSError as e:
                    finish(fd, conn, "error: %s" % (e.strerror or e))
            while nxt < total and len(conns) < concurrency:
                if not start():
                    done += 1
            t = now()
            if t - last_sweep >= 0.25:
                last_sweep = t
                for fd, conn in list(conns.items()):
                    if t - conn[4] > timeout:
                        finish(fd, conn, "error: timeout")
        ep.close()
        return results


def run_processes(storm, logins, concurrency, processes, on_start):
    """The storm from PROCESSES client processes at once, each with its
    share of the logins and of the concurrency (for when one core is not
    enough, as with TLS); results in input order."""
    if processes == 1:
        return storm.run(logins, concurrency, on_start)
    go_r, go_w = os.pipe()
    children = []
    for k in range(processes):
        share = logins[k::processes]
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(go_w)
            os.read(go_r, 1)
            out = storm.run(share, max(1, concurrency // processes))
            with os.fdopen(w, "wb") as f:
                marshal.dump(out, f)
            os._exit(0)
        os.close(w)
        children.append((pid, r, k))
    os.close(go_r)
    on_start()
    os.write(go_w, b"x" * processes)
    os.close(go_w)
    results = [None] * len(logins)
    for pid, r, k in children:
        with os.fdopen(r, "rb") as f:
            try:
                out = marshal.load(f)
            except (EOFError, ValueError):
                out = [("error: client process died", 0.0)] * \
                    len(logins[k::processes])
        os.waitpid(pid, 0)
        results[k::processes] = out
    return results


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def report(label, logins, results, seconds, cpu, quiet):
    n = len(results)
    counts = {"ok": 0, "refused": 0}
    errors = {}
    wrong = []
    for (jid, _, expect), (outcome, _) in zip(logins, results):
        if outcome == "exists":
            outcome = "ok"
        if outcome in counts:
            counts[outcome] += 1
        else:
            errors[outcome] = errors.get(outcome, 0) + 1
        if outcome != expect:
            wrong.append((jid, expect, outcome))
    lat = sorted(r[1] for r in results)
    fields = [
        ("logins", n), ("ok", counts["ok"]), ("refused", counts["refused"]),
        ("errors", sum(errors.values())), ("wrong", len(wrong)),
        ("seconds", "%.3f" % seconds),
        ("rate", "%.0f" % (n / seconds if seconds > 0 else 0)),
        ("p50_ms", "%.2f" % (1000 * percentile(lat, 50))),
        ("p99_ms", "%.2f" % (1000 * percentile(lat, 99))),
        ("max_ms", "%.2f" % (1000 * (lat[-1] if lat else float("nan")))),
    ]
    for key in ("client", "server", "helpers", "store"):
        if key in cpu:
            fields.append(("%s_us" % key, "%.0f" % (1e6 * cpu[key] / n)))
    if not quiet:
        print("%s: %d logins in %.2f s: %d ok, %d refused, %d errors"
              % (label, n, seconds, counts["ok"], counts["refused"],
                 sum(errors.values())))
        for what, k in sorted(errors.items(), key=lambda e: -e[1])[:5]:
            print("  %d x %s" % (k, what))
        for jid, expect, outcome in wrong[:5]:
            print("  wrong: %s expected %s, got %s" % (jid, expect, outcome))
        if "client" in cpu:
            print("  client CPU %.0f us per login (one core: %.0f logins/s)"
                  % (1e6 * cpu["client"] / n,
                     n / cpu["client"] if cpu["client"] > 0 else 0))
    print("storm: " + " ".join("%s=%s" % f for f in fields))
    sys.stdout.flush()
    return not wrong


def main():
    p = argparse.ArgumentParser(
        description="Login storm against an XMPP server (see the top of "
                    "this file or prosody-token-auth-storm(1)).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--domain", required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokens", metavar="CONFIG")
    src.add_argument("--password")
    src.add_argument("--logins", metavar="FILE")
    p.add_argument("-n", "--count", type=int, default=1000)
    p.add_argument("-c", "--concurrency", type=int, default=32)
    p.add_argument("-u", "--users", type=int, default=100)
    p.add_argument("-P", "--processes", type=int, default=1)
    p.add_argument("--user-prefix", default="storm")
    p.add_argument("--mech", default="PLAIN", choices=("PLAIN", "X-TOKEN"))
    p.add_argument("--register", action="store_true")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--tls-insecure", action="store_true")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--server-pid", type=int)
    p.add_argument("--helpers-under", type=int)
    p.add_argument("--helpers-cgroup", metavar="DIR")
    p.add_argument("--store-pid", type=int)
    p.add_argument("--replays", type=int, default=0)
    p.add_argument("--outcomes", metavar="FILE")
    p.add_argument("--label", default="storm")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    if a.count < 1 or a.concurrency < 1 or a.users < 1 or a.processes < 1:
        die("--count, --concurrency, --users and --processes must be at "
            "least 1")
    if a.register and a.tokens:
        die("--register needs --password (accounts of the server's own)")

    if a.logins:
        logins = read_logins(a.logins)
        if not logins:
            die("%s: no logins" % a.logins)
    else:
        jids = ["%s%d@%s" % (a.user_prefix, i % a.users + 1, a.domain)
                for i in range(a.count)]
        if a.tokens:
            secrets = mint_all(load_config(a.tokens, a.domain), jids)
        else:
            secrets = [a.password] * len(jids)
        logins = [(jid, pw, "ok") for jid, pw in zip(jids, secrets)]

    # The file descriptors a storm needs, and a little more
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.concurrency + 64:
        want = min(hard, a.concurrency + 64)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if want < a.concurrency + 64:
            die("--concurrency %d needs more open files than the limit %d"
                % (a.concurrency, hard))

    tls = None
    if a.tls or a.tls_insecure:
        tls = ssl.create_default_context()
        if a.tls_insecure:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
    storm = Storm(a.host, a.port, a.domain, a.mech, a.register, a.timeout,
                  tls)
    watch = CpuWatch(a)
    marks = {}

    def on_start():
        marks["cpu"] = watch.read()
        marks["t"] = time.perf_counter()

    results = run_processes(storm, logins, a.concurrency, a.processes,
                            on_start)
    seconds = time.perf_counter() - marks["t"]
    after = watch.read()
    cpu = {k: after[k] - marks["cpu"][k] for k in after}
    good = report(a.label, logins, results, seconds, cpu, a.quiet)
    if a.outcomes:
        with open(a.outcomes, "w") as f:
            for (jid, _, _), (outcome, latency) in zip(logins, results):
                f.write("%s\t%s\t%.1f\n" % (jid, outcome, 1000 * latency))

    if a.replays and (a.tokens or a.logins):
        accepted = [(jid, pw, "refused") for (jid, pw, _), (o, _)
                    in zip(logins, results) if o == "ok"]
        again = accepted[:a.replays]
        if again:
            t0 = time.perf_counter()
            results = storm.run(again, a.concurrency)
            good = report(a.label + " replays", again, results,
                          time.perf_counter() - t0, {}, a.quiet) and good
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
