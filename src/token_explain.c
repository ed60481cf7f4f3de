/*
 * Security rules for this file:
 * 1. For people only: nothing here decides a login or reaches an answer,
 *    so it may search and branch (it is not constant time); what it works
 *    out from the secrets (an OTP's offset) is wiped after use.
 * 2. No I/O: the caller prints what it is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token_explain.h"

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

/* How far off the clock the OTP is, under the current or previous pair. */
static void
explain_otp(const struct format_keys *f, const char *text, size_t len,
    time_t now, char *out, size_t outlen)
{
	const struct token_params *p = f->params;
	const struct token_keys *k = f->converse;
	long steps, day = 86400 / (long)p->otp_interval;
	const char *pair = "";
	char stamp[32];
	struct token t;
	struct tm tm;
	time_t when;

	if (token_parse(text, len, p, &t) == -1)
		return;
	if (token_otp_offset(&t, &k->current, p, now, day, &steps) == -1 &&
	    (k->previous.otp == NULL || (pair = " of the previous pair",
		token_otp_offset(&t, &k->previous, p, now, day,
		&steps)) == -1)) {
		snprintf(out, outlen, "  its OTP is that of no time within a "
		    "day of this server's clock: another otp_seed? (compare "
		    "the fingerprints check-config shows with the web "
		    "application's)\n");
		explicit_bzero(&t, sizeof(t));
		return;
	}
	explicit_bzero(&t, sizeof(t));
	when = (time_t)((long)(now / p->otp_interval) + steps) *
	    p->otp_interval;
	gmtime_r(&when, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, outlen, "  its OTP%s is that of %s, %ld step%s (%ld s) "
	    "%s this server's clock, and the window is %u step%s either side: "
	    "is a clock wrong (NTP), or the token old?\n", pair, stamp,
	    labs(steps), labs(steps) == 1 ? "" : "s",
	    labs(steps) * (long)p->otp_interval,
	    steps < 0 ? "behind" : "ahead of", p->otp_window,
	    p->otp_window == 1 ? "" : "s");
}

void
token_explain_refusal(const struct format_keys *f, const struct jid *jid,
    const char *text, size_t len, enum auth_verdict v, time_t now,
    char *out, size_t outlen)
{
	char why[256];

	out[0] = '\0';
	switch (v) {
	case AUTH_MALFORMED:
		token_explain(text, len, f->params, why, sizeof(why));
		snprintf(out, outlen, "  %s\n", why);
		break;
	case AUTH_BAD_OTP:
		explain_otp(f, text, len, now, out, outlen);
		break;
	case AUTH_BAD_SIGNATURE:
		snprintf(out, outlen, "  not signed with this token_secret for "
		    "%.*s@%.*s: another secret (compare the fingerprints "
		    "check-config shows with the web application's), or "
		    "another form of the JID (the user must be signed in lower "
		    "case)\n", (int)jid->userlen, jid->user,
		    (int)jid->domainlen, jid->domain);
		break;
	case AUTH_BAD_OTP_AND_SIGNATURE:
		snprintf(out, outlen, "  neither fits these secrets: the web "
		    "application probably has others (compare the fingerprints "
		    "check-config shows with its own)\n");
		break;
	default:
		break;
	}
}
