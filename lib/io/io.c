/*
 * io.c - opening foreign vector sources, and the binary formats fvecs, bvecs, ivecs, npy and raw.
 *
 * Owns the reader handle (struct vs_reader in io_internal.h), the choice of format (extension,
 * or sniffing stdin), the buffered byte source under every format but HDF5, and the conversion
 * of binary elements to float32 or int64 with their checks.  Text lives in io_text.c, HDF5 in
 * io_hdf5.c.
 *
 * Invariants:
 *  - Memory stays bounded whatever the input size: the byte source holds one 1 MiB buffer (grown
 *    only to hold one text line or one npy header), staging buffers hold at most SCRATCH_MAX
 *    bytes, and large aligned reads go straight into the caller's array.
 *  - No value reaches the caller unchecked: float results are finite, every fvecs/bvecs/ivecs
 *    row has the dimension of the first, a source ends on a row boundary (and npy/HDF5 hold the
 *    rows their header promises).
 *  - After the first error a reader only repeats it (r->failed), so a caller cannot skip a bad
 *    row by reading on.
 *  - Binary data is little-endian; the build refuses big-endian hosts rather than misread.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io.c reads little-endian files in place: port the element loads before building here"
#endif

#define SRC_BUF (1u << 20)
#define SNIFF_MAX (64u << 10)     /* bytes of stdin looked at to guess its format */
#define LINE_MAX_BYTES (256u << 20) /* a longer text line is taken as a damaged file */
#define NPY_HEADER_MAX (1u << 20)

/* ---- formats ------------------------------------------------------------------------------- */

static const char *const fmt_names[] = {"auto", "fvecs", "bvecs", "ivecs", "npy", "hdf5",
                                        "csv",  "tsv",   "raw",   "txt",   "jsonl"};

int vs_format_parse(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (strcmp(name, fmt_names[i]) == 0)
            return (int)i;
    if (strcmp(name, "h5") == 0)
        return VS_FMT_HDF5;
    if (strcmp(name, "f32") == 0)
        return VS_FMT_RAW;
    if (strcmp(name, "ndjson") == 0)
        return VS_FMT_JSONL;
    return -1;
}

