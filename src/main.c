/*
 * prosody-token-auth: verifies collective.converse tokens for XMPP servers.
 *
 * Security rules for this file:
 * 1. Before anything else: no core dumps and not dumpable, so secrets cannot
 *    leave the process that way; a private umask.
 * 2. Start-up may fail loudly, naming the file and line; once requests are
 *    read, nothing fails loudly and the exit status is 0.
 * 3. When stdin is a terminal it goes raw before any request is read.
 * 4. Descriptors 0, 1 and 2 are open before any file is: otherwise the
 *    replay store could get descriptor 1 and answers be written into it.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "config.h"
#include "connect.h"
#include "listen.h"
#include "log.h"
#include "reload.h"
#include "replay.h"
#include "sandbox.h"
#include "secmem.h"
#include "serve.h"
#include "term.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

/* OpenSSL's locked copies of the HMAC keys: room for two configs (while one
 * replaces the other) of a hundred domains with two pairs each. */
#define SECURE_HEAP_SIZE 131072

#define SOCKET_IDLE_SECONDS    300 /* a connection with no request */
#define SOCKET_PARTIAL_SECONDS 10  /* the rest of a request begun */
#define HELPER_ARGS_MAX	       10  /* serve's helpers' argv, NULL included */

struct options {
	const char *config;
	enum frame_protocol protocol;
	enum log_target log;
	int sandbox; /* confine the helper once started (--no-sandbox: no) */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: prosody-token-auth [--config FILE] [--protocol "
	    "generic|ejabberd]\n"
	    "                          [--log syslog|stderr] [--no-sandbox]\n"
	    "       prosody-token-auth [--config FILE] mint USER@DOMAIN\n"
	    "       prosody-token-auth [--config FILE] mint USER@DOMAIN --jwt "
	    "--private-key FILE\n"
	    "                          --kid KID\n"
	    "       prosody-token-auth [--config FILE] verify USER@DOMAIN "
	    "TOKEN\n"
	    "       prosody-token-auth [--config FILE] check-config\n"
	    "       prosody-token-auth [--config FILE] reset-store\n"
	    "       prosody-token-auth [--config FILE] rotate-secrets "
	    "[--domain D]\n"
	    "                          [--overlap DURATION] [--force]\n"
	    "       prosody-token-auth gen-secrets\n"
	    "       prosody-token-auth jwt-keygen --kid KID [--alg "
	    "EdDSA|ES256|RS256|HS256]\n"
	    "                          --jwks FILE --private-key OUT\n"
	    "       prosody-token-auth [--protocol ejabberd] connect "
	    "[SOCKET]\n"
	    "       prosody-token-auth [--config FILE] [--log syslog|stderr] "
	    "serve --listen PATH\n"
	    "                          [--mode 0660] [--group GROUP] "
	    "[--user USER]\n"
	    "                          [--max-connections N]\n"
	    "       prosody-token-auth --help | --version\n"
	    "\n"
	    "With no subcommand, answers an XMPP server's auth requests on "
	    "stdin/stdout.\n"
	    "The config is FILE, else $%s, else %s.\n"
	    "See prosody-token-auth(1).\n",
	    CONFIG_ENV, CONFIG_DEFAULT_PATH);
}

/* Puts /dev/null on any of 0, 1, 2 that is closed; 1 if stdout was. */
static int
open_standard_fds(void)
{
	int fd, stdout_closed = 0;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		stdout_closed |= fd == STDOUT_FILENO;
		if (open("/dev/null", O_RDWR) != fd)
			_exit(1);
	}
	return stdout_closed;
}

/*
 * The one way start-up fails: the message to stderr, as people expect, and
 * to the log (which must be open: before the options are read, syslog),
 * then exit 1. Once serving, nothing fails loudly.
 */
static void
fail_start(enum log_target log, const char *what, const char *msg)
{
	log_msg(LOG_ERR, "%s%s", what, msg);
	if (log == LOG_TO_SYSLOG)
		fprintf(stderr, "prosody-token-auth: %s%s\n", what, msg);
	exit(1);
}

