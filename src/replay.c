/*
 * Security rules for this file:
 * 1. Single use: the check and the insert happen in one LMDB write
 *    transaction, which LMDB serialises across processes, so a nonce is
 *    accepted once on the whole host.
 * 2. Fail closed: any error, including a full store, is REPLAY_ERROR and
 *    the caller refuses the token.
 * 3. Bounded: at most capacity live entries, in a map sized with room to
 *    spare (LMDB needs free pages even to delete); expired entries are
 *    purged in the same transactions that add new ones, oldest first,
 *    through an index ordered by expiry, so a purge never scans live ones.
 * 4. A purge is never undone by the clock: the store remembers the latest
 *    expiry it purged, and while the clock is behind it (set back after a
 *    purge) a purged nonce could be valid again, so nothing is recorded and
 *    tokens are refused until the clock has passed it.
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

#define BYTES_PER_ENTRY 256   /* both indexes, half-full pages, old copies */
#define MIN_MAP_SIZE	262144 /* LMDB's own pages and copies */
#define PURGE_BATCH	64    /* expired entries removed per login at most */
#define EXPIRY_KEY_LEN	(8 + REPLAY_KEY_LEN)
#define CLOCK_BEHIND	(-1)  /* not an LMDB code: see rule 4 */

struct replay {
	MDB_env *env;
	size_t capacity;
	MDB_dbi nonces; /* key -> expiry */
	MDB_dbi expiry; /* expiry (big-endian) || key -> nothing */
	MDB_dbi meta;	/* "purged" -> the latest expiry purged */
};

static const MDB_val purged_key = { 6, (void *)"purged" };

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

static int
open_databases(struct replay *r, unsigned txn_flags, unsigned db_flags,
    char err[REPLAY_ERR_LEN])
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(r->env, NULL, txn_flags, &txn)) != 0)
		return failed(err, "begin", rc);
	if ((rc = mdb_dbi_open(txn, "nonces", db_flags, &r->nonces)) != 0 ||
	    (rc = mdb_dbi_open(txn, "expiry", db_flags, &r->expiry)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", db_flags, &r->meta)) != 0) {
		mdb_txn_abort(txn);
		return failed(err, "open databases", rc);
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
	if (open_databases(r, 0, MDB_CREATE, err) != 0) {
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
	if (open_databases(r, MDB_RDONLY, 0, err) != 0) {
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

/* The latest expiry purged so far, 0 if none. */
static int
purged_until(struct replay *r, MDB_txn *txn, uint64_t *until)
{
	MDB_val v;
	int rc;

	*until = 0;
	if ((rc = mdb_get(txn, r->meta, (MDB_val *)&purged_key, &v)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	*until = get_be64(v.mv_data);
	return 0;
}

/*
 * Deletes up to limit entries that expired at or before now, oldest first,
 * and remembers the latest expiry deleted.
 */
static int
purge(struct replay *r, MDB_txn *txn, time_t now, size_t limit)
{
	MDB_cursor *cur;
	MDB_val k, v, nonce;
	uint64_t when, latest = 0;
	uint8_t be[8];
	size_t n = 0;
	int rc;

	if ((rc = mdb_cursor_open(txn, r->expiry, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && n < limit; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != EXPIRY_KEY_LEN)
			break;
		if ((when = get_be64(k.mv_data)) > (uint64_t)now)
			break;
		nonce.mv_size = REPLAY_KEY_LEN;
		nonce.mv_data = (uint8_t *)k.mv_data + 8;
		if ((rc = mdb_del(txn, r->nonces, &nonce, NULL)) != 0 &&
		    rc != MDB_NOTFOUND)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		latest = when;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (n == 0)
		return 0;
	put_be64(be, latest);
	v.mv_size = 8;
	v.mv_data = be;
	return mdb_put(txn, r->meta, (MDB_val *)&purged_key, &v, 0);
}

static int
insert(struct replay *r, MDB_txn *txn, const uint8_t key[REPLAY_KEY_LEN],
    time_t expiry)
{
	uint8_t when[8], ekey[EXPIRY_KEY_LEN];
	MDB_val k = { REPLAY_KEY_LEN, (void *)key }, v = { 8, when };
	MDB_val ek = { EXPIRY_KEY_LEN, ekey }, empty = { 0, NULL };
	MDB_stat st;
	int rc;

	/* The insert itself finds a replay (MDB_KEYEXIST), so there is no
	 * lookup first; a full store is noticed after inserting a new nonce,
	 * and the caller then drops the transaction. */
	put_be64(when, (uint64_t)expiry);
	if ((rc = mdb_put(txn, r->nonces, &k, &v, MDB_NOOVERWRITE)) != 0)
		return rc;
	if ((rc = mdb_stat(txn, r->nonces, &st)) != 0)
		return rc;
	if (st.ms_entries > r->capacity)
		return MDB_MAP_FULL;
	memcpy(ekey, when, 8);
	memcpy(ekey + 8, key, REPLAY_KEY_LEN);
	return mdb_put(txn, r->expiry, &ek, &empty, 0);
}

/*
 * One attempt: check the clock, purge a batch, insert, commit. Returns an
 * LMDB code or CLOCK_BEHIND.
 */
static int
try_record(struct replay *r, const uint8_t key[REPLAY_KEY_LEN], time_t expiry,
    time_t now, size_t purge_limit)
{
	MDB_txn *txn;
	uint64_t until;
	int rc;

	if ((rc = mdb_txn_begin(r->env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = purged_until(r, txn, &until)) == 0 && (uint64_t)now < until)
		rc = CLOCK_BEHIND;
	if (rc != 0 || (rc = purge(r, txn, now, purge_limit)) != 0 ||
	    (rc = insert(r, txn, key, expiry)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

enum replay_result
replay_record(struct replay *r, const uint8_t key[REPLAY_KEY_LEN],
    time_t expiry, time_t now, char err[REPLAY_ERR_LEN])
{
	int rc;

	rc = try_record(r, key, expiry, now, PURGE_BATCH);
	if (rc == MDB_MAP_FULL)
		rc = try_record(r, key, expiry, now, SIZE_MAX);
	if (rc == MDB_KEYEXIST)
		return REPLAY_SEEN;
	if (rc != 0) {
		failed(err, "record", rc);
		return REPLAY_ERROR;
	}
	return REPLAY_FRESH;
}

enum replay_result
replay_lookup(struct replay *r, const uint8_t key[REPLAY_KEY_LEN], time_t now,
    char err[REPLAY_ERR_LEN])
{
	MDB_val k = { REPLAY_KEY_LEN, (void *)key }, v;
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0) {
		failed(err, "begin", rc);
		return REPLAY_ERROR;
	}
	rc = mdb_get(txn, r->nonces, &k, &v);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return REPLAY_FRESH;
	if (rc != 0 || v.mv_size != 8) {
		failed(err, "lookup", rc ? rc : MDB_CORRUPTED);
		return REPLAY_ERROR;
	}
	return get_be64(v.mv_data) > (uint64_t)now ? REPLAY_SEEN : REPLAY_FRESH;
}
