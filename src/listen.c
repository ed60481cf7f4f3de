/*
 * Security rules for this file:
 * 1. No request is read here, and no connection accepted before the
 *    privileges are dropped: the socket is made as the starter (root, to
 *    give it its group), then the process becomes --user for good, with
 *    no_new_privs, before the first accept.
 * 2. Each connection is its own process: this program run again (a fresh
 *    image, its own config, its own sandbox), so that one that dies or is
 *    subverted takes no other down and shares no memory with another.
 * 3. No helper outlives the server: each gets PR_SET_PDEATHSIG (and ends
 *    at once if the server is already gone), SIGTERM is passed on, and the
 *    helpers left after LISTEN_STOP_SECONDS are killed.
 * 4. Signals are blocked and taken from a signalfd, so none is lost
 *    between a check and a wait; a helper starts with none blocked.
 * 5. Fail closed: a connection that cannot get a helper is closed
 *    unanswered, which the client takes as a refusal.
 */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"

struct listener {
	int fd;	   /* the listening socket; -1 once stopping */
	int sigfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char program[PATH_MAX]; /* this program's file, as started */
	int path_removed;
	unsigned max, live;
	pid_t *helpers; /* max slots; 0 is a free one */
	pid_t self;
	int stopping;
	struct timespec stop_by;
};

static int
usage_error(const char *what, const char *arg, const char *fix)
{
	fprintf(stderr, "prosody-token-auth: serve: %s '%s': %s\n", what, arg,
	    fix);
	return 2;
}

/* A whole decimal number in [min, max], nothing before or after. */
static int
parse_number(const char *s, int base, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9' || strlen(s) > 8)
		return -1;
	errno = 0;
	*out = strtoul(s, &end, base);
	return errno != 0 || *end != '\0' || *out < min || *out > max ? -1 : 0;
}

int
listen_parse(int argc, char **argv, struct listen_options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'L' },
		{ "mode", required_argument, NULL, 'm' },
		{ "group", required_argument, NULL, 'g' },
		{ "user", required_argument, NULL, 'u' },
		{ "max-connections", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int ch;

	o->path = o->group = o->user = NULL;
	o->mode = LISTEN_MODE_DEFAULT;
	o->max = LISTEN_MAX_DEFAULT;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'L':
			o->path = optarg;
			break;
		case 'm':
			if (parse_number(optarg, 8, 0, 0777, &v) == -1)
				return usage_error("--mode", optarg, "an octal "
				    "file mode from 0 to 0777, such as 0660");
			o->mode = (mode_t)v;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'n':
			if (parse_number(optarg, 10, 1, LISTEN_MAX_LIMIT,
				&v) == -1)
				return usage_error("--max-connections", optarg,
				    "a whole number from 1 to 4096");
			o->max = (unsigned)v;
			break;
		default:
			fprintf(stderr, "prosody-token-auth: serve --listen "
			    "PATH [--mode 0660] [--group GROUP] [--user USER] "
			    "[--max-connections N]\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("takes no argument such as", argv[optind],
		    "the options are --listen, --mode, --group, --user and "
		    "--max-connections");
	if (o->path == NULL || *o->path == '\0') {
		fprintf(stderr, "prosody-token-auth: serve needs --listen PATH, "
		    "the Unix socket to serve\n");
		return 2;
	}
	return 0;
}

