-- mod_auth_token_socket: log users in with short-lived tokens from a web
-- application, verified by the prosody-token-auth helper.
--
-- Prosody cannot start the helper itself (on Lua 5.4 there is no lua-lpty or
-- lua-posix to spawn a process with pipes), so the helper is reached through
-- a Unix socket on which every connection runs it (a systemd socket unit with
-- Accept=yes, or systemd-socket-activate --accept --inetd). This module
-- speaks the helper's line protocol over that socket through Prosody's own
-- non-blocking network layer: a login waits for its answer without holding up
-- any other session.
--
-- Load it for one VirtualHost with
--
--	authentication = "token_socket"
--
-- Options (all optional):
--	token_socket_path      = "/run/prosody-token-auth/socket"
--	token_socket_timeout   = 5   -- seconds a login waits for an answer
--	token_socket_pool_size = 4   -- connections used in parallel, at most
--	                             -- (each carries many requests: another
--	                             -- opens only while every open one has
--	                             -- 16 or more on it)
--	token_socket_idle_timeout = 60 -- seconds before an idle connection is
--	                               -- closed (and its helper process ends)
--	token_socket_max_queue = 1000  -- logins waiting for the helper at once;
--	                               -- beyond it a login is refused at once
--	                               -- (not-authorized with PLAIN, temporary-
--	                               -- auth-failure with X-TOKEN) and the log
--	                               -- says so in one line (at most one every
--	                               -- ten seconds, with how many were refused)
--	token_socket_isuser_cache = 0  -- set it (to 1000, say) where the helper
--	                               -- has isuser = seen for this host: where
--	                               -- Prosody asks whether a user exists
--	                               -- outside a session (where nothing may
--	                               -- wait for the helper), the answer is yes
--	                               -- only for a user the helper said exists
--	                               -- or logged in within the last day, among
--	                               -- the last this many; 0 (the default,
--	                               -- for isuser = any): yes for every user
--
-- With Prosody's statistics on, it publishes how logins go (by outcome and
-- the helper's reason), the helper's answer time and its queue, for
-- mod_http_openmetrics: doc/operating.md, "Monitoring", names them.
--
-- The provider offers SASL PLAIN and X-TOKEN (see mod_sasl_token), both
-- carrying the token as the password. Like PLAIN, X-TOKEN is only offered on
-- encrypted connections unless allow_unencrypted_plain_auth = true (or
-- insecure_sasl_mechanisms leaves out both PLAIN and X-TOKEN).

local async = require "util.async";
local new_sasl = require "util.sasl".new;

local host = module.host;

local socket_path = module:get_option_string("token_socket_path", "/run/prosody-token-auth/socket");
local timeout = module:get_option_number("token_socket_timeout", 5);
local pool_size = math.floor(module:get_option_number("token_socket_pool_size", 4) or 4);
local idle_timeout = module:get_option_number("token_socket_idle_timeout", 60);
local max_queue = module:get_option_number("token_socket_max_queue", 1000);
local isuser_cache = module:get_option_number("token_socket_isuser_cache", 0);
-- The same rule as mod_saslauth's for PLAIN, which X-TOKEN is as readable as
local insecure_mechanisms = module:get_option_set("insecure_sasl_mechanisms",
	module:get_option_boolean("allow_unencrypted_plain_auth", false) and {} or { "PLAIN", "LOGIN" });

if not timeout or timeout <= 0 then
	module:log("error", "token_socket_timeout must be a positive number of seconds, using 5");
	timeout = 5;
end
if pool_size < 1 then
	module:log("error", "token_socket_pool_size must be at least 1, using 1");
	pool_size = 1;
end
if not idle_timeout or idle_timeout <= 0 then
	idle_timeout = 60;
end
if not isuser_cache or isuser_cache < 0 or isuser_cache ~= math.floor(isuser_cache) then
	module:log("error", "token_socket_isuser_cache must be a whole number of users, 0 or more, using 0");
	isuser_cache = 0;
end
if not max_queue or max_queue < 1 or max_queue ~= math.floor(max_queue) then
	module:log("error", "token_socket_max_queue must be a whole number of logins above 0, using 1000");
	max_queue = 1000;
end

-- The X-TOKEN SASL mechanism is part of this provider: the admin enables
-- nothing else.
module:depends("sasl_token");

-- A request never carries more than a user, the host and a token; anything
-- longer is refused here without asking the helper.
local max_request = 1024;

-- Connections to the helper, with their batching and timeouts
-- (token_socket_pool.lib.lua, beside this file)
local pool = module:require("token_socket_pool").new({
	path = socket_path;
	timeout = timeout;
	size = pool_size;
	idle_timeout = idle_timeout;
	max_queue = max_queue;
});

--- The auth provider

-- What the helper accepts as a user (nodeprep has already lower-cased it);
-- anything that could break the line protocol is refused before asking.
local function valid_user(username)
	return type(username) == "string" and username ~= "" and not username:find("[@:/%s%z]");
end

local function valid_token(token)
	return type(token) == "string" and token ~= "" and #token <= max_request and not token:find("[\r\n%z]");
end

--- Metrics, served by mod_http_openmetrics (doc/operating.md names them)

local m_logins = module:metric("counter", "logins", "",
	"Token logins by outcome (accepted, refused, not_asked) and reason",
	{ "outcome", "reason" });
