/*
 * The replay store's one interface: the config's lines about the store go
 * to the kind of store replay_store names, and each call to that kind
 * (replay_store.h says what a kind implements). Nothing here knows a store
 * by name: a new kind is a new file and a line in the table below.
 */
#include <stdio.h>
#include <string.h>

#include "replay_store.h"
#include "setting.h"

/* The kinds of store, the default's first. */
static const struct replay_backend *const backends[] = {
	&replay_lmdb,
	&replay_redis,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

_Static_assert(REPLAY_ERR_LEN >= SETTING_ERR_LEN, "message lengths");

/*
 * The store's keys in the order people read them: replay_store, the
 * default kind's own, replay_per_user (every kind's), the other kinds' own.
 */
const char *
replay_key(size_t i)
{
	const char *const *k;
	size_t b;

	if (i-- == 0)
		return "replay_store";
	for (b = 0; b < NBACKENDS; b++) {
		for (k = backends[b]->keys; *k != NULL; k++)
			if (i-- == 0)
				return *k;
		if (b == 0 && i-- == 0)
			return "replay_per_user";
	}
	return NULL;
}

static const struct replay_backend *
backend_naming(const char *value)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->names(value))
			return backends[i];
	return NULL;
}

static const struct replay_backend *
owner_of(const char *key)
{
	const char *const *k;
	size_t i;

	for (i = 0; i < NBACKENDS; i++)
		for (k = backends[i]->keys; *k != NULL; k++)
			if (strcmp(*k, key) == 0)
				return backends[i];
	return NULL;
}

static const struct replay_line *
line_of(const struct replay_line lines[], size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(lines[i].key, key) == 0)
			return &lines[i];
	return NULL;
}

/*
 * "replay_store must be A or B": every kind's form (or, shortly, its noun),
 * as the start of why. Returns its length.
 */
static int
must_be(char why[REPLAY_ERR_LEN], int shortly)
{
	size_t i;
	int n;

	n = snprintf(why, REPLAY_ERR_LEN, "replay_store must be ");
	for (i = 0; i < NBACKENDS && n > 0 && n < REPLAY_ERR_LEN; i++)
		n += snprintf(why + n, REPLAY_ERR_LEN - (size_t)n, "%s%s",
		    i > 0 ? " or " : "",
		    shortly ? backends[i]->noun : backends[i]->form);
	return n < REPLAY_ERR_LEN ? n : REPLAY_ERR_LEN - 1;
}

static int
no_such_store(char why[REPLAY_ERR_LEN])
{
	must_be(why, 0);
	return -1;
}

static int
too_long(char why[REPLAY_ERR_LEN])
{
	int n = must_be(why, 1);

	snprintf(why + n, REPLAY_ERR_LEN - (size_t)n, ", of at most %d bytes",
	    PATH_MAX - 1);
	return -1;
}

/* Chooses the kind of store for replay_store's value, and sets it. */
static int
set_store(struct replay_settings *s, const struct replay_line *l,
    char why[REPLAY_ERR_LEN])
{
	char value[PATH_MAX];
	int rc;

	if (l == NULL)
		return backends[0]->set_store(s, REPLAY_DEFAULT_STORE, why);
	if (l->len == 0 || l->len >= sizeof(value))
		return too_long(why);
	/* The value may hold a password: wiped once it is kept. */
	memcpy(value, l->value, l->len);
	value[l->len] = '\0';
	if ((s->backend = backend_naming(value)) == NULL)
		rc = no_such_store(why);
	else
		rc = s->backend->set_store(s, value, why);
	explicit_bzero(value, sizeof(value));
	return rc;
}

/* Why a key of another kind of store means nothing to this one. */
static int
misplaced(const struct replay_settings *s, const char *key, int store_set,
    char why[REPLAY_ERR_LEN])
{
	const struct replay_backend *owner = owner_of(key);

	if (s->backend->misplaced != NULL &&
	    s->backend->misplaced(key, why) == 0)
		return -1;
	snprintf(why, REPLAY_ERR_LEN, "%s applies to %s, but replay_store is "
	    "%s%s%s: %s, or remove this line", key, owner->what,
	    store_set ? s->backend->kind : "not set (the default, ",
	    store_set ? "" : s->backend->name, store_set ? "" : ")",
	    owner->how);
	return -1;
}

/*
 * The keys of the other kinds of store, in their tables' order: each one
 * given is an error on its own line.
 */
