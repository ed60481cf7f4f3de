#include <stdio.h>
#include <string.h>

#include "redis_describe.h"
#include "redis_link.h"

static int
is_error(const redisReply *rep, const char *prefix)
{
	return rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, prefix, strlen(prefix)) == 0;
}

/* "Redis 7.0.15", "Valkey 8.0.1", from INFO server. */
void
redis_describe_version(const struct redis_asker *a)
{
	static const char *const argv[] = { "INFO", "server" };
	const redisReply *rep;
	char err[REPLAY_ERR_LEN], name[32] = "Redis", version[32] = "?";
	const char *p;

	if ((rep = a->ask(a->ctx, 2, argv, err)) == NULL ||
	    rep->type != REDIS_REPLY_STRING) {
		printf("  server version not known (INFO: %s)\n",
		    rep == NULL ? err : is_error(rep, "NOPERM") ?
		    "not allowed to this ACL user" : "no answer");
		return;
	}
	if ((p = strstr(rep->str, "redis_version:")) != NULL)
		sscanf(p, "redis_version:%31[0-9A-Za-z.-]", version);
	if ((p = strstr(rep->str, "server_name:")) != NULL &&
	    sscanf(p, "server_name:%31[0-9A-Za-z.-]", name) == 1 &&
	    strcmp(name, "valkey") == 0) {
		snprintf(name, sizeof(name), "Valkey");
		if ((p = strstr(rep->str, "valkey_version:")) != NULL)
			sscanf(p, "valkey_version:%31[0-9A-Za-z.-]", version);
	}
	printf("  server: %s %s\n", name, version);
}

/* maxmemory-policy: anything but noeviction may evict nonces. */
void
redis_describe_memory(const struct redis_asker *a)
{
	static const char *const policy[] = { "CONFIG", "GET",
		"maxmemory-policy" };
	static const char *const limit[] = { "CONFIG", "GET", "maxmemory" };
	const redisReply *rep;
	char err[REPLAY_ERR_LEN], text[64];

	if ((rep = a->ask(a->ctx, 3, policy, err)) == NULL ||
	    is_error(rep, "")) {
		printf("  note: maxmemory-policy not checked (%s): check it as "
		       "an administrator (redis-cli CONFIG GET "
		       "maxmemory-policy): it must be noeviction\n",
		    rep == NULL ? err : is_error(rep, "NOPERM") ?
		    "this ACL user may not run CONFIG GET, as it need not" :
		    rep->str);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[1]->type != REDIS_REPLY_STRING) {
		printf("  note: maxmemory-policy not checked (an unexpected "
		       "reply to CONFIG GET)\n");
		return;
	}
	redis_reply_text(rep->element[1], text, sizeof(text));
	if (strcmp(text, "noeviction") == 0)
		printf("  maxmemory-policy noeviction: OK (when Redis is full, "
		       "logins are refused, never nonces forgotten)\n");
	else
		printf("  WARNING: maxmemory-policy is %s: once Redis reaches "
		       "maxmemory it may evict recorded nonces (each has an "
		       "expiry, so volatile-* policies evict them too), and a "
		       "token whose nonce was evicted can be used again. Set "
		       "maxmemory-policy noeviction in redis.conf (or CONFIG "
		       "SET maxmemory-policy noeviction, then CONFIG REWRITE); "
		       "a full Redis then refuses logins instead\n", text);
	if ((rep = a->ask(a->ctx, 3, limit, err)) != NULL &&
	    rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[1]->type == REDIS_REPLY_STRING) {
		redis_reply_text(rep->element[1], text, sizeof(text));
		printf("  maxmemory %s%s\n", text, strcmp(text, "0") == 0 ?
		    " (no limit: Redis grows until the system runs out of "
		    "memory; set one, at least 300 bytes per live nonce)" :
		    " (the store's bound; replay_capacity does not apply)");
	}
}

/* ROLE: the primary, with the replicas WAIT needs. */
int
redis_describe_role(const struct redis_asker *a, unsigned wait_replicas)
{
	static const char *const argv[] = { "ROLE" };
	const redisReply *rep;
	char err[REPLAY_ERR_LEN], text[32];
	size_t replicas;

	if ((rep = a->ask(a->ctx, 1, argv, err)) == NULL || is_error(rep, "")) {
		printf("  note: role not checked (%s)\n", rep == NULL ? err :
		    "this ACL user may not run ROLE; it needs it only with "
		    "Sentinel");
		return 0;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	redis_reply_text(rep->element[0], text, sizeof(text));
	if (strcmp(text, "master") != 0) {
		printf("  PROBLEM: this server is a %s, not the primary: every "
		       "login would be refused (READONLY); name the primary in "
		       "replay_store, or its sentinels\n", text);
		return 1;
	}
	replicas = rep->elements >= 3 &&
		rep->element[2]->type == REDIS_REPLY_ARRAY ?
	    rep->element[2]->elements : 0;
	printf("  role: primary, %zu replica%s connected\n", replicas,
	    replicas == 1 ? "" : "s");
	if (replicas >= wait_replicas)
		return 0;
	printf("  PROBLEM: replay_redis_wait_replicas = %u, but %zu replica%s "
	       "connected: every login would be refused\n", wait_replicas,
	    replicas, replicas == 1 ? " is" : "s are");
	return 1;
}


void
redis_info_field(const redisReply *info, const char *name, char *out,
    size_t size)
{
	const char *p = info->type == REDIS_REPLY_STRING ? info->str : NULL,
		   *end;
	size_t n = strlen(name), len;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			end = p + strcspn(p, "\r\n");
			len = (size_t)(end - p);
			if (len < size && len > 0 && strspn(p,
				"0123456789abcdefABCDEF") == len) {
				memcpy(out, p, len);
				out[len] = '\0';
			}
			return;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
}
