/*
 * Security rules for this file:
 * 1. Deny by default: a system call not listed here kills the process
 *    (SECCOMP_RET_KILL_PROCESS), not just the call: a helper that tries
 *    what it never does has been subverted, and answering on would only
 *    help the subverter. The server sees the helper end, and logins fail
 *    closed until it starts another.
 * 2. The list is what the helper does after start-up, no more: the serve
 *    loop (read, write, signals), the LMDB store (its map, locks, futexes),
 *    a Redis store (sockets of the families it needs, poll), the log
 *    (syslog's Unix socket, or stderr) and a reload of the config (open,
 *    stat, read, locked memory). No exec, no fork, no new privileges.
 * 3. Where the file system cannot be narrowed (no Landlock here),
 *    seccomp and no_new_privs still hold, and the log says so once.
 * 4. The connector (connect.c) holds no secret but reads untrusted bytes:
 *    it gets a list of its own, narrower still (no files but /dev/null,
 *    Unix sockets only).
 * 5. Resolving names after start-up is allowed only to a Redis store that
 *    names a host by name: the resolver's files (read only, each file
 *    alone, never /etc), UDP to the resolvers, and a netlink route socket
 *    to ask the host's own addresses (getaddrinfo sorts by them). NSS
 *    modules were loaded when the name was first resolved, before
 *    confinement; none is loaded after.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "sandbox.h"

/* Whether a store is a directory of this host (else a network server). */
static int
store_is_directory(const struct config *c)
{
	return (replay_sandbox_needs(&c->replay) & REPLAY_SANDBOX_DIRECTORY) !=
	    0;
}

/* Whether the store resolves host names after start-up (rule 5). */
static int
store_resolves(const struct config *c)
{
	return (replay_sandbox_needs(&c->replay) & REPLAY_SANDBOX_RESOLVE) != 0;
}

/* What glibc's getaddrinfo reads again when it changes (checked with
 * strace); /etc/host.conf it reads once, at the first lookup, which comes
 * before confinement. */
static const char *const resolver_files[] = { "/etc/hosts",
	"/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/gai.conf" };

/* --- seccomp ------------------------------------------------------------ */

static const char *const allowed[] = {
	/* the serve loop, and ending */
	"read", "write", "readv", "writev", "close", "dup", "dup2", "dup3",
	"fcntl", "lseek", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"restart_syscall", "exit", "exit_group", "getpid", "gettid", "tgkill",
	/* time */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	/* memory: malloc, locked memory for a reloaded config, LMDB's map */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock",
	"munlock", "msync",
	/* files: the config on reload, the replay store */
	"openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx",
	"fstatfs", "statfs", "uname",
	"access", "faccessat", "faccessat2", "pread64", "pwrite64",
	"fallocate", "ftruncate", "fsync", "fdatasync", "mkdir", "mkdirat",
	"flock", "getuid", "geteuid", "getgid", "getegid",
	/* LMDB's locks between processes, OpenSSL */
	"futex", "sched_yield", "getrandom",
	/* sockets: syslog, a Redis store */
	"connect", "sendto", "sendmsg", "send", "recvfrom", "recvmsg", "recv",
	"poll", "ppoll", "setsockopt", "getsockopt", "getsockname",
	"getpeername", "shutdown",
};

/* What the connector does once confined: its loop, its socket, the log. */
static const char *const connector_allowed[] = {
	"read", "write", "close", "dup2", "dup3", "fcntl", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "restart_syscall", "exit",
	"exit_group", "getpid", "gettid", "tgkill",
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* /dev/null in place of its input when told to stop */
	"openat", "open", "fstat", "newfstatat",
	"connect", "sendto", "sendmsg", "send", "recvfrom", "recvmsg", "recv",
	"poll", "ppoll", "setsockopt", "getsockopt", "shutdown",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
allow_all(scmp_filter_ctx ctx, const char *const list[], size_t n)
{
	size_t i;
	int nr;

	for (i = 0; i < n; i++) {
		/* A name this architecture does not have (open, stat on
		 * aarch64): nothing to allow. */
		if ((nr = seccomp_syscall_resolve_name(list[i])) ==
		    __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0)
			return -1;
	}
	return 0;
}

/*
 * Rule 5: a netlink socket (getaddrinfo asks the host's addresses), bind
 * for it, sendmmsg (both questions, A and AAAA, at once), and ioctl
 * FIONREAD (the size of an answer).
 */
static int
allow_resolving(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp netlink = { 0, SCMP_CMP_EQ, AF_NETLINK, 0 };
	struct scmp_arg_cmp fionread = { 1, SCMP_CMP_EQ, FIONREAD, 0 };

	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
		   1, &netlink) != 0 ||
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bind), 0) != 0 ||
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmmsg), 0) !=
		    0 ||
		seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    &fionread) != 0 ? -1 : 0;
}

/* Sockets of the families the helper uses only; ioctl only to ask whether
 * a descriptor is a terminal (stdio does, before its first write). */
