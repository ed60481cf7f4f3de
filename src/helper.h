/*
 * The protocol loop: read, frame, answer, write. It knows nothing of tokens:
 * each request goes to the answer function, which returns 1 or 0.
 */
#ifndef HELPER_H
#define HELPER_H

#include <stddef.h>

#include "frame.h"

typedef int (*helper_answer_fn)(void *ctx, const char *req, size_t len);

/*
 * Serves requests from fd in, answering on fd out, until end of input, an
 * unwritable output, or SIGTERM, SIGINT or SIGHUP. Each answer is one
 * write(2). Returns normally in every case: a request never ends the loop.
 */
void helper_serve(int in, int out, enum frame_protocol, helper_answer_fn,
    void *ctx);

#endif
