/*
 * Security rules for this file:
 * 1. Single use: the check and the insert happen in one LMDB write
 *    transaction, which LMDB serialises across processes, so a nonce is
 *    accepted once on the whole host.
 * 2. Fail closed: a key that cannot be recorded, for whatever reason (a
 *    full store too), is REPLAY_ERROR, and its token is refused.
 * 3. Bounded: at most capacity entries, in a map sized with room to spare
 *    (LMDB needs free pages even to delete). Each entry's key begins with
 *    its expiry, so the store is in expiry order: expired entries are
 *    purged from the front in the transactions that add new ones, and a
 *    purge never scans live ones.
 * 4. The clock cannot bring a nonce back. A key is looked for under every
 *    expiry it can have been recorded with and still matter, later ones
 *    too, so setting the clock back does not hide it. And the store
 *    remembers the latest expiry it purged: while the clock is behind that,
 *    a purged nonce could be valid again, so nothing is recorded and tokens
 *    are refused.
 *
 * Layout: LMDB's main database (a named one would add a page to every
 * commit) holds
 *	expiry (8 bytes, big-endian) || key  ->  nothing	one per nonce
 *	the mark (1 byte, 0)  ->  the latest expiry purged (8 bytes)
 * The mark is written when the store is created and sorts before every
 * entry: entries are longer, and begin with a zero byte (an expiry below
 * 2^56 seconds).
 *
 * Commits are not fsync'd (MDB_NOSYNC): other processes see them at once
 * through the shared page cache, and an entry only matters for the minutes
 * its token could be valid, which a crash of the whole host outlasts. The
 * map is written in place (MDB_WRITEMAP), which halves the cost of a commit,
 * when the whole map can be reserved on disk (see reserve_map).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "replay.h"

#define BYTES_PER_ENTRY 128    /* half-full pages, and their old copies */
#define MIN_MAP_SIZE	262144 /* LMDB's own pages and copies */
#define PURGE_BATCH	64     /* expired entries removed per commit at most */
#define ENTRY_KEY_LEN	(8 + REPLAY_KEY_LEN)
#define CLOCK_BEHIND	(-1)   /* not an LMDB code: see rule 4 */

struct replay {
	MDB_env *env;
	MDB_dbi db;
	size_t capacity;
};

static const uint8_t mark_name[1] = { 0 };
static const MDB_val mark_key = { sizeof(mark_name), (void *)mark_name };

static int
failed(char err[REPLAY_ERR_LEN], const char *what, int rc)
{
	if (rc == CLOCK_BEHIND)
		snprintf(err, REPLAY_ERR_LEN, "%s: the clock is behind nonces "
		    "already purged (was it set back?); refusing until it "
		    "passes them", what);
	else
		snprintf(err, REPLAY_ERR_LEN, "%s: %s", what,
		    rc == MDB_MAP_FULL ? "store full (raise replay_capacity)" :
					 mdb_strerror(rc));
	return rc;
}

