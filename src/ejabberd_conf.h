/*
 * ejabberd's password cache, seen from its configuration file: ejabberd
 * caches the password of a successful login (auth_use_cache, on unless
 * said otherwise, for an hour) and checks later logins against the cache
 * without asking its extauth_program, which would accept a used token
 * again. check-config reads ejabberd's file (and the files it includes)
 * and warns where this helper, or its connector, is an extauth_program
 * while that cache is on, for every host or for one.
 *
 * It reads YAML only as far as these keys need: top-level keys, the hosts
 * of host_config, include_config_file; it never fails on the rest.
 */
#ifndef EJABBERD_CONF_H
#define EJABBERD_CONF_H

#include <stdio.h>

#define EJABBERD_CONF_DEFAULT "/etc/ejabberd/ejabberd.yml"
#define EJABBERD_CONF_ENV     "PROSODY_TOKEN_AUTH_EJABBERD_CONFIG"

/*
 * Prints to out, a line each, what check-config says of the file at path:
 * nothing if it does not exist or does not name this helper; a warning
 * naming the file and line for each place the cache would defeat single
 * use. Returns the number of warnings.
 */
int ejabberd_conf_check(const char *path, FILE *out);

#endif
