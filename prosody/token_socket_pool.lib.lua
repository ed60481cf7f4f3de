-- token_socket_pool: connections to the prosody-token-auth helper on a Unix
-- socket, for mod_auth_token_socket (loaded with module:require, so it runs
-- in that module's environment and logs as it does).
--
-- Every login costs Prosody what its own password check would, and little
-- more, because everything here is done once per batch or once per
-- connection rather than once per login:
--
-- * The helper answers requests in order, so a connection carries many at
--   once (a FIFO of requests sent and not yet answered).
-- * A request goes out at once on the first connection with fewer than
--   batch_max requests on it, whether or not it has some in flight: the
--   helper reads what came while it was busy together, with one wake-up,
--   one read and one replay store transaction (a wake-up costs the helper
--   more than checking a token), and a storm is carried by as few helper
--   processes as can take it. Only when every connection is that full do
--   requests wait for a batch's answers (or until batch_max wait, or the
--   oldest has waited batch_wait) and go out together, one write for many.
--   Holding a request back for the next batch when it could go at once was
--   measured: fewer wake-ups, but a busy Prosody reads the answers only when
--   its event loop comes round to them, so it added a pass of that loop to
--   the login's time, and the p99.
-- * The socket is read and written directly (net.server watches it, nothing
--   more): no write buffers, write timers or read timeouts per request.
-- * There is no timer per login: one sweep, running while requests are out,
--   fails those older than the timeout.
--
-- * Each connection first asks the helper for the reason with every answer
--   ("options:reasons", in the first write): "0 replayed". A helper too old
--   to know the option never answers it; once one has not, connections are
--   opened without asking.
--
-- Interface:
--	local pool = module:require("token_socket_pool").new(options)
--	pool:ask(line)    -- in an async context: true or false (the helper's
--	                  -- answer), its reason (a word, or nil) and the
--	                  -- seconds it took; or nil and why it could not be
--	                  -- asked ("timeout", "queue full", ...)
--	pool:counts()     -- requests not yet sent, requests sent and not yet
--	                  -- answered, open connections
--	pool:close()      -- fails what waits, closes every connection

local async = require "util.async";
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

local batch_max = 16;     -- requests sent in one write, at most
local batch_wait = 0.005; -- seconds a request waits behind a batch in flight
local answer_max = 40;    -- bytes of an answer line, at most ("0 " and a word)
local options_line = "options:reasons\n";

local pool_methods = {};
local pool_mt = { __index = pool_methods };

-- Log a failure to reach the helper at error level, but not the same message
-- more than once every ten seconds (a login storm must not flood the log).
function pool_methods:log_unreachable(message, ...)
	local text = message:format(...);
	local now = time_now();
	if text ~= self.last_error or now - self.last_error_time >= 10 then
		module:log("error", "%s", text);
		self.last_error, self.last_error_time = text, now;
	else
		module:log("debug", "%s", text);
	end
end

-- Deliver the outcome of a request exactly once: answer is true or false when
-- the helper answered (with its reason, if it gave one), nil (with err) when
-- it could not be asked. This resumes the waiting login at once, which may
-- come back here with another request: callers hold no state across it.
function pool_methods:finish(req, answer, err, reason)
	if req.finished then return; end
	req.finished = true;
	self.waiting = self.waiting - 1;
	req.answer, req.err, req.reason = answer, err, reason;
	req.answered = time_now();
	req.done();
end

