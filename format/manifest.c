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
    return "format 1, manifest 1.0";
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
    size_t n = strlen(s);
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
    sb_printf(&b, "vecseg-manifest %d %d\n", VF_MANIFEST_MAJOR, VF_MANIFEST_MINOR);
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
        sb_printf(&b, "sealed %s shard=%" PRIu32 " rows=%" PRIu64 " bytes=%" PRIu64 "%s%s\n", s->file, s->shard,
                  s->rows, s->bytes, s->node[0] ? " node=" : "", s->node);
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

typedef struct parser {
    const char *name;
    unsigned line;
    vf_error *err;
} parser;

static int bad(parser *p, const char *what)
{
    return vf_fail(p->err, VF_ECORRUPT, "'%s': line %u: %s", p->name, p->line, what);
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Splits a line (modified in place) into at most max space-separated tokens. */
static int split(char *line, char **tok, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
        tok[n++] = t;
    return n;
}

/* Finds key=value among tokens and parses the value as a u64. */
static int kv_u64(char **tok, int n, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (int i = 0; i < n; i++)
        if (strncmp(tok[i], key, kl) == 0 && tok[i][kl] == '=')
            return parse_u64(tok[i] + kl + 1, out);
    return -1;
}

/* The optional node=NAME field (placement); "" when absent. */
static int kv_node(char **tok, int n, char out[VF_NODE_MAX])
{
    out[0] = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(tok[i], "node=", 5) == 0) {
            if (!valid_token(tok[i] + 5, VF_NODE_MAX))
                return -1;
            strcpy(out, tok[i] + 5);
        }
    return 0;
}

static int file_token(const char *t, char out[VF_NAME_MAX])
{
    if (!valid_token(t, VF_NAME_MAX) || strchr(t, '/') || t[0] == '.')
        return -1;
    strcpy(out, t);
    return 0;
}

