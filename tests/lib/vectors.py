#!/usr/bin/python3
"""The test vectors of doc/test-vectors.md, computed independently of the
helper and of the examples: the OTP with pyotp, the signature with Python's
hmac, each parameter taken from the vector's table, not from its config.

    vectors.py render        print the vectors as doc/test-vectors.md has them
    vectors.py check DOC     every vector appears in DOC exactly as rendered
    vectors.py export DIR    write each vector's config to DIR/N.conf and
                             print, tab-separated, one line per vector: N CONF
                             JID UNIX_TIME NONCE TOKEN SEED_FP SECRET_FP
    vectors.py fingerprint VALUE    the fingerprint of a secret

Change a vector here, then paste the output of 'render' into the page and
the tokens into tests/unit/test_vectors.c; the suite t-25 checks all three
agree.
"""
import base64
import datetime
import hashlib
import hmac
import os
import sys

import pyotp

SEED = "XVGR73KMZH2M4XMY"
SECRET = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7"
NONCE = "01234567890123456789012345678901"
BASIC = "otp_seed     = %s\ntoken_secret = %s\n" % (SEED, SECRET)
DOMAINS = BASIC + """
[Chat.Example.ORG]
otp_seed     = HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M
token_secret = BJWMVD7TUFD25U7ZBKGRDZJPBUCK747J
"""
DEFAULTS = {"digits": 8, "interval": 30, "nonce_digits": 32}

# title, note, config, the secrets and numbers that config gives for the
# JID, then the JID as given, the time and the nonce.
VECTORS = [
    ("The defaults", "",
     BASIC, SEED, SECRET, {}, "bob@example.org", 1700000000, NONCE),
    ("The last second of a time step", "",
     BASIC, SEED, SECRET, {}, "bob@example.org", 1700000009,
     "98765432109876543210987654321098"),
    ("The first second of the next step",
     "One second after vector 2, with the same nonce: another time step, so "
     "another OTP and another signature.",
     BASIC, SEED, SECRET, {}, "bob@example.org", 1700000010,
     "98765432109876543210987654321098"),
    ("A JID given with capitals",
     "Signed in lower case, as the server asks about it: the same token as "
     "vector 1.",
     BASIC, SEED, SECRET, {}, "Bob@Example.ORG", 1700000000, NONCE),
    ("Six digits, a 60-second step, a 16-digit nonce",
     "otp_window and replay_store concern the helper alone; the examples "
     "ignore them.",
     "# comments and the helper's own keys are ignored\n"
     "otp_seed     = VJIXZBONTDYQXHJ5QD3XO2WQRSM7MYRA\n"
     "token_secret = 33FRJY7AKPXBEC2R5OMMAK57D5ZKU5SC\n"
     "otp_digits   = 6      # optional\n"
     "otp_interval = 60\n"
     "otp_window   = 2\n"
     "nonce_digits = 16\n"
     "replay_store = /var/lib/prosody-token-auth/replay\n",
     "VJIXZBONTDYQXHJ5QD3XO2WQRSM7MYRA", "33FRJY7AKPXBEC2R5OMMAK57D5ZKU5SC",
     {"digits": 6, "interval": 60, "nonce_digits": 16},
     "carol@example.org", 2000000000, "5550123456789012"),
    ("Ten digits and a 64-digit nonce, after 2038",
     "2^31 seconds: past the end of a signed 32-bit time_t.",
     "otp_seed     = LMLG4EORT56HAORB7P2N24JSUAOVY3PZ\n"
     "token_secret = 4MCQTIMTLGHVF6MQ3BUJCSKDOGYZUWYI\n"
     "otp_digits   = 10\n"
     "nonce_digits = 64\n",
     "LMLG4EORT56HAORB7P2N24JSUAOVY3PZ", "4MCQTIMTLGHVF6MQ3BUJCSKDOGYZUWYI",
     {"digits": 10, "nonce_digits": 64}, "dave@example.org", 2147483648,
     "3141592653589793238462643383279502884197169399375105820974944592"),
    ("A domain with a section of its own",
     "The section's name is compared without regard to case.",
     DOMAINS, "HPFVDZYZY42BIWJI7JBW3LY24UJPUQ6M",
     "BJWMVD7TUFD25U7ZBKGRDZJPBUCK747J", {}, "alice@chat.example.org",
     1700000000, NONCE),
    ("A domain without a section uses the global secrets", "",
     DOMAINS, SEED, SECRET, {}, "alice@example.org", 1700000000, NONCE),
    ("collective.converse's secrets.cfg",
     "[prosody.cfg.lua] is the global section and the prosody_ keys are "
     "otp_seed and token_secret: the same token as vector 1.",
     "[prosody.cfg.lua]\n"
     "prosody_otp_seed = %s\n"
     "prosody_token_secret = %s\n" % (SEED, SECRET),
     SEED, SECRET, {}, "bob@example.org", 1700000000, NONCE),
    ("A seed in lower case, with padding",
     "Base32 is read in either case, '=' optional. The fingerprint is of the "
     "value as written, so copy the seed as it is.",
     "otp_seed     = zjxl2sd2btknszu4dytiykfsna======\n"
     "token_secret = %s\n" % SECRET,
     "zjxl2sd2btknszu4dytiykfsna======", SECRET, {}, "bob@example.org",
     1700000000, NONCE),
    ("A user part with non-ASCII letters",
     "UTF-8 throughout. Only A-Z are lower-cased: a user part with other "
     "letters must already be in its nodeprep form.",
     BASIC, SEED, SECRET, {}, "J\u00fcrgen@example.org", 1700000000, NONCE),
]


