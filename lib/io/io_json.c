/*
 * io_json.c - JSON lines as a vector source, decoded by Jansson.
 *
 * One JSON value per line: an object {"id": N, "vector": [x, ...], "key": N} (other members
 * ignored) or a bare array, the vector alone.  Blank lines are skipped; "\r\n" endings and a
 * UTF-8 byte-order mark are accepted.  The first row fixes the shape: the vector's length is
 * the dimension (0 when it has no "vector": rows of ids alone, as vec-ingest --delete reads),
 * and whether rows carry "id" and "key".
 *
 * Invariants:
 *  - Every row has the members of the first and a vector of its length; each line is exactly
 *    one JSON value (Jansson's strict decoder: no NaN, no trailing bytes, no duplicate member).
 *  - Ids and keys are JSON integers in [0, 2^63) (Jansson's json_int_t), or decimal strings for
 *    the rest of the uint64 range; vector values are JSON numbers within float32's range
 *    (integers for vs_reader_read_i64).
 *  - Errors name the source, the 1-based row and the 1-based line.
 *  - Memory is one line and its decoded value at a time.
 */
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

/* Fails with "LABEL: row R (line L): MESSAGE". */
static int json_fail(vs_reader *r, vf_error *err, int code, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int json_fail(vs_reader *r, vf_error *err, int code, uint64_t line, const char *fmt, ...)
{
    char msg[VF_ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vs_reader_fail(r, err, code, "%s: row %llu (line %llu): %s", r->label,
                          (unsigned long long)(r->row + 1), (unsigned long long)line, msg);
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* One decoded line: its value (to json_decref), and the vector, id and key in it, or NULL. */
typedef struct row { json_t *root, *vec, *id, *key; } row;

static int row_load(vs_reader *r, const char *line, size_t len, uint64_t ln, row *w, vf_error *err)
{
    json_error_t je;
    memset(w, 0, sizeof *w);
    w->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!w->root)
        return json_fail(r, err, VF_EINPUT, ln, "not JSON: %s (column %d)", je.text, je.column);
    if (json_is_array(w->root)) {
        w->vec = w->root;
        return 0;
    }
    if (!json_is_object(w->root))
        return json_fail(r, err, VF_EINPUT, ln, "%s, expected an object or an array",
                         type_name(w->root));
    w->vec = json_object_get(w->root, "vector");
    w->id = json_object_get(w->root, "id");
    w->key = json_object_get(w->root, "key");
    if (w->vec && !json_is_array(w->vec))
        return json_fail(r, err, VF_EINPUT, ln, "\"vector\" is %s, not an array",
                         type_name(w->vec));
    return 0;
}

/* An "id" or "key" member as a uint64 (non-negative JSON integer). */
static int row_uint(vs_reader *r, const json_t *j, const char *what, uint64_t ln, uint64_t *out,
                    vf_error *err)
{
    /* a decimal string holds what json_int_t cannot: keys of 2^63 and above (vec-shard writes
       them so) */
    const char *t = json_is_string(j) ? json_string_value(j) : NULL;
    if (t && *t >= '0' && *t <= '9' && strspn(t, "0123456789") == strlen(t) && strlen(t) <= 20) {
        errno = 0;
        unsigned long long u = strtoull(t, NULL, 10);
        if (errno == 0) {
            *out = u;
            return 0;
        }
    }
    if (!json_is_integer(j) || json_integer_value(j) < 0) {
        char shown[48] = "";
        if (json_is_integer(j) || json_is_real(j))
            snprintf(shown, sizeof shown, " (%g)", json_number_value(j));
        return json_fail(r, err, VF_EINPUT, ln, "\"%s\" is %s%s, not a non-negative integer",
                         what, type_name(j), shown);
    }
    *out = (uint64_t)json_integer_value(j);
    return 0;
}

int vs_json_open(vs_reader *r, const vs_reader_opts *o, vf_error *err)
{
    if (vs_src_skip_bom(&r->src) < 0)
        return vs_line_fail(r, err);
    size_t len;
    char *line = vs_next_line(r, &len);
    if (!line) {
        if (r->src.err_no)
            return vs_line_fail(r, err);
        r->dim = o->dim;
        r->rows = 0;
        return 0;
    }
    row w;
    int rc = row_load(r, line, len, r->line, &w, err);
    if (rc == 0 && !w.vec && !w.id)
        rc = json_fail(r, err, VF_EINPUT, r->line, "no \"vector\" and no \"id\" member");
    size_t d = w.vec ? json_array_size(w.vec) : 0;
    if (rc == 0 && w.vec && d == 0)
        rc = json_fail(r, err, VF_EINPUT, r->line, "empty \"vector\"");
    if (rc == 0 && d > VS_READER_DIM_MAX)
        rc = json_fail(r, err, VF_EINPUT, r->line, "%zu values, above the limit %u", d,
                       VS_READER_DIM_MAX);
    if (rc == 0 && o->dim && w.vec && d != o->dim)
        rc = json_fail(r, err, VF_EDIM, r->line, "%zu values, expected dim %u", d, o->dim);
    r->json_ids = w.id != NULL;
    r->json_keys = w.key != NULL;
    json_decref(w.root);
    if (rc < 0)
        return rc;
    r->dim = (uint32_t)d;
    r->pending = line; /* decoded again when read: the buffer stays until the next src call */
    r->pending_len = len;
    r->pending_line = r->line;
    return 0;
}

/* Checks one decoded row against the first and stores its values. */
static int row_take(vs_reader *r, const row *w, uint64_t ln, float *v, int64_t *iv, uint64_t *id,
                    uint64_t *key, vf_error *err)
{
    if ((w->id != NULL) != r->json_ids)
        return json_fail(r, err, VF_EINPUT, ln, r->json_ids ? "no \"id\" (the first row has one)"
                                                            : "an \"id\", which the first row has not");
    if ((w->key != NULL) != r->json_keys)
        return json_fail(r, err, VF_EINPUT, ln, r->json_keys ? "no \"key\" (the first row has one)"
                                                             : "a \"key\", which the first row has not");
    if (r->dim == 0 && w->vec)
        return json_fail(r, err, VF_EINPUT, ln, "a \"vector\", which the first row has not");
    if (r->dim && !w->vec)
        return json_fail(r, err, VF_EINPUT, ln, "no \"vector\"");
    if (r->dim && json_array_size(w->vec) != r->dim)
        return json_fail(r, err, VF_EDIM, ln, "%zu values, expected %u", json_array_size(w->vec),
                         r->dim);
    int rc;
    if (w->id && id && (rc = row_uint(r, w->id, "id", ln, id, err)) < 0)
        return rc;
    if (w->key && key && (rc = row_uint(r, w->key, "key", ln, key, err)) < 0)
        return rc;
    for (uint32_t i = 0; i < r->dim; i++) {
        const json_t *x = json_array_get(w->vec, i);
        if (v) {
            if (!json_is_number(x))
                return json_fail(r, err, VF_EINPUT, ln, "value %u is %s, not a number", i + 1,
                                 type_name(x));
            double d = json_number_value(x);
            if (!(d >= -FLT_MAX && d <= FLT_MAX))
                return json_fail(r, err, VF_EVALUE, ln, "value %u (%g) is out of float32 range",
                                 i + 1, d);
            v[i] = (float)d;
        } else {
            if (!json_is_integer(x))
                return json_fail(r, err, VF_EINPUT, ln, "value %u is %s, not an integer", i + 1,
                                 json_is_real(x) ? "a real number" : type_name(x));
            iv[i] = json_integer_value(x);
        }
    }
    return 0;
}

long vs_json_read(vs_reader *r, float *vec, int64_t *ivec, uint64_t *ids, uint64_t *keys,
                  size_t max, vf_error *err)
{
    size_t got = 0;
    while (got < max) {
        char *line;
        size_t len;
        uint64_t ln;
        int more = vs_line_take(r, &line, &len, &ln, err);
        if (more < 0)
            return more;
        if (!more)
            break;
        row w;
        size_t off = got * r->dim;
        int rc = row_load(r, line, len, ln, &w, err);
        if (rc == 0)
            rc = row_take(r, &w, ln, vec ? vec + off : NULL, ivec ? ivec + off : NULL,
                          ids ? ids + got : NULL, keys ? keys + got : NULL, err);
        json_decref(w.root);
        if (rc < 0)
            return rc;
        r->row++;
        got++;
    }
    return (long)got;
}
