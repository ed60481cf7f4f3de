-- prosody-token-auth: log the users of ONE virtual host in with short-lived
-- tokens from a web application (collective.converse or any other), checked
-- by the prosody-token-auth helper. Nothing else on this server changes.
--
-- To use it:
--   1. Copy this file to /etc/prosody/conf.avail/ and replace
--      "chat.example.org" below with your virtual host, the domain part of
--      the JIDs the web application signs in (it must be the very name of a
--      VirtualHost you have).
--   2. Remove any other "authentication" line for that host.
--   3. Link it into /etc/prosody/conf.d/ (Debian's prosody.cfg.lua includes
--      conf.d/*.cfg.lua at its end):
--        ln -s ../conf.avail/prosody-token-auth.cfg.lua /etc/prosody/conf.d/
--   4. Start the helper's socket (systemctl enable --now
--      prosody-token-auth.socket) and restart Prosody.
--
-- Why the VirtualHost line is in this file: Prosody reads an included file
-- in the global section, wherever the Include line stands, even inside a
-- VirtualHost block. A bare 'authentication = ...' here would then switch
-- EVERY host on this server to tokens and lock out all their existing users
-- (their passwords would no longer work). Naming the host here keeps the
-- change to that host alone; its other settings stay where they are.
--
-- The token is the XMPP password: clients log in with SASL PLAIN, or with
-- X-TOKEN (the mechanism collective.converse configures in converse.js),
-- which carries the same message. Both are offered only on encrypted
-- connections (c2s TLS, or BOSH/WebSocket over HTTPS), as Prosody does for
-- PLAIN; with certificates in place no further option is needed. (Behind a
-- reverse proxy that does the HTTPS for BOSH or WebSocket, Prosody needs
-- consider_bosh_secure = true or consider_websocket_secure = true, as it
-- does for any password login.)

VirtualHost "chat.example.org"
	-- Check logins with tokens through the helper's Unix socket (the module
	-- mod_auth_token_socket; it loads mod_sasl_token, the X-TOKEN mechanism,
	-- by itself). Prosody never sees the token secrets: only the helper,
	-- running as its own user, reads them.
	authentication = "token_socket"

	-- Where the helper listens: the systemd socket unit's ListenStream.
	--token_socket_path = "/run/prosody-token-auth/socket"

	-- Seconds a login waits for the helper before it fails (clients get
	-- not-authorized with PLAIN, temporary-auth-failure with X-TOKEN, and
	-- Prosody's log says the helper did not answer).
	--token_socket_timeout = 5

	-- Connections to the helper used in parallel, at most (each runs one
	-- helper process and carries many logins at once; another opens only
	-- while every open one has 16 or more).
	--token_socket_pool_size = 4

	-- Seconds after which an unused connection is closed; a helper started
	-- later reads the configuration afresh.
	--token_socket_idle_timeout = 60

	-- Logins waiting for the helper at once, at most. Beyond it a login is
	-- refused at once and the log says so in one line (at most one every
	-- ten seconds): a flood of logins cannot pile up in Prosody's memory.
	--token_socket_max_queue = 1000
