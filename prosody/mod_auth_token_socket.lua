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
--	token_socket_pool_size = 4   -- connections used in parallel
--	token_socket_idle_timeout = 60 -- seconds before an idle connection is
--	                               -- closed (and its helper process ends)
--
-- The provider offers SASL PLAIN and X-TOKEN (see mod_sasl_token), both
-- carrying the token as the password. Like PLAIN, X-TOKEN is only offered on
-- encrypted connections unless allow_unencrypted_plain_auth = true (or
-- insecure_sasl_mechanisms leaves out both PLAIN and X-TOKEN).

local async = require "util.async";
local new_sasl = require "util.sasl".new;
local server = require "net.server";
local time_now = require "util.time".now;

local have_unix, unix = pcall(require, "socket.unix");
if have_unix and type(unix) == "function" then
	-- Older LuaSocket builds export only the stream constructor
	unix = { stream = unix };
end
if not have_unix or type(unix) ~= "table" or not unix.stream then
	error("LuaSocket is built without Unix socket support (socket.unix), which mod_auth_token_socket needs");
end

local host = module.host;

local socket_path = module:get_option_string("token_socket_path", "/run/prosody-token-auth/socket");
local timeout = module:get_option_number("token_socket_timeout", 5);
local pool_size = math.floor(module:get_option_number("token_socket_pool_size", 4) or 4);
local idle_timeout = module:get_option_number("token_socket_idle_timeout", 60);
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

-- The X-TOKEN SASL mechanism is part of this provider: the admin enables
-- nothing else.
module:depends("sasl_token");

-- A request never carries more than a user, the host and a token; anything
-- longer is refused here without asking the helper.
local max_request = 1024;

--- Connections to the helper

-- Each connection has at most one request outstanding, so an answer always
-- belongs to the request that was written last on that connection. A request
-- that finds no free connection waits in a FIFO queue.
local conns = {};        -- net.server connection -> state
local n_conns = 0;
local queue = {};        -- requests waiting for a free connection
local listeners = {};

local last_error, last_error_time;

-- Log a failure to reach the helper at error level, but not the same message
-- more than once every ten seconds (a login storm must not flood the log).
local function log_unreachable(message, ...)
	local text = message:format(...);
	local now = time_now();
	if text ~= last_error or now - last_error_time >= 10 then
		module:log("error", "%s", text);
		last_error, last_error_time = text, now;
	else
		module:log("debug", "%s", text);
	end
end

-- Deliver the outcome of a request exactly once: answer is true or false when
-- the helper answered, nil (with err) when it could not be asked.
local function finish(req, answer, err)
	if req.finished then return; end
	req.finished = true;
	if req.timer then
		req.timer:stop();
		req.timer = nil;
	end
	req.answer, req.err = answer, err;
	req.done();
end

local dispatch;

-- Forget a connection and close it. If a request was outstanding on it and
-- the connection broke before any answer, the request is tried once more on
-- another connection (a helper process that was killed or restarted); a
-- second break, a timeout or a protocol error fails it.
local function drop(conn, reason, retry)
	local state = conns[conn];
	if not state then return; end
	conns[conn] = nil;
	n_conns = n_conns - 1;
	local req = state.req;
	state.req = nil;
	conn:close();
	if req and not req.finished then
		if retry and not req.retried then
			req.retried = true;
			module:log("debug", "Connection to the token helper broke (%s), asking again", reason);
			table.insert(queue, 1, req);
		else
			finish(req, nil, reason);
		end
	end
	dispatch();
end

