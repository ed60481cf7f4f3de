#include <sys/mman.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secmem.h"

static int lock_errno;

int
secmem_init(size_t heap_size)
{
	int rc;

	errno = 0;
	rc = CRYPTO_secure_malloc_init(heap_size, 32);
	if (rc == 0)
		return -1;
	/* 2: the heap is there, but not locked (or without guard pages). */
	if (rc == 2 && lock_errno == 0)
		lock_errno = errno != 0 ? errno : EPERM;
	return 0;
}

static size_t
round_to_pages(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

void *
secmem_alloc(size_t len)
{
	size_t size = round_to_pages(len);
	void *p;
	int saved;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, size, MADV_DONTDUMP) == -1) {
		saved = errno;
		munmap(p, size);
		errno = saved;
		return NULL;
	}
	if (mlock(p, size) == -1 && lock_errno == 0)
		lock_errno = errno;
	return p;
}

void
secmem_free(void *p, size_t len)
{
	size_t size = round_to_pages(len);

	if (p == NULL)
		return;
	explicit_bzero(p, size);
	munlock(p, size);
	munmap(p, size);
}

int
secmem_lock_errno(void)
{
	return lock_errno;
}
