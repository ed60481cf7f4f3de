// Mint a JWT for prosody-token-auth on the web application's side (Node.js
// 18 or later, node:crypto only; a library such as jose does the same).
//
//     node mint_jwt.mjs PRIVATE_KEY JID [KID [AUDIENCE [ISSUER]]]
//
// PRIVATE_KEY is the PEM file `prosody-token-auth jwt-keygen` wrote (Ed25519,
// P-256 or RSA); the algorithm follows from it (EdDSA, ES256, RS256). KID
// defaults to the file's name without ".pem", AUDIENCE to "xmpp:" and the
// JID's domain (the helper's jwt_audience). Prints a token valid for 60
// seconds, with a fresh jti, for the JID in lower case. Times are Unix
// seconds, so the result does not depend on the time zone.
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export function mintJwt(key, kid, jid, audience, issuer, lifetime = 60) {
  const alg = { ed25519: "EdDSA", ec: "ES256", rsa: "RS256" }[key.asymmetricKeyType];
  if (!alg || (alg === "ES256" && key.asymmetricKeyDetails.namedCurve !== "prime256v1"))
    throw new Error("not an Ed25519, P-256 or RSA private key");
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: jid.toLowerCase(), aud: audience, iat: now,
    exp: now + lifetime, jti: b64url(randomBytes(16)) };
  if (issuer) claims.iss = issuer;
  const input = b64url(JSON.stringify({ alg, kid })) + "." +
    b64url(JSON.stringify(claims));
  // ES256 signatures are r || s in a JWS (IEEE P1363), not DER.
  const sig = sign(alg === "EdDSA" ? null : "sha256", Buffer.from(input),
    { key, dsaEncoding: "ieee-p1363" });
  return input + "." + b64url(sig);
}

const [path, jid, kid, audience, issuer] = process.argv.slice(2);
if (!path || !jid || !jid.includes("@") || process.argv.length > 7) {
  console.error("usage: node mint_jwt.mjs PRIVATE_KEY JID [KID [AUDIENCE [ISSUER]]]");
  process.exit(2);
}
try {
  const key = createPrivateKey(readFileSync(path));
  console.log(mintJwt(key, kid || basename(path, ".pem"), jid,
    audience || "xmpp:" + jid.split("@")[1].toLowerCase(), issuer));
} catch (e) {
  console.error(`mint_jwt.mjs: ${path}: ${e.message}`);
  process.exit(1);
}
