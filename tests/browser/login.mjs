// Opens pages that start converse.js in headless Chromium and reports, one
// "key: value" line each, what happened to their logins.
//
//   node login.mjs [--timeout S] [--trace] URL [--watch S | --for S]
//       one page; the report goes to stdout
//   node login.mjs [--timeout S] [--trace] --batch DIR < SCENARIOS
//       one page per line "NAME URL [--watch S | --for S]", each in a
//       context of its own (empty storage) in one browser; the reports go to
//       DIR/NAME.out, screenshots to DIR/NAME.png
//
// A report:
//   outcome: connected | authfail | no-mechanism | failed | timeout
//            | watched (--for)
//   message: the feedback converse.js shows (when it shows one)
//   mechanisms: the SASL mechanisms the client used, in order
//   sasl: the server's answers (success, failure:CONDITION)
//   transport: websocket | bosh | none (what carried the SASL exchange)
//   token_requests: how many times the page fetched /token
//   token_rate: token requests per second while watched
//   user: the JID and presence the logged-in view shows
//   seconds: from the page's request to the outcome
//   event: (with --trace) what happened when, in ms from the start
//
// "connected" means converse.js shows its logged-in view (the user's
// profile with the JID, and the roster); "authfail" that it shows an
// authentication failure; "no-mechanism" that the server offered no SASL
// mechanism it has; "failed" any other error it shows. After the outcome the page is watched for
// --watch seconds more (default 0) before the counts are taken. With
// --for S the page is watched for S seconds whatever happens.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), headless; it
// resolves no host name (only 127.0.0.1 is used), so nothing leaves the
// machine.

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const USAGE = 'usage: node login.mjs [--timeout S] [--trace] ' +
	'(URL [--watch S | --for S] | --batch DIR < SCENARIOS)';

// parseScenario(words): { url, watch, for } from "URL [--watch S | --for S]".
function parseScenario(words) {
	const s = { url: null, watch: 0, for: 0 };
	for (let i = 0; i < words.length; i++) {
		const v = words[i];
		if (v === '--watch') s.watch = Number(words[++i]);
		else if (v === '--for') s.for = Number(words[++i]);
		else if (!s.url) s.url = v;
		else throw new Error(`unexpected argument: ${v}\n${USAGE}`);
	}
	if (!s.url || !(s.watch >= 0) || !(s.for >= 0)) throw new Error(USAGE);
	return s;
}

function parseArgs(argv) {
	const a = { timeout: 30, trace: false, batch: null, rest: [] };
	for (let i = 0; i < argv.length; i++) {
		const v = argv[i];
		if (v === '--timeout') a.timeout = Number(argv[++i]);
		else if (v === '--trace') a.trace = true;
		else if (v === '--batch') a.batch = argv[++i];
		else a.rest.push(v);
	}
	if (!(a.timeout > 0) || (a.batch === undefined)) throw new Error(USAGE);
	if (!a.batch) a.one = parseScenario(a.rest);
	else if (a.rest.length) throw new Error(USAGE);
	return a;
}

