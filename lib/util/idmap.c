/* idmap.c - open addressing with linear probing, load kept under 1/2. */
#include <stdlib.h>
#include <string.h>

#include "util/idmap.h"
#include "search/topk.h"
#include "vecseg.h"

void vs_idmap_init(vs_idmap *m) { memset(m, 0, sizeof *m); }

void vs_idmap_release(vs_idmap *m)
{
    free(m->keys);
    free(m->vals);
    vs_idmap_init(m);
}

static size_t slot(uint64_t key, size_t cap) { return (size_t)(vs_route_hash(key) & (cap - 1)); }

static int grow(vs_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *k = malloc(cap * sizeof *k), *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    memset(k, 0xff, cap * sizeof *k); /* every key VS_NO_ID: empty */
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != VS_NO_ID) {
            size_t j = slot(m->keys[i], cap);
            while (k[j] != VS_NO_ID)
                j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

int vs_idmap_put(vs_idmap *m, uint64_t key, uint64_t val)
{
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return -1;
    size_t j = slot(key, m->cap);
    while (m->keys[j] != VS_NO_ID && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == VS_NO_ID) {
        m->keys[j] = key;
        m->n++;
    }
    m->vals[j] = val;
    return 0;
}

uint64_t *vs_idmap_get(const vs_idmap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t j = slot(key, m->cap);
    while (m->keys[j] != VS_NO_ID) {
        if (m->keys[j] == key)
            return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}
