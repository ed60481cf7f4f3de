/*
 * Security rules for this file:
 * 1. A private key is written only to a new file (O_EXCL, mode 0600,
 *    never through a symbolic link); an HS256 secret likewise. Neither is
 *    ever printed.
 * 2. The JWK Set is rewritten atomically (a temporary file in its
 *    directory, then rename), keeping its owner, group and mode; a set
 *    that holds an HS256 secret is never readable by others.
 * 3. Keys come from OpenSSL's generator, seeded from getrandom.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "cli_jwt.h"
#include "io.h"
#include "jwks.h"
#include "jwt.h"

#define ME "prosody-token-auth"

void
cli_describe_jwt(const struct config_domain *d)
{
	const struct jwt_domain *j = &d->jwt;
	size_t i;

	if (d->formats.jwt == NULL)
		return;
	printf("JWT: %s (line %d): %s, aud %s, iss %s, lifetime at most %u s, "
	       "leeway %u s\n",
	    d->name ? d->name : "global, for every other domain", d->line,
	    j->keys->path, j->audience, j->issuer[0] ? j->issuer : "(any)",
	    j->max_lifetime, j->leeway);
	for (i = 0; i < j->keys->n; i++)
		printf("  key %s: %s, %d bits, thumbprint %s\n",
		    j->keys->keys[i].kid, jwks_alg_name(j->keys->keys[i].alg),
		    j->keys->keys[i].bits, j->keys->keys[i].thumbprint);
}

/* --- mint --jwt --------------------------------------------------------- */

static EVP_PKEY *
read_private_key(const char *path)
{
	EVP_PKEY *k = NULL;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, ME ": %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if ((k = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		fprintf(stderr, ME ": %s: not a PEM private key (an HS256 "
		    "secret cannot mint here: use the web application's "
		    "library)\n", path);
	fclose(f);
	return k;
}

int
cli_mint_jwt(const struct config *c, const char *jidtext, int argc,
    char **argv)
{
	static const struct option longopts[] = {
		{ "jwt", no_argument, NULL, 'j' },
		{ "private-key", required_argument, NULL, 'p' },
		{ "kid", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *kid = NULL;
	const struct format_keys *f;
	const struct jwks_key *k;
	char text[JID_MAX_LEN + 1], out[JWT_MAX_LEN + 2];
	struct jid j;
	EVP_PKEY *pkey;
	size_t i, len = strlen(jidtext);
	int ch, jwt = 0, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'j')
			jwt = 1;
		else if (ch == 'p')
			keyfile = optarg;
		else if (ch == 'k')
			kid = optarg;
		else
			return 2;
	}
	if (!jwt || keyfile == NULL || kid == NULL || optind != argc) {
		fprintf(stderr, ME ": mint USER@DOMAIN --jwt --private-key "
		    "FILE --kid KID\n");
		return 2;
	}
	for (i = 0; i <= len && len < sizeof(text); i++)
		text[i] = (char)(jidtext[i] >= 'A' && jidtext[i] <= 'Z' ?
		    jidtext[i] - 'A' + 'a' : jidtext[i]);
	if (len >= sizeof(text) || jid_split(&j, text, len) == -1) {
		fprintf(stderr, ME ": '%s' is not USER@DOMAIN\n", jidtext);
		return 1;
	}
	if ((f = config_formats(c, j.domain, j.domainlen)) == NULL ||
	    f->jwt == NULL) {
		fprintf(stderr, ME ": %s: no jwt_keys for domain '%s'\n",
		    c->path, j.domain);
		return 1;
	}
	if ((k = jwks_find(f->jwt->keys, kid, strlen(kid))) == NULL) {
		fprintf(stderr, ME ": %s has no key with kid '%s'\n",
		    f->jwt->keys->path, kid);
		return 1;
	}
	if ((pkey = read_private_key(keyfile)) == NULL)
		return 1;
	rc = jwt_mint(&j, f->jwt->audience, f->jwt->issuer, kid, k->alg,
	    pkey, time(NULL), f->jwt->max_lifetime < 60 ?
	    f->jwt->max_lifetime : 60, out, sizeof(out) - 1);
	EVP_PKEY_free(pkey);
	if (rc == -1) {
		fprintf(stderr, ME ": cannot sign with %s (is it the private "
		    "key of kid '%s', %s?)\n", keyfile, kid,
		    jwks_alg_name(k->alg));
		return 1;
	}
	strcat(out, "\n");
	return write_all(STDOUT_FILENO, out, strlen(out), NULL) == -1;
}

/* --- jwt-keygen --------------------------------------------------------- */

