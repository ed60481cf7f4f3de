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
--
-- The provider offers SASL PLAIN and X-TOKEN (see mod_sasl_token), both
-- carrying the token as the password. Like PLAIN, X-TOKEN is only offered on
-- encrypted connections unless allow_unencrypted_plain_auth = true (or
-- insecure_sasl_mechanisms leaves out both PLAIN and X-TOKEN).

local async = require "util.async";
local new_sasl = require "util.sasl".new;
local server = require "net.server";
local util_time = require "util.time";
-- A clock that never goes back (wall clock on builds without one)
local time_now = util_time.monotonic or util_time.now;

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
local max_queue = module:get_option_number("token_socket_max_queue", 1000);
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

--- Connections to the helper
--
-- Every login costs Prosody what its own password check would, and little
-- more, because everything here is done once per batch or once per
-- connection rather than once per login:
--
-- * The helper answers requests in order, so a connection carries many at
--   once (a FIFO of requests sent and not yet answered).
-- * A request goes out at once on a connection with nothing in flight.
--   Requests made while a batch is in flight wait for its answers (or until
--   batch_max wait, or the oldest has waited batch_wait) and then go out
--   together: one write for many, and in the helper one wake-up, one read
--   and one replay store transaction for many (a wake-up costs the helper
--   more than checking a token). Waiting longer would batch more, but a busy
--   Prosody reads the answers only when its event loop comes round to them,
--   so every wait here adds to the login's time.
-- * The socket is read and written directly (net.server watches it, nothing
--   more): no write buffers, write timers or read timeouts per request.
-- * There is no timer per login: one sweep, running while requests are out,
--   fails those older than token_socket_timeout.

local conns = {};        -- open connections, in the order they were opened
local waiting = 0;       -- logins waiting for an answer (token_socket_max_queue)
local batch_max = 16;    -- requests sent in one write, at most
local batch_wait = 0.005; -- seconds a request waits behind a batch in flight
local sweep_every = math.min(1, math.max(0.05, timeout / 5));
local sweeping = false;

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
-- the helper answered, nil (with err) when it could not be asked. This
-- resumes the waiting login at once, which may come back here with another
-- request: callers hold no state across it.
local function finish(req, answer, err)
	if req.finished then return; end
	req.finished = true;
	waiting = waiting - 1;
	req.answer, req.err = answer, err;
	req.done();
end

local submit, sweep;

local function unwatch(state)
	local watch = state.watch;
	state.watch = nil;
	if watch then
		if watch.close then
			watch:close();
		elseif watch.setflags then
			watch:setflags(false, false);
		end
	end
end

