/*
 * Security rules for this file:
 * 1. Single use: the check and the insert happen in one LMDB write
 *    transaction, which LMDB serialises across processes, so a nonce is
 *    accepted once on the whole host.
 * 2. Fail closed: a key that cannot be recorded, for whatever reason (a
 *    full store too), is not REPLAY_FRESH, and its token is refused.
 * 3. Bounded: at most capacity entries, at most per_user live ones for one
 *    JID, and the last free entries (the reserve) only for JIDs that hold
 *    none, so that no one JID can take them. Expired entries are purged
 *    by the transactions that add new ones, each sweeping on from where
 *    the last left off, and all of them when the store is nearly full.
 * 4. A nonce is found by its own key (and its JID's), whatever the config
 *    (window, interval) or the clock was when it was recorded.
 * 5. No clock movement brings a purged nonce back: the store keeps a
 *    high-water mark, the latest end of a time step whose entries may be
 *    gone, and refuses every token whose step ends at or before it. Only
 *    reset-store lowers it. Entries made under other keys (another
 *    store_secret, or none) cannot be found: when the keys change, the
 *    mark is raised to the latest step recorded, so they count as gone.
 * 6. Entries outlive every config that wrote here: each is kept for the
 *    longest lifetime any helper of the store has had (kept in the meta
 *    record, never lowered but by reset-store), plus SKEW_MARGIN.
 * 7. Seen marks (isuser = seen) are kept under the JID's keyed key, one
 *    per JID, for at most the days its domain asks plus one, and count
 *    against the capacity like a nonce: a JID not marked yet is marked
 *    only while the store is less than half full, so that marks never
 *    take the room logins need.
 * 8. The layout is versioned: the names older versions open as databases
 *    are plain keys here, and a store of layout 2 is refused by its own
 *    helpers once converted (they read the version in every transaction),
 *    so an older helper refuses its logins instead of keeping a record of
 *    its own; a store of a newer layout is refused here. So is layout 3
 *    by its helpers.
 *
 * Layout 4: LMDB's main database (a named one would add a page to every
 * commit) holds
 *	0x01				-> the meta record: version (4)
 *					   mark (8) keep (8) newest (8)
 *					   derivation (8) legacy until (8)
 *					   seen marks (8)
 *	'N' user(16) key(16)		-> expiry (8) step end (8)  the nonce
 *	'S' user(16)			-> last day (8)	 seen until then
 *	'D' last day(8) user(16)	-> 0 (1)	 seen marks' order
 *	"expiry" "meta" "nonces"	-> version (4)	 where 1.0 had databases
 * with numbers big-endian; key is the first half of the nonce's key (two
 * nonces of one JID alike in 128 bits would be one refusal too many, never
 * an acceptance), so that a nonce takes little room. A JID's nonces sit
 * side by side, so counting them is one walk, stopped at per_user (about
 * a page at the default), and a login writes one record, its nonce (the
 * meta record only when it changes).
 * Expired nonces are found by a sweep over the nonces, in key order, that
 * each commit takes on from where this process's last one stopped; the
 * earliest expiry a whole lap left is remembered, and no sweep is made
 * before it (an entry of another process's that expires earlier is
 * purged a little late). So the count of entries is the database's own,
 * less the meta record, the three names and each seen mark's second
 * record, which the meta record counts. A JID's seen mark is written when
 * it is set and at most once a day after (days count from the epoch, UTC);
 * the marks whose last day is past are purged from the front of their
 * index.
 *
 * Stores of older layouts are converted when first opened for writing:
 * layout 3 (as 4, but a nonce's value its expiry alone, its step end in
 * an expiry index 'E' expiry(8) user(16) key(16) -> step end (8), and no
 * count of seen marks), layout 2 (0x01 -> version 2, purged, behind since,
 * entries; 'N' key ->
 * expiry; 'E' expiry key -> user; 'U' user -> count), 1.1 (0x00 -> purged,
 * expiry(8) key(32) -> nothing) and 1.0 (databases "nonces": key ->
 * expiry, "expiry", "meta" with "purged"). The JIDs of 1.x are not known:
 * their entries go under the all-zero JID, count against none, and are
 * looked up there too until the last of them expires. The latest expiry
 * an older layout purged becomes the mark.
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

#define LAYOUT		4
#define BYTES_PER_ENTRY 384    /* a seen mark's two records, half-full
				  pages, copies */
#define MIN_MAP_SIZE	262144 /* LMDB's own pages and copies */
#define PURGE_BATCH	64     /* expired entries removed per commit */
#define SWEEP_REACH	4      /* ... among at most this many times more */
#define META_LEN	52
#define META_3_LEN	44     /* layout 3's */
#define META_2_LEN	28     /* layout 2's */
#define NON_ENTRIES	4      /* the meta record and the three names */
#define KEY_LEN		16     /* of a nonce's key: see the layout */
#define E_LEN		(1 + 8 + REPLAY_USER_LEN + KEY_LEN) /* layout 3's */
#define N_LEN		(1 + REPLAY_USER_LEN + KEY_LEN)
#define N_VALUE_LEN	16
#define N_PREFIX	(1 + REPLAY_USER_LEN)
#define S_LEN		(1 + REPLAY_USER_LEN)
#define D_LEN		(1 + 8 + REPLAY_USER_LEN)
#define SKEW_MARGIN	30     /* seconds: see rule 6 */
#define MAX_KEEP	(10 * 3600) /* the widest config's: 10 steps of 1 h */
#define CLOCK_BEHIND	(-1)   /* not LMDB codes: see explain_failure() */
#define NEWER_LAYOUT	(-2)
#define KEYS_CHANGED	(-3)
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
	uint64_t mark;	       /* rule 5: no step ending at or before it */
	uint64_t keep;	       /* rule 6: seconds after a step's end */
	uint64_t newest;       /* the latest step end recorded */
	uint64_t derivation;   /* whose keys the entries are under */
	uint64_t legacy_until; /* 1.x's entries, under no JID, until then */
	uint64_t seen;	       /* seen marks: see count_entries() */
};

