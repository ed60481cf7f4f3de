/*
 * The collective.converse token explained to people (verify), never to the
 * helper's answers, and not in constant time: this may search and compare
 * as it likes, since it runs outside the request loop.
 */
#ifndef TOKEN_EXPLAIN_H
#define TOKEN_EXPLAIN_H

#include <stddef.h>
#include <time.h>

#include "format.h"
#include "token.h"

/*
 * What is wrong with text that token_parse refuses, in one phrase (which
 * part, what was expected, what was found).
 */
void token_explain(const char *text, size_t len, const struct token_params *,
    char *out, size_t outlen);

/*
 * The step, from the one of now, whose OTP under pair the token carries,
 * searched up to max_steps either side. Returns 0 with *steps set, or -1 if
 * none matches.
 */
int token_otp_offset(const struct token *, const struct token_pair *,
    const struct token_params *, time_t now, long max_steps, long *steps);

/*
 * Why the token text for the JID got verdict v at now, as struct format's
 * explain says; nothing for a verdict it has nothing to add to.
 */
void token_explain_refusal(const struct format_keys *, const struct jid *,
    const char *text, size_t len, enum auth_verdict v, time_t now,
    char *out, size_t outlen);

#endif
