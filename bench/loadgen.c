/*
 * The load generator of the benchmarks: mints every request before the clock
 * starts, then drives one helper over a pipe, a pseudo-terminal or a Unix
 * socket, ping-pong (one request outstanding, as servers use a helper) or
 * pipelined (a window of requests outstanding), checks every answer against
 * the one expected, and prints one line of key=value figures:
 *
 *   loadgen [options] -- COMMAND [ARGS...]     (pipe, pty: the helper to run)
 *   loadgen [options] --socket PATH            (a served socket)
 *
 *   --config FILE     the secrets to mint tokens with (required, but
 *                     with --requests-from)
 *   --requests-from FILE
 *                     requests made beforehand, one a line, each to be
 *                     accepted (JWTs: bench/jwt_floor.c --emit), in place
 *                     of minted ones; the first warmup of them untimed
 *   --transport pipe|pty|socket                                (pipe)
 *   --framing generic|ejabberd                                 (generic)
 *   --requests N      timed requests                           (100000)
 *   --warmup N        untimed requests first                   (1000)
 *   --window N        requests outstanding; 1 is ping-pong     (1)
 *   --mix valid|isuser|mixed                                   (valid)
 *   --users N         the users valid tokens are for           (1000)
 *   --label NAME      first field of the output line
 *   --no-check        do not compare answers (for the transport floor)
 *
 * valid: fresh tokens for b0@example.org to b<N-1> in turn (N: --users),
 * each accepted once (replay_per_user must allow each its share of the
 * run: the store holds that many live nonces for the JID); isuser:
 * isuser requests; mixed: one in eight valid, the rest replays, bad
 * signatures, another user, expired tokens, malformed requests and isuser.
 * The helper's memory (VmHWM, VmRSS, RssAnon, RssFile from /proc) is read
 * just before its input is closed, for pipe and pty.
 */
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "jid.h"
#include "token.h"

#define ANSWER_TIMEOUT_MS 30000
#define MAX_REQ		  (TOKEN_MAX_LEN + 64)

enum transport { PIPE, PTY, SOCK };

static struct {
	const char *config, *socket, *label, *requests_from;
	enum transport transport;
	int ejabberd, check;
	size_t requests, warmup, window, users;
	const char *mix;
	char **command;
} opt = { NULL, NULL, "run", NULL, PIPE, 0, 1, 100000, 1000, 1, 1000, "valid",
	NULL };

static char *reqbuf;	  /* every request, framed, back to back */
static size_t *reqoff;	  /* request i is reqbuf[reqoff[i]..reqoff[i+1]) */
static char *expected;	  /* 1 or 0 per request */
static uint64_t *sent_ns; /* when request i was written */
static uint64_t *lat_ns;  /* its latency */

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static _Noreturn void
dief(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen --config FILE [--transport pipe|pty|socket] "
	    "[--socket PATH]\n"
	    "               [--framing generic|ejabberd] [--requests N] "
	    "[--warmup N]\n"
	    "               [--window N] [--mix valid|isuser|mixed] "
	    "[--label NAME]\n"
	    "               [--users N] [--no-check] [--requests-from FILE] "
	    "[-- COMMAND ARGS...]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--") == 0) {
			opt.command = argv + i + 1;
			break;
		}
		if (strcmp(a, "--no-check") == 0) {
			opt.check = 0;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--config") == 0)
			opt.config = v;
		else if (strcmp(a, "--socket") == 0) {
			opt.socket = v;
			opt.transport = SOCK;
		} else if (strcmp(a, "--transport") == 0)
			opt.transport = strcmp(v, "pty") == 0 ? PTY :
			    strcmp(v, "socket") == 0	      ? SOCK :
							      PIPE;
		else if (strcmp(a, "--framing") == 0)
			opt.ejabberd = strcmp(v, "ejabberd") == 0;
		else if (strcmp(a, "--requests") == 0)
			opt.requests = strtoul(v, NULL, 10);
		else if (strcmp(a, "--warmup") == 0)
			opt.warmup = strtoul(v, NULL, 10);
		else if (strcmp(a, "--window") == 0)
			opt.window = strtoul(v, NULL, 10);
		else if (strcmp(a, "--mix") == 0)
			opt.mix = v;
		else if (strcmp(a, "--users") == 0)
			opt.users = strtoul(v, NULL, 10);
		else if (strcmp(a, "--label") == 0)
			opt.label = v;
		else if (strcmp(a, "--requests-from") == 0)
			opt.requests_from = v;
		else
			usage();
	}
	if ((opt.config == NULL && opt.requests_from == NULL) ||
	    opt.window == 0 || opt.requests == 0 || opt.users == 0 ||
	    (opt.transport == SOCK ? opt.socket == NULL :
				     opt.command == NULL || !*opt.command))
		usage();
	if (opt.transport == PTY && opt.ejabberd)
		dief("ejabberd framing cannot cross a terminal");
}

