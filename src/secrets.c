/*
 * Security rules for this file:
 * 1. Secrets come from getrandom(2) only, and are drawn without bias.
 * 2. The file's text holds secrets: it is read into, and rewritten from,
 *    locked memory that is wiped on every path out.
 * 3. The config file is never half written: the new text goes to a file
 *    beside it, made with the old one's owner, group and mode, flushed to
 *    disk, checked to load, and only then renamed over it.
 * 4. Nothing here logs: secrets go to the person at the terminal only.
 * 5. One rotation at a time: a lock beside the file is held from the read
 *    to the rename, and a file changed meanwhile by anything else (an
 *    editor) is not replaced: the rotation is refused, nothing written.
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base32.h"
#include "config_lines.h"
#include "io.h"
#include "secmem.h"
#include "secrets.h"

#define MAX_TEXT 65536
#define LOCK_WAIT_MS 10000 /* another rotation rewrites a file in far less */

int
secrets_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = getrandom(p, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
secrets_new(struct secrets_pair *s)
{
	uint8_t raw[2][SECRETS_BYTES];

	_Static_assert(BASE32_ENCODED_LEN(SECRETS_BYTES) == SECRETS_TEXT_LEN,
	    "base32 length");
	if (secrets_random(raw, sizeof(raw)) == -1)
		return -1;
	base32_encode(raw[0], SECRETS_BYTES, s->seed);
	base32_encode(raw[1], SECRETS_BYTES, s->secret);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/* --- the file's lines --------------------------------------------------- */

/* Where a key's value lies in the text, and what replaces it. */
struct value {
	size_t line_start, start, end; /* offsets */
	int found;
};

enum { SEED, SECRET, PREV_SEED, PREV_SECRET, PREV_UNTIL, NVALUES };

static const char *const value_keys[NVALUES] = {
	"otp_seed", "token_secret", "previous_otp_seed",
	"previous_token_secret", "previous_until",
};

/* Whether a section's name names the section asked for. */
static int
is_target(const struct config_line *l, const char *domain)
{
	if (config_section_is_global(l->name, l->name_len))
		return domain == NULL;
	return domain != NULL && l->name_len == strlen(domain) &&
	    strncasecmp(l->name, domain, l->name_len) == 0;
}

/* Records where a setting of the target section stands. */
static void
note_setting(const char *text, const struct config_line *l,
    struct value v[NVALUES])
{
	size_t i;

	for (i = 0; i < NVALUES; i++)
		if (config_key_is(l->name, l->name_len, value_keys[i])) {
			v[i].line_start = l->start;
			v[i].start = (size_t)(l->value - text);
			v[i].end = v[i].start + l->value_len;
			v[i].found = 1;
		}
}

/* Finds the values of the target section in text[0..len). */
static int
find_values(const char *text, size_t len, const char *domain,
    struct value v[NVALUES])
{
	struct config_text t = { text, len, 0, 0 };
	struct config_line l;
	int in_target = domain == NULL, seen = domain == NULL;

	memset(v, 0, NVALUES * sizeof(*v));
	while (config_next_line(&t, &l)) {
		if (l.kind == CONFIG_LINE_SECTION) {
			in_target = is_target(&l, domain);
			seen |= in_target;
		} else if (l.kind == CONFIG_LINE_SETTING && in_target) {
			note_setting(text, &l, v);
		}
	}
	return seen ? 0 : -1;
}

/* --- the new text ------------------------------------------------------- */

struct edit {
	char *out;
	size_t len, size;
};

static int
put(struct edit *ed, const char *s, size_t n)
{
	if (ed->len + n > ed->size)
		return -1;
	memcpy(ed->out + ed->len, s, n);
	ed->len += n;
	return 0;
}

static int
puts_line(struct edit *ed, const char *key, const char *value, size_t n)
{
	return put(ed, key, strlen(key)) | put(ed, " = ", 3) |
	    put(ed, value, n) | put(ed, "\n", 1);
}

/*
 * The text with the new values: the current pair's become the previous
 * pair's (in place, or on new lines after the current pair), the fresh
 * pair replaces the current one.
 */
static int
rewrite(const char *text, size_t len, const struct value v[NVALUES],
    const struct secrets_pair *fresh, const char *until, struct edit *ed)
{
	const char *repl[NVALUES][2];
	size_t lens[NVALUES], pos = 0, i, after;
	int rc = 0, had = v[PREV_SEED].found;

	repl[SEED][0] = fresh->seed;
	repl[SECRET][0] = fresh->secret;
	repl[PREV_SEED][0] = text + v[SEED].start;
	repl[PREV_SECRET][0] = text + v[SECRET].start;
	repl[PREV_UNTIL][0] = until;
	lens[SEED] = strlen(fresh->seed);
	lens[SECRET] = strlen(fresh->secret);
	lens[PREV_SEED] = v[SEED].end - v[SEED].start;
	lens[PREV_SECRET] = v[SECRET].end - v[SECRET].start;
	lens[PREV_UNTIL] = strlen(until);
	after = v[SEED].line_start > v[SECRET].line_start ? v[SEED].line_start :
							      v[SECRET].line_start;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t next = nl != NULL ? (size_t)(nl - text) + 1 : len;

		for (i = 0; i < NVALUES; i++)
			if (v[i].found && v[i].line_start == pos)
				break;
		if (i < NVALUES) {
			rc |= put(ed, text + pos, v[i].start - pos);
			rc |= put(ed, repl[i][0], lens[i]);
			rc |= put(ed, text + v[i].end, next - v[i].end);
		} else {
			rc |= put(ed, text + pos, next - pos);
		}
		if (pos == after && !had) {
			if (nl == NULL)
				rc |= put(ed, "\n", 1);
			rc |= puts_line(ed, "previous_otp_seed",
			    repl[PREV_SEED][0], lens[PREV_SEED]);
			rc |= puts_line(ed, "previous_token_secret",
			    repl[PREV_SECRET][0], lens[PREV_SECRET]);
			rc |= puts_line(ed, "previous_until", until,
			    lens[PREV_UNTIL]);
		}
		pos = next;
	}
	return rc == 0 ? 0 : -1;
}

/* --- the file ----------------------------------------------------------- */

static int
rotation_error(char err[SECRETS_ERR_LEN], const char *path, const char *what,
    int saved_errno)
{
	snprintf(err, SECRETS_ERR_LEN, "%s: %s%s%s", path, what,
	    saved_errno ? ": " : "", saved_errno ? strerror(saved_errno) : "");
	return -1;
}

/* Reads the file into locked memory; its owner, group and mode to st. */
static char *
read_text(const char *path, struct stat *st, size_t *len,
    char err[SECRETS_ERR_LEN])
{
	char *text = NULL;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		rotation_error(err, path, "cannot open", errno);
		return NULL;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode) ||
	    st->st_size >= MAX_TEXT ||
	    (text = secmem_alloc(MAX_TEXT)) == NULL) {
		rotation_error(err, path, "not a config file this can rewrite",
		    errno);
		close(fd);
		return NULL;
	}
	*len = 0;
	while ((n = read(fd, text + *len, MAX_TEXT - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (n == -1 || *len >= MAX_TEXT) {
		secmem_free(text, MAX_TEXT);
		rotation_error(err, path, "cannot read", n == -1 ? errno : 0);
		return NULL;
	}
	return text;
}

/* Flushes the directory holding path, so that a rename outlives a crash. */
static void
sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		fsync(fd);
		close(fd);
	}
}

