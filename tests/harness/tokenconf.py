"""The token settings and secrets of a prosody-token-auth config file, read
as the helper reads them: what a program that mints or checks tokens needs
of it. Shared by the stress harness, the login storm client and the bench's
Python helper; it checks nothing (the helper's check-config does).

    import tokenconf
    conf = tokenconf.for_domain("/etc/prosody/token-auth.conf", "example.org")
"""

NUMBERS = ("otp_digits", "otp_interval", "otp_window", "nonce_digits",
           "replay_capacity")
# collective.converse's names for the two secrets
ALIASES = {"prosody_otp_seed": "otp_seed",
           "prosody_token_secret": "token_secret"}


def read(path):
    """The settings (numbers and replay_store) and, under "domains", each
    section's secrets (None: the global ones). Raises OSError."""
    conf = {"otp_digits": 8, "otp_interval": 30, "otp_window": 1,
            "nonce_digits": 32, "replay_store": None, "domains": {}}
    section = None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                name = line[1:-1].strip().lower()
                section = None if name == "prosody.cfg.lua" else name
                continue
            key, _, value = line.partition("=")
            key, value = ALIASES.get(key.strip(), key.strip()), value.strip()
            if key in ("otp_seed", "token_secret"):
                conf["domains"].setdefault(section, {})[key] = value
            elif key in NUMBERS:
                conf[key] = int(value)
            elif key == "replay_store":
                conf["replay_store"] = value
    return conf


def for_domain(path, domain):
    """The settings with DOMAIN's secrets (its section's, else the global
    ones) as "otp_seed" and "token_secret". Raises OSError, and LookupError
    when the file has no secrets for DOMAIN."""
    conf = read(path)
    secrets = conf["domains"].get(domain.lower()) or conf["domains"].get(None)
    if not secrets or "otp_seed" not in secrets or \
            "token_secret" not in secrets:
        raise LookupError("%s has no secrets for %s" % (path, domain))
    conf.update(secrets)
    return conf
