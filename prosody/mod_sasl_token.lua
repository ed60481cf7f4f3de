-- mod_sasl_token: the X-TOKEN SASL mechanism, as the converse.js setup of
-- collective.converse uses it.
--
-- X-TOKEN carries PLAIN's message (RFC 4616): authzid NUL authcid NUL token.
-- The token is checked by the auth provider's token_test backend, which only
-- mod_auth_token_socket offers (and which loads this module itself), so the
-- mechanism appears on the hosts that use token logins and nowhere else.
--
-- Unlike PLAIN, it refuses an authorization identity that names anyone other
-- than the authenticating user, and it answers temporary-auth-failure (not
-- not-authorized) when the token could not be checked at all.

local registerMechanism = require "util.sasl".registerMechanism;
local saslprep = require "util.encodings".stringprep.saslprep;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local jid_prep = require "util.jid".prep;
local jid_split = require "util.jid".split;
local log = require "util.logger".init("sasl_token");

-- An authzid is acceptable when it is empty or names the authenticated user:
-- as a bare JID on this host (what RFC 6120 prescribes) or as the bare user.
local function authzid_allowed(authzid, username, realm)
	if authzid == "" then
		return true;
	end
	if not authzid:find("@", 1, true) then
		return nodeprep(authzid) == username;
	end
	local prepped = jid_prep(authzid);
	if not prepped then
		return false;
	end
	local node, host, resource = jid_split(prepped);
	return node == username and host == realm and resource == nil;
end

-- Tell the provider (for its metrics) why a login was refused here.
local function refused(self, reason)
	local count = self.profile.token_refused;
	if count then
		count(self, reason);
	end
end

-- Kept free of any module state: util.sasl holds on to it across reloads.
local function x_token(self, message)
	if not message then
		refused(self, "malformed_request");
		return "failure", "malformed-request";
	end

	local authzid, authcid, token = message:match("^([^%z]*)%z([^%z]+)%z([^%z]+)$");
	if not authzid then
		refused(self, "malformed_request");
		return "failure", "malformed-request";
	end

	authcid = saslprep(authcid);
	token = saslprep(token);
	if not authcid or authcid == "" or not token or token == "" then
		log("debug", "Username or token violates SASLprep");
		refused(self, "malformed_request");
		return "failure", "malformed-request", "Invalid username or token.";
	end

	local username = nodeprep(authcid);
	if not username or username == "" then
		refused(self, "malformed_request");
		return "failure", "malformed-request", "Invalid username or token.";
	end

	if not authzid_allowed(authzid, username, self.realm) then
		log("debug", "Refusing authzid %q for %q", authzid, username);
		refused(self, "invalid_authzid");
		return "failure", "invalid-authzid", "Logging in as another user is not allowed.";
	end

	local test = self.profile.token_test;
	if not test then
		return "failure", "temporary-auth-failure";
	end

	self.username = username;
	local ok = test(self, username, token, self.realm);
	if ok == nil then
		return "failure", "temporary-auth-failure", "The token could not be checked, try again later.";
	elseif not ok then
		return "failure", "not-authorized", "Invalid or expired token.";
	end
	return "success";
end

registerMechanism("X-TOKEN", { "token_test" }, x_token);