/* Whether path is still the file read, as fstat(2) saw it then. */
static int
unchanged_since(const char *path, const struct stat *then)
{
	struct stat now;

	return lstat(path, &now) == 0 && now.st_dev == then->st_dev &&
	    now.st_ino == then->st_ino && now.st_size == then->st_size &&
	    now.st_mtim.tv_sec == then->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == then->st_mtim.tv_nsec;
}

/*
 * Takes the rotation lock, a hidden file beside path (the file itself is
 * replaced by each rotation, so a lock on it would not be one), waiting
 * for another rotation to finish. Returns its descriptor, or -1 with err.
 */
static int
lock_beside(const char *path, char err[SECRETS_ERR_LEN])
{
	char lock[PATH_MAX], copy[PATH_MAX];
	int fd, waited;
	size_t dirlen;

	snprintf(copy, sizeof(copy), "%s", path);
	dirlen = strrchr(path, '/') ? (size_t)(strrchr(path, '/') - path + 1) :
	    0;
	if (snprintf(lock, sizeof(lock), "%.*s.%s.lock", (int)dirlen, path,
		basename(copy)) >= (int)sizeof(lock))
		return rotation_error(err, path, "path too long", 0);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		 0600)) == -1)
		return rotation_error(err, lock,
		    "cannot open the rotation lock", errno);
	for (waited = 0; flock(fd, LOCK_EX | LOCK_NB) == -1; waited += 50) {
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS) {
			close(fd);
			return rotation_error(err, lock, "another "
			    "rotate-secrets holds this lock: try again once "
			    "it has finished",
			    errno == EWOULDBLOCK ? 0 : errno);
		}
		usleep(50000);
	}
	return fd;
}

