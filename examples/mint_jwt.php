<?php
// Mint a JWT for prosody-token-auth on the web application's side, with
// PHP's own sodium (Ed25519) and openssl (P-256, RSA) functions.
//
//     php mint_jwt.php PRIVATE_KEY JID [KID [AUDIENCE [ISSUER]]]
//
// PRIVATE_KEY is the PEM file `prosody-token-auth jwt-keygen` wrote (Ed25519,
// P-256 or RSA); the algorithm follows from it (EdDSA, ES256, RS256). KID
// defaults to the file's name without ".pem", AUDIENCE to "xmpp:" and the
// JID's domain (the helper's jwt_audience). Prints a token valid for 60
// seconds, with a fresh jti, for the JID in lower case. Times are Unix
// seconds (time()), so the result does not depend on the time zone.

function b64url(string $s): string
{
    return rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
}

// An Ed25519 PKCS#8 PEM's seed: its DER is 48 bytes, the seed the last 32.
function ed25519_seed(string $pem): ?string
{
    if (!preg_match('/-----BEGIN PRIVATE KEY-----(.*)-----END PRIVATE KEY-----/s', $pem, $m))
        return null;
    $der = base64_decode($m[1], true);
    if ($der === false || strlen($der) !== 48 ||
        substr($der, 0, 16) !== hex2bin('302e020100300506032b657004220420'))
        return null;
    return substr($der, 16);
}

// An ECDSA signature's DER as JWS's r || s, 32 bytes each.
function ecdsa_raw(string $der): string
{
    $pos = 2 + (ord($der[1]) & 0x80 ? ord($der[1]) & 0x7f : 0);
    $out = '';
    for ($i = 0; $i < 2; $i++) {
        $len = ord($der[$pos + 1]);
        $int = ltrim(substr($der, $pos + 2, $len), "\0");
        $out .= str_pad($int, 32, "\0", STR_PAD_LEFT);
        $pos += 2 + $len;
    }
    return $out;
}

function mint_jwt(string $pem, string $kid, string $jid, string $aud,
    ?string $iss = null, int $lifetime = 60): string
{
    $seed = ed25519_seed($pem);
    if ($seed === null) {
        $key = openssl_pkey_get_private($pem);
        if ($key === false)
            throw new Exception('not a PEM private key');
        $details = openssl_pkey_get_details($key);
        if ($details['type'] === OPENSSL_KEYTYPE_RSA)
            $alg = 'RS256';
        elseif ($details['type'] === OPENSSL_KEYTYPE_EC &&
            $details['ec']['curve_name'] === 'prime256v1')
            $alg = 'ES256';
        else
            throw new Exception('not an Ed25519, P-256 or RSA private key');
    } else {
        $alg = 'EdDSA';
    }
    $now = time();
    $claims = ['sub' => strtolower($jid), 'aud' => $aud, 'iat' => $now,
        'exp' => $now + $lifetime, 'jti' => b64url(random_bytes(16))];
    if ($iss !== null)
        $claims['iss'] = $iss;
    $input = b64url(json_encode(['alg' => $alg, 'kid' => $kid])) . '.' .
        b64url(json_encode($claims, JSON_UNESCAPED_SLASHES));
    if ($alg === 'EdDSA') {
        $secret = sodium_crypto_sign_secretkey(sodium_crypto_sign_seed_keypair($seed));
        $sig = sodium_crypto_sign_detached($input, $secret);
        sodium_memzero($secret);
    } else {
        if (!openssl_sign($input, $sig, $key, OPENSSL_ALGO_SHA256))
            throw new Exception('cannot sign');
        if ($alg === 'ES256')
            $sig = ecdsa_raw($sig);
    }
    return $input . '.' . b64url($sig);
}

if ($argc < 3 || $argc > 6 || strpos($argv[2], '@') === false) {
    fwrite(STDERR, "usage: php mint_jwt.php PRIVATE_KEY JID [KID [AUDIENCE [ISSUER]]]\n");
    exit(2);
}
$path = $argv[1];
$jid = $argv[2];
$kid = $argv[3] ?? basename($path, '.pem');
$aud = $argv[4] ?? 'xmpp:' . strtolower(explode('@', $jid, 2)[1]);
try {
    $pem = @file_get_contents($path);
    if ($pem === false)
        throw new Exception('cannot read it');
    echo mint_jwt($pem, $kid, $jid, $aud, $argv[5] ?? null), "\n";
} catch (Exception $e) {
    fwrite(STDERR, "mint_jwt.php: $path: " . $e->getMessage() . "\n");
    exit(1);
}