/* --- minting ---------------------------------------------------------- */

static struct config cfg;
static const struct token_keys *keys;

static void
mint(char *out, const char *user, time_t when, int nonce_from_rng)
{
	char nonce[TOKEN_MAX_NONCE];
	struct jid j;
	unsigned i;

	for (i = 0; i < cfg.params.nonce_digits; i++)
		nonce[i] = nonce_from_rng ? (char)('0' + rng() % 10) : '7';
	if (jid_set(&j, user, strlen(user), "example.org", 11) == -1 ||
	    token_format(nonce, &j, &keys->current, &cfg.params, when,
		out) == -1)
		dief("cannot mint a token");
}

/* Appends one framed request to reqbuf at *len. */
static void
add(size_t *len, const char *text, size_t n)
{
	char *p = reqbuf + *len;

	if (opt.ejabberd) {
		p[0] = (char)(n >> 8);
		p[1] = (char)(n & 0xff);
		memcpy(p + 2, text, n);
		*len += n + 2;
	} else {
		memcpy(p, text, n);
		p[n] = '\n';
		*len += n + 1;
	}
}

/* Room for total requests of bytes in all, their answers and times. */
static void
allocate(size_t total, size_t bytes)
{
	if ((reqbuf = malloc(bytes)) == NULL ||
	    (reqoff = malloc((total + 1) * sizeof(*reqoff))) == NULL ||
	    (expected = malloc(total)) == NULL ||
	    (sent_ns = calloc(total, sizeof(*sent_ns))) == NULL ||
	    (lat_ns = calloc(total, sizeof(*lat_ns))) == NULL)
		die("malloc");
}

static void
make_requests(size_t total)
{
	time_t now = time(NULL);
	/* Minted one step ahead: accepted at once (the window) and for a
	 * minute or more, however long the run. */
	time_t fresh = now + (time_t)cfg.params.otp_interval;
	time_t stale = now - (time_t)((cfg.params.otp_window + 3) *
				 cfg.params.otp_interval);
	char tok[TOKEN_MAX_LEN + 1], text[MAX_REQ], last_valid[MAX_REQ] = "";
	char user[24];
	size_t i, len = 0, n;
	int kind, yes;

	allocate(total, total * (MAX_REQ + 3));
	for (i = 0; i < total; i++) {
		reqoff[i] = len;
		kind = strcmp(opt.mix, "valid") == 0 ? 0 :
		    strcmp(opt.mix, "isuser") == 0   ? 7 :
						       (int)(rng() % 8);
		if (kind == 1 && last_valid[0] == '\0')
			kind = 0;
		yes = 0;
		switch (kind) {
		case 0: /* valid, for one of the users in turn */
			snprintf(user, sizeof(user), "b%zu", i % opt.users);
			mint(tok, user, fresh, 1);
			n = (size_t)snprintf(text, sizeof(text),
			    "auth:%s:example.org:%s", user, tok);
			memcpy(last_valid, text, n + 1);
			yes = 1;
			break;
		case 1: /* replay of an earlier valid one */
			n = strlen(last_valid);
			memcpy(text, last_valid, n);
			break;
		case 2: /* bad signature: one base64 digit changed */
			mint(tok, "bob", fresh, 1);
			n = (size_t)snprintf(text, sizeof(text),
			    "auth:bob:example.org:%s", tok);
			text[n - 10] = text[n - 10] == 'A' ? 'B' : 'A';
			break;
		case 3: /* another user's token */
			mint(tok, "alice", fresh, 1);
			n = (size_t)snprintf(text, sizeof(text),
			    "auth:bob:example.org:%s", tok);
			break;
		case 4: /* expired */
			mint(tok, "bob", stale, 1);
			n = (size_t)snprintf(text, sizeof(text),
			    "auth:bob:example.org:%s", tok);
			break;
		case 5: /* malformed */
			n = (size_t)snprintf(text, sizeof(text),
			    "auth:bob:example.org:%llu not a token",
			    (unsigned long long)rng());
			break;
		case 6: /* an unknown command */
			n = (size_t)snprintf(text, sizeof(text),
			    "setpass:bob:example.org:x");
			break;
		default: /* isuser */
			n = (size_t)snprintf(text, sizeof(text),
			    "isuser:u%u:example.org", (unsigned)(rng() % 1000));
			yes = 1;
			break;
		}
		add(&len, text, n);
		expected[i] = (char)yes;
	}
	reqoff[total] = len;
	explicit_bzero(tok, sizeof(tok));
}

