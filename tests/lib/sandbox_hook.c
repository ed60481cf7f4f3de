/*
 * Linked into the helper for the sandbox suite only (make sandbox-test),
 * around auth_answer (ld --wrap): a request "sandbox-test:WHAT" makes the
 * helper, once confined, try what it never does, and answer 1 if that
 * worked. The suite expects a 0 (the file system refused it) or the process
 * killed (seccomp). The helper's own source holds none of this.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "serve.h"

void __real_auth_answer(struct auth *, const struct serve_request *, size_t,
    int[]);
void __wrap_auth_answer(struct auth *, const struct serve_request *, size_t,
    int[]);

static int
sandbox_try(const char *what, size_t len)
{
	char *const argv[] = { "/bin/true", NULL };
	int fd;

	if (len == 4 && memcmp(what, "open", 4) == 0)
		return (fd = open("/etc/passwd", O_RDONLY)) != -1 &&
		    close(fd) == 0;
	if (len == 5 && memcmp(what, "write", 5) == 0)
		return (fd = open("/tmp/pta-sandbox-escape",
			    O_WRONLY | O_CREAT, 0600)) != -1 && close(fd) == 0;
	if (len == 4 && memcmp(what, "exec", 4) == 0)
		return execve(argv[0], argv, NULL) == 0;
	if (len == 4 && memcmp(what, "inet", 4) == 0)
		return (fd = socket(AF_INET, SOCK_STREAM, 0)) != -1;
	if (len == 4 && memcmp(what, "fork", 4) == 0)
		return fork() != -1;
	/* what resolving a name needs: allowed only to a Redis store that
	 * names its host by name */
	if (len == 5 && memcmp(what, "hosts", 5) == 0)
		return (fd = open("/etc/hosts", O_RDONLY)) != -1 &&
		    close(fd) == 0;
	if (len == 7 && memcmp(what, "netlink", 7) == 0)
		return (fd = socket(AF_NETLINK, SOCK_RAW, 0)) != -1 &&
		    close(fd) == 0;
	return 0;
}

/* tried[i]: what "sandbox-test:WHAT" request i did (1 worked), or -1. */
static void
sandbox_test(const struct serve_request *reqs, size_t n, int tried[])
{
	static const char prefix[] = "sandbox-test:";
	size_t plen = sizeof(prefix) - 1, i;

	for (i = 0; i < n; i++) {
		tried[i] = -1;
		if (reqs[i].text != NULL && reqs[i].len >= plen &&
		    memcmp(reqs[i].text, prefix, plen) == 0)
			tried[i] = sandbox_try(reqs[i].text + plen,
			    reqs[i].len - plen);
	}
}

static void
sandbox_test_answers(size_t n, const int tried[], int answers[])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tried[i] != -1)
			answers[i] = tried[i];
}

void
__wrap_auth_answer(struct auth *a, const struct serve_request *reqs,
    size_t n, int answers[])
{
	int tried[SERVE_BATCH_MAX];

	sandbox_test(reqs, n, tried);
	__real_auth_answer(a, reqs, n, answers);
	sandbox_test_answers(n, tried, answers);
}