def fingerprint(value):
    return hmac.new(value.encode(), b"prosody-token-auth fingerprint",
                    hashlib.sha256).hexdigest()[:16]


def compute(v):
    """The vector's rows: (label, value) pairs, every value computed here."""
    title, note, config, seed, secret, numbers, jid, now, nonce = v
    p = dict(DEFAULTS, **numbers)
    assert len(nonce) == p["nonce_digits"]
    signed = jid.encode().lower().decode()  # bytes.lower(): A-Z only
    step = now // p["interval"]
    otp = pyotp.HOTP(seed, digits=p["digits"]).at(step)
    message = otp + nonce + signed
    sig = base64.b64encode(hmac.new(secret.encode(), message.encode(),
                                    hashlib.sha256).digest()).decode()
    when = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return [
        ("JID given", jid, ""),
        ("JID signed", signed, ""),
        ("otp_seed", seed, ""),
        ("token_secret", secret, ""),
        ("otp_digits", str(p["digits"]), ""),
        ("otp_interval", str(p["interval"]), ""),
        ("nonce_digits", str(p["nonce_digits"]), ""),
        ("Unix time", str(now), when.strftime(" (%Y-%m-%d %H:%M:%S UTC)")),
        ("time step", str(step), ""),
        ("OTP", otp, ""),
        ("nonce", nonce, ""),
        ("signed message", message, ""),
        ("signature", sig, ""),
        ("token", otp + nonce + " " + sig, ""),
        ("otp_seed fingerprint", fingerprint(seed), ""),
        ("token_secret fingerprint", fingerprint(secret), ""),
    ]


def render(n, v):
    title, note, config = v[:3]
    out = ["### Vector %d: %s" % (n, title), ""]
    if note:
        out += [note, ""]
    out += ["    " + line if line else "" for line in config.rstrip("\n")
            .split("\n")]
    out += ["", "| | |", "|---|---|"]
    out += ["| %s | `%s`%s |" % row for row in compute(v)]
    return "\n".join(out) + "\n"


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "render" and len(argv) == 2:
        print("\n".join(render(n, v) for n, v in enumerate(VECTORS, 1)),
              end="")
        return 0
    if cmd == "check" and len(argv) == 3:
        with open(argv[2], encoding="utf-8") as f:
            doc = f.read()
        bad = 0
        for n, v in enumerate(VECTORS, 1):
            ok = render(n, v) in doc
            print("%s vector %d: %s" % ("ok  " if ok else "FAIL", n, v[0]))
            bad += not ok
        return 1 if bad else 0
    if cmd == "export" and len(argv) == 3:
        for n, v in enumerate(VECTORS, 1):
            conf = os.path.join(argv[2], "%d.conf" % n)
            with open(conf, "w", encoding="utf-8") as f:
                f.write(v[2])
            rows = dict((r[0], r[1]) for r in compute(v))
            print("\t".join([str(n), conf] + [rows[k] for k in (
                "JID given", "Unix time", "nonce", "token",
                "otp_seed fingerprint", "token_secret fingerprint")]))
        return 0
    if cmd == "fingerprint" and len(argv) == 3:
        print(fingerprint(argv[2]))
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