/* Reads total requests, one a line, from path: each one to accept. */
static void
read_requests(const char *path, size_t total)
{
	char *line = NULL;
	size_t cap = 0, i, len = 0;
	ssize_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		die(path);
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1)
		die(path);
	/* At most one framing byte more a line than the file has. */
	allocate(total, (size_t)n + 2 * total + 1);
	for (i = 0; i < total; i++) {
		if ((n = getline(&line, &cap, f)) <= 1)
			dief("fewer requests in the file than warm-up and "
			     "timed requests together");
		if (line[n - 1] == '\n')
			n--;
		if (opt.ejabberd && n > 0xffff)
			dief("a request too long for ejabberd's framing");
		reqoff[i] = len;
		add(&len, line, (size_t)n);
		expected[i] = 1;
	}
	reqoff[total] = len;
	free(line);
	fclose(f);
}

/* --- transports ------------------------------------------------------- */

static pid_t child = -1;

static void
spawn_pipe(int *to, int *from)
{
	int in[2], out[2];

	if (pipe(in) == -1 || pipe(out) == -1)
		die("pipe");
	if ((child = fork()) == -1)
		die("fork");
	if (child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execvp(opt.command[0], opt.command);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = out[0];
}

/* As lua-lpty does it, less its quirks: the slave is the helper's
 * controlling terminal, stdin and stdout; we wait until the helper has
 * put it in raw mode, since input that arrives before is dropped. */
static void
spawn_pty(int *to, int *from)
{
	struct termios t;
	int master, slave, devnull;
	uint64_t deadline;

	if ((master = posix_openpt(O_RDWR | O_NOCTTY)) == -1 ||
	    grantpt(master) == -1 || unlockpt(master) == -1)
		die("posix_openpt");
	if ((child = fork()) == -1)
		die("fork");
	if (child == 0) {
		setsid();
		if ((slave = open(ptsname(master), O_RDWR)) == -1)
			_exit(127);
		ioctl(slave, TIOCSCTTY, 0);
		devnull = open("/dev/null", O_WRONLY);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(devnull, 2);
		close(master);
		execvp(opt.command[0], opt.command);
		_exit(127);
	}
	deadline = now_ns() + 30ull * 1000000000u;
	for (;;) {
		if (tcgetattr(master, &t) == 0 &&
		    !(t.c_lflag & (ECHO | ICANON | ISIG | IEXTEN)) &&
		    !(t.c_oflag & OPOST))
			break;
		if (now_ns() > deadline)
			dief("the helper never put the terminal in raw mode");
		usleep(1000);
	}
	*to = *from = master;
}

static void
connect_socket(int *to, int *from)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(opt.socket) >= sizeof(sa.sun_path))
		dief("socket path too long");
	strcpy(sa.sun_path, opt.socket);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		die("socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die(opt.socket);
	*to = *from = s;
}

