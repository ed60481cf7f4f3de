/*
 * Security rules for this file:
 * 1. The file is checked with fstat on the descriptor that is read: a regular
 *    file, owned by root or by us, not writable by its group or others, not
 *    readable by others.
 * 2. Its text holds the secrets, so it is read into locked memory and wiped
 *    on every path out, success or failure; so is the decoded seed.
 * 3. Error messages name the file, the line and the key, never a value.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "base32.h"
#include "config.h"
#include "config_lines.h"
#include "jid.h"
#include "secmem.h"
#include "setting.h"

#define MAX_FILE_SIZE	65536
#define MIN_SEED_BITS	80  /* RFC 4226: 128 recommended, 80 at the least */
#define MIN_SECRET_LEN	16
#define MAX_SECRET_LEN	256

#define GEN_HINT "; 'prosody-token-auth gen-secrets' makes new ones"

enum key {
	OTP_SEED,
	TOKEN_SECRET,
	PREVIOUS_SEED,
	PREVIOUS_SECRET,
	PREVIOUS_UNTIL,
	KEY_JWT_KEYS,
	KEY_JWT_AUDIENCE,
	KEY_JWT_ISSUER,
	KEY_JWT_LIFETIME,
	KEY_JWT_LEEWAY,
	OTP_DIGITS,
	OTP_INTERVAL,
	OTP_WINDOW,
	NONCE_DIGITS,
	STORE_SECRET,
	STORE_KEY, /* the replay store's (replay.h) */
	LOCK_MEMORY,
	ISUSER,
	ISUSER_SEEN_DAYS,
	NKEYS
};

/* Where the store's keys go, in the order people read them: NULL. */
static const struct {
	const char *name;
	enum key key;
} key_names[] = {
	{ "otp_seed", OTP_SEED },
	{ "prosody_otp_seed", OTP_SEED },
	{ "token_secret", TOKEN_SECRET },
	{ "prosody_token_secret", TOKEN_SECRET },
	{ "previous_otp_seed", PREVIOUS_SEED },
	{ "previous_token_secret", PREVIOUS_SECRET },
	{ "previous_until", PREVIOUS_UNTIL },
	{ "jwt_keys", KEY_JWT_KEYS },
	{ "jwt_audience", KEY_JWT_AUDIENCE },
	{ "jwt_issuer", KEY_JWT_ISSUER },
	{ "jwt_max_lifetime", KEY_JWT_LIFETIME },
	{ "jwt_leeway", KEY_JWT_LEEWAY },
	{ "otp_digits", OTP_DIGITS },
	{ "otp_interval", OTP_INTERVAL },
	{ "otp_window", OTP_WINDOW },
	{ "nonce_digits", NONCE_DIGITS },
	{ "store_secret", STORE_SECRET },
	{ NULL, STORE_KEY },
	{ "lock_memory", LOCK_MEMORY },
	{ "isuser", ISUSER },
	{ "isuser_seen_days", ISUSER_SEEN_DAYS },
};

#define NKEY_NAMES (sizeof(key_names) / sizeof(key_names[0]))
#define STORE_LINES_MAX 32 /* the store's keys, each at most once */

/* A value inside the locked copy of the file. */
struct span {
	const char *text;
	size_t len;
	int line;
};

/* A pair of secrets as written: [0] the current one, [1] the previous. */
struct pair_text {
	struct span seed, secret;
};

/* Who exists for the server: isuser and isuser_seen_days as written. */
struct isuser_text {
	struct span mode, days;
};

struct section {
	char *name; /* NULL for the global section */
	int line;
	struct pair_text pair[2];
	struct span until; /* previous_until */
	struct span jwt[5]; /* jwt_keys ... jwt_leeway, by enum key */
	struct isuser_text isuser;
};

static const char *const key_names_of_jwt[5] = { "jwt_keys",
	"jwt_audience", "jwt_issuer", "jwt_max_lifetime", "jwt_leeway" };

/* The names of a pair's keys, for messages. */
static const char *const seed_names[2] = { "otp_seed", "previous_otp_seed" };
static const char *const secret_names[2] = { "token_secret",
	"previous_token_secret" };

struct parser {
	const char *path;
	char *err;
	struct config *cfg;
	struct section *sections;
	size_t nsections;
	struct section *current;
	int set_on_line[NKEYS]; /* global settings already made */
	struct replay_line store[STORE_LINES_MAX]; /* for the store to set */
	size_t nstore;
	struct span store_secret;
	struct isuser_text isuser; /* the global one, whatever the sections */
};

/* The i-th known key, in the order people read them, or NULL. */
static const char *
known_key(size_t i, enum key *key)
{
	const char *name;
	size_t k, j;

	for (k = 0; k < NKEY_NAMES; k++) {
		*key = key_names[k].key;
		if (key_names[k].name != NULL && i-- == 0)
			return key_names[k].name;
		for (j = 0; key_names[k].name == NULL &&
		    (name = replay_key(j)) != NULL; j++)
			if (i-- == 0)
				return name;
	}
	return NULL;
}