/* Whom to run as: the user's ids, checked against who started us. */
static int
find_user(const struct listen_options *o, uid_t *uid, gid_t *gid,
    char err[LISTEN_ERR_LEN])
{
	struct passwd *pw;

	if (o->user == NULL) {
		if (geteuid() == 0) {
			snprintf(err, LISTEN_ERR_LEN, "serve: started as root: "
			    "name the unprivileged user the helpers run as "
			    "with --user (the packaged socket unit uses "
			    "_prosody-token-auth)");
			return -1;
		}
		*uid = geteuid();
		*gid = getegid();
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(o->user)) == NULL) {
		snprintf(err, LISTEN_ERR_LEN, "serve: --user '%s': no such "
		    "user here (create it, or name another)", o->user);
		return -1;
	}
	if (geteuid() != 0 && pw->pw_uid != geteuid()) {
		snprintf(err, LISTEN_ERR_LEN, "serve: --user '%s': only root "
		    "can become another user (leave --user out, or start as "
		    "root)", o->user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/*
 * A group by name, or by number: in a container, Prosody's group may exist
 * only in Prosody's image.
 */
static int
find_group(const char *name, gid_t *gid, char err[LISTEN_ERR_LEN])
{
	struct group *gr;
	unsigned long v;

	if ((gr = getgrnam(name)) == NULL &&
	    parse_number(name, 10, 0, 0x7fffffff, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	if (gr == NULL) {
		snprintf(err, LISTEN_ERR_LEN, "serve: --group '%s': no such "
		    "group here (create it, or give its number)", name);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

/*
 * A socket file left at path by a server that died is removed; one a
 * server still listens on, or a file that is not a socket, is refused.
 */
static int
clear_path(const struct sockaddr_un *sa, char err[LISTEN_ERR_LEN])
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, LISTEN_ERR_LEN, "serve: --listen %s: there is a "
		    "file there that is not a socket (remove it, or choose "
		    "another path)", sa->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, LISTEN_ERR_LEN, "serve: --listen %s: a server is "
		    "already listening there (stop it first, or choose "
		    "another path)", sa->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED)
		return -1;
	log_msg(LOG_NOTICE, "%s: replacing the socket a stopped server left",
	    sa->sun_path);
	return unlink(sa->sun_path);
}

/*
 * Binds with no access for anyone but the starter until the group and the
 * mode are set, so that no client ever sees the socket half made.
 */
static int
make_socket(const struct listen_options *o, const struct sockaddr_un *sa,
    int has_group, gid_t group)
{
	mode_t old;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	old = umask(0177);
	rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (rc == -1) {
		close(fd);
		return -1;
	}
	if ((has_group && chown(sa->sun_path, (uid_t)-1, group) == -1) ||
	    chmod(sa->sun_path, o->mode) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		rc = errno;
		unlink(sa->sun_path);
		close(fd);
		errno = rc;
		return -1;
	}
	return fd;
}

/* For good: the user's groups, then its gid and uid; root cannot return. */
static int
drop_privileges(const char *user, uid_t uid, gid_t gid)
{
	if (user != NULL && geteuid() == 0 &&
	    (initgroups(user, gid) == -1 || setgid(gid) == -1 ||
		setuid(uid) == -1))
		return -1;
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/*
 * This program's file, found once: the helpers run it by name, as the
 * socket unit's ExecStart does (after an upgrade, the new one).
 */
static int
find_program(char program[PATH_MAX])
{
	ssize_t n = readlink("/proc/self/exe", program, PATH_MAX - 1);

	if (n <= 0 || n >= PATH_MAX - 1)
		return -1;
	program[n] = '\0';
	return 0;
}

/* SIGTERM, SIGINT, SIGHUP and SIGCHLD, blocked, from a signalfd. */
static int
take_signals(void)
{
	struct sigaction ign;
	sigset_t set;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static struct listener *
fail_open(struct listener *l, const char *what, char err[LISTEN_ERR_LEN])
{
	if (what != NULL)
		snprintf(err, LISTEN_ERR_LEN, "serve: %s: %s", what,
		    strerror(errno));
	if (l->fd != -1) {
		close(l->fd);
		unlink(l->path);
	}
	if (l->sigfd != -1)
		close(l->sigfd);
	free(l->helpers);
	free(l);
	return NULL;
}

/*
 * Found now rather than at the first connection: each helper is this
 * program run again as --user, which a folder on the way may forbid.
 */
static struct listener *
cannot_run(struct listener *l, const char *user, char err[LISTEN_ERR_LEN])
{
	snprintf(err, LISTEN_ERR_LEN, "serve: %s cannot run %.256s (%s): "
	    "install it where that user may read and run it, or choose "
	    "another --user", user != NULL ? user : "this user", l->program,
	    strerror(errno));
	return fail_open(l, NULL, err);
}

struct listener *
listen_open(const struct listen_options *o, char err[LISTEN_ERR_LEN])
{
	struct sockaddr_un sa;
	struct listener *l;
	gid_t group = 0, gid;
	uid_t uid;

	err[0] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(o->path) >= sizeof(sa.sun_path)) {
		snprintf(err, LISTEN_ERR_LEN, "serve: --listen %s: a Unix "
		    "socket's path has at most %zu characters (choose a "
		    "shorter one)", o->path, sizeof(sa.sun_path) - 1);
		return NULL;
	}
	memcpy(sa.sun_path, o->path, strlen(o->path));
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, LISTEN_ERR_LEN, "serve: out of memory");
		return NULL;
	}
	l->fd = -1;
	memcpy(l->path, sa.sun_path, sizeof(l->path));
	l->max = o->max;
	l->self = getpid();
	if ((l->sigfd = take_signals()) == -1)
		return fail_open(l, "cannot take signals", err);
	if (find_program(l->program) == -1)
		return fail_open(l, "cannot find this program's file "
		    "(/proc/self/exe)", err);
	if ((l->helpers = calloc(o->max, sizeof(*l->helpers))) == NULL)
		return fail_open(l, "out of memory", err);
	if (find_user(o, &uid, &gid, err) == -1 ||
	    (o->group != NULL && find_group(o->group, &group, err) == -1))
		return fail_open(l, NULL, err);
	if (clear_path(&sa, err) == -1)
		return fail_open(l, err[0] != '\0' ? NULL : o->path, err);
	if ((l->fd = make_socket(o, &sa, o->group != NULL, group)) == -1)
		return fail_open(l, o->path, err);
	if (drop_privileges(o->user, uid, gid) == -1)
		return fail_open(l, "cannot drop privileges", err);
	if (access(l->program, X_OK) == -1)
		return cannot_run(l, o->user, err);
	return l;
}

void
listen_close(struct listener *l)
{
	char err[LISTEN_ERR_LEN];

	fail_open(l, NULL, err);
}

/*
 * In the new process: the connection as stdin and stdout, the signals as
 * they were, the server's death its own, then the helper.
 */
static void
run_helper(const struct listener *l, int conn, char *const helper[])
{
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != l->self ||
	    dup2(conn, STDIN_FILENO) == -1 || dup2(conn, STDOUT_FILENO) == -1)
		_exit(1);
	if (conn > STDOUT_FILENO)
		close(conn);
	execv(l->program, helper);
	log_msg(LOG_ERR, "cannot run the helper %s: %s", l->program,
	    strerror(errno));
	_exit(127);
}

static void
start_helper(struct listener *l, int conn, char *const helper[])
{
	unsigned i;
	pid_t pid;

	for (i = 0; i < l->max && l->helpers[i] != 0; i++)
		;
	if (i == l->max || (pid = fork()) == -1) {
		log_msg(LOG_ERR, "cannot start a helper for a connection: %s; "
		    "closing it", i == l->max ? "no room" : strerror(errno));
		close(conn);
		return;
	}
	if (pid == 0)
		run_helper(l, conn, helper);
	close(conn);
	l->helpers[i] = pid;
	l->live++;
}

static void
accept_connections(struct listener *l, char *const helper[])
{
	int conn;

	while (l->live < l->max) {
		conn = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_msg(LOG_ERR, "accepting a connection: %s",
				    strerror(errno));
			return;
		}
		start_helper(l, conn, helper);
	}
}

static void
tell_helpers(const struct listener *l, int sig)
{
	unsigned i;

	for (i = 0; i < l->max; i++)
		if (l->helpers[i] != 0)
			kill(l->helpers[i], sig);
}

static void
note_end(pid_t pid, int status, int stopping)
{
	if (WIFSIGNALED(status) && !(stopping && WTERMSIG(status) == SIGTERM))
		log_msg(LOG_WARNING, "helper %ld ended by signal %d",
		    (long)pid, WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_msg(LOG_WARNING, "helper %ld exited with status %d",
		    (long)pid, WEXITSTATUS(status));
}

/* Every child that ended; as PID 1 of a container, orphans too. */
static void
reap(struct listener *l)
{
	unsigned i;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < l->max && l->helpers[i] != pid; i++)
			;
		if (i == l->max)
			continue;
		l->helpers[i] = 0;
		l->live--;
		note_end(pid, status, l->stopping);
	}
}

