/*
 * io_text.c - text vector sources: csv (','), tsv (tab) and txt (runs of blanks).
 *
 * One row per line; blank lines are skipped, "\r\n" endings and a UTF-8 byte-order mark are
 * accepted.  The first non-blank line is a header, and skipped, when one of its vector fields
 * (any column but the id and key columns) is non-empty and not a number.  In csv and tsv, blanks
 * around a field and double quotes around a whole field are ignored.
 *
 * Invariants:
 *  - Every row has the column count of the first data row; the dimension is that count minus
 *    the id and key columns.
 *  - Id and key fields are non-negative decimal integers within uint64; vector fields are finite
 *    float32 values (or int64 values for vs_reader_read_i64).
 *  - Errors name the source, the 1-based data row, the 1-based line and, for a bad field, the
 *    1-based column.
 *  - Memory is one line at a time (the byte source's buffer).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

/* Fails with "LABEL: row R (line L), column C: MESSAGE" (no column part when col is 0). */
static int text_fail(vs_reader *r, vf_error *err, int code, uint64_t line, int col,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int text_fail(vs_reader *r, vf_error *err, int code, uint64_t line, int col,
                     const char *fmt, ...)
{
    char msg[VF_ERROR_MSG_MAX / 2], where[48] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col > 0)
        snprintf(where, sizeof where, ", column %d", col);
    return vs_reader_fail(r, err, code, "%s: row %llu (line %llu)%s: %s", r->label,
                          (unsigned long long)(r->row + 1), (unsigned long long)line, where, msg);
}

int vs_line_fail(vs_reader *r, vf_error *err)
{
    if (r->src.err_no == EOVERFLOW)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: line %llu: longer than %u MiB (not text?)",
                              r->label, (unsigned long long)(r->line + 1), 256u);
    if (r->src.err_no == ENOMEM)
        return vs_reader_fail(r, err, VF_ENOMEM, "%s: out of memory", r->label);
    return vs_reader_fail(r, err, VF_EIO, "%s: read failed: %s", r->label, strerror(r->src.err_no));
}

/* The next non-blank line, or NULL at the end of input or on an error (r->src.err_no set). */
char *vs_next_line(vs_reader *r, size_t *len)
{
    char *l;
    while ((l = vs_src_line(&r->src, len))) {
        r->line++;
        const char *p = l;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p)
            return l;
    }
    return NULL;
}

int vs_line_take(vs_reader *r, char **line, size_t *len, uint64_t *ln, vf_error *err)
{
    if (r->pending) {
        *line = r->pending;
        *len = r->pending_len;
        *ln = r->pending_line;
        r->pending = NULL;
        return 1;
    }
    *line = vs_next_line(r, len);
    *ln = r->line;
    if (*line)
        return 1;
    return r->src.err_no ? vs_line_fail(r, err) : 0;
}

/*
 * Takes the next field from *p into [*s, *e) (trimmed, unquoted); *p becomes NULL after the
 * last field.  Returns 0, or -1 when the line has no more fields.
 */
static int next_field(char sep, const char **p, const char **s, const char **e)
{
    const char *q = *p;
    if (!q)
        return -1;
    if (sep) {
        const char *end = strchr(q, sep);
        if (end) {
            *p = end + 1;
        } else {
            end = q + strlen(q);
            *p = NULL;
        }
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        while (end > q && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end - q >= 2 && *q == '"' && end[-1] == '"')
            q++, end--;
        *s = q;
        *e = end;
        return 0;
    }
    while (*q == ' ' || *q == '\t')
        q++;
    if (!*q) {
        *p = NULL;
        return -1;
    }
    *s = q;
    while (*q && *q != ' ' && *q != '\t')
        q++;
    *e = q;
    *p = q;
    return 0;
}

static int count_fields(char sep, const char *line)
{
    const char *p = line, *s, *e;
    int n = 0;
    while (next_field(sep, &p, &s, &e) == 0)
        n++;
    return n;
}

/* Parses a float32 filling [s, e): 0, -1 if not a number, -2 if beyond the float32 range. */
static int parse_f32(const char *s, const char *e, float *v)
{
    if (s == e)
        return -1;
    char *end;
    errno = 0;
    float x = strtof(s, &end);
    if (end != e)
        return -1;
    if (errno == ERANGE && isinf(x))
        return -2;
    *v = x;
    return 0;
}

/* Parses an integer filling [s, e): 0, -1 if not one, -2 if out of range.  unsig: uint64. */
static int parse_int(const char *s, const char *e, int unsig, int64_t *iv, uint64_t *uv)
{
    if (s == e || (unsig && (*s < '0' || *s > '9')))
        return -1;
    if (!unsig && !((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && e - s > 1)))
        return -1;
    char *end;
    errno = 0;
    if (unsig)
        *uv = strtoull(s, &end, 10);
    else
        *iv = strtoll(s, &end, 10);
    if (end != e)
        return -1;
    return errno == ERANGE ? -2 : 0;
}

/* A header has a non-empty vector field that is not a number (nan and inf are numbers here). */
static int is_header(const vs_reader *r, const char *line)
{
    const char *p = line, *s, *e;
    int col = 0;
    float v;
    while (next_field(r->sep, &p, &s, &e) == 0) {
        col++;
        if (col == r->id_col || col == r->key_col || s == e)
            continue;
        if (parse_f32(s, e, &v) == -1)
            return 1;
    }
    return 0;
}