size_t
replay_map_size(size_t capacity)
{
	return MIN_MAP_SIZE + capacity * BYTES_PER_ENTRY;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int
put_mark(MDB_txn *txn, MDB_dbi db, uint64_t purged, unsigned flags)
{
	uint8_t be[8];
	MDB_val v = { sizeof(be), be };

	put_be64(be, purged);
	return mdb_put(txn, db, (MDB_val *)&mark_key, &v, flags);
}

/*
 * Moves the entries of the first layout (databases "nonces": key -> expiry,
 * "expiry", and "meta" with the purge mark) into this one, once.
 */
static int
adopt_first_layout(MDB_txn *txn, MDB_dbi db)
{
	static const MDB_val purged = { 6, (void *)"purged" };
	MDB_dbi nonces, expiry, meta;
	uint8_t entry[ENTRY_KEY_LEN];
	MDB_val k, v, ek = { ENTRY_KEY_LEN, entry }, none = { 0, NULL };
	MDB_cursor *cur;
	int rc;

	if ((rc = mdb_dbi_open(txn, "nonces", 0, &nonces)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if ((rc = mdb_dbi_open(txn, "expiry", 0, &expiry)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", 0, &meta)) != 0 ||
	    (rc = mdb_cursor_open(txn, nonces, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != REPLAY_KEY_LEN || v.mv_size != 8)
			continue;
		memcpy(entry, v.mv_data, 8);
		memcpy(entry + 8, k.mv_data, REPLAY_KEY_LEN);
		if ((rc = mdb_put(txn, db, &ek, &none, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_get(txn, meta, (MDB_val *)&purged, &v)) == 0 &&
	    v.mv_size == 8)
		rc = put_mark(txn, db, get_be64(v.mv_data), 0);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_drop(txn, nonces, 1)) != 0 ||
	    (rc = mdb_drop(txn, expiry, 1)) != 0)
		return rc;
	return mdb_drop(txn, meta, 1);
}

/* Opens the main database; to write, also the mark and the first layout. */
static int
open_database(struct replay *r, unsigned txn_flags, char err[REPLAY_ERR_LEN])
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(r->env, NULL, txn_flags, &txn)) != 0)
		return failed(err, "begin", rc);
	rc = mdb_dbi_open(txn, NULL, 0, &r->db);
	if (rc == 0 && !(txn_flags & MDB_RDONLY)) {
		if ((rc = put_mark(txn, r->db, 0, MDB_NOOVERWRITE)) ==
		    MDB_KEYEXIST)
			rc = 0;
		if (rc == 0)
			rc = adopt_first_layout(txn, r->db);
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return failed(err, "open", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return failed(err, "commit", rc);
	return 0;
}

static struct replay *
open_env(const char *dir, size_t capacity, unsigned env_flags,
    char err[REPLAY_ERR_LEN])
{
	struct replay *r;
	int rc, dead;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		return NULL;
	}
	r->capacity = capacity;
	if ((rc = mdb_env_create(&r->env)) != 0) {
		failed(err, "create", rc);
		free(r);
		return NULL;
	}
	/* Named databases only in a store of the first layout. */
	if ((rc = mdb_env_set_maxdbs(r->env, 3)) != 0 ||
	    (rc = mdb_env_set_mapsize(r->env, replay_map_size(capacity))) != 0 ||
	    (rc = mdb_env_open(r->env, dir, env_flags | MDB_NOTLS, 0600)) != 0) {
		snprintf(err, REPLAY_ERR_LEN, "%s: %s", dir, mdb_strerror(rc));
		replay_close(r);
		return NULL;
	}
	mdb_reader_check(r->env, &dead);
	return r;
}

/*
 * With MDB_WRITEMAP, LMDB writes its pages through the map: in a sparse data
 * file on a full file system a page cannot be given its block, and the write
 * is a SIGBUS, not an error. So the map is used for writing only once the
 * whole of it is reserved on disk; fallocate(2) changes no data another
 * process wrote (posix_fallocate's fallback would). Returns 0 if it is.
 */
static int
reserve_map(struct replay *r)
{
	mdb_filehandle_t fd;
	MDB_envinfo info;

	if (mdb_env_get_fd(r->env, &fd) != 0 ||
	    mdb_env_info(r->env, &info) != 0)
		return -1;
	return fallocate(fd, 0, 0, (off_t)info.me_mapsize);
}

struct replay *
replay_open(const char *dir, size_t capacity, char err[REPLAY_ERR_LEN])
{
	struct replay *r;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, REPLAY_ERR_LEN, "cannot create %s: %s", dir,
		    strerror(errno));
		return NULL;
	}
	if ((r = open_env(dir, capacity, MDB_NOSYNC | MDB_WRITEMAP, err)) == NULL)
		return NULL;
	if (reserve_map(r) != 0) {
		/* No room on disk for the whole map (or no fallocate there):
		 * write(2) the pages instead, where a full disk is an error
		 * and the token is refused. */
		replay_close(r);
		if ((r = open_env(dir, capacity, MDB_NOSYNC, err)) == NULL)
			return NULL;
	}
	if (open_database(r, 0, err) != 0) {
		replay_close(r);
		return NULL;
	}
	return r;
}

/* The helper's files, not ours to create: the owner must stay the helper. */
static int
store_exists(const char *dir, char err[REPLAY_ERR_LEN])
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (stat(path, &st) == -1) {
			snprintf(err, REPLAY_ERR_LEN, "%s: %s", files[i],
			    strerror(errno));
			return 0;
		}
	}
	return 1;
}

struct replay *
replay_open_existing(const char *dir, char err[REPLAY_ERR_LEN])
{
	struct replay *r;

	if (!store_exists(dir, err))
		return NULL;
	if ((r = open_env(dir, 0, MDB_RDONLY, err)) == NULL)
		return NULL;
	if (open_database(r, MDB_RDONLY, err) != 0) {
		replay_close(r);
		return NULL;
	}
	return r;
}

