# shellcheck shell=bash disable=SC2034 # it sets variables for the scripts that source it
# Shared by the end-to-end suite and the demo: a throw-away Prosody on
# 127.0.0.1 that logs users in through the helper on a Unix socket. Source it
# after tests/lib/lib.sh; do not run it.
#
# Everything lives in $WORK (removed by lib.sh's cleanup); every process is
# started with spawn, so cleanup stops it by PID.

PROSODY_MODULES_DIR=${PROSODY_MODULES_DIR:-$TOP/prosody}
PROSODY_FRAGMENT=${PROSODY_FRAGMENT:-$TOP/packaging/prosody-token-auth.cfg.lua}
E2E_OTHER_DOMAIN=other.test
XMPP_CLIENT=("$PY" "$TOP/tests/lib/xmpp_client.py")

# Socket servers started here: their children (one helper per connection)
# are stopped with them.
e2e_servers=()

e2e_cleanup() {
	local pid
	for pid in "${e2e_servers[@]}"; do
		e2e_kill_children "$pid"
	done
	for pid in "${e2e_servers[@]}"; do
		e2e_reaped "$pid"
	done
	cleanup
}
trap e2e_cleanup EXIT

# e2e_kill_children PID [SIGNAL]: stop the processes PID started.
e2e_kill_children() {
	local child
	for child in $(pgrep -P "$1" 2>/dev/null); do
		kill "-${2:-TERM}" "$child" 2>/dev/null
	done
}

# e2e_reaped PID: give PID up to 2 s to reap the children it was told to
# stop (so none is left behind as a zombie when PID itself is stopped).
e2e_reaped() {
	local deadline=$((SECONDS + 2))
	while [ -n "$(pgrep -P "$1" 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.05
	done
}

# e2e_need: fail early, and clearly, when a tool the run needs is missing.
e2e_need() {
	local missing=""
	command -v prosody >/dev/null || missing="$missing prosody"
	command -v systemd-socket-activate >/dev/null || missing="$missing systemd"
	command -v pgrep >/dev/null || missing="$missing procps"
	$PY -c 'import slixmpp' 2>/dev/null || missing="$missing python3-slixmpp"
	$PY -c 'import pyotp' 2>/dev/null || missing="$missing python3-pyotp"
	if [ -n "$missing" ]; then
		echo "missing Debian packages:$missing (tests/deps.sh installs them)" >&2
		return 1
	fi
	if [ ! -x "$HELPER" ]; then
		echo "no helper binary at $HELPER (run make, or set HELPER)" >&2
		return 1
	fi
	if [ ! -f "$PROSODY_MODULES_DIR/mod_auth_token_socket.lua" ]; then
		echo "no mod_auth_token_socket.lua in $PROSODY_MODULES_DIR (set PROSODY_MODULES_DIR)" >&2
		return 1
	fi
	if ! grep -q '^VirtualHost "chat\.example\.org"' "$PROSODY_FRAGMENT" 2>/dev/null; then
		echo "no config fragment at $PROSODY_FRAGMENT (set PROSODY_FRAGMENT)" >&2
		return 1
	fi
}

# port_open PORT: something listens on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: print a random unused TCP port in 20000-60000 on 127.0.0.1.
free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40001))
		if $PY - "$port" <<-'EOF' 2>/dev/null; then
			import socket, sys
			s = socket.socket()
			s.bind(("127.0.0.1", int(sys.argv[1])))
			s.close()
		EOF
			echo "$port"
			return 0
		fi
	done
	return 1
}

# e2e_serve SOCKET COMMAND...: serve SOCKET, one COMMAND per connection
# (stdin and stdout are the connection), as systemd's Accept=yes socket unit
# does in production. Sets E2E_SERVER to the server's PID.
e2e_serve() {
	local sock=$1
	shift
	rm -f "$sock"
	# (it starts each helper with an empty environment but for what -E
	# passes: the valgrind helper's logs go where the suite's do)
	spawn systemd-socket-activate --accept --inetd -l "$sock" \
		-E VALGRIND_LOG_DIR "$@" 2>>"$WORK/socket-activate.log"
	E2E_SERVER=$!
	e2e_servers+=("$E2E_SERVER")
	wait_for 10 test -S "$sock"
}

# e2e_serve_helper SOCKET CONFIG: serve the real helper on SOCKET.
e2e_serve_helper() {
	e2e_serve "$1" "$HELPER" --config "$2"
}

# e2e_stop_server PID SOCKET: stop a socket server and the helpers it
# started, and remove its socket.
e2e_stop_server() {
	e2e_kill_children "$1" KILL
	e2e_reaped "$1"
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	rm -f "$2"
}

