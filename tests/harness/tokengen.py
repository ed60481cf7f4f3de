#!/usr/bin/python3
"""Mint a token exactly as collective.converse does (the contract's reference
generator), for tests: tokens from the web application's own code must be
accepted by the helper.

    tokengen.py OTP_SEED TOKEN_SECRET JID [--offset SECONDS] [--nonce DIGITS]
                [--digits N] [--interval S] [--count N]
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import os
import random
import time
import warnings

os.environ["TZ"] = "UTC"
time.tzset()

import pyotp  # noqa: E402  (imported after TZ is set, as the reference does)

# The reference reads the time with utcnow(), which Python 3.12 and later
# (Debian 13) call deprecated: same value, and the tests' output stays clean.
warnings.filterwarnings("ignore", message=r"datetime\.datetime\.utcnow",
                        category=DeprecationWarning)


def mint(seed, secret, jid, offset=0, nonce=None, digits=8, interval=30,
         nonce_digits=32):
    totp = pyotp.TOTP(seed, digits=digits, interval=interval)
    when = datetime.datetime.utcnow() + datetime.timedelta(seconds=offset)
    otp = totp.generate_otp(totp.timecode(when))
    if nonce is None:
        nonce = "".join(str(random.SystemRandom().randint(0, 9))
                        for _ in range(nonce_digits))
    sig = hmac.new(secret.encode(), (otp + nonce + jid).encode(),
                   hashlib.sha256).digest()
    return otp + nonce + " " + base64.b64encode(sig).decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("seed")
    p.add_argument("secret")
    p.add_argument("jid")
    p.add_argument("--offset", type=int, default=0,
                   help="seconds added to the current time")
    p.add_argument("--nonce")
    p.add_argument("--digits", type=int, default=8)
    p.add_argument("--interval", type=int, default=30)
    p.add_argument("--nonce-digits", type=int, default=32)
    p.add_argument("--count", type=int, default=1)
    a = p.parse_args()
    for _ in range(a.count):
        print(mint(a.seed, a.secret, a.jid, a.offset, a.nonce, a.digits,
                   a.interval, a.nonce_digits))


if __name__ == "__main__":
    main()
