<?php
/*
 * Mint a prosody-token-auth token on the web application's side.
 *
 *   php mint_token.php [--count N] CONFIG_FILE JID       print a fresh token
 *                                        (N fresh tokens)
 *   php mint_token.php CONFIG_FILE JID UNIX_TIME NONCE   the token for that
 *                                        moment and nonce (test vectors)
 *   php mint_token.php --fingerprint CONFIG_FILE [JID]   fingerprints of the
 *                                        secrets used (for JID's domain)
 *
 * CONFIG_FILE is the web application's copy of the helper's configuration:
 * `key = value` lines, `#` comments, optional `[domain]` sections whose
 * secrets apply to the JIDs of that domain (`[prosody.cfg.lua]` is the
 * global section, as in collective.converse's secrets.cfg). It reads
 * otp_seed, token_secret (or prosody_otp_seed, prosody_token_secret),
 * otp_digits, otp_interval and nonce_digits, and ignores every other key.
 *
 *   token = otp || nonce || " " || base64(HMAC-SHA256(token_secret,
 *                                         otp || nonce || user@domain))
 *
 * No extension beyond PHP's core (hash, random_int); PHP 7.2 or later,
 * 64-bit. In a web application, include it and call pta_read_config() once
 * and pta_mint_token() per login. Everything is done with Unix time (time()),
 * never with local time, so the result does not depend on the time zone.
 */
declare(strict_types=1);

const PTA_GLOBAL_SECTION = 'prosody.cfg.lua';
const PTA_ALIASES = ['prosody_otp_seed' => 'otp_seed',
    'prosody_token_secret' => 'token_secret'];
// The optional numbers the token depends on: default and allowed range, as
// the helper has them.
const PTA_NUMBERS = ['otp_digits' => [8, 6, 10],
    'otp_interval' => [30, 1, 3600], 'nonce_digits' => [32, 8, 64]];
const PTA_FINGERPRINT_MESSAGE = 'prosody-token-auth fingerprint';
const PTA_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const PTA_LOWER = 'abcdefghijklmnopqrstuvwxyz';
const PTA_BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/* A mistake in the config file or an argument, for a person to fix. */
class PtaError extends Exception
{
}

/* Only A-Z: the helper's `mint` folds ASCII letters alone, whatever the locale. */
function pta_ascii_lower(string $s): string
{
    return strtr($s, PTA_UPPER, PTA_LOWER);
}

function pta_is_digits(string $s): bool
{
    return $s !== '' && strspn($s, '0123456789') === strlen($s);
}

/* Returns ['path', 'params' => [...], 'sections' => [domain or '' => [...]]]. */
function pta_read_config(string $path): array
{
    $text = $path === '' ? false : @file_get_contents($path);
    if ($text === false) {
        $why = error_get_last()['message'] ?? 'empty file name';
        throw new PtaError("$path: cannot read: " .
            preg_replace('/^.*: /', '', $why));
    }
    $params = [];
    foreach (PTA_NUMBERS as $key => $spec) {
        $params[$key] = $spec[0];
    }
    $sections = [];
    $section = ''; // the global section until a [domain] header
    foreach (explode("\n", $text) as $i => $line) {
        $where = "$path:" . ($i + 1);
        $line = trim($line, " \t\r");
        if ($line === '' || $line[0] === '#' || $line[0] === ';') {
            continue;
        }
        // A '#' after white space starts a comment, as in the helper.
        if (preg_match('/[ \t]#/', $line, $m, PREG_OFFSET_CAPTURE)) {
            $line = rtrim(substr($line, 0, $m[0][1]), " \t");
        }
        if ($line[0] === '[') {
            if (substr($line, -1) !== ']') {
                throw new PtaError("$where: a section header must end with ']'");
            }
            $name = trim(substr($line, 1, -1), " \t");
            $section = $name === PTA_GLOBAL_SECTION ? '' : pta_ascii_lower($name);
            continue;
        }
        $eq = strpos($line, '=');
        if ($eq === false) {
            throw new PtaError("$where: expected 'key = value' or '[domain]'");
        }
        $key = trim(substr($line, 0, $eq), " \t");
        $value = trim(substr($line, $eq + 1), " \t");
        $key = PTA_ALIASES[$key] ?? $key;
        if ($key === 'otp_seed' || $key === 'token_secret') {
            if (isset($sections[$section][$key])) {
                throw new PtaError("$where: $key is set twice in this section");
            }
            $sections[$section][$key] = $value;
        } elseif (isset(PTA_NUMBERS[$key])) {
            if ($section !== '') {
                throw new PtaError("$where: $key applies to every domain: " .
                    'move it above the first [domain] section');
            }
            [, $low, $high] = PTA_NUMBERS[$key];
            if (!pta_is_digits($value) || strlen($value) > 5 ||
                (int)$value < $low || (int)$value > $high) {
                throw new PtaError("$where: $key must be a whole number " .
                    "from $low to $high");
            }
            $params[$key] = (int)$value;
        }
        // Other keys (otp_window, replay_store, ...) concern the helper alone.
    }
    return ['path' => $path, 'params' => $params, 'sections' => $sections];
}

