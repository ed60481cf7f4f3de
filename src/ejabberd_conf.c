/*
 * Rules for this file:
 * 1. Read only, for people: it decides nothing and holds no secret; what
 *    it cannot read or understand is not checked, never an error.
 * 2. Bounded: lines of at most LINE_MAX_LEN, INCLUDE_DEPTH files deep, at
 *    most MAX_FILES files and MAX_HOSTS hosts; beyond those it reads no
 *    further.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "ejabberd_conf.h"

#define LINE_MAX_LEN  4096
#define INCLUDE_DEPTH 8
#define MAX_FILES     16
#define MAX_HOSTS     64
#define OURS	      "prosody-token-auth"

struct setting {
	int set;
	int on;			/* a true value; for extauth_program: ours */
	const char *file;	/* one of struct scan's */
	unsigned line;
};

/* The keys that matter, for every host (global) or for one. */
struct scope {
	char name[256];
	struct setting extauth, auth_cache, cache;
};

struct scan {
	char files[MAX_FILES][PATH_MAX];
	size_t nfiles;
	struct scope global;
	struct scope hosts[MAX_HOSTS];
	size_t nhosts;
};

static void read_file(struct scan *, const char *path, int depth);

/* Cuts a comment (a '#' after white space, outside quotes) and the line's
 * end; returns the line's indentation, or -1 for a blank line. */
static int
clean(char *s)
{
	char quote = 0, *p;
	int indent;

	for (p = s; *p != '\0'; p++) {
		if (quote != 0 && *p == quote)
			quote = 0;
		else if (quote == 0 && (*p == '"' || *p == '\''))
			quote = *p;
		else if (quote == 0 && *p == '#' && (p == s || p[-1] == ' ' ||
		    p[-1] == '\t'))
			break;
	}
	while (p > s && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' ||
	    p[-1] == '\r'))
		p--;
	*p = '\0';
	indent = (int)strspn(s, " ");
	return s[indent] == '\0' ? -1 : indent;
}

/* A scalar without its quotes, in place. */
static char *
unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		v++;
	}
	return v;
}

/* Splits "key: value" at the first ": " (or a final ':'); NULL if none. */
static char *
split_key(char *s)
{
	char *colon;

	for (colon = s; (colon = strchr(colon, ':')) != NULL; colon++)
		if (colon[1] == '\0' || colon[1] == ' ') {
			*colon = '\0';
			colon++;
			return colon + strspn(colon, " ");
		}
	return NULL;
}

static void
note(struct setting *s, int on, const char *file, unsigned line)
{
	s->set = 1;
	s->on = on;
	s->file = file;
	s->line = line;
}

static void
take(struct scope *sc, const char *key, char *value, const char *file,
    unsigned line)
{
	value = unquote(value);
	if (strcmp(key, "extauth_program") == 0)
		note(&sc->extauth, strstr(value, OURS) != NULL, file, line);
	else if (strcmp(key, "auth_use_cache") == 0)
		note(&sc->auth_cache, strcasecmp(value, "false") != 0, file,
		    line);
	else if (strcmp(key, "use_cache") == 0)
		note(&sc->cache, strcasecmp(value, "false") != 0, file, line);
}

static struct scope *
host(struct scan *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].name, name) == 0)
			return &s->hosts[i];
	if (s->nhosts == MAX_HOSTS)
		return NULL;
	snprintf(s->hosts[s->nhosts].name, sizeof(s->hosts[0].name), "%s",
	    name);
	return &s->hosts[s->nhosts++];
}

/* An included file, named relative to the file that includes it. */
static void
include(struct scan *s, const char *from, const char *name, int depth)
{
	char copy[PATH_MAX], path[PATH_MAX];

	if (name[0] == '\0')
		return;
	snprintf(copy, sizeof(copy), "%s", from);
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else if (snprintf(path, sizeof(path), "%s/%s", dirname(copy), name) >=
	    (int)sizeof(path))
		return;
	read_file(s, path, depth + 1);
}

/* Where a line stands: a top-level key, or inside host_config or
 * include_config_file. */
enum block { TOP, HOSTS, INCLUDES };

