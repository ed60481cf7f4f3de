/*
 * The protocol loop: read, frame, answer, write. It knows nothing of tokens:
 * the requests buffered go to the answer function together, which answers
 * each 1 or 0 (so that their answers can share work, such as one replay
 * store commit for several logins).
 */
#ifndef HELPER_H
#define HELPER_H

#include <stddef.h>

#include "frame.h"

#define HELPER_BATCH_MAX 64 /* requests handed over at once, at most */

/*
 * A request's bytes; text is NULL for one the framing refused (oversized or
 * cut short), which must be answered 0.
 */
struct helper_request {
	const char *text;
	size_t len;
};

/* Sets answers[i] to 1 or 0 for each of the n requests (n >= 1). */
typedef void (*helper_answer_fn)(void *ctx, const struct helper_request *,
    size_t n, int answers[]);

/*
 * Serves requests from fd in, answering on fd out, until end of input, an
 * unwritable output, or SIGTERM, SIGINT or SIGHUP. Each answer is one
 * write(2). Returns 0 in every case (a request never ends the loop), but -1
 * at once if /dev/null, which stopping needs, cannot be opened.
 */
int helper_serve(int in, int out, enum frame_protocol, helper_answer_fn,
    void *ctx);

#endif