struct lmdb_store {
	struct replay base;
	MDB_env *env;
	MDB_dbi db;
	size_t capacity, reserve;
	unsigned per_user;
	/* The earliest expiry this process knows of among the nonces, from
	 * its last whole lap and its own entries since: nothing to purge
	 * before it (others' entries all expire later, or are purged a
	 * little late). 0: sweep. */
	uint64_t next_expiry;
	/* Where the sweep goes on (a nonce's key; 0 bytes: the first), the
	 * earliest expiry it left since its lap began (UINT64_MAX: none),
	 * and when a nearly full store last had one forced. */
	uint8_t sweep_at[N_LEN];
	size_t sweep_len;
	uint64_t lap_min, forced_lap;
	/* The day up to which seen marks were purged (0: look). */
	uint64_t seen_purged;
};

static const uint8_t meta_name[1] = { 0x01 };
static const MDB_val meta_key = { sizeof(meta_name), (void *)meta_name };
static const char *const old_names[] = { "expiry", "meta", "nonces" };
static const uint8_t nobody[REPLAY_USER_LEN];

static int
explain_failure(char err[REPLAY_ERR_LEN], const char *what, int rc)
{
	if (rc == CLOCK_BEHIND)
		snprintf(err, REPLAY_ERR_LEN, "%s: a token of a time step "
		    "whose nonces may be gone (the clock is behind nonces "
		    "already purged: was it set back?); refused until the "
		    "clock passes them, or 'prosody-token-auth reset-store'",
		    what);
	else if (rc == KEYS_CHANGED)
		snprintf(err, REPLAY_ERR_LEN, "%s: the store's keys changed "
		    "(store_secret set or changed, or helpers sharing this "
		    "store with different ones: give them all the same): "
		    "tokens of the time steps recorded before are refused",
		    what);
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
get_be(const void *q, int n)
{
	const uint8_t *p = q;
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static size_t
map_size(size_t capacity)
{
	return MIN_MAP_SIZE + capacity * BYTES_PER_ENTRY;
}

/* --- records ------------------------------------------------------------ */

/* The fields layouts 3 and 4 share, after the version. */
static void
common_meta(const uint8_t *b, struct meta *m)
{
	m->mark = get_be(b + 4, 8);
	m->keep = get_be(b + 12, 8);
	m->newest = get_be(b + 20, 8);
	m->derivation = get_be(b + 28, 8);
	m->legacy_until = get_be(b + 36, 8);
}

static int
parse_meta(const MDB_val *v, struct meta *m)
{
	const uint8_t *b = v->mv_data;

	if (v->mv_size < 4)
		return MDB_CORRUPTED;
	m->version = (uint32_t)get_be(b, 4);
	if (m->version > LAYOUT)
		return NEWER_LAYOUT;
	if (m->version != LAYOUT || v->mv_size != META_LEN)
		return MDB_CORRUPTED;
	common_meta(b, m);
	m->seen = get_be(b + 44, 8);
	return 0;
}

static int
get_meta(MDB_txn *txn, MDB_dbi db, struct meta *m)
{
	MDB_val v;
	int rc;

	if ((rc = mdb_get(txn, db, (MDB_val *)&meta_key, &v)) != 0)
		return rc;
	return parse_meta(&v, m);
}

/* The same through a cursor: the meta record's key sorts first of all,
 * and going to the first record is cheaper than looking a key up. */
static int
first_meta(MDB_cursor *cur, struct meta *m)
{
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0)
		return rc;
	if (k.mv_size != meta_key.mv_size ||
	    memcmp(k.mv_data, meta_key.mv_data, k.mv_size) != 0)
		return MDB_NOTFOUND;
	return parse_meta(&v, m);
}

static int
put_meta(MDB_txn *txn, MDB_dbi db, const struct meta *m)
{
	uint8_t b[META_LEN];
	MDB_val v = { sizeof(b), b };

	put_be(b, m->version, 4);
	put_be(b + 4, m->mark, 8);
	put_be(b + 12, m->keep, 8);
	put_be(b + 20, m->newest, 8);
	put_be(b + 28, m->derivation, 8);
	put_be(b + 36, m->legacy_until, 8);
	put_be(b + 44, m->seen, 8);
	return mdb_put(txn, db, (MDB_val *)&meta_key, &v, 0);
}

static int
same_meta(const struct meta *a, const struct meta *b)
{
	return a->mark == b->mark && a->keep == b->keep &&
	    a->newest == b->newest && a->derivation == b->derivation &&
	    a->legacy_until == b->legacy_until && a->seen == b->seen;
}

static void
n_key(uint8_t out[N_LEN], const uint8_t user[REPLAY_USER_LEN],
    const uint8_t key[REPLAY_KEY_LEN])
{
	out[0] = 'N';
	memcpy(out + 1, user, REPLAY_USER_LEN);
	memcpy(out + N_PREFIX, key, KEY_LEN);
}

/*
 * Live entries in the store, expired ones not purged yet included: a
 * nonce is one record, a seen mark two (m->seen of them).
 */
static int
count_entries(MDB_txn *txn, MDB_dbi db, const struct meta *m,
    uint64_t *entries)
{
	MDB_stat st;
	int rc;

	if ((rc = mdb_stat(txn, db, &st)) != 0)
		return rc;
	if (st.ms_entries < NON_ENTRIES + 2 * m->seen)
		return MDB_CORRUPTED;
	*entries = st.ms_entries - NON_ENTRIES - m->seen;
	return 0;
}

/*
 * Adds an entry, its nonce. Through cur when given one (a login's, left
 * by the walk over its JID's nonces where the nonce goes: LMDB then looks
 * for its place on that page instead of from the root), else by key.
 */
static int
add_entry(MDB_txn *txn, MDB_dbi db, MDB_cursor *cur,
    const uint8_t user[REPLAY_USER_LEN], const uint8_t key[REPLAY_KEY_LEN],
    uint64_t expiry, uint64_t step_end)
{
	uint8_t nk[N_LEN], value[N_VALUE_LEN];
	MDB_val n = { sizeof(nk), nk }, v = { sizeof(value), value };

	n_key(nk, user, key);
	put_be(value, expiry, 8);
	put_be(value + 8, step_end, 8);
	if (cur == NULL)
		return mdb_put(txn, db, &n, &v, MDB_NOOVERWRITE);
	return mdb_cursor_put(cur, &n, &v, MDB_NOOVERWRITE);
}

/* Where the sweep goes on: the key cur is at, if a nonce's. */
static void
sweep_from(struct lmdb_store *r, int rc, const MDB_val *k)
{
	r->sweep_len = 0;
	if (rc == 0 && k->mv_size == N_LEN && ((uint8_t *)k->mv_data)[0] ==
	    'N') {
		memcpy(r->sweep_at, k->mv_data, N_LEN);
		r->sweep_len = N_LEN;
	}
}

/*
 * Purges up to limit nonces that expired at or before now, raising the
 * mark to the end of each one's step: a sweep in key order on from where
 * the last one stopped, which looks at reach nonces, and SWEEP_REACH more
 * for each one purged (SIZE_MAX: all). A lap ended leaves the earliest
 * expiry it saw in next_expiry, and the sweep then stops if that is still
 * to come; it goes round at most twice.
 */
static int
sweep(struct lmdb_store *r, MDB_cursor *cur, struct meta *m, uint64_t now,
    size_t reach, size_t limit)
{
	uint8_t first = 'N';
	MDB_val k, v;
	uint64_t expiry;
	size_t purged = 0, laps = 0;
	int rc;

	if (r->next_expiry > now)
		return 0;
	k.mv_size = r->sweep_len > 0 ? r->sweep_len : 1;
	k.mv_data = r->sweep_len > 0 ? r->sweep_at : &first;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (reach > 0 && purged < limit) {
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && ((uint8_t *)k.mv_data)[0] != 'N')) {
			r->next_expiry = r->lap_min;
			r->lap_min = UINT64_MAX;
			if (++laps == 2 || r->next_expiry > now)
				break;
			k.mv_size = 1;
			k.mv_data = &first;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			continue;
		}
		if (rc != 0)
			return rc;
		if (k.mv_size != N_LEN || v.mv_size != N_VALUE_LEN)
			return MDB_CORRUPTED;
		if (reach != SIZE_MAX)
			reach--;
		if ((expiry = get_be(v.mv_data, 8)) <= now) {
			m->mark = max64(m->mark,
			    get_be((uint8_t *)v.mv_data + 8, 8));
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				return rc;
			purged++;
			if (reach != SIZE_MAX)
				reach += SWEEP_REACH;
		} else if (expiry < r->lap_min)
			r->lap_min = expiry;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	sweep_from(r, rc, &k);
	return 0;
}

