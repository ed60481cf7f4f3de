/*
 * The verification floor: the token's cryptography alone, in process, done
 * the fast honest way (the config's HMAC key schedules are computed once at
 * start-up and reused, as the helper does). No framing, no replay store, no
 * logging, no system call per token.
 *
 *   verify_floor CONFIG --seconds S   verifications per second for S seconds
 *   verify_floor CONFIG --count N     exactly N verifications (for callgrind:
 *                                     compare two counts, start-up cancels)
 *   verify_floor CONFIG ... --store   each verification also records its
 *                                     nonce in the config's replay store, as
 *                                     the helper does (not the floor: what
 *                                     the store adds to it, in process)
 *   verify_floor CONFIG ... --store --batch B
 *                                     the nonces recorded B at a time (one
 *                                     commit, or one Redis round trip, per
 *                                     B), as the helper records the logins
 *                                     it reads together (at most 64)
 *
 * Each verification is auth_check(): the domain's keys, token_parse and
 * token_verify (every OTP of the window and the signature, constant time).
 * The tokens are minted at start, with distinct nonces, for bob@example.org.
 */
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "jid.h"
#include "replay.h"
#include "serve.h"
#include "format_converse.h"
#include "token.h"

#define TOKENS 64

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records the n entries gathered; the store failing ends the run. */
static void
record(struct replay *store, const struct replay_entry entries[], size_t n,
    const struct replay_time *when)
{
	enum replay_result res[SERVE_BATCH_MAX];
	char err[REPLAY_ERR_LEN];
	size_t i;

	if (replay_record(store, entries, n, when, res, err) != 0) {
		fprintf(stderr, "verify_floor: %s\n", err);
		exit(1);
	}
	for (i = 0; i < n; i++)
		if (res[i] != REPLAY_FRESH) {
			fprintf(stderr, "verify_floor: a fresh nonce was not "
					"recorded\n");
			exit(1);
		}
}

int
main(int argc, char **argv)
{
	static char tokens[TOKENS][TOKEN_MAX_LEN + 1];
	static const struct jid bob = { .user = "bob", .userlen = 3,
		.domain = "example.org", .domainlen = 11 };
	char err[CONFIG_ERR_LEN], nonce[TOKEN_MAX_NONCE];
	struct replay_entry entries[SERVE_BATCH_MAX];
	struct replay *store = NULL;
	int with_store;
	const struct token_keys *keys;
	struct config c;
	struct format_token ft;
	struct token *t = (struct token *)ft.parsed.bytes;
	unsigned long long done = 0, count = 0, bad = 0;
	double seconds = 0, start, elapsed;
	time_t now = time(NULL);
	struct replay_time when;
	size_t i, j, len, batch = 1, n = 0;

	with_store = argc >= 5 && strcmp(argv[4], "--store") == 0;
	if (with_store && argc == 7 && strcmp(argv[5], "--batch") == 0)
		batch = strtoul(argv[6], NULL, 10);
	if ((argc != 4 && !(with_store && (argc == 5 || argc == 7))) ||
	    (strcmp(argv[2], "--seconds") != 0 &&
		strcmp(argv[2], "--count") != 0) ||
	    batch < 1 || batch > SERVE_BATCH_MAX) {
		fprintf(stderr, "usage: verify_floor CONFIG --seconds S | "
				"--count N [--store [--batch B]]\n");
		return 2;
	}
	if (strcmp(argv[2], "--seconds") == 0)
		seconds = atof(argv[3]);
	else
		count = strtoull(argv[3], NULL, 10);
	CRYPTO_secure_malloc_init(32768, 32);
	if (config_load(argv[1], &c, err) == -1) {
		fprintf(stderr, "verify_floor: %s\n", err);
		return 1;
	}
	if ((keys = config_keys(&c, "example.org", 11)) == NULL) {
		fprintf(stderr, "verify_floor: no keys for example.org\n");
		return 1;
	}
	srandom((unsigned)now);
	for (i = 0; i < TOKENS; i++) {
		for (j = 0; j < c.params.nonce_digits; j++)
			nonce[j] = (char)('0' + random() % 10);
		if (token_format(nonce, &bob, &keys->current, &c.params, now,
			tokens[i]) == -1) {
			fprintf(stderr, "verify_floor: cannot mint\n");
			return 1;
		}
	}
	len = strlen(tokens[0]);
	if (with_store && (store = replay_open(&c.replay, REPLAY_WRITE,
			       err)) == NULL) {
		fprintf(stderr, "verify_floor: %s\n", err);
		return 1;
	}
	when = (struct replay_time){ now, token_expiry(&c.params, now),
		token_expiry(&c.params, 0) };
	memset(entries, 0, sizeof(entries));
	start = now_seconds();
	for (;;) {
		if (count ? done == count :
			    (done % 1024 == 0 &&
				now_seconds() - start >= seconds))
			break;
		bad += auth_check(&c, &bob, tokens[done % TOKENS], len, now,
			   &ft) !=
		    AUTH_ACCEPTED;
		if (store != NULL) {
			/* A fresh nonce each time, so that every record is
			 * an insert, as for the helper's valid tokens, and
			 * as if of many users (one has 30 at most). */
			memcpy(t->nonce, &done, sizeof(done));
			bad += token_replay_entry_keyed(t, &c.params, &bob,
				    c.store_key, &entries[n]) != 0;
			memcpy(entries[n].user, &done, sizeof(done));
			entries[n].step_end = ft.step_end;
			entries[n].keep = c.store_keep;
			entries[n].key_id = c.store_key_id;
			if (++n == batch) {
				/* (recorded at the time it is: a shared store
				 * compares it with its own clock) */
				when.now = time(NULL);
				when.expiry = token_expiry(&c.params, when.now);
				record(store, entries, n, &when);
				n = 0;
			}
		}
		done++;
	}
	if (n > 0)
		record(store, entries, n, &when);
	elapsed = now_seconds() - start;
	explicit_bzero(&ft, sizeof(ft));
	replay_close(store);
	config_free(&c);
	if (bad != 0) {
		fprintf(stderr, "verify_floor: %llu tokens refused\n", bad);
		return 1;
	}
	printf("verifications=%llu seconds=%.3f per_second=%.0f "
	       "us_each=%.3f\n",
	    done, elapsed, (double)done / elapsed, elapsed * 1e6 / (double)done);
	return 0;
}
