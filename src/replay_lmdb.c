/*
 * Security rules for this file:
 * 1. Single use: the check and the insert happen in one LMDB write
 *    transaction, which LMDB serialises across processes, so a nonce is
 *    accepted once on the whole host.
 * 2. Fail closed: a key that cannot be recorded, for whatever reason (a
 *    full store too), is not REPLAY_FRESH, and its token is refused.
 * 3. Bounded: at most capacity entries, at most per_user for one JID, and
 *    the last free entries (the reserve) only for JIDs that hold none, so
 *    that no one JID can take them. Expired entries are purged from the
 *    front of the expiry index by the transactions that add new ones.
 * 4. A nonce is found by its own key, whatever the config (window,
 *    interval) or the clock was when it was recorded.
 * 5. The clock cannot bring a purged nonce back unnoticed: while it is
 *    behind the latest expiry purged (it was set back), nothing is
 *    recorded, for at most one token lifetime from when that is first
 *    seen; reset-store ends it at once.
 * 6. The layout is versioned: the names older versions open as databases
 *    are plain keys here, so an older helper cannot open this store and
 *    refuses its logins instead of keeping a record of its own; a store of
 *    a newer layout is refused here.
 *
 * Layout: LMDB's main database (a named one would add a page to every
 * commit) holds
 *	0x01			-> version (4) purged (8) behind since (8)
 *				   entries (8)		the meta record
 *	'E' expiry(8) key(32)	-> user(16)		expiry order, to purge
 *	'N' key(32)		-> expiry(8)		the nonce, by its key
 *	'U' user(16)		-> count(4)		live nonces of a JID
 *	"expiry" "meta" "nonces" -> version (4)		where 1.0 had databases
 * with numbers big-endian. A store of version 1.0 (databases "nonces":
 * key -> expiry, "expiry", "meta" with "purged") or 1.1 (0x00 -> purged,
 * then expiry(8) key(32) -> nothing) is converted when first opened here;
 * its JIDs are not known, so its entries count against no JID.
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
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "replay_store.h"
#include "setting.h"

#define LAYOUT		2
#define BYTES_PER_ENTRY 384    /* three records, half-full pages, copies */
#define MIN_MAP_SIZE	262144 /* LMDB's own pages and copies */
#define PURGE_BATCH	64     /* expired entries removed per commit */
#define META_LEN	28
#define E_LEN		(1 + 8 + REPLAY_KEY_LEN)
#define N_LEN		(1 + REPLAY_KEY_LEN)
#define U_LEN		(1 + REPLAY_USER_LEN)
#define CLOCK_BEHIND	(-1)   /* not LMDB codes: see explain_failure() */
#define NEWER_LAYOUT	(-2)
#define DEFAULT_CAPACITY 100000

/* Its own keys of the config. */
struct lmdb_settings {
	/* Live nonces at most. First: the unit tests set it below what the
	 * config allows, for a store full in a few steps. */
	size_t capacity;
};

_Static_assert(sizeof(struct lmdb_settings) <= REPLAY_OWN_MAX, "settings");

struct meta {
	uint32_t version;
	uint64_t purged;       /* the latest expiry purged */
	uint64_t behind_since; /* when the clock was seen behind it, or 0 */
	uint64_t entries;
};

struct lmdb_store {
	struct replay base;
	MDB_env *env;
	MDB_dbi db;
	size_t capacity, reserve;
	unsigned per_user;
};

static const uint8_t meta_name[1] = { 0x01 };
static const MDB_val meta_key = { sizeof(meta_name), (void *)meta_name };
static const char *const old_names[] = { "expiry", "meta", "nonces" };

