#!/usr/bin/python3
"""The helper behind a pseudo-terminal set up the way lua-lpty sets it up
for Prosody's mod_auth_external: the slave is the child's controlling
terminal and its stdin, stdout and stderr; echo and canonical mode are
cleared in the child only after fork (signal characters, flow control and
CR/NL translation left on); the master is leaked into the child.

    pty_helper.py HELPER CONFIG OTP_SEED TOKEN_SECRET

Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, M failed" last.
With --parent first, it only starts the helper, prints its pid and waits
(for the test that kills the helper's parent).
"""
import os
import select
import signal
import subprocess
import sys
import termios
import time

AS_PARENT = sys.argv[1] == "--parent"
if AS_PARENT:
    del sys.argv[1]
HELPER, CONFIG, SEED, SECRET = sys.argv[1:5]
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TIMEOUT = 30
sys.path.insert(0, os.path.join(TOP, "tests", "harness"))
from checks import check, summary  # noqa: E402


def token(jid, offset=0):
    out = subprocess.run(
        ["/usr/bin/python3",
         os.path.join(TOP, "tests", "harness", "tokengen.py"),
         SEED, SECRET, jid, "--offset", str(offset)],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def spawn(args=(), early=b""):
    """Starts the helper as lpty would; early is written before it runs."""
    master, slave = os.openpty()
    if early:
        os.write(master, early)  # echoed at once: echo is still on
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            import fcntl
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            attrs = termios.tcgetattr(0)
            attrs[3] &= ~(termios.ECHO | termios.ICANON)
            termios.tcsetattr(0, termios.TCSANOW, attrs)
            os.set_inheritable(master, True)  # lpty leaks it
            os.execv(HELPER, [HELPER, "--config", CONFIG] + list(args))
        finally:
            os._exit(127)
    os.close(slave)
    return pid, master


def wait_raw(master):
    """Waits (bounded) until the helper has put the terminal in raw mode."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        iflag, oflag, _, lflag = termios.tcgetattr(master)[:4]
        if not (lflag & (termios.ECHO | termios.ICANON | termios.ISIG |
                         termios.IEXTEN)) and \
           not (iflag & (termios.ICRNL | termios.IXON)) and \
           not (oflag & termios.OPOST):
            return True
        time.sleep(0.01)
    return False


def read_exactly(master, n):
    """Reads n bytes, or what came before the timeout."""
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            break
        try:
            chunk = os.read(master, n - len(data))
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_pending(master, quiet=0.3):
    """What is already waiting on the master (the echo), no more."""
    data = b""
    while select.select([master], [], [], quiet)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def finish(pid, master, name):
    """End of input never comes (the master is leaked into the helper), so
    servers stop it with SIGTERM: it must exit 0 at once."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            os.close(master)
            check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                  name + ": exits 0 on SIGTERM", "status %r" % status)
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(master)
    check(False, name + ": exits on SIGTERM", "still running")


def ask(master, lines, expect):
    os.write(master, b"".join(lines))
    return read_exactly(master, len(expect))


def early_request_is_dropped():
    name = "first request written before start"
    first = token("bob@example.org")
    early = ("auth:bob:example.org:%s\n" % first).encode()
    pid, master = spawn(early=early)
    check(wait_raw(master), name + ": raw mode set", "terminal not raw")
    echo = read_pending(master)
    check(echo in (b"", early.replace(b"\n", b"\r\n")),
          name + ": echoed by the terminal, not answered", repr(echo))
    fresh = token("bob@example.org")
    lines = [("auth:bob:example.org:%s\n" % first).encode(),
             ("auth:bob:example.org:%s\n" % fresh).encode(),
             ("auth:bob:example.org:%s\n" % fresh).encode(),
             b"auth:bob:example.org:garbage\n",
             b"isuser:bob:example.org\n"]
    # The dropped first token is still unused, so it is accepted now.
    got = ask(master, lines, b"1\n1\n0\n0\n1\n")
    check(got == b"1\n1\n0\n0\n1\n",
          name + ": every later answer belongs to its own request", repr(got))
    finish(pid, master, name)


def control_characters():
    name = "control characters"
    pid, master = spawn()
    wait_raw(master)
    tok = token("bob@example.org")
    cases = [
        (b"auth:bob:example.org:\x03\n", b"0\n", "^C in a password"),
        (b"auth:bob:example.org:\x1c\n", b"0\n", "^\\ in a password"),
        (b"auth:bob:example.org:\x1a\n", b"0\n", "^Z in a password"),
        (b"auth:bob:example.org:\x13x\n", b"0\n", "^S in a password"),
        (b"auth:bob:example.org:\x11\n", b"0\n", "^Q in a password"),
        (("auth:bob:example.org:%s\rx\n" % tok).encode(), b"0\n",
         "CR inside a password"),
        (("auth:bob:example.org:%s\r\n" % tok).encode(), b"1\n",
         "CRLF after a valid token"),
    ]
    for line, expect, what in cases:
        got = ask(master, [line], expect)
        check(got == expect, "pty: " + what, repr(got))
    finish(pid, master, name)


def ejabberd_frames():
    name = "ejabberd framing over a raw terminal"
    pid, master = spawn(["--protocol", "ejabberd"])
    wait_raw(master)
    frames = []
    for b in (3, 4, 13, 17, 19, 21, 26, 28, 127):
        frames.append(bytes([0, b]) + b"x" * b)        # low byte
        frames.append(bytes([b, 5]) + b"x" * (b * 256 + 5))  # high byte
    body = b"isuser:bob:example.org"
    frames.append(len(body).to_bytes(2, "big") + body)
    expect = b"\x00\x02\x00\x00" * (len(frames) - 1) + b"\x00\x02\x00\x01"
    got = b""
    for f in frames:
        os.write(master, f)
        got += read_exactly(master, 4)
    check(got == expect,
          "pty: " + name + " (length bytes 3 4 13 17 19 21 26 28 127)",
          "%d bytes, %r" % (len(got), got[-8:]))
    finish(pid, master, name)


def parent_killed():
    name = "parent killed"
    parent = subprocess.Popen(["/usr/bin/python3", os.path.abspath(__file__),
                               "--parent"] + sys.argv[1:5],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline().strip()
        helper = int(line)
    except ValueError:
        parent.kill()
        parent.wait()
        check(False, name, "no helper pid: %r" % line)
        return
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + TIMEOUT
    gone = False
    while time.monotonic() < deadline and not gone:
        try:
            with open("/proc/%d/stat" % helper) as f:
                gone = f.read().split(")")[1].split()[0] == "Z"
        except FileNotFoundError:
            gone = True
        time.sleep(0.02)
    if not gone:
        os.kill(helper, signal.SIGKILL)
    check(gone, "pty: the helper exits when its parent is killed",
          "still running")


def be_parent():
    pid, master = spawn()
    wait_raw(master)
    print(pid, flush=True)
    time.sleep(600)


if __name__ == "__main__" and AS_PARENT:
    be_parent()
elif __name__ == "__main__":
    early_request_is_dropped()
    control_characters()
    ejabberd_frames()
    parent_killed()
    print(summary())
    sys.exit(0 if summary().endswith(" 0 failed") else 1)
