/*
 * Security rules for this file:
 * 1. Constant time: for a well-formed token every OTP of the window (kept
 *    for the time step by the pair's window) and the signature are
 *    compared, always, with CRYPTO_memcmp; the results are combined with
 *    arithmetic, never with an early exit or a branch, so refusing takes
 *    as long whichever check failed and however close it came.
 * 2. Parsing looks only at the token, which is public, and rejects anything
 *    that is not exactly the expected shape (no truncation, no leniency).
 * 3. No I/O here: the caller supplies the time and keeps the replay store.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "token.h"

static int
all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Only the canonical encoding is accepted: it must re-encode identically. */
static int
decode_signature(const char *b64, uint8_t sig[TOKEN_SIG_LEN])
{
	unsigned char raw[TOKEN_SIG_B64_LEN / 4 * 3];
	char again[TOKEN_SIG_B64_LEN + 1];

	if (EVP_DecodeBlock(raw, (const unsigned char *)b64,
		TOKEN_SIG_B64_LEN) != (int)sizeof(raw))
		return -1;
	EVP_EncodeBlock((unsigned char *)again, raw, TOKEN_SIG_LEN);
	if (memcmp(again, b64, TOKEN_SIG_B64_LEN) != 0)
		return -1;
	memcpy(sig, raw, TOKEN_SIG_LEN);
	return 0;
}

int
token_parse(const char *text, size_t len, const struct token_params *p,
    struct token *t)
{
	const char *nonce = text + p->otp_digits;
	const char *space = nonce + p->nonce_digits;

	if (len != p->otp_digits + p->nonce_digits + 1 + TOKEN_SIG_B64_LEN)
		return -1;
	if (!all_digits(text, p->otp_digits) ||
	    !all_digits(nonce, p->nonce_digits) || *space != ' ')
		return -1;
	if (decode_signature(space + 1, t->sig) == -1)
		return -1;
	memcpy(t->otp, text, p->otp_digits);
	memcpy(t->nonce, nonce, p->nonce_digits);
	return 0;
}

static int
signature(const char *otp, const char *nonce, const struct jid *j,
    const struct token_pair *k, const struct token_params *p,
    uint8_t out[MAC_MAX_LEN])
{
	const uint8_t *msg[] = { (const uint8_t *)otp, (const uint8_t *)nonce,
		(const uint8_t *)j->user, (const uint8_t *)"@",
		(const uint8_t *)j->domain };
	const size_t len[] = { p->otp_digits, p->nonce_digits, j->userlen, 1,
		j->domainlen };

	return mac_compute(k->sig, msg, len, 5, out);
}

/* The window's codes of pair k, kept for the time step if k keeps them. */
static const char *
window_codes(const struct token_pair *k, uint64_t first, unsigned count,
    unsigned digits, char local[TOTP_MAX_WINDOW * TOTP_MAX_DIGITS],
    unsigned *failure)
{
	const char *kept;
	unsigned i;

	if (k->window != NULL) {
		kept = totp_window_codes(k->window, k->otp, first, count,
		    digits);
		*failure |= kept == NULL;
		return kept;
	}
	for (i = 0; i < count; i++)
		*failure |= totp_code(k->otp, first + i, digits,
		    local + (size_t)i * digits) != 0;
	return local;
}

/*
 * 1 if the OTP matches any step of the window, else 0, with the lowest
 * matching step in *step (the first one's if none); never exits early,
 * never branches on a match.
 */
static unsigned
otp_in_window(const struct token *t, const struct token_pair *k,
    const struct token_params *p, time_t now, uint64_t *step,
    unsigned *failure)
{
	char local[TOTP_MAX_WINDOW * TOTP_MAX_DIGITS];
	const char *codes;
	uint64_t first = totp_step(now, p->otp_interval) - p->otp_window, hit;
	unsigned i, n = 2 * p->otp_window + 1, match = 0, m;

	codes = window_codes(k, first, n, p->otp_digits, local, failure);
	*step = first;
	for (i = n; codes != NULL && i-- > 0;) {
		m = CRYPTO_memcmp(codes + (size_t)i * p->otp_digits, t->otp,
		    p->otp_digits) == 0;
		hit = 0 - (uint64_t)m;
		*step = (hit & (first + i)) | (~hit & *step);
		match |= m;
	}
	explicit_bzero(local, sizeof(local));
	return match;
}

/* TOKEN_BAD_OTP and TOKEN_BAD_SIG under one pair; failures to *failure. */
static unsigned
verify_pair(const struct token *t, const struct jid *j,
    const struct token_pair *k, const struct token_params *p, time_t now,
    uint64_t *step, unsigned *failure)
{
	uint8_t expected[MAC_MAX_LEN];
	unsigned otp_ok, sig_ok;

	otp_ok = otp_in_window(t, k, p, now, step, failure);
	*failure |= signature(t->otp, t->nonce, j, k, p, expected) != 0;
	sig_ok = CRYPTO_memcmp(expected, t->sig, TOKEN_SIG_LEN) == 0;
	explicit_bzero(expected, sizeof(expected));
	return (otp_ok ^ 1) * TOKEN_BAD_OTP | (sig_ok ^ 1) * TOKEN_BAD_SIG;
}

