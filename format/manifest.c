/*
 * manifest.c - the manifest's text form (SPEC.md section 3): parse, format,
 * copy and edit.  A manifest is the whole state of a collection; this file
 * keeps the invariant that formatting then parsing gives back the same
 * struct, and that the text ends with a crc32 line over everything before it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "format_internal.h"

static const char *metric_names[] = {NULL, "l2", "ip", "cosine"};

const char *vf_metric_name(int metric)
{
    return metric >= 1 && metric <= 3 ? metric_names[metric] : "?";
}

int vf_metric_parse(const char *name)
{
    for (int i = 1; i <= 3; i++)
        if (strcmp(name, metric_names[i]) == 0)
            return i;
    return 0;
}

const char *vf_version_string(void)
{
    return VF_VERSION_STRING;
}

void vf_manifest_release(vf_manifest *m)
{
    if (!m)
        return;
    free(m->shards);
    free(m->growing);
    free(m->sealed);
    free(m->tombs);
    free(m->settings);
    free(m->nodes);
    m->nodes = NULL;
    m->nnodes = 0;
    m->shards = NULL;
    m->growing = NULL;
    m->sealed = NULL;
    m->tombs = NULL;
    m->settings = NULL;
    m->nshards = m->ngrowing = m->nsealed = m->ntombs = m->nsettings = 0;
}

/* Appends one element to a malloc'd array (grown by doubling at powers of two). */
static int push(void **arr, size_t *n, size_t size, const void *elem, vf_error *err)
{
    if ((*n & (*n - 1)) == 0) {
        size_t cap = *n ? *n * 2 : 4;
        void *na = realloc(*arr, cap * size);
        if (!na)
            return vf_fail(err, VF_ENOMEM, "manifest: out of memory");
        *arr = na;
    }
    memcpy((char *)*arr + *n * size, elem, size);
    (*n)++;
    return 0;
}

int vf_manifest_add_growing(vf_manifest *m, const vf_growing_ent *g, vf_error *err)
{
    return push((void **)&m->growing, &m->ngrowing, sizeof *g, g, err);
}
int vf_manifest_add_sealed(vf_manifest *m, const vf_sealed_ent *s, vf_error *err)
{
    return push((void **)&m->sealed, &m->nsealed, sizeof *s, s, err);
}
int vf_manifest_add_tomb(vf_manifest *m, const vf_tomb_ent *t, vf_error *err)
{
    return push((void **)&m->tombs, &m->ntombs, sizeof *t, t, err);
}
int vf_manifest_add_shard(vf_manifest *m, const vf_shard_ent *s, vf_error *err)
{
    return push((void **)&m->shards, &m->nshards, sizeof *s, s, err);
}

static int valid_token(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == 0 || n >= max)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s == 0x7f || *s == '=')
            return 0;
    return 1;
}

int vf_manifest_add_node(vf_manifest *m, const char *name, vf_error *err)
{
    char buf[VF_NODE_MAX];
    if (!valid_token(name, VF_NODE_MAX))
        return vf_fail(err, VF_EARG, "node name '%s': must be a short word without spaces or '='", name);
    for (size_t i = 0; i < m->nnodes; i++)
        if (!strcmp(m->nodes[i], name))
            return vf_fail(err, VF_EARG, "node '%s' is listed twice", name);
    memset(buf, 0, sizeof buf);
    strcpy(buf, name);
    return push((void **)&m->nodes, &m->nnodes, sizeof buf, buf, err);
}

/* [R-PLACE-SERVE] an absent or unlisted node means the first listed one */
const char *vf_manifest_serving_node(const vf_manifest *m, const char *node)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (!strcmp(m->nodes[i], node))
            return node;
    return m->nnodes ? m->nodes[0] : "";
}

const char *vf_manifest_get(const vf_manifest *m, const char *key)
{
    for (size_t i = 0; i < m->nsettings; i++)
        if (strcmp(m->settings[i].key, key) == 0)
            return m->settings[i].value;
    return NULL;
}


int vf_manifest_set(vf_manifest *m, const char *key, const char *value, vf_error *err)
{
    if (!valid_token(key, sizeof m->settings[0].key) || !valid_token(value, sizeof m->settings[0].value))
        return vf_fail(err, VF_EARG, "setting '%s': key and value must be short words without spaces or '='",
                       key);
    for (size_t i = 0; i < m->nsettings; i++)
        if (strcmp(m->settings[i].key, key) == 0) {
            strcpy(m->settings[i].value, value);
            return 0;
        }
    vf_setting s;
    memset(&s, 0, sizeof s);
    strcpy(s.key, key);
    strcpy(s.value, value);
    return push((void **)&m->settings, &m->nsettings, sizeof s, &s, err);
}

