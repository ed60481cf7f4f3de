#!/bin/bash
# Login storms, for correctness: bench/storm.sh --smoke. A real Prosody with
# internal_plain, internal_hashed and token hosts (and one whose helpers
# keep their nonces in a throw-away Redis, where redis-server is installed),
# and a real ejabberd with internal and external auth, each take 120
# logins 32 at a time (raw XMPP, SASL PLAIN) with wrong passwords, unknown
# users, other users' tokens, expired tokens and garbage mixed in: every
# login's outcome must be the right one. The accepted tokens, replayed at
# once, must all be refused. A host whose helper never answers, with
# token_socket_max_queue = 4, must refuse the surplus of 12 logins at once,
# in one log line. Speed is measured by 'make bench-e2e', never asserted
# here.
#
# About 10 s on 2 quiet cores, 25 s on busy ones (ejabberd starts slowly).
exec bash "$(dirname "$0")/../../bench/storm.sh" --smoke "$@"