static void
read_file(struct scan *s, const char *path, int depth)
{
	char buf[LINE_MAX_LEN], *key, *value;
	struct scope *in_host = NULL;
	enum block block = TOP;
	int indent, host_indent = -1;
	unsigned line = 0;
	FILE *f;

	if (depth > INCLUDE_DEPTH || s->nfiles == MAX_FILES ||
	    (f = fopen(path, "re")) == NULL)
		return;
	/* (its name, kept for the warnings) */
	snprintf(s->files[s->nfiles], PATH_MAX, "%s", path);
	path = s->files[s->nfiles++];
	while (fgets(buf, sizeof(buf), f) != NULL) {
		line++;
		if ((indent = clean(buf)) == -1)
			continue;
		key = buf + indent;
		if (indent == 0) {
			block = TOP;
			in_host = NULL;
			host_indent = -1;
			if ((value = split_key(key)) == NULL)
				continue;
			if (strcmp(key, "host_config") == 0)
				block = HOSTS;
			else if (strcmp(key, "include_config_file") == 0) {
				block = INCLUDES;
				include(s, path, unquote(value), depth);
			} else
				take(&s->global, key, value, path, line);
		} else if (block == INCLUDES) {
			if (key[0] == '-')
				key += 1 + strspn(key + 1, " ");
			split_key(key); /* (a map: the file is its key) */
			include(s, path, unquote(key), depth);
		} else if (block == HOSTS) {
			if ((value = split_key(key)) == NULL)
				continue;
			if (host_indent == -1 || indent <= host_indent) {
				host_indent = indent;
				in_host = host(s, unquote(key));
			} else if (in_host != NULL)
				take(in_host, key, value, path, line);
		}
	}
	fclose(f);
}

/* Whether ejabberd's password cache is on for a host (or all: h NULL). */
static const struct setting *
cache_for(const struct scan *s, const struct scope *h, int *on)
{
	const struct setting *c;

	if (h != NULL && h->auth_cache.set)
		c = &h->auth_cache;
	else if (s->global.auth_cache.set)
		c = &s->global.auth_cache;
	else if (h != NULL && h->cache.set)
		c = &h->cache;
	else
		c = s->global.cache.set ? &s->global.cache : NULL;
	*on = c == NULL || c->on;
	return c;
}

static void
warn(FILE *out, const struct setting *program, const struct setting *cache,
    const char *host)
{
	const struct setting *at = cache != NULL ? cache : program;

	fprintf(out, "WARNING: %s:%u: ejabberd runs prosody-token-auth as its "
	    "extauth_program (line %u)%s%s, but its password cache is on%s: "
	    "it would accept a used token again, for an hour, without asking "
	    "the helper. Add 'auth_use_cache: false'%s%s\n", at->file,
	    at->line, program->line, host != NULL ? " for " : "",
	    host != NULL ? host : "", cache != NULL ? " (set here)" :
	    " (auth_use_cache is not set: it defaults to true)",
	    host != NULL ? " to that host's host_config" : "",
	    cache != NULL && cache->line != 0 ? ", in place of this line" :
	    "");
}

int
ejabberd_conf_check(const char *path, FILE *out)
{
	const struct setting *program, *cache;
	struct scope *h;
	struct scan *s;
	size_t i;
	int on, ours, warnings = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		fprintf(out, "ejabberd (%s): not checked: out of memory\n", path);
		return 0;
	}
	read_file(s, path, 0);
	ours = s->global.extauth.on;
	cache = cache_for(s, NULL, &on);
	if (s->global.extauth.set && s->global.extauth.on && on) {
		warn(out, &s->global.extauth, cache, NULL);
		warnings++;
	}
	for (i = 0; i < s->nhosts; i++) {
		h = &s->hosts[i];
		program = h->extauth.set ? &h->extauth : &s->global.extauth;
		if (!program->set || !program->on)
			continue;
		ours = 1;
		cache = cache_for(s, h, &on);
		/* (a host that changes neither is warned of above) */
		if (on && (h->extauth.set || h->auth_cache.set ||
		    h->cache.set)) {
			warn(out, program, cache, h->name);
			warnings++;
		}
	}
	if (ours)
		fprintf(out, "ejabberd (%s): %s\n", path, warnings == 0 ?
		    "runs prosody-token-auth with its password cache off, as "
		    "it must" : "see WARNING above");
	free(s);
	return warnings;
}
