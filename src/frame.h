/*
 * Framing of the helper protocol: turns a byte stream into requests and
 * answers into bytes. Knows nothing of what a request means.
 *
 *   generic:  one request per line ('\n'; a trailing '\r' is ignored);
 *             answers "1\n" / "0\n".
 *   ejabberd: a 2-byte big-endian length, then that many bytes; answers
 *             00 02 00 01 / 00 02 00 00.
 *
 * A generic client may ask, with its very first line "options:reasons"
 * (answered "1"), for the reason with each answer: "0 replayed". Any other
 * client, and one that does not ask, gets the answers above and nothing
 * more.
 */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX_REQUEST 4096	/* longer requests are refused whole */
#define FRAME_BUF_SIZE	  65536
#define FRAME_REASON_MAX  31 /* a reason's characters, at most */
#define FRAME_ANSWER_MAX  (2 + FRAME_REASON_MAX + 1)

enum frame_protocol { FRAME_DETECT, FRAME_GENERIC, FRAME_EJABBERD };

enum frame_event {
	FRAME_NEED_MORE, /* no complete request buffered */
	FRAME_REQUEST,	 /* a request: answer it */
	FRAME_REJECT,	 /* an oversized or truncated request: answer 0 */
	FRAME_OPTIONS,	 /* the first line asked for reasons: answer 1 */
};

struct framer {
	enum frame_protocol protocol;
	uint8_t buf[FRAME_BUF_SIZE];
	size_t start, end; /* unconsumed bytes are buf[start..end) */
	size_t skip;	   /* bytes of an oversized request still to drop */
	int oversized;	   /* dropping the rest of an oversized request */
	int begun;	   /* a request has been framed */
	int reasons;	   /* the client asked for reasons */
};

/*
 * protocol FRAME_DETECT decides from the first bytes: generic if they are a
 * command and ':' ("auth:", "isuser:", ...), ejabberd otherwise.
 */
void frame_init(struct framer *, enum frame_protocol);

/* Where to put newly read bytes, and how many fit (never 0). */
uint8_t *frame_space(struct framer *, size_t *room);
void frame_added(struct framer *, size_t n);

/* The next event; for FRAME_REQUEST, *req and *len point into the buffer. */
enum frame_event frame_next(struct framer *, const char **req, size_t *len);

/* Whether part of a request is buffered (or being dropped, if oversized). */
int frame_pending(const struct framer *);

/* At end of input: FRAME_REJECT if a truncated request remains, once. */
enum frame_event frame_end(struct framer *);

/* Whether the client asked for the reason with each answer. */
int frame_wants_reasons(const struct framer *);

/*
 * The answer's bytes; returns their count. The reason (a word of a-z and
 * '_', at most FRAME_REASON_MAX; or NULL) is sent only where the client
 * asked for it, and only if it is such a word.
 */
size_t frame_answer(const struct framer *, int yes, const char *reason,
    uint8_t out[FRAME_ANSWER_MAX]);

/* Wipes the buffer: requests carry tokens. */
void frame_wipe(struct framer *);

#endif