local function open()
	local sock = unix.stream();
	sock:settimeout(0);
	local ok, err = sock:connect(socket_path);
	if not ok and err ~= "timeout" then
		sock:close();
		return nil, err;
	end
	-- "*a": whatever is there (the read pattern every net.server backend
	-- understands, as Prosody's own admin socket uses it)
	local conn = server.wrapclient(sock, socket_path, 0, listeners, "*a");
	if not conn then
		sock:close();
		return nil, "could not watch the socket";
	end
	local state = { conn = conn; buffer = ""; last_used = time_now() };
	conns[conn] = state;
	n_conns = n_conns + 1;
	module:log("debug", "Opened a connection to the token helper at %s (%d open)", socket_path, n_conns);
	return state;
end

local function send(state, req)
	state.req = req;
	state.buffer = "";
	state.last_used = time_now();
	state.conn:write(req.line);
end

function dispatch()
	while queue[1] do
		local free;
		for _, state in pairs(conns) do
			if not state.req then
				free = state;
				break;
			end
		end
		if not free and n_conns < pool_size then
			local err;
			free, err = open();
			if not free then
				local hint = "is its socket served? (systemctl status prosody-token-auth.socket)";
				if err and err:find("ermission") then
					hint = "Prosody's user must be allowed to write to it (the socket's group and mode)";
				end
				log_unreachable("Cannot reach the token helper at %s: %s; %s", socket_path, err, hint);
				if n_conns == 0 then
					-- Nothing could ever answer the waiting requests
					while queue[1] do
						finish(table.remove(queue, 1), nil, "helper unreachable");
					end
				end
				return;
			end
		end
		if not free then return; end -- all busy: the next answer or timeout dispatches again
		send(free, table.remove(queue, 1));
	end
end

function listeners.onincoming(conn, data)
	local state = conns[conn];
	if not state then return; end
	local buffer = state.buffer .. data;
	local line, rest = buffer:match("^([^\n]*)\n(.*)$");
	if not line then
		if #buffer > 16 then
			module:log("error", "The token helper at %s sent an overlong answer; closing the connection", socket_path);
			drop(conn, "protocol error");
		else
			state.buffer = buffer;
		end
		return;
	end
	line = line:gsub("\r$", "");
	local req = state.req;
	if not req or rest ~= "" or (line ~= "1" and line ~= "0") then
		-- An answer nobody asked for, more than one answer, or not an answer
		-- at all: the connection is out of step and cannot be trusted.
		module:log("error", "The token helper at %s answered out of protocol; closing the connection", socket_path);
		drop(conn, "protocol error");
		return;
	end
	state.req = nil;
	state.buffer = "";
	state.last_used = time_now();
	finish(req, line == "1");
	dispatch();
end

function listeners.ondisconnect(conn, err)
	if conns[conn] then
		module:log("debug", "The token helper closed the connection (%s)", err or "end of stream");
		drop(conn, err or "closed", true);
	end
end

function listeners.onreadtimeout()
	-- Idle connections are closed by the sweep below; a request in flight has
	-- its own timer.
	return true;
end

-- Close connections that have been idle for a while, so that helper processes
-- do not linger (and pick up a changed configuration on the next connection).
module:add_timer(idle_timeout, function ()
	local now = time_now();
	local idle = {};
	for conn, state in pairs(conns) do
		if not state.req and now - state.last_used >= idle_timeout then
			table.insert(idle, conn);
		end
	end
	for _, conn in ipairs(idle) do
		module:log("debug", "Closing an idle connection to the token helper");
		drop(conn, "idle");
	end
	return idle_timeout;
end);

-- Ask the helper one question; returns true or false, or nil and a reason
-- when no answer could be had. Must run in an async context (Prosody
-- processes each session's stanzas in one), where it waits without blocking.
local function ask(line)
	if not async.ready() then
		return nil, "not in an async context";
	end
	local wait, done = async.waiter();
	local req = { line = line; done = done };
	req.timer = module:add_timer(timeout, function ()
		if req.finished then return; end
		log_unreachable("The token helper at %s did not answer within %g seconds", socket_path, timeout);
		for i, queued in ipairs(queue) do
			if queued == req then
				table.remove(queue, i);
				break;
			end
		end
		for conn, state in pairs(conns) do
			if state.req == req then
				-- A late answer would be read as the next request's answer:
				-- this connection can never be used again.
				drop(conn, "timeout");
				break;
			end
		end
		finish(req, nil, "timeout");
	end);
	table.insert(queue, req);
	dispatch();
	wait();
	return req.answer, req.err;
end

--- The auth provider

-- What the helper accepts as a user (nodeprep has already lower-cased it);
-- anything that could break the line protocol is refused before asking.
local function valid_user(username)
	return type(username) == "string" and username ~= "" and not username:find("[@:/%s%z]");
end

local function valid_token(token)
	return type(token) == "string" and token ~= "" and #token <= max_request and not token:find("[\r\n%z]");
end

local provider = {};

-- Returns true for a valid token; false when the helper refused it; nil and
-- a reason when it could not be asked.
local function check_token(username, token)
	if not valid_user(username) or not valid_token(token) then
		return false;
	end
	local ok, err = ask(("auth:%s:%s:%s\n"):format(username, host, token));
	if ok == nil then
		module:log("warn", "Cannot verify the token of %s@%s: %s", username, host, err);
		return nil, err;
	end
	if ok then
		module:log("debug", "Token of %s@%s accepted", username, host);
	else
		module:log("info", "Token of %s@%s refused by the helper", username, host);
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
		-- Outside a session's async context nothing may wait for the helper;
		-- answer by the helper's own rule (every well-formed user of the web
		-- application exists).
		return true;
	end
	local ok, err = ask(("isuser:%s:%s\n"):format(username, host));
	if ok then
		return true;
	end
	return nil, err or "No such user";
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
	local waiting = queue;
	queue = {};
	for _, req in ipairs(waiting) do
		finish(req, nil, "module unloaded");
	end
	local open_conns = {};
	for conn in pairs(conns) do
		table.insert(open_conns, conn);
	end
	for _, conn in ipairs(open_conns) do
		drop(conn, "module unloaded");
	end
end

module:provides("auth", provider);
