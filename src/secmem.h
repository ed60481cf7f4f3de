/*
 * Memory for secrets: left out of core dumps, wiped before it is given back,
 * and locked (never swapped) where the system allows it. Locking is defence
 * in depth: a container without CAP_IPC_LOCK, or a low RLIMIT_MEMLOCK,
 * refuses it, and then the caller decides (config key lock_memory).
 */
#ifndef SECMEM_H
#define SECMEM_H

#include <stddef.h>

/*
 * Sets up OpenSSL's secure heap of heap_size bytes, where it keeps its
 * copies of the HMAC keys (locked too, if the system allows). Returns 0, or
 * -1 if there is no such heap at all.
 */
int secmem_init(size_t heap_size);

/*
 * Returns zeroed memory of at least len bytes, excluded from core dumps and
 * locked if the system allows, or NULL with errno.
 */
void *secmem_alloc(size_t len);

/* Wipes and releases memory from secmem_alloc; NULL is allowed. */
void secmem_free(void *p, size_t len);

/*
 * 0 if all memory for secrets so far (OpenSSL's heap too) is locked, else
 * why the first that is not could not be.
 */
int secmem_lock_errno(void);

#endif