local m_answer_time = module:metric("histogram", "helper_answer", "seconds",
	"Time from asking the token helper about a login to its answer",
	{}, { buckets = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 } }
):with_labels();
local m_waiting = module:metric("gauge", "requests_waiting", "",
	"Requests waiting to be sent to the token helper", {}):with_labels();
local m_in_flight = module:metric("gauge", "requests_in_flight", "",
	"Requests sent to the token helper and not yet answered", {}):with_labels();
local m_connections = module:metric("gauge", "helper_connections", "",
	"Open connections to the token helper", {}):with_labels();

module:hook_global("stats-update", function ()
	local waiting, in_flight, connections = pool:counts();
	m_waiting:set(waiting);
	m_in_flight:set(in_flight);
	m_connections:set(connections);
end);

-- Why a login could not be asked, as the metric's reason says it
local not_asked_reasons = {
	["timeout"] = "timeout";
	["queue full"] = "queue_full";
};

local function count_login(outcome, reason)
	m_logins:with_labels(outcome, reason):add(1);
end

--- Users known to exist, for answers that cannot wait for the helper

-- Two generations of at most isuser_cache / 2 users each: when the newer
-- fills up it becomes the older and the older is dropped, so the cache is
-- bounded and keeps the users seen most recently. A yes is kept a day.
local known_max_age = 86400;
local known, known_before, known_count = {}, {}, 0;

local function remember_user(username)
	if isuser_cache == 0 then
		return;
	end
	if not known[username] then
		known_count = known_count + 1;
		if known_count > math.max(1, math.floor(isuser_cache / 2)) then
			known, known_before, known_count = {}, known, 1;
		end
	end
	known[username] = os.time();
end

local function recently_known(username)
	local at = known[username] or known_before[username];
	return at ~= nil and os.time() - at < known_max_age;
end

local provider = {};

-- Returns true for a valid token; false when the helper refused it; nil and
-- a reason when it could not be asked.
local function check_token(username, token)
	if not valid_user(username) or not valid_token(token) then
		count_login("refused", "malformed_request");
		return false;
	end
	local ok, reason, seconds = pool:ask(("auth:%s:%s:%s\n"):format(username, host, token));
	if ok == nil then
		-- (a full queue has its own log line, not one per login)
		module:log(reason == "queue full" and "debug" or "warn", "Cannot verify the token of %s@%s: %s", username, host, reason);
		count_login("not_asked", not_asked_reasons[reason] or "helper_unreachable");
		return nil, reason;
	end
	m_answer_time:sample(seconds);
	if ok then
		module:log("debug", "Token of %s@%s accepted", username, host);
		count_login("accepted", "none");
		remember_user(username);
	else
		-- (the reason is for the operator: the client is told only no)
		module:log("info", "Token of %s@%s refused by the helper: %s", username, host, reason or "no reason given");
		count_login("refused", reason or "unknown");
	end
	return ok;
end

function provider.test_password(username, token)
	local ok, err = check_token(username, token);
	if ok then
		return true;
	end
	return nil, err and "Token could not be verified" or "Invalid token";
end

function provider.user_exists(username)
	if not valid_user(username) then
		return nil, "Invalid username";
	end
	if not async.ready() then
		-- Outside a session's async context nothing may wait for the helper.
		-- With isuser = any every well-formed user exists; with seen (the
		-- cache on), those it said exist lately, and no one else.
		if isuser_cache == 0 or recently_known(username) then
			return true;
		end
		return nil, "No such user";
	end
	local ok, err = pool:ask(("isuser:%s:%s\n"):format(username, host));
	if ok then
		remember_user(username);
		return true;
	elseif ok == false then
		return nil, "No such user";
	end
	return nil, err;
end

-- Prosody 13 asks whether an account is enabled (usermanager's
-- user_is_enabled, and mod_tokenauth before a FAST or OAuth token login);
-- without an answer here every account of this host counts as disabled.
-- Accounts are the web application's: each well-formed user is enabled, and
-- the token decides.
function provider.is_enabled(username)
	return valid_user(username);
end

function provider.users()
	-- Users live in the web application; there is nothing to list here.
	return function () return nil; end;
end

local managed = "Accounts are managed by the web application, not by this server";

function provider.get_password()
	return nil, "Passwords are not stored: logins use tokens";
end

function provider.set_password()
	return nil, managed;
end

function provider.create_user()
	return nil, managed;
end

function provider.delete_user()
	return nil, managed;
end

function provider.get_sasl_handler(session)
	local profile = {
		-- SASL PLAIN: the token is the password
		plain_test = function (_, username, token)
			return check_token(username, token) == true, true;
		end;
		-- SASL X-TOKEN (mod_sasl_token): tells "refused" from "unavailable"
		token_test = function (_, username, token)
			return check_token(username, token);
		end;
		-- mod_sasl_token refused the message before any token was checked
		token_refused = function (_, reason)
			count_login("refused", reason);
		end;
	};
	local mechanisms = { PLAIN = true, ["X-TOKEN"] = true };
	if session and not session.secure
	and (insecure_mechanisms:contains("PLAIN") or insecure_mechanisms:contains("X-TOKEN")) then
		-- X-TOKEN sends the token as readably as PLAIN sends a password:
		-- keep it off unencrypted connections just as Prosody keeps PLAIN.
		mechanisms["X-TOKEN"] = nil;
	end
	profile.mechanisms = mechanisms;
	return new_sasl(host, profile);
end

function module.unload()
	pool:close();
end

module:provides("auth", provider);