static int fail(struct parser *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct parser *p, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, CONFIG_ERR_LEN, "%s:%d: %s", p->path, line,
		    msg);
	else
		snprintf(p->err, CONFIG_ERR_LEN, "%s: %s", p->path, msg);
	return -1;
}

static void
stamp_of(const struct stat *st, struct config_stamp *s)
{
	memset(s, 0, sizeof(*s));
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime = st->st_mtim;
	s->ctime = st->st_ctim;
}

/* Folds a JWK Set's file into the config's stamp: any change shows. */
static void
fold(struct config_stamp *s, const struct stat *st)
{
	s->ino ^= st->st_ino * 0x9e3779b97f4a7c15ULL ^ st->st_dev;
	s->size += st->st_size + 1;
	s->mtime.tv_sec ^= st->st_mtim.tv_sec;
	s->mtime.tv_nsec ^= st->st_mtim.tv_nsec;
	s->ctime.tv_sec ^= st->st_ctim.tv_sec;
	s->ctime.tv_nsec ^= st->st_ctim.tv_nsec;
}

/* The JWK Sets of c folded into s, as they are now (gone: all zero). */
static void
fold_key_files(const struct config *c, struct config_stamp *s, int now)
{
	struct stat st;
	size_t i;

	for (i = 0; i < c->ndomains; i++) {
		if (c->domains[i].jwt.keys == NULL)
			continue;
		if (!now)
			st = c->domains[i].jwt.keys->st;
		else if (stat(c->domains[i].jwt.keys->path, &st) == -1)
			memset(&st, 0, sizeof(st));
		fold(s, &st);
	}
}

int
config_stamp(const struct config *c, struct config_stamp *s)
{
	struct stat st;

	if (stat(c->path, &st) == -1)
		return -1;
	stamp_of(&st, s);
	fold_key_files(c, s, 1);
	return 0;
}

