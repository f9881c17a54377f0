/*
 * settings.c - the collection settings (SPEC.md 3.1): one table that gives
 * every setting its type, default, range and one line of help, in the
 * manner of pgvector's reloption registration.  The table serves new
 * collections their defaults, `vec-seal --set` its checks, the code its
 * typed getters, `vec-seal --help` (and through its test the man page) its
 * list, and `vec-inspect` its listing.
 *
 * Invariant ([R-SETTINGS-RANGE]): a value is never wrapped, clamped or
 * silently replaced.  A
 * value given to --set outside its range is refused before anything is
 * written (VF_EARG); one read from a manifest (written by hand or by an
 * older tool) is refused where it is used (VF_ECORRUPT), naming the range.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib_internal.h"

static const vs_setting_def table[] = {
    {"seal-rows", VS_SETTING_UINT, VS_SEAL_ROWS_DEFAULT, VS_SEAL_ROWS_MIN, VS_ROWS_MAX,
     "vec-seal seals a growing segment once it has this many committed rows"},
    {"seal-idle", VS_SETTING_UINT, VS_SEAL_IDLE_DEFAULT, 0, VS_SECONDS_MAX,
     "... or once its log was last appended to this many seconds ago"},
    {"log-bytes", VS_SETTING_UINT, VS_LOG_BYTES_DEFAULT, VS_LOG_BYTES_MIN, VS_BYTES_MAX,
     "an ingest starts a new log for a shard once its newest log is this long"},
    {"grace", VS_SETTING_UINT, VS_GRACE_DEFAULT, 0, VS_SECONDS_MAX,
     "seconds a file that no manifest needs is kept before it is removed"},
    {"index", VS_SETTING_INDEX, VS_INDEX_AUTO, 0, 0,
     "the index new sealed segments carry (auto: by segment size)"},
    {"hnsw-m", VS_SETTING_UINT, VS_HNSW_M_DEFAULT, VS_HNSW_M_MIN, VS_HNSW_M_MAX,
     "HNSW links per node on the upper levels (twice that on level 0)"},
    {"hnsw-ef-construction", VS_SETTING_UINT, VS_HNSW_EFC_DEFAULT, VS_HNSW_EFC_MIN, VS_HNSW_EFC_MAX,
     "HNSW candidate list size while building"},
    {"ivf-nlist", VS_SETTING_UINT, 0, 0, VS_IVF_NLIST_MAX,
     "IVF lists; 0 means about 4*sqrt(rows)"},
    {"pq-m", VS_SETTING_UINT, 0, 0, VS_PQ_M_MAX,
     "IVF_PQ sub-quantizers, a divisor of the dimension; 0 lets the build choose"},
    {"index-seed", VS_SETTING_UINT, 1, 1, UINT64_MAX,
     "seed of every random choice of an index build"},
    {"ivf-shared", VS_SETTING_UINT, 0, 0, 1,
     "1: new IVF_PQ segments share the collection's quantiser; 0: each trains its own"},
    {"segment-rows", VS_SETTING_UINT, VS_SEGMENT_ROWS_DEFAULT, VS_SEGMENT_ROWS_MIN, VS_ROWS_MAX,
     "target rows of a sealed segment (sealing splits, compaction merges)"},
    {"compact-deleted", VS_SETTING_UINT, VS_COMPACT_DELETED_DEFAULT, 1, 100,
     "percent of deleted rows that makes a sealed segment be rewritten"},
    {"split-rows", VS_SETTING_UINT, VS_SPLIT_ROWS_DEFAULT, VS_SPLIT_ROWS_MIN, VS_ROWS_MAX,
     "an automatic vec-shard split divides a shard holding more rows than this"},
    {"cold-apart", VS_SETTING_UINT, 0, 0, 1,
     "1: new indexed segments keep their vectors in a .vcold file of their own"},
};

const vs_setting_def *vs_settings_table(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

const vs_setting_def *vs_setting_find(const char *key)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

void vs_setting_format(const vs_setting_def *d, uint64_t value, char *buf, size_t n)
{
    if (d->type == VS_SETTING_INDEX)
        snprintf(buf, n, "%s", vs_index_type_name((int)value));
    else
        snprintf(buf, n, "%" PRIu64, value);
}

void vs_setting_range(const vs_setting_def *d, char *buf, size_t n)
{
    if (d->type == VS_SETTING_INDEX)
        snprintf(buf, n, "flat, hnsw, ivf_flat, ivf_pq, ivf_sq8 or auto");
    else
        snprintf(buf, n, "%" PRIu64 " to %" PRIu64, d->min, d->max);
}

int vs_setting_parse(const vs_setting_def *d, const char *text, uint64_t *value, vf_error *err)
{
    if (d->type == VS_SETTING_INDEX) {
        int t = vs_index_type_parse(text);
        if (t < 0)
            return vf_fail(err, VF_EARG, "setting '%s': unknown index type '%s'", d->key, text);
        *value = (uint64_t)t;
        return 0;
    }
    /* decimal digits only (SPEC.md 3: no sign, no blanks); overflow is out of range */
    uint64_t v = 0;
    int over = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned dgt = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            over = 1;
        v = v * 10 + dgt;
    }
    if (p == text || *p)
        return vf_fail(err, VF_EARG, "setting '%s': '%s' is not a number", d->key, text);
    if (over || v < d->min || v > d->max)
        return vf_fail(err, VF_EARG, "setting '%s': %s is out of range (%" PRIu64 " to %" PRIu64 ")", d->key, text,
                       d->min, d->max);
    *value = v;
    return 0;
}

