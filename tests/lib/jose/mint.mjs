// A JWT minted by jose, as a Node.js web application would: for the
// interoperability suite (t-22).
//
//   node mint.mjs KEYDIR KID JID AUDIENCE [ISSUER]
//
// KEYDIR holds the keys tests/jwtgen.py made: KID.pem (private, PKCS#8) for
// ed, es, rs, ps; hs.key (a JWK) for hs.
import { SignJWT, importJWK, importPKCS8 } from "jose";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

const ALGS = { ed: "EdDSA", es: "ES256", rs: "RS256", ps: "PS256", hs: "HS256" };
const [dir, kid, jid, audience, issuer] = process.argv.slice(2);
const alg = ALGS[kid];
const key = alg === "HS256"
  ? await importJWK(JSON.parse(readFileSync(`${dir}/hs.key`, "utf8")), alg)
  : await importPKCS8(readFileSync(`${dir}/${kid}.pem`, "utf8"), alg);
const jwt = new SignJWT({});
if (issuer) jwt.setIssuer(issuer);
console.log(await jwt
  .setProtectedHeader({ alg, kid })
  .setSubject(jid).setAudience(audience)
  .setIssuedAt().setExpirationTime("60s").setJti(randomUUID())
  .sign(key));
