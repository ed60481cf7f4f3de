#!/usr/bin/python3
"""Mint a prosody-token-auth token on the web application's side.

    mint_token.py [--count N] CONFIG_FILE JID       print a fresh token (N
                                                    fresh tokens)
    mint_token.py CONFIG_FILE JID UNIX_TIME NONCE   the token for that moment
                                                    and nonce (test vectors)
    mint_token.py --fingerprint CONFIG_FILE [JID]   fingerprints of the secrets
                                                    used (for JID's domain)

CONFIG_FILE is the web application's copy of the helper's configuration:
`key = value` lines, `#` comments, optional `[domain]` sections whose
secrets apply to the JIDs of that domain (`[prosody.cfg.lua]` is the global
section, as in collective.converse's secrets.cfg). It reads otp_seed,
token_secret (or prosody_otp_seed, prosody_token_secret), otp_digits,
otp_interval and nonce_digits, and ignores every other key.

    token = otp || nonce || " " || base64(HMAC-SHA256(token_secret,
                                          otp || nonce || user@domain))

Standard library only (Python 3.7 or later). In a web application, import it
and call read_config() once and mint_token() per login. Everything is done
with Unix time (time.time()), never with local time, so the result does not
depend on the time zone.
"""
import base64
import hashlib
import hmac
import os
import secrets
import sys
import time

GLOBAL_SECTION = "prosody.cfg.lua"
ALIASES = {"prosody_otp_seed": "otp_seed",
           "prosody_token_secret": "token_secret"}
# The optional numbers the token depends on: default and allowed range, as
# the helper has them.
NUMBERS = {"otp_digits": (8, 6, 10), "otp_interval": (30, 1, 3600),
           "nonce_digits": (32, 8, 64)}
FINGERPRINT_MESSAGE = b"prosody-token-auth fingerprint"
# Only A-Z: the helper's `mint` folds ASCII letters alone, whatever the locale.
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                            "abcdefghijklmnopqrstuvwxyz")


class Error(Exception):
    """A mistake in the config file or an argument, for a person to fix."""


def read_config(path):
    """Returns {"params": {...}, "sections": {domain or None: {...}}}."""
    try:
        # surrogateescape: a secret's bytes are kept exactly as written.
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        raise Error("%s: cannot read: %s" % (path, e.strerror)) from None
    params = {k: v[0] for k, v in NUMBERS.items()}
    sections = {}
    section = None  # the global section until a [domain] header
    for lineno, line in enumerate(text.split("\n"), 1):
        where = "%s:%d" % (path, lineno)
        line = line.strip(" \t\r")
        if not line or line[0] in "#;":
            continue
        # A '#' after white space starts a comment, as in the helper.
        for i in range(1, len(line)):
            if line[i] == "#" and line[i - 1] in " \t":
                line = line[:i].rstrip(" \t")
                break
        if line.startswith("["):
            if not line.endswith("]"):
                raise Error("%s: a section header must end with ']'" % where)
            name = line[1:-1].strip(" \t")
            section = None if name == GLOBAL_SECTION else \
                name.translate(ASCII_LOWER)
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise Error("%s: expected 'key = value' or '[domain]'" % where)
        key, value = key.strip(" \t"), value.strip(" \t")
        key = ALIASES.get(key, key)
        if key in ("otp_seed", "token_secret"):
            found = sections.setdefault(section, {})
            if key in found:
                raise Error("%s: %s is set twice in this section"
                            % (where, key))
            found[key] = value
        elif key in NUMBERS:
            if section is not None:
                raise Error("%s: %s applies to every domain: move it above "
                            "the first [domain] section" % (where, key))
            low, high = NUMBERS[key][1:]
            if not (value.isascii() and value.isdigit()) or \
                    not low <= int(value) <= high:
                raise Error("%s: %s must be a whole number from %d to %d"
                            % (where, key, low, high))
            params[key] = int(value)
        # Other keys (otp_window, replay_store, ...) concern the helper alone.
    return {"path": path, "params": params, "sections": sections}


def split_jid(jid):
    """Returns (user, domain) lower-cased as the server will ask about them.

    Prosody nodepreps the user before asking the helper (`Alice` arrives as
    `alice`), so the token must be signed for that form. Like
    `prosody-token-auth mint`, this folds A-Z to a-z only: a user part with
    other letters must already be in its nodeprep form (lower case, NFKC).
    """
    user, at, domain = jid.translate(ASCII_LOWER).partition("@")
    for part in (user, domain):
        if not at or not part or len(part.encode("utf-8", "surrogateescape")) \
                > 1023 or any(c <= " " or c in "\x7f@:/" for c in part):
            raise Error("JID %r: must be USER@DOMAIN, each part 1 to 1023 "
                        "bytes without '@', ':', '/', white space or control "
                        "characters" % jid)
    return user, domain