int vs_setting_get(const vf_manifest *m, const char *key, uint64_t *value, vf_error *err)
{
    const vs_setting_def *d = vs_setting_find(key);
    if (!d)
        return vf_fail(err, VF_EARG, "setting '%s' is unknown", key);
    const char *text = vf_manifest_get(m, key);
    if (!text) {
        *value = d->def;
        return 0;
    }
    int rc = vs_setting_parse(d, text, value, err);
    if (rc) {
        /* the manifest is damaged, not the command line: say which one */
        char name[VF_NAME_MAX];
        snprintf(name, sizeof name, "manifest-%08" PRIu64, m->generation);
        rc = vf_fail_in(err, VF_ECORRUPT, name);
    }
    return rc;
}

/* [R-SETTINGS] a new collection's manifest holds every setting at its default */
int vs_settings_init(vf_manifest *m, vf_error *err)
{
    char buf[32];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof table / sizeof table[0]; i++) {
        vs_setting_format(&table[i], table[i].def, buf, sizeof buf);
        rc = vf_manifest_set(m, table[i].key, buf, err);
    }
    return rc;
}

/* ---- vec-seal --set ------------------------------------------------------ */

typedef struct set_arg {
    const char *const *kv;
    size_t n;
} set_arg;

/* Splits "KEY=VALUE" into key (bounded) and the value that follows. */
static const char *split_kv(const char *kv, char key[64])
{
    const char *eq = strchr(kv, '=');
    snprintf(key, 64, "%.*s", (int)(eq - kv), kv);
    return eq + 1;
}

static int apply_set(vf_manifest *next, void *arg, vf_error *err)
{
    const set_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        char key[64];
        const char *value = split_kv(a->kv[i], key);
        uint64_t v = 0;
        vs_setting_parse(vs_setting_find(key), value, &v, NULL); /* checked before the commit */
        /* pq-m must divide the dimension; only the manifest knows it */
        if (!strcmp(key, "pq-m") && v && next->dim % v)
            return vf_fail(err, VF_EARG, "setting 'pq-m': %" PRIu64 " does not divide the dimension %u", v,
                           next->dim);
        int rc = vf_manifest_set(next, key, value, err);
        if (rc)
            return rc;
    }
    return 0;
}

int vs_settings_set(const char *path, const char *const *kv, size_t n, uint64_t *generation, vf_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        if (!eq || eq == kv[i] || !eq[1])
            return vf_fail(err, VF_EARG, "setting '%s': expected KEY=VALUE", kv[i]);
        size_t kl = (size_t)(eq - kv[i]);
        char key[64];
        split_kv(kv[i], key);
        const vs_setting_def *d = kl < sizeof key ? vs_setting_find(key) : NULL;
        if (!d)
            return vf_fail(err, VF_EARG, "setting '%.*s' is unknown", (int)kl, kv[i]);
        uint64_t v;
        int rc = vs_setting_parse(d, eq + 1, &v, err);
        if (rc)
            return rc;
    }
    vf_coll *c;
    int rc = vf_coll_open(&c, path, err);
    if (rc)
        return rc;
    /* a --set to the values the settings already have commits nothing, so a Makefile rule
       on CURRENT stays up to date (a --set racing ours is ordered after it) */
    vf_manifest cur;
    rc = vf_coll_snapshot(c, &cur, err);
    if (rc) {
        vf_coll_close(c);
        return rc;
    }
    int same = 1;
    for (size_t i = 0; same && i < n; i++) {
        char key[64];
        const char *value = split_kv(kv[i], key);
        uint64_t want = 0, have = 0;
        vs_setting_parse(vs_setting_find(key), value, &want, NULL); /* checked above */
        same = vf_manifest_get(&cur, key) && vs_setting_get(&cur, key, &have, NULL) == 0 && have == want;
    }
    if (same) {
        if (generation)
            *generation = cur.generation;
        vf_manifest_release(&cur);
        vf_coll_close(c);
        return 0;
    }
    vf_manifest_release(&cur);
    set_arg a = {kv, n};
    vf_manifest done;
    rc = vf_coll_commit(c, apply_set, &a, &done, err);
    if (rc == 0) {
        if (generation)
            *generation = done.generation;
        vf_manifest_release(&done);
    }
    vf_coll_close(c);
    return rc;
}