const AUTH_RE = /<auth\b[^>]*\bmechanism=["']([^"']+)["']/g;
const SUCCESS_RE = /<success\b[^>]*urn:ietf:params:xml:ns:xmpp-sasl/g;
const FAILURE_RE = /<failure\b[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>\s*<([a-z-]+)/g;

// What the client said and heard, from WebSocket frames and BOSH bodies.
class Wire {
	constructor() {
		this.mechanisms = [];
		this.sasl = [];
		this.transport = 'none';
		this.tokenRequests = [];
		this.events = [];
		this.t0 = Date.now();
	}

	event(what) {
		this.events.push(`${Date.now() - this.t0}ms ${what}`);
	}

	sent(text, transport) {
		for (const m of text.matchAll(AUTH_RE)) {
			this.event(`auth ${m[1]} (${transport})`);
			this.mechanisms.push(m[1]);
			this.transport = transport;
		}
	}

	received(text) {
		for (const _ of text.matchAll(SUCCESS_RE)) {
			this.event('success');
			this.sasl.push('success');
		}
		for (const m of text.matchAll(FAILURE_RE)) {
			this.event(`failure ${m[1]}`);
			this.sasl.push(`failure:${m[1]}`);
		}
	}

	watch(page) {
		page.on('websocket', (ws) => {
			ws.on('framesent', (f) => this.sent(String(f.payload), 'websocket'));
			ws.on('framereceived', (f) => this.received(String(f.payload)));
		});
		page.on('request', (req) => {
			const url = new URL(req.url());
			if (url.pathname === '/token') {
				this.event('token request');
				this.tokenRequests.push(Date.now());
			} else if (['document', 'script'].includes(req.resourceType())) {
				this.event(`get ${url.pathname}`);
			}
			if (req.method() === 'POST') this.sent(req.postData() || '', 'bosh');
		});
		page.on('response', async (res) => {
			if (res.request().method() !== 'POST') return;
			try {
				this.received(await res.text());
			} catch {
				// a BOSH request cut off when the page closes
			}
		});
	}
}

async function outcome(page, timeoutMs) {
	// The profile and the roster are only rendered for a logged-in session;
	// the feedback alert turns "danger" on an error.
	const connected = page.waitForFunction(() =>
		document.querySelector('converse-roster') &&
		document.querySelector('converse-user-profile .username')?.textContent.trim(),
	null, { timeout: timeoutMs }).then(() => 'connected');
	const failed = page.waitForFunction(() =>
		document.querySelector('.conn-feedback.alert-danger .feedback-message')?.textContent.trim(),
	null, { timeout: timeoutMs }).then((h) => h.jsonValue()).then((message) => {
		if (/password is incorrect/i.test(message)) return 'authfail';
		if (/did not offer a supported authentication mechanism/i.test(message)) return 'no-mechanism';
		return 'failed';
	});
	try {
		return await Promise.any([connected, failed]);
	} catch {
		return 'timeout';
	}
}

// run(browser, scenario, options, screenshot): the report of one page.
async function run(browser, s, a, screenshot) {
	// A context of its own: empty storage, no session to resume.
	const context = await browser.newContext();
	try {
		const page = await context.newPage();
		const errors = [];
		page.on('pageerror', (e) => errors.push(String(e)));
		const wire = new Wire();
		wire.watch(page);

		const started = Date.now();
		await page.goto(s.url, { timeout: a.timeout * 1000 });
		let result = 'watched';
		let settled = started;
		if (s.for > 0) {
			await page.waitForTimeout(s.for * 1000);
		} else {
			result = await outcome(page, a.timeout * 1000);
			settled = Date.now();
			if (s.watch > 0) await page.waitForTimeout(s.watch * 1000);
		}
		const watched = (Date.now() - settled) / 1000;

		const message = await page.evaluate(() =>
			document.querySelector('.conn-feedback .feedback-message')?.textContent?.trim() || '');
		const user = await page.evaluate(() => {
			const p = document.querySelector('converse-user-profile');
			if (!p) return '';
			const jid = p.querySelector('.username')?.textContent.trim() || '';
			const presence = p.querySelector('.xmpp-status [data-value]')?.dataset.value || '';
			return `${jid} ${presence}`.trim();
		});
		const after = wire.tokenRequests.filter((t) => t > settled).length;
		const lines = [
			`outcome: ${result}`,
			`message: ${message.replace(/\s+/g, ' ')}`,
			`mechanisms: ${wire.mechanisms.join(',')}`,
			`sasl: ${wire.sasl.join(',')}`,
			`transport: ${wire.transport}`,
			`token_requests: ${wire.tokenRequests.length}`,
			`token_rate: ${watched > 0 ? (after / watched).toFixed(2) : '0'}`,
			`user: ${user}`,
			`seconds: ${((settled - started) / 1000).toFixed(2)}`,
		];
		if (a.trace) for (const e of wire.events) lines.push(`event: ${e}`);
		for (const e of errors.slice(0, 3)) lines.push(`page_error: ${e.replace(/\s+/g, ' ')}`);
		if (screenshot) await page.screenshot({ path: screenshot });
		return lines.join('\n') + '\n';
	} catch (e) {
		return `outcome: error\nerror: ${String(e.message || e).split('\n')[0]}\n`;
	} finally {
		await context.close();
	}
}

async function main() {
	const a = parseArgs(process.argv.slice(2));
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		// As root Chromium needs --no-sandbox. Playwright starts it with a
		// fresh --user-data-dir of its own (in $TMPDIR), removed on close.
		chromiumSandbox: false,
		args: [
			'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update',
			'--disable-sync',
			'--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
		],
		timeout: a.timeout * 1000,
	});
	try {
		if (!a.batch) {
			process.stdout.write(await run(browser, a.one, a, null));
			return;
		}
		const rl = createInterface({ input: process.stdin });
		for await (const line of rl) {
			const words = line.trim().split(/\s+/).filter(Boolean);
			if (!words.length || words[0].startsWith('#')) continue;
			const name = words.shift();
			if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad scenario name: ${name}`);
			const report = await run(browser, parseScenario(words), a,
				join(a.batch, `${name}.png`));
			writeFileSync(join(a.batch, `${name}.out`), report);
		}
	} finally {
		await browser.close();
	}
}

main().catch((e) => {
	process.stderr.write(`login.mjs: ${String(e.message || e).split('\n')[0]}\n`);
	process.exit(1);
});
