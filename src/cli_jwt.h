/*
 * The subcommands for people that concern JWTs: jwt-keygen, mint --jwt,
 * and what check-config says of a domain's JWK Set. Each returns the
 * process's exit status, its findings on stdout, its errors on stderr.
 */
#ifndef CLI_JWT_H
#define CLI_JWT_H

#include "config.h"

/* jwt-keygen --kid KID [--alg ALG] --jwks FILE --private-key OUT */
int cli_jwt_keygen(int argc, char **argv);

/* mint USER@DOMAIN --jwt --private-key FILE --kid KID, with config c. */
int cli_mint_jwt(const struct config *c, const char *jid, int argc,
    char **argv);

/* check-config's lines about a domain's JWT settings and keys. */
void cli_describe_jwt(const struct config_domain *);

#endif
