/*
 * The JSON Web Token as a format (format.h): its verdicts, its entry in
 * the replay store (the jti, with the key and the JID) and how long that is
 * kept (exp and the leeway). Its core is jwt.h.
 */
#ifndef FORMAT_JWT_H
#define FORMAT_JWT_H

#include "format.h"
#include "jwt.h"

/*
 * The keys of the replay entry of an accepted token, keyed with store_key
 * (store_secret) unless it is NULL. Returns 0, or -1: the library.
 */
int jwt_replay_entry(const struct jwt *, const struct jid *,
    struct mac *store_key, struct replay_entry *);

#endif