int
config_stamp_equal(const struct config_stamp *a, const struct config_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static int
check_file(struct parser *p, int fd, struct stat *st)
{
	if (fstat(fd, st) == -1)
		return fail(p, 0, "%s", strerror(errno));
	if (!S_ISREG(st->st_mode))
		return fail(p, 0, "not a regular file");
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return fail(p, 0, "owned by uid %u; it must belong to root or "
		    "to the user running the helper (chown root)",
		    (unsigned)st->st_uid);
	if (st->st_mode & S_IRWXO)
		return fail(p, 0, "readable by other users, but it holds "
		    "secrets; fix with: chmod o-rwx %s (and give the web "
		    "application new secrets if others could read these)",
		    p->path);
	if (st->st_mode & S_IWGRP)
		return fail(p, 0, "writable by its group; fix with: "
		    "chmod g-w %s", p->path);
	if (st->st_size > MAX_FILE_SIZE)
		return fail(p, 0, "larger than %d bytes; is it the right "
		    "file?", MAX_FILE_SIZE);
	return 0;
}

/* Reads the whole file into locked memory of *size bytes; *len are text. */
static char *
read_file(struct parser *p, size_t *size, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	if ((fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		fail(p, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (check_file(p, fd, &st) == -1)
		goto out;
	stamp_of(&st, &p->cfg->stamp);
	*size = (size_t)st.st_size + 1;
	if ((buf = secmem_alloc(*size)) == NULL) {
		fail(p, 0, "cannot allocate memory for the secrets: %s",
		    strerror(errno));
		goto out;
	}
	/* One byte more than fstat said, to notice a file still growing. */
	*len = 0;
	while ((n = read(fd, buf + *len, *size - *len)) > 0)
		*len += (size_t)n;
	if (n == -1 || *len == *size) {
		fail(p, 0, "%s", n == -1 ? strerror(errno) : "changed while read");
		secmem_free(buf, *size);
		buf = NULL;
		goto out;
	}
out:
	close(fd);
	return buf;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static struct section *
add_section(struct parser *p, char *name, int line)
{
	struct section *s;

	s = reallocarray(p->sections, p->nsections + 1, sizeof(*s));
	if (s == NULL)
		return NULL;
	p->sections = s;
	s = &p->sections[p->nsections++];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->line = line;
	return s;
}

static struct section *
find_section(struct parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nsections; i++) {
		const char *other = p->sections[i].name;

		if (name == NULL ? other == NULL :
				   other != NULL && strcmp(name, other) == 0)
			return &p->sections[i];
	}
	return NULL;
}

static int
parse_section(struct parser *p, const char *s, size_t len, int line)
{
	struct section *old;
	char *name = NULL;
	size_t i;

	if (!config_section_is_global(s, len)) {
		if (!jid_valid_domain(s, len))
			return fail(p, line, "[%.*s] is not an XMPP domain",
			    (int)(len > 64 ? 64 : len), s);
		if ((name = strndup(s, len)) == NULL)
			return fail(p, line, "out of memory");
		for (i = 0; i < len; i++)
			name[i] = (char)tolower((unsigned char)name[i]);
	}
	if ((old = find_section(p, name)) != NULL) {
		free(name);
		return fail(p, line, "this section already began on line %d; "
		    "merge the two", old->line);
	}
	if ((p->current = add_section(p, name, line)) == NULL) {
		free(name);
		return fail(p, line, "out of memory");
	}
	return 0;
}

/* Whether s could be a key someone meant to write: a short word. */
static int
key_like(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 32)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* Edits (insert, delete, change, swap two neighbours) from a to b. */
static size_t
edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t d[34][34], i, j, cost, best;

	for (i = 0; i <= alen; i++)
		d[i][0] = i;
	for (j = 0; j <= blen; j++)
		d[0][j] = j;
	for (i = 1; i <= alen; i++) {
		for (j = 1; j <= blen; j++) {
			cost = tolower((unsigned char)a[i - 1]) != b[j - 1];
			best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[alen][blen];
}

/* The known key that s misspells (two edits at most), or NULL. */
static const char *
misspelt_key(const char *s, size_t len)
{
	const char *name;
	enum key key;
	size_t i;

	if (!key_like(s, len))
		return NULL;
	for (i = 0; (name = known_key(i, &key)) != NULL; i++)
		if (strlen(name) <= 32 &&
		    edit_distance(s, len, name, strlen(name)) <= 2)
			return name;
	return NULL;
}

/*
 * An unknown key is named only when it misspells a known one: whatever
 * else is before the '=' may be a secret (a line such as
 * "token_secret: c2Vj...=" has its '=' in the value).
 */
static int
unknown_key(struct parser *p, const char *k, size_t len, int line)
{
	char known[512] = "";
	const char *near, *name;
	enum key key;
	size_t i;

	if ((near = misspelt_key(k, len)) != NULL)
		return fail(p, line, "unknown key '%.*s'; did you mean '%s'?",
		    (int)len, k, near);
	for (i = 0; (name = known_key(i, &key)) != NULL; i++) {
		if (strncmp(name, "prosody_", 8) == 0)
			continue;
		if (known[0] != '\0')
			strlcat(known, ", ", sizeof(known));
		strlcat(known, name, sizeof(known));
	}
	return fail(p, line, "not a known key (the line is not shown: it may "
	    "hold a secret); write 'key = value' with one of: %s", known);
}

/*
 * Values are written bare: quotes would become part of a secret, and every
 * token would then have a bad signature. Only a path may hold blanks.
 */
static int
check_value(struct parser *p, const char *name, const char *v, size_t len,
    int line)
{
	size_t i;

	if (len > 0 && (strchr("\"'", v[0]) || strchr("\"'", v[len - 1])))
		return fail(p, line, "%s is quoted; values are written without "
		    "quotes (they would be part of it): remove them", name);
	if (strcmp(name, "replay_store") == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (is_blank(v[i]))
			return fail(p, line, "%s holds white space; remove it "
			    "(a secret is one word, as the web application "
			    "has it)", name);
	return 0;
}

/* Keys of a section: a pair of secrets, and a previous pair's. */
static int
section_key(enum key key)
{
	return key == OTP_SEED || key == TOKEN_SECRET || key == PREVIOUS_SEED ||
	    key == PREVIOUS_SECRET || key == PREVIOUS_UNTIL ||
	    (key >= KEY_JWT_KEYS && key <= KEY_JWT_LEEWAY);
}

/* The known key s names, or NULL. */
static const char *
lookup_key(const char *s, size_t len, enum key *key)
{
	const char *name;
	size_t i;

	for (i = 0; (name = known_key(i, key)) != NULL; i++)
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return name;
	return NULL;
}

int
config_key_is(const char *key, size_t len, const char *name)
{
	enum key written, meant;

	return lookup_key(key, len, &written) != NULL &&
	    lookup_key(name, strlen(name), &meant) != NULL &&
	    written == meant && (written != STORE_KEY ||
	    (strlen(name) == len && memcmp(key, name, len) == 0));
}

static int
set_secret(struct parser *p, struct span *span, const char *name,
    const char *v, size_t len, int line)
{
	if (span->text != NULL)
		return fail(p, line, "%s is already set on line %d", name,
		    span->line);
	span->text = v;
	span->len = len;
	span->line = line;
	return 0;
}

static int
set_number(struct parser *p, unsigned *out, const char *name, const char *v,
    size_t len, long long min, long long max, int line)
{
	char why[SETTING_ERR_LEN];

	if (setting_number(name, v, len, min, max, out, why) == -1)
		return fail(p, line, "%s", why);
	return 0;
}

static int
set_lock_memory(struct parser *p, const char *v, size_t len, int line)
{
	if (len == 8 && memcmp(v, "required", 8) == 0)
		p->cfg->lock_required = 1;
	else if (len == 11 && memcmp(v, "best-effort", 11) == 0)
		p->cfg->lock_required = 0;
	else
		return fail(p, line, "lock_memory must be 'required' or "
		    "'best-effort'");
	return 0;
}

/* A line of the store's, kept for it to set once every line is read. */
static int
keep_store_line(struct parser *p, const char *name, const char *v,
    size_t len, int line)
{
	struct replay_line *l = &p->store[p->nstore];

	if (p->nstore == STORE_LINES_MAX)
		return fail(p, line, "internal error");
	l->key = name;
	l->value = v;
	l->len = len;
	l->line = line;
	p->nstore++;
	return 0;
}

static int
set_global(struct parser *p, enum key key, const char *name, const char *v,
    size_t len, int line)
{
	struct config *c = p->cfg;
	size_t i;

	for (i = 0; key == STORE_KEY && i < p->nstore; i++)
		if (strcmp(p->store[i].key, name) == 0)
			return fail(p, line, "%s is already set on line %d",
			    name, p->store[i].line);
	if (key != STORE_KEY && p->set_on_line[key])
		return fail(p, line, "%s is already set on line %d", name,
		    p->set_on_line[key]);
	p->set_on_line[key] = line;
	switch (key) {
	case OTP_DIGITS:
		return set_number(p, &c->params.otp_digits, name, v, len,
		    TOTP_MIN_DIGITS, TOTP_MAX_DIGITS, line);
	case OTP_INTERVAL:
		return set_number(p, &c->params.otp_interval, name, v, len, 1,
		    3600, line);
	case OTP_WINDOW:
		return set_number(p, &c->params.otp_window, name, v, len, 0,
		    (TOTP_MAX_WINDOW - 1) / 2, line);
	case NONCE_DIGITS:
		return set_number(p, &c->params.nonce_digits, name, v, len,
		    TOKEN_MIN_NONCE, TOKEN_MAX_NONCE, line);
	case LOCK_MEMORY:
		return set_lock_memory(p, v, len, line);
	case STORE_SECRET:
		return set_secret(p, &p->store_secret, name, v, len, line);
	case STORE_KEY:
		return keep_store_line(p, name, v, len, line);
	default:
		return fail(p, line, "internal error");
	}
}

/*
 * isuser and isuser_seen_days: in a [domain] section for that domain,
 * above the first for every domain that does not set its own. Checked
 * once every line is read (isuser_of).
 */
static int
set_isuser(struct parser *p, enum key key, const char *name, const char *v,
    size_t len, int line)
{
	struct isuser_text *t = p->current != NULL &&
	    p->current->name != NULL ? &p->current->isuser : &p->isuser;

	return set_secret(p, key == ISUSER ? &t->mode : &t->days, name, v,
	    len, line);
}

static int
parse_setting(struct parser *p, const struct config_line *l)
{
	const char *k = l->name, *v = l->value, *name;
	size_t klen = l->name_len, vlen = l->value_len;
	int line = l->number;
	enum key key;

	if ((name = lookup_key(k, klen, &key)) == NULL)
		return unknown_key(p, k, klen, line);
	if (check_value(p, name, v, vlen, line) == -1)
		return -1;
	if (section_key(key) && p->current == NULL &&
	    (p->current = add_section(p, NULL, line)) == NULL)
		return fail(p, line, "out of memory");
	if (key == ISUSER || key == ISUSER_SEEN_DAYS)
		return set_isuser(p, key, name, v, vlen, line);
	switch (key) {
	case OTP_SEED:
		return set_secret(p, &p->current->pair[0].seed, name, v, vlen,
		    line);
	case TOKEN_SECRET:
		return set_secret(p, &p->current->pair[0].secret, name, v,
		    vlen, line);
	case PREVIOUS_SEED:
		return set_secret(p, &p->current->pair[1].seed, name, v, vlen,
		    line);
	case PREVIOUS_SECRET:
		return set_secret(p, &p->current->pair[1].secret, name, v,
		    vlen, line);
	case PREVIOUS_UNTIL:
		return set_secret(p, &p->current->until, name, v, vlen, line);
	case KEY_JWT_KEYS:
	case KEY_JWT_AUDIENCE:
	case KEY_JWT_ISSUER:
	case KEY_JWT_LIFETIME:
	case KEY_JWT_LEEWAY:
		return set_secret(p, &p->current->jwt[key - KEY_JWT_KEYS], name,
		    v, vlen, line);
	default:
		break;
	}
	if (p->current != NULL && p->current->name != NULL)
		return fail(p, line, "%s applies to every domain: move it "
		    "above the first [domain] section", name);
	return set_global(p, key, name, v, vlen, line);
}

static int
parse_text(struct parser *p, const char *text, size_t len)
{
	struct config_text t = { text, len, 0, 0 };
	struct config_line l;
	int rc = 0;

	while (rc == 0 && config_next_line(&t, &l)) {
		switch (l.kind) {
		case CONFIG_LINE_EMPTY:
			break;
		case CONFIG_LINE_SECTION:
			rc = parse_section(p, l.name, l.name_len, l.number);
			break;
		case CONFIG_LINE_SETTING:
			rc = parse_setting(p, &l);
			break;
		case CONFIG_LINE_MALFORMED:
			rc = fail(p, l.number, "%s", l.why);
			break;
		}
	}
	return rc;
}

/*
 * The store's lines, set by the store once every line is read (they may
 * come in any order); it says which line is to blame.
 */
static int
load_store(struct parser *p)
{
	char why[REPLAY_ERR_LEN];
	int line;

	if (replay_settings_load(&p->cfg->replay, p->store, p->nstore, &line,
		why) == 0)
		return 0;
	return fail(p, line, "%s", why);
}

/* See config.h. Returns 0, or -1 if the library failed. */
static int
fingerprint(const struct span *secret, char out[CONFIG_FINGERPRINT_LEN + 1])
{
	static const char message[] = "prosody-token-auth fingerprint";
	const uint8_t *msg[] = { (const uint8_t *)message };
	const size_t len[] = { sizeof(message) - 1 };
	uint8_t h[MAC_MAX_LEN];
	struct mac *m;
	int i, rc = -1;

	if ((m = mac_new("SHA256", (const uint8_t *)secret->text,
		 secret->len)) != NULL &&
	    mac_compute(m, msg, len, 1, h) == 0) {
		for (i = 0; i < CONFIG_FINGERPRINT_LEN / 2; i++)
			snprintf(out + 2 * i, 3, "%02x", h[i]);
		rc = 0;
	}
	mac_free(m);
	explicit_bzero(h, sizeof(h));
	return rc;
}

/* Keys one pair of a section, [0] current or [1] previous, into k. */
static int
pair_keys(struct parser *p, const struct section *s, int which,
    struct token_pair *k, struct config_pair_info *info)
{
	const struct pair_text *t = &s->pair[which];
	size_t seedmax = BASE32_DECODED_MAX(MAX_SECRET_LEN);
	uint8_t *seed;
	int n;

	if (t->seed.len > MAX_SECRET_LEN)
		return fail(p, t->seed.line, "%s must be at most %d base32 "
		    "characters" GEN_HINT, seed_names[which], MAX_SECRET_LEN);
	if (t->secret.len < MIN_SECRET_LEN || t->secret.len > MAX_SECRET_LEN)
		return fail(p, t->secret.line, "%s must be %d to %d characters"
		    GEN_HINT, secret_names[which], MIN_SECRET_LEN,
		    MAX_SECRET_LEN);
	if ((seed = secmem_alloc(seedmax)) == NULL)
		return fail(p, s->line, "cannot allocate memory: %s",
		    strerror(errno));
	n = base32_decode(t->seed.text, t->seed.len, seed);
	if (n * 8 >= MIN_SEED_BITS)
		k->otp = mac_new("SHA1", seed, (size_t)n);
	secmem_free(seed, seedmax);
	if (n < 0)
		return fail(p, t->seed.line, "%s is not base32 (letters A-Z "
		    "and digits 2-7)" GEN_HINT, seed_names[which]);
	if (n * 8 < MIN_SEED_BITS)
		return fail(p, t->seed.line, "%s is a key of %d bits; TOTP "
		    "needs at least %d (16 base32 characters, padding not "
		    "counted), and 128 or more are recommended" GEN_HINT,
		    seed_names[which], n * 8, MIN_SEED_BITS);
	k->sig = mac_new("SHA256", (const uint8_t *)t->secret.text,
	    t->secret.len);
	k->window = totp_window_new();
	info->line = t->seed.line;
	if (k->otp == NULL || k->sig == NULL || k->window == NULL ||
	    fingerprint(&t->seed, info->seed_fingerprint) == -1 ||
	    fingerprint(&t->secret, info->secret_fingerprint) == -1)
		return fail(p, s->line, "cannot set up HMAC (OpenSSL)");
	return 0;
}

/* The name of a section, for messages. */
static const char *
section_label(const struct section *s, char buf[96])
{
	if (s->name == NULL)
		return "the global section";
	snprintf(buf, 96, "section [%.80s]", s->name);
	return buf;
}

/*
 * The previous pair's deadline: an RFC 3339 time in UTC, as
 * 2026-12-24T18:00:00Z, no further ahead than CONFIG_MAX_OVERLAP.
 */
static int
set_until(struct parser *p, const struct section *s, time_t *until)
{
	const struct span *u = &s->until;
	char text[32];
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (u->len < sizeof(text)) {
		memcpy(text, u->text, u->len);
		text[u->len] = '\0';
	}
	if (u->len >= sizeof(text) ||
	    (end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0) ||
	    u->len != 20 + 5 * (end[0] == '+'))
		return fail(p, u->line, "previous_until must be a time in UTC "
		    "as RFC 3339 writes it, such as 2026-12-24T18:00:00Z");
	*until = timegm(&tm);
	if (*until > time(NULL) + CONFIG_MAX_OVERLAP)
		return fail(p, u->line, "previous_until is more than 30 days "
		    "ahead: the previous secrets are for the overlap of a "
		    "rotation (hours or days), while the web application's "
		    "nodes are updated");
	return 0;
}

/* A span as a NUL-terminated string of at most max bytes; -1 if longer. */
static int
span_string(const struct span *s, char *out, size_t max)
{
	if (s->len > max)
		return -1;
	memcpy(out, s->text, s->len);
	out[s->len] = '\0';
	return 0;
}

/* A value of the JWT keys that needs jwt_keys, or jwt_keys that needs it. */
static int
jwt_settings(struct parser *p, const struct section *s, struct jwt_domain *j)
{
	const struct span *aud = &s->jwt[KEY_JWT_AUDIENCE - KEY_JWT_KEYS];
	const struct span *iss = &s->jwt[KEY_JWT_ISSUER - KEY_JWT_KEYS];
	const struct span *life = &s->jwt[KEY_JWT_LIFETIME - KEY_JWT_KEYS];
	const struct span *lee = &s->jwt[KEY_JWT_LEEWAY - KEY_JWT_KEYS];

	if (aud->text == NULL)
		return fail(p, s->jwt[0].line, "jwt_keys needs jwt_audience: "
		    "the value every token's aud must hold (the XMPP "
		    "service's name, such as xmpp:chat.example.org)");
	if (span_string(aud, j->audience, JWT_MAX_VALUE) == -1 ||
	    aud->len == 0)
		return fail(p, aud->line, "jwt_audience must be 1 to %d "
		    "characters", JWT_MAX_VALUE);
	if (iss->text != NULL && (span_string(iss, j->issuer,
	    JWT_MAX_VALUE) == -1 || iss->len == 0))
		return fail(p, iss->line, "jwt_issuer must be 1 to %d "
		    "characters", JWT_MAX_VALUE);
	j->max_lifetime = JWT_DEFAULT_LIFETIME;
	j->leeway = JWT_DEFAULT_LEEWAY;
	if (life->text != NULL && set_number(p, &j->max_lifetime,
	    "jwt_max_lifetime", life->text, life->len, 1, JWT_MAX_LIFETIME,
	    life->line) == -1)
		return -1;
	if (lee->text != NULL && set_number(p, &j->leeway, "jwt_leeway",
	    lee->text, lee->len, 0, JWT_MAX_LEEWAY, lee->line) == -1)
		return -1;
	return 0;
}

/* The section's JWK Set and its settings, if it has jwt_keys. */
static int
jwt_keys(struct parser *p, const struct section *s, struct config_domain *d)
{
	const struct span *keys = &s->jwt[0];
	char path[PATH_MAX], why[JWKS_ERR_LEN];
	size_t i;

	if (keys->text == NULL) {
		for (i = 1; i < 5; i++)
			if (s->jwt[i].text != NULL)
				return fail(p, s->jwt[i].line, "%s without "
				    "jwt_keys: add jwt_keys = /PATH/TO/SET.jwks "
				    "to this section, or remove it",
				    key_names_of_jwt[i]);
		return 0;
	}
	if (span_string(keys, path, sizeof(path) - 1) == -1 ||
	    path[0] != '/')
		return fail(p, keys->line, "jwt_keys must be an absolute path "
		    "to a JWK Set file");
	if (jwt_settings(p, s, &d->jwt) == -1)
		return -1;
	if ((d->jwt.keys = jwks_load(path, why)) == NULL)
		return fail(p, keys->line, "jwt_keys: %s", why);
	d->formats.jwt = &d->jwt;
	return 0;
}

static int
section_keys(struct parser *p, const struct section *s,
    struct config_domain *d)
{
	const struct pair_text *prev = &s->pair[1];
	int has_previous = prev->seed.text != NULL || prev->secret.text != NULL;
	char label[96];

	if (jwt_keys(p, s, d) == -1)
		return -1;
	if (d->formats.jwt != NULL && !has_previous &&
	    s->pair[0].seed.text == NULL && s->pair[0].secret.text == NULL &&
	    s->until.text == NULL)
		return 0; /* JWTs only */
	if (s->pair[0].seed.text == NULL || s->pair[0].secret.text == NULL)
		return fail(p, s->line, "%s needs both otp_seed and "
		    "token_secret" GEN_HINT, section_label(s, label));
	if (has_previous &&
	    (prev->seed.text == NULL || prev->secret.text == NULL))
		return fail(p, prev->seed.text != NULL ? prev->seed.line :
		    prev->secret.line, "%s has only one of previous_otp_seed "
		    "and previous_token_secret: a previous pair needs both "
		    "(the web application's old secrets)",
		    section_label(s, label));
	if (has_previous && s->until.text == NULL)
		return fail(p, prev->seed.line, "previous_otp_seed and "
		    "previous_token_secret need previous_until, the time "
		    "(UTC) until which tokens made with them are accepted, "
		    "such as previous_until = 2026-12-24T18:00:00Z");
	if (!has_previous && s->until.text != NULL)
		return fail(p, s->until.line, "previous_until without "
		    "previous_otp_seed and previous_token_secret: remove it, "
		    "or add the previous pair");
	if (pair_keys(p, s, 0, &d->keys.current, &d->current) == -1)
		return -1;
	d->formats.converse = &d->keys;
	if (!has_previous)
		return 0;
	if (set_until(p, s, &d->keys.previous_until) == -1)
		return -1;
	return pair_keys(p, s, 1, &d->keys.previous, &d->previous);
}

/*
 * The longest any format of c accepts a token after its step's end: a
 * collective.converse token's window, a JWT's leeway (format_jwt.c).
 */
static time_t
store_keep(const struct config *c)
{
	time_t keep = (time_t)c->params.otp_window * c->params.otp_interval;
	size_t i;

	for (i = 0; i < c->ndomains; i++)
		if (c->domains[i].formats.jwt != NULL &&
		    (time_t)c->domains[i].jwt.leeway > keep)
			keep = (time_t)c->domains[i].jwt.leeway;
	return keep;
}

static time_t
store_lifetime(const struct config *c)
{
	time_t life = (time_t)(2 * c->params.otp_window + 1) *
	    c->params.otp_interval;
	size_t i;

	for (i = 0; i < c->ndomains; i++)
		if (c->domains[i].formats.jwt != NULL &&
		    (time_t)c->domains[i].jwt.max_lifetime +
		    c->domains[i].jwt.leeway > life)
			life = (time_t)c->domains[i].jwt.max_lifetime +
			    c->domains[i].jwt.leeway;
	return life;
}

/* One section's isuser settings, or, where it has none, the global's. */
static int
isuser_of(struct parser *p, const struct isuser_text *own,
    struct config_isuser *out)
{
	const struct span *mode = own->mode.text != NULL ? &own->mode :
							   &p->isuser.mode;
	const struct span *days = own->days.text != NULL ? &own->days :
							   &p->isuser.days;

	out->seen = 0;
	out->days = CONFIG_SEEN_DAYS;
	if (mode->text != NULL) {
		if (mode->len == 4 && memcmp(mode->text, "seen", 4) == 0)
			out->seen = 1;
		else if (mode->len != 3 || memcmp(mode->text, "any", 3) != 0)
			return fail(p, mode->line, "isuser must be 'any' (every "
			    "user of a configured domain exists) or 'seen' "
			    "(only those who logged in with a valid token "
			    "within isuser_seen_days)");
	}
	if (days->text != NULL && set_number(p, &out->days,
	    "isuser_seen_days", days->text, days->len, 1,
	    CONFIG_SEEN_DAYS_MAX, days->line) == -1)
		return -1;
	if (out->seen && p->store_secret.text == NULL)
		return fail(p, mode->line, "isuser = seen records who logged "
		    "in, under the store's own key: add store_secret (32 "
		    "base32 characters, as 'prosody-token-auth gen-secrets' "
		    "prints one), or set isuser = any");
	return 0;
}

static int
build_domains(struct parser *p)
{
	struct config *c = p->cfg;
	size_t i;

	if (p->nsections == 0)
		return fail(p, 0, "no secrets: add otp_seed and token_secret"
		    GEN_HINT ", or jwt_keys and jwt_audience for JWTs");
	if (isuser_of(p, &p->isuser, &c->isuser) == -1)
		return -1;
	if ((c->domains = calloc(p->nsections, sizeof(*c->domains))) == NULL)
		return fail(p, 0, "out of memory");
	for (i = 0; i < p->nsections; i++) {
		struct config_domain *d = &c->domains[c->ndomains++];

		d->line = p->sections[i].line;
		d->formats.params = &c->params;
		if (section_keys(p, &p->sections[i], d) == -1 ||
		    isuser_of(p, &p->sections[i].isuser, &d->isuser) == -1)
			return -1;
		d->name = p->sections[i].name;
		p->sections[i].name = NULL;
	}
	c->store_keep = store_keep(c);
	c->store_lifetime = store_lifetime(c);
	return 0;
}

/*
 * The replay store's own key (config.h), and its id: the first 8 bytes
 * of HMAC-SHA256 keyed with it of "prosody-token-auth store key id".
 */
static int
store_key(struct parser *p)
{
	static const char message[] = "prosody-token-auth store key id";
	const uint8_t *msg[] = { (const uint8_t *)message };
	const size_t len[] = { sizeof(message) - 1 };
	const struct span *t = &p->store_secret;
	struct config *c = p->cfg;
	uint8_t h[MAC_MAX_LEN];
	int i;

	if (t->text == NULL)
		return 0;
	if (t->len < MIN_SECRET_LEN || t->len > MAX_SECRET_LEN)
		return fail(p, t->line, "store_secret must be %d to %d "
		    "characters" GEN_HINT, MIN_SECRET_LEN, MAX_SECRET_LEN);
	c->store_secret_line = t->line;
	if ((c->store_key = mac_new("SHA256", (const uint8_t *)t->text,
		 t->len)) == NULL ||
	    mac_compute(c->store_key, msg, len, 1, h) != 0 ||
	    fingerprint(t, c->store_fingerprint) == -1)
		return fail(p, t->line, "cannot set up HMAC (OpenSSL)");
	for (i = 0; i < 8; i++)
		c->store_key_id = c->store_key_id << 8 | h[i];
	c->store_key_id |= c->store_key_id == 0;
	explicit_bzero(h, sizeof(h));
	return 0;
}

/* With lock_memory = required, secrets that could not be locked refuse. */
static int
check_locked(struct parser *p)
{
	int e = secmem_lock_errno();

	if (!p->cfg->lock_required || e == 0)
		return 0;
	return fail(p, p->set_on_line[LOCK_MEMORY], "lock_memory = required, "
	    "but the secrets cannot be locked in memory (%s): %s, or remove "
	    "this line", strerror(e), CONFIG_LOCK_ADVICE);
}

const char *
config_lock_warning(void)
{
	static char msg[512];
	int e = secmem_lock_errno();

	if (e == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "warning: the secrets are not locked in "
	    "memory (%s), so the system may swap them to disk; the other "
	    "protections hold (no core dumps, not dumpable, wiped after use). "
	    "To lock them, %s; lock_memory = required refuses to run without",
	    strerror(e), CONFIG_LOCK_ADVICE);
	return msg;
}

static void
set_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->params.otp_digits = 8;
	c->params.otp_interval = 30;
	c->params.otp_window = 1;
	c->params.nonce_digits = 32;
}

int
config_load(const char *path, struct config *c, char err[CONFIG_ERR_LEN])
{
	struct parser p = { .path = path, .err = err, .cfg = c };
	size_t size = 0, len = 0, i;
	char *text;
	int rc = -1;

	set_defaults(c);
	if (strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path)) {
		snprintf(err, CONFIG_ERR_LEN, "%.64s...: path longer than %d "
		    "bytes", path, PATH_MAX - 1);
		return -1;
	}
	if ((text = read_file(&p, &size, &len)) == NULL)
		return -1;
	if (parse_text(&p, text, len) == 0 && load_store(&p) == 0 &&
	    build_domains(&p) == 0 && store_key(&p) == 0 &&
	    check_locked(&p) == 0)
		rc = 0;
	if (rc == 0)
		fold_key_files(c, &c->stamp, 0);
	secmem_free(text, size);
	for (i = 0; i < p.nsections; i++)
		free(p.sections[i].name);
	free(p.sections);
	if (rc == -1)
		config_free(c);
	return rc;
}

/* The section of the domain, or else the global one; NULL if neither. */
static const struct config_domain *
section_of(const struct config *c, const char *domain, size_t len)
{
	const struct config_domain *global = NULL;
	size_t i;

	for (i = 0; i < c->ndomains; i++) {
		const char *name = c->domains[i].name;

		if (name == NULL)
			global = &c->domains[i];
		else if (strlen(name) == len && strncasecmp(name, domain,
						    len) == 0)
			return &c->domains[i];
	}
	return global;
}

const struct format_keys *
config_formats(const struct config *c, const char *domain, size_t len)
{
	const struct config_domain *d = section_of(c, domain, len);

	return d != NULL ? &d->formats : NULL;
}

const struct token_keys *
config_keys(const struct config *c, const char *domain, size_t len)
{
	const struct format_keys *f = config_formats(c, domain, len);

	return f != NULL ? f->converse : NULL;
}

const struct config_isuser *
config_isuser(const struct config *c, const char *domain, size_t len)
{
	const struct config_domain *d = section_of(c, domain, len);

	return d != NULL ? &d->isuser : NULL;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->ndomains; i++) {
		mac_free(c->domains[i].keys.current.otp);
		mac_free(c->domains[i].keys.current.sig);
		mac_free(c->domains[i].keys.previous.otp);
		mac_free(c->domains[i].keys.previous.sig);
		totp_window_free(c->domains[i].keys.current.window);
		totp_window_free(c->domains[i].keys.previous.window);
		jwks_free(c->domains[i].jwt.keys);
		free(c->domains[i].name);
	}
	free(c->domains);
	c->domains = NULL;
	c->ndomains = 0;
	mac_free(c->store_key);
	c->store_key = NULL;
	replay_settings_wipe(&c->replay);
}
