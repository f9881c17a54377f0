/*
 * idmap.h - an open-addressing hash map from uint64 ids to uint64 values
 * (internal to lib/).  VS_NO_ID is reserved as the empty key, which is why
 * ids are limited to 0..2^63-1.
 */
#ifndef VS_IDMAP_H
#define VS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vs_idmap {
    uint64_t *keys, *vals;
    size_t cap, n; /* cap is a power of two */
} vs_idmap;

void vs_idmap_init(vs_idmap *m);
void vs_idmap_release(vs_idmap *m);
/* Sets key -> val; returns 0 or -1 when out of memory. */
int vs_idmap_put(vs_idmap *m, uint64_t key, uint64_t val);
/* The value for key, or NULL if absent; valid until the next put. */
uint64_t *vs_idmap_get(const vs_idmap *m, uint64_t key);

#endif