-- Forget a connection and close it. Requests sent on it and not answered
-- are tried once more on another connection if it broke (a helper process
-- that was killed or restarted) and they are still in time; a second break,
-- a timeout or a protocol error fails them. Requests not yet sent on it go
-- to another connection as they are.
local function drop(state, reason, retry)
	if state.closed then return; end
	state.closed = true;
	for i, s in ipairs(conns) do
		if s == state then
			table.remove(conns, i);
			break;
		end
	end
	unwatch(state);
	state.sock:close();
	local now = time_now();
	local again = {};
	for i = state.head, state.tail do
		local req = state.fifo[i];
		if req.finished then -- luacheck: ignore 542
			-- (a timeout already failed it)
		elseif retry and not req.retried and now < req.deadline then
			req.retried = true;
			again[#again + 1] = req;
		else
			finish(req, nil, reason);
		end
	end
	if #again > 0 then
		module:log("debug", "Connection to the token helper broke (%s), asking again", reason);
	end
	for _, req in ipairs(state.pending) do
		again[#again + 1] = req;
	end
	for _, req in ipairs(again) do
		if not req.finished then
			submit(req);
		end
	end
end

-- Write what the connection has to send; what the socket does not take now
-- is kept, in order, for the next try.
local function flush(state, data)
	if state.unsent then
		data = state.unsent .. data;
		state.unsent = nil;
	end
	local sent, err, last = state.sock:send(data);
	if sent then return true; end
	if err == "timeout" then
		state.unsent = data:sub((last or 0) + 1);
		return true;
	end
	drop(state, err or "write failed", true);
	return false;
end

-- Send the requests waiting on a connection, in one write.
local function send_pending(state)
	local pending = state.pending;
	local n = #pending;
	if n == 0 or state.closed then return; end
	local fifo, tail = state.fifo, state.tail;
	for i = 1, n do
		local req = pending[i];
		tail = tail + 1;
		fifo[tail] = req;
		pending[i] = req.line;
	end
	state.tail = tail;
	local data = table.concat(pending);
	state.pending = {};
	flush(state, data);
end

local function onreadable(state)
	local sock = state.sock;
	repeat
		local line, err, partial = sock:receive("*l");
		if not line then
			if err == "timeout" then
				-- An answer cut in two: keep the first part
				if partial and partial ~= "" then
					local buffer = (state.partial or "") .. partial;
					if #buffer > 16 then
						module:log("error", "The token helper at %s sent an overlong answer; closing the connection", socket_path);
						drop(state, "protocol error");
						return;
					end
					state.partial = buffer;
				end
				break;
			end
			module:log("debug", "The token helper closed the connection (%s)", err or "end of stream");
			drop(state, err or "closed", true);
			return;
		end
		if state.partial then
			line, state.partial = state.partial .. line, nil;
		end
		local head = state.head;
		local req = state.fifo[head];
		if not req or (line ~= "1" and line ~= "0") then
			-- An answer nobody asked for, or not an answer at all: the
			-- connection is out of step and cannot be trusted.
			module:log("error", "The token helper at %s answered out of protocol; closing the connection", socket_path);
			drop(state, "protocol error");
			return;
		end
		state.fifo[head] = nil;
		state.head = head + 1;
		state.last_used = time_now();
		if state.head > state.tail then
			-- The batch is answered: the next one goes
			state.head, state.tail = 1, 0;
			send_pending(state);
		end
		finish(req, line == "1");
	until state.closed or not sock:dirty();
end

local function open()
	local sock = unix.stream();
	sock:settimeout(0);
	local ok, err = sock:connect(socket_path);
	if not ok then
		sock:close();
		-- (on a Unix socket, "timeout" means its backlog is full)
		return nil, err == "timeout" and "the socket's backlog is full" or err;
	end
	local state = { sock = sock; fifo = {}; head = 1; tail = 0; pending = {};
		last_used = time_now() };
	-- net.server only tells when an answer can be read
	state.watch = server.watchfd(sock, function () onreadable(state); end);
	if not state.watch then
		sock:close();
		return nil, "could not watch the socket";
	end
	conns[#conns + 1] = state;
	module:log("debug", "Opened a connection to the token helper at %s (%d open)", socket_path, #conns);
	return state;
end

-- A connection for one more request: the least loaded (the oldest of
-- those), or a new one while the pool has room and every open connection
-- has batch_max requests or more on it. Nil when none is open and none can
-- be opened.
local function choose()
	local least, least_load;
	for _, state in ipairs(conns) do
		local load = state.tail - state.head + 1 + #state.pending;
		if not least or load < least_load then
			least, least_load = state, load;
		end
	end
	if (not least or least_load >= batch_max) and #conns < pool_size then
		local state, err = open();
		if state then return state; end
		local hint = "is its socket served? (systemctl status prosody-token-auth.socket; without systemd: prosody-token-auth serve)";
		if err and err:find("ermission") then
			hint = "Prosody's user must be allowed to write to it (the socket's group and mode)";
		end
		log_unreachable("Cannot reach the token helper at %s: %s; %s", socket_path, err, hint);
	end
	return least;
end

function submit(req)
	local state = choose();
	if not state then
		-- Nothing could ever answer it
		finish(req, nil, "helper unreachable");
		return;
	end
	local pending = state.pending;
	local n = #pending + 1;
	pending[n] = req;
	if n == 1 then
		state.batch_started = req.asked;
	end
	if state.head > state.tail or n >= batch_max
	or req.asked - state.batch_started >= batch_wait then
		send_pending(state);
	end
	if not sweeping then
		sweeping = true;
		module:add_timer(sweep_every, sweep);
	end
end

-- Fail the requests that have waited too long. A connection with one of
-- them sent is closed: a late answer would be read as the next request's.
function sweep()
	local now = time_now();
	local late, busy = {}, false;
	-- (a copy: finishing a request runs its login on, which may open or
	-- close connections)
	for _, state in ipairs({ table.unpack(conns) }) do
		if state.unsent and not state.closed then
			flush(state, "");
		end
		local req = state.fifo[state.head];
		if req and req.deadline <= now then
			late[#late + 1] = state;
		end
		for i = #state.pending, 1, -1 do
			req = state.pending[i];
			if req.deadline <= now then
				table.remove(state.pending, i);
				log_unreachable("The token helper at %s did not answer within %g seconds", socket_path, timeout);
				finish(req, nil, "timeout");
			end
		end
	end
	for _, state in ipairs(late) do
		if not state.closed then
			log_unreachable("The token helper at %s did not answer within %g seconds", socket_path, timeout);
			for i = state.head, state.tail do
				local req = state.fifo[i];
				if req.deadline <= now then
					finish(req, nil, "timeout");
				end
			end
			drop(state, "timeout", true);
		end
	end
	for _, state in ipairs(conns) do
		if state.head <= state.tail or #state.pending > 0 then
			busy = true;
			break;
		end
	end
	if busy then
		return sweep_every;
	end
	sweeping = false;
end

-- Close connections that have been idle for a while, so that helper processes
-- do not linger (and pick up a changed configuration on the next connection).
module:add_timer(idle_timeout, function ()
	local now = time_now();
	local idle = {};
	for _, state in ipairs(conns) do
		if state.head > state.tail and #state.pending == 0
		and now - state.last_used >= idle_timeout then
			table.insert(idle, state);
		end
	end
	for _, state in ipairs(idle) do
		module:log("debug", "Closing an idle connection to the token helper");
		drop(state, "idle");
	end
	return idle_timeout;
end);

-- A login refused because too many wait: one log line, then at most one
-- every ten seconds while it goes on, with how many were refused meanwhile.
local refused_full, refused_full_logged = 0, nil;
local function refuse_full()
	refused_full = refused_full + 1;
	local now = time_now();
	if not refused_full_logged or now - refused_full_logged >= 10 then
		module:log("warn", "Refused %d login(s): %d already wait for the token helper at %s (token_socket_max_queue)",
			refused_full, waiting, socket_path);
		refused_full, refused_full_logged = 0, now;
	end
end

-- Ask the helper one question; returns true or false, or nil and a reason
-- when no answer could be had. Must run in an async context (Prosody
-- processes each session's stanzas in one), where it waits without blocking.
local function ask(line)
	if not async.ready() then
		return nil, "not in an async context";
	end
	if waiting >= max_queue then
		refuse_full();
		return nil, "queue full";
	end
	local wait, done = async.waiter();
	local now = time_now();
	local req = { line = line; done = done; asked = now; deadline = now + timeout };
	waiting = waiting + 1;
	submit(req);
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
		-- (a full queue has its own log line, not one per login)
		module:log(err == "queue full" and "debug" or "warn", "Cannot verify the token of %s@%s: %s", username, host, err);
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
	local open_conns = {};
	for _, state in ipairs(conns) do
		table.insert(open_conns, state);
	end
	for _, state in ipairs(open_conns) do
		for _, req in ipairs(state.pending) do
			finish(req, nil, "module unloaded");
		end
		state.pending = {};
		drop(state, "module unloaded");
	end
end

module:provides("auth", provider);