unsigned
token_verify_step(const struct token *t, const struct jid *j,
    const struct token_keys *k, const struct token_params *p, time_t now,
    uint64_t *step)
{
	unsigned failure = 0, bad, bad_previous, either_ok;
	uint64_t step_previous, cur_ok;

	bad = verify_pair(t, j, &k->current, p, now, step, &failure);
	/* Whether a previous pair is in force is public: the time and the
	 * config. Which pair a token matches is not: both are computed, and
	 * combined with masks. */
	if (k->previous.otp != NULL && now < k->previous_until) {
		bad_previous = verify_pair(t, j, &k->previous, p, now,
		    &step_previous, &failure);
		cur_ok = 0 - (uint64_t)(bad == 0);
		*step = (cur_ok & *step) | (~cur_ok & step_previous);
		either_ok = 0U - (unsigned)((bad == 0) | (bad_previous == 0));
		bad &= ~either_ok;
	}
	return bad | failure * TOKEN_FAILURE;
}

unsigned
token_verify(const struct token *t, const struct jid *j,
    const struct token_keys *k, const struct token_params *p, time_t now)
{
	uint64_t step;

	return token_verify_step(t, j, k, p, now, &step);
}

int
token_format(const char *nonce, const struct jid *j,
    const struct token_pair *k, const struct token_params *p, time_t now,
    char *out)
{
	uint8_t sig[MAC_MAX_LEN];
	char *otp = out, *space = out + p->otp_digits + p->nonce_digits;
	int rc;

	rc = totp_code(k->otp, totp_step(now, p->otp_interval), p->otp_digits,
	    otp);
	memcpy(otp + p->otp_digits, nonce, p->nonce_digits);
	rc |= signature(otp, nonce, j, k, p, sig);
	*space = ' ';
	EVP_EncodeBlock((unsigned char *)space + 1, sig, TOKEN_SIG_LEN);
	explicit_bzero(sig, sizeof(sig));
	return rc == 0 ? 0 : -1;
}

/* --- for people --------------------------------------------------------- */

static size_t
count_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	return i;
}

static void
explain_signature(const char *sig, size_t len, char *out, size_t outlen)
{
	size_t i, hex = 0, urlsafe = 0, other = 0;

	for (i = 0; i < len; i++) {
		hex += strchr("0123456789abcdefABCDEF", sig[i]) != NULL;
		urlsafe += sig[i] == '-' || sig[i] == '_';
		other += strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/=-_", sig[i]) == NULL;
	}
	if (len == 2 * TOKEN_SIG_LEN && hex == len)
		snprintf(out, outlen, "the signature is hex (64 digits): "
		    "base64-encode its 32 bytes instead (44 characters)");
	else if (other > 0)
		snprintf(out, outlen, "the signature holds %zu character%s "
		    "that base64 has not (a space, a quote, a line end?)",
		    other, other == 1 ? "" : "s");
	else if (urlsafe > 0)
		snprintf(out, outlen, "the signature is URL-safe base64 ('-' "
		    "or '_'): use standard base64, with '+' and '/'");
	else if (len < TOKEN_SIG_B64_LEN && len >= TOKEN_SIG_B64_LEN - 2 &&
	    memchr(sig, '=', len) == NULL)
		snprintf(out, outlen, "the signature lacks its '=' padding "
		    "(%zu characters, expected 44 ending in '=')", len);
	else if (len != TOKEN_SIG_B64_LEN)
		snprintf(out, outlen, "the signature is %zu characters, "
		    "expected 44 (standard base64 of 32 bytes, with padding)",
		    len);
	else
		snprintf(out, outlen, "the signature is not the canonical "
		    "base64 of 32 bytes (its last character before the '=')");
}

void
token_explain(const char *text, size_t len, const struct token_params *p,
    char *out, size_t outlen)
{
	size_t want = p->otp_digits + p->nonce_digits, digits;
	const char *space = memchr(text, ' ', len);

	if (len > 0 && (text[0] == ' ' || text[len - 1] == ' ' ||
	    text[len - 1] == '\n' || text[len - 1] == '\r')) {
		snprintf(out, outlen, "white space at its %s: the token is "
		    "exactly the OTP, the nonce, one space and the signature",
		    text[0] == ' ' ? "start" : "end");
		return;
	}
	if (space == NULL) {
		snprintf(out, outlen, "no space between the digits and the "
		    "signature");
		return;
	}
	digits = count_digits(text, (size_t)(space - text));
	if (digits != (size_t)(space - text))
		snprintf(out, outlen, "a character that is not a digit at "
		    "position %zu of the OTP and nonce", digits + 1);
	else if (digits == 6 + p->nonce_digits && p->otp_digits != 6)
		snprintf(out, outlen, "%zu digits of OTP and nonce, expected "
		    "%zu: a 6-digit OTP, pyotp's default? The OTP has %u "
		    "digits (pyotp.TOTP(seed, digits=%u))", digits, want,
		    p->otp_digits, p->otp_digits);
	else if (digits != want)
		snprintf(out, outlen, "%zu digits of OTP and nonce, expected "
		    "%zu (a %u-digit OTP, then a %u-digit nonce)", digits,
		    want, p->otp_digits, p->nonce_digits);
	else if (memchr(space + 1, ' ', len - (size_t)(space + 1 - text)))
		snprintf(out, outlen, "more than one space");
	else
		explain_signature(space + 1, len - (size_t)(space + 1 - text),
		    out, outlen);
}