/*
 * Writes text beside path, as path's owner, group and mode, flushed; then,
 * if it loads as a config, renames it over path.
 */
static int
replace(const char *path, const struct stat *st, const char *text,
    size_t len, char err[SECRETS_ERR_LEN])
{
	char tmp[PATH_MAX], copy[PATH_MAX], cerr[CONFIG_ERR_LEN];
	struct config c;
	int fd, saved;

	/* Hidden, beside it: the Debian package's purge removes such files
	 * that a crash left behind. */
	snprintf(copy, sizeof(copy), "%s", path);
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.XXXXXX",
		(int)(strrchr(path, '/') ? strrchr(path, '/') - path + 1 : 0),
		path, basename(copy)) >= (int)sizeof(tmp))
		return rotation_error(err, path, "path too long", 0);
	if ((fd = mkstemp(tmp)) == -1)
		return rotation_error(err, path,
		    "cannot make a file beside it", errno);
	if (fchown(fd, st->st_uid, st->st_gid) == -1 ||
	    fchmod(fd, st->st_mode & 07777) == -1 ||
	    write_all(fd, text, len, NULL) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		return rotation_error(err, tmp, "cannot write", saved);
	}
	close(fd);
	if (config_load(tmp, &c, cerr) == -1) {
		unlink(tmp);
		snprintf(err, SECRETS_ERR_LEN, "the rewritten config would not "
		    "load, so it was left as it was: %.3000s", cerr);
		return -1;
	}
	config_free(&c);
	if (!unchanged_since(path, st)) {
		unlink(tmp);
		return rotation_error(err, path, "changed while being rotated "
		    "(by an editor?), so it was left as it is: run "
		    "rotate-secrets again", 0);
	}
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		return rotation_error(err, path, "cannot replace", saved);
	}
	sync_dir(path);
	return 0;
}

/* The previous pair's deadline as the file has it, or 0. */
static time_t
until_in_text(const char *text, const struct value *v)
{
	char buf[32];
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!v->found || v->end - v->start >= sizeof(buf))
		return 0;
	memcpy(buf, text + v->start, v->end - v->start);
	buf[v->end - v->start] = '\0';
	if (strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

int
secrets_rotate(const char *path, const char *domain,
    const struct secrets_pair *fresh, time_t now, time_t until, int force,
    char err[SECRETS_ERR_LEN])
{
	struct value v[NVALUES];
	struct edit ed = { NULL, 0, MAX_TEXT };
	char until_text[32];
	struct stat st;
	struct tm tm;
	time_t old_until;
	size_t len;
	char *text;
	int lock, rc = -1;

	gmtime_r(&until, &tm);
	strftime(until_text, sizeof(until_text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((lock = lock_beside(path, err)) == -1)
		return -1;
	if ((text = read_text(path, &st, &len, err)) == NULL) {
		close(lock);
		return -1;
	}
	if ((ed.out = secmem_alloc(MAX_TEXT)) == NULL) {
		rotation_error(err, path, "cannot allocate memory", errno);
		goto out;
	}
	if (find_values(text, len, domain, v) == -1) {
		snprintf(err, SECRETS_ERR_LEN, "%s: no [%.200s] section; a "
		    "domain without one uses the global secrets: rotate those "
		    "(without --domain), or add the section", path, domain);
		goto out;
	}
	if (!v[SEED].found || !v[SECRET].found) {
		snprintf(err, SECRETS_ERR_LEN, "%s: %s has no otp_seed and "
		    "token_secret of its own to rotate", path,
		    domain ? "that section" : "the global section");
		goto out;
	}
	old_until = until_in_text(text, &v[PREV_UNTIL]);
	if (v[PREV_SEED].found && old_until > now && !force) {
		snprintf(err, SECRETS_ERR_LEN, "%s: the last rotation's "
		    "previous pair is accepted until %.*s; rotating now would "
		    "drop it while the web application may still use it. Wait "
		    "until then, or give --force to drop it", path,
		    (int)(v[PREV_UNTIL].end - v[PREV_UNTIL].start),
		    text + v[PREV_UNTIL].start);
		goto out;
	}
	if (rewrite(text, len, v, fresh, until_text, &ed) == -1) {
		rotation_error(err, path, "too large to rewrite", 0);
		goto out;
	}
	rc = replace(path, &st, ed.out, ed.len, err);
out:
	secmem_free(ed.out, MAX_TEXT);
	secmem_free(text, MAX_TEXT);
	close(lock);
	return rc;
}