/* Prints the helper's memory figures from /proc (pipe and pty). */
static void
memory_figures(char *out, size_t size)
{
	char path[64], line[4352];
	const char *keys_[] = { "VmHWM:", "VmRSS:", "RssAnon:", "RssFile:" };
	const char *names[] = { "hwm_kb", "rss_kb", "anon_kb", "file_kb" };
	size_t used = 0, k;
	long store_kb = 0;
	int in_store = 0;
	FILE *f;

	out[0] = '\0';
	if (child <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)child);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		for (k = 0; k < 4; k++)
			if (strncmp(line, keys_[k], strlen(keys_[k])) == 0 &&
			    used < size)
				used += (size_t)snprintf(out + used,
				    size - used, " %s=%ld", names[k],
				    strtol(line + strlen(keys_[k]), NULL,
					10));
	fclose(f);

	/* The replay store's share: the resident pages of its two maps. */
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)child);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		/* A mapping's first line starts with its address (lower-case
		 * hex); its fields ("Rss:   12 kB") with a capital. */
		if ((line[0] >= '0' && line[0] <= '9') ||
		    (line[0] >= 'a' && line[0] <= 'f'))
			in_store = n > 9 &&
			    (strcmp(line + n - 9, "/data.mdb") == 0 ||
				strcmp(line + n - 9, "/lock.mdb") == 0);
		else if (in_store && strncmp(line, "Rss:", 4) == 0)
			store_kb += strtol(line + 4, NULL, 10);
	}
	fclose(f);
	if (used < size)
		snprintf(out + used, size - used, " store_kb=%ld", store_kb);
}

/* --- the run ------------------------------------------------------------ */

static size_t mismatches;

/* Reads what answers are there (blocking until at least one byte, bounded),
 * matching them to requests from *done on; returns how many completed. */
static size_t
read_answers(int from, size_t *done, size_t sent)
{
	static char ans[8];
	static size_t have;
	const size_t alen = opt.ejabberd ? 4 : 2;
	char buf[65536];
	struct pollfd p = { .fd = from, .events = POLLIN };
	size_t i, got = 0;
	uint64_t t;
	ssize_t n;
	int yes;

	/* Reads block at once, the watchdog bounding the wait, except on a
	 * terminal's descriptor, non-blocking when pipelined: poll first. */
	if (opt.window > 1 && opt.transport == PTY &&
	    poll(&p, 1, ANSWER_TIMEOUT_MS) == 0)
		dief("no answer within the time limit: the helper hangs");
	if ((n = read(from, buf, sizeof(buf))) <= 0) {
		if (n == -1 && errno == EINTR)
			return 0;
		fprintf(stderr, "loadgen: the helper stopped answering after "
				"%zu answers\n",
		    *done);
		exit(1);
	}
	t = now_ns();
	for (i = 0; i < (size_t)n; i++) {
		ans[have++] = buf[i];
		if (have < alen)
			continue;
		have = 0;
		if (*done >= sent)
			dief("an answer to no request");
		yes = opt.ejabberd ? memcmp(ans, "\0\2\0\1", 4) == 0 :
				     memcmp(ans, "1\n", 2) == 0;
		if (!(opt.ejabberd ? memcmp(ans, "\0\2\0", 3) == 0 &&
			      (ans[3] == 0 || ans[3] == 1) :
				     ans[1] == '\n' &&
			      (ans[0] == '0' || ans[0] == '1')))
			dief("a malformed answer: framing lost");
		if (opt.check && yes != expected[*done])
			mismatches++;
		lat_ns[*done] = t - sent_ns[*done];
		(*done)++;
		got++;
	}
	return got;
}