static int
check_misplaced(const struct replay_settings *s,
    const struct replay_line lines[], size_t n, int store_set, int *line,
    char why[REPLAY_ERR_LEN])
{
	const struct replay_line *l;
	const char *const *k;
	size_t i;

	for (i = 0; i < NBACKENDS; i++) {
		if (backends[i] == s->backend)
			continue;
		for (k = backends[i]->keys; *k != NULL; k++) {
			if ((l = line_of(lines, n, *k)) != NULL) {
				*line = l->line;
				return misplaced(s, *k, store_set, why);
			}
		}
	}
	return 0;
}

int
replay_settings_load(struct replay_settings *s,
    const struct replay_line lines[], size_t n, int *line,
    char why[REPLAY_ERR_LEN])
{
	const struct replay_line *store = line_of(lines, n, "replay_store");
	const char *blame = "replay_store";
	size_t i;

	explicit_bzero(s, sizeof(*s));
	s->backend = backends[0];
	s->per_user = REPLAY_DEFAULT_PER_USER;
	*line = store != NULL ? store->line : 0;
	if (set_store(s, store, why) == -1 ||
	    check_misplaced(s, lines, n, store != NULL, line, why) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		*line = lines[i].line;
		if (strcmp(lines[i].key, "replay_per_user") == 0 &&
		    setting_number(lines[i].key, lines[i].value, lines[i].len,
			1, 100000, &s->per_user, why) == -1)
			goto fail;
		if (owner_of(lines[i].key) == s->backend &&
		    s->backend->set(s, lines[i].key, lines[i].value,
			lines[i].len, why) == -1)
			goto fail;
	}
	if (s->backend->check == NULL || s->backend->check(s, &blame, why) == 0)
		return 0;
	*line = line_of(lines, n, blame) != NULL ?
	    line_of(lines, n, blame)->line : 0;
fail:
	replay_settings_wipe(s);
	return -1;
}

void
replay_settings_wipe(struct replay_settings *s)
{
	explicit_bzero(s, sizeof(*s));
}

int
replay_setting_shown(const struct replay_settings *s, const char *key,
    char *out, size_t size)
{
	if (strcmp(key, "replay_store") == 0) {
		snprintf(out, size, "%s", s->store);
		return 0;
	}
	if (strcmp(key, "replay_per_user") == 0) {
		snprintf(out, size, "%u", s->per_user);
		return 0;
	}
	return s->backend->shown(s, key, out, size);
}

const char *
replay_kind(const struct replay_settings *s)
{
	return s->backend->word;
}

unsigned
replay_sandbox_needs(const struct replay_settings *s)
{
	return s->backend->sandbox | (s->backend->sandbox_needs != NULL ?
	    s->backend->sandbox_needs(s) : 0);
}

int
replay_check_place(const struct replay_settings *s, char err[REPLAY_ERR_LEN])
{
	return s->backend->check_place(s, err);
}

int
replay_check_usable(const struct replay_settings *s,
    char err[REPLAY_ERR_LEN])
{
	char why[REPLAY_ERR_LEN];
	struct replay *r;

	if (!s->backend->check_usable)
		return 0;
	if ((r = replay_open(s, REPLAY_WRITE, why)) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "%.200s (the user the helpers "
		    "run as must be able to make and write it: give it, or its "
		    "parent, to that user)", why);
		return -1;
	}
	replay_close(r);
	return 0;
}

struct replay *
replay_open(const struct replay_settings *s, enum replay_access access,
    char err[REPLAY_ERR_LEN])
{
	return s->backend->open(s, access, NULL, err);
}

struct replay *
replay_reopen(struct replay *old, const struct replay_settings *s,
    enum replay_access access, char err[REPLAY_ERR_LEN])
{
	if (old != NULL && old->backend != s->backend) {
		replay_close(old);
		old = NULL;
	}
	return s->backend->open(s, access, old, err);
}

void
replay_close(struct replay *r)
{
	if (r != NULL)
		r->backend->close(r);
}

int
replay_record(struct replay *r, const struct replay_entry entries[], size_t n,
    const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	int rc = r->backend->record(r, entries, n, t, results, err);

	if (rc == 0 && r->backend->mark_seen != NULL)
		rc = r->backend->mark_seen(r, entries, results, n, t->now, err);
	return rc;
}

enum replay_result
replay_seen(struct replay *r, const uint8_t user[REPLAY_USER_LEN], time_t now,
    char err[REPLAY_ERR_LEN])
{
	return r->backend->seen(r, user, now, err);
}

enum replay_result
replay_lookup(struct replay *r, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	return r->backend->lookup(r, e, t, err);
}

int
replay_describe(const struct replay_settings *s)
{
	return s->backend->describe(s);
}

int
replay_reset_clock(const struct replay_settings *s, time_t now,
    char msg[REPLAY_ERR_LEN])
{
	return s->backend->reset(s, now, msg);
}