/*
 * Whether the nonce is recorded under the JID, and the JID's live entries
 * up to the limit (its nonces sit side by side, the nonce among them).
 */
static int
walk_user(MDB_cursor *cur, const struct replay_entry *e, uint64_t now,
    unsigned limit, int *seen, unsigned *live)
{
	uint8_t nk[N_LEN];
	MDB_val k = { N_PREFIX, nk }, v;
	int rc;

	n_key(nk, e->user, e->key);
	*seen = 0;
	*live = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != N_LEN || memcmp(k.mv_data, nk, N_PREFIX) != 0)
			break;
		if (memcmp((uint8_t *)k.mv_data + N_PREFIX, e->key,
			KEY_LEN) == 0) {
			*seen = 1;
			break;
		}
		if (v.mv_size == N_VALUE_LEN && get_be(v.mv_data, 8) > now &&
		    ++*live >= limit)
			break;
	}
	if (rc == MDB_NOTFOUND || rc == 0)
		return 0;
	return rc;
}

/* Whether an entry of 1.x, under no JID, holds the nonce. */
static int
legacy_seen(MDB_txn *txn, MDB_dbi db, const struct meta *m,
    const struct replay_entry *e, uint64_t now, int *seen)
{
	uint8_t nk[N_LEN];
	MDB_val n = { sizeof(nk), nk }, v;
	int rc;

	*seen = 0;
	if (now >= m->legacy_until)
		return 0;
	n_key(nk, nobody, e->key);
	if ((rc = mdb_get(txn, db, &n, &v)) == 0)
		*seen = 1;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * The end of the entry's step, if it is one a token accepted now can have
 * (0: not known); and how long it is kept after it. Whatever a caller
 * passes, no entry then takes the mark or its keeping beyond what some
 * config could need.
 */
static uint64_t
known_step_end(const struct replay_entry *e, const struct replay_time *t)
{
	if (e->step_end <= 0 || e->step_end > t->now + REPLAY_MAX_AHEAD ||
	    e->step_end < t->now - MAX_KEEP)
		return 0;
	return (uint64_t)e->step_end;
}

static uint64_t
keep_of(const struct replay_entry *e)
{
	return e->keep <= 0 ? 0 : e->keep > MAX_KEEP ? MAX_KEEP :
						    (uint64_t)e->keep;
}

/* The end of the entry's step, as rule 5 checks it (see replay.h). */
static uint64_t
checked_step_end(const struct replay_entry *e, const struct replay_time *t)
{
	uint64_t known = known_step_end(e, t);

	return known > 0 ? known : (uint64_t)t->now;
}

/* --- seen marks --------------------------------------------------------- */

static void
s_key(uint8_t out[S_LEN], const uint8_t user[REPLAY_USER_LEN])
{
	out[0] = 'S';
	memcpy(out + 1, user, REPLAY_USER_LEN);
}

static void
d_key(uint8_t out[D_LEN], uint64_t day, const uint8_t user[REPLAY_USER_LEN])
{
	out[0] = 'D';
	put_be(out + 1, day, 8);
	memcpy(out + 9, user, REPLAY_USER_LEN);
}

/* The last day of the JID's seen mark (0: none), or an LMDB code. */
static int
seen_until(MDB_txn *txn, MDB_dbi db, const uint8_t user[REPLAY_USER_LEN],
    uint64_t *day)
{
	uint8_t sk[S_LEN];
	MDB_val k = { sizeof(sk), sk }, v;
	int rc;

	*day = 0;
	s_key(sk, user);
	if ((rc = mdb_get(txn, db, &k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return MDB_CORRUPTED;
	*day = get_be(v.mv_data, 8);
	return 0;
}

/*
 * Marks the entry's JID seen until today + seen_days, unless its mark
 * lasts that long already; a JID not marked yet only while the store is
 * less than half full (rule 7: *unmarked counts those left out).
 */
static int
mark_seen(struct lmdb_store *r, MDB_txn *txn, struct meta *m,
    const struct replay_entry *e, uint64_t today, uint64_t *entries,
    size_t *unmarked)
{
	uint8_t sk[S_LEN], dk[D_LEN], day[8], zero = 0;
	MDB_val k = { sizeof(sk), sk }, d = { sizeof(dk), dk };
	MDB_val v = { sizeof(day), day }, dv = { 1, &zero };
	uint64_t until = today + e->seen_days, was;
	int rc;

	if ((rc = seen_until(txn, r->db, e->user, &was)) != 0)
		return rc;
	if (was >= until)
		return 0;
	if (was == 0 && *entries >= r->capacity / 2) {
		(*unmarked)++;
		return 0;
	}
	d_key(dk, was, e->user);
	if (was > 0 && (rc = mdb_del(txn, r->db, &d, NULL)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	s_key(sk, e->user);
	put_be(day, until, 8);
	d_key(dk, until, e->user);
	if ((rc = mdb_put(txn, r->db, &k, &v, 0)) != 0 ||
	    (rc = mdb_put(txn, r->db, &d, &dv, 0)) != 0)
		return rc;
	*entries += was == 0;
	m->seen += was == 0;
	return 0;
}

/*
 * Purges up to limit seen marks whose last day is before today, from the
 * front of their index; once none is left, not again that day.
 */
static int
purge_seen(struct lmdb_store *r, MDB_txn *txn, struct meta *m, uint64_t today,
    size_t limit)
{
	uint8_t first = 'D', sk[S_LEN];
	MDB_val k, v, sv = { sizeof(sk), sk };
	MDB_cursor *cur;
	uint64_t day;
	size_t i;
	int rc = 0;

	if (r->seen_purged == today)
		return 0;
	if ((rc = mdb_cursor_open(txn, r->db, &cur)) != 0)
		return rc;
	for (i = 0; i < limit; i++) {
		k.mv_size = 1;
		k.mv_data = &first;
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
			break;
		if (((uint8_t *)k.mv_data)[0] != 'D' ||
		    (day = get_be((uint8_t *)k.mv_data + 1, 8)) >= today)
			break;
		if (k.mv_size != D_LEN) {
			rc = MDB_CORRUPTED;
			break;
		}
		s_key(sk, (uint8_t *)k.mv_data + 9);
		if ((rc = mdb_cursor_del(cur, 0)) != 0 ||
		    ((rc = mdb_del(txn, r->db, &sv, NULL)) != 0 &&
			rc != MDB_NOTFOUND))
			break;
		m->seen -= rc == 0 && m->seen > 0;
		rc = 0;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && i < limit)
		r->seen_purged = today;
	return rc;
}

static enum replay_result
lmdb_seen(struct replay *base, const uint8_t user[REPLAY_USER_LEN],
    time_t now, char err[REPLAY_ERR_LEN])
{
	struct lmdb_store *r = (struct lmdb_store *)base;
	uint64_t until = 0;
	struct meta m;
	MDB_txn *txn;
	int rc;

	if (now < 0)
		return explain_failure(err, "seen", EINVAL), REPLAY_ERROR;
	if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0) {
		explain_failure(err, "begin", rc);
		return REPLAY_ERROR;
	}
	if ((rc = get_meta(txn, r->db, &m)) == MDB_NOTFOUND)
		rc = MDB_CORRUPTED; /* an older layout, not converted yet */
	if (rc == 0)
		rc = seen_until(txn, r->db, user, &until);
	mdb_txn_abort(txn);
	if (rc != 0) {
		explain_failure(err, "seen", rc);
		return REPLAY_ERROR;
	}
	return until >= REPLAY_DAY(now) ? REPLAY_SEEN : REPLAY_FRESH;
}

/* --- recording ---------------------------------------------------------- */

static enum replay_result
record_entry(struct lmdb_store *r, MDB_txn *txn, MDB_cursor *cur,
    struct meta *m, uint64_t *entries, const struct replay_entry *e,
    const struct replay_time *t, int *rc)
{
	uint64_t now = (uint64_t)t->now, step_end, kept, expiry;
	unsigned live;
	int seen;

	if (checked_step_end(e, t) <= m->mark)
		return REPLAY_BEHIND_MARK;
	if ((*rc = walk_user(cur, e, now, r->per_user, &seen, &live)) != 0 ||
	    (!seen && (*rc = legacy_seen(txn, r->db, m, e, now, &seen)) != 0))
		return REPLAY_ERROR;
	if (seen)
		return REPLAY_SEEN;
	if (live >= r->per_user)
		return REPLAY_USER_FULL;
	if (*entries >= r->capacity ||
	    (r->capacity - *entries <= r->reserve && live > 0))
		return REPLAY_FULL;
	/* Rule 6; a step not known is bounded by the caller's expiry, and
	 * not taken as the newest (which only steps known are). */
	step_end = known_step_end(e, t);
	kept = checked_step_end(e, t) + m->keep;
	expiry = max64((uint64_t)t->expiry, kept) + SKEW_MARGIN;
	if ((*rc = add_entry(txn, r->db, cur, e->user, e->key, expiry,
		 step_end > 0 ? step_end : (uint64_t)t->expiry)) != 0)
		return REPLAY_ERROR;
	m->newest = max64(m->newest, step_end);
	if (r->next_expiry != 0 && expiry < r->next_expiry)
		r->next_expiry = expiry;
	if (expiry < r->lap_min)
		r->lap_min = expiry;
	(*entries)++;
	return REPLAY_FRESH;
}

static void
fail_all(enum replay_result results[], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		results[i] = REPLAY_ERROR;
}

/* What a batch came to, for its error message. */
struct outcome {
	uint64_t count;	 /* live entries */
	size_t full;	 /* refused: the store is full */
	size_t behind;	 /* refused: at or behind the mark */
	size_t unmarked; /* JIDs not marked seen: half full */
	int switched;	 /* the keys' derivation changed */
};

/*
 * The batch's work inside its transaction: the meta record, the purges,
 * each entry. Returns 0, or an LMDB error or errno with results[] partly
 * set (the caller fails them all).
 */
static int
record_batch(struct lmdb_store *r, MDB_txn *txn, MDB_cursor *cur,
    const struct replay_entry entries[], size_t n, const struct replay_time *t,
    enum replay_result results[], struct outcome *o)
{
	uint64_t now = (uint64_t)t->now;
	struct meta m, was;
	size_t i;
	int rc;

	if ((rc = first_meta(cur, &m)) != 0 ||
	    (rc = count_entries(txn, r->db, &m, &o->count)) != 0)
		return rc;
	was = m;
	for (i = 0; i < n; i++)
		m.keep = max64(m.keep, keep_of(&entries[i]));
	if (n > 0 && m.derivation != entries[0].key_id) {
		m.mark = max64(m.mark, m.newest);
		m.derivation = entries[0].key_id;
		o->switched = 1;
	}
	if ((rc = sweep(r, cur, &m, now, SWEEP_REACH * (n + 1),
		 PURGE_BATCH + n)) != 0 ||
	    (rc = purge_seen(r, txn, &m, REPLAY_DAY(now), PURGE_BATCH)) != 0)
		return rc;
	/* Nearly full: expired entries go first, all of them, whoever made
	 * them (once a second: a store full of live ones is not swept at
	 * every login). */
	if (o->count + n + r->reserve >= r->capacity && r->forced_lap != now) {
		r->forced_lap = now;
		r->next_expiry = 0;
		if ((rc = sweep(r, cur, &m, now, SIZE_MAX, SIZE_MAX)) != 0 ||
		    (rc = count_entries(txn, r->db, &m, &o->count)) != 0)
			return rc;
	}
	for (i = 0; i < n; i++) {
		results[i] = record_entry(r, txn, cur, &m, &o->count,
		    &entries[i], t, &rc);
		if (results[i] == REPLAY_ERROR)
			return rc;
		if (results[i] == REPLAY_FRESH && entries[i].seen_days > 0 &&
		    (rc = mark_seen(r, txn, &m, &entries[i], REPLAY_DAY(now),
			 &o->count, &o->unmarked)) != 0)
			return rc;
		o->full += results[i] == REPLAY_FULL;
		o->behind += results[i] == REPLAY_BEHIND_MARK;
	}
	return same_meta(&m, &was) ? 0 : put_meta(txn, r->db, &m);
}

/* The error of a committed batch that refused some: 0 if none. */
static int
explain_outcome(const struct lmdb_store *r, const struct outcome *o,
    char err[REPLAY_ERR_LEN])
{
	if (o->behind > 0)
		return explain_failure(err, "record", o->switched ?
		    KEYS_CHANGED : CLOCK_BEHIND), -1;
	if (o->full == 0 && o->unmarked == 0)
		return 0;
	if (o->full == 0) {
		snprintf(err, REPLAY_ERR_LEN, "%zu JID(s) not marked seen: "
		    "the store is half full (%llu of %zu entries; seen marks "
		    "take only the first half); raise replay_capacity",
		    o->unmarked, (unsigned long long)o->count, r->capacity);
		return -1;
	}
	snprintf(err, REPLAY_ERR_LEN, "store full: %llu live nonces of %zu "
	    "(the last %zu are kept for JIDs that hold none); raise "
	    "replay_capacity", (unsigned long long)o->count, r->capacity,
	    r->reserve);
	return -1;
}

/* After a failed batch: nothing it did stays, no hint is trusted. */
static int
batch_failed(struct lmdb_store *r, enum replay_result results[], size_t n,
    const char *what, int rc, char err[REPLAY_ERR_LEN])
{
	r->next_expiry = 0;
	r->sweep_len = 0;
	r->lap_min = UINT64_MAX;
	r->seen_purged = 0;
	fail_all(results, n);
	return explain_failure(err, what, rc), -1;
}

static int
lmdb_record(struct replay *base, const struct replay_entry entries[],
    size_t n, const struct replay_time *t, enum replay_result results[],
    char err[REPLAY_ERR_LEN])
{
	struct lmdb_store *r = (struct lmdb_store *)base;
	struct outcome o = { 0 };
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	fail_all(results, n);
	if (t->now < 0 || t->expiry <= t->now)
		return explain_failure(err, "record", EINVAL), -1;
	if ((rc = mdb_txn_begin(r->env, NULL, 0, &txn)) != 0)
		return explain_failure(err, "begin", rc), -1;
	/* One cursor for the meta record and every JID's walk: a cursor is
	 * an allocation. */
	if ((rc = mdb_cursor_open(txn, r->db, &cur)) != 0) {
		mdb_txn_abort(txn);
		return batch_failed(r, results, n, "record", rc, err);
	}
	rc = record_batch(r, txn, cur, entries, n, t, results, &o);
	mdb_cursor_close(cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return batch_failed(r, results, n, "record", rc, err);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return batch_failed(r, results, n, "commit", rc, err);
	return explain_outcome(r, &o, err);
}

static enum replay_result
lmdb_lookup(struct replay *base, const struct replay_entry *e,
    const struct replay_time *t, char err[REPLAY_ERR_LEN])
{
	struct lmdb_store *r = (struct lmdb_store *)base;
	unsigned live;
	struct meta m;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc, seen = 0;

	if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) != 0) {
		explain_failure(err, "begin", rc);
		return REPLAY_ERROR;
	}
	if ((rc = get_meta(txn, r->db, &m)) == MDB_NOTFOUND)
		rc = MDB_CORRUPTED; /* an older layout, not converted yet */
	if (rc == 0 && m.derivation != e->key_id &&
	    checked_step_end(e, t) <= max64(m.mark, m.newest))
		rc = KEYS_CHANGED;
	else if (rc == 0 && checked_step_end(e, t) <= m.mark)
		rc = CLOCK_BEHIND;
	if (rc == 0 && (rc = mdb_cursor_open(txn, r->db, &cur)) == 0) {
		rc = walk_user(cur, e, (uint64_t)t->now, UINT_MAX, &seen,
		    &live);
		mdb_cursor_close(cur);
	}
	if (rc == 0 && !seen)
		rc = legacy_seen(txn, r->db, &m, e, (uint64_t)t->now, &seen);
	mdb_txn_abort(txn);
	if (rc == 0)
		return seen ? REPLAY_SEEN : REPLAY_FRESH;
	explain_failure(err, rc == MDB_CORRUPTED ? "lookup (a store of an older "
	    "version, which a helper converts when it first opens it?)" :
	    "lookup", rc);
	return rc == KEYS_CHANGED || rc == CLOCK_BEHIND ? REPLAY_BEHIND_MARK :
	    REPLAY_ERROR;
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

/* Adds a converted entry of 1.x: its JID is not known, so it counts for
 * none and is looked up under none. */
static int
adopt_entry(MDB_txn *txn, MDB_dbi db, const uint8_t key[REPLAY_KEY_LEN],
    uint64_t expiry, struct meta *m)
{
	int rc;

	rc = add_entry(txn, db, NULL, nobody, key, expiry, expiry);
	if (rc == MDB_KEYEXIST)
		return 0;
	m->legacy_until = max64(m->legacy_until, expiry);
	m->newest = max64(m->newest, expiry);
	return rc;
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
		m->mark = max64(m->mark, get_be(v.mv_data, 8));
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
		m->mark = max64(m->mark, get_be(v.mv_data, 8));
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

/* Layout 2's entry, read before its records are removed. */
struct entry_2 {
	uint8_t key[REPLAY_KEY_LEN];
	uint8_t user[REPLAY_USER_LEN];
	uint64_t expiry;
};

/* Layout 2's entries, from its expiry index ('E' expiry key -> user). */
static int
entries_2(MDB_txn *txn, MDB_dbi db, struct entry_2 **list, size_t *n)
{
	uint8_t tag = 'E';
	MDB_val k = { 1, &tag }, v;
	MDB_cursor *cur;
	struct entry_2 *grown;
	size_t room = 0;
	int rc;

	if ((rc = mdb_cursor_open(txn, db, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    ((uint8_t *)k.mv_data)[0] == tag;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 1 + 8 + REPLAY_KEY_LEN ||
		    v.mv_size != REPLAY_USER_LEN)
			continue;
		if (*n == room) {
			room = room ? 2 * room : 1024;
			if ((grown = realloc(*list, room * sizeof(**list))) ==
			    NULL) {
				rc = ENOMEM;
				break;
			}
			*list = grown;
		}
		(*list)[*n].expiry = get_be((uint8_t *)k.mv_data + 1, 8);
		memcpy((*list)[*n].key, (uint8_t *)k.mv_data + 9,
		    REPLAY_KEY_LEN);
		memcpy((*list)[*n].user, v.mv_data, REPLAY_USER_LEN);
		(*n)++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Removes every record that begins with tag. */
static int
drop_all(MDB_txn *txn, MDB_dbi db, uint8_t tag)
{
	MDB_val k, v;
	MDB_cursor *cur;
	int rc;

	if ((rc = mdb_cursor_open(txn, db, &cur)) != 0)
		return rc;
	k.mv_size = 1;
	k.mv_data = &tag;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    ((uint8_t *)k.mv_data)[0] == tag;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/*
 * Layout 2: its nonces keep their JIDs; the latest expiry it purged is
 * the mark (every step it purged ended before it).
 */
static int
adopt_2(MDB_txn *txn, MDB_dbi db, const MDB_val *old, struct meta *m)
{
	struct entry_2 *list = NULL;
	size_t n = 0, i;
	int rc;

	if (old->mv_size != META_2_LEN)
		return MDB_CORRUPTED;
	m->mark = max64(m->mark, get_be((uint8_t *)old->mv_data + 4, 8));
	/* ('N' key -> expiry and 'U' user -> count go: the entries say all) */
	if ((rc = entries_2(txn, db, &list, &n)) == 0 &&
	    (rc = drop_all(txn, db, 'E')) == 0 &&
	    (rc = drop_all(txn, db, 'N')) == 0)
		rc = drop_all(txn, db, 'U');
	for (i = 0; rc == 0 && i < n; i++) {
		rc = add_entry(txn, db, NULL, list[i].user, list[i].key,
		    list[i].expiry, list[i].expiry);
		rc = rc == MDB_KEYEXIST ? 0 : rc;
		m->newest = max64(m->newest, list[i].expiry);
		/* Layout 2's own conversion of 1.x put those under no JID. */
		if (memcmp(list[i].user, nobody, REPLAY_USER_LEN) == 0)
			m->legacy_until = max64(m->legacy_until,
			    list[i].expiry);
	}
	free(list);
	return rc;
}

/*
 * A nonce of layout 3 given its step end, from its place in the expiry
 * index (its expiry where it has none: the mark then rises further when
 * it is purged, which refuses more, never less).
 */
static int
adopt_nonce_3(MDB_txn *txn, MDB_dbi db, const uint8_t nk[N_LEN],
    uint64_t expiry)
{
	uint8_t ek[E_LEN], value[N_VALUE_LEN];
	MDB_val e = { sizeof(ek), ek }, n = { N_LEN, (void *)nk };
	MDB_val v = { sizeof(value), value }, ev;
	uint64_t step_end = expiry;
	int rc;

	ek[0] = 'E';
	put_be(ek + 1, expiry, 8);
	memcpy(ek + 9, nk + 1, N_LEN - 1);
	if ((rc = mdb_get(txn, db, &e, &ev)) == 0 && ev.mv_size == 8)
		step_end = get_be(ev.mv_data, 8);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	put_be(value, expiry, 8);
	put_be(value + 8, step_end, 8);
	return mdb_put(txn, db, &n, &v, 0);
}

/*
 * Layout 3: each nonce takes its step end from its place in the expiry
 * index, which goes; the seen marks are counted; the meta record is kept.
 */
static int
adopt_3(MDB_txn *txn, MDB_dbi db, const MDB_val *old, struct meta *m)
{
	uint8_t first = 'N', nk[N_LEN];
	MDB_val k, v;
	MDB_cursor *cur;
	int rc;

	if (old->mv_size != META_3_LEN)
		return MDB_CORRUPTED;
	common_meta(old->mv_data, m);
	if ((rc = mdb_cursor_open(txn, db, &cur)) != 0)
		return rc;
	k.mv_size = 1;
	k.mv_data = &first;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    ((uint8_t *)k.mv_data)[0] == 'N';
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != N_LEN || v.mv_size != 8)
			continue;
		memcpy(nk, k.mv_data, N_LEN);
		if ((rc = adopt_nonce_3(txn, db, nk, get_be(v.mv_data, 8))) != 0)
			break;
		/* (the cursor back on the nonce, its page written anew) */
		k.mv_size = N_LEN;
		k.mv_data = nk;
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY)) != 0)
			break;
	}
	if (rc == 0 || rc == MDB_NOTFOUND) {
		first = 'S';
		k.mv_size = 1;
		k.mv_data = &first;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 &&
		    ((uint8_t *)k.mv_data)[0] == 'S';
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			m->seen += k.mv_size == S_LEN;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	return drop_all(txn, db, 'E');
}

/*
 * Makes the store's layout this version's: new, or converted from 3, 2,
 * 1.1 or 1.0, with the names older versions open as databases taken as
 * keys.
 */
static int
init_layout(MDB_txn *txn, MDB_dbi db)
{
	struct meta m = { LAYOUT, 0, 0, 0, 0, 0, 0 };
	uint8_t version[4];
	MDB_val v = { sizeof(version), version };
	MDB_val k;
	size_t i;
	int rc;

	if ((rc = get_meta(txn, db, &m)) != MDB_NOTFOUND &&
	    rc != MDB_CORRUPTED)
		return rc;
	m = (struct meta){ LAYOUT, 0, 0, 0, 0, 0, 0 };
	if (rc == MDB_CORRUPTED) {
		/* Layout 3 or 2, or not ours at all. */
		if ((rc = mdb_get(txn, db, (MDB_val *)&meta_key, &v)) != 0 ||
		    v.mv_size < 4)
			return MDB_CORRUPTED;
		if (get_be(v.mv_data, 4) == 3)
			rc = adopt_3(txn, db, &v, &m);
		else if (get_be(v.mv_data, 4) == 2)
			rc = adopt_2(txn, db, &v, &m);
		else
			rc = MDB_CORRUPTED;
		if (rc != 0)
			return rc;
	} else if ((rc = adopt_1_0(txn, db, &m)) != 0 ||
	    (rc = adopt_1_1(txn, db, &m)) != 0)
		return rc;
	put_be(version, LAYOUT, 4);
	v.mv_size = sizeof(version);
	v.mv_data = version;
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
	r->lap_min = UINT64_MAX;
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

/* Whether the clock is behind the high-water mark (rule 5), and by how
 * much: then logins of earlier time steps are refused. */
static void
describe_mark(struct lmdb_store *r, time_t now)
{
	struct meta m;
	MDB_txn *txn;

	if (mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	if (get_meta(txn, r->db, &m) == 0 && m.mark > (uint64_t)now)
		printf("  WARNING: the clock is %llu s behind nonces already "
		       "purged (it ran ahead and was set back?): tokens of "
		       "earlier time steps are refused until it passes them; "
		       "'prosody-token-auth reset-store' ends that at once\n",
		    (unsigned long long)(m.mark - (uint64_t)now));
	mdb_txn_abort(txn);
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
	/* Looking makes nothing, whoever looks. */
	if (store_exists(s->store, err) &&
	    (r = open_store(s, REPLAY_READ, err)) != NULL) {
		describe_mark((struct lmdb_store *)r, time(NULL));
		lmdb_close(r);
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
	uint64_t count = 0;
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
	/* Every token valid now ends its step after now - keep - margin;
	 * nonces purged as they expired end theirs before it. */
	if ((rc = get_meta(txn, r.db, &m)) == 0 &&
	    m.mark + m.keep + SKEW_MARGIN > (uint64_t)now) {
		m.mark = (uint64_t)now > m.keep + SKEW_MARGIN ?
		    (uint64_t)now - m.keep - SKEW_MARGIN : 0;
		rc = put_meta(txn, r.db, &m);
	}
	if (rc == 0)
		rc = count_entries(txn, r.db, &m, &count);
	rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
	mdb_env_close(r.env);
	if (rc != 0)
		return explain_failure(msg, "reset", rc), -1;
	snprintf(msg, REPLAY_ERR_LEN, "%.200s: the clock's past is forgotten; "
	    "%llu live nonces are kept", s->store,
	    (unsigned long long)count);
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
	.check_usable = 1,
	.open = lmdb_open,
	.record = lmdb_record,
	.lookup = lmdb_lookup,
	.seen = lmdb_seen,
	.mark_seen = NULL,
	.close = lmdb_close,
	.describe = lmdb_describe,
	.reset = lmdb_reset,
};