# e2e_prosody_config FILE PORT DOMAIN SOCKET TIMEOUT [IDLE]: a Prosody config in
# which the shipped fragment ($PROSODY_FRAGMENT, its host name replaced by
# DOMAIN) switches DOMAIN to tokens through SOCKET, and a second host,
# $E2E_OTHER_DOMAIN, keeps Prosody's own accounts.
#
# No TLS on the loopback interface, so this config lets clients log in
# without encryption (c2s_require_encryption = false) and offers PLAIN and
# X-TOKEN there (allow_unencrypted_plain_auth = true; E2E_ALLOW_UNENCRYPTED=false
# leaves that out). A real server has certificates and needs neither line.
#
# E2E_MODULES adds modules to modules_enabled (quoted and comma-separated:
# '"http_openmetrics"'), E2E_GLOBAL lines to the global section.
#
# With E2E_HTTP_PORT set, Prosody also serves BOSH (/http-bind) and WebSocket
# (/xmpp-websocket) over plain HTTP on 127.0.0.1:E2E_HTTP_PORT, and considers
# both secure, as a server behind a reverse proxy that does the HTTPS must
# (consider_bosh_secure, consider_websocket_secure; E2E_HTTP_SECURE=false
# leaves them off).
e2e_prosody_config() {
	local file=$1 port=$2 domain=$3 sock=$4 timeout=$5 idle=${6:-60}
	local dir http_modules=""
	[ -z "${E2E_HTTP_PORT:-}" ] || http_modules=', "bosh", "websocket"'
	dir=$(dirname "$file")
	mkdir -p "$dir/data" "$dir/certs"
	sed "s/\"chat\.example\.org\"/\"$domain\"/" "$PROSODY_FRAGMENT" >"$dir/token-auth.cfg.lua"
	cat >"$file" <<-EOF
		-- Throw-away Prosody for tests and the demo: loopback only
		run_as_root = true -- harmless as another user; needed as root
		pidfile = "$dir/prosody.pid"
		data_path = "$dir/data"
		certificates = "$dir/certs"
		plugin_paths = { "$PROSODY_MODULES_DIR" }
		log = {
			{ levels = { min = "debug" }, to = "file", filename = "$dir/prosody.log" };
		}
		c2s_ports = { $port }
		c2s_interfaces = { "127.0.0.1" }
		-- (admin_shell: Prosody 13's prosodyctl deluser asks the running server)
		modules_enabled = { "saslauth", "ping", "disco", "roster", "admin_shell"$http_modules${E2E_MODULES:+, $E2E_MODULES} }
		modules_disabled = { "s2s", "s2s_auth_certs" }
		c2s_require_encryption = false
		allow_unencrypted_plain_auth = ${E2E_ALLOW_UNENCRYPTED:-true}
		network_backend = "${E2E_NETWORK_BACKEND:-epoll}"
		$(e2e_http_config "$domain")
		${E2E_GLOBAL:-}

		VirtualHost "$domain"
			-- The shipped fragment, included as an admin would (inside the
			-- block, which Prosody ignores: the fragment names its host)
			Include "token-auth.cfg.lua"

		VirtualHost "$E2E_OTHER_DOMAIN"
			authentication = "internal_hashed"

		VirtualHost "$domain"
			-- Test settings on top of the fragment's
			token_socket_path = "$sock"
			token_socket_timeout = $timeout
			token_socket_idle_timeout = $idle
	EOF
}

# e2e_http_config DOMAIN: the global lines for BOSH and WebSocket on
# 127.0.0.1:$E2E_HTTP_PORT (nothing when it is unset). No HTTPS port: Prosody
# would otherwise listen on 5281 on every interface.
e2e_http_config() {
	[ -n "${E2E_HTTP_PORT:-}" ] || return 0
	cat <<-EOF
		http_ports = { $E2E_HTTP_PORT }
		http_interfaces = { "127.0.0.1" }
		https_ports = { }
		https_interfaces = { }
		http_default_host = "$1"
		consider_bosh_secure = ${E2E_HTTP_SECURE:-true}
		consider_websocket_secure = ${E2E_HTTP_SECURE:-true}
	EOF
}

# e2e_start_prosody CONFIG PORT: start Prosody in the foreground of a
# background job and wait until it listens. Sets E2E_PROSODY to its PID.
e2e_start_prosody() {
	spawn prosody --config "$1" -F >"$(dirname "$1")/prosody.out" 2>&1
	E2E_PROSODY=$!
	wait_for 20 port_open "$2"
}