static void
harden(void)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0) == -1 ||
	    setrlimit(RLIMIT_CORE, &none) == -1) {
		log_open(LOG_TO_SYSLOG);
		fail_start(LOG_TO_SYSLOG, "cannot disable core dumps: ",
		    strerror(errno));
	}
	umask(077);
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },
		{ "no-sandbox", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "generic") == 0)
				o->protocol = FRAME_GENERIC;
			else if (strcmp(optarg, "ejabberd") == 0)
				o->protocol = FRAME_EJABBERD;
			else
				errx(2, "--protocol: '%s' is neither 'generic' "
				    "nor 'ejabberd'", optarg);
			break;
		case 'l':
			if (strcmp(optarg, "syslog") == 0)
				o->log = LOG_TO_SYSLOG;
			else if (strcmp(optarg, "stderr") == 0)
				o->log = LOG_TO_STDERR;
			else
				errx(2, "--log: '%s' is neither 'syslog' nor "
				    "'stderr'", optarg);
			break;
		case 'S':
			o->sandbox = 0;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("prosody-token-auth %s\n", VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
}

static const char *
config_path(const struct options *o)
{
	const char *env = getenv(CONFIG_ENV);

	if (o->config != NULL)
		return o->config;
	if (env != NULL && *env != '\0')
		return env;
	return CONFIG_DEFAULT_PATH;
}

static void
load_config(const struct options *o, struct config *c)
{
	char msg[CONFIG_ERR_LEN];

	if (config_load(config_path(o), c, msg) == -1)
		fail_start(o->log, "", msg);
	if (replay_check_place(&c->replay, msg) == -1)
		fail_start(o->log, "replay store: ", msg);
	if (config_lock_warning() != NULL)
		log_msg(LOG_WARNING, "%s", config_lock_warning());
}

/*
 * From here on the helper (with c NULL: the connector) does only what
 * serving needs (sandbox.h). What it reads lazily is read first: the time
 * zone, for the log's dates.
 */
static void
confine(const struct options *o, const struct config *c)
{
	char msg[SANDBOX_ERR_LEN];

	tzset();
	if ((c != NULL ? sandbox_enter(c, msg) : sandbox_enter_connector(msg))
	    == -1)
		fail_start(o->log, "cannot confine the helper: ", msg);
	if (msg[0] != '\0')
		log_msg(LOG_WARNING, "%s", msg);
}

/*
 * On a socket (the packaged socket service, one helper per connection) a
 * connection nobody uses ends, so that it does not hold one of the
 * socket's MaxConnections for ever: Prosody's provider closes its idle ones
 * after a minute. Over pipes and terminals the server keeps its helpers.
 */
static const struct serve_limits *
limits_for(int in)
{
	static const struct serve_limits on_socket = { SOCKET_IDLE_SECONDS,
		SOCKET_PARTIAL_SECONDS };
	static const struct serve_limits none = { 0, 0 };
	struct stat st;

	return fstat(in, &st) == 0 && S_ISSOCK(st.st_mode) ? &on_socket :
							      &none;
}

static void
report_end(enum serve_end end)
{
	switch (end) {
	case SERVE_FAILED:
		log_msg(LOG_ERR, "cannot open /dev/null: %s", strerror(errno));
		break;
	case SERVE_IDLE:
		log_msg(LOG_INFO, "closing the connection: no request for %d s",
		    SOCKET_IDLE_SECONDS);
		break;
	case SERVE_CUT_SHORT:
		log_msg(LOG_NOTICE, "closing the connection: a request begun "
		    "was not finished within %d s", SOCKET_PARTIAL_SECONDS);
		break;
	default:
		break;
	}
}

/* What the serve loop's handler works with. */
struct helper {
	struct auth *auth;
	struct reload *reload;
};

static void
answer_batch(void *ctx, const struct serve_request *reqs, size_t n,
    int answers[])
{
	struct helper *h = ctx;

	auth_answer(h->auth, reqs, n, answers);
}

static const char *
reason(void *ctx, size_t i)
{
	struct helper *h = ctx;

	return auth_answer_reason(h->auth, i);
}

static void
answered(void *ctx)
{
	struct helper *h = ctx;

	auth_log_answered(h->auth);
}

static void
between(void *ctx, int hup)
{
	struct helper *h = ctx;

	reload_between(h->reload, hup);
}