void
replay_close(struct replay *r)
{
	if (r == NULL)
		return;
	mdb_env_close(r->env);
	free(r);
}

static int
is_entry(const MDB_val *k)
{
	return k->mv_size == ENTRY_KEY_LEN;
}

/*
 * Checks the clock against the mark, then deletes up to limit entries that
 * expired at or before now, oldest first, and moves the mark past them.
 */
static int
purge(struct replay *r, MDB_txn *txn, MDB_cursor *cur, time_t now, size_t limit)
{
	uint64_t purged, when, latest;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0)
		return rc;
	if (k.mv_size != mark_key.mv_size || v.mv_size != 8)
		return MDB_CORRUPTED;
	latest = purged = get_be64(v.mv_data);
	if ((uint64_t)now < purged)
		return CLOCK_BEHIND;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); rc == 0 && n < limit;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (!is_entry(&k) ||
		    (when = get_be64(k.mv_data)) > (uint64_t)now)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		latest = when;
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (latest == purged)
		return 0; /* expiries are whole steps: seldom a new mark */
	return put_mark(txn, r->db, latest, 0);
}

/* The expiries of the oldest and the latest entry (none: oldest > latest). */
static int
stored_expiries(MDB_cursor *cur, uint64_t *oldest, uint64_t *latest)
{
	MDB_val k, v;
	int rc;

	*oldest = UINT64_MAX;
	*latest = 0;
	if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0 &&
	    !is_entry(&k))
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* the mark */
	if (rc == 0 && is_entry(&k))
		*oldest = get_be64(k.mv_data);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && is_entry(&k))
		*latest = get_be64(k.mv_data);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * The expiries, on the grid of t, that a key recorded earlier can be under
 * and still matter: those from t->expiry down to just after now, and after
 * the clock was set back also later ones, up to one lifetime (expiry - now)
 * past t->expiry (a token accepted while the clock read later than that
 * cannot be valid now); of these, only those within the stored ones. Sets
 * *top and *looks, the number of expiries down from it.
 */
static int
expiries_to_search(MDB_cursor *cur, const struct replay_time *t,
    uint64_t *top, uint64_t *looks)
{
	uint64_t now = (uint64_t)t->now, expiry = (uint64_t)t->expiry;
	uint64_t step = t->step, lifetime = expiry - now, bottom = now + 1;
	uint64_t oldest, latest;
	int rc;

	if (step == 0 || expiry <= now)
		return EINVAL;
	if ((rc = stored_expiries(cur, &oldest, &latest)) != 0)
		return rc;
	if (latest > expiry + lifetime)
		latest = expiry + lifetime;
	*top = expiry;
	if (latest > expiry)
		*top += (latest - expiry + step - 1) / step * step;
	if (oldest > bottom)
		bottom = oldest;
	*looks = *top < bottom ? 0 : (*top - bottom) / step + 1;
	return 0;
}

static void
entry_key(uint8_t out[ENTRY_KEY_LEN], uint64_t expiry,
    const uint8_t key[REPLAY_KEY_LEN])
{
	put_be64(out, expiry);
	memcpy(out + 8, key, REPLAY_KEY_LEN);
}

/* Whether key is under one of looks expiries down from top, but skip. */
static int
kept(struct replay *r, MDB_txn *txn, const uint8_t key[REPLAY_KEY_LEN],
    uint64_t top, uint64_t looks, uint64_t step, uint64_t skip, int *found)
{
	uint8_t entry[ENTRY_KEY_LEN];
	MDB_val k = { ENTRY_KEY_LEN, entry }, v;
	uint64_t i;
	int rc;

	*found = 0;
	for (i = 0; i < looks; i++) {
		if (top - i * step == skip)
			continue;
		entry_key(entry, top - i * step, key);
		if ((rc = mdb_get(txn, r->db, &k, &v)) == 0) {
			*found = 1;
			return 0;
		}
		if (rc != MDB_NOTFOUND)
			return rc;
	}
	return 0;
}

static int
insert(struct replay *r, MDB_txn *txn, const uint8_t key[REPLAY_KEY_LEN],
    const struct replay_time *t, uint64_t top, uint64_t looks,
    enum replay_result *result)
{
	uint8_t entry[ENTRY_KEY_LEN];
	MDB_val k = { ENTRY_KEY_LEN, entry }, none = { 0, NULL };
	int rc, found;

