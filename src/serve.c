/*
 * Rules for this file:
 * 1. One answer per request, in order, each whole within a single
 *    write(2): a batch's answers, decided together, go in one (a reader
 *    sees the same bytes as from one write each, and cannot tell).
 * 2. Nothing here can fail loudly: errors end the loop quietly, and the
 *    caller exits 0 (servers do not restart a helper that exited with an
 *    error).
 * 3. A stop signal is never lost between checking for it and blocking on
 *    input: its handler also puts /dev/null in place of the input, so a
 *    read about to start sees end of input at once, and a read under way
 *    is interrupted (EINTR: the stop handlers do not restart calls).
 *    SIGHUP stops nothing: it is handed to the handler before the next
 *    batch is answered.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "serve.h"

static volatile sig_atomic_t stopping, hangup;
static int input = -1, devnull = -1;

static void
on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	stopping = 1;
	dup2(devnull, input);
	errno = saved;
}

static void
on_hangup(int sig)
{
	(void)sig;
	hangup = 1;
}

static int
catch_stop_signals(int in)
{
	struct sigaction sa;

	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	input = in;
	stopping = hangup = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hangup;
	sa.sa_flags = SA_RESTART; /* nothing to stop: a flag for later */
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static int
answer(int out, const struct framer *f, int yes, const char *reason)
{
	uint8_t bytes[FRAME_ANSWER_MAX];

	/* (stopping: the server may not read) */
	return write_all(out, bytes, frame_answer(f, yes, reason, bytes),
	    &stopping);
}

/* The reason for request i of the batch, where the client wants it. */
static const char *
reason_of(const struct framer *f, const struct serve_handler *h, size_t i)
{
	if (h->reason == NULL || !frame_wants_reasons(f))
		return NULL;
	return h->reason(h->ctx, i);
}

/*
 * The batch's n answers in one write(2) (rule 1): a batch decided together
 * costs one system call, not one per answer.
 */
static int
answer_all(int out, const struct framer *f, const struct serve_handler *h,
    const int answers[], size_t n)
{
	uint8_t bytes[SERVE_BATCH_MAX * FRAME_ANSWER_MAX];
	size_t len = 0, i;

	for (i = 0; i < n; i++)
		len += frame_answer(f, answers[i], reason_of(f, h, i),
		    bytes + len);
	return write_all(out, bytes, len, &stopping);
}

/*
 * Takes up to SERVE_BATCH_MAX complete requests from the buffer; *option
 * is set if the client's first line asked for reasons (then the batch is
 * empty: nothing comes before it).
 */
static size_t
take_requests(struct framer *f, struct serve_request reqs[SERVE_BATCH_MAX],
    int *option)
{
	enum frame_event ev;
	size_t n;

	*option = 0;
	for (n = 0; n < SERVE_BATCH_MAX; n++) {
		ev = frame_next(f, &reqs[n].text, &reqs[n].len);
		if (ev == FRAME_NEED_MORE)
			break;
		if (ev == FRAME_OPTIONS) {
			*option = 1;
			break;
		}
		if (ev == FRAME_REJECT) {
			reqs[n].text = NULL;
			reqs[n].len = 0;
		}
	}
	return n;
}

/* Answers every complete request buffered. Returns -1 if out is gone. */
static int
answer_buffered(int out, struct framer *f, const struct serve_handler *h)
{
	struct serve_request reqs[SERVE_BATCH_MAX];
	int answers[SERVE_BATCH_MAX];
	size_t n;
	int rc = 0, option;

	while (rc == 0) {
		n = take_requests(f, reqs, &option);
		if (n > 0) {
			h->answer(h->ctx, reqs, n, answers);
			rc = answer_all(out, f, h, answers, n);
			h->answered(h->ctx);
		}
		if (option && rc == 0)
			rc = answer(out, f, 1, NULL);
		else if (n == 0)
			break;
	}
	return rc;
}

/* At end of input, a request cut short is answered too. */
static void
answer_truncated(int out, struct framer *f, const struct serve_handler *h)
{
	const struct serve_request cut = { NULL, 0 };
	int yes;

	if (frame_end(f) == FRAME_REJECT) {
		h->answer(h->ctx, &cut, 1, &yes);
		answer(out, f, yes, reason_of(f, h, 0));
		h->answered(h->ctx);
	}
}

/*
 * Sets how long a read on the socket in may wait, when that changes. A
 * failure leaves the wait as it was: a limit on it is a kindness to the
 * server's pool, not a security rule.
 */
static void
set_wait(int in, unsigned seconds, unsigned *current)
{
	struct timeval tv = { (time_t)seconds, 0 };

	if (seconds == *current)
		return;
	if (setsockopt(in, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0)
		*current = seconds;
}

enum serve_end
serve(int in, int out, enum frame_protocol protocol,
    const struct serve_limits *limits, const struct serve_handler *h)
{
	static struct framer f;
	enum serve_end end = SERVE_INPUT_ENDED;
	unsigned waiting = 0;
	uint8_t *space;
	size_t room;
	ssize_t n;

	if (catch_stop_signals(in) == -1)
		return SERVE_FAILED;
	frame_init(&f, protocol);
	while (!stopping) {
		if (limits->idle_seconds > 0)
			set_wait(in, frame_pending(&f) ?
			    limits->partial_seconds : limits->idle_seconds,
			    &waiting);
		space = frame_space(&f, &room);
		if ((n = read(in, space, room)) == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			end = frame_pending(&f) ? SERVE_CUT_SHORT : SERVE_IDLE;
		if (n <= 0) {
			/* End of input (EIO: the terminal's other side closed),
			 * unless it is the signal's /dev/null. */
			if (!stopping)
				answer_truncated(out, &f, h);
			break;
		}
		frame_added(&f, (size_t)n);
		if (h->between != NULL) {
			int hup = hangup;

			hangup = 0;
			h->between(h->ctx, hup);
		}
		if (answer_buffered(out, &f, h) == -1)
			break;
	}
	frame_wipe(&f);
	close(devnull);
	devnull = -1;
	return stopping ? SERVE_STOPPED : end;
}
