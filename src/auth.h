/*
 * The decisions: whether a request gets 1 or 0. Parses the request, checks
 * the token against the config's secrets, records its nonce in the replay
 * store, and logs one line per auth decision.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "helper.h"
#include "replay.h"
#include "request.h"
#include "token.h"

enum auth_verdict {
	AUTH_ACCEPTED,
	AUTH_MALFORMED,
	AUTH_UNKNOWN_DOMAIN,
	AUTH_BAD_OTP,
	AUTH_BAD_SIGNATURE,
	AUTH_BAD_OTP_AND_SIGNATURE,
	AUTH_REPLAY,
	AUTH_STORE_FAILED,
	AUTH_INTERNAL_ERROR,
};

struct auth {
	const struct config *config;
	struct replay *store; /* opened on first use, again after a failure */
};

/* Words for the administrator: "bad signature", "replayed token", ... */
const char *auth_reason(enum auth_verdict);

/* Checks a token for user@domain at now (no replay store, no logging). */
enum auth_verdict auth_check(const struct config *, const char *user,
    size_t userlen, const char *domain, size_t domainlen,
    const char *password, size_t passwordlen, time_t now, struct token *);

/*
 * Answers a batch of requests (as the protocol loop hands them over), each 1
 * or 0, recording the nonces of all its valid tokens in one commit. Never
 * fails otherwise.
 */
void auth_answer(struct auth *, const struct helper_request *, size_t n,
    int answers[]);

/* Closes the replay store. */
void auth_close(struct auth *);

#endif
