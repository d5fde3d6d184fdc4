/*
 * http/connlimit.h - open connections per client bucket, capped.
 *
 * The server's per-address connection cap (HTTP_MAX_CONNECTIONS_PER_IP):
 * a count of open connections per bucket string, the peer address's
 * rate-limit bucket (fwd_bucket: an IPv4 address, an IPv6 network of
 * RATE_LIMIT_IPV6_PREFIX bits).  A mutex-protected hash table with an
 * entry per bucket that has an open connection; an entry is removed when
 * its count returns to zero, so memory is bounded by the number of open
 * connections, never by the number of addresses ever seen.  Safe to call
 * from any thread.
 */
#ifndef AUTH_HTTP_CONNLIMIT_H
#define AUTH_HTTP_CONNLIMIT_H

#include <stdbool.h>
#include <stddef.h>

struct connlimit;

/* A table admitting up to max_per_bucket open connections per bucket (0: none). */
struct connlimit *connlimit_create(unsigned max_per_bucket);
void connlimit_free(struct connlimit *cl);

/*
 * Count one more connection of bucket: true when it was under the cap
 * (and is now counted), false when the cap is reached (nothing counted).
 * Every true is paired with exactly one connlimit_release.
 */
bool connlimit_acquire(struct connlimit *cl, const char *bucket);

/* One connection of bucket closed.  A bucket with no count is left alone. */
void connlimit_release(struct connlimit *cl, const char *bucket);

/* Open connections counted for bucket (0 when it has no entry). */
unsigned connlimit_count(struct connlimit *cl, const char *bucket);

/* Entries in the table: buckets with at least one open connection. */
size_t connlimit_entries(struct connlimit *cl);

#endif