vf_growing_ent *vf_manifest_find_growing(vf_manifest *m, const char *file)
{
    for (size_t i = 0; i < m->ngrowing; i++)
        if (strcmp(m->growing[i].file, file) == 0)
            return &m->growing[i];
    return NULL;
}

static void *dup_array(const void *src, size_t n, size_t size, int *fail)
{
    if (n == 0)
        return NULL;
    /* capacity rounded to the power of two push() expects */
    size_t cap = 4;
    while (cap < n)
        cap *= 2;
    void *d = malloc(cap * size);
    if (!d) {
        *fail = 1;
        return NULL;
    }
    memcpy(d, src, n * size);
    return d;
}

int vf_manifest_copy(vf_manifest *dst, const vf_manifest *src, vf_error *err)
{
    int fail = 0;
    *dst = *src;
    dst->shards = dup_array(src->shards, src->nshards, sizeof *src->shards, &fail);
    dst->growing = dup_array(src->growing, src->ngrowing, sizeof *src->growing, &fail);
    dst->sealed = dup_array(src->sealed, src->nsealed, sizeof *src->sealed, &fail);
    dst->tombs = dup_array(src->tombs, src->ntombs, sizeof *src->tombs, &fail);
    dst->settings = dup_array(src->settings, src->nsettings, sizeof *src->settings, &fail);
    dst->nodes = dup_array(src->nodes, src->nnodes, sizeof *src->nodes, &fail);
    if (fail) {
        vf_manifest_release(dst);
        return vf_fail(err, VF_ENOMEM, "manifest: out of memory");
    }
    return 0;
}

/* ---- formatting -------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int need = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (need < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->n + (size_t)need < b->cap) {
            b->n += (size_t)need;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + (size_t)need + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* [R-MANIFEST-ORDER] lines are written in this fixed order. */
int vf_manifest_format(const vf_manifest *m, char **text, size_t *len, vf_error *err)
{
    sbuf b = {0};
    /* major 2 exactly when a cold file is named: a version-1 writer would
       take it for an unnamed file and remove it (SPEC.md 5.6.1) */
    int major = 1;
    for (size_t i = 0; i < m->nsealed; i++)
        if (m->sealed[i].cold_bytes)
            major = 2;
    sb_printf(&b, "vecseg-manifest %d %d\n", major, VF_MANIFEST_MINOR);
    sb_printf(&b, "generation %" PRIu64 "\n", m->generation);
    sb_printf(&b, "dim %" PRIu32 "\n", m->dim);
    sb_printf(&b, "metric %s\n", vf_metric_name(m->metric));
    sb_printf(&b, "keys %s\n", m->keys ? "yes" : "no");
    sb_printf(&b, "next-id %" PRIu64 "\n", m->next_id);
    sb_printf(&b, "next-lsn %" PRIu64 "\n", m->next_lsn);
    sb_printf(&b, "next-ingest-file %" PRIu64 "\n", m->next_ingest_file);
    sb_printf(&b, "next-maint-file %" PRIu64 "\n", m->next_maint_file);
    for (size_t i = 0; i < m->nsettings; i++)
        sb_printf(&b, "setting %s %s\n", m->settings[i].key, m->settings[i].value);
    for (size_t i = 0; i < m->nshards; i++)
        if (m->shards[i].has_key)
            sb_printf(&b, "shard %" PRIu32 " key=%" PRIu64 "\n", m->shards[i].id, m->shards[i].key);
        else
            sb_printf(&b, "shard %" PRIu32 " depth=%" PRIu32 " value=%" PRIu64 "\n", m->shards[i].id,
                      m->shards[i].depth, m->shards[i].value);
    for (size_t i = 0; i < m->nnodes; i++)
        sb_printf(&b, "node %s\n", m->nodes[i]);
    for (size_t i = 0; i < m->ngrowing; i++) {
        const vf_growing_ent *g = &m->growing[i];
        sb_printf(&b, "growing %s shard=%" PRIu32 " start=%" PRIu64 " length=%" PRIu64 " rows=%" PRIu64 "%s%s\n",
                  g->file, g->shard, g->start, g->length, g->rows, g->node[0] ? " node=" : "", g->node);
    }
    for (size_t i = 0; i < m->nsealed; i++) {
        const vf_sealed_ent *s = &m->sealed[i];
        char cold[40] = "";
        if (s->cold_bytes)
            snprintf(cold, sizeof cold, " cold-bytes=%" PRIu64, s->cold_bytes);
        sb_printf(&b, "sealed %s shard=%" PRIu32 " rows=%" PRIu64 " bytes=%" PRIu64 "%s%s%s\n", s->file, s->shard,
                  s->rows, s->bytes, cold, s->node[0] ? " node=" : "", s->node);
    }
    for (size_t i = 0; i < m->ntombs; i++)
        sb_printf(&b, "tombstones %s count=%" PRIu64 "\n", m->tombs[i].file, m->tombs[i].count);
    if (!b.oom) {
        uint32_t crc = vf_crc32(0, b.p, b.n);
        sb_printf(&b, "crc32 %08" PRIx32 "\n", crc);
    }
    if (b.oom) {
        free(b.p);
        return vf_fail(err, VF_ENOMEM, "manifest: out of memory");
    }
    *text = b.p;
    *len = b.n;
    return 0;
}