static int
serve_helper(const struct options *o, pid_t parent, int stdout_closed)
{
	struct helper helper = { NULL, NULL };
	struct serve_handler h = { answer_batch, answered, between, reason,
	    &helper };
	struct config *c;

	log_open(o->log);
	if (stdout_closed) {
		log_msg(LOG_ERR, "started with stdout closed: nowhere to "
		    "answer, exiting");
		return 0;
	}
	if (term_prepare(STDIN_FILENO, parent) == -1) {
		log_msg(LOG_ERR, "stdin is a terminal that cannot be set to "
		    "raw mode, or the parent is gone: exiting");
		return 0;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fail_start(o->log, "", "out of memory");
	load_config(o, c);
	if ((helper.auth = auth_open(c, AUTH_SERVE)) == NULL ||
	    (helper.reload = reload_open(c, helper.auth, o->sandbox)) ==
	    NULL)
		fail_start(o->log, "", "out of memory");
	if (o->sandbox)
		confine(o, c);
	report_end(serve(STDIN_FILENO, STDOUT_FILENO, o->protocol,
	    limits_for(STDIN_FILENO), &h));
	auth_close(helper.auth);
	reload_close(helper.reload);
	return 0;
}

/* connect [SOCKET]: ejabberd's way to the helper behind the socket. */
static int
run_connector(const struct options *o, int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "prosody-token-auth: connect takes at most one "
		    "argument, the helper's socket (default %s)\n",
		    CONNECT_DEFAULT_SOCKET);
		return 2;
	}
	log_open(o->log);
	if (o->sandbox)
		confine(o, NULL);
	return connect_main(argc == 2 ? argv[1] : CONNECT_DEFAULT_SOCKET,
	    o->protocol);
}

/*
 * The helpers serve accepts run as this program again, with the options it
 * was given: the same config, log, framing and sandbox.
 */
static void
helper_arguments(const struct options *o, char *argv[HELPER_ARGS_MAX])
{
	size_t n = 0;

	argv[n++] = (char *)"prosody-token-auth";
	argv[n++] = (char *)"--config";
	argv[n++] = (char *)config_path(o);
	argv[n++] = (char *)"--log";
	argv[n++] = (char *)(o->log == LOG_TO_STDERR ? "stderr" : "syslog");
	if (o->protocol != FRAME_DETECT) {
		argv[n++] = (char *)"--protocol";
		argv[n++] = (char *)(o->protocol == FRAME_EJABBERD ?
			"ejabberd" : "generic");
	}
	if (!o->sandbox)
		argv[n++] = (char *)"--no-sandbox";
	argv[n] = NULL;
}

/*
 * serve --listen PATH: the socket without systemd (listen.h). The config
 * is loaded once here, as the helpers' user, so that one they could not
 * load, or a store they could not write, fails the start, loudly, rather
 * than every login; then it is wiped, since the server itself needs no
 * secret.
 */
static int
run_listener(const struct options *o, int argc, char **argv)
{
	struct listen_options lo;
	char err[LISTEN_ERR_LEN], msg[CONFIG_ERR_LEN];
	struct listener *l;
	struct config *c;
	char *helper[HELPER_ARGS_MAX];
	int rc;

	if ((rc = listen_parse(argc, argv, &lo)) != 0)
		return rc;
	log_open(o->log);
	if ((l = listen_open(&lo, err)) == NULL)
		fail_start(o->log, "", err);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		listen_close(l);
		fail_start(o->log, "", "out of memory");
	}
	if (config_load(config_path(o), c, msg) == -1) {
		listen_close(l);
		fail_start(o->log, "", msg);
	}
	if ((rc = replay_check_place(&c->replay, msg)) == 0)
		rc = replay_check_usable(&c->replay, msg);
	config_free(c);
	free(c);
	if (rc == -1) {
		listen_close(l);
		fail_start(o->log, "replay store: ", msg);
	}
	helper_arguments(o, helper);
	return listen_serve(l, helper);
}

int
main(int argc, char **argv)
{
	struct options o = { NULL, FRAME_DETECT, LOG_TO_SYSLOG, 1 };
	pid_t parent = getppid();
	int stdout_closed = open_standard_fds();

	harden();
	parse_options(argc, argv, &o);
	if (secmem_init(SECURE_HEAP_SIZE) == -1) {
		log_open(optind == argc ? o.log : LOG_TO_STDERR);
		fail_start(o.log, "", "cannot set up OpenSSL's secure heap for "
		    "the keys");
	}
	if (optind == argc)
		return serve_helper(&o, parent, stdout_closed);
	if (strcmp(argv[optind], "connect") == 0)
		return run_connector(&o, argc - optind, argv + optind);
	if (strcmp(argv[optind], "serve") == 0)
		return run_listener(&o, argc - optind, argv + optind);
	log_open(LOG_TO_STDERR);
	return cli_run(argc - optind, argv + optind, config_path(&o));
}
