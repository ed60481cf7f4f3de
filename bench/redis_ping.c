/*
 * A bare Redis round trip, the floor of the Redis store: PING after PING
 * through hiredis's blocking API, as the store talks to Redis, and prints
 * one line of key=value figures as the load generator does.
 *
 *   redis_ping --tcp HOST PORT | --unix PATH [--count N] [--window W]
 *
 * --window 1 (ping-pong): each PING waits for its PONG, every one timed;
 * --window W: W PINGs written at once, then their W PONGs read (one round
 * trip per W, as the store sends a batch).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr, "usage: redis_ping --tcp HOST PORT | --unix PATH "
			"[--count N] [--window W]\n");
	exit(2);
}

/* One round trip of w PINGs; 0, or -1. */
static int
round_trip(redisContext *c, size_t w)
{
	static const char *argv[] = { "PING" };
	static const size_t len[] = { 4 };
	void *reply;
	size_t i;

	for (i = 0; i < w; i++)
		if (redisAppendCommandArgv(c, 1, argv, len) != REDIS_OK)
			return -1;
	for (i = 0; i < w; i++) {
		if (redisGetReply(c, &reply) != REDIS_OK)
			return -1;
		freeReplyObject(reply);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct timeval tv = { 5, 0 };
	const char *host = NULL, *path = NULL;
	size_t count = 100000, window = 1, i, done, rounds;
	uint64_t *lat, start, t0;
	redisContext *c;
	int port = 0, a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--tcp") == 0 && a + 2 < argc) {
			host = argv[++a];
			port = atoi(argv[++a]);
		} else if (strcmp(argv[a], "--unix") == 0 && a + 1 < argc) {
			path = argv[++a];
		} else if (strcmp(argv[a], "--count") == 0 && a + 1 < argc) {
			count = strtoul(argv[++a], NULL, 10);
		} else if (strcmp(argv[a], "--window") == 0 && a + 1 < argc) {
			window = strtoul(argv[++a], NULL, 10);
		} else {
			usage();
		}
	}
	if ((host == NULL) == (path == NULL) || count == 0 || window == 0)
		usage();
	c = path != NULL ? redisConnectUnixWithTimeout(path, tv) :
			   redisConnectWithTimeout(host, port, tv);
	if (c == NULL || c->err) {
		fprintf(stderr, "redis_ping: %s\n", c ? c->errstr : "no memory");
		return 1;
	}
	rounds = (count + window - 1) / window;
	if ((lat = calloc(rounds, sizeof(*lat))) == NULL)
		return 1;
	for (i = 0; i < 1000 / window + 1; i++) /* warm up */
		if (round_trip(c, window) == -1)
			goto fail;
	start = now_ns();
	for (i = 0, done = 0; i < rounds; i++, done += window) {
		t0 = now_ns();
		if (round_trip(c, window) == -1)
			goto fail;
		lat[i] = now_ns() - t0;
	}
	t0 = now_ns() - start;
	qsort(lat, rounds, sizeof(*lat), cmp);
	printf("label=ping requests=%zu window=%zu seconds=%.3f rps=%.0f "
	       "p50_us=%.2f p99_us=%.2f\n", done, window, (double)t0 / 1e9,
	    (double)done * 1e9 / (double)t0, (double)lat[rounds / 2] / 1e3,
	    (double)lat[rounds * 99 / 100] / 1e3);
	free(lat);
	redisFree(c);
	return 0;
fail:
	fprintf(stderr, "redis_ping: %s\n", c->errstr);
	return 1;
}
