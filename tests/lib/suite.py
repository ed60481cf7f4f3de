"""The Python side of the shell suites: checks that print the "ok ..." and
"FAIL ..." lines lib.sh's py_checks counts, helpers driven over pipes, and
tokens made by the web application's own code (tokengen.py).

    from suite import check, token, Helper

The environment says which helper, where the work directory is, and the
suite's secrets (lib.sh's py_checks sets it)."""
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "harness"))
import tokengen  # noqa: E402
import checks  # noqa: E402

check = checks.check  # suites import it from here

HELPER = os.environ.get("HELPER", "prosody-token-auth").split()
WORK = os.environ.get("WORK", ".")
SEED = os.environ.get("OTP_SEED", "")
SECRET = os.environ.get("TOKEN_SECRET", "")


def token(jid="bob@example.org", offset=0, seed=None, secret=None):
    """A token made as the web application makes them."""
    return tokengen.mint(seed or SEED, secret or SECRET, jid, offset)


class Helper:
    """A helper process over pipes, as ejabberd's pool runs them."""

    def __init__(self, conf, env=None, args=(), binary=None, name="helper"):
        self.err = open(os.path.join(WORK, name + ".err"), "wb")
        command = [binary] if binary else list(HELPER)
        self.p = subprocess.Popen(command + ["--config", conf, "--log",
                                             "stderr"] + list(args),
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err,
                                  env=env)

    def ask(self, line, timeout=10):
        """The answer to one generic request, "no answer" or "EOF"."""
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return "no answer"
        return self.p.stdout.readline().decode().strip() or "EOF"

    def auth(self, jid, tok, timeout=10):
        """The answer to auth:USER:DOMAIN:TOKEN."""
        user, domain = jid.split("@")
        return self.ask("auth:%s:%s:%s" % (user, domain, tok), timeout)

    def wait(self, timeout):
        """Exit status, or None if it is still running after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.p.poll()
            if rc is not None:
                return rc
            time.sleep(0.01)
        return None

    def stop(self, timeout=10):
        """Ends its input; its exit status, or "hung"."""
        self.p.stdin.close()
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            return "hung"
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def log(self):
        self.err.flush()
        with open(self.err.name, "rb") as f:
            return f.read().decode(errors="replace")
