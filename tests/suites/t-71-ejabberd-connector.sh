#!/bin/bash
# ejabberd through the helper's socket: the ejabberd suite again, with the
# shipped ejabberd-connect.yml, whose pool is of connectors
# ('prosody-token-auth connect') that hold no secret and reach the helpers
# behind the socket, where the secrets and the replay store stay.
EJABBERD_VIA=connector exec bash "$(dirname "$0")/t-70-ejabberd.sh"