def secrets_for(config, domain):
    """The otp_seed and token_secret of domain's section, else global ones."""
    sections = config["sections"]
    found = sections.get(domain, sections.get(None))
    if found is None and domain is None:
        raise Error("%s: no global otp_seed and token_secret; name a JID to "
                    "use its [domain] section" % config["path"])
    if found is None:
        raise Error("%s: no [%s] section and no global secrets: add otp_seed "
                    "and token_secret" % (config["path"], domain))
    for key in ("otp_seed", "token_secret"):
        if key not in found:
            raise Error("%s: %s is missing from the section used for %s"
                        % (config["path"], key, domain or "global secrets"))
    return found["otp_seed"], found["token_secret"]


def seed_bytes(config, seed):
    """The TOTP key: otp_seed base32-decoded (either case, '=' optional)."""
    try:
        if not 16 <= len(seed) <= 256:
            raise ValueError
        core = seed.rstrip("=")
        return base64.b32decode(core + "=" * (-len(core) % 8), casefold=True)
    except ValueError:  # binascii.Error is a ValueError
        raise Error("%s: otp_seed must be 16 to 256 base32 characters "
                    "(A-Z, 2-7)" % config["path"]) from None


def secret_bytes(config, secret):
    """The HMAC-SHA256 key: token_secret's bytes as written, not decoded."""
    key = secret.encode("utf-8", "surrogateescape")
    if not 16 <= len(key) <= 256:
        raise Error("%s: token_secret must be 16 to 256 characters"
                    % config["path"])
    return key


def totp(key, now, digits, interval):
    """RFC 6238 with HMAC-SHA1: HOTP of the time step floor(now / interval)."""
    step = int(now) // interval
    mac = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


def mint_token(config, jid, now=None, nonce=None):
    """The token for jid at Unix time now (default: the current time)."""
    params = config["params"]
    user, domain = split_jid(jid)
    seed, secret = secrets_for(config, domain)
    if now is None:
        now = time.time()
    if nonce is None:
        # secrets draws uniform digits from the operating system's CSPRNG.
        nonce = "".join(secrets.choice("0123456789")
                        for _ in range(params["nonce_digits"]))
    elif not (nonce.isascii() and nonce.isdigit()) or \
            len(nonce) != params["nonce_digits"]:
        raise Error("NONCE must be exactly %d digits" % params["nonce_digits"])
    otp = totp(seed_bytes(config, seed), now, params["otp_digits"],
               params["otp_interval"])
    message = (otp + nonce + user + "@" + domain).encode("utf-8",
                                                         "surrogateescape")
    sig = hmac.new(secret_bytes(config, secret), message,
                   hashlib.sha256).digest()
    return otp + nonce + " " + base64.b64encode(sig).decode("ascii")


def fingerprint(value):
    """16 hex digits that identify a secret without showing it."""
    return hmac.new(value.encode("utf-8", "surrogateescape"),
                    FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def fingerprints(config, jid=None):
    """Fingerprints of the otp_seed and token_secret used for jid."""
    domain = split_jid(jid)[1] if jid is not None else None
    seed, secret = secrets_for(config, domain)
    seed_bytes(config, seed)
    secret_bytes(config, secret)
    return fingerprint(seed), fingerprint(secret)


def main(argv):
    prog = os.path.basename(argv[0])
    args = argv[1:]
    try:
        if args[:1] == ["--fingerprint"] and len(args) in (2, 3):
            seed_fp, secret_fp = fingerprints(read_config(args[1]),
                                              *args[2:])
            print("otp_seed fingerprint: " + seed_fp)
            print("token_secret fingerprint: " + secret_fp)
            return 0
        count = 1
        if args[:1] == ["--count"] and len(args) == 4:
            if not (args[1].isascii() and args[1].isdigit()) or \
                    not 1 <= int(args[1]) <= 100000:
                raise Error("--count %r: must be a number from 1 to 100000"
                            % args[1])
            count, args = int(args[1]), args[2:]
        if len(args) == 2 and not args[0].startswith("-"):
            config = read_config(args[0])
            for _ in range(count):
                print(mint_token(config, args[1]))
            return 0
        if len(args) == 4 and not args[0].startswith("-"):
            if not (args[2].isascii() and args[2].isdigit()):
                raise Error("UNIX_TIME %r: must be whole seconds since 1970"
                            % args[2])
            print(mint_token(read_config(args[0]), args[1], int(args[2]),
                             args[3]))
            return 0
    except Error as e:
        print("%s: %s" % (prog, e), file=sys.stderr)
        return 1
    print("usage: %s [--count N] CONFIG_FILE JID | CONFIG_FILE JID UNIX_TIME "
          "NONCE | --fingerprint CONFIG_FILE [JID]" % prog, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
