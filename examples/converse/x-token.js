// The X-TOKEN SASL mechanism for converse.js 10 and later (Strophe.js 2 and
// later, where a mechanism is a class that Strophe instantiates itself).
//
// X-TOKEN carries exactly PLAIN's message (RFC 4616): authzid NUL authcid
// NUL token, with an empty authzid when the user logs in as themselves. The
// server (prosody-token-auth's mod_sasl_token) checks the token as the
// password. A name of its own lets the server tell a token login from a
// password login, and keeps converse.js from trying SCRAM with a token.
//
// Strophe calls `new Mechanism()` with no arguments for every class in the
// connection option `mechanisms`, so the defaults below are the mechanism's
// name, "client speaks first" and its priority. 60 puts it above PLAIN (50):
// when the server offers both, converse.js uses X-TOKEN.
//
// Usage (converse.js 14):
//
//   import { xTokenMechanism } from './x-token.js';
//   const { Strophe } = converse.env;
//   converse.initialize({
//       connection_options: {
//           mechanisms: [xTokenMechanism(Strophe), Strophe.SASLPlain],
//       },
//       ...
//   });

export const X_TOKEN_PRIORITY = 60;

/**
 * @param {object} Strophe - converse.env.Strophe
 * @returns {typeof Strophe.SASLPlain} the X-TOKEN mechanism class
 */
export function xTokenMechanism(Strophe) {
	// PLAIN's onChallenge builds the message from the connection's authzid,
	// authcid and password: X-TOKEN sends the very same bytes.
	return class SASLXToken extends Strophe.SASLPlain {
		constructor(mechname = 'X-TOKEN', isClientFirst = true,
		    priority = X_TOKEN_PRIORITY) {
			super(mechname, isClientFirst, priority);
		}
	};
}
