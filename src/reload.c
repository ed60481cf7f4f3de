/*
 * Rules for this file:
 * 1. Never loud: whatever happens to the file, the helper goes on serving
 *    with the config it has.
 * 2. A config is freed (its secrets wiped) only once another is in use.
 * 3. Cheap between batches: a coarse clock read each time, a stat(2) at
 *    most once a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reload.h"
#include "replay.h"
#include "sandbox.h"

struct reload {
	struct config *config;	  /* in use */
	struct auth *auth;
	struct config_stamp refused; /* the file as last refused */
	int refused_any;
	int confined;		  /* the sandbox was set up for config */
	time_t next_look;	  /* CLOCK_MONOTONIC_COARSE seconds */
};

struct reload *
reload_open(struct config *config, struct auth *auth, int confined)
{
	struct reload *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->config = config;
	r->auth = auth;
	r->confined = confined;
	return r;
}

void
reload_close(struct reload *r)
{
	if (r == NULL)
		return;
	config_free(r->config);
	free(r->config);
	free(r);
}

/* Whether a second has passed since the last look. */
static int
time_to_look(struct reload *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec < r->next_look)
		return 0;
	r->next_look = now.tv_sec + 1;
	return 1;
}

/* Logs why the file is not taken, once for each version of it. */
static void
refuse(struct reload *r, const struct config_stamp *stamp, const char *why)
{
	if (r->refused_any && config_stamp_equal(&r->refused, stamp))
		return;
	r->refused = *stamp;
	r->refused_any = 1;
	log_msg(LOG_ERR, "%s (still serving with the config loaded before)",
	    why);
}

/* Loads the file anew; on success it is used from the next batch on. */
static void
load(struct reload *r, const struct config_stamp *stamp)
{
	char err[CONFIG_ERR_LEN];
	struct config *c;
	size_t n;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		refuse(r, stamp, "cannot load the changed config: out of "
		    "memory");
		return;
	}
	if (config_load(r->config->path, c, err) == -1 ||
	    replay_check_place(&c->replay, err) == -1 ||
	    (r->confined && sandbox_can_follow(r->config, c, err,
		sizeof(err)) == -1)) {
		if (c->ndomains > 0)
			config_free(c);
		free(c);
		refuse(r, stamp, err);
		return;
	}
	auth_use_config(r->auth, c);
	config_free(r->config);
	free(r->config);
	r->config = c;
	r->refused_any = 0;
	n = c->ndomains;
	log_msg(LOG_INFO, "config %s loaded again: %zu section%s of secrets",
	    c->path, n, n == 1 ? "" : "s");
}

void
reload_between(struct reload *r, int hup)
{
	struct config_stamp now;
	char why[CONFIG_ERR_LEN];

	if (!hup && !time_to_look(r))
		return;
	if (config_stamp(r->config, &now) == -1) {
		memset(&now, 0, sizeof(now));
		snprintf(why, sizeof(why), "%.1000s: %s", r->config->path,
		    strerror(errno));
		refuse(r, &now, why);
		return;
	}
	if (!hup && (config_stamp_equal(&now, &r->config->stamp) ||
	    (r->refused_any && config_stamp_equal(&now, &r->refused))))
		return;
	load(r, &now);
}