static int
allow_narrowly(scmp_filter_ctx ctx, int network)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	struct scmp_arg_cmp family = { 0, SCMP_CMP_EQ, 0, 0 };
	struct scmp_arg_cmp request = { 1, SCMP_CMP_EQ, TCGETS, 0 };
	size_t i, n = network ? 3 : 1;

	for (i = 0; i < n; i++) {
		family.datum_a = (scmp_datum_t)families[i];
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW,
			SCMP_SYS(socket), 1, &family) != 0)
			return -1;
	}
	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    &request);
}

static int
enter_seccomp(const char *const list[], size_t n, int network, int resolving,
    char err[SANDBOX_ERR_LEN])
{
	scmp_filter_ctx ctx;
	int rc = -1;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		snprintf(err, SANDBOX_ERR_LEN, "seccomp: the kernel, or a "
		    "filter around this process, does not let it add its own "
		    "(allow the seccomp system call, or give --no-sandbox)");
		return -1;
	}
	if (allow_all(ctx, list, n) == 0 && allow_narrowly(ctx, network) == 0 &&
	    (!resolving || allow_resolving(ctx) == 0) &&
	    (rc = seccomp_load(ctx)) != 0)
		snprintf(err, SANDBOX_ERR_LEN, "seccomp: cannot load the "
		    "filter: %s", strerror(-rc));
	else if (rc != 0)
		snprintf(err, SANDBOX_ERR_LEN, "seccomp: cannot make the "
		    "filter");
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

/* --- Landlock ----------------------------------------------------------- */

/* The rights each Landlock ABI knows, whatever the headers say. */
#define FS_V1 ((1ULL << 13) - 1)		/* EXECUTE .. MAKE_SYM */
#define FS_REFER (1ULL << 13)			/* ABI 2 */
#define FS_TRUNCATE (1ULL << 14)		/* ABI 3 */
#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_STORE (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE |		\
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |	\
	LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR)

static int
landlock_abi(void)
{
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
}

/*
 * Allows access beneath path, which must exist: never its parent instead,
 * which would widen the rules (a store that could not be made is an error
 * at start-up, not a reason to allow more). Returns 0, or -1 with errno.
 */
static int
allow_beneath(int ruleset, const char *path, unsigned long long access,
    unsigned long long handled)
{
	struct landlock_path_beneath_attr rule;
	int rc;

	memset(&rule, 0, sizeof(rule));
	rule.allowed_access = access & handled;
	if ((rule.parent_fd = open(path, O_PATH | O_CLOEXEC |
		 (access & ~LANDLOCK_ACCESS_FS_READ_FILE ? O_DIRECTORY : 0))) ==
	    -1)
		return -1;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset,
	    LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	close(rule.parent_fd);
	return rc;
}

static int
landlock_failed(char err[SANDBOX_ERR_LEN], const char *what, const char *path)
{
	snprintf(err, SANDBOX_ERR_LEN, "Landlock: %s%.150s: %s", what, path,
	    strerror(errno));
	return -1;
}

/*
 * The store's directory could not be made before confinement: nothing is
 * allowed in its place (never a directory above it), so its logins are
 * refused until a restart. A note for the log; 0 to go on.
 */
static int
store_missing(char err[SANDBOX_ERR_LEN], const char *store)
{
	if (errno != ENOENT && errno != ENOTDIR)
		return landlock_failed(err, "the replay store's directory ",
		    store);
	snprintf(err, SANDBOX_ERR_LEN, "Landlock: the replay store's "
	    "directory %.150s could not be made before the helper confined "
	    "itself (%s), and nothing is allowed in its place: logins are "
	    "refused until the helper is restarted once it can be made",
	    store, strerror(errno));
	return 0;
}

/* Rule 5: each of the resolver's files that there is, to read. */
static int
allow_resolver_files(int ruleset, unsigned long long handled,
    char err[SANDBOX_ERR_LEN])
{
	size_t i;

	for (i = 0; i < NELEM(resolver_files); i++)
		if (allow_beneath(ruleset, resolver_files[i],
			LANDLOCK_ACCESS_FS_READ_FILE, handled) == -1 &&
		    errno != ENOENT)
			return landlock_failed(err, "", resolver_files[i]);
	return 0;
}

/*
 * The directories of the JWK Sets, read again when the config is: each
 * key file is named in the config, and may live apart from it.
 */
static int
allow_key_files(int ruleset, const struct config *c,
    unsigned long long handled, char err[SANDBOX_ERR_LEN])
{
	char copy[PATH_MAX], dir[PATH_MAX];
	size_t i;

	for (i = 0; i < c->ndomains; i++) {
		if (c->domains[i].jwt.keys == NULL)
			continue;
		snprintf(copy, sizeof(copy), "%s", c->domains[i].jwt.keys->path);
		snprintf(dir, sizeof(dir), "%s", dirname(copy));
		if (allow_beneath(ruleset, dir, FS_READ, handled) == -1)
			return landlock_failed(err, "the JWK Set's directory ",
			    dir);
	}
	return 0;
}

