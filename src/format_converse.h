/*
 * The collective.converse token as a format (format.h): its entry in the
 * replay store and how long that is kept. Its core is token.h.
 */
#ifndef FORMAT_CONVERSE_H
#define FORMAT_CONVERSE_H

#include <time.h>

#include "format.h"
#include "token.h"

/*
 * The keys of the token's entry for the replay store, which show neither
 * the nonce nor the JID: format_replay_entry of the nonce, keyed with
 * store_key (store_secret) unless it is NULL. Returns 0, or -1 if the
 * library failed.
 */
int token_replay_entry_keyed(const struct token *, const struct token_params *,
    const struct jid *, struct mac *store_key, struct replay_entry *);

/* The same without a store_key, as 2.0 made them (SHA-256). */
int token_replay_entry(const struct token *, const struct token_params *,
    const struct jid *, struct replay_entry *);

/* The last moment at which a token accepted at now could still be valid. */
time_t token_expiry(const struct token_params *, time_t now);

#endif
