#!/usr/bin/env node
/*
 * Mint a prosody-token-auth token on the web application's side.
 *
 *   node mint_token.mjs [--count N] CONFIG_FILE JID       print a fresh token
 *                                        (N fresh tokens)
 *   node mint_token.mjs CONFIG_FILE JID UNIX_TIME NONCE   the token for that
 *                                        moment and nonce (test vectors)
 *   node mint_token.mjs --fingerprint CONFIG_FILE [JID]   fingerprints of the
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
 * No dependency beyond node:crypto; Node.js 18 or later. In a web
 * application, import it and call readConfig() once and mintToken() per
 * login. Everything is done with Unix time (Date.now()), never with local
 * time, so the result does not depend on the time zone.
 */
import { createHmac, randomInt } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const GLOBAL_SECTION = 'prosody.cfg.lua';
const ALIASES = { prosody_otp_seed: 'otp_seed', prosody_token_secret: 'token_secret' };
// The optional numbers the token depends on: default and allowed range, as
// the helper has them.
const NUMBERS = {
	otp_digits: [8, 6, 10],
	otp_interval: [30, 1, 3600],
	nonce_digits: [32, 8, 64],
};
const FINGERPRINT_MESSAGE = 'prosody-token-auth fingerprint';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A mistake in the config file or an argument, for a person to fix. */
export class MintError extends Error {}