static void
remove_socket(struct listener *l)
{
	if (l->path_removed)
		return;
	l->path_removed = 1;
	if (unlink(l->path) == -1 && errno != ENOENT)
		log_msg(LOG_WARNING, "cannot remove %s: %s (the next serve "
		    "replaces it)", l->path, strerror(errno));
}

static void
begin_stop(struct listener *l)
{
	if (l->stopping)
		return;
	l->stopping = 1;
	close(l->fd);
	l->fd = -1;
	remove_socket(l);
	log_msg(LOG_INFO, "stopping: %u connection%s to end within %d s",
	    l->live, l->live == 1 ? "" : "s", LISTEN_STOP_SECONDS);
	tell_helpers(l, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &l->stop_by);
	l->stop_by.tv_sec += LISTEN_STOP_SECONDS;
}

static void
take_signal(struct listener *l)
{
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(l);
			break;
		case SIGHUP:
			log_msg(LOG_INFO, "SIGHUP: passed to %u helper%s",
			    l->live, l->live == 1 ? "" : "s");
			tell_helpers(l, SIGHUP);
			break;
		default:
			begin_stop(l);
			break;
		}
	}
}

/* Milliseconds poll may wait: for ever, or until the stop's bound. */
static int
wait_ms(const struct listener *l)
{
	struct timespec now;
	long ms;

	if (!l->stopping)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (l->stop_by.tv_sec - now.tv_sec) * 1000 +
	    (l->stop_by.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static void
kill_leftovers(struct listener *l)
{
	unsigned i;
	int status;

	if (l->live > 0)
		log_msg(LOG_WARNING, "killing %u helper%s still running after "
		    "%d s", l->live, l->live == 1 ? "" : "s",
		    LISTEN_STOP_SECONDS);
	tell_helpers(l, SIGKILL);
	for (i = 0; i < l->max; i++)
		if (l->helpers[i] != 0 &&
		    waitpid(l->helpers[i], &status, 0) == l->helpers[i])
			l->helpers[i] = 0;
	l->live = 0;
}

int
listen_serve(struct listener *l, char *const helper[])
{
	struct pollfd pfd[2];
	int ms, n;

	log_msg(LOG_INFO, "serving %s: one helper per connection, at most %u "
	    "at once", l->path, l->max);
	while (!l->stopping || l->live > 0) {
		pfd[0].fd = l->sigfd;
		pfd[0].events = POLLIN;
		/* At the limit the socket is not polled: connections wait in
		 * the backlog until a helper ends. */
		pfd[1].fd = !l->stopping && l->live < l->max ? l->fd : -1;
		pfd[1].events = POLLIN;
		if ((ms = wait_ms(l)) == 0)
			break;
		if ((n = poll(pfd, 2, ms)) == -1 && errno != EINTR) {
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			begin_stop(l);
			continue;
		}
		if (n > 0 && (pfd[0].revents & POLLIN))
			take_signal(l);
		if (n > 0 && pfd[1].fd != -1 && !l->stopping &&
		    (pfd[1].revents & POLLIN))
			accept_connections(l, helper);
	}
	kill_leftovers(l);
	remove_socket(l);
	log_msg(LOG_INFO, "stopped");
	listen_close(l);
	return 0;
}
