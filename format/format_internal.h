/* format_internal.h - helpers shared inside format/ only. */
#ifndef FORMAT_INTERNAL_H
#define FORMAT_INTERNAL_H

#include <stdlib.h>

#include "vecseg_format.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vecseg maps its files in place and needs a little-endian host"
#endif

int vf_write_all(int fd, const void *data, size_t len, const char *name, vf_error *err);
int vf_read_file(int dirfd, const char *name, char **data, size_t *len, vf_error *err);

uint16_t vf_get16(const void *p);
uint32_t vf_get32(const void *p);
uint64_t vf_get64(const void *p);
void vf_put16(void *p, uint16_t v);
void vf_put32(void *p, uint32_t v);
void vf_put64(void *p, uint64_t v);

#define VF_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((uint64_t)(a) - 1))

#endif
