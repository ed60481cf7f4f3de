/*
 * The decisions: whether a request gets 1 or 0. Parses the request, checks
 * the token against the config's secrets, records its nonce in the replay
 * store, and, once the answers are written, logs one line per decision.
 * The only place a verdict is made: the verify subcommand asks here too.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "serve.h"
#include "jid.h"
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
	AUTH_USER_LIMIT,
	AUTH_STORE_FULL,
	AUTH_NOT_SEEN, /* isuser = seen: no login within isuser_seen_days */
};

#define AUTH_ERR_LEN REPLAY_ERR_LEN

enum auth_mode {
	AUTH_SERVE,  /* answer requests: the store is made if need be */
	AUTH_INSPECT /* look only: the store is read, never made or changed */
};

struct auth;

/* Words for the administrator: "bad signature", "replayed token", ... */
const char *auth_reason(enum auth_verdict);

/*
 * Decides with config c, which must outlive the result. Opens the replay
 * store now; if it cannot be opened yet, that is logged and tried again at
 * the next login. NULL only if out of memory.
 */
struct auth *auth_open(const struct config *c, enum auth_mode);
void auth_close(struct auth *);

/*
 * Decides with config c from the next batch on (the caller keeps the one
 * before until then, and frees it after). The replay store is opened anew
 * only if its settings changed.
 */
void auth_use_config(struct auth *, const struct config *c);

/*
 * Checks a token for the JID at now: the domain's secrets, its form, its
 * OTP and its signature, without the replay store. t receives the parsed
 * token.
 */
enum auth_verdict auth_check(const struct config *, const struct jid *,
    const char *password, size_t passwordlen, time_t now, struct token *t);

/*
 * The answer the helper would give now, without using the token up:
 * auth_check, then whether its nonce was used (AUTH_REPLAY). If the store
 * cannot be read, AUTH_STORE_FAILED and why in err.
 */
enum auth_verdict auth_lookup(struct auth *, const struct jid *,
    const char *password, size_t passwordlen, time_t now,
    char err[AUTH_ERR_LEN]);

/*
 * Answers a batch of requests (as the protocol loop hands them over), each
 * 1 or 0, recording the nonces of all its valid tokens in one commit.
 */
void auth_answer(struct auth *, const struct serve_request *, size_t n,
    int answers[]);

/*
 * Why request i of the batch last answered was refused, as one word
 * ("replayed"), or NULL for a yes. It makes public which check failed:
 * ask only as the answers are written, for a client that asked for it.
 */
const char *auth_answer_reason(struct auth *, size_t i);

/*
 * Logs the decisions of the batch last answered, once its answers are
 * written (its requests' bytes must still be in place).
 */
void auth_log_answered(struct auth *);

#endif