const char *vs_format_name(vs_format f)
{
    if ((unsigned)f < sizeof fmt_names / sizeof fmt_names[0])
        return fmt_names[f];
    return "unknown";
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

/* The format named by the extension of the first n bytes of path, or VS_FMT_AUTO if none. */
static vs_format format_from_ext(const char *path, size_t n)
{
    static const struct { const char *ext; vs_format f; } map[] = {
        {".fvecs", VS_FMT_FVECS}, {".bvecs", VS_FMT_BVECS}, {".ivecs", VS_FMT_IVECS},
        {".npy", VS_FMT_NPY},     {".h5", VS_FMT_HDF5},     {".hdf5", VS_FMT_HDF5},
        {".csv", VS_FMT_CSV},     {".tsv", VS_FMT_TSV},     {".txt", VS_FMT_TXT},
        {".f32", VS_FMT_RAW},     {".raw", VS_FMT_RAW},     {".jsonl", VS_FMT_JSONL},
        {".ndjson", VS_FMT_JSONL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (ends_with(path, n, map[i].ext))
            return map[i].f;
    return VS_FMT_AUTO;
}

/*
 * Splits "FILE.h5:/dataset" (or .hdf5) into file length and dataset; *dset is NULL when the
 * spec has no dataset part.  With force (--format hdf5) any "PATH:/dataset" splits.
 */
static size_t split_h5(const char *spec, int force, const char **dset)
{
    size_t n = strlen(spec);
    *dset = NULL;
    for (size_t i = n; i-- > 0;) {
        if (spec[i] != ':')
            continue;
        if (ends_with(spec, i, ".h5") || ends_with(spec, i, ".hdf5") ||
            (force && spec[i + 1] == '/')) {
            *dset = spec + i + 1;
            return i;
        }
    }
    return n;
}

/* ---- byte source --------------------------------------------------------------------------- */

int vs_src_fill(byte_src *s, size_t need)
{
    if (s->len - s->pos >= need)
        return 0;
    if (s->pos > 0 && s->pos + need + 1 > s->cap) { /* slide the unread bytes to the front */
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        s->len -= s->pos;
        s->pos = 0;
    }
    if (need + 1 > s->cap) { /* +1: room for the NUL vs_src_line may add after the last byte */
        size_t cap = s->cap * 2 > need + 1 ? s->cap * 2 : need + 1;
        unsigned char *b = realloc(s->buf, cap);
        if (!b) {
            s->err_no = ENOMEM;
            return VF_ENOMEM;
        }
        s->buf = b;
        s->cap = cap;
    }
    while (!s->eof && s->len - s->pos < need) {
        ssize_t got = read(s->fd, s->buf + s->len, s->cap - 1 - s->len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            s->err_no = errno;
            return VF_EIO;
        }
        if (got == 0)
            s->eof = 1;
        s->len += (size_t)got;
    }
    return 0;
}

/* Copies up to n bytes to dst; returns the count (< n only at the end) or -1 on a read error. */
static ssize_t src_read(byte_src *s, void *dst, size_t n)
{
    unsigned char *d = dst;
    size_t have = s->len - s->pos, done = have < n ? have : n;
    memcpy(d, s->buf + s->pos, done);
    s->pos += done;
    if (done == n)
        return (ssize_t)n;
    s->pos = s->len = 0;
    if (n - done >= s->cap / 2) { /* large: straight into the caller's array */
        while (done < n && !s->eof) {
            ssize_t got = read(s->fd, d + done, n - done);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                s->err_no = errno;
                return -1;
            }
            if (got == 0)
                s->eof = 1;
            done += (size_t)got;
        }
        return (ssize_t)done;
    }
    if (vs_src_fill(s, n - done) < 0)
        return -1;
    have = s->len - s->pos;
    size_t more = have < n - done ? have : n - done;
    memcpy(d + done, s->buf + s->pos, more);
    s->pos += more;
    return (ssize_t)(done + more);
}

char *vs_src_line(byte_src *s, size_t *len)
{
    size_t scanned = 0;
    for (;;) {
        unsigned char *start = s->buf + s->pos;
        size_t have = s->len - s->pos;
        unsigned char *nl = memchr(start + scanned, '\n', have - scanned);
        if (nl || (s->eof && have > 0)) {
            size_t n = nl ? (size_t)(nl - start) : have;
            s->pos += nl ? n + 1 : n;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            start[n] = '\0'; /* within the buffer: vs_src_fill keeps one spare byte after len */
            *len = n;
            return (char *)start;
        }
        if (s->eof)
            return NULL;
        if (have >= LINE_MAX_BYTES) {
            s->err_no = EOVERFLOW;
            return NULL;
        }
        scanned = have;
        if (vs_src_fill(s, have + 1) < 0)
            return NULL;
    }
}

int vs_src_skip_bom(byte_src *s)
{
    if (vs_src_fill(s, 3) < 0)
        return -1;
    if (s->len - s->pos >= 3 && memcmp(s->buf + s->pos, "\xEF\xBB\xBF", 3) == 0)
        s->pos += 3;
    return 0;
}

static void src_free(byte_src *s)
{
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    free(s->buf);
    s->buf = NULL;
    s->fd = -1;
}

/* ---- errors -------------------------------------------------------------------------------- */

int vs_reader_fail(vs_reader *r, vf_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failmsg, sizeof r->failmsg, fmt, ap);
    va_end(ap);
    r->failed = code;
    return vf_fail(err, code, "%s", r->failmsg);
}

static int src_error(vs_reader *r, vf_error *err)
{
    if (r->src.err_no == ENOMEM)
        return vs_reader_fail(r, err, VF_ENOMEM, "%s: out of memory", r->label);
    return vs_reader_fail(r, err, VF_EIO, "%s: read failed: %s", r->label, strerror(r->src.err_no));
}

/* ---- element conversion -------------------------------------------------------------------- */

static size_t elem_size(elem_type t)
{
    switch (t) {
    case ET_U8: case ET_I8: return 1;
    case ET_F16: return 2;
    case ET_F32: case ET_I32: case ET_U32: return 4;
    default: return 8;
    }
}

static const char *elem_name(elem_type t)
{
    static const char *const n[] = {"float32", "float64", "uint8",   "int32", "int64",
                                    "uint32",  "uint64",  "float16", "int8"};
    return n[t];
}

/* Index of the first NaN or infinity in v[0..n), or n.  The block test vectorises. */
static size_t first_nonfinite(const float *v, size_t n)
{
    size_t i = 0;
    for (; i < n; i += 64) {
        size_t m = n - i < 64 ? n - i : 64;
        uint32_t bad = 0;
        for (size_t j = 0; j < m; j++) {
            uint32_t b;
            memcpy(&b, v + i + j, 4);
            bad |= (b & 0x7f800000u) == 0x7f800000u;
        }
        if (bad)
            break;
    }
    for (; i < n; i++) {
        uint32_t b;
        memcpy(&b, v + i, 4);
        if ((b & 0x7f800000u) == 0x7f800000u)
            return i;
    }
    return n;
}

static int value_fail(vs_reader *r, vf_error *err, uint64_t row0, size_t at, const char *what)
{
    return vs_reader_fail(r, err, VF_EVALUE, "%s: row %llu: value %zu is %s", r->label,
                          (unsigned long long)(row0 + at / r->dim + 1), at % r->dim + 1, what);
}

/* IEEE 754 binary16 to float32, exactly (every half value is a float); not NaN or infinity. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) /* zero or subnormal: m * 2^-24 */
        return sign ? -ldexpf((float)m, -24) : ldexpf((float)m, -24);
    uint32_t b = sign | (e + 112) << 23 | m << 13; /* rebias 15 -> 127 */
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* Converts n elements of r->et at src to float32 at dst (src may equal dst for float32). */
static int conv_f32(vs_reader *r, const void *src, size_t n, float *dst, uint64_t row0,
                    vf_error *err)
{
    size_t i;
    switch (r->et) {
    case ET_F32:
        if (src != dst)
            memcpy(dst, src, n * 4);
        i = first_nonfinite(dst, n);
        if (i < n)
            return value_fail(r, err, row0, i, dst[i] != dst[i] ? "NaN" : "infinite");
        return 0;
    case ET_F64: {
        const double *s = src;
        for (i = 0; i < n; i++) {
            double v = s[i];
            if (!(v >= -FLT_MAX && v <= FLT_MAX)) { /* also NaN */
                if (v != v)
                    return value_fail(r, err, row0, i, "NaN");
                if (v == HUGE_VAL || v == -HUGE_VAL)
                    return value_fail(r, err, row0, i, "infinite");
                char what[64];
                snprintf(what, sizeof what, "%g, out of float32 range", v);
                return value_fail(r, err, row0, i, what);
            }
            dst[i] = (float)v;
        }
        return 0;
    }
    case ET_U8: { const uint8_t *s = src; for (i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case ET_I8: { const int8_t *s = src; for (i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case ET_F16: {
        const uint16_t *s = src;
        for (i = 0; i < n; i++) {
            if ((s[i] & 0x7c00u) == 0x7c00u)
                return value_fail(r, err, row0, i, s[i] & 0x3ffu ? "NaN" : "infinite");
            dst[i] = half_to_float(s[i]);
        }
        return 0;
    }
    case ET_I32: { const int32_t *s = src; for (i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    case ET_I64: { const int64_t *s = src; for (i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    case ET_U32: { const uint32_t *s = src; for (i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    case ET_U64: { const uint64_t *s = src; for (i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    }
    return 0;
}

/* Converts n integer elements of r->et at src to int64 at dst (src may equal dst for int64). */
static int conv_i64(vs_reader *r, const void *src, size_t n, int64_t *dst, uint64_t row0,
                    vf_error *err)
{
    size_t i;
    switch (r->et) {
    case ET_U8: { const uint8_t *s = src; for (i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case ET_I8: { const int8_t *s = src; for (i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case ET_I32: { const int32_t *s = src; for (i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case ET_U32: { const uint32_t *s = src; for (i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case ET_I64:
        if (src != dst)
            memcpy(dst, src, n * 8);
        return 0;
    case ET_U64: {
        const uint64_t *s = src;
        for (i = 0; i < n; i++) {
            if (s[i] > (uint64_t)INT64_MAX) {
                char what[64];
                snprintf(what, sizeof what, "%llu, above the int64 range",
                         (unsigned long long)s[i]);
                return value_fail(r, err, row0, i, what);
            }
            dst[i] = (int64_t)s[i];
        }
        return 0;
    }
    default:
        return 0; /* float types are refused before reading */
    }
}

static void *scratch_get(vs_reader *r, size_t bytes, vf_error *err)
{
    if (bytes <= r->scratch_cap)
        return r->scratch;
    void *p = realloc(r->scratch, bytes);
    if (!p) {
        vs_reader_fail(r, err, VF_ENOMEM, "%s: out of memory", r->label);
        return NULL;
    }
    r->scratch = p;
    r->scratch_cap = bytes;
    return p;
}

/* ---- opening binary formats ---------------------------------------------------------------- */

/* Bytes left in the source if it is a regular file, else -1. */
static int64_t src_remaining(const byte_src *s)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    off_t at = lseek(s->fd, 0, SEEK_CUR);
    if (at < 0)
        return -1;
    return (int64_t)st.st_size - (int64_t)at + (int64_t)(s->len - s->pos);
}

static int vecs_open(vs_reader *r, const vs_reader_opts *o, vf_error *err)
{
    r->et = r->fmt == VS_FMT_FVECS ? ET_F32 : r->fmt == VS_FMT_BVECS ? ET_U8 : ET_I32;
    if (vs_src_fill(&r->src, 4) < 0)
        return src_error(r, err);
    size_t have = r->src.len - r->src.pos;
    int64_t left = src_remaining(&r->src);
    if (have == 0) {
        r->dim = o->dim;
        r->rows = 0;
        return 0;
    }
    if (have < 4)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: row 1: truncated (%zu of 4 header bytes)",
                              r->label, have);
    int32_t d;
    memcpy(&d, r->src.buf + r->src.pos, 4);
    if (d <= 0 || (uint32_t)d > VS_READER_DIM_MAX)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: row 1: bad dimension %d (not a %s file?)",
                              r->label, (int)d, vs_format_name(r->fmt));
    if (o->dim && (uint32_t)d != o->dim)
        return vs_reader_fail(r, err, VF_EDIM, "%s: row 1: dim %d, expected %u", r->label, (int)d,
                              o->dim);
    r->dim = (uint32_t)d;
    uint64_t rs = 4 + (uint64_t)r->dim * elem_size(r->et);
    r->rows = left >= 0 && (uint64_t)left % rs == 0 ? (int64_t)((uint64_t)left / rs) : -1;
    return 0;
}

static int raw_open(vs_reader *r, const vs_reader_opts *o, vf_error *err)
{
    r->et = ET_F32;
    uint32_t dim = o->dim ? o->dim : o->raw_dim;
    if (!dim)
        return vs_reader_fail(r, err, VF_EARG, "%s: raw float32 input needs the dimension (--dim)",
                              r->label);
    if (dim > VS_READER_DIM_MAX)
        return vs_reader_fail(r, err, VF_EARG, "%s: dim %u is above the limit %u", r->label, dim,
                              VS_READER_DIM_MAX);
    r->dim = dim;
    int64_t left = src_remaining(&r->src);
    uint64_t rs = 4 * (uint64_t)r->dim;
    r->rows = left >= 0 && (uint64_t)left % rs == 0 ? (int64_t)((uint64_t)left / rs) : -1;
    return 0;
}

/* A cursor over the npy header, a Python dict literal. */
typedef struct npy_cur { const char *p, *end; } npy_cur;

static void npy_ws(npy_cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Reads a quoted string into out (NUL-terminated, truncated to cap); 0, or -1 if malformed. */
static int npy_str(npy_cur *c, char *out, size_t cap)
{
    npy_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q)
        c->p++;
    if (c->p >= c->end)
        return -1;
    size_t n = (size_t)(c->p - s);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    c->p++;
    return 0;
}

static int npy_char(npy_cur *c, char ch)
{
    npy_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 0;
    }
    return -1;
}

/* Skips one value that is not a plain string (nested brackets allowed). */
static int npy_skip(npy_cur *c)
{
    int depth = 0;
    npy_ws(c);
    if (c->p < c->end && (*c->p == '\'' || *c->p == '"')) {
        char tmp[2];
        return npy_str(c, tmp, sizeof tmp);
    }
    for (; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (ch == '(' || ch == '[' || ch == '{')
            depth++;
        else if (ch == ')' || ch == ']' || ch == '}') {
            if (depth == 0)
                return 0;
            depth--;
        } else if (ch == ',' && depth == 0)
            return 0;
    }
    return -1;
}

static int npy_dtype(const char *d, elem_type *t)
{
    static const struct { const char *name; elem_type t; } map[] = {
        {"<f4", ET_F32}, {"<f8", ET_F64}, {"|u1", ET_U8}, {"<u1", ET_U8}, {"u1", ET_U8},
        {"<i4", ET_I32}, {"<i8", ET_I64}, {"<u4", ET_U32}, {"<u8", ET_U64},
        {"<f2", ET_F16}, {"|i1", ET_I8},  {"<i1", ET_I8},  {"i1", ET_I8},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(d, map[i].name) == 0) {
            *t = map[i].t;
            return 0;
        }
    return -1;
}

/* One npy header at the source's position, consumed on success: its dtype, shape, order. */
typedef struct npy_hdr { elem_type et; uint32_t dim; uint64_t rows; int fortran; } npy_hdr;

static int npy_header(vs_reader *r, const vs_reader_opts *o, npy_hdr *out, vf_error *err)
{
    byte_src *s = &r->src;
    if (vs_src_fill(s, 10) < 0)
        return src_error(r, err);
    const unsigned char *b = s->buf + s->pos;
    if (s->len - s->pos < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: not an npy file (bad magic)", r->label);
    unsigned major = b[6];
    size_t pre, hlen;
    if (major == 1) {
        pre = 10;
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
    } else if (major == 2 || major == 3) {
        if (vs_src_fill(s, 12) < 0)
            return src_error(r, err);
        b = s->buf + s->pos;
        if (s->len - s->pos < 12)
            return vs_reader_fail(r, err, VF_EINPUT, "%s: truncated npy header", r->label);
        pre = 12;
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    } else {
        return vs_reader_fail(r, err, VF_EUNSUPPORTED, "%s: npy format version %u.%u is not supported",
                              r->label, major, b[7]);
    }
    if (hlen > NPY_HEADER_MAX)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: npy header of %zu bytes is implausible",
                              r->label, hlen);
    if (vs_src_fill(s, pre + hlen) < 0)
        return src_error(r, err);
    if (s->len - s->pos < pre + hlen)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: truncated npy header", r->label);
    npy_cur c = {(const char *)s->buf + s->pos + pre, (const char *)s->buf + s->pos + pre + hlen};

    char descr[64] = "", key[64];
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0, ndim = 0;
    uint64_t shape[2] = {0, 1};
    if (npy_char(&c, '{') < 0)
        goto bad;
    for (;;) {
        if (npy_char(&c, '}') == 0)
            break;
        if (npy_str(&c, key, sizeof key) < 0 || npy_char(&c, ':') < 0)
            goto bad;
        npy_ws(&c);
        if (strcmp(key, "descr") == 0) {
            if (npy_str(&c, descr, sizeof descr) < 0)
                return vs_reader_fail(r, err, VF_EUNSUPPORTED,
                                      "%s: structured npy dtypes are not supported", r->label);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (c.end - c.p >= 4 && memcmp(c.p, "True", 4) == 0)
                fortran = 1, c.p += 4;
            else if (c.end - c.p >= 5 && memcmp(c.p, "False", 5) == 0)
                c.p += 5;
            else
                goto bad;
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (npy_char(&c, '(') < 0)
                goto bad;
            while (npy_char(&c, ')') < 0) {
                npy_ws(&c);
                char *e;
                errno = 0;
                unsigned long long v = strtoull(c.p, &e, 10);
                if (e == c.p || errno || *c.p == '-')
                    goto bad;
                c.p = e;
                /* a trailing 'L' is how Python 2 wrote long integers */
                if (c.p < c.end && *c.p == 'L')
                    c.p++;
                if (ndim < 2)
                    shape[ndim] = v;
                ndim++;
                if (npy_char(&c, ',') < 0 && npy_char(&c, ')') == 0)
                    break;
            }
            have_shape = 1;
        } else if (npy_skip(&c) < 0) {
            goto bad;
        }
        if (npy_char(&c, ',') < 0) {
            if (npy_char(&c, '}') < 0)
                goto bad;
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        goto bad;
    if (npy_dtype(descr, &out->et) < 0)
        return vs_reader_fail(r, err, VF_EUNSUPPORTED,
                              "%s: npy dtype '%s' is not supported (use <f2, <f4, <f8, |i1, |u1, "
                              "<i4, <i8, <u4 or <u8)", r->label, descr);
    if (ndim < 1 || ndim > 2)
        return vs_reader_fail(r, err, VF_EUNSUPPORTED,
                              "%s: npy array has %d dimensions, expected 1 or 2", r->label, ndim);
    if (ndim == 2 && (shape[1] == 0 || shape[1] > VS_READER_DIM_MAX))
        return vs_reader_fail(r, err, VF_EINPUT, "%s: npy rows of %llu values are not vectors",
                              r->label, (unsigned long long)shape[1]);
    if (shape[0] > (uint64_t)INT64_MAX / shape[1] / 8)
        return vs_reader_fail(r, err, VF_EINPUT, "%s: npy shape is implausible", r->label);
    if (o->dim && shape[1] != o->dim)
        return vs_reader_fail(r, err, VF_EDIM, "%s: rows have dim %llu, expected %u", r->label,
                              (unsigned long long)shape[1], o->dim);
    out->dim = (uint32_t)shape[1];
    out->rows = shape[0];
    out->fortran = fortran && ndim == 2 && shape[1] > 1; /* else the two orders are one */
    s->pos += pre + hlen;
    return 0;
bad:
    return vs_reader_fail(r, err, VF_EINPUT, "%s: malformed npy header", r->label);
}

/*
 * A Fortran-order array is stored column by column: it is loaded whole (growing as its bytes
 * arrive, so a damaged shape cannot reserve more than twice what was read) and rows are
 * gathered from it.
 */
static int npy_load_fortran(vs_reader *r, uint64_t rows, vf_error *err)
{
    size_t es = elem_size(r->et), cap = 0, have = 0;
    uint64_t want64 = rows * r->dim * es;
    if (want64 > SIZE_MAX)
        return vs_reader_fail(r, err, VF_ENOMEM, "%s: npy array too large to load", r->label);
    size_t want = (size_t)want64;
    free(r->fort);
    r->fort = NULL;
    while (have < want) {
        if (have == cap) {
            cap = cap ? cap * 2 : (size_t)1 << 20;
            if (cap > want)
                cap = want;
            unsigned char *b = realloc(r->fort, cap);
            if (!b)
                return vs_reader_fail(r, err, VF_ENOMEM, "%s: out of memory loading a "
                                      "Fortran-order npy array", r->label);
            r->fort = b;
        }
        size_t ask = cap - have;
        ssize_t got = src_read(&r->src, r->fort + have, ask);
        if (got < 0)
            return src_error(r, err);
        have += (size_t)got;
        if ((size_t)got < ask)
            break;
    }
    if (have < want)
        return vs_reader_fail(r, err, VF_EINPUT,
                              "%s: npy array %d: truncated (%zu of the %zu bytes its header "
                              "promises)", r->label, r->arr_count, have, want);
    return 0;
}

/* Makes the array hdr the current one: its rows follow those read so far. */
static int npy_begin(vs_reader *r, const npy_hdr *h, vf_error *err)
{
    r->et = h->et;
    r->arr_start = r->arr_end;
    r->arr_end += h->rows;
    r->arr_count++;
    free(r->fort);
    r->fort = NULL;
    return h->fortran && h->rows ? npy_load_fortran(r, h->rows, err) : 0;
}

static int npy_open(vs_reader *r, const vs_reader_opts *o, vf_error *err)
{
    npy_hdr h;
    int rc = npy_header(r, o, &h, err);
    if (rc < 0)
        return rc;
    r->dim = h.dim;
    /* the total is known when the file holds this one array exactly; a stream may hold more */
    int64_t left = src_remaining(&r->src);
    r->rows = left >= 0 && (uint64_t)left == h.rows * h.dim * elem_size(h.et) ? (int64_t)h.rows : -1;
    return npy_begin(r, &h, err);
}

/*
 * At the end of an array: 1 when another array follows (np.save calls written one after the
 * other, as on a pipe) and is now current, 0 at the end of the source, or an error for any
 * other bytes or an array of another dimension.
 */
static int npy_next(vs_reader *r, vf_error *err)
{
    byte_src *s = &r->src;
    if (vs_src_fill(s, 1) < 0)
        return src_error(r, err);
    if (s->len == s->pos)
        return 0;
    if (vs_src_fill(s, 6) < 0)
        return src_error(r, err);
    if (s->len - s->pos < 6 || memcmp(s->buf + s->pos, "\x93NUMPY", 6) != 0)
        return vs_reader_fail(r, err, VF_EINPUT,
                              "%s: trailing bytes after npy array %d (row %llu), not another array",
                              r->label, r->arr_count, (unsigned long long)r->arr_end);
    npy_hdr h;
    vs_reader_opts o = {0};
    int rc = npy_header(r, &o, &h, err);
    if (rc < 0)
        return rc;
    if (h.dim != r->dim)
        return vs_reader_fail(r, err, VF_EDIM, "%s: npy array %d (row %llu): dim %u, expected %u",
                              r->label, r->arr_count + 1, (unsigned long long)(r->arr_end + 1),
                              h.dim, r->dim);
    rc = npy_begin(r, &h, err);
    return rc < 0 ? rc : 1;
}

/* Copies n rows from the loaded Fortran-order array, starting at the current row, into buf. */
static void fort_gather(const vs_reader *r, size_t n, unsigned char *buf)
{
    size_t es = elem_size(r->et);
    uint64_t arows = r->arr_end - r->arr_start, i0 = r->row - r->arr_start;
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < r->dim; j++)
            memcpy(buf + (i * r->dim + j) * es, r->fort + ((uint64_t)j * arows + i0 + i) * es, es);
}

/* Guesses the format of stdin from its first bytes. */
static int sniff(vs_reader *r, vf_error *err)
{
    byte_src *s = &r->src;
    if (vs_src_fill(s, 6) < 0)
        return src_error(r, err);
    if (s->len - s->pos >= 6 && memcmp(s->buf + s->pos, "\x93NUMPY", 6) == 0) {
        r->fmt = VS_FMT_NPY;
        return 0;
    }
    if (vs_src_fill(s, 8) < 0)
        return src_error(r, err);
    if (s->len - s->pos >= 8 && memcmp(s->buf + s->pos, "\x89HDF\r\n\x1a\n", 8) == 0)
        return vs_reader_fail(r, err, VF_EARG,
                              "stdin: HDF5 input must be a file (it is read by seeking)");
    size_t have = s->len - s->pos;
    while (!s->eof && have < SNIFF_MAX && !memchr(s->buf + s->pos, '\n', have)) {
        if (vs_src_fill(s, have + 1) < 0)
            return src_error(r, err);
        have = s->len - s->pos;
    }
    if (have > SNIFF_MAX)
        have = SNIFF_MAX;
    const unsigned char *b = s->buf + s->pos;
    for (size_t i = 0; i < have; i++)
        if ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') || b[i] == 0x7f)
            return vs_reader_fail(r, err, VF_EINPUT,
                                  "%s: binary input of unknown format (use --input-format)", r->label);
    /* a JSON value is never taken for a CSV header: '{' or '[' first means JSON lines */
    size_t i = have >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < have && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i < have && (b[i] == '{' || b[i] == '[')) {
        r->fmt = VS_FMT_JSONL;
        return 0;
    }
    const unsigned char *nl = memchr(b, '\n', have);
    size_t first = nl ? (size_t)(nl - b) : have;
    r->fmt = memchr(b, ',', first) ? VS_FMT_CSV : memchr(b, '\t', first) ? VS_FMT_TSV : VS_FMT_TXT;
    return 0;
}

/* ---- the reader ---------------------------------------------------------------------------- */

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int vs_reader_open(vs_reader **rp, const char *spec, const vs_reader_opts *o, vf_error *err)
{
    static const vs_reader_opts defaults;
    if (!rp)
        return vf_fail(err, VF_EARG, "vs_reader_open: no result pointer");
    *rp = NULL;
    if (!spec || !*spec)
        return vf_fail(err, VF_EARG, "no input named");
    if (!o)
        o = &defaults;
    if ((unsigned)o->format > VS_FMT_JSONL)
        return vf_fail(err, VF_EARG, "'%s': bad format value %d", spec, (int)o->format);
    if (o->id_col < 0 || o->key_col < 0)
        return vf_fail(err, VF_EARG, "'%s': column numbers start at 1", spec);
    if (o->id_col && o->id_col == o->key_col)
        return vf_fail(err, VF_EARG, "'%s': the id and key columns are both column %d", spec,
                       o->id_col);

    vs_reader *r = calloc(1, sizeof *r);
    if (!r)
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", spec);
    r->src.fd = -1;
    r->rows = -1;
    r->fmt = o->format;
    int is_stdin = strcmp(spec, "-") == 0;
    size_t sn = strlen(spec);
    r->spec = dup_str(spec, sn);
    r->name = is_stdin ? dup_str("stdin", 5) : dup_str(spec, sn);
    r->label = malloc(sn + 8); /* quotes and NUL, or "stdin" */
    if (!r->spec || !r->name || !r->label) {
        vs_reader_free(r);
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", spec);
    }
    if (is_stdin)
        strcpy(r->label, "stdin");
    else
        snprintf(r->label, sn + 8, "'%s'", spec);

    int rc = 0;
    if (is_stdin) {
        if (r->fmt == VS_FMT_HDF5) {
            rc = vf_fail(err, VF_EARG, "stdin: HDF5 input must be a file (it is read by seeking)");
            goto fail;
        }
    } else {
        const char *dset;
        size_t flen = split_h5(spec, r->fmt == VS_FMT_HDF5, &dset);
        if (r->fmt == VS_FMT_AUTO) {
            r->fmt = dset ? VS_FMT_HDF5 : format_from_ext(spec, flen);
            /* a pipe by name (bash's <(...), a FIFO) has no extension: its bytes are sniffed as
               stdin's are; a regular file of no known extension is not guessed */
            struct stat pst;
            if (r->fmt == VS_FMT_AUTO && !(stat(spec, &pst) == 0 && (S_ISFIFO(pst.st_mode) || S_ISCHR(pst.st_mode)))) {
                rc = vf_fail(err, VF_EINPUT, "'%s': unknown format (use --input-format)", spec);
                goto fail;
            }
        }
        if (r->fmt == VS_FMT_HDF5) {
            char *file = dup_str(spec, flen);
            if (!file) {
                rc = vf_fail(err, VF_ENOMEM, "'%s': out of memory", spec);
                goto fail;
            }
            rc = vs_h5_open(r, file, dset, o, err);
            free(file);
            if (rc < 0)
                goto fail;
            goto opened;
        }
    }

    if (is_stdin) {
        r->src.fd = 0;
    } else {
        r->src.fd = open(spec, O_RDONLY | O_CLOEXEC);
        if (r->src.fd < 0) {
            rc = vf_fail(err, errno == ENOENT ? VF_ENOENT : VF_EIO, "'%s': %s", spec,
                         errno == ENOENT ? "no such file" : strerror(errno));
            goto fail;
        }
        r->src.own_fd = 1;
        struct stat st;
        if (fstat(r->src.fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = vf_fail(err, VF_EINPUT, "'%s': is a directory", spec);
            goto fail;
        }
        if (S_ISREG(st.st_mode))
            posix_fadvise(r->src.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    r->src.cap = SRC_BUF;
    r->src.buf = malloc(r->src.cap);
    if (!r->src.buf) {
        rc = vf_fail(err, VF_ENOMEM, "%s: out of memory", r->label);
        goto fail;
    }
    if (r->fmt == VS_FMT_AUTO && (rc = sniff(r, err)) < 0)
        goto fail;

    switch (r->fmt) {
    case VS_FMT_FVECS: case VS_FMT_BVECS: case VS_FMT_IVECS: rc = vecs_open(r, o, err); break;
    case VS_FMT_NPY: rc = npy_open(r, o, err); break;
    case VS_FMT_RAW: rc = raw_open(r, o, err); break;
    case VS_FMT_CSV: case VS_FMT_TSV: case VS_FMT_TXT: rc = vs_text_open(r, o, err); break;
    case VS_FMT_JSONL: rc = vs_json_open(r, o, err); break;
    default: rc = vf_fail(err, VF_EARG, "%s: bad format", r->label); break;
    }
    if (rc < 0)
        goto fail;

opened:
    if ((o->id_col || o->key_col) && r->fmt != VS_FMT_CSV && r->fmt != VS_FMT_TSV &&
        r->fmt != VS_FMT_TXT) {
        rc = vf_fail(err, VF_EARG, "%s: id and key columns apply to text input only, not %s",
                     r->label, vs_format_name(r->fmt));
        goto fail;
    }
    *rp = r;
    return 0;
fail:
    vs_reader_free(r);
    return rc;
}

uint32_t vs_reader_dim(const vs_reader *r) { return r->dim; }
int64_t vs_reader_rows(const vs_reader *r) { return r->rows; }
int vs_reader_has_ids(const vs_reader *r) { return r->id_col > 0 || r->json_ids; }
int vs_reader_has_keys(const vs_reader *r) { return r->key_col > 0 || r->json_keys; }
const char *vs_reader_name(const vs_reader *r) { return r->name; }
vs_format vs_reader_format(const vs_reader *r) { return r->fmt; }

int vs_reader_metric(const vs_reader *r, const char **name)
{
    /* the names ann-benchmarks writes, and the names of vecseg's own metrics */
    static const struct { const char *name; int metric; } map[] = {
        {"angular", VF_METRIC_COSINE}, {"cosine", VF_METRIC_COSINE}, {"euclidean", VF_METRIC_L2},
        {"l2", VF_METRIC_L2},          {"dot", VF_METRIC_IP},        {"ip", VF_METRIC_IP},
    };
    if (name)
        *name = r->distance;
    if (!r->distance)
        return 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(r->distance, map[i].name) == 0)
            return map[i].metric;
    return -1;
}

void vs_reader_free(vs_reader *r)
{
    if (!r)
        return;
    vs_h5_close(r);
    src_free(&r->src);
    free(r->scratch);
    free(r->fort);
    free(r->distance);
    free(r->spec);
    free(r->name);
    free(r->label);
    free(r);
}

/* ---- reading binary formats ---------------------------------------------------------------- */

/* Rows of fvecs/bvecs/ivecs: the dim prefix of each is checked, then its values converted. */
static long vecs_read(vs_reader *r, int want_f, void *out, size_t max, vf_error *err)
{
    size_t es = elem_size(r->et), rs = 4 + (size_t)r->dim * es, got = 0;
    size_t per = SCRATCH_MAX / rs ? SCRATCH_MAX / rs : 1;
    while (got < max) {
        size_t n = max - got < per ? max - got : per;
        unsigned char *buf = scratch_get(r, n * rs, err);
        if (!buf)
            return r->failed;
        ssize_t bytes = src_read(&r->src, buf, n * rs);
        if (bytes < 0)
            return src_error(r, err);
        size_t full = (size_t)bytes / rs;
        for (size_t i = 0; i < full; i++) {
            unsigned char *row = buf + i * rs;
            int32_t d;
            memcpy(&d, row, 4);
            uint64_t at = r->row + got + i + 1;
            if ((uint32_t)d != r->dim)
                return vs_reader_fail(r, err, VF_EDIM, "%s: row %llu: dim %d, expected %u",
                                      r->label, (unsigned long long)at, (int)d, r->dim);
            int rc = want_f ? conv_f32(r, row + 4, r->dim, (float *)out + (got + i) * r->dim,
                                       at - 1, err)
                            : conv_i64(r, row + 4, r->dim, (int64_t *)out + (got + i) * r->dim,
                                       at - 1, err);
            if (rc < 0)
                return rc;
        }
        got += full;
        if ((size_t)bytes % rs)
            return vs_reader_fail(r, err, VF_EINPUT, "%s: row %llu: truncated (%zu of %zu bytes)",
                                  r->label, (unsigned long long)(r->row + got + 1),
                                  (size_t)bytes % rs, rs);
        if (full < n)
            break;
    }
    r->row += got;
    return (long)got;
}

/* Rows of npy, raw and HDF5: contiguous elements, read in place when no conversion is needed. */
static long flat_read(vs_reader *r, int want_f, void *out, size_t max, vf_error *err)
{
    size_t ob = (size_t)r->dim * (want_f ? 4 : 8);
    size_t got = 0;
    while (got < max) {
        /* npy: up to the end of the current array, whose header may change the element type */
        int npy = r->fmt == VS_FMT_NPY;
        int64_t lim = npy ? (int64_t)r->arr_end : r->rows;
        size_t es = elem_size(r->et), rb = (size_t)r->dim * es;
        int direct = want_f ? r->et == ET_F32 : r->et == ET_I64 || r->et == ET_U64;
        size_t per = SCRATCH_MAX / rb ? SCRATCH_MAX / rb : 1;
        size_t n = max - got;
        if (lim >= 0 && n > (uint64_t)lim - r->row)
            n = (size_t)((uint64_t)lim - r->row);
        if (n == 0) {
            int more = npy ? npy_next(r, err) : 0;
            if (more < 0)
                return more;
            if (more)
                continue;
            break;
        }
        if (!direct && n > per)
            n = per;
        unsigned char *dst = (unsigned char *)out + got * ob;
        void *buf = direct ? dst : scratch_get(r, n * rb, err);
        if (!buf)
            return r->failed;
        size_t full = n;
        if (r->h5) {
            int rc = vs_h5_read(r, r->row, n, buf, err);
            if (rc < 0)
                return rc;
        } else if (r->fort) {
            fort_gather(r, n, buf);
        } else {
            ssize_t bytes = src_read(&r->src, buf, n * rb);
            if (bytes < 0)
                return src_error(r, err);
            full = (size_t)bytes / rb;
            if ((size_t)bytes % rb)
                return vs_reader_fail(r, err, VF_EINPUT, "%s: row %llu: truncated (%zu of %zu bytes)",
                                      r->label, (unsigned long long)(r->row + full + 1),
                                      (size_t)bytes % rb, rb);
            if (full < n && lim >= 0)
                return vs_reader_fail(r, err, VF_EINPUT,
                                      "%s: row %llu: truncated (the header promises %lld rows)",
                                      r->label, (unsigned long long)(r->row + full + 1),
                                      (long long)lim);
        }
        int rc = want_f ? conv_f32(r, buf, full * r->dim, (float *)dst, r->row, err)
                        : conv_i64(r, buf, full * r->dim, (int64_t *)dst, r->row, err);
        if (rc < 0)
            return rc;
        r->row += full;
        got += full;
        if (full < n)
            break;
    }
    return (long)got;
}

static long bin_read(vs_reader *r, int want_f, void *out, size_t max, vf_error *err)
{
    if (!want_f && (r->et == ET_F32 || r->et == ET_F64 || r->et == ET_F16))
        return vs_reader_fail(r, err, VF_EINPUT, "%s: holds %s values, expected integers", r->label,
                              elem_name(r->et));
    if (r->dim == 0)
        return 0;
    if (r->fmt == VS_FMT_FVECS || r->fmt == VS_FMT_BVECS || r->fmt == VS_FMT_IVECS)
        return vecs_read(r, want_f, out, max, err);
    return flat_read(r, want_f, out, max, err);
}

static int is_text(const vs_reader *r)
{
    return r->fmt == VS_FMT_CSV || r->fmt == VS_FMT_TSV || r->fmt == VS_FMT_TXT;
}

long vs_reader_read(vs_reader *r, float *vec, uint64_t *ids, uint64_t *keys, size_t max,
                    vf_error *err)
{
    if (r->failed)
        return vf_fail(err, r->failed, "%s", r->failmsg);
    if (max == 0)
        return 0;
    if (!vec)
        return vf_fail(err, VF_EARG, "%s: no vector buffer", r->label);
    if (max > (size_t)LONG_MAX)
        max = (size_t)LONG_MAX;
    if (r->fmt == VS_FMT_JSONL)
        return vs_json_read(r, vec, NULL, ids, keys, max, err);
    if (is_text(r))
        return vs_text_read(r, vec, NULL, ids, keys, max, err);
    return bin_read(r, 1, vec, max, err);
}

long vs_reader_read_i64(vs_reader *r, int64_t *out, size_t max, vf_error *err)
{
    if (r->failed)
        return vf_fail(err, r->failed, "%s", r->failmsg);
    if (max == 0)
        return 0;
    if (!out)
        return vf_fail(err, VF_EARG, "%s: no output buffer", r->label);
    if (max > (size_t)LONG_MAX)
        max = (size_t)LONG_MAX;
    if (r->fmt == VS_FMT_JSONL)
        return vs_json_read(r, NULL, out, NULL, NULL, max, err);
    if (is_text(r))
        return vs_text_read(r, NULL, out, NULL, NULL, max, err);
    return bin_read(r, 0, out, max, err);
}

/* ---- whole-source loaders ------------------------------------------------------------------ */

static int read_all(const char *spec, const vs_reader_opts *o, int want_f, void **out,
                    uint64_t **idsp, size_t *rows, uint32_t *cols, vf_error *err)
{
    vs_reader *r;
    *out = NULL;
    if (idsp)
        *idsp = NULL;
    int rc = vs_reader_open(&r, spec, o, err);
    if (rc < 0)
        return rc;
    size_t es = want_f ? 4 : 8, row = r->dim ? (size_t)r->dim * es : es, n = 0;
    /* start at about 1 MiB and double as rows arrive (up to the rows a header promises), so
       a damaged header (npy shape, fvecs dimension) cannot reserve more than twice what was
       read */
    size_t cap = (1u << 20) / row;
    if (r->rows >= 0 && (uint64_t)r->rows < cap)
        cap = (size_t)r->rows;
    if (cap == 0)
        cap = 1;
    unsigned char *buf = NULL;
    uint64_t *ids = NULL;
    int want_ids = idsp && vs_reader_has_ids(r);
    for (;;) {
        if (!buf || n == cap) {
            if (buf) {
                cap *= 2;
                if (r->rows >= 0 && (uint64_t)r->rows < cap)
                    cap = (size_t)r->rows; /* still above n: n == rows ends the loop */
            }
            if (cap > SIZE_MAX / row) {
                rc = vf_fail(err, VF_ENOMEM, "%s: too large to load", r->label);
                break;
            }
            unsigned char *b = realloc(buf, cap * row);
            if (!b) {
                rc = vf_fail(err, VF_ENOMEM, "%s: out of memory loading %zu rows", r->label, cap);
                break;
            }
            buf = b;
            if (want_ids) {
                uint64_t *i = realloc(ids, cap * sizeof *ids);
                if (!i) {
                    rc = vf_fail(err, VF_ENOMEM, "%s: out of memory loading %zu ids", r->label, cap);
                    break;
                }
                ids = i;
            }
        }
        long got = want_f ? vs_reader_read(r, (float *)(buf + n * row), want_ids ? ids + n : NULL,
                                           NULL, cap - n, err)
                          : vs_reader_read_i64(r, (int64_t *)(buf + n * row), cap - n, err);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (r->rows >= 0 && n == (size_t)r->rows)
            break; /* all promised rows are in: no need to grow for a final empty read */
    }
    if (rc < 0) {
        free(buf);
        free(ids);
    } else {
        *out = buf;
        if (idsp)
            *idsp = ids;
        if (rows)
            *rows = n;
        if (cols)
            *cols = r->dim;
    }
    vs_reader_free(r);
    return rc;
}

int vs_read_all_i64(const char *spec, const vs_reader_opts *o, int64_t **out, size_t *rows,
                    uint32_t *cols, vf_error *err)
{
    void *p;
    int rc = read_all(spec, o, 0, &p, NULL, rows, cols, err);
    *out = p;
    return rc;
}

int vs_read_all_f32(const char *spec, const vs_reader_opts *o, float **out, size_t *rows,
                    uint32_t *dim, vf_error *err)
{
    void *p;
    int rc = read_all(spec, o, 1, &p, NULL, rows, dim, err);
    *out = p;
    return rc;
}

int vs_read_all_f32_ids(const char *spec, const vs_reader_opts *o, float **out, uint64_t **ids,
                        size_t *rows, uint32_t *dim, vf_error *err)
{
    void *p;
    int rc = read_all(spec, o, 1, &p, ids, rows, dim, err);
    *out = p;
    return rc;
}
