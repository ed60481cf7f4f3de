/*
 * serve --listen: the helper's Unix socket served without systemd, the way
 * the packaged socket unit serves it. Each connection gets a helper process
 * of its own (this program run again in helper mode, its stdin and stdout
 * the connection); at most a given number run at once, and the connections
 * beyond wait in the socket's backlog. This is what a container's entry
 * point, runit, s6 or supervisord runs.
 */
#ifndef LISTEN_H
#define LISTEN_H

#include <sys/types.h>

#define LISTEN_ERR_LEN	    512
#define LISTEN_MAX_DEFAULT  64	/* as the socket unit's MaxConnections */
#define LISTEN_MAX_LIMIT    4096
#define LISTEN_MODE_DEFAULT 0660
#define LISTEN_STOP_SECONDS 10	/* the helpers' time to end once told to */

struct listen_options {
	const char *path;
	mode_t mode;
	const char *group; /* the socket's group; NULL: the starter's */
	const char *user;  /* who the server and its helpers run as */
	unsigned max;	   /* helpers at once */
};

struct listener;

/*
 * Reads serve's arguments (argv[0] is "serve"). Returns 0, or 2 having said
 * on stderr which argument is wrong and how to fix it.
 */
int listen_parse(int argc, char **argv, struct listen_options *);

/*
 * Makes the socket (replacing the file a dead server left; a live server's
 * is refused), gives it its group and mode, then drops to the user for
 * good. From here on SIGTERM, SIGINT, SIGHUP and SIGCHLD are blocked, to be
 * taken by listen_serve. Returns the listener, or NULL with a message for
 * people in err (nothing left behind).
 */
struct listener *listen_open(const struct listen_options *,
    char err[LISTEN_ERR_LEN]);

/*
 * Serves connections, each to a helper: this program's file (as found at
 * start) run with argv helper, until SIGTERM or SIGINT: then it stops accepting, removes the
 * socket, passes SIGTERM on and kills the helpers left after
 * LISTEN_STOP_SECONDS. SIGHUP is passed to every helper (each loads its
 * config again). Frees the listener; returns the exit status.
 */
int listen_serve(struct listener *, char *const helper[]);

/* Closes the socket and removes it, unserved (start-up failed later). */
void listen_close(struct listener *);

#endif
