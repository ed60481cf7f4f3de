/*
 * The subcommands for people. Each returns the process's exit status and
 * writes its findings to stdout, its errors to stderr.
 */
#ifndef CLI_H
#define CLI_H

#include "config.h"

/* mint USER@DOMAIN: prints a fresh valid token (user lower-cased). */
int cli_mint(const struct config *, const char *jid);

/* verify USER@DOMAIN TOKEN: 0 if valid, 1 with the reason if not. */
int cli_verify(const struct config *, const char *jid, const char *token);

/* check-config: 0 if the loaded config is usable, with a summary. */
int cli_check_config(const struct config *);

/* gen-secrets: prints a new otp_seed and token_secret as config lines. */
int cli_gen_secrets(void);

#endif