	/* The insert itself finds a replay under this expiry
	 * (MDB_KEYEXIST): only the others are looked up. */
	if ((rc = kept(r, txn, key, top, looks, t->step, (uint64_t)t->expiry,
	    &found)) != 0)
		return rc;
	*result = REPLAY_SEEN;
	if (found)
		return 0;
	entry_key(entry, (uint64_t)t->expiry, key);
	if ((rc = mdb_put(txn, r->db, &k, &none, MDB_NOOVERWRITE)) != 0)
		return rc == MDB_KEYEXIST ? 0 : rc;
	*result = REPLAY_FRESH;
	return 0;
}

/* A full store is noticed after inserting: the caller drops the commit. */
static int
check_capacity(struct replay *r, MDB_txn *txn)
{
	MDB_stat st;
	int rc;

	if ((rc = mdb_stat(txn, r->db, &st)) != 0)
		return rc;
	return st.ms_entries - 1 > r->capacity ? MDB_MAP_FULL : 0; /* mark */
}

/*
 * One attempt: purge a batch, insert every key, commit. Returns an LMDB
 * code or CLOCK_BEHIND.
 */
static int
try_record(struct replay *r, const uint8_t keys[][REPLAY_KEY_LEN], size_t n,
    const struct replay_time *t, size_t purge_limit,
    enum replay_result results[])
{
	uint64_t top, looks;
	MDB_cursor *cur;
	MDB_txn *txn;
	size_t i;
	int rc;

	if ((rc = mdb_txn_begin(r->env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, r->db, &cur)) != 0)
		goto abort;
	rc = purge(r, txn, cur, t->now, purge_limit);
	if (rc == 0)
		rc = expiries_to_search(cur, t, &top, &looks);
	mdb_cursor_close(cur);
	if (rc != 0)
		goto abort;
	for (i = 0; i < n; i++)
		if ((rc = insert(r, txn, keys[i], t, top, looks,
		    &results[i])) != 0)
			goto abort;
	if ((rc = check_capacity(r, txn)) != 0)
		goto abort;
	return mdb_txn_commit(txn);
abort:
	mdb_txn_abort(txn);
	return rc;
}

/* After a batch did not fit: as many keys as fit, one at a time, in order. */
static int
record_one_by_one(struct replay *r, const uint8_t keys[][REPLAY_KEY_LEN],
    size_t n, const struct replay_time *t,
    enum replay_result results[], char err[REPLAY_ERR_LEN])
{
	size_t i;
	int rc, refused = 0;

	for (i = 0; i < n; i++) {
		if ((rc = try_record(r, &keys[i], 1, t, 0, &results[i])) != 0) {
			results[i] = REPLAY_ERROR;
			refused = failed(err, "record", rc);
		}
	}
	return refused == 0 ? 0 : -1;
}

int
replay_record(struct replay *r, const uint8_t keys[][REPLAY_KEY_LEN], size_t n,
    const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	size_t i;
	int rc;

	rc = try_record(r, keys, n, t, PURGE_BATCH, results);
	if (rc == MDB_MAP_FULL)
		rc = try_record(r, keys, n, t, SIZE_MAX, results);
	if (rc == MDB_MAP_FULL && n > 1)
		return record_one_by_one(r, keys, n, t, results, err);
	if (rc == 0)
		return 0;
	for (i = 0; i < n; i++)
		results[i] = REPLAY_ERROR;
	failed(err, "record", rc);
	return -1;
}

enum replay_result
replay_lookup(struct replay *r, const uint8_t key[REPLAY_KEY_LEN],
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	uint64_t top, looks;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc, found = 0;

	if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0) {
		failed(err, "begin", rc);
		return REPLAY_ERROR;
	}
	if ((rc = mdb_cursor_open(txn, r->db, &cur)) == 0) {
		rc = expiries_to_search(cur, t, &top, &looks);
		mdb_cursor_close(cur);
	}
	if (rc == 0)
		rc = kept(r, txn, key, top, looks, t->step, 0, &found);
	mdb_txn_abort(txn);
	if (rc != 0) {
		failed(err, "lookup", rc);
		return REPLAY_ERROR;
	}
	return found ? REPLAY_SEEN : REPLAY_FRESH;
}
