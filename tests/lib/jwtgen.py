#!/usr/bin/python3
"""JWT keys and tokens as web applications make them, for the test suites.

  jwtgen.py keys DIR          a key pair per algorithm in DIR (KID.pem, the
                              private key; hs.key, the HS256 secret) and
                              DIR/set.jwks, the public JWK Set (and the
                              HS256 key), made with python3-jwcrypto
  jwtgen.py mint DIR KID JID AUD [--lib pyjwt|jwcrypto] [--iss ISS]
                              [--claims JSON] [--header JSON] [--now T]
                              a token for JID signed with DIR's key KID
"""
import json
import os
import sys
import time
import uuid

import jwt
from jwcrypto import jwk, jws
from jwcrypto.common import json_encode

KEYS = {
    "ed": ("EdDSA", lambda: jwk.JWK.generate(kty="OKP", crv="Ed25519")),
    "es": ("ES256", lambda: jwk.JWK.generate(kty="EC", crv="P-256")),
    "rs": ("RS256", lambda: jwk.JWK.generate(kty="RSA", size=2048)),
    "ps": ("PS256", lambda: jwk.JWK.generate(kty="RSA", size=2048)),
    "hs": ("HS256", lambda: jwk.JWK.generate(kty="oct", size=256)),
}


def keys(d):
    os.makedirs(d, exist_ok=True)
    public = []
    for kid, (alg, make) in KEYS.items():
        k = make()
        if alg == "HS256":
            with open(os.path.join(d, "hs.key"), "w") as f:
                f.write(k.export())
            pub = json.loads(k.export())
        else:
            pem = k.export_to_pem(private_key=True, password=None)
            with open(os.path.join(d, kid + ".pem"), "wb") as f:
                f.write(pem)
            pub = json.loads(k.export_public())
        pub.update(kid=kid, alg=alg, use="sig")
        public.append(pub)
    with open(os.path.join(d, "set.jwks"), "w") as f:
        json.dump({"keys": public}, f)
    os.chmod(os.path.join(d, "set.jwks"), 0o600)


def private(d, kid):
    alg = KEYS[kid][0]
    if alg == "HS256":
        with open(os.path.join(d, "hs.key")) as f:
            return alg, jwk.JWK.from_json(f.read())
    with open(os.path.join(d, kid + ".pem"), "rb") as f:
        return alg, jwk.JWK.from_pem(f.read())


def mint(d, kid, jid, aud, opts):
    alg, key = private(d, kid)
    now = int(opts.get("now", time.time()))
    claims = {"sub": jid, "aud": aud, "iat": now, "exp": now + 120,
              "jti": uuid.uuid4().hex}
    if "iss" in opts:
        claims["iss"] = opts["iss"]
    claims.update(json.loads(opts.get("claims", "{}")))
    header = {"alg": alg, "kid": kid}
    header.update(json.loads(opts.get("header", "{}")))
    claims = {k: v for k, v in claims.items() if v is not None}
    if opts.get("lib", "pyjwt") == "pyjwt":
        if alg == "HS256":
            secret = jwk.base64url_decode(json.loads(key.export())["k"])
        else:
            secret = key.export_to_pem(private_key=True, password=None)
        hdr = {k: v for k, v in header.items() if k != "alg"}
        return jwt.encode(claims, secret, algorithm=alg, headers=hdr)
    token = jws.JWS(json_encode(claims))
    token.add_signature(key, None, json_encode(header))
    return token.serialize(compact=True)


def main(argv):
    if argv[1] == "keys":
        keys(argv[2])
        return 0
    d, kid, jid, aud = argv[2:6]
    opts = {}
    rest = argv[6:]
    for i in range(0, len(rest), 2):
        opts[rest[i].lstrip("-")] = rest[i + 1]
    print(mint(d, kid, jid, aud, opts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
