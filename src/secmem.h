/*
 * Memory for secrets: locked (never swapped), left out of core dumps, and
 * wiped before it is given back.
 */
#ifndef SECMEM_H
#define SECMEM_H

#include <stddef.h>

/* Returns zeroed, locked memory of at least len bytes, or NULL with errno. */
void *secmem_alloc(size_t len);

/* Wipes and releases memory from secmem_alloc; NULL is allowed. */
void secmem_free(void *p, size_t len);

#endif