int vs_text_open(vs_reader *r, const vs_reader_opts *o, vf_error *err)
{
    r->sep = r->fmt == VS_FMT_CSV ? ',' : r->fmt == VS_FMT_TSV ? '\t' : 0;
    r->id_col = o->id_col;
    r->key_col = o->key_col;
    int extra = (r->id_col > 0) + (r->key_col > 0);
    if (vs_src_skip_bom(&r->src) < 0)
        return vs_line_fail(r, err);

    size_t len;
    char *line = vs_next_line(r, &len);
    int nf = line ? count_fields(r->sep, line) : 0;
    /* never a header: a JSON value read as text (given --format csv, say) would be skipped as
       one and its fields taken for the dimension */
    const char *first = line ? line + strspn(line, " \t") : NULL;
    if (first && (*first == '{' || *first == '['))
        return vs_reader_fail(r, err, VF_EINPUT, "%s: line %llu is JSON, not %s (use --input-format jsonl)",
                              r->label, (unsigned long long)r->line, vs_format_name(r->fmt));
    if (line && is_header(r, line)) {
        line = vs_next_line(r, &len);
        if (line)
            nf = count_fields(r->sep, line);
    }
    if (!line) {
        if (r->src.err_no)
            return vs_line_fail(r, err);
        /* no data rows: the dimension comes from the options, else from a header */
        r->dim = o->dim ? o->dim : nf > extra ? (uint32_t)(nf - extra) : 0;
        r->ncols = (int)r->dim + extra;
        r->rows = 0;
        return 0;
    }
    if (r->id_col > nf || r->key_col > nf)
        return vs_reader_fail(r, err, VF_EARG, "%s: line %llu has %d columns, no column %d",
                              r->label, (unsigned long long)r->line, nf,
                              r->id_col > nf ? r->id_col : r->key_col);
    if (nf <= extra)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: line %llu: no vector columns", r->label,
                              (unsigned long long)r->line);
    if ((uint32_t)(nf - extra) > VS_READER_DIM_MAX)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: line %llu: %d columns, above the limit %u",
                              r->label, (unsigned long long)r->line, nf, VS_READER_DIM_MAX);
    r->ncols = nf;
    r->dim = (uint32_t)(nf - extra);
    if (o->dim && r->dim != o->dim)
        return text_fail(r, err, VF_EDIM, r->line, 0, "%u values, expected dim %u", r->dim,
                         o->dim);
    r->pending = line;
    r->pending_len = len;
    r->pending_line = r->line;
    return 0;
}

/* Parses one data line into the row's slots (v or iv, and *id / *key when not NULL). */
static int parse_row(vs_reader *r, const char *line, uint64_t ln, float *v, int64_t *iv,
                     uint64_t *id, uint64_t *key, vf_error *err)
{
    const char *p = line, *s, *e;
    int col = 0, rc;
    uint32_t k = 0;
    while (next_field(r->sep, &p, &s, &e) == 0) {
        if (++col > r->ncols)
            return text_fail(r, err, VF_EDIM, ln, 0, "%d columns, expected %d",
                             col + count_fields(r->sep, p), r->ncols);
        int w = (int)(e - s > 40 ? 40 : e - s); /* quote at most 40 bytes of a bad field */
        if (col == r->id_col || col == r->key_col) {
            const char *what = col == r->id_col ? "id" : "key";
            uint64_t u = 0;
            if ((rc = parse_int(s, e, 1, NULL, &u)) < 0)
                return text_fail(r, err, VF_EINPUT, ln, col,
                                 rc == -2 ? "%s '%.*s' is above the uint64 range"
                                          : "%s '%.*s' is not a non-negative integer",
                                 what, w, s);
            if (col == r->id_col && id)
                *id = u;
            if (col == r->key_col && key)
                *key = u;
            continue;
        }
        if (v) {
            if ((rc = parse_f32(s, e, &v[k])) < 0) {
                if (s == e)
                    return text_fail(r, err, VF_EINPUT, ln, col, "empty field");
                return text_fail(r, err, rc == -2 ? VF_EVALUE : VF_EINPUT, ln, col,
                                 rc == -2 ? "'%.*s' is out of float32 range"
                                          : "'%.*s' is not a number", w, s);
            }
            if (!isfinite(v[k]))
                return text_fail(r, err, VF_EVALUE, ln, col, "value is %s",
                                 isnan(v[k]) ? "NaN" : "infinite");
        } else if ((rc = parse_int(s, e, 0, &iv[k], NULL)) < 0) {
            if (s == e)
                return text_fail(r, err, VF_EINPUT, ln, col, "empty field");
            return text_fail(r, err, rc == -2 ? VF_EVALUE : VF_EINPUT, ln, col,
                             rc == -2 ? "'%.*s' is out of int64 range" : "'%.*s' is not an integer",
                             w, s);
        }
        k++;
    }
    if (col != r->ncols)
        return text_fail(r, err, VF_EDIM, ln, 0, "%d columns, expected %d", col, r->ncols);
    return 0;
}

long vs_text_read(vs_reader *r, float *vec, int64_t *ivec, uint64_t *ids, uint64_t *keys,
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
        size_t off = got * r->dim;
        int rc = parse_row(r, line, ln, vec ? vec + off : NULL, ivec ? ivec + off : NULL,
                           ids && r->id_col ? ids + got : NULL,
                           keys && r->key_col ? keys + got : NULL, err);
        if (rc < 0)
            return rc;
        r->row++;
        got++;
    }
    return (long)got;
}