/*
 * Narrows the file system to the store's directory and the config's (with
 * c NULL: to /dev/null alone), and the resolver's files where the store
 * resolves names.
 * Returns 0, 1 with why in err if Landlock cannot be had here, -1 with why
 * in err.
 */
static int
enter_landlock(const struct config *c, char err[SANDBOX_ERR_LEN])
{
	struct landlock_ruleset_attr attr;
	char copy[PATH_MAX], dir[PATH_MAX];
	int abi = landlock_abi(), ruleset, rc = 0;

	if (abi < 1) {
		/* ENOSYS: a kernel without it, or a container's own seccomp
		 * filter refusing it (systemd-nspawn's does);
		 * EOPNOTSUPP: disabled at boot. */
		snprintf(err, SANDBOX_ERR_LEN, "Landlock is not available "
		    "here (%s): the file system is not narrowed (seccomp and "
		    "no_new_privs hold)", strerror(errno));
		return 1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = FS_V1 | (abi >= 2 ? FS_REFER : 0) |
	    (abi >= 3 ? FS_TRUNCATE : 0);
	if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
		 sizeof(attr), 0)) == -1) {
		snprintf(err, SANDBOX_ERR_LEN, "Landlock: %s", strerror(errno));
		return -1;
	}
	/* (/dev/null: what the serve loop puts in place of its input when
	 * told to stop. c is NULL for the connector, which has no files.) */
	if (c != NULL) {
		snprintf(copy, sizeof(copy), "%s", c->path);
		snprintf(dir, sizeof(dir), "%s", dirname(copy));
	}
	if (c != NULL && allow_beneath(ruleset, dir, FS_READ,
		attr.handled_access_fs) == -1)
		rc = landlock_failed(err, "the config's directory ", dir);
	else if (c != NULL && allow_key_files(ruleset, c,
		     attr.handled_access_fs, err) == -1)
		rc = -1;
	else if (allow_beneath(ruleset, "/dev/null",
		     LANDLOCK_ACCESS_FS_READ_FILE, attr.handled_access_fs) == -1)
		rc = landlock_failed(err, "", "/dev/null");
	else if (c != NULL && store_is_directory(c) &&
	    allow_beneath(ruleset, c->replay.store, FS_STORE |
		(abi >= 3 ? FS_TRUNCATE : 0), attr.handled_access_fs) == -1)
		rc = store_missing(err, c->replay.store);
	if (rc != -1 && c != NULL && store_resolves(c) &&
	    allow_resolver_files(ruleset, attr.handled_access_fs, err) == -1)
		rc = -1;
	if (rc != -1 && syscall(SYS_landlock_restrict_self, ruleset, 0) == -1)
		rc = landlock_failed(err, "", "restricting itself");
	close(ruleset);
	return rc;
}

/* --- both --------------------------------------------------------------- */

int
sandbox_can_follow(const struct config *from, const struct config *to,
    char *why, size_t whylen)
{
	if (store_is_directory(from) != store_is_directory(to) ||
	    (store_is_directory(to) &&
		strcmp(from->replay.store, to->replay.store) != 0)) {
		snprintf(why, whylen, "%s: replay_store changed from %.200s to "
		    "%.200s, which the helper's sandbox (set up for the first) "
		    "cannot follow: restart the helpers to use it (the socket "
		    "service, or the XMPP server that started them)", to->path,
		    from->replay.store, to->replay.store);
		return -1;
	}
	if (store_resolves(to) && !store_resolves(from)) {
		snprintf(why, whylen, "%s: replay_store or the sentinels now "
		    "name a host by name, which the helper's sandbox (set up "
		    "for addresses only) cannot resolve: restart the helpers "
		    "to use it (the socket service, or the XMPP server that "
		    "started them)", to->path);
		return -1;
	}
	return 0;
}

/* No set-user-ID program can give the process more, from here on. */
static int
no_new_privs(char err[SANDBOX_ERR_LEN])
{
	err[0] = '\0';
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
		return 0;
	snprintf(err, SANDBOX_ERR_LEN, "no_new_privs: %s", strerror(errno));
	return -1;
}

int
sandbox_enter(const struct config *c, char err[SANDBOX_ERR_LEN])
{
	if (no_new_privs(err) == -1 || enter_landlock(c, err) == -1 ||
	    enter_seccomp(allowed, NELEM(allowed),
		(replay_sandbox_needs(&c->replay) & REPLAY_SANDBOX_INET) != 0,
		store_resolves(c), err) == -1)
		return -1;
	return 0;
}

int
sandbox_enter_connector(char err[SANDBOX_ERR_LEN])
{
	if (no_new_privs(err) == -1 || enter_landlock(NULL, err) == -1 ||
	    enter_seccomp(connector_allowed, NELEM(connector_allowed), 0, 0,
		err) == -1)
		return -1;
	return 0;
}
