-- Prosody's side, for the container examples: the project's provider and
-- the socket the helper's container serves in the shared volume. Include it
-- from Prosody's config (the examples mount it, and the modules, into the
-- Prosody container), with "chat.example.org" replaced by your host.

plugin_paths = { "/usr/local/lib/prosody-token-auth" }

VirtualHost "chat.example.org"
	authentication = "token_socket"
	token_socket_path = "/run/prosody-token-auth/socket"