/*
 * Returns [user, domain] lower-cased as the server will ask about them.
 * Prosody nodepreps the user before asking the helper (`Alice` arrives as
 * `alice`), so the token must be signed for that form. Like
 * `prosody-token-auth mint`, this folds A-Z to a-z only: a user part with
 * other letters must already be in its nodeprep form (lower case, NFKC).
 */
function pta_split_jid(string $jid): array
{
    $parts = explode('@', pta_ascii_lower($jid), 2);
    foreach ($parts as $part) {
        if (count($parts) !== 2 || $part === '' || strlen($part) > 1023 ||
            preg_match('/[\x00-\x20\x7f@:\/]/', $part)) {
            throw new PtaError('JID ' . json_encode($jid,
                JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES) .
                ": must be USER@DOMAIN, each part 1 to 1023 bytes without " .
                "'@', ':', '/', white space or control characters");
        }
    }
    return $parts;
}

/* The otp_seed and token_secret of domain's section, else the global ones. */
function pta_secrets_for(array $config, string $domain): array
{
    $path = $config['path'];
    $found = $config['sections'][$domain] ?? $config['sections'][''] ?? null;
    if ($found === null && $domain === '') {
        throw new PtaError("$path: no global otp_seed and token_secret; " .
            'name a JID to use its [domain] section');
    }
    if ($found === null) {
        throw new PtaError("$path: no [$domain] section and no global " .
            'secrets: add otp_seed and token_secret');
    }
    foreach (['otp_seed', 'token_secret'] as $key) {
        if (!isset($found[$key])) {
            throw new PtaError("$path: $key is missing from the section " .
                'used for ' . ($domain === '' ? 'global secrets' : $domain));
        }
    }
    return [$found['otp_seed'], $found['token_secret']];
}

/* The TOTP key: otp_seed base32-decoded (either case, '=' optional). */
function pta_seed_bytes(array $config, string $seed): string
{
    $core = strtr(rtrim($seed, '='), PTA_LOWER, PTA_UPPER);
    $bad = strlen($seed) < 16 || strlen($seed) > 256 ||
        in_array(strlen($core) % 8, [1, 3, 6], true) ||
        strspn($core, PTA_BASE32) !== strlen($core);
    if ($bad) {
        throw new PtaError("{$config['path']}: otp_seed must be 16 to 256 " .
            'base32 characters (A-Z, 2-7)');
    }
    $out = '';
    $acc = 0;
    $bits = 0;
    for ($i = 0; $i < strlen($core); $i++) {
        $acc = (($acc << 5) | strpos(PTA_BASE32, $core[$i])) & 0xfff;
        $bits += 5;
        if ($bits >= 8) {
            $bits -= 8;
            $out .= chr(($acc >> $bits) & 0xff);
        }
    }
    return $out;
}

/* The HMAC-SHA256 key: token_secret's bytes as written, not decoded. */
function pta_secret_bytes(array $config, string $secret): string
{
    if (strlen($secret) < 16 || strlen($secret) > 256) {
        throw new PtaError("{$config['path']}: token_secret must be 16 to " .
            '256 characters');
    }
    return $secret;
}