/** Only A-Z: the helper's `mint` folds ASCII letters alone, whatever the locale. */
function asciiLower(s) {
	return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function isDigits(s) {
	return /^[0-9]+$/.test(s);
}

/** Returns { path, params: {...}, sections: Map(domain or '' -> {...}) }. */
export function readConfig(path) {
	let text;
	try {
		text = readFileSync(path, 'utf8');
	} catch (e) {
		// "ENOENT: no such file or directory, open '...'" -> the middle part
		const why = /^\w+: ([^,]+)/.exec(e.message);
		throw new MintError(`${path}: cannot read: ${why ? why[1] : e.message}`);
	}
	const params = {};
	for (const [key, [dflt]] of Object.entries(NUMBERS))
		params[key] = dflt;
	const sections = new Map();
	let section = ''; // the global section until a [domain] header
	text.split('\n').forEach((raw, i) => {
		const where = `${path}:${i + 1}`;
		let line = raw.replace(/^[ \t]+|[ \t\r]+$/g, '');
		if (line === '' || line[0] === '#' || line[0] === ';')
			return;
		// A '#' after white space starts a comment, as in the helper.
		line = line.replace(/[ \t]#.*$/s, '').replace(/[ \t]+$/, '');
		if (line[0] === '[') {
			if (!line.endsWith(']'))
				throw new MintError(`${where}: a section header must end with ']'`);
			const name = line.slice(1, -1).replace(/^[ \t]+|[ \t]+$/g, '');
			section = name === GLOBAL_SECTION ? '' : asciiLower(name);
			return;
		}
		const eq = line.indexOf('=');
		if (eq < 0)
			throw new MintError(`${where}: expected 'key = value' or '[domain]'`);
		let key = line.slice(0, eq).replace(/[ \t]+$/, '');
		const value = line.slice(eq + 1).replace(/^[ \t]+/, '');
		if (Object.hasOwn(ALIASES, key))
			key = ALIASES[key];
		if (key === 'otp_seed' || key === 'token_secret') {
			if (!sections.has(section))
				sections.set(section, {});
			const found = sections.get(section);
			if (Object.hasOwn(found, key))
				throw new MintError(`${where}: ${key} is set twice in this section`);
			found[key] = value;
		} else if (Object.hasOwn(NUMBERS, key)) {
			if (section !== '')
				throw new MintError(`${where}: ${key} applies to every domain: ` +
				    'move it above the first [domain] section');
			const [, low, high] = NUMBERS[key];
			if (!isDigits(value) || Number(value) < low || Number(value) > high)
				throw new MintError(`${where}: ${key} must be a whole number ` +
				    `from ${low} to ${high}`);
			params[key] = Number(value);
		}
		// Other keys (otp_window, replay_store, ...) concern the helper alone.
	});
	return { path, params, sections };
}

/**
 * Returns [user, domain] lower-cased as the server will ask about them.
 * Prosody nodepreps the user before asking the helper (`Alice` arrives as
 * `alice`), so the token must be signed for that form. Like
 * `prosody-token-auth mint`, this folds A-Z to a-z only: a user part with
 * other letters must already be in its nodeprep form (lower case, NFKC).
 */
export function splitJid(jid) {
	const lower = asciiLower(jid);
	const at = lower.indexOf('@');
	const parts = at < 0 ? [lower] : [lower.slice(0, at), lower.slice(at + 1)];
	for (const part of parts) {
		if (parts.length !== 2 || part === '' ||
		    Buffer.byteLength(part, 'utf8') > 1023 || /[\x00-\x20\x7f@:/]/.test(part))
			throw new MintError(`JID ${JSON.stringify(jid)}: must be USER@DOMAIN, ` +
			    'each part 1 to 1023 bytes without \'@\', \':\', \'/\', white ' +
			    'space or control characters');
	}
	return parts;
}

/** The otp_seed and token_secret of domain's section, else the global ones. */
function secretsFor(config, domain) {
	const found = config.sections.get(domain) ?? config.sections.get('');
	if (found === undefined && domain === '')
		throw new MintError(`${config.path}: no global otp_seed and token_secret; ` +
		    'name a JID to use its [domain] section');
	if (found === undefined)
		throw new MintError(`${config.path}: no [${domain}] section and no ` +
		    'global secrets: add otp_seed and token_secret');
	for (const key of ['otp_seed', 'token_secret'])
		if (!Object.hasOwn(found, key))
			throw new MintError(`${config.path}: ${key} is missing from the ` +
			    `section used for ${domain || 'global secrets'}`);
	return [found.otp_seed, found.token_secret];
}

/** The TOTP key: otp_seed base32-decoded (either case, '=' optional). */
function seedBytes(config, seed) {
	const core = seed.replace(/=+$/, '');
	if (seed.length < 16 || seed.length > 256 || [1, 3, 6].includes(core.length % 8) ||
	    !/^[A-Za-z2-7]*$/.test(core))
		throw new MintError(`${config.path}: otp_seed must be 16 to 256 ` +
		    'base32 characters (A-Z, 2-7)');
	const out = [];
	let acc = 0, bits = 0;
	for (const c of core) {
		acc = ((acc << 5) | BASE32.indexOf(c.toUpperCase())) & 0xfff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out.push((acc >> bits) & 0xff);
		}
	}
	return Buffer.from(out);
}

/** The HMAC-SHA256 key: token_secret's bytes as written, not decoded. */
function secretBytes(config, secret) {
	const bytes = Buffer.from(secret, 'utf8');
	if (bytes.length < 16 || bytes.length > 256)
		throw new MintError(`${config.path}: token_secret must be 16 to 256 characters`);
	return bytes;
}

/** RFC 6238 with HMAC-SHA1: HOTP of the time step floor(now / interval). */
export function totp(key, now, digits, interval) {
	const step = Buffer.alloc(8);
	step.writeBigUInt64BE(BigInt(Math.floor(now / interval)));
	const mac = createHmac('sha1', key).update(step).digest();
	const offset = mac[19] & 0x0f;
	const code = mac.readUInt32BE(offset) & 0x7fffffff;
	return String(code % 10 ** digits).padStart(digits, '0');
}

/** The token for jid at Unix time now (default: the current time). */
export function mintToken(config, jid, now = undefined, nonce = undefined) {
	const n = config.params.nonce_digits;
	const [user, domain] = splitJid(jid);
	const [seed, secret] = secretsFor(config, domain);
	if (nonce === undefined) {
		// randomInt draws uniform digits from the system's CSPRNG.
		nonce = '';
		for (let i = 0; i < n; i++)
			nonce += String(randomInt(10));
	} else if (!isDigits(nonce) || nonce.length !== n) {
		throw new MintError(`NONCE must be exactly ${n} digits`);
	}
	const otp = totp(seedBytes(config, seed), now ?? Math.floor(Date.now() / 1000),
	    config.params.otp_digits, config.params.otp_interval);
	const sig = createHmac('sha256', secretBytes(config, secret))
	    .update(`${otp}${nonce}${user}@${domain}`, 'utf8').digest('base64');
	return `${otp}${nonce} ${sig}`;
}

/** 16 hex digits that identify a secret without showing it. */
export function fingerprint(value) {
	return createHmac('sha256', Buffer.from(value, 'utf8'))
	    .update(FINGERPRINT_MESSAGE).digest('hex').slice(0, 16);
}

/** Fingerprints of the otp_seed and token_secret used for jid. */
export function fingerprints(config, jid = undefined) {
	const domain = jid === undefined ? '' : splitJid(jid)[1];
	const [seed, secret] = secretsFor(config, domain);
	seedBytes(config, seed);
	secretBytes(config, secret);
	return [fingerprint(seed), fingerprint(secret)];
}

function main(argv) {
	const prog = basename(argv[1]);
	const args = argv.slice(2);
	try {
		if (args[0] === '--fingerprint' && args.length >= 2 && args.length <= 3) {
			const [seedFp, secretFp] = fingerprints(readConfig(args[1]), args[2]);
			process.stdout.write(`otp_seed fingerprint: ${seedFp}\n` +
			    `token_secret fingerprint: ${secretFp}\n`);
			return 0;
		}
		let count = 1;
		if (args[0] === '--count' && args.length === 4) {
			count = Number(args[1]);
			if (!isDigits(args[1]) || count < 1 || count > 100000)
				throw new MintError(`--count ${JSON.stringify(args[1])}: ` +
				    'must be a number from 1 to 100000');
			args.splice(0, 2);
		}
		if (args.length === 2 && !args[0].startsWith('-')) {
			const config = readConfig(args[0]);
			const tokens = [];
			for (let i = 0; i < count; i++)
				tokens.push(mintToken(config, args[1]) + '\n');
			process.stdout.write(tokens.join(''));
			return 0;
		}
		if (args.length === 4 && !args[0].startsWith('-')) {
			if (!isDigits(args[2]) || !Number.isSafeInteger(Number(args[2])))
				throw new MintError(`UNIX_TIME ${JSON.stringify(args[2])}: ` +
				    'must be whole seconds since 1970');
			process.stdout.write(mintToken(readConfig(args[0]), args[1],
			    Number(args[2]), args[3]) + '\n');
			return 0;
		}
	} catch (e) {
		if (!(e instanceof MintError))
			throw e;
		process.stderr.write(`${prog}: ${e.message}\n`);
		return 1;
	}
	process.stderr.write(`usage: ${prog} [--count N] CONFIG_FILE JID | ` +
	    'CONFIG_FILE JID UNIX_TIME NONCE | --fingerprint CONFIG_FILE [JID]\n');
	return 2;
}

if (process.argv[1] !== undefined &&
    realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url)))
	process.exitCode = main(process.argv);
