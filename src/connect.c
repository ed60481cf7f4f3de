/*
 * Rules for this file:
 * 1. Fail closed: a request the helper behind did not answer, or answered
 *    with anything but 1 or 0, gets 0.
 * 2. Answers never shift: a connection whose answers did not all come (it
 *    broke, timed out, or said something else) is closed before another
 *    request is sent, since a late answer would be taken for the next one.
 * 3. Nothing but answers reaches stdout; what goes wrong goes to syslog.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connect.h"
#include "io.h"
#include "log.h"
#include "serve.h"

#define ANSWER_SECONDS 5 /* as Prosody's provider waits, by default */

/* A batch's requests as lines, at most. */
#define LINES_MAX (SERVE_BATCH_MAX * (FRAME_MAX_REQUEST + 1))

struct connector {
	const char *path;
	int fd;
	char why[256]; /* the last failure logged, not to repeat it */
	char *lines;   /* LINES_MAX bytes: on the heap, so that the program
			* itself stays small enough to start with little
			* memory, and fail cleanly there */
};

static void
report(struct connector *c, const char *what)
{
	char why[256];

	snprintf(why, sizeof(why), "%s: %s", what, strerror(errno));
	if (strcmp(why, c->why) == 0)
		return;
	snprintf(c->why, sizeof(c->why), "%s", why);
	log_msg(LOG_ERR, "connect %s: %s; its logins are refused until it "
	    "answers (is the socket served? systemctl status "
	    "prosody-token-auth.socket)", c->path, why);
}

static void
hang_up(struct connector *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

static int
dial(struct connector *c)
{
	struct timeval tv = { ANSWER_SECONDS, 0 };
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(c->path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, c->path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		hang_up(c);
		return -1;
	}
	c->why[0] = '\0';
	return 0;
}

/* Whether a request can travel as one line to the helper behind. */
static int
fits_a_line(const struct serve_request *r)
{
	return r->text != NULL && memchr(r->text, '\n', r->len) == NULL &&
	    memchr(r->text, '\r', r->len) == NULL;
}

/* Reads k answers, each "1\n" or "0\n", into got[]; how many came. */
static size_t
read_answers(int fd, size_t k, int got[])
{
	char buf[2 * SERVE_BATCH_MAX];
	size_t have = 0, i;
	ssize_t n;

	while (have < 2 * k) {
		if ((n = recv(fd, buf + have, 2 * k - have, 0)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	for (i = 0; i < have / 2; i++) {
		if ((buf[2 * i] != '0' && buf[2 * i] != '1') ||
		    buf[2 * i + 1] != '\n')
			break;
		got[i] = buf[2 * i] == '1';
	}
	return i;
}

/* One try at the lines of a batch; the number of answers that came. */
static size_t
try_batch(struct connector *c, const char *lines, size_t len, size_t k,
    int got[])
{
	size_t n;

	if (c->fd == -1 && dial(c) == -1) {
		report(c, "cannot connect");
		return 0;
	}
	/* (SIGPIPE is ignored: the serve loop said so) */
	if (write_all(c->fd, lines, len, NULL) == -1) {
		report(c, "cannot send");
		hang_up(c);
		return 0;
	}
	if ((n = read_answers(c->fd, k, got)) < k) {
		if (n == 0 && errno == 0)
			errno = ECONNRESET;
		report(c, "no answer");
		hang_up(c);
	}
	return n;
}

/* Passes a batch on to the helper behind the socket, and its answers back. */
static void
relay_batch(void *ctx, const struct serve_request *reqs, size_t n,
    int answers[])
{
	struct connector *c = ctx;
	char *lines = c->lines;
	int got[SERVE_BATCH_MAX];
	size_t i, k = 0, len = 0, came;

	for (i = 0; i < n; i++) {
		answers[i] = 0;
		if (!fits_a_line(&reqs[i]))
			continue;
		memcpy(lines + len, reqs[i].text, reqs[i].len);
		len += reqs[i].len;
		lines[len++] = '\n';
		k++;
	}
	if (k == 0)
		return;
	/* A connection the helper closed while idle shows only now: once
	 * more on a new one. (Asking again is safe: a token it did take is
	 * a replay the second time.) */
	errno = 0;
	if ((came = try_batch(c, lines, len, k, got)) == 0 && c->fd == -1)
		came = try_batch(c, lines, len, k, got);
	for (i = 0, k = 0; i < n; i++)
		if (fits_a_line(&reqs[i]))
			answers[i] = k < came ? got[k++] : 0;
	explicit_bzero(lines, len);
}

static void
answered(void *ctx)
{
	(void)ctx;
}

int
connect_main(const char *socket_path, enum frame_protocol protocol)
{
	static const struct serve_limits none = { 0, 0 };
	struct connector c = { socket_path, -1, "", NULL };
	struct serve_handler h = { relay_batch, answered, NULL, NULL, &c };

	if ((c.lines = malloc(LINES_MAX)) == NULL) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	if (serve(STDIN_FILENO, STDOUT_FILENO, protocol, &none, &h) ==
	    SERVE_FAILED)
		log_msg(LOG_ERR, "cannot open /dev/null: %s", strerror(errno));
	hang_up(&c);
	free(c.lines);
	return 0;
}
