/*
 * Rules for this file:
 * 1. One answer per request, in order, each with a single write(2).
 * 2. Nothing here can fail loudly: errors end the loop quietly, and the
 *    caller exits 0 (servers do not restart a helper that exited with an
 *    error).
 * 3. Signals are only delivered inside ppoll, so a SIGTERM is never lost
 *    between checking for it and blocking on input.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Blocks the stop signals; *waiting gets the mask to wait with. */
static void
catch_stop_signals(sigset_t *waiting)
{
	struct sigaction sa;
	sigset_t stop;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, waiting);
	sigdelset(waiting, SIGTERM);
	sigdelset(waiting, SIGINT);
	sigdelset(waiting, SIGHUP);
}

static int
write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
answer(int out, const struct framer *f, int yes)
{
	uint8_t bytes[FRAME_ANSWER_MAX];

	return write_all(out, bytes, frame_answer(f, yes, bytes));
}

/* Answers every complete request buffered. Returns -1 if out is gone. */
static int
answer_buffered(int out, struct framer *f, helper_answer_fn fn, void *ctx)
{
	enum frame_event ev;
	const char *req = NULL;
	size_t len = 0;

	while ((ev = frame_next(f, &req, &len)) != FRAME_NEED_MORE)
		if (answer(out, f, ev == FRAME_REQUEST && fn(ctx, req, len)))
			return -1;
	return 0;
}

/* Waits for input; 0 when readable, -1 when a stop signal came. */
static int
wait_input(int in, const sigset_t *waiting)
{
	struct pollfd pfd = { .fd = in, .events = POLLIN };

	while (!stopping) {
		if (ppoll(&pfd, 1, NULL, waiting) >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
	return -1;
}

void
helper_serve(int in, int out, enum frame_protocol protocol,
    helper_answer_fn fn, void *ctx)
{
	static struct framer f;
	sigset_t waiting;
	uint8_t *space;
	size_t room;
	ssize_t n;

	catch_stop_signals(&waiting);
	frame_init(&f, protocol);
	for (;;) {
		if (wait_input(in, &waiting) == -1)
			break;
		space = frame_space(&f, &room);
		if ((n = read(in, space, room)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* End of input (EIO: the terminal's other side closed). */
			if (frame_end(&f) == FRAME_REJECT)
				answer(out, &f, 0);
			break;
		}
		frame_added(&f, (size_t)n);
		if (answer_buffered(out, &f, fn, ctx) == -1)
			break;
	}
	frame_wipe(&f);
}