static int
explain_failure(char err[REPLAY_ERR_LEN], const char *what, int rc)
{
	if (rc == CLOCK_BEHIND)
		snprintf(err, REPLAY_ERR_LEN, "%s: the clock is behind nonces "
		    "already purged (was it set back?); refusing for one token "
		    "lifetime, or until 'prosody-token-auth reset-store'", what);
	else if (rc == NEWER_LAYOUT)
		snprintf(err, REPLAY_ERR_LEN, "%s: the store was made by a "
		    "newer version of prosody-token-auth; upgrade this one",
		    what);
	else
		snprintf(err, REPLAY_ERR_LEN, "%s: %s", what,
		    rc == MDB_INCOMPATIBLE ? "not a replay store of this "
		    "version (MDB_INCOMPATIBLE)" : mdb_strerror(rc));
	return rc;
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static size_t
map_size(size_t capacity)
{
	return MIN_MAP_SIZE + capacity * BYTES_PER_ENTRY;
}

/* --- records ------------------------------------------------------------ */

static int
get_meta(MDB_txn *txn, MDB_dbi db, struct meta *m)
{
	MDB_val v;
	int rc;

	if ((rc = mdb_get(txn, db, (MDB_val *)&meta_key, &v)) != 0)
		return rc;
	if (v.mv_size < 4)
		return MDB_CORRUPTED;
	m->version = (uint32_t)get_be(v.mv_data, 4);
	if (m->version > LAYOUT)
		return NEWER_LAYOUT;
	if (m->version != LAYOUT || v.mv_size != META_LEN)
		return MDB_CORRUPTED;
	m->purged = get_be((uint8_t *)v.mv_data + 4, 8);
	m->behind_since = get_be((uint8_t *)v.mv_data + 12, 8);
	m->entries = get_be((uint8_t *)v.mv_data + 20, 8);
	return 0;
}

static int
put_meta(MDB_txn *txn, MDB_dbi db, const struct meta *m)
{
	uint8_t b[META_LEN];
	MDB_val v = { sizeof(b), b };

	put_be(b, m->version, 4);
	put_be(b + 4, m->purged, 8);
	put_be(b + 12, m->behind_since, 8);
	put_be(b + 20, m->entries, 8);
	return mdb_put(txn, db, (MDB_val *)&meta_key, &v, 0);
}

static void
e_key(uint8_t out[E_LEN], uint64_t expiry, const uint8_t key[REPLAY_KEY_LEN])
{
	out[0] = 'E';
	put_be(out + 1, expiry, 8);
	memcpy(out + 9, key, REPLAY_KEY_LEN);
}

static void
n_key(uint8_t out[N_LEN], const uint8_t key[REPLAY_KEY_LEN])
{
	out[0] = 'N';
	memcpy(out + 1, key, REPLAY_KEY_LEN);
}

/* A JID's count of live nonces (0 when it has none). */
static int
user_count(MDB_txn *txn, MDB_dbi db, const uint8_t user[REPLAY_USER_LEN],
    uint32_t *count)
{
	uint8_t k[U_LEN];
	MDB_val key = { sizeof(k), k }, v;
	int rc;

	k[0] = 'U';
	memcpy(k + 1, user, REPLAY_USER_LEN);
	*count = 0;
	if ((rc = mdb_get(txn, db, &key, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != 4)
		return MDB_CORRUPTED;
	if (rc == 0)
		*count = (uint32_t)get_be(v.mv_data, 4);
	return rc;
}

static int
set_user_count(MDB_txn *txn, MDB_dbi db, const uint8_t user[REPLAY_USER_LEN],
    uint32_t count)
{
	uint8_t k[U_LEN], b[4];
	MDB_val key = { sizeof(k), k }, v = { sizeof(b), b };

	k[0] = 'U';
	memcpy(k + 1, user, REPLAY_USER_LEN);
	if (count == 0)
		return mdb_del(txn, db, &key, NULL);
	put_be(b, count, 4);
	return mdb_put(txn, db, &key, &v, 0);
}

/* Adds an entry: its nonce, its place in the expiry index, its JID's count. */
static int
add_entry(MDB_txn *txn, MDB_dbi db, const struct replay_entry *e,
    uint64_t expiry, uint32_t count)
{
	uint8_t nk[N_LEN], ek[E_LEN], be[8];
	MDB_val n = { sizeof(nk), nk }, x = { sizeof(ek), ek };
	MDB_val ev = { sizeof(be), be }, u = { REPLAY_USER_LEN, (void *)e->user };
	int rc;

	n_key(nk, e->key);
	e_key(ek, expiry, e->key);
	put_be(be, expiry, 8);
	if ((rc = mdb_put(txn, db, &n, &ev, MDB_NOOVERWRITE)) != 0 ||
	    (rc = mdb_put(txn, db, &x, &u, 0)) != 0)
		return rc;
	return set_user_count(txn, db, e->user, count + 1);
}

/* Removes the entry the cursor is on in the expiry index, and its others. */
static int
remove_entry(MDB_txn *txn, MDB_dbi db, MDB_cursor *cur, const MDB_val *k,
    const MDB_val *v)
{
	uint8_t nk[N_LEN], user[REPLAY_USER_LEN];
	MDB_val n = { sizeof(nk), nk };
	uint32_t count;
	int rc;

	if (v->mv_size != REPLAY_USER_LEN)
		return MDB_CORRUPTED;
	memcpy(user, v->mv_data, REPLAY_USER_LEN);
	n_key(nk, (const uint8_t *)k->mv_data + 9);
	if ((rc = mdb_cursor_del(cur, 0)) != 0 ||
	    ((rc = mdb_del(txn, db, &n, NULL)) != 0 && rc != MDB_NOTFOUND) ||
	    (rc = user_count(txn, db, user, &count)) != 0)
		return rc;
	return count == 0 ? 0 : set_user_count(txn, db, user, count - 1);
}

/*
 * Purges up to limit entries that expired at or before now, oldest first:
 * always the first of the expiry index, looked for afresh each time, since
 * removing its other records changes the tree under the cursor.
 */
static int
purge(struct lmdb_store *r, MDB_txn *txn, struct meta *m, uint64_t now,
    size_t limit)
{
	uint8_t first = 'E';
	MDB_val k, v;
	MDB_cursor *cur;
	uint64_t when;
	size_t n;
	int rc = 0;

	if ((rc = mdb_cursor_open(txn, r->db, &cur)) != 0)
		return rc;
	for (n = 0; n < limit; n++) {
		k.mv_size = 1;
		k.mv_data = &first;
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
			break;
		if (k.mv_size != E_LEN || ((uint8_t *)k.mv_data)[0] != 'E' ||
		    (when = get_be((uint8_t *)k.mv_data + 1, 8)) > now)
			break;
		if ((rc = remove_entry(txn, r->db, cur, &k, &v)) != 0)
			break;
		if (when > m->purged)
			m->purged = when;
		m->entries -= m->entries > 0;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * The clock against the latest expiry purged (rule 5). Returns 0 to go on,
 * or CLOCK_BEHIND, with m changed to be committed either way.
 */
static int
check_clock(struct meta *m, uint64_t now, uint64_t lifetime)
{
	if (now >= m->purged) {
		m->behind_since = 0;
		return 0;
	}
	if (m->behind_since == 0 || m->behind_since > now)
		m->behind_since = now;
	if (now < m->behind_since + lifetime)
		return CLOCK_BEHIND;
	/* A lifetime has passed since: what the clock showed ahead is
	 * forgiven, and entries are purged from here on. */
	m->purged = now;
	m->behind_since = 0;
	return 0;
}

/* --- recording ---------------------------------------------------------- */

static enum replay_result
record_entry(struct lmdb_store *r, MDB_txn *txn, struct meta *m,
    const struct replay_entry *e, uint64_t expiry, int *rc)
{
	uint8_t nk[N_LEN];
	MDB_val n = { sizeof(nk), nk }, v;
	uint32_t count;

	n_key(nk, e->key);
	if ((*rc = mdb_get(txn, r->db, &n, &v)) == 0)
		return REPLAY_SEEN;
	if (*rc != MDB_NOTFOUND ||
	    (*rc = user_count(txn, r->db, e->user, &count)) != 0)
		return REPLAY_ERROR;
	if (count >= r->per_user)
		return REPLAY_USER_FULL;
	if (m->entries >= r->capacity ||
	    (r->capacity - m->entries <= r->reserve && count > 0))
		return REPLAY_FULL;
	if ((*rc = add_entry(txn, r->db, e, expiry, count)) != 0)
		return REPLAY_ERROR;
	m->entries++;
	return REPLAY_FRESH;
}

static int
lmdb_record(struct replay *base, const struct replay_entry entries[],
    size_t n, const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	struct lmdb_store *r = (struct lmdb_store *)base;
	uint64_t now = (uint64_t)t->now, expiry = (uint64_t)t->expiry;
	size_t i, full = 0;
	struct meta m;
	MDB_txn *txn;
	int rc;

	for (i = 0; i < n; i++)
		results[i] = REPLAY_ERROR;
	if (t->now < 0 || t->expiry <= t->now)
		return explain_failure(err, "record", EINVAL), -1;
	if ((rc = mdb_txn_begin(r->env, NULL, 0, &txn)) != 0)
		return explain_failure(err, "begin", rc), -1;
	if ((rc = get_meta(txn, r->db, &m)) != 0)
		goto abort;
	if ((rc = check_clock(&m, now, expiry - now)) == CLOCK_BEHIND) {
		/* Kept, so that every helper counts from the first sight. */
		if ((rc = put_meta(txn, r->db, &m)) == 0 &&
		    (rc = mdb_txn_commit(txn)) == 0)
			rc = CLOCK_BEHIND;
		return explain_failure(err, "record", rc), -1;
	}
	if ((rc = purge(r, txn, &m, now, PURGE_BATCH + n)) != 0)
		goto abort;
	/* Nearly full: expired entries go first, all of them. */
	if (m.entries + n + r->reserve >= r->capacity &&
	    (rc = purge(r, txn, &m, now, SIZE_MAX)) != 0)
		goto abort;
	for (i = 0; i < n; i++) {
		results[i] = record_entry(r, txn, &m, &entries[i], expiry, &rc);
		if (results[i] == REPLAY_ERROR)
			goto abort;
		full += results[i] == REPLAY_FULL;
	}
	if ((rc = put_meta(txn, r->db, &m)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		for (i = 0; i < n; i++)
			results[i] = REPLAY_ERROR;
		return explain_failure(err, "commit", rc), -1;
	}
	if (full == 0)
		return 0;
	snprintf(err, REPLAY_ERR_LEN, "store full: %llu live nonces of %zu "
	    "(the last %zu are kept for JIDs that hold none); raise "
	    "replay_capacity", (unsigned long long)m.entries, r->capacity,
	    r->reserve);
	return -1;
abort:
	mdb_txn_abort(txn);
	for (i = 0; i < n; i++)
		results[i] = REPLAY_ERROR;
	return explain_failure(err, "record", rc), -1;
}

static enum replay_result
lmdb_lookup(struct replay *base, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	struct lmdb_store *r = (struct lmdb_store *)base;
	uint8_t nk[N_LEN];
	MDB_val n = { sizeof(nk), nk }, v;
	struct meta m;
	MDB_txn *txn;
	int rc;

	(void)t;
	n_key(nk, e->key);
	if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0) {
		explain_failure(err, "begin", rc);
		return REPLAY_ERROR;
	}
	if ((rc = get_meta(txn, r->db, &m)) == MDB_NOTFOUND)
		rc = MDB_CORRUPTED; /* an older layout, not converted yet */
	if (rc == 0)
		rc = mdb_get(txn, r->db, &n, &v);
	mdb_txn_abort(txn);
	if (rc == 0)
		return REPLAY_SEEN;
	if (rc == MDB_NOTFOUND)
		return REPLAY_FRESH;
	explain_failure(err, rc == MDB_CORRUPTED ? "lookup (a store of an older "
	    "version, which a helper converts when it first opens it?)" :
	    "lookup", rc);
	return REPLAY_ERROR;
}

static void
lmdb_close(struct replay *base)
{
	struct lmdb_store *r = (struct lmdb_store *)base;

	if (r == NULL)
		return;
	mdb_env_close(r->env);
	free(r);
}

/* --- older layouts ------------------------------------------------------ */

/* Adds a converted entry: its JID is not known, so it counts for none. */
static int
adopt_entry(MDB_txn *txn, MDB_dbi db, const uint8_t key[REPLAY_KEY_LEN],
    uint64_t expiry, struct meta *m)
{
	static const uint8_t nobody[REPLAY_USER_LEN];
	uint8_t nk[N_LEN], ek[E_LEN], be[8];
	MDB_val n = { sizeof(nk), nk }, x = { sizeof(ek), ek };
	MDB_val ev = { sizeof(be), be }, u = { sizeof(nobody), (void *)nobody };
	int rc;

	n_key(nk, key);
	e_key(ek, expiry, key);
	put_be(be, expiry, 8);
	if ((rc = mdb_put(txn, db, &n, &ev, MDB_NOOVERWRITE)) == MDB_KEYEXIST)
		return 0;
	if (rc != 0 || (rc = mdb_put(txn, db, &x, &u, 0)) != 0)
		return rc;
	m->entries++;
	return 0;
}

/* Version 1.0: databases "nonces" (key -> expiry), "expiry", "meta". */
static int
adopt_1_0(MDB_txn *txn, MDB_dbi db, struct meta *m)
{
	static const MDB_val purged = { 6, (void *)"purged" };
	MDB_dbi dbs[3];
	MDB_cursor *cur;
	MDB_val k, v;
	size_t i;
	int rc;

	for (i = 0; i < 3; i++)
		if ((rc = mdb_dbi_open(txn, old_names[i], 0, &dbs[i])) != 0)
			return rc == MDB_NOTFOUND ? 0 : rc;
	if ((rc = mdb_get(txn, dbs[1], (MDB_val *)&purged, &v)) == 0 &&
	    v.mv_size == 8)
		m->purged = get_be(v.mv_data, 8);
	if ((rc = mdb_cursor_open(txn, dbs[2], &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size == REPLAY_KEY_LEN && v.mv_size == 8 &&
		    (rc = adopt_entry(txn, db, k.mv_data, get_be(v.mv_data, 8),
			m)) != 0)
			break;
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	for (i = 0; i < 3; i++)
		if ((rc = mdb_drop(txn, dbs[i], 1)) != 0)
			return rc;
	return 0;
}

/* Version 1.1: 0x00 -> purged, expiry(8) key(32) -> nothing. */
static int
adopt_1_1(MDB_txn *txn, MDB_dbi db, struct meta *m)
{
	uint8_t zero = 0;
	MDB_val k = { 1, &zero }, v;
	MDB_cursor *cur;
	int rc;

	if ((rc = mdb_get(txn, db, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (v.mv_size == 8)
		m->purged = get_be(v.mv_data, 8);
	if ((rc = mdb_cursor_open(txn, db, &cur)) != 0)
		return rc;
	/* Its records all begin with 0x00, before every record of ours:
	 * each time, the first one left. */
	for (;;) {
		k.mv_size = 1;
		k.mv_data = &zero;
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0 ||
		    ((uint8_t *)k.mv_data)[0] != 0)
			break;
		if (k.mv_size == 8 + REPLAY_KEY_LEN &&
		    (rc = adopt_entry(txn, db, (uint8_t *)k.mv_data + 8,
			get_be(k.mv_data, 8), m)) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/*
 * Makes the store's layout this version's: new, or converted from 1.0 or
 * 1.1, with the names older versions open as databases taken as keys.
 */
static int
init_layout(MDB_txn *txn, MDB_dbi db)
{
	struct meta m = { LAYOUT, 0, 0, 0 };
	uint8_t version[4];
	MDB_val v = { sizeof(version), version };
	MDB_val k;
	size_t i;
	int rc;

	if ((rc = get_meta(txn, db, &m)) != MDB_NOTFOUND)
		return rc;
	m = (struct meta){ LAYOUT, 0, 0, 0 };
	if ((rc = adopt_1_0(txn, db, &m)) != 0 ||
	    (rc = adopt_1_1(txn, db, &m)) != 0)
		return rc;
	put_be(version, LAYOUT, 4);
	for (i = 0; i < 3; i++) {
		k.mv_size = strlen(old_names[i]);
		k.mv_data = (void *)old_names[i];
		if ((rc = mdb_put(txn, db, &k, &v, 0)) != 0)
			return rc;
	}
	return put_meta(txn, db, &m);
}

/* --- opening ------------------------------------------------------------ */

/*
 * With MDB_WRITEMAP, LMDB writes its pages through the map: in a sparse data
 * file on a full file system a page cannot be given its block, and the write
 * is a SIGBUS, not an error. So the map is used for writing only once the
 * whole of it is reserved on disk; fallocate(2) changes no data another
 * process wrote (posix_fallocate's fallback would). Returns 0 if it is.
 */
static int
reserve_map(MDB_env *env)
{
	mdb_filehandle_t fd;
	MDB_envinfo info;

	if (mdb_env_get_fd(env, &fd) != 0 || mdb_env_info(env, &info) != 0)
		return -1;
	return fallocate(fd, 0, 0, (off_t)info.me_mapsize);
}

static int
open_env(struct lmdb_store *r, const char *dir, unsigned flags,
    char err[REPLAY_ERR_LEN])
{
	int rc, dead;

	if ((rc = mdb_env_create(&r->env)) != 0)
		return explain_failure(err, "create", rc);
	/* Named databases only in a store of version 1.0. */
	if ((rc = mdb_env_set_maxdbs(r->env, 3)) != 0 ||
	    (rc = mdb_env_set_mapsize(r->env, map_size(r->capacity))) != 0 ||
	    (rc = mdb_env_open(r->env, dir, flags | MDB_NOTLS, 0600)) != 0) {
		snprintf(err, REPLAY_ERR_LEN, "%.200s: %s", dir,
		    mdb_strerror(rc));
		mdb_env_close(r->env);
		r->env = NULL;
		return rc;
	}
	mdb_reader_check(r->env, &dead);
	return 0;
}

/* Opens the main database; to write, also makes or converts the layout. */
static int
open_db(struct lmdb_store *r, enum replay_access access,
    char err[REPLAY_ERR_LEN])
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(r->env, NULL,
		 access == REPLAY_READ ? MDB_RDONLY : 0, &txn)) != 0)
		return explain_failure(err, "begin", rc);
	rc = mdb_dbi_open(txn, NULL, 0, &r->db);
	if (rc == 0 && access == REPLAY_WRITE)
		rc = init_layout(txn, r->db);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return explain_failure(err, "open", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return explain_failure(err, "commit", rc);
	return 0;
}

/* The helper's files, not ours to create when only looking. */
static int
store_exists(const char *dir, char err[REPLAY_ERR_LEN])
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%.4000s/%s", dir, files[i]);
		if (stat(path, &st) == -1) {
			snprintf(err, REPLAY_ERR_LEN, "%s: %s", files[i],
			    strerror(errno));
			return 0;
		}
	}
	return 1;
}

/* The settings' own part. */
static const struct lmdb_settings *
own(const struct replay_settings *s)
{
	return (const struct lmdb_settings *)s->own.bytes;
}

static struct replay *
open_store(const struct replay_settings *s, enum replay_access access,
    char err[REPLAY_ERR_LEN])
{
	struct lmdb_store *r;
	unsigned flags = access == REPLAY_READ ? MDB_RDONLY :
						  MDB_NOSYNC | MDB_WRITEMAP;

	if (access == REPLAY_READ && !store_exists(s->store, err))
		return NULL;
	if (access == REPLAY_WRITE && mkdir(s->store, 0700) == -1 &&
	    errno != EEXIST) {
		snprintf(err, REPLAY_ERR_LEN, "cannot create %.200s: %s", s->store,
		    strerror(errno));
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, REPLAY_ERR_LEN, "out of memory");
		return NULL;
	}
	r->base.backend = &replay_lmdb;
	r->capacity = own(s)->capacity;
	r->per_user = s->per_user;
	r->reserve = r->capacity / 100;
	if (open_env(r, s->store, flags, err) != 0)
		goto fail;
	if (access == REPLAY_WRITE && reserve_map(r->env) != 0) {
		/* No room on disk for the whole map (or no fallocate there):
		 * write(2) the pages instead, where a full disk is an error
		 * and the token is refused. */
		mdb_env_close(r->env);
		if (open_env(r, s->store, MDB_NOSYNC, err) != 0)
			goto fail;
	}
	if (open_db(r, access, err) != 0)
		goto fail;
	return &r->base;
fail:
	lmdb_close(&r->base);
	return NULL;
}

/* Nothing of a store before is of use: its environment is opened anew. */
static struct replay *
lmdb_open(const struct replay_settings *s, enum replay_access access,
    struct replay *old, char err[REPLAY_ERR_LEN])
{
	if (old != NULL)
		lmdb_close(old);
	return open_store(s, access, err);
}

/* --- the place, for start-up and for people ----------------------------- */

/*
 * Checks one directory as the config file is checked; -1 with err. Root
 * looking on behalf of the helper's user (any_owner) takes any owner. A
 * parent may be writable by all if it is sticky, as /tmp is: then no one
 * else can move what is ours in it.
 */
static int
check_dir(const char *dir, int fd, int parent, int any_owner,
    char err[REPLAY_ERR_LEN])
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, REPLAY_ERR_LEN, "%.200s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid() && !any_owner) {
		snprintf(err, REPLAY_ERR_LEN, "%.120s is owned by uid %u: only "
		    "root or the helper's user may own the replay store's "
		    "directory (chown)", dir, (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(parent && (st.st_mode & S_ISVTX))) {
		snprintf(err, REPLAY_ERR_LEN, "%.100s is writable by %s: they "
		    "could move the replay store away and replay tokens; fix "
		    "with: chmod go-w %.100s", dir,
		    st.st_mode & S_IWOTH ? "other users" : "its group", dir);
		return -1;
	}
	return 0;
}

/*
 * The store's directory, or its parent while it is not made. Only what
 * makes the place unsafe is an error here; what merely makes it unusable
 * (a missing parent, no permission) refuses logins when it is opened.
 */
static int
check_place(const char *dir, int any_owner, char err[REPLAY_ERR_LEN])
{
	char parent[PATH_MAX], *slash;
	const char *place = dir;
	struct stat st;
	int fd, rc;

	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		snprintf(err, REPLAY_ERR_LEN, "%.150s is a symbolic link: the "
		    "replay store must be named by its own path, in a "
		    "directory only root and the helper's user can write",
		    dir);
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		 O_CLOEXEC)) == -1 && errno == ENOENT) {
		/* Made at the first login: its parent holds it meanwhile. */
		snprintf(parent, sizeof(parent), "%s", dir);
		if ((slash = strrchr(parent, '/')) != NULL)
			slash[slash == parent] = '\0';
		place = parent;
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd == -1)
		return 0;
	rc = check_dir(place, fd, place != dir, any_owner, err);
	close(fd);
	return rc;
}

static int
lmdb_check_place(const struct replay_settings *s, char err[REPLAY_ERR_LEN])
{
	return check_place(s->store, 0, err);
}

/* --- for people --------------------------------------------------------- */

static const char *
owner_name(uid_t uid)
{
	static char buf[32];
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		return pw->pw_name;
	snprintf(buf, sizeof(buf), "uid %u", (unsigned)uid);
	return buf;
}

static int
lmdb_describe(const struct replay_settings *s)
{
	char err[REPLAY_ERR_LEN], path[PATH_MAX];
	struct replay *r;
	struct stat st;
	int problems = 0;

	printf("replay store: %s (LMDB on this host; room for %zu nonces, "
	       "%u live ones per JID)\n", s->store, own(s)->capacity, s->per_user);
	if (check_place(s->store, geteuid() == 0, err) == -1) {
		printf("  PROBLEM: %s\n", err);
		problems++;
	}
	snprintf(path, sizeof(path), "%.4000s/data.mdb", s->store);
	if (stat(s->store, &st) == -1) {
		printf("  not made yet: the helper makes it at its first "
		       "login, as %s; its parent must exist and be writable "
		       "by that user\n", geteuid() == 0 ?
		    "the user it runs as" : owner_name(geteuid()));
		return problems;
	}
	if (stat(path, &st) == 0)
		printf("  owned by %s: helpers must run as that user%s\n",
		    owner_name(st.st_uid), st.st_uid == 0 ? " (or chown -R "
		    "the directory to the helper's user)" : "");
	if (geteuid() != 0 && (access(s->store, W_OK) == -1 ||
	    (stat(path, &st) == 0 && access(path, R_OK | W_OK) == -1))) {
		printf("  PROBLEM: %s cannot write it: every login would be "
		       "refused; run the helper as its owner, or chown -R the "
		       "directory\n", owner_name(geteuid()));
		return problems + 1;
	}
	if (geteuid() == 0)
		return problems; /* opening it as root could make root's files */
	if ((r = open_store(s, REPLAY_WRITE, err)) == NULL) {
		printf("  PROBLEM: cannot be opened: %s\n", err);
		return problems + 1;
	}
	lmdb_close(r);
	printf("  opened for writing: OK\n");
	return problems;
}

static int
lmdb_reset(const struct replay_settings *s, time_t now,
    char msg[REPLAY_ERR_LEN])
{
	struct lmdb_store r = { .capacity = own(s)->capacity };
	struct meta m;
	MDB_txn *txn;
	int rc;

	if (!store_exists(s->store, msg) ||
	    open_env(&r, s->store, MDB_NOSYNC, msg) != 0)
		return -1;
	if ((rc = open_db(&r, REPLAY_WRITE, msg)) != 0 ||
	    (rc = mdb_txn_begin(r.env, NULL, 0, &txn)) != 0) {
		mdb_env_close(r.env);
		return rc == 0 ? -1 : (explain_failure(msg, "begin", rc), -1);
	}
	if ((rc = get_meta(txn, r.db, &m)) == 0) {
		m.purged = (uint64_t)now;
		m.behind_since = 0;
		rc = put_meta(txn, r.db, &m);
	}
	rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
	mdb_env_close(r.env);
	if (rc != 0)
		return explain_failure(msg, "reset", rc), -1;
	snprintf(msg, REPLAY_ERR_LEN, "%.200s: the clock's past is forgotten; "
	    "%llu live nonces are kept", s->store,
	    (unsigned long long)m.entries);
	return 0;
}

/* --- the config --------------------------------------------------------- */

static const char *const keys[] = { "replay_capacity", NULL };

static int
lmdb_names(const char *value)
{
	return value[0] == '/';
}

static int
lmdb_set_store(struct replay_settings *s, const char *value,
    char why[REPLAY_ERR_LEN])
{
	struct lmdb_settings *o = (struct lmdb_settings *)s->own.bytes;

	if (strlen(value) >= sizeof(s->store)) {
		snprintf(why, REPLAY_ERR_LEN, "replay_store is longer than %zu "
		    "bytes", sizeof(s->store) - 1);
		return -1;
	}
	snprintf(s->store, sizeof(s->store), "%s", value);
	o->capacity = DEFAULT_CAPACITY;
	return 0;
}

static int
lmdb_set(struct replay_settings *s, const char *key, const char *value,
    size_t len, char why[REPLAY_ERR_LEN])
{
	struct lmdb_settings *o = (struct lmdb_settings *)s->own.bytes;
	unsigned capacity;

	/* (replay_capacity, its one key) */
	if (setting_number(key, value, len, 100, 100000000, &capacity,
		why) == -1)
		return -1;
	o->capacity = capacity;
	return 0;
}

static int
lmdb_shown(const struct replay_settings *s, const char *key, char *out,
    size_t size)
{
	if (strcmp(key, "replay_capacity") != 0)
		return -1;
	snprintf(out, size, "%zu", own(s)->capacity);
	return 0;
}

const struct replay_backend replay_lmdb = {
	.name = "LMDB",
	.word = "lmdb",
	.form = "an absolute directory path (an LMDB store on this host)",
	.noun = "an absolute directory path",
	.kind = "a directory (LMDB)",
	.what = "an LMDB store",
	.how = "set replay_store = /DIRECTORY",
	.keys = keys,
	.sandbox = REPLAY_SANDBOX_DIRECTORY,
	.names = lmdb_names,
	.set_store = lmdb_set_store,
	.set = lmdb_set,
	.misplaced = NULL,
	.check = NULL,
	.shown = lmdb_shown,
	.check_place = lmdb_check_place,
	.open = lmdb_open,
	.record = lmdb_record,
	.lookup = lmdb_lookup,
	.close = lmdb_close,
	.describe = lmdb_describe,
	.reset = lmdb_reset,
};