int
token_otp_offset(const struct token *t, const struct token_pair *k,
    const struct token_params *p, time_t now, long max_steps, long *steps)
{
	uint64_t step = totp_step(now, p->otp_interval);
	char code[TOTP_MAX_DIGITS];
	long d;
	int sign;

	for (d = 0; d <= max_steps; d++) {
		for (sign = 1; sign >= -1; sign -= 2) {
			if (totp_code(k->otp, step + (uint64_t)(sign * d),
				p->otp_digits, code) == 0 &&
			    memcmp(code, t->otp, p->otp_digits) == 0) {
				explicit_bzero(code, sizeof(code));
				*steps = sign * d;
				return 0;
			}
		}
	}
	explicit_bzero(code, sizeof(code));
	return -1;
}

/* SHA-256 of prefix (with its NUL) and user@domain, into out. */
static int
hash_with_jid(EVP_MD_CTX *ctx, const EVP_MD *sha256, const char *prefix,
    size_t prefixlen, const struct jid *j, uint8_t *out)
{
	return EVP_DigestInit_ex2(ctx, sha256, NULL) &&
	    EVP_DigestUpdate(ctx, prefix, prefixlen) &&
	    EVP_DigestUpdate(ctx, "", 1) &&
	    EVP_DigestUpdate(ctx, j->user, j->userlen) &&
	    EVP_DigestUpdate(ctx, "@", 1) &&
	    EVP_DigestUpdate(ctx, j->domain, j->domainlen) &&
	    EVP_DigestFinal_ex(ctx, out, NULL);
}

/* The same keyed: HMAC-SHA256 under the store's secret. 1, or 0. */
static int
mac_with_jid(struct mac *key, const char *prefix, size_t prefixlen,
    const struct jid *j, uint8_t out[MAC_MAX_LEN])
{
	const uint8_t *msg[] = { (const uint8_t *)prefix, (const uint8_t *)"",
		(const uint8_t *)j->user, (const uint8_t *)"@",
		(const uint8_t *)j->domain };
	const size_t len[] = { prefixlen, 1, j->userlen, 1, j->domainlen };

	return mac_compute(key, msg, len, 5, out) == 0;
}

int
token_replay_entry(const struct token *t, const struct token_params *p,
    const struct jid *j, struct replay_entry *e)
{
	/* Fetched and allocated once, then reused: fetching SHA-256 and
	 * making a context for every request cost more than the hash. */
	static EVP_MD *sha256;
	static EVP_MD_CTX *ctx;
	uint8_t h[EVP_MAX_MD_SIZE];

	if (sha256 == NULL &&
	    (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (!hash_with_jid(ctx, sha256, t->nonce, p->nonce_digits, j,
		e->key) ||
	    !hash_with_jid(ctx, sha256, "jid", 3, j, h))
		return -1;
	memcpy(e->user, h, sizeof(e->user));
	return 0;
}

int
token_replay_entry_keyed(const struct token *t, const struct token_params *p,
    const struct jid *j, struct mac *store_key, struct replay_entry *e)
{
	uint8_t h[MAC_MAX_LEN];
	int ok;

	if (store_key == NULL)
		return token_replay_entry(t, p, j, e);
	ok = mac_with_jid(store_key, t->nonce, p->nonce_digits, j, h);
	memcpy(e->key, h, REPLAY_KEY_LEN);
	ok &= mac_with_jid(store_key, "jid", 3, j, h);
	memcpy(e->user, h, REPLAY_USER_LEN);
	explicit_bzero(h, sizeof(h));
	return ok ? 0 : -1;
}

int
token_replay_user(const struct jid *j, struct mac *store_key,
    uint8_t user[REPLAY_USER_LEN])
{
	uint8_t h[MAC_MAX_LEN];
	int ok;

	if (store_key == NULL)
		return -1;
	ok = mac_with_jid(store_key, "jid", 3, j, h);
	memcpy(user, h, REPLAY_USER_LEN);
	explicit_bzero(h, sizeof(h));
	return ok ? 0 : -1;
}

time_t
token_expiry(const struct token_params *p, time_t now)
{
	uint64_t last_step = totp_step(now, p->otp_interval) +
	    2 * p->otp_window;

	return (time_t)((last_step + 1) * p->otp_interval);
}
