/* SPDX-License-Identifier: MIT */
/*
 * iommu.c - a device's DMA windows: IOVA ranges, each backed by a shared mapping of part of a
 * memfd (hwsim-internal.h, docs/hwsim.md "DMA windows").
 *
 * A window is mapped whole at MAP time and stays mapped until UNMAP, GRANT or the end, so the
 * device's accesses are plain loads and stores into our address space after a bounds check.
 * The memfd must have its size sealed: a buffer that could shrink would turn a device access
 * into SIGBUS for the whole board.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hwsim-internal.h"

static uint64_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);

	return p > 0 ? (uint64_t)p : 4096u;
}

void hwsim_iommu_init(struct hwsim_iommu *mmu)
{
	memset(mmu, 0, sizeof(*mmu));
	mmu->next_iova = DK_HWSIM_IOVA_BASE;
}

/* Whether @fd is a memfd whose size cannot change, open for @access. -EBADF otherwise. */
static int check_memfd(int fd, uint32_t access, uint64_t *ret_size)
{
	struct stat st;
	int seals, fl;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
		return -EBADF;
	/* Only shmem files answer F_GET_SEALS, and only a memfd made with MFD_ALLOW_SEALING can
	 * carry GROW and SHRINK (a tmpfs file is born with F_SEAL_SEAL). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_GROW | F_SEAL_SHRINK)) != (F_SEAL_GROW | F_SEAL_SHRINK))
		return -EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -EBADF;
	fl &= O_ACCMODE;
	if (fl == O_WRONLY || ((access & DK_DMA_WRITE) && fl != O_RDWR))
		return -EBADF;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int hwsim_iommu_map(struct hwsim_iommu *mmu, int fd, uint32_t access, uint64_t offset,
		    uint64_t length, uint64_t *ret_iova)
{
	const uint64_t page = page_size();
	struct hwsim_window *w;
	uint64_t size, delta, span;
	int prot = 0, err;
	void *map;

	if (!access || (access & ~(uint32_t)(DK_DMA_READ | DK_DMA_WRITE)) || length == 0 ||
	    offset > UINT64_MAX - length)
		return -EINVAL;
	err = check_memfd(fd, access, &size);
	if (err < 0)
		return err;
	if (offset + length > size)
		return -EINVAL;
	if (mmu->n >= DK_HWSIM_WINDOWS_MAX)
		return -ENOSPC;
	/* The window's pages, then at least one page that belongs to no window. */
	span = (length + page - 1) / page * page + page;
	if (mmu->next_iova > UINT64_MAX - span)
		return -ENOSPC;
	delta = offset % page;
	if (delta + length > SIZE_MAX)
		return -ENOMEM;
	if (access & DK_DMA_READ)
		prot |= PROT_READ;
	if (access & DK_DMA_WRITE)
		prot |= PROT_WRITE;
	map = mmap(NULL, (size_t)(delta + length), prot, MAP_SHARED, fd, (off_t)(offset - delta));
	if (map == MAP_FAILED) {
		err = errno;
		/* Sealed against writing, or otherwise not mappable as asked. */
		return err == EACCES || err == EPERM || err == ENODEV ? -EBADF : -err;
	}
	w = &mmu->windows[mmu->n++];
	w->iova = mmu->next_iova;
	w->length = length;
	w->access = access;
	w->map = map;
	w->map_len = (size_t)(delta + length);
	w->host = (uint8_t *)map + delta;
	mmu->next_iova += span;
	*ret_iova = w->iova;
	return 0;
}

static void window_unmap(struct hwsim_window *w)
{
	munmap(w->map, w->map_len);
	memset(w, 0, sizeof(*w));
}

int hwsim_iommu_unmap(struct hwsim_iommu *mmu, uint64_t iova)
{
	for (uint32_t i = 0; i < mmu->n; i++) {
		if (mmu->windows[i].iova != iova)
			continue;
		window_unmap(&mmu->windows[i]);
		mmu->windows[i] = mmu->windows[--mmu->n];
		return 0;
	}
	return -ENOENT;
}

void hwsim_iommu_clear(struct hwsim_iommu *mmu)
{
	for (uint32_t i = 0; i < mmu->n; i++)
		window_unmap(&mmu->windows[i]);
	mmu->n = 0;
}

static const struct hwsim_window *find(const struct hwsim_iommu *mmu, uint64_t iova)
{
	for (uint32_t i = 0; i < mmu->n; i++) {
		const struct hwsim_window *w = &mmu->windows[i];

		if (iova >= w->iova && iova - w->iova < w->length)
			return w;
	}
	return NULL;
}

uint8_t *hwsim_iommu_translate(const struct hwsim_iommu *mmu, uint64_t iova, uint64_t length,
			       uint32_t access, uint64_t *ret_fault_iova)
{
	const struct hwsim_window *w = find(mmu, iova);
	uint64_t off;

	if (!w || !(w->access & access) || length == 0) {
		*ret_fault_iova = iova;
		return NULL;
	}
	off = iova - w->iova;
	if (length > w->length - off) {
		/* Runs off the end: the first byte past the window is where it faults. */
		*ret_fault_iova = w->iova + w->length;
		return NULL;
	}
	return w->host + off;
}

uint64_t hwsim_iommu_window_end(const struct hwsim_iommu *mmu, uint64_t iova)
{
	const struct hwsim_window *w = find(mmu, iova);

	return w ? w->iova + w->length : iova;
}
