#!/usr/bin/python3
"""An independent verifier written from the contract, for tokens made by
'prosody-token-auth mint'. Prints "valid" or the reason, exits 0 if valid.

    tokencheck.py OTP_SEED TOKEN_SECRET USER@DOMAIN TOKEN
"""
import base64
import binascii
import hashlib
import hmac
import re
import struct
import sys
import time


def totp(seed, t, digits=8, interval=30):
    key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    h = hmac.new(key, struct.pack(">Q", t // interval), hashlib.sha1).digest()
    off = h[-1] & 0x0F
    code = struct.unpack(">I", h[off:off + 4])[0] & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


def check(seed, secret, jid, token):
    m = re.fullmatch(r"([0-9]{8})([0-9]{32}) ([A-Za-z0-9+/]{43}=)", token)
    if not m:
        return "malformed"
    otp, nonce, sig64 = m.groups()
    try:
        sig = base64.b64decode(sig64, validate=True)
    except binascii.Error:
        return "malformed"
    now = int(time.time())
    if not any(hmac.compare_digest(otp, totp(seed, now + d * 30))
               for d in (-1, 0, 1)):
        return "OTP outside the time window"
    want = hmac.new(secret.encode(), (otp + nonce + jid).encode(),
                    hashlib.sha256).digest()
    if not hmac.compare_digest(sig, want):
        return "bad signature"
    return "valid"


if __name__ == "__main__":
    verdict = check(*sys.argv[1:5])
    print(verdict)
    sys.exit(0 if verdict == "valid" else 1)
