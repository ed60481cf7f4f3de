/*
 * The helper confines itself once it has started (config loaded, replay
 * store opened), wherever it runs: spawned by ejabberd or by a Prosody with
 * lpty, served by systemd-socket-activate, or under systemd's own sandbox.
 *
 *   no_new_privs	no set-user-ID program can give it more;
 *   seccomp		an allow-list of exactly what the serve loop, the
 *			stores, the log and a reload of the config use; any
 *			other system call kills the process;
 *   Landlock		the file system is the replay store's directory
 *			(read and write), the config file's (read only, for
 *			reloads) and /dev/null, where the kernel has it (5.13
 *			and later); where not, it says so once and carries
 *			on. A store directory that could not be made is
 *			never a reason to allow a directory above it:
 *			nothing is allowed in its place, and its logins are
 *			refused until a restart.
 *
 * A Redis store that names a host by name (in replay_store or among the
 * sentinels) resolves it again after a failed connection, so it alone may
 * also read the resolver's files (/etc/hosts, resolv.conf, nsswitch.conf,
 * gai.conf: each file, read only) and use what getaddrinfo
 * does (UDP to the resolvers, a netlink socket, sendmmsg).
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include "config.h"

#define SANDBOX_ERR_LEN 512

/*
 * Confines the process for a helper with config c. Returns 0 (with a note
 * in err, or an empty string, to log once), or -1 with why in err: the
 * caller refuses to serve rather than serve unconfined.
 */
int sandbox_enter(const struct config *c, char err[SANDBOX_ERR_LEN]);

/*
 * Confines the connector (connect.c): no_new_privs, no file but /dev/null,
 * Unix sockets only, and its own narrower allow-list. As sandbox_enter.
 */
int sandbox_enter_connector(char err[SANDBOX_ERR_LEN]);

/*
 * Whether a helper confined for config from can serve with config to: the
 * same kind of replay store and, for LMDB, the same directory; no host
 * named by name where from named none (the sandbox cannot be widened once
 * entered). Returns 0, or -1 with what
 * needs a restart in why.
 */
int sandbox_can_follow(const struct config *from, const struct config *to,
    char *why, size_t whylen);

#endif
