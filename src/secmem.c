#include <sys/mman.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "secmem.h"

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
	if (mlock(p, size) == -1 || madvise(p, size, MADV_DONTDUMP) == -1) {
		saved = errno;
		munmap(p, size);
		errno = saved;
		return NULL;
	}
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