/* RFC 6238 with HMAC-SHA1: HOTP of the time step floor(now / interval). */
function pta_totp(string $key, int $now, int $digits, int $interval): string
{
    $mac = hash_hmac('sha1', pack('J', intdiv($now, $interval)), $key, true);
    $offset = ord($mac[19]) & 0x0f;
    $code = unpack('N', substr($mac, $offset, 4))[1] & 0x7fffffff;
    return str_pad((string)($code % 10 ** $digits), $digits, '0', STR_PAD_LEFT);
}

/* The token for jid at Unix time now (default: the current time). */
function pta_mint_token(array $config, string $jid, ?int $now = null,
    ?string $nonce = null): string
{
    $n = $config['params']['nonce_digits'];
    [$user, $domain] = pta_split_jid($jid);
    [$seed, $secret] = pta_secrets_for($config, $domain);
    if ($nonce === null) {
        // random_int draws uniform digits from the system's CSPRNG.
        $nonce = '';
        for ($i = 0; $i < $n; $i++) {
            $nonce .= (string)random_int(0, 9);
        }
    } elseif (!pta_is_digits($nonce) || strlen($nonce) !== $n) {
        throw new PtaError("NONCE must be exactly $n digits");
    }
    $otp = pta_totp(pta_seed_bytes($config, $seed), $now ?? time(),
        $config['params']['otp_digits'], $config['params']['otp_interval']);
    $sig = hash_hmac('sha256', $otp . $nonce . $user . '@' . $domain,
        pta_secret_bytes($config, $secret), true);
    return $otp . $nonce . ' ' . base64_encode($sig);
}

/* 16 hex digits that identify a secret without showing it. */
function pta_fingerprint(string $value): string
{
    return substr(hash_hmac('sha256', PTA_FINGERPRINT_MESSAGE, $value), 0, 16);
}

/* Fingerprints of the otp_seed and token_secret used for jid. */
function pta_fingerprints(array $config, ?string $jid = null): array
{
    $domain = $jid === null ? '' : pta_split_jid($jid)[1];
    [$seed, $secret] = pta_secrets_for($config, $domain);
    pta_seed_bytes($config, $seed);
    pta_secret_bytes($config, $secret);
    return [pta_fingerprint($seed), pta_fingerprint($secret)];
}

function pta_main(array $argv): int
{
    $prog = basename($argv[0]);
    $args = array_slice($argv, 1);
    $n = count($args);
    try {
        if ($n >= 2 && $n <= 3 && $args[0] === '--fingerprint') {
            [$seed_fp, $secret_fp] = pta_fingerprints(
                pta_read_config($args[1]), $args[2] ?? null);
            echo "otp_seed fingerprint: $seed_fp\n";
            echo "token_secret fingerprint: $secret_fp\n";
            return 0;
        }
        $count = 1;
        if ($n === 4 && $args[0] === '--count') {
            if (!pta_is_digits($args[1]) || strlen($args[1]) > 6 ||
                (int)$args[1] < 1 || (int)$args[1] > 100000) {
                throw new PtaError('--count ' . json_encode($args[1]) .
                    ': must be a number from 1 to 100000');
            }
            $count = (int)$args[1];
            $args = array_slice($args, 2);
            $n = 2;
        }
        if ($n === 2 && substr($args[0], 0, 1) !== '-') {
            $config = pta_read_config($args[0]);
            for ($i = 0; $i < $count; $i++) {
                echo pta_mint_token($config, $args[1]), "\n";
            }
            return 0;
        }
        if ($n === 4 && substr($args[0], 0, 1) !== '-') {
            if (!pta_is_digits($args[2]) || strlen($args[2]) > 18) {
                throw new PtaError('UNIX_TIME ' . json_encode($args[2]) .
                    ': must be whole seconds since 1970');
            }
            echo pta_mint_token(pta_read_config($args[0]), $args[1],
                (int)$args[2], $args[3]), "\n";
            return 0;
        }
    } catch (PtaError $e) {
        fwrite(STDERR, "$prog: {$e->getMessage()}\n");
        return 1;
    }
    fwrite(STDERR, "usage: $prog [--count N] CONFIG_FILE JID | CONFIG_FILE " .
        "JID UNIX_TIME NONCE | --fingerprint CONFIG_FILE [JID]\n");
    return 2;
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['argv'][0] ?? '') === __FILE__) {
    exit(pta_main($_SERVER['argv']));
}