static void
write_all(int to, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(to, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			die("write to the helper");
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Runs requests [first, last): ping-pong when the window is 1. */
static void
drive(int to, int from, size_t first, size_t last)
{
	size_t sent = first, done = first, k, bytes, partial = 0, end;
	size_t armed = first;
	int flags = 0;
	ssize_t w;
	uint64_t t;

	if (opt.window == 1) {
		for (; sent < last; sent++) {
			if (sent % 1024 == 0)
				alarm(ANSWER_TIMEOUT_MS / 1000);
			sent_ns[sent] = now_ns();
			write_all(to, reqbuf + reqoff[sent],
			    reqoff[sent + 1] - reqoff[sent]);
			while (done <= sent)
				read_answers(from, &done, sent + 1);
		}
		return;
	}
	/*
	 * Pipelined: the window is refilled once half of it is answered, with
	 * one non-blocking write (a full pipe must never stop answers from
	 * being read); otherwise the answers are read as they come, with a
	 * blocking read. Pipes have separate ends; a socket sends with
	 * MSG_DONTWAIT; a terminal's one descriptor is non-blocking and
	 * polled before each read.
	 */
	if (opt.transport != SOCK) {
		flags = fcntl(to, F_GETFL);
		fcntl(to, F_SETFL, flags | O_NONBLOCK);
	}
	while (done < last) {
		int blocked = 0;

		if (done >= armed) {
			alarm(ANSWER_TIMEOUT_MS / 1000);
			armed = done + 1024;
		}
		if (sent < last && (sent - done <= opt.window / 2 || partial)) {
			k = done + opt.window < last ? done + opt.window : last;
			bytes = reqoff[k] - reqoff[sent] - partial;
			t = now_ns();
			w = opt.transport == SOCK ?
			    send(to, reqbuf + reqoff[sent] + partial, bytes,
				MSG_DONTWAIT | MSG_NOSIGNAL) :
			    write(to, reqbuf + reqoff[sent] + partial, bytes);
			if (w == -1 && errno != EAGAIN && errno != EINTR)
				die("write to the helper");
			blocked = w == -1;
			if (w > 0) {
				end = reqoff[sent] + partial + (size_t)w;
				while (sent < k && reqoff[sent + 1] <= end)
					sent_ns[sent++] = t;
				partial = end - reqoff[sent];
			}
		}
		if (done < sent) {
			read_answers(from, &done, sent);
		} else if (blocked) {
			/* Nothing outstanding: wait until the helper reads. */
			struct pollfd p = { .fd = to, .events = POLLOUT };

			if (poll(&p, 1, ANSWER_TIMEOUT_MS) == 0)
				dief("the helper reads nothing: it hangs");
		}
	}
	if (opt.transport != SOCK)
		fcntl(to, F_SETFL, flags);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "loadgen: no answer within the time "
				   "limit: the helper hangs\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	char err[CONFIG_ERR_LEN], mem[256];
	size_t total, i, yes = 0, p50, p99;
	uint64_t start, elapsed;
	int to, from, status = 0;
	uint64_t seed;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	total = opt.warmup + opt.requests;
	if (opt.requests_from != NULL) {
		read_requests(opt.requests_from, total);
	} else {
		CRYPTO_secure_malloc_init(32768, 32);
		if (config_load(opt.config, &cfg, err) == -1)
			dief(err);
		if ((keys = config_keys(&cfg, "example.org", 11)) == NULL)
			dief("no secrets for example.org in the config");
		if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			die("getrandom");
		rng_state = seed;
		make_requests(total);
	}

	if (opt.transport == PIPE)
		spawn_pipe(&to, &from);
	else if (opt.transport == PTY)
		spawn_pty(&to, &from);
	else
		connect_socket(&to, &from);

	drive(to, from, 0, opt.warmup);
	start = now_ns();
	drive(to, from, opt.warmup, total);
	elapsed = now_ns() - start;
	alarm(0);
	memory_figures(mem, sizeof(mem));

	if (to == from)
		shutdown(to, SHUT_WR); /* a socket; a no-op error for a pty */
	if (to != from)
		close(to);
	if (child > 0) {
		if (opt.transport == PTY)
			kill(child, SIGTERM); /* no end of input on a pty */
		if (waitpid(child, &status, 0) == -1)
			die("waitpid");
	}
	close(from);

	for (i = opt.warmup; i < total; i++)
		yes += (size_t)expected[i];
	qsort(lat_ns + opt.warmup, opt.requests, sizeof(*lat_ns), cmp_u64);
	p50 = opt.warmup + opt.requests / 2;
	p99 = opt.warmup + opt.requests * 99 / 100;
	printf("%s requests=%zu seconds=%.3f rps=%.0f p50_us=%.2f "
	       "p99_us=%.2f expected_yes=%zu mismatches=%zu exit=%d%s\n",
	    opt.label, opt.requests, (double)elapsed / 1e9,
	    (double)opt.requests * 1e9 / (double)elapsed,
	    (double)lat_ns[p50] / 1e3, (double)lat_ns[p99] / 1e3, yes,
	    mismatches,
	    WIFEXITED(status) ? WEXITSTATUS(status) :
				128 + WTERMSIG(status),
	    mem);
	if (opt.requests_from == NULL)
		config_free(&cfg);
	return mismatches == 0 ? 0 : 1;
}