int vf_manifest_parse(vf_manifest *m, const char *text, size_t len, const char *name, vf_error *err)
{
    parser p = {name, 0, err};
    memset(m, 0, sizeof *m);
    /* [R-MANIFEST-CRC] the last line is "crc32 X" over every byte before it */
    if (len < 16 || text[len - 1] != '\n')
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated manifest", name);
    const char *last = text + len - 1;
    while (last > text && last[-1] != '\n')
        last--;
    uint32_t want;
    if (sscanf(last, "crc32 %8" SCNx32, &want) != 1 || (size_t)(text + len - last) != 15)
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated manifest (no crc32 line)", name);
    if (vf_crc32(0, text, (size_t)(last - text)) != want)
        return vf_fail(err, VF_ECORRUPT, "'%s': manifest checksum mismatch", name);

    char *copy = malloc((size_t)(last - text) + 1);
    if (!copy)
        return vf_fail(err, VF_ENOMEM, "manifest: out of memory");
    memcpy(copy, text, (size_t)(last - text));
    copy[last - text] = 0;

    int rc = 0, seen_header = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        p.line++;
        char *tok[16];
        int n = split(line, tok, 16);
        if (n == 0) {
            rc = bad(&p, "empty line");
            break;
        }
        uint64_t v = 0;
        if (!seen_header) {
            uint64_t major, minor;
            if (n != 3 || strcmp(tok[0], "vecseg-manifest") != 0 || parse_u64(tok[1], &major) ||
                parse_u64(tok[2], &minor)) {
                rc = bad(&p, "not a vecseg manifest");
                break;
            }
            if (major != VF_MANIFEST_MAJOR) {
                rc = vf_fail(err, VF_EVERSION, "'%s': manifest version %" PRIu64 " is not supported (this is %d)",
                             name, major, VF_MANIFEST_MAJOR);
                break;
            }
            m->minor = (uint32_t)minor;
            seen_header = 1;
            continue;
        }
        const char *kw = tok[0];
        if (strcmp(kw, "generation") == 0 && n == 2 && !parse_u64(tok[1], &v))
            m->generation = v;
        else if (strcmp(kw, "dim") == 0 && n == 2 && !parse_u64(tok[1], &v) && v > 0 && v <= 65536)
            m->dim = (uint32_t)v;
        else if (strcmp(kw, "metric") == 0 && n == 2 && vf_metric_parse(tok[1]))
            m->metric = vf_metric_parse(tok[1]);
        else if (strcmp(kw, "keys") == 0 && n == 2 && (!strcmp(tok[1], "yes") || !strcmp(tok[1], "no")))
            m->keys = strcmp(tok[1], "yes") == 0;
        else if (strcmp(kw, "next-id") == 0 && n == 2 && !parse_u64(tok[1], &v))
            m->next_id = v;
        else if (strcmp(kw, "next-lsn") == 0 && n == 2 && !parse_u64(tok[1], &v))
            m->next_lsn = v;
        else if (strcmp(kw, "next-ingest-file") == 0 && n == 2 && !parse_u64(tok[1], &v))
            m->next_ingest_file = v;
        else if (strcmp(kw, "next-maint-file") == 0 && n == 2 && !parse_u64(tok[1], &v))
            m->next_maint_file = v;
        else if (strcmp(kw, "setting") == 0 && n == 3) {
            vf_error e2;
            if (vf_manifest_set(m, tok[1], tok[2], &e2))
                rc = e2.code == VF_ENOMEM ? vf_fail(err, VF_ENOMEM, "%s", e2.msg) : bad(&p, "bad setting");
        } else if (strcmp(kw, "shard") == 0 && n >= 2) {
            vf_shard_ent s = {0};
            uint64_t id, depth = 0;
            s.has_key = kv_u64(tok, n, "key", &s.key) == 0;
            if (parse_u64(tok[1], &id) || id > UINT32_MAX ||
                (!s.has_key && (kv_u64(tok, n, "depth", &depth) || kv_u64(tok, n, "value", &s.value) || depth > 63 ||
                                (s.value >> depth) != 0)))
                rc = bad(&p, "bad shard line");
            else {
                s.id = (uint32_t)id;
                s.depth = (uint32_t)depth;
                rc = vf_manifest_add_shard(m, &s, err);
            }
        } else if (strcmp(kw, "node") == 0 && n == 2) {
            vf_error e2;
            if (vf_manifest_add_node(m, tok[1], &e2))
                rc = e2.code == VF_ENOMEM ? vf_fail(err, VF_ENOMEM, "%s", e2.msg) : bad(&p, "bad node line");
        } else if (strcmp(kw, "growing") == 0 && n >= 2) {
            vf_growing_ent g;
            memset(&g, 0, sizeof g);
            uint64_t shard;
            if (file_token(tok[1], g.file) || kv_u64(tok, n, "shard", &shard) || kv_u64(tok, n, "start", &g.start) ||
                kv_u64(tok, n, "length", &g.length) || kv_u64(tok, n, "rows", &g.rows) || kv_node(tok, n, g.node) ||
                shard > UINT32_MAX ||
                g.start > g.length || g.start < VF_LOG_HEADER_SIZE)
                rc = bad(&p, "bad growing line");
            else {
                g.shard = (uint32_t)shard;
                rc = vf_manifest_add_growing(m, &g, err);
            }
        } else if (strcmp(kw, "sealed") == 0 && n >= 2) {
            vf_sealed_ent s;
            memset(&s, 0, sizeof s);
            uint64_t shard;
            if (file_token(tok[1], s.file) || kv_u64(tok, n, "shard", &shard) || kv_u64(tok, n, "rows", &s.rows) ||
                kv_u64(tok, n, "bytes", &s.bytes) || kv_node(tok, n, s.node) || shard > UINT32_MAX)
                rc = bad(&p, "bad sealed line");
            else {
                s.shard = (uint32_t)shard;
                rc = vf_manifest_add_sealed(m, &s, err);
            }
        } else if (strcmp(kw, "tombstones") == 0 && n >= 2) {
            vf_tomb_ent t;
            memset(&t, 0, sizeof t);
            if (file_token(tok[1], t.file) || kv_u64(tok, n, "count", &t.count))
                rc = bad(&p, "bad tombstones line");
            else
                rc = vf_manifest_add_tomb(m, &t, err);
        } else if (!strcmp(kw, "generation") || !strcmp(kw, "dim") || !strcmp(kw, "metric") ||
                   !strcmp(kw, "keys") || !strncmp(kw, "next-", 5) || !strcmp(kw, "setting")) {
            rc = bad(&p, "bad value");
        }
        /* [R-MANIFEST-UNKNOWN] other keywords are ignored by readers */
    }
    free(copy);
    if (rc == 0 && (!seen_header || m->dim == 0 || m->metric == 0 || m->generation == 0 || m->nshards == 0))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': manifest lacks generation, dim, metric or shards", name);
    if (rc)
        vf_manifest_release(m);
    return rc;
}