static char *
b64_of(const unsigned char *in, size_t len)
{
	char *out = malloc(len * 4 / 3 + 4);

	if (out != NULL)
		jwks_b64url_encode(in, len, out);
	return out;
}

/* A member of j: base64url of in, or -1. */
static int
set_b64(json_t *j, const char *name, const unsigned char *in, size_t len)
{
	char *s = b64_of(in, len);
	int rc = s == NULL ? -1 : json_object_set_new(j, name, json_string(s));

	free(s);
	return rc;
}

static int
rsa_members(EVP_PKEY *k, json_t *j)
{
	unsigned char buf[1024];
	BIGNUM *n = NULL, *e = NULL;
	int rc = -1;

	if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
	    set_b64(j, "n", buf, (size_t)BN_bn2bin(n, buf)) == 0 &&
	    set_b64(j, "e", buf, (size_t)BN_bn2bin(e, buf)) == 0)
		rc = 0;
	BN_free(n);
	BN_free(e);
	return rc;
}

/* The public JWK of k. */
static json_t *
public_jwk(EVP_PKEY *k, enum jwks_alg alg, const char *kid)
{
	unsigned char buf[128];
	size_t n = sizeof(buf);
	json_t *j = json_pack("{s:s, s:s, s:s}", "kid", kid, "alg",
	    jwks_alg_name(alg), "use", "sig");
	int rc = -1;

	if (j == NULL)
		return NULL;
	if (alg == JWKS_EDDSA)
		rc = EVP_PKEY_get_raw_public_key(k, buf, &n) == 1 ?
		    json_object_set_new(j, "kty", json_string("OKP")) |
		    json_object_set_new(j, "crv", json_string("Ed25519")) |
		    set_b64(j, "x", buf, n) : -1;
	else if (alg == JWKS_ES256)
		rc = EVP_PKEY_get_octet_string_param(k,
		    OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &n) == 1 &&
		    n == 65 ?
		    json_object_set_new(j, "kty", json_string("EC")) |
		    json_object_set_new(j, "crv", json_string("P-256")) |
		    set_b64(j, "x", buf + 1, 32) | set_b64(j, "y", buf + 33, 32) :
		    -1;
	else
		rc = json_object_set_new(j, "kty", json_string("RSA")) |
		    rsa_members(k, j);
	if (rc != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Writes len bytes to a new file at path, mode 0600. */
static int
write_new(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);

	if (fd == -1) {
		fprintf(stderr, ME ": %s: %s%s\n", path, strerror(errno),
		    errno == EEXIST ? " (a key is never overwritten: choose "
		    "another name)" : "");
		return -1;
	}
	if (write_all(fd, text, len, NULL) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1) {
		fprintf(stderr, ME ": %s: %s\n", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* The set at path, or a new one; its file's stat in *st (mode 0 if new). */
static json_t *
read_set(const char *path, const char *kid, struct stat *st)
{
	json_error_t e;
	json_t *set, *keys, *k;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (lstat(path, st) == -1) {
		if (errno != ENOENT) {
			fprintf(stderr, ME ": %s: %s\n", path, strerror(errno));
			return NULL;
		}
		memset(st, 0, sizeof(*st));
		return json_pack("{s:[]}", "keys");
	}
	if (!S_ISREG(st->st_mode)) {
		fprintf(stderr, ME ": %s: not a regular file\n", path);
		return NULL;
	}
	if ((set = json_load_file(path, JSON_REJECT_DUPLICATES, &e)) == NULL ||
	    !json_is_array(keys = json_object_get(set, "keys"))) {
		fprintf(stderr, ME ": %s: not a JWK Set (%s)\n", path,
		    set == NULL ? e.text : "no keys array");
		json_decref(set);
		return NULL;
	}
	json_array_foreach(keys, i, k) {
		if (json_is_string(json_object_get(k, "kid")) &&
		    strcmp(json_string_value(json_object_get(k, "kid")),
			kid) == 0) {
			fprintf(stderr, ME ": %s already has a key with kid "
			    "'%s': choose another\n", path, kid);
			json_decref(set);
			return NULL;
		}
	}
	return set;
}

/* Replaces path with set, atomically, keeping its owner, group, mode. */
static int
write_set(const char *path, json_t *set, const struct stat *st,
    int secret)
{
	char tmp[4096], dircopy[4096], namecopy[4096];
	mode_t mode = st->st_mode != 0 ? st->st_mode & 07777 : 0644;
	int fd;

	if (secret)
		mode &= ~(mode_t)S_IRWXO;
	/* (dirname and basename may change what they are given.) */
	snprintf(dircopy, sizeof(dircopy), "%s", path);
	snprintf(namecopy, sizeof(namecopy), "%s", path);
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dircopy),
	    basename(namecopy)) >= (int)sizeof(tmp)) {
		fprintf(stderr, ME ": %s: path too long\n", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		fprintf(stderr, ME ": %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if ((st->st_mode != 0 && fchown(fd, st->st_uid, st->st_gid) == -1) ||
	    fchmod(fd, mode) == -1 || json_dumpfd(set, fd, JSON_INDENT(2)) ||
	    write_all(fd, "\n", 1, NULL) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		fprintf(stderr, ME ": %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* A new HS256 secret: written as a JWK for the web application. */
static json_t *
new_secret(const char *kid, const char *out)
{
	unsigned char k[32];
	char text[256];
	size_t n = 0;
	json_t *jwk = NULL;

	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
		fprintf(stderr, ME ": getrandom: %s\n", strerror(errno));
		return NULL;
	}
	if ((jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "oct", "kid", kid,
		 "alg", "HS256", "use", "sig")) == NULL ||
	    set_b64(jwk, "k", k, sizeof(k)) != 0 ||
	    (n = json_dumpb(jwk, text, sizeof(text), JSON_COMPACT)) == 0 ||
	    n > sizeof(text) || write_new(out, text, n) == -1) {
		json_decref(jwk);
		jwk = NULL;
	}
	explicit_bzero(k, sizeof(k));
	explicit_bzero(text, sizeof(text));
	return jwk;
}

/* A new key pair: the private key written as PEM, the public JWK back. */
static json_t *
new_pair(enum jwks_alg alg, const char *kid, const char *out)
{
	EVP_PKEY *k;
	BIO *b = BIO_new(BIO_s_mem());
	json_t *jwk = NULL;
	char *pem;
	long n;

	k = alg == JWKS_EDDSA ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
	    alg == JWKS_ES256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") :
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	if (k == NULL || b == NULL ||
	    !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0)
		fprintf(stderr, ME ": cannot make a %s key (OpenSSL)\n",
		    jwks_alg_name(alg));
	else if ((jwk = public_jwk(k, alg, kid)) != NULL &&
	    write_new(out, pem, (size_t)n) == -1) {
		json_decref(jwk);
		jwk = NULL;
	}
	BIO_free_all(b);
	EVP_PKEY_free(k);
	return jwk;
}

int
cli_jwt_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kid", required_argument, NULL, 'k' },
		{ "alg", required_argument, NULL, 'a' },
		{ "jwks", required_argument, NULL, 'j' },
		{ "private-key", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kid = NULL, *set_path = NULL, *out = NULL;
	int ch, alg = JWKS_EDDSA, rc = 1;
	json_t *set, *jwk;
	struct stat st;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'k')
			kid = optarg;
		else if (ch == 'j')
			set_path = optarg;
		else if (ch == 'p')
			out = optarg;
		else if (ch != 'a' || (alg = jwks_alg_of(optarg,
			 strlen(optarg))) < 0 || alg == JWKS_PS256)
			return fprintf(stderr, ME ": jwt-keygen --kid KID "
			    "[--alg EdDSA|ES256|RS256|HS256] --jwks FILE "
			    "--private-key OUT\n"), 2;
	}
	if (kid == NULL || set_path == NULL || out == NULL || optind != argc ||
	    kid[0] == '\0' || strlen(kid) > JWKS_MAX_KID ||
	    strpbrk(kid, " /\\\t\n") != NULL)
		return fprintf(stderr, ME ": jwt-keygen --kid KID [--alg "
		    "EdDSA|ES256|RS256|HS256] --jwks FILE --private-key OUT "
		    "(a kid of 1 to %d characters, no white space or '/')\n",
		    JWKS_MAX_KID), 2;
	if ((set = read_set(set_path, kid, &st)) == NULL)
		return 1;
	jwk = alg == JWKS_HS256 ? new_secret(kid, out) :
	    new_pair((enum jwks_alg)alg, kid, out);
	if (jwk != NULL && json_array_append_new(json_object_get(set, "keys"),
	    jwk) == 0 && write_set(set_path, set, &st, alg == JWKS_HS256) == 0) {
		printf("%s: added key %s (%s); %s: the %s for the web "
		       "application (mode 0600), and for nobody else\n",
		    set_path, kid, jwks_alg_name((enum jwks_alg)alg), out,
		    alg == JWKS_HS256 ? "secret, as a JWK," : "private key");
		rc = 0;
	}
	json_decref(set);
	return rc;
}
