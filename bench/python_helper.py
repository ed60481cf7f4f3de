#!/usr/bin/python3
"""A straightforward Python helper of the same contract, as an operator would
write one without prosody-token-auth: the benchmarks' point of comparison.

    python_helper.py --config FILE [--store FILE]

It reads the same config file (global and [domain] sections, the
collective.converse key names), speaks both framings (detected from the
first byte), verifies tokens with pyotp and hmac (constant-time comparison),
and keeps its own replay protection in SQLite (WAL, synchronous=NORMAL: no
fsync per login, like the helper's store; shared by every process using the
same file). Answers are written one write(2) each. Not hardened, not for
production: it exists to be measured.
"""
import argparse
import base64
import binascii
import hashlib
import hmac
import os
import re
import sqlite3
import sys
import time

import pyotp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "harness"))
import tokenconf  # noqa: E402


class Verifier:
    def __init__(self, conf, store):
        self.conf = conf
        self.keys = {}
        for name, d in conf["domains"].items():
            self.keys[name] = (
                pyotp.TOTP(d["otp_seed"], digits=conf["otp_digits"],
                           interval=conf["otp_interval"]),
                d["token_secret"].encode())
        self.token_re = re.compile(
            r"\A([0-9]{%d})([0-9]{%d}) ([A-Za-z0-9+/]{43}=)\Z" %
            (conf["otp_digits"], conf["nonce_digits"]))
        self.part_re = re.compile(r"\A[^@:/\s\x00-\x1f\x7f]+\Z")
        self.db = sqlite3.connect(store, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS used "
                        "(key BLOB PRIMARY KEY, expiry INTEGER NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS used_expiry "
                        "ON used (expiry)")

    def keys_for(self, domain):
        return self.keys.get(domain.lower(), self.keys.get(None))

    def check(self, user, domain, token):
        keys = self.keys_for(domain)
        m = self.token_re.match(token)
        if keys is None or m is None:
            return False
        totp, secret = keys
        otp, nonce, sig64 = m.groups()
        try:
            sig = base64.b64decode(sig64, validate=True)
        except binascii.Error:
            return False
        jid = user + "@" + domain
        otp_ok = totp.verify(otp, valid_window=self.conf["otp_window"])
        want = hmac.new(secret, (otp + nonce + jid).encode(),
                        hashlib.sha256).digest()
        if not (hmac.compare_digest(want, sig) and otp_ok):
            return False
        return self.record(nonce, jid)

    def record(self, nonce, jid):
        now = int(time.time())
        c = self.conf
        expiry = (now // c["otp_interval"] + 2 * c["otp_window"] + 1) * \
            c["otp_interval"]
        key = hashlib.sha256((nonce + "\0" + jid).encode()).digest()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM used WHERE expiry <= ?", (now,))
            self.db.execute("INSERT INTO used VALUES (?, ?)", (key, expiry))
            self.db.execute("COMMIT")
            return True
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            return False
        except sqlite3.Error:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            return False

    def answer(self, text):
        try:
            req = text.decode("utf-8")
        except UnicodeDecodeError:
            return False
        parts = req.split(":", 3)
        if parts[0] == "auth" and len(parts) == 4:
            _, user, domain, token = parts
            if not (self.part_re.match(user) and self.part_re.match(domain)):
                return False
            return self.check(user, domain, token)
        if parts[0] == "isuser" and len(parts) == 3:
            _, user, domain = parts
            return bool(self.part_re.match(user) and
                        self.part_re.match(domain) and
                        self.keys_for(domain) is not None)
        return False


def serve(v, inp, out):
    buf = b""
    ejabberd = None
    while True:
        chunk = os.read(inp, 65536)
        if not chunk:
            return
        buf += chunk
        if ejabberd is None:
            ejabberd = not (0x20 <= buf[0] < 0x7f or buf[0] in b"\r\n\t")
        while True:
            if ejabberd:
                if len(buf) < 2:
                    break
                n = buf[0] << 8 | buf[1]
                if len(buf) < 2 + n:
                    break
                req, buf = buf[2:2 + n], buf[2 + n:]
                ok = n <= 4096 and v.answer(req)
                os.write(out, b"\0\2\0\1" if ok else b"\0\2\0\0")
            else:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                req, buf = buf[:nl], buf[nl + 1:]
                if req.endswith(b"\r"):
                    req = req[:-1]
                ok = len(req) <= 4096 and v.answer(req)
                os.write(out, b"1\n" if ok else b"0\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--store", help="SQLite file (default: replay_store "
                   "from the config, plus .sqlite)")
    a = p.parse_args()
    conf = tokenconf.read(a.config)
    store = a.store or (conf["replay_store"] or "replay") + ".sqlite"
    try:
        serve(Verifier(conf, store), sys.stdin.fileno(), sys.stdout.fileno())
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
