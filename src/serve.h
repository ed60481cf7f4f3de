/*
 * The serve loop: read, frame, answer, write, then let the decisions be
 * logged. It knows nothing of tokens: the requests buffered go to the
 * handler together, which answers each 1 or 0 (so that their answers can
 * share work, such as one replay store commit for several logins).
 */
#ifndef SERVE_H
#define SERVE_H

#include <stddef.h>

#include "frame.h"

#define SERVE_BATCH_MAX 64 /* requests handed over at once, at most */

/*
 * A request's bytes; text is NULL for one the framing refused (oversized or
 * cut short), which must be answered 0.
 */
struct serve_request {
	const char *text;
	size_t len;
};

struct serve_handler {
	/* Sets answers[i] to 1 or 0 for each of the n requests, 1 <= n <=
	 * SERVE_BATCH_MAX. */
	void (*answer)(void *ctx, const struct serve_request *, size_t n,
	    int answers[]);
	/* Called once their answers are written, the requests' bytes still
	 * in place: the time to log. */
	void (*answered)(void *ctx);
	/* Called when input has come, before it is answered: the time to
	 * take a new config. hup: a SIGHUP arrived since the last call. */
	void (*between)(void *ctx, int hup);
	/* Why request i of the batch just answered got its answer: a short
	 * word (frame.h), or NULL. Asked, as its answer is written, only of
	 * a client that wants reasons; NULL here: no reasons. */
	const char *(*reason)(void *ctx, size_t i);
	void *ctx;
};

/*
 * How long a connection may wait, when in is a socket (0: for ever): for
 * the next request (idle), and for the rest of one begun (partial). Over
 * pipes and terminals the server that started the helper keeps it.
 */
struct serve_limits {
	unsigned idle_seconds;
	unsigned partial_seconds;
};

enum serve_end {
	SERVE_FAILED = -1, /* /dev/null, which stopping needs, cannot be had */
	SERVE_INPUT_ENDED, /* end of input, or an unwritable output */
	SERVE_STOPPED,	   /* SIGTERM or SIGINT */
	SERVE_IDLE,	   /* nothing came for limits->idle_seconds */
	SERVE_CUT_SHORT,   /* a request begun was not finished in time */
};

/*
 * Serves requests from fd in, answering on fd out, until one of the ends
 * above (SIGHUP asks for a new config: see between). Each answer is one
 * write(2). A request never ends the loop.
 */
enum serve_end serve(int in, int out, enum frame_protocol,
    const struct serve_limits *, const struct serve_handler *);

#endif