/* ---- parsing ----------------------------------------------------------- */

/* [R-MANIFEST-STRICT] the text is read exactly as vf_manifest_format writes
   it: every known line has one spelling, every number one form, every fact
   one line.  Anything else is damage, never a guess. */

#define MAX_FIELDS 32

typedef struct parser {
    const char *name;
    unsigned line;
    vf_error *err;
} parser;

static int bad(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(parser *p, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->line)
        return vf_fail(p->err, VF_ECORRUPT, "'%s': line %u: %s", p->name, p->line, what);
    return vf_fail(p->err, VF_ECORRUPT, "'%s': %s", p->name, what);
}

/* Splits a line (modified in place) at single spaces: -1 when a field is
   empty (a leading, trailing or double space) or there are too many. */
static int split(char *line, char **tok)
{
    int n = 0;
    for (char *t = line;; t++) {
        char *sp = strchr(t, ' ');
        if (n == MAX_FIELDS || (sp ? sp == t : *t == 0))
            return -1;
        tok[n++] = t;
        if (!sp)
            return n;
        *sp = 0;
        t = sp;
    }
}

/* The key=value fields after the first `fixed` fields: each must have the
   form key=value with a non-empty key; kv() finds one (NULL when absent, and
   *dup set when the key appears twice). */
static int kv_form(char **tok, int n, int fixed)
{
    for (int i = fixed; i < n; i++) {
        const char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i])
            return -1;
    }
    return 0;
}

static const char *kv(char **tok, int n, int fixed, const char *key, int *dup)
{
    size_t kl = strlen(key);
    const char *v = NULL;
    for (int i = fixed; i < n; i++)
        if (strncmp(tok[i], key, kl) == 0 && tok[i][kl] == '=') {
            if (v)
                *dup = 1;
            v = tok[i] + kl + 1;
        }
    return v;
}

/* A required numeric key=value field. */
static int kv_u64(char **tok, int n, int fixed, const char *key, uint64_t *out, int *dup)
{
    const char *v = kv(tok, n, fixed, key, dup);
    return v ? vf_parse_u64(v, out) : -1;
}

/* The optional node=NAME field (placement); "" when absent. */
static int kv_node(char **tok, int n, int fixed, char out[VF_NODE_MAX], int *dup)
{
    const char *v = kv(tok, n, fixed, "node", dup);
    out[0] = 0;
    if (!v)
        return 0;
    if (!valid_token(v, VF_NODE_MAX))
        return -1;
    strcpy(out, v);
    return 0;
}

/* [R-NAMES] a file a manifest names is exactly vf_file_name(kind, n) (that n
   is below its counter is checked once every line is read). */
static int file_field(const char *t, char kind, char out[VF_NAME_MAX])
{
    uint64_t num;
    if (strlen(t) >= VF_NAME_MAX || vf_file_number(t, kind, &num) != 0)
        return -1;
    strcpy(out, t);
    return 0;
}

