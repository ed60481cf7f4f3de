// Starts converse.js 14 with a token login: the page's settings block (see
// index.html) plus the settings a token login needs. Loaded after
// /dist/converse.min.js, which defines window.converse (module scripts run in
// the order of the page).

import { xTokenMechanism } from './x-token.js';

const { converse } = window;
const { Strophe } = converse.env;
const site = JSON.parse(document.getElementById('chat-settings').textContent);

converse.initialize({
	// Where the dist/ files are served (index.html loads two of them).
	assets_path: '/dist',
	view_mode: 'fullscreen',

	// The connection URLs are given: no XEP-0156 look-up at
	// https://DOMAIN/.well-known/host-meta. With both URLs, converse.js uses
	// the WebSocket and falls back to BOSH when it cannot connect.
	discover_connection_methods: false,

	// IMPORTANT. With auto_reconnect on (converse.js 14's default) and a
	// credentials_url, converse.js answers a refused login by fetching a
	// fresh token and logging in again: at once, then every 3 seconds, for
	// as long as the page is open. A user whose tokens are always refused
	// (the web application's clock or secrets differ from the server's, a
	// domain the helper does not know) then costs a token and a refused
	// login every 3 s per open tab, without end. Off, a refused login ends
	// with "Your XMPP address and/or password is incorrect. Please try
	// again." and nothing more happens until the page is reloaded; nor is a
	// dropped connection re-established. To have it on (in the settings
	// block), make the token endpoint rate-limit each user, e.g. a few
	// tokens a minute and 429 beyond: converse.js asks again every 2 s,
	// without logging in, until the endpoint gives a token.
	auto_reconnect: false,

	...site,

	// The token login itself, not for the settings block to change.
	authentication: 'login',
	auto_login: true,
	connection_options: {
		...site.connection_options,
		// These replace Strophe's default list: X-TOKEN first, PLAIN (which
		// prosody-token-auth also accepts) for servers without X-TOKEN. No
		// SCRAM: a token is no password the server holds a hash of.
		mechanisms: [xTokenMechanism(Strophe), Strophe.SASLPlain],
	},
	// A token is good for one login: there is nothing to remember.
	reuse_scram_keys: false,
});
