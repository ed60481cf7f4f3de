/*
 * Taking a changed config without a restart: on SIGHUP, and by itself when
 * the file changes (looked at between batches, once a second at most). The
 * new file is loaded into fresh memory and used from the next batch on; the
 * old one is wiped. A file that does not load (malformed, wrong
 * permissions, missing), or that a confined helper cannot follow (another
 * kind of replay store, another store directory: sandbox.h), leaves the old
 * one in use, and is logged once.
 */
#ifndef RELOAD_H
#define RELOAD_H

#include "auth.h"
#include "config.h"

struct reload;

/*
 * Watches the file config was loaded from; auth decides with it. From here
 * on the watch owns config (allocated by the caller with malloc): a reload
 * replaces it, and reload_close frees the one in use. confined: whether
 * the helper is (or is about to be) in its sandbox, which a new config must
 * then fit.
 */
struct reload *reload_open(struct config *config, struct auth *auth,
    int confined);

/* Between batches: loads the file again if it changed, or if hup. */
void reload_between(struct reload *, int hup);

/* Frees the config in use (and the watch). */
void reload_close(struct reload *);

#endif