static int hex8(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        int c = s[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* The singleton lines: each must appear exactly once. */
static const char *const single[] = {"generation", "dim", "metric", "keys", "next-id", "next-lsn",
                                     "next-ingest-file", "next-maint-file"};
#define NSINGLE (sizeof single / sizeof single[0])

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The hash shards as intervals of the bit-reversed hash: shard (D, V) owns
   the hashes whose low D bits are V, i.e. [rev(V), rev(V) + 2^(64-D)). */
typedef struct span {
    uint64_t start;
    uint32_t depth, id;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : (x->depth > y->depth) - (x->depth < y->depth);
}

static uint64_t reverse_bits(uint64_t v, uint32_t depth)
{
    uint64_t r = 0;
    for (uint32_t i = 0; i < depth; i++)
        r |= ((v >> i) & 1) << (63 - i);
    return r;
}

/* The checks that span lines: unique shard ids and keys, hash shards that
   cover every hash exactly once [R-ROUTE-COVER], segments of listed shards,
   files named once.  O(n log n) in the number of lines. */
static int check_whole(parser *p, const vf_manifest *m)
{
    int rc = 0, cold = 0;
    size_t nf = m->ngrowing + m->nsealed + m->ntombs;
    uint32_t *ids = malloc((m->nshards + 1) * sizeof *ids);
    uint64_t *keys = malloc((m->nshards + 1) * sizeof *keys);
    span *sp = malloc((m->nshards + 1) * sizeof *sp);
    const char **files = malloc((nf + 1) * sizeof *files);
    if (!ids || !keys || !sp || !files) {
        rc = vf_fail(p->err, VF_ENOMEM, "manifest: out of memory");
        goto out;
    }
    size_t nk = 0, nh = 0;
    for (size_t i = 0; i < m->nshards; i++) {
        ids[i] = m->shards[i].id;
        if (m->shards[i].has_key)
            keys[nk++] = m->shards[i].key;
        else
            sp[nh++] = (span){reverse_bits(m->shards[i].value, m->shards[i].depth), m->shards[i].depth,
                              m->shards[i].id};
    }
    qsort(ids, m->nshards, sizeof *ids, cmp_u32);
    for (size_t i = 1; rc == 0 && i < m->nshards; i++)
        if (ids[i] == ids[i - 1])
            rc = bad(p, "shard %" PRIu32 " is listed twice", ids[i]);
    qsort(keys, nk, sizeof *keys, cmp_u64);
    for (size_t i = 1; rc == 0 && i < nk; i++)
        if (keys[i] == keys[i - 1])
            rc = bad(p, "partition key %" PRIu64 " is isolated twice", keys[i]);
    /* sorted by start, the spans must tile [0, 2^64): each starts where the
       previous one ended, and the last ends at 2^64 */
    qsort(sp, nh, sizeof *sp, cmp_span);
    uint64_t next = 0;
    int full = 0;
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        if (full || sp[i].start < next)
            rc = bad(p, "shards %" PRIu32 " and %" PRIu32 " overlap", sp[i - 1].id, sp[i].id);
        else if (sp[i].start > next)
            rc = bad(p, "the shards leave some hashes to no shard");
        uint64_t size = sp[i].depth ? (uint64_t)1 << (64 - sp[i].depth) : 0; /* 0: all 2^64 */
        next = sp[i].start + size;
        full = next == 0;
    }
    if (rc == 0 && !full)
        rc = bad(p, "the shards leave some hashes to no shard");
    for (size_t i = 0; rc == 0 && i < m->ngrowing; i++)
        if (!bsearch(&m->growing[i].shard, ids, m->nshards, sizeof *ids, cmp_u32))
            rc = bad(p, "'%s' belongs to shard %" PRIu32 ", which is not listed", m->growing[i].file,
                     m->growing[i].shard);
    for (size_t i = 0; rc == 0 && i < m->nsealed; i++)
        if (!bsearch(&m->sealed[i].shard, ids, m->nshards, sizeof *ids, cmp_u32))
            rc = bad(p, "'%s' belongs to shard %" PRIu32 ", which is not listed", m->sealed[i].file,
                     m->sealed[i].shard);
    /* [R-NAMES] file numbers below the counters that numbered them; rows
       that fit their bytes (a log row takes at least 8 + 4*dim bytes, a
       sealed one 16 + 4*dim: VECTORS, IDS, LSNS) */
    uint64_t num;
    for (size_t i = 0; rc == 0 && i < m->ngrowing; i++) {
        const vf_growing_ent *g = &m->growing[i];
        if (vf_file_number(g->file, 'g', &num) || num >= m->next_ingest_file)
            rc = bad(p, "'%s' is not below next-ingest-file", g->file);
        else if (g->rows > (g->length - g->start) / (8 + 4 * (uint64_t)m->dim))
            rc = bad(p, "'%s': %" PRIu64 " rows cannot fit in %" PRIu64 " bytes", g->file, g->rows,
                     g->length - g->start);
    }
    for (size_t i = 0; rc == 0 && i < m->nsealed; i++) {
        const vf_sealed_ent *s = &m->sealed[i];
        if (vf_file_number(s->file, 's', &num) || num >= m->next_maint_file)
            rc = bad(p, "'%s' is not below next-maint-file", s->file);
        else if (s->cold_bytes ? s->rows > s->bytes / 16 || s->rows > s->cold_bytes / (4 * (uint64_t)m->dim)
                               : s->rows > s->bytes / (16 + 4 * (uint64_t)m->dim))
            rc = bad(p, "'%s': %" PRIu64 " rows cannot fit in %" PRIu64 " bytes", s->file, s->rows, s->bytes);
        if (s->cold_bytes)
            cold = 1;
    }
    if (rc == 0 && m->major == 2 && !cold)
        rc = bad(p, "manifest version 2 names no cold file (version 1 says that)");
    for (size_t i = 0; rc == 0 && i < m->ntombs; i++)
        if (vf_file_number(m->tombs[i].file, 't', &num) || num >= m->next_ingest_file)
            rc = bad(p, "'%s' is not below next-ingest-file", m->tombs[i].file);
    nf = 0;
    for (size_t i = 0; i < m->ngrowing; i++)
        files[nf++] = m->growing[i].file;
    for (size_t i = 0; i < m->nsealed; i++)
        files[nf++] = m->sealed[i].file;
    for (size_t i = 0; i < m->ntombs; i++)
        files[nf++] = m->tombs[i].file;
    qsort(files, nf, sizeof *files, cmp_str);
    for (size_t i = 1; rc == 0 && i < nf; i++)
        if (strcmp(files[i], files[i - 1]) == 0)
            rc = bad(p, "'%s' is named twice", files[i]);
out:
    free(ids);
    free(keys);
    free(sp);
    free(files);
    return rc;
}

/* One line after the first; seen[] counts the singleton lines. */
static int parse_line(parser *p, vf_manifest *m, char *line, unsigned seen[NSINGLE])
{
    char *tok[MAX_FIELDS];
    const char *kw = line;
    char *sp = strchr(line, ' ');
    size_t kwlen = sp ? (size_t)(sp - line) : strlen(line);
    if (kwlen == 0)
        return bad(p, *line ? "line starts with a space" : "empty line");
    for (size_t i = 0; i < NSINGLE; i++)
        if (strlen(single[i]) == kwlen && strncmp(kw, single[i], kwlen) == 0 && seen[i]++)
            return bad(p, "second '%s' line", single[i]);
    static const char *const known[] = {"generation", "dim", "metric", "keys", "next-id", "next-lsn",
                                        "next-ingest-file", "next-maint-file", "setting", "shard", "node",
                                        "growing", "sealed", "tombstones"};
    int is_known = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        is_known |= strlen(known[i]) == kwlen && strncmp(kw, known[i], kwlen) == 0;
    if (!is_known)
        return 0; /* [R-MANIFEST-UNKNOWN] other keywords are ignored by readers */
    int n = split(line, tok), dup = 0;
    if (n < 0)
        return bad(p, "'%s' line is not single-space separated fields", kw);
    kw = tok[0];
    uint64_t v = 0;
    if (!strcmp(kw, "generation")) {
        if (n != 2 || vf_parse_u64(tok[1], &v) || v == 0)
            return bad(p, "bad generation");
        m->generation = v;
    } else if (!strcmp(kw, "dim")) {
        if (n != 2 || vf_parse_u64(tok[1], &v) || v == 0 || v > VF_DIM_MAX)
            return bad(p, "bad dim (1 to %d)", VF_DIM_MAX);
        m->dim = (uint32_t)v;
    } else if (!strcmp(kw, "metric")) {
        if (n != 2 || !vf_metric_parse(tok[1]))
            return bad(p, "bad metric");
        m->metric = vf_metric_parse(tok[1]);
    } else if (!strcmp(kw, "keys")) {
        if (n != 2 || (strcmp(tok[1], "yes") && strcmp(tok[1], "no")))
            return bad(p, "bad keys (yes or no)");
        m->keys = strcmp(tok[1], "yes") == 0;
    } else if (!strcmp(kw, "next-id")) {
        /* ids are 0 .. 2^63-1 and all below next-id */
        if (n != 2 || vf_parse_u64(tok[1], &v) || v > VF_ID_MAX + 1)
            return bad(p, "bad next-id (0 to 2^63)");
        m->next_id = v;
    } else if (!strncmp(kw, "next-", 5)) {
        if (n != 2 || vf_parse_u64(tok[1], &v) || v == 0)
            return bad(p, "bad %s (at least 1)", kw);
        *(!strcmp(kw, "next-lsn") ? &m->next_lsn : !strcmp(kw, "next-ingest-file") ? &m->next_ingest_file
                                                                                    : &m->next_maint_file) = v;
    } else if (!strcmp(kw, "setting")) {
        vf_error e2;
        if (n != 3)
            return bad(p, "bad setting");
        if (vf_manifest_get(m, tok[1]))
            return bad(p, "second setting '%s'", tok[1]);
        if (vf_manifest_set(m, tok[1], tok[2], &e2))
            return e2.code == VF_ENOMEM ? vf_fail(p->err, VF_ENOMEM, "%s", e2.msg) : bad(p, "bad setting");
    } else if (!strcmp(kw, "node")) {
        vf_error e2;
        for (size_t i = 0; n == 2 && i < m->nnodes; i++)
            if (strcmp(m->nodes[i], tok[1]) == 0)
                return bad(p, "second node '%s'", tok[1]);
        if (n != 2 || vf_manifest_add_node(m, tok[1], &e2))
            return n == 2 && e2.code == VF_ENOMEM ? vf_fail(p->err, VF_ENOMEM, "%s", e2.msg) : bad(p, "bad node line");
    } else if (!strcmp(kw, "shard")) {
        vf_shard_ent s = {0};
        uint64_t id, depth = 0;
        const char *key = n >= 2 ? kv(tok, n, 2, "key", &dup) : NULL;
        s.has_key = key != NULL;
        if (n < 2 || kv_form(tok, n, 2) || vf_parse_u64(tok[1], &id) || id > UINT32_MAX ||
            (s.has_key ? vf_parse_u64(key, &s.key)
                       : kv_u64(tok, n, 2, "depth", &depth, &dup) || kv_u64(tok, n, 2, "value", &s.value, &dup) ||
                             depth > 63 || (s.value >> depth) != 0) ||
            dup)
            return bad(p, "bad shard line");
        s.id = (uint32_t)id;
        s.depth = (uint32_t)depth;
        return vf_manifest_add_shard(m, &s, p->err);
    } else if (!strcmp(kw, "growing")) {
        vf_growing_ent g;
        memset(&g, 0, sizeof g);
        uint64_t shard;
        if (n < 2 || kv_form(tok, n, 2) || file_field(tok[1], 'g', g.file) ||
            kv_u64(tok, n, 2, "shard", &shard, &dup) || kv_u64(tok, n, 2, "start", &g.start, &dup) ||
            kv_u64(tok, n, 2, "length", &g.length, &dup) || kv_u64(tok, n, 2, "rows", &g.rows, &dup) ||
            kv_node(tok, n, 2, g.node, &dup) || dup || shard > UINT32_MAX)
            return bad(p, "bad growing line");
        /* [R-LOG-COMMITTED] 32 <= start <= length < 2^63 */
        if (g.start < VF_LOG_HEADER_SIZE || g.start > g.length || g.length > (uint64_t)INT64_MAX)
            return bad(p, "'%s': bad start or length", g.file);
        g.shard = (uint32_t)shard;
        return vf_manifest_add_growing(m, &g, p->err);
    } else if (!strcmp(kw, "sealed")) {
        vf_sealed_ent s;
        memset(&s, 0, sizeof s);
        uint64_t shard;
        if (n < 2 || kv_form(tok, n, 2) || file_field(tok[1], 's', s.file) ||
            kv_u64(tok, n, 2, "shard", &shard, &dup) || kv_u64(tok, n, 2, "rows", &s.rows, &dup) ||
            kv_u64(tok, n, 2, "bytes", &s.bytes, &dup) || kv_node(tok, n, 2, s.node, &dup) || dup ||
            shard > UINT32_MAX)
            return bad(p, "bad sealed line");
        if (s.bytes > (uint64_t)INT64_MAX)
            return bad(p, "'%s': bad bytes", s.file);
        /* the size of its .vcold file (SPEC.md 5.6.1): only in a manifest of major 2 */
        if (kv(tok, n, 2, "cold-bytes", &dup) &&
            (kv_u64(tok, n, 2, "cold-bytes", &s.cold_bytes, &dup) || dup || s.cold_bytes == 0 ||
             s.cold_bytes > (uint64_t)INT64_MAX))
            return bad(p, "'%s': bad cold-bytes", s.file);
        if (s.cold_bytes && m->major < 2)
            return bad(p, "'%s': cold-bytes in a manifest of major version 1", s.file);
        s.shard = (uint32_t)shard;
        return vf_manifest_add_sealed(m, &s, p->err);
    } else if (!strcmp(kw, "tombstones")) {
        vf_tomb_ent t;
        memset(&t, 0, sizeof t);
        if (n < 2 || kv_form(tok, n, 2) || file_field(tok[1], 't', t.file) ||
            kv_u64(tok, n, 2, "count", &t.count, &dup) || dup)
            return bad(p, "bad tombstones line");
        return vf_manifest_add_tomb(m, &t, p->err);
    }
    return 0;
}

int vf_manifest_parse(vf_manifest *m, const char *text, size_t len, const char *name, vf_error *err)
{
    parser p = {name, 0, err};
    memset(m, 0, sizeof *m);
    /* [R-MANIFEST-CRC] the last line is "crc32 X" over every byte before it;
       nothing here reads past text + len (no NUL terminator is assumed) */
    if (len < 16 || text[len - 1] != '\n')
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated manifest", name);
    if (len > VF_MANIFEST_MAX)
        return vf_fail(err, VF_ECORRUPT, "'%s': manifest larger than %zu bytes", name, VF_MANIFEST_MAX);
    const char *last = text + len - 15;
    uint32_t want;
    if (last[-1] != '\n' || memcmp(last, "crc32 ", 6) != 0 || hex8(last + 6, &want) != 0)
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated manifest (no crc32 line)", name);
    if (vf_crc32(0, text, (size_t)(last - text)) != want)
        return vf_fail(err, VF_ECORRUPT, "'%s': manifest checksum mismatch", name);
    /* a NUL would end the text for every C string function below */
    const char *nul = memchr(text, 0, len);
    if (nul) {
        unsigned line = 1;
        for (const char *q = text; q < nul; q++)
            line += *q == '\n';
        return vf_fail(err, VF_ECORRUPT, "'%s': line %u: NUL byte in manifest", name, line);
    }

    char *copy = malloc((size_t)(last - text) + 1);
    if (!copy)
        return vf_fail(err, VF_ENOMEM, "manifest: out of memory");
    memcpy(copy, text, (size_t)(last - text));
    copy[last - text] = 0;

    int rc = 0;
    unsigned seen[NSINGLE] = {0};
    char *line = copy, *end = copy + (last - text);
    while (rc == 0 && line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line)); /* end[-1] is '\n' */
        *nl = 0;
        p.line++;
        if (p.line == 1) {
            char *tok[MAX_FIELDS];
            uint64_t major, minor;
            int n = split(line, tok);
            if (n != 3 || strcmp(tok[0], "vecseg-manifest") != 0 || vf_parse_u64(tok[1], &major) ||
                vf_parse_u64(tok[2], &minor))
                rc = bad(&p, "not a vecseg manifest");
            else if (major < 1 || major > VF_MANIFEST_MAJOR)
                rc = vf_fail(err, VF_EVERSION, "'%s': manifest version %" PRIu64 " is not supported (this is %d)",
                             name, major, VF_MANIFEST_MAJOR);
            else if (minor > UINT32_MAX)
                rc = bad(&p, "minor version out of range (0 to 2^32-1)");
            else {
                m->major = (uint32_t)major;
                m->minor = (uint32_t)minor;
            }
        } else {
            rc = parse_line(&p, m, line, seen);
        }
        line = nl + 1;
    }
    free(copy);
    p.line = 0;
    for (size_t i = 0; rc == 0 && i < NSINGLE; i++)
        if (!seen[i])
            rc = bad(&p, "manifest has no '%s' line", single[i]);
    if (rc == 0 && m->nshards == 0)
        rc = bad(&p, "manifest has no shard");
    if (rc == 0)
        rc = check_whole(&p, m);
    if (rc)
        vf_manifest_release(m);
    return rc;
}