local function unwatch(conn)
	local watch = conn.watch;
	conn.watch = nil;
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
function pool_methods:drop(conn, reason, retry)
	if conn.closed then return; end
	conn.closed = true;
	local conns = self.conns;
	for i, c in ipairs(conns) do
		if c == conn then
			table.remove(conns, i);
			break;
		end
	end
	unwatch(conn);
	conn.sock:close();
	local now = time_now();
	local again = {};
	for i = conn.head, conn.tail do
		local req = conn.fifo[i];
		if req.finished then -- luacheck: ignore 542
			-- (a timeout already failed it)
		elseif retry and not req.retried and now < req.deadline then
			req.retried = true;
			again[#again + 1] = req;
		else
			self:finish(req, nil, reason);
		end
	end
	if #again > 0 then
		module:log("debug", "Connection to the token helper broke (%s), asking again", reason);
	end
	for _, req in ipairs(conn.pending) do
		again[#again + 1] = req;
	end
	for _, req in ipairs(again) do
		if not req.finished then
			self:submit(req);
		end
	end
end

-- Write what the connection has to send; what the socket does not take now
-- is kept, in order, for the next try.
function pool_methods:flush(conn, data)
	if conn.unsent then
		data = conn.unsent .. data;
		conn.unsent = nil;
	end
	local sent, err, last = conn.sock:send(data);
	if sent then return true; end
	if err == "timeout" then
		conn.unsent = data:sub((last or 0) + 1);
		return true;
	end
	self:drop(conn, err or "write failed", true);
	return false;
end

-- Send the requests waiting on a connection, in one write.
function pool_methods:send_pending(conn)
	local pending = conn.pending;
	local n = #pending;
	if n == 0 or conn.closed then return; end
	local fifo, tail = conn.fifo, conn.tail;
	local options = "";
	if not conn.options_asked then
		conn.options_asked = true;
		if self.ask_reasons then
			-- (answered first; finished already: nobody waits for it)
			tail = tail + 1;
			fifo[tail] = { options = true; finished = true; deadline = pending[1].deadline };
			options = options_line;
		end
	end
	for i = 1, n do
		local req = pending[i];
		tail = tail + 1;
		fifo[tail] = req;
		pending[i] = req.line;
	end
	conn.tail = tail;
	local data = options .. table.concat(pending);
	conn.pending = {};
	self:flush(conn, data);
end

function pool_methods:onreadable(conn)
	local sock = conn.sock;
	repeat
		local line, err, partial = sock:receive("*l");
		if not line then
			if err == "timeout" then
				-- An answer cut in two: keep the first part
				if partial and partial ~= "" then
					local buffer = (conn.partial or "") .. partial;
					if #buffer > answer_max then
						module:log("error", "The token helper at %s sent an overlong answer; closing the connection", self.path);
						self:drop(conn, "protocol error");
						return;
					end
					conn.partial = buffer;
				end
				break;
			end
			module:log("debug", "The token helper closed the connection (%s)", err or "end of stream");
			self:drop(conn, err or "closed", true);
			return;
		end
		if conn.partial then
			line, conn.partial = conn.partial .. line, nil;
		end
		local head = conn.head;
		local req = conn.fifo[head];
		local answer, reason = line:match("^([01])$");
		if not answer and conn.reasons then
			answer, reason = line:match("^([01]) ([a-z_]+)$");
		end
		if not req or not answer or #line > answer_max then
			-- An answer nobody asked for, or not an answer at all: the
			-- connection is out of step and cannot be trusted.
			module:log("error", "The token helper at %s answered out of protocol; closing the connection", self.path);
			self:drop(conn, "protocol error");
			return;
		end
		conn.fifo[head] = nil;
		conn.head = head + 1;
		conn.last_used = time_now();
		if conn.head > conn.tail then
			-- The batch is answered: the next one goes
			conn.head, conn.tail = 1, 0;
			self:send_pending(conn);
		end
		if req.options then
			conn.reasons = answer == "1";
		else
			self:finish(req, answer == "1", nil, reason);
		end
	until conn.closed or not sock:dirty();
end

function pool_methods:open()
	local sock = unix.stream();
	sock:settimeout(0);
	local ok, err = sock:connect(self.path);
	if not ok then
		sock:close();
		-- (on a Unix socket, "timeout" means its backlog is full)
		return nil, err == "timeout" and "the socket's backlog is full" or err;
	end
	local conn = { sock = sock; fifo = {}; head = 1; tail = 0; pending = {};
		last_used = time_now() };
	-- net.server only tells when an answer can be read
	conn.watch = server.watchfd(sock, function () self:onreadable(conn); end);
	if not conn.watch then
		sock:close();
		return nil, "could not watch the socket";
	end
	local conns = self.conns;
	conns[#conns + 1] = conn;
	module:log("debug", "Opened a connection to the token helper at %s (%d open)", self.path, #conns);
	return conn;
end

-- A connection for one more request, and whether it has room: the first
-- open connection with fewer than batch_max requests on it, so that a
-- storm goes to as few helpers as can take it (a helper busy with one
-- batch reads the requests sent meanwhile together, with one wake-up);
-- else a new one while the pool has room; else the least loaded. Nil
-- when none is open and none can be opened.
function pool_methods:choose()
	local least, least_load;
	for _, conn in ipairs(self.conns) do
		local load = conn.tail - conn.head + 1 + #conn.pending;
		if load < batch_max then
			return conn, true;
		end
		if not least or load < least_load then
			least, least_load = conn, load;
		end
	end
	if #self.conns < self.size then
		local conn, err = self:open();
		if conn then return conn, true; end
		local hint = "is its socket served? (systemctl status prosody-token-auth.socket; without systemd: prosody-token-auth serve)";
		if err and err:find("ermission") then
			hint = "Prosody's user must be allowed to write to it (the socket's group and mode)";
		end
		self:log_unreachable("Cannot reach the token helper at %s: %s; %s", self.path, err, hint);
	end
	return least, false;
end

function pool_methods:submit(req)
	local conn, room = self:choose();
	if not conn then
		-- Nothing could ever answer it
		self:finish(req, nil, "helper unreachable");
		return;
	end
	local pending = conn.pending;
	local n = #pending + 1;
	pending[n] = req;
	if n == 1 then
		conn.batch_started = req.asked;
	end
	if room or conn.head > conn.tail or n >= batch_max
	or req.asked - conn.batch_started >= batch_wait then
		self:send_pending(conn);
	end
	if not self.sweeping then
		self.sweeping = true;
		module:add_timer(self.sweep_every, function () return self:sweep(); end);
	end
end

-- Fail the requests that have waited too long. A connection with one of
-- them sent is closed: a late answer would be read as the next request's.
-- Returns when to sweep again, or nothing once no request is out.
function pool_methods:sweep()
	local now = time_now();
	local late = {};
	-- (a copy: finishing a request runs its login on, which may open or
	-- close connections)
	for _, conn in ipairs({ table.unpack(self.conns) }) do
		if conn.unsent and not conn.closed then
			self:flush(conn, "");
		end
		local req = conn.fifo[conn.head];
		if req and req.deadline <= now then
			late[#late + 1] = conn;
		end
		for i = #conn.pending, 1, -1 do
			req = conn.pending[i];
			if req.deadline <= now then
				table.remove(conn.pending, i);
				self:log_unreachable("The token helper at %s did not answer within %g seconds", self.path, self.timeout);
				self:finish(req, nil, "timeout");
			end
		end
	end
	for _, conn in ipairs(late) do
		local first = conn.fifo[conn.head];
		if first and first.options and self.ask_reasons then
			module:log("warn", "The token helper at %s did not answer %q (older than this module?): "
				.. "asking without reasons from now on", self.path, options_line:sub(1, -2));
			self.ask_reasons = false;
		end
		if not conn.closed then
			self:log_unreachable("The token helper at %s did not answer within %g seconds", self.path, self.timeout);
			for i = conn.head, conn.tail do
				local req = conn.fifo[i];
				if req.deadline <= now then
					self:finish(req, nil, "timeout");
				end
			end
			self:drop(conn, "timeout", true);
		end
	end
	for _, conn in ipairs(self.conns) do
		if conn.head <= conn.tail or #conn.pending > 0 then
			return self.sweep_every;
		end
	end
	self.sweeping = false;
end

-- Close connections that have been idle for a while, so that helper processes
-- do not linger (and pick up a changed configuration on the next connection).
function pool_methods:close_idle()
	local now = time_now();
	local idle = {};
	for _, conn in ipairs(self.conns) do
		if conn.head > conn.tail and #conn.pending == 0
		and now - conn.last_used >= self.idle_timeout then
			table.insert(idle, conn);
		end
	end
	for _, conn in ipairs(idle) do
		module:log("debug", "Closing an idle connection to the token helper");
		self:drop(conn, "idle");
	end
end

-- A login refused because too many wait: one log line, then at most one
-- every ten seconds while it goes on, with how many were refused meanwhile.
function pool_methods:refuse_full()
	self.refused_full = self.refused_full + 1;
	local now = time_now();
	if not self.refused_full_logged or now - self.refused_full_logged >= 10 then
		module:log("warn", "Refused %d login(s): %d already wait for the token helper at %s (token_socket_max_queue)",
			self.refused_full, self.waiting, self.path);
		self.refused_full, self.refused_full_logged = 0, now;
	end
end

-- Ask the helper one question; returns true or false, or nil and a reason
-- when no answer could be had. Must run in an async context (Prosody
-- processes each session's stanzas in one), where it waits without blocking.
function pool_methods:ask(line)
	if not async.ready() then
		return nil, "not in an async context";
	end
	if self.waiting >= self.max_queue then
		self:refuse_full();
		return nil, "queue full";
	end
	local wait, done = async.waiter();
	local now = time_now();
	local req = { line = line; done = done; asked = now; deadline = now + self.timeout };
	self.waiting = self.waiting + 1;
	self:submit(req);
	wait();
	if req.answer == nil then
		return nil, req.err;
	end
	return req.answer, req.reason, req.answered - req.asked;
end

function pool_methods:counts()
	local unsent, in_flight = 0, 0;
	for _, conn in ipairs(self.conns) do
		unsent = unsent + #conn.pending;
		for i = conn.head, conn.tail do
			if not conn.fifo[i].finished then
				in_flight = in_flight + 1;
			end
		end
	end
	return unsent, in_flight, #self.conns;
end

function pool_methods:close()
	for _, conn in ipairs({ table.unpack(self.conns) }) do
		for _, req in ipairs(conn.pending) do
			self:finish(req, nil, "module unloaded");
		end
		conn.pending = {};
		self:drop(conn, "module unloaded");
	end
end

-- options: path, timeout (seconds a request may wait for its answer), size
-- (connections at most), idle_timeout (seconds), max_queue (requests
-- waiting at once, at most).
local function new(options)
	local pool = setmetatable({
		path = options.path;
		timeout = options.timeout;
		size = options.size;
		idle_timeout = options.idle_timeout;
		max_queue = options.max_queue;
		sweep_every = math.min(1, math.max(0.05, options.timeout / 5));
		conns = {};      -- open connections, in the order they were opened
		waiting = 0;     -- requests waiting for an answer (max_queue)
		sweeping = false;
		refused_full = 0;
		ask_reasons = true; -- until a helper does not answer the question
	}, pool_mt);
	module:add_timer(pool.idle_timeout, function ()
		pool:close_idle();
		return pool.idle_timeout;
	end);
	return pool;
end

return { new = new };
