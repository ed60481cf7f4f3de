/*
 * The connector (prosody-token-auth connect SOCKET): what ejabberd runs as
 * its extauth_program to reach the helper behind the packaged socket, so
 * that the secrets and the replay store stay with the helper's own user
 * (ejabberd never reads them, and every server on the host shares one
 * store). It holds no secret: it serves ejabberd's requests as the helper
 * does (the same framing and loop) by asking the helper behind the socket,
 * and answers 0 for any request it could not get an answer to.
 */
#ifndef CONNECT_H
#define CONNECT_H

#include "frame.h"

#define CONNECT_DEFAULT_SOCKET "/run/prosody-token-auth/socket"

/* Relays requests on stdin to the helper at socket; returns exit status. */
int connect_main(const char *socket_path, enum frame_protocol);

#endif
