#!/usr/bin/python3
"""Mint a JWT for prosody-token-auth on the web application's side, with PyJWT.

    mint_jwt.py PRIVATE_KEY JID [KID [AUDIENCE [ISSUER]]]

PRIVATE_KEY is the PEM file `prosody-token-auth jwt-keygen` wrote (Ed25519,
P-256 or RSA); the algorithm follows from it (EdDSA, ES256, RS256). KID
defaults to the file's name without ".pem" (give jwt-keygen's --kid),
AUDIENCE to "xmpp:" and the JID's domain (the helper's jwt_audience).
Prints a token valid for 60 seconds, with a fresh jti, for the JID in lower
case, as the XMPP server asks about it.

Debian: python3-jwt (PyJWT) and python3-cryptography. In a web application,
load the key once and call mint_jwt() per login. Times are Unix seconds, so
the result does not depend on the time zone.
"""
import os
import secrets
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def algorithm_of(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    raise ValueError("not an Ed25519, P-256 or RSA private key")


def mint_jwt(key, kid, jid, audience, issuer=None, lifetime=60):
    now = int(time.time())
    claims = {"sub": jid.lower(), "aud": audience, "iat": now,
              "exp": now + lifetime, "jti": secrets.token_urlsafe(16)}
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, key, algorithm=algorithm_of(key),
                      headers={"kid": kid})


def main(argv):
    if not 3 <= len(argv) <= 6 or "@" not in argv[2]:
        print("usage: mint_jwt.py PRIVATE_KEY JID [KID [AUDIENCE [ISSUER]]]",
              file=sys.stderr)
        return 2
    path, jid = argv[1], argv[2]
    kid = argv[3] if len(argv) > 3 else os.path.basename(path).removesuffix(".pem")
    audience = argv[4] if len(argv) > 4 else "xmpp:" + jid.split("@", 1)[1].lower()
    issuer = argv[5] if len(argv) > 5 else None
    try:
        with open(path, "rb") as f:
            key = load_pem_private_key(f.read(), password=None)
        print(mint_jwt(key, kid, jid, audience, issuer))
    except (OSError, ValueError, TypeError) as e:
        print("mint_jwt.py: %s: %s" % (path, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
