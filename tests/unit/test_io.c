/*
 * test_io.c - the foreign-format readers and the results writer (lib/io/io.h).
 *
 * Writes small files of every format into a fresh temporary directory (HDF5 fixtures through
 * the HDF5 C API), reads them back in batches of 3 and compares every value; then every error
 * path: its code, and a message naming the file and the row.  stdin is exercised by putting a
 * file, and once a pipe, on descriptor 0.
 */
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "vecseg.h"

static char dir[256];

static const char *P(const char *name) /* a path in the temp dir; 4 rotating buffers */
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void put(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(P(name), "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        perror(name);
        exit(2);
    }
    fclose(f);
}

static void put_str(const char *name, const char *s) { put(name, s, strlen(s)); }

static float val(size_t i, size_t j) { return (float)i * 10.0f + (float)j + 0.5f; }

/* Rows of dim d as fvecs/ivecs/bvecs (es 4, 4, 1); ints take (int)val. */
static size_t make_vecs(unsigned char *out, int kind, size_t rows, int32_t d)
{
    size_t o = 0;
    for (size_t i = 0; i < rows; i++) {
        memcpy(out + o, &d, 4);
        o += 4;
        for (int32_t j = 0; j < d; j++) {
            if (kind == 'f') {
                float v = val(i, (size_t)j);
                memcpy(out + o, &v, 4);
                o += 4;
            } else if (kind == 'i') {
                int32_t v = (int32_t)(i * 100 + (size_t)j) - 50;
                memcpy(out + o, &v, 4);
                o += 4;
            } else {
                out[o++] = (unsigned char)(i * 7 + (size_t)j);
            }
        }
    }
    return o;
}

static void write_npy(const char *name, int major, const char *descr, int fortran,
                      const char *shape, const void *data, size_t n)
{
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                      descr, fortran ? "True" : "False", shape);
    size_t pre = major == 1 ? 10 : 12, total = pre + (size_t)dl + 1;
    total = (total + 63) / 64 * 64;
    size_t hlen = total - pre;
    unsigned char *b = malloc(total + n);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    if (major == 1) {
        b[8] = (unsigned char)hlen;
        b[9] = (unsigned char)(hlen >> 8);
    } else {
        b[8] = (unsigned char)hlen;
        b[9] = (unsigned char)(hlen >> 8);
        b[10] = b[11] = 0;
    }
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, (size_t)dl);
    b[total - 1] = '\n';
    memcpy(b + total, data, n);
    put(name, b, total + n);
    free(b);
}

/* Opens spec with opts; reports and returns NULL on failure. */
static vs_reader *open_ok(const char *spec, vs_reader_opts *o)
{
    vs_reader *r = NULL;
    vf_error e = {0, ""};
    int rc = vs_reader_open(&r, spec, o, &e);
    CHECK_MSG(rc == 0 && r, "open %s: %d %s", spec, rc, e.msg);
    return rc == 0 ? r : NULL;
}

/* Expects open to fail with code and a message containing each non-NULL needle. */
static void open_fails(const char *spec, vs_reader_opts *o, int code, const char *n1,
                       const char *n2)
{
    vs_reader *r = (vs_reader *)1;
    vf_error e = {0, ""};
    int rc = vs_reader_open(&r, spec, o, &e);
    CHECK_MSG(rc == code && e.code == code && r == NULL, "open %s: got %d (%s), want %d", spec,
              rc, e.msg, code);
    CHECK_MSG(!n1 || strstr(e.msg, n1), "open %s: message '%s' lacks '%s'", spec, e.msg, n1);
    CHECK_MSG(!n2 || strstr(e.msg, n2), "open %s: message '%s' lacks '%s'", spec, e.msg, n2);
}

/* Opens and reads floats (batches of 3) until an error; expects code and needles. */
static void read_fails(const char *spec, vs_reader_opts *o, int want_i64, int code,
                       const char *n1, const char *n2)
{
    vs_reader *r = open_ok(spec, o);
    if (!r)
        return;
    size_t d = vs_reader_dim(r) ? vs_reader_dim(r) : 1;
    float *v = malloc(3 * d * sizeof *v);
    int64_t *iv = malloc(3 * d * sizeof *iv);
    uint64_t ids[3], keys[3];
    vf_error e = {0, ""};
    long got;
    do
        got = want_i64 ? vs_reader_read_i64(r, iv, 3, &e) : vs_reader_read(r, v, ids, keys, 3, &e);
    while (got > 0);
    CHECK_MSG(got == code && e.code == code, "read %s: got %ld (%s), want %d", spec, got, e.msg,
              code);
    CHECK_MSG(!n1 || strstr(e.msg, n1), "read %s: message '%s' lacks '%s'", spec, e.msg, n1);
    CHECK_MSG(!n2 || strstr(e.msg, n2), "read %s: message '%s' lacks '%s'", spec, e.msg, n2);
    /* the error is final */
    vf_error e2 = {0, ""};
    long again = want_i64 ? vs_reader_read_i64(r, iv, 3, &e2) : vs_reader_read(r, v, NULL, NULL, 3, &e2);
    CHECK(again == code && strcmp(e.msg, e2.msg) == 0);
    free(v);
    free(iv);
    vs_reader_free(r);
}

/* Reads all rows as floats in batches of 3, checking each batch size; returns rows. */
static size_t read_floats(vs_reader *r, float *out, uint64_t *ids, uint64_t *keys, size_t cap)
{
    size_t n = 0, d = vs_reader_dim(r);
    vf_error e = {0, ""};
    for (;;) {
        size_t want = cap - n < 3 ? cap - n : 3;
        long got = vs_reader_read(r, out + n * d, ids ? ids + n : NULL, keys ? keys + n : NULL,
                                  want, &e);
        CHECK_MSG(got >= 0, "read %s: %ld %s", vs_reader_name(r), got, e.msg);
        if (got <= 0)
            return n;
        n += (size_t)got;
        if (n == cap)
            return n;
    }
}

static size_t read_ints(vs_reader *r, int64_t *out, size_t cap)
{
    size_t n = 0, d = vs_reader_dim(r);
    vf_error e = {0, ""};
    for (;;) {
        long got = vs_reader_read_i64(r, out + n * d, cap - n < 3 ? cap - n : 3, &e);
        CHECK_MSG(got >= 0, "read_i64 %s: %ld %s", vs_reader_name(r), got, e.msg);
        if (got <= 0)
            return n;
        n += (size_t)got;
        if (n == cap)
            return n;
    }
}

static int floats_match(const float *v, size_t rows, size_t d)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < d; j++)
            if (v[i * d + j] != val(i, j))
                return 0;
    return 1;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_format_names(void)
{
    CHECK(vs_format_parse("fvecs") == VS_FMT_FVECS);
    CHECK(vs_format_parse("bvecs") == VS_FMT_BVECS);
    CHECK(vs_format_parse("ivecs") == VS_FMT_IVECS);
    CHECK(vs_format_parse("npy") == VS_FMT_NPY);
    CHECK(vs_format_parse("hdf5") == VS_FMT_HDF5);
    CHECK(vs_format_parse("csv") == VS_FMT_CSV);
    CHECK(vs_format_parse("tsv") == VS_FMT_TSV);
    CHECK(vs_format_parse("raw") == VS_FMT_RAW);
    CHECK(vs_format_parse("txt") == VS_FMT_TXT);
    CHECK(vs_format_parse("jsonl") == VS_FMT_JSONL && vs_format_parse("ndjson") == VS_FMT_JSONL);
    CHECK(vs_format_parse("auto") == VS_FMT_AUTO);
    CHECK(vs_format_parse("parquet") == -1);
    CHECK(vs_format_parse(NULL) == -1);
    for (int f = VS_FMT_AUTO; f <= VS_FMT_JSONL; f++)
        CHECK(vs_format_parse(vs_format_name((vs_format)f)) == f);
}

static void test_vecs(void)
{
    unsigned char buf[4096];
    float v[40];
    int64_t iv[64];

    put("a.fvecs", buf, make_vecs(buf, 'f', 10, 4));
    vs_reader *r = open_ok(P("a.fvecs"), NULL);
    if (r) {
        CHECK(vs_reader_dim(r) == 4 && vs_reader_rows(r) == 10);
        CHECK(!vs_reader_has_ids(r) && !vs_reader_has_keys(r));
        CHECK(strcmp(vs_reader_name(r), P("a.fvecs")) == 0);
        CHECK(vs_reader_format(r) == VS_FMT_FVECS);
        /* streaming: batches of 3, 3, 3, 1, then 0 */
        vf_error e;
        long sizes[5];
        for (int i = 0; i < 5; i++)
            sizes[i] = vs_reader_read(r, v + (i < 4 ? i * 3 * 4 : 0), NULL, NULL, 3, &e);
        CHECK(sizes[0] == 3 && sizes[1] == 3 && sizes[2] == 3 && sizes[3] == 1 && sizes[4] == 0);
        CHECK(floats_match(v, 10, 4));
        vs_reader_free(r);
    }
    /* integers from fvecs are refused */
    read_fails(P("a.fvecs"), NULL, 1, VF_EINPUT, "a.fvecs'", "float32");

    put("g.ivecs", buf, make_vecs(buf, 'i', 4, 5));
    if ((r = open_ok(P("g.ivecs"), NULL))) {
        CHECK(read_ints(r, iv, 64) == 4);
        int ok = 1;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++)
                ok &= iv[i * 5 + j] == i * 100 + j - 50;
        CHECK(ok);
        vs_reader_free(r);
    }
    if ((r = open_ok(P("g.ivecs"), NULL))) { /* floats from ivecs convert */
        CHECK(read_floats(r, v, NULL, NULL, 8) == 4);
        CHECK(v[0] == -50.0f && v[19] == 304.0f - 50.0f);
        vs_reader_free(r);
    }

    put("b.bvecs", buf, make_vecs(buf, 'b', 5, 3));
    if ((r = open_ok(P("b.bvecs"), NULL))) {
        CHECK(vs_reader_dim(r) == 3 && vs_reader_rows(r) == 5);
        CHECK(read_floats(r, v, NULL, NULL, 10) == 5);
        CHECK(v[0] == 0.0f && v[14] == 30.0f);
        vs_reader_free(r);
    }
    if ((r = open_ok(P("b.bvecs"), NULL))) {
        CHECK(read_ints(r, iv, 10) == 5 && iv[4] == 8);
        vs_reader_free(r);
    }

    /* explicit format on an odd name; dim option agreeing */
    put("vectors.bin", buf, make_vecs(buf, 'f', 2, 4));
    vs_reader_opts o = {.format = VS_FMT_FVECS, .dim = 4};
    if ((r = open_ok(P("vectors.bin"), &o))) {
        CHECK(read_floats(r, v, NULL, NULL, 10) == 2 && floats_match(v, 2, 4));
        vs_reader_free(r);
    }
    /* empty file: no rows */
    put("empty.fvecs", "", 0);
    if ((r = open_ok(P("empty.fvecs"), NULL))) {
        vf_error e;
        CHECK(vs_reader_rows(r) == 0 && vs_reader_read(r, v, NULL, NULL, 3, &e) == 0);
        vs_reader_free(r);
    }
}

static void test_vecs_errors(void)
{
    unsigned char buf[4096] = {0};
    size_t n = make_vecs(buf, 'f', 10, 4), rs = 4 + 16;

    /* ragged: row 3 claims dim 5 */
    int32_t five = 5;
    memcpy(buf + 2 * rs, &five, 4);
    put("ragged.fvecs", buf, n);
    read_fails(P("ragged.fvecs"), NULL, 0, VF_EDIM, "ragged.fvecs': row 3:", "dim 5, expected 4");
    memcpy(buf + 2 * rs, &(int32_t){4}, 4);

    /* NaN at row 2 value 3, infinity at row 8 value 1 */
    float nan = NAN, inf = INFINITY;
    memcpy(buf + rs + 4 + 2 * 4, &nan, 4);
    put("nan.fvecs", buf, n);
    read_fails(P("nan.fvecs"), NULL, 0, VF_EVALUE, "nan.fvecs': row 2: value 3 is NaN", NULL);
    make_vecs(buf, 'f', 10, 4);
    memcpy(buf + 7 * rs + 4, &inf, 4);
    put("inf.fvecs", buf, n);
    read_fails(P("inf.fvecs"), NULL, 0, VF_EVALUE, "inf.fvecs': row 8: value 1 is infinite", NULL);
    make_vecs(buf, 'f', 10, 4);

    /* truncated in the middle of row 10, and in the dim prefix of row 11 */
    put("trunc.fvecs", buf, n - 6);
    read_fails(P("trunc.fvecs"), NULL, 0, VF_EINPUT, "trunc.fvecs': row 10: truncated", NULL);
    put("trunc2.fvecs", buf, n + 2);
    read_fails(P("trunc2.fvecs"), NULL, 0, VF_EINPUT, "row 11: truncated", NULL);
    put("trunc3.fvecs", buf, 3);
    open_fails(P("trunc3.fvecs"), NULL, VF_EINPUT, "trunc3.fvecs': row 1: truncated", NULL);

    /* wrong dim against the option; nonsense dimension */
    put("a4.fvecs", buf, n);
    vs_reader_opts o = {.dim = 8};
    open_fails(P("a4.fvecs"), &o, VF_EDIM, "a4.fvecs': row 1: dim 4, expected 8", NULL);
    int32_t bad = -7;
    memcpy(buf, &bad, 4);
    put("neg.fvecs", buf, n);
    open_fails(P("neg.fvecs"), NULL, VF_EINPUT, "neg.fvecs': row 1: bad dimension -7", NULL);

    /* id/key columns are for text only */
    o = (vs_reader_opts){.id_col = 1};
    open_fails(P("a4.fvecs"), &o, VF_EARG, "a4.fvecs'", "text");
}

static void test_npy(void)
{
    float f[40];
    double d[6];
    unsigned char u[6];
    int64_t i8[7];
    int32_t i4[4];
    uint32_t u4[4];
    uint64_t u8[3];
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 4; j++)
            f[i * 4 + j] = val(i, j);
    for (int i = 0; i < 6; i++)
        d[i] = i * 0.25 - 1, u[i] = (unsigned char)(250 + i / 2 * 2);
    for (int i = 0; i < 7; i++)
        i8[i] = (int64_t)i * 1000000000000LL - 3;
    for (int i = 0; i < 4; i++)
        i4[i] = -i, u4[i] = 4000000000u + (uint32_t)i;
    u8[0] = 1, u8[1] = (uint64_t)INT64_MAX, u8[2] = (uint64_t)INT64_MAX + 1;

    float v[64];
    int64_t iv[64];
    vs_reader *r;
    write_npy("a.npy", 1, "<f4", 0, "(10, 4)", f, sizeof f);
    if ((r = open_ok(P("a.npy"), NULL))) {
        CHECK(vs_reader_dim(r) == 4 && vs_reader_rows(r) == 10);
        CHECK(read_floats(r, v, NULL, NULL, 16) == 10 && floats_match(v, 10, 4));
        vs_reader_free(r);
    }
    write_npy("d.npy", 2, "<f8", 0, "(3, 2)", d, sizeof d);
    if ((r = open_ok(P("d.npy"), NULL))) {
        CHECK(vs_reader_dim(r) == 2 && vs_reader_rows(r) == 3);
        CHECK(read_floats(r, v, NULL, NULL, 16) == 3);
        int ok = 1;
        for (int i = 0; i < 6; i++)
            ok &= v[i] == (float)d[i];
        CHECK(ok);
        vs_reader_free(r);
    }
    write_npy("u.npy", 3, "|u1", 0, "(2, 3)", u, sizeof u);
    if ((r = open_ok(P("u.npy"), NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 16) == 2 && v[5] == 254.0f);
        vs_reader_free(r);
    }
    if ((r = open_ok(P("u.npy"), NULL))) {
        CHECK(read_ints(r, iv, 16) == 2 && iv[0] == 250 && iv[5] == 254);
        vs_reader_free(r);
    }
    write_npy("ids.npy", 1, "<i8", 0, "(7,)", i8, sizeof i8);
    if ((r = open_ok(P("ids.npy"), NULL))) {
        CHECK(vs_reader_dim(r) == 1 && vs_reader_rows(r) == 7);
        CHECK(read_ints(r, iv, 16) == 7 && memcmp(iv, i8, sizeof i8) == 0);
        vs_reader_free(r);
    }
    write_npy("i4.npy", 1, "<i4", 0, "(2, 2)", i4, sizeof i4);
    write_npy("u4.npy", 1, "<u4", 0, "(4,)", u4, sizeof u4);
    if ((r = open_ok(P("i4.npy"), NULL))) {
        CHECK(read_ints(r, iv, 16) == 2 && iv[0] == 0 && iv[3] == -3);
        vs_reader_free(r);
    }
    if ((r = open_ok(P("u4.npy"), NULL))) {
        CHECK(read_ints(r, iv, 16) == 4 && iv[3] == 4000000003LL);
        vs_reader_free(r);
    }
    /* uint64 above INT64_MAX (row 3) */
    write_npy("u8.npy", 1, "<u8", 0, "(3,)", u8, sizeof u8);
    read_fails(P("u8.npy"), NULL, 1, VF_EVALUE, "u8.npy': row 3: value 1", "int64");
    /* float npy refused for integer reads */
    read_fails(P("a.npy"), NULL, 1, VF_EINPUT, "a.npy'", "float32");

    /* errors */
    write_npy("be.npy", 1, ">f4", 0, "(10, 4)", f, sizeof f);
    open_fails(P("be.npy"), NULL, VF_EUNSUPPORTED, "be.npy'", "'>f4'");
    write_npy("c2.npy", 1, "<c8", 0, "(10, 2)", f, 160);
    open_fails(P("c2.npy"), NULL, VF_EUNSUPPORTED, "'<c8' is not supported", NULL);
    write_npy("3d.npy", 1, "<f4", 0, "(2, 2, 10)", f, sizeof f);
    open_fails(P("3d.npy"), NULL, VF_EUNSUPPORTED, "3 dimensions", NULL);
    write_npy("trunc.npy", 1, "<f4", 0, "(10, 4)", f, sizeof f - 4);
    read_fails(P("trunc.npy"), NULL, 0, VF_EINPUT, "trunc.npy': row 10: truncated", NULL);
    write_npy("short.npy", 1, "<f4", 0, "(11, 4)", f, sizeof f);
    read_fails(P("short.npy"), NULL, 0, VF_EINPUT, "short.npy': row 11: truncated", "11 rows");
    f[13] = NAN;
    write_npy("nan.npy", 1, "<f4", 0, "(10, 4)", f, sizeof f);
    read_fails(P("nan.npy"), NULL, 0, VF_EVALUE, "nan.npy': row 4: value 2 is NaN", NULL);
    d[3] = 1e300;
    write_npy("big.npy", 1, "<f8", 0, "(3, 2)", d, sizeof d);
    read_fails(P("big.npy"), NULL, 0, VF_EVALUE, "big.npy': row 2: value 2", "float32 range");
    put("junk.npy", "\x93NUMPZ\x01\x00\x10\x00{}", 12);
    open_fails(P("junk.npy"), NULL, VF_EINPUT, "junk.npy'", "magic");
    static const char badhdr[] = "\x93NUMPY\x01\x00\x10\x00{'descr' '<f4'}\n";
    put("bad.npy", badhdr, sizeof badhdr - 1);
    open_fails(P("bad.npy"), NULL, VF_EINPUT, "bad.npy': malformed npy header", NULL);
    vs_reader_opts o = {.dim = 3};
    open_fails(P("a.npy"), &o, VF_EDIM, "a.npy'", "dim 4, expected 3");
}

static void test_raw(void)
{
    float f[40], v[40];
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 4; j++)
            f[i * 4 + j] = val(i, j);
    put("a.f32", f, sizeof f);
    put("a.raw", f, sizeof f);
    vs_reader_opts o = {.dim = 4};
    vs_reader *r;
    if ((r = open_ok(P("a.f32"), &o))) {
        CHECK(vs_reader_rows(r) == 10);
        CHECK(read_floats(r, v, NULL, NULL, 10) == 10 && floats_match(v, 10, 4));
        vs_reader_free(r);
    }
    o.dim = 8;
    if ((r = open_ok(P("a.raw"), &o))) {
        CHECK(vs_reader_rows(r) == 5 && read_floats(r, v, NULL, NULL, 5) == 5);
        vs_reader_free(r);
    }
    open_fails(P("a.f32"), NULL, VF_EARG, "a.f32'", "--dim");
    o.dim = 3;
    read_fails(P("a.f32"), &o, 0, VF_EINPUT, "a.f32': row 14: truncated (4 of 12 bytes)", NULL);
    read_fails(P("a.f32"), &o, 1, VF_EINPUT, "float32", NULL);
}

static void test_text(void)
{
    float v[64];
    uint64_t ids[16], keys[16];
    int64_t iv[64];
    vs_reader *r;

    /* header, \r\n, blank lines, quotes, blanks around fields */
    put_str("a.csv", "x,y,z\r\n1.5,2,3\r\n\r\n  \n-4, 5e1 ,\"6\"\n7,8,9");
    if ((r = open_ok(P("a.csv"), NULL))) {
        CHECK(vs_reader_dim(r) == 3 && vs_reader_rows(r) == -1 && !vs_reader_has_ids(r));
        CHECK(read_floats(r, v, NULL, NULL, 16) == 3);
        CHECK(v[0] == 1.5f && v[3] == -4.0f && v[4] == 50.0f && v[5] == 6.0f && v[8] == 9.0f);
        vs_reader_free(r);
    }
    /* id and key columns, no header */
    put_str("ik.tsv", "7\t0.5\t1\t42\n8\t1.5\t2\t43\n9\t2.5\t3\t44\n10\t3.5\t4\t45\n");
    vs_reader_opts o = {.id_col = 1, .key_col = 4};
    if ((r = open_ok(P("ik.tsv"), &o))) {
        CHECK(vs_reader_dim(r) == 2 && vs_reader_has_ids(r) && vs_reader_has_keys(r));
        CHECK(read_floats(r, v, ids, keys, 16) == 4);
        CHECK(ids[0] == 7 && ids[3] == 10 && keys[0] == 42 && keys[3] == 45);
        CHECK(v[0] == 0.5f && v[1] == 1.0f && v[6] == 3.5f && v[7] == 4.0f);
        vs_reader_free(r);
    }
    /* a header whose only words are in the id column is still a header */
    put_str("h.csv", "id,a,b\n1,2,3\n");
    o = (vs_reader_opts){.id_col = 1};
    if ((r = open_ok(P("h.csv"), &o))) {
        CHECK(read_floats(r, v, ids, NULL, 16) == 1 && ids[0] == 1 && v[1] == 3.0f);
        vs_reader_free(r);
    }
    /* whitespace-separated .txt, integers */
    put_str("gt.txt", "  1 2\t3\n\n4   5 6  \n-1 -1 -1\n");
    if ((r = open_ok(P("gt.txt"), NULL))) {
        CHECK(vs_reader_format(r) == VS_FMT_TXT && vs_reader_dim(r) == 3);
        CHECK(read_ints(r, iv, 16) == 3 && iv[0] == 1 && iv[5] == 6 && iv[8] == -1);
        vs_reader_free(r);
    }
    /* ten rows, batches of three */
    char big[1024] = "";
    for (int i = 0; i < 10; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%g,%g,%g,%g\n", val(i, 0),
                 val(i, 1), val(i, 2), val(i, 3));
    put_str("ten.csv", big);
    if ((r = open_ok(P("ten.csv"), NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 16) == 10 && floats_match(v, 10, 4));
        vs_reader_free(r);
    }
    /* header only: dim from the header */
    put_str("hdr.csv", "a,b,c,d\n");
    if ((r = open_ok(P("hdr.csv"), NULL))) {
        vf_error e;
        CHECK(vs_reader_dim(r) == 4 && vs_reader_read(r, v, NULL, NULL, 3, &e) == 0);
        vs_reader_free(r);
    }

    /* errors */
    put_str("ragged.csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n");
    read_fails(P("ragged.csv"), NULL, 0, VF_EDIM, "ragged.csv': row 3 (line 4): 2 columns",
               "expected 3");
    put_str("long.csv", "1,2,3\n4,5,6,7\n");
    read_fails(P("long.csv"), NULL, 0, VF_EDIM, "long.csv': row 2 (line 2): 4 columns", NULL);
    put_str("num.csv", "1,2,3\n4,5x,6\n");
    read_fails(P("num.csv"), NULL, 0, VF_EINPUT, "num.csv': row 2 (line 2), column 2: '5x'",
               "not a number");
    read_fails(P("num.csv"), NULL, 1, VF_EINPUT, "num.csv': row 2 (line 2), column 2", NULL);
    put_str("empty.csv", "1,2,3\n4,,6\n");
    read_fails(P("empty.csv"), NULL, 0, VF_EINPUT, "row 2 (line 2), column 2: empty field", NULL);
    put_str("nan.tsv", "1\t2\n3\tnan\n");
    read_fails(P("nan.tsv"), NULL, 0, VF_EVALUE, "nan.tsv': row 2 (line 2), column 2: value is NaN",
               NULL);
    put_str("inf.txt", "1 2\n3 4\n\n-inf 5\n");
    read_fails(P("inf.txt"), NULL, 0, VF_EVALUE, "inf.txt': row 3 (line 4), column 1", "infinite");
    put_str("range.csv", "1e39,2\n");
    read_fails(P("range.csv"), NULL, 0, VF_EVALUE, "column 1: '1e39' is out of float32 range",
               NULL);
    put_str("negid.csv", "1,2,3\n-5,2,3\n");
    o = (vs_reader_opts){.id_col = 1};
    read_fails(P("negid.csv"), &o, 0, VF_EINPUT, "negid.csv': row 2 (line 2), column 1: id '-5'",
               "non-negative integer");
    o = (vs_reader_opts){.key_col = 3};
    put_str("key.csv", "1,2,x\n");
    read_fails(P("key.csv"), &o, 0, VF_EINPUT, "column 3: key 'x'", NULL);
    o = (vs_reader_opts){.id_col = 5};
    open_fails(P("negid.csv"), &o, VF_EARG, "negid.csv'", "no column 5");
    o = (vs_reader_opts){.id_col = 2, .key_col = 2};
    open_fails(P("negid.csv"), &o, VF_EARG, NULL, NULL);
    o = (vs_reader_opts){.dim = 4};
    open_fails(P("a.csv"), &o, VF_EDIM, "a.csv': row 1 (line 2): 3 values, expected dim 4", NULL);
}

/* ---- HDF5 ---------------------------------------------------------------------------------- */

static void h5_put(hid_t f, const char *name, hid_t type, int rank, hsize_t d0, hsize_t d1,
                   const void *data, int chunked)
{
    hsize_t dims[2] = {d0, d1}, chunk[2] = {2, d1};
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked) {
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_deflate(dcpl, 4);
    }
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

static void test_hdf5(void)
{
    float f[40], v[64];
    double d[6] = {0.5, -1, 2, 3, 4, 1e-3};
    int64_t ids[6] = {5, 4, 3, 2, 1, 0}, iv[64];
    int32_t gt[15];
    uint8_t u8[6] = {1, 2, 3, 4, 5, 255};
    int16_t s16[4] = {-2, -1, 0, 1};
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 4; j++)
            f[i * 4 + j] = val(i, j);
    for (int i = 0; i < 15; i++)
        gt[i] = i - 1;

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t h = H5Fcreate(P("d.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(h, "train", H5T_NATIVE_FLOAT, 2, 10, 4, f, 0);
    h5_put(h, "zipped", H5T_NATIVE_FLOAT, 2, 10, 4, f, 1);
    h5_put(h, "f64", H5T_NATIVE_DOUBLE, 2, 3, 2, d, 0);
    h5_put(h, "ids", H5T_NATIVE_INT64, 1, 6, 1, ids, 0);
    h5_put(h, "neighbors", H5T_NATIVE_INT32, 2, 3, 5, gt, 0);
    h5_put(h, "u8", H5T_NATIVE_UINT8, 2, 2, 3, u8, 0);
    h5_put(h, "s16", H5T_NATIVE_INT16, 1, 4, 1, s16, 0);
    hid_t g = H5Gcreate2(h, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(g, "nested", H5T_NATIVE_FLOAT, 2, 2, 4, f, 0);
    H5Gclose(g);
    f[9] = NAN;
    h5_put(h, "nan", H5T_NATIVE_FLOAT, 2, 10, 4, f, 0);
    f[9] = val(2, 1);
    {
        hsize_t dims3[3] = {2, 2, 10};
        hid_t sp = H5Screate_simple(3, dims3, NULL);
        hid_t ds = H5Dcreate2(h, "cube", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, f);
        H5Dclose(ds);
        H5Sclose(sp);
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, 8);
        hsize_t one = 2;
        sp = H5Screate_simple(1, &one, NULL);
        ds = H5Dcreate2(h, "names", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcdefghijklmnop");
        H5Dclose(ds);
        H5Sclose(sp);
        H5Tclose(st);
    }
    H5Fclose(h);
    h = H5Fcreate(P("one.hdf5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(h, "only", H5T_NATIVE_FLOAT, 2, 10, 4, f, 0);
    H5Fclose(h);

    char spec[700];
    vs_reader *r;
    const char *fl[] = {"train", "/zipped"};
    for (int i = 0; i < 2; i++) {
        snprintf(spec, sizeof spec, "%s:%s", P("d.h5"), fl[i]);
        if ((r = open_ok(spec, NULL))) {
            CHECK(vs_reader_dim(r) == 4 && vs_reader_rows(r) == 10);
            CHECK(vs_reader_format(r) == VS_FMT_HDF5);
            CHECK(read_floats(r, v, NULL, NULL, 16) == 10 && floats_match(v, 10, 4));
            vs_reader_free(r);
        }
    }
    snprintf(spec, sizeof spec, "%s", P("one.hdf5")); /* the only dataset */
    if ((r = open_ok(spec, NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 16) == 10 && floats_match(v, 10, 4));
        vs_reader_free(r);
    }
    snprintf(spec, sizeof spec, "%s:/f64", P("d.h5"));
    if ((r = open_ok(spec, NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 16) == 3 && v[0] == 0.5f && v[5] == 1e-3f);
        vs_reader_free(r);
    }
    read_fails(spec, NULL, 1, VF_EINPUT, "f64'", "float64");
    snprintf(spec, sizeof spec, "%s:/ids", P("d.h5"));
    if ((r = open_ok(spec, NULL))) {
        CHECK(vs_reader_dim(r) == 1 && vs_reader_rows(r) == 6);
        CHECK(read_ints(r, iv, 16) == 6 && memcmp(iv, ids, sizeof ids) == 0);
        vs_reader_free(r);
    }
    snprintf(spec, sizeof spec, "%s:/neighbors", P("d.h5"));
    if ((r = open_ok(spec, NULL))) {
        CHECK(vs_reader_dim(r) == 5 && read_ints(r, iv, 16) == 3);
        CHECK(iv[0] == -1 && iv[14] == 13);
        vs_reader_free(r);
    }
    snprintf(spec, sizeof spec, "%s:/u8", P("d.h5"));
    if ((r = open_ok(spec, NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 16) == 2 && v[5] == 255.0f);
        vs_reader_free(r);
    }
    snprintf(spec, sizeof spec, "%s:/s16", P("d.h5"));
    if ((r = open_ok(spec, NULL))) {
        CHECK(read_ints(r, iv, 16) == 4 && iv[0] == -2 && iv[3] == 1);
        vs_reader_free(r);
    }
    snprintf(spec, sizeof spec, "%s:/grp/nested", P("d.h5"));
    if ((r = open_ok(spec, NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 16) == 2 && floats_match(v, 2, 4));
        vs_reader_free(r);
    }
    /* the format forced on a file with another extension */
    char alt[600];
    snprintf(alt, sizeof alt, "%s", P("d.data"));
    CHECK(link(P("d.h5"), alt) == 0);
    snprintf(spec, sizeof spec, "%s:/train", alt);
    vs_reader_opts o = {.format = VS_FMT_HDF5};
    if ((r = open_ok(spec, &o))) {
        CHECK(vs_reader_rows(r) == 10);
        vs_reader_free(r);
    }

    /* errors */
    snprintf(spec, sizeof spec, "%s:/nan", P("d.h5"));
    read_fails(spec, NULL, 0, VF_EVALUE, ":/nan': row 3: value 2 is NaN", NULL);
    snprintf(spec, sizeof spec, "%s:/nope", P("d.h5"));
    open_fails(spec, NULL, VF_ENOENT, "d.h5'", "no dataset '/nope'");
    snprintf(spec, sizeof spec, "%s:/grp/nope/deeper", P("d.h5"));
    open_fails(spec, NULL, VF_ENOENT, "'/grp/nope/deeper'", NULL);
    snprintf(spec, sizeof spec, "%s:/grp", P("d.h5"));
    open_fails(spec, NULL, VF_EINPUT, "'/grp' is not a readable dataset", NULL);
    snprintf(spec, sizeof spec, "%s:/cube", P("d.h5"));
    open_fails(spec, NULL, VF_EUNSUPPORTED, "'/cube' has 3 dimensions", NULL);
    snprintf(spec, sizeof spec, "%s:/names", P("d.h5"));
    open_fails(spec, NULL, VF_EUNSUPPORTED, "'/names'", "string");
    snprintf(spec, sizeof spec, "%s", P("d.h5"));
    open_fails(spec, NULL, VF_EARG, "datasets", ":/");
    snprintf(spec, sizeof spec, "%s:/train", P("missing.h5"));
    open_fails(spec, NULL, VF_ENOENT, "missing.h5': no such file", NULL);
    put_str("fake.h5", "not hdf5 at all");
    snprintf(spec, sizeof spec, "%s:/train", P("fake.h5"));
    open_fails(spec, NULL, VF_EINPUT, "fake.h5': not an HDF5 file", NULL);
    snprintf(spec, sizeof spec, "%s:/train", P("d.h5"));
    o = (vs_reader_opts){.dim = 3};
    open_fails(spec, &o, VF_EDIM, "'/train' has dim 4, expected 3", NULL);
    o = (vs_reader_opts){.format = VS_FMT_HDF5};
    open_fails("-", &o, VF_EARG, "stdin", "HDF5");
}

static void test_results(void)
{
    enum { NQ = 3, K = 4 };
    int64_t ids[NQ * K];
    float dist[NQ * K];
    for (int i = 0; i < NQ * K; i++) {
        ids[i] = i % K == 3 ? -1 : i * 11;
        dist[i] = i % K == 3 ? INFINITY : (float)i * 0.25f;
    }
    vf_error e = {0, ""};
    put_str("res.h5", "an old file in the way");
    int rc = vs_h5_write_results(P("res.h5"), NQ, K, ids, dist, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    char spec[600];
    int64_t *got = NULL;
    size_t rows = 0;
    uint32_t cols = 0;
    snprintf(spec, sizeof spec, "%s:/neighbors", P("res.h5"));
    rc = vs_read_all_i64(spec, NULL, &got, &rows, &cols, &e);
    CHECK_MSG(rc == 0 && rows == NQ && cols == K, "%d %s", rc, e.msg);
    CHECK(got && memcmp(got, ids, sizeof ids) == 0);
    free(got);
    /* distances hold +inf, which the vector reader refuses: read them through HDF5 itself */
    hid_t f = H5Fopen(P("res.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/distances", H5P_DEFAULT);
    float back[NQ * K];
    CHECK(ds >= 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    CHECK(memcmp(back, dist, sizeof dist) == 0);
    hid_t t = H5Dget_type(ds);
    CHECK(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    H5Tclose(t);
    H5Dclose(ds);
    ds = H5Dopen2(f, "/neighbors", H5P_DEFAULT);
    t = H5Dget_type(ds);
    CHECK(H5Tequal(t, H5T_STD_I64LE) > 0);
    H5Tclose(t);
    H5Dclose(ds);
    H5Fclose(f);
    snprintf(spec, sizeof spec, "%s:/distances", P("res.h5"));
    read_fails(spec, NULL, 0, VF_EVALUE, "row 1: value 4 is infinite", NULL);
    /* no temporary file is left beside it */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", P("res.h5"), (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    /* zero queries is a valid, empty result */
    CHECK(vs_h5_write_results(P("none.h5"), 0, 10, NULL, NULL, &e) == 0);
    snprintf(spec, sizeof spec, "%s:/neighbors", P("none.h5"));
    CHECK(vs_read_all_i64(spec, NULL, &got, &rows, &cols, &e) == 0 && rows == 0 && cols == 10);
    free(got);
    /* an unwritable place */
    CHECK(vs_h5_write_results(P("no/such/dir/r.h5"), NQ, K, ids, dist, &e) == VF_EIO);
    CHECK(strstr(e.msg, "no/such/dir/r.h5") != NULL);
}

/* The variable-length string attribute name of obj (h5py's str), malloc'd, or NULL. */
static char *vlen_attr(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return NULL;
    hid_t t = H5Aget_type(a);
    char *v = NULL, *out = NULL;
    if (H5Tis_variable_str(t) > 0 && H5Aread(a, t, &v) >= 0 && v) {
        out = strdup(v);
        H5free_memory(v);
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

/* ann-benchmarks' attributes and per-query times (the CLI passes none, so the times given here
   are the only check of that path); and 0 queries make an empty "times". */
static void test_results_meta(void)
{
    enum { NQ = 3, K = 2 };
    int64_t ids[NQ * K] = {1, 2, 3, 4, 5, 6};
    float dist[NQ * K] = {0.5f, 1, 1.5f, 2, 2.5f, 3}, times[NQ] = {0.25f, 0.5f, 0.75f};
    vs_h5_results_meta m = {0};
    m.name = "vecseg(ef=64)";
    m.distance = "angular";
    m.best_search_time = 0.5;
    m.index_size = 12.5;
    m.run_count = 3;
    m.times = times;
    vf_error e = {0, ""};
    CHECK_MSG(vs_h5_write_results_meta(P("meta.h5"), NQ, K, ids, dist, &m, &e) == 0, "%s", e.msg);
    hid_t f = H5Fopen(P("meta.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/times", H5P_DEFAULT);
    float back[NQ];
    CHECK(ds >= 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    CHECK(memcmp(back, times, sizeof times) == 0);
    H5Dclose(ds);
    int64_t count = 0, runs = 0;
    double size = 0;
    hid_t a = H5Aopen(f, "count", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &count) >= 0 && count == K);
    H5Aclose(a);
    a = H5Aopen(f, "run_count", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &runs) >= 0 && runs == 3);
    H5Aclose(a);
    a = H5Aopen(f, "index_size", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, &size) >= 0 && size == 12.5);
    H5Aclose(a);
    char *name = vlen_attr(f, "name"), *distance = vlen_attr(f, "distance"), *algo = vlen_attr(f, "algo");
    CHECK(name && strcmp(name, "vecseg(ef=64)") == 0);
    CHECK(distance && strcmp(distance, "angular") == 0);
    CHECK(algo && strcmp(algo, "vecseg") == 0);
    free(name);
    free(distance);
    free(algo);
    H5Fclose(f);
    CHECK(vs_h5_write_results_meta(P("meta0.h5"), 0, K, NULL, NULL, &m, &e) == 0);
}

/* ---- common errors, loaders, stdin --------------------------------------------------------- */

static void test_common_errors(void)
{
    put_str("x.foo", "1,2\n");
    char want[600];
    snprintf(want, sizeof want, "'%s': unknown format (use --input-format)", P("x.foo"));
    vf_error e = {0, ""};
    vs_reader *r = NULL;
    CHECK(vs_reader_open(&r, P("x.foo"), NULL, &e) == VF_EINPUT && strcmp(e.msg, want) == 0);
    open_fails(P("nothere.fvecs"), NULL, VF_ENOENT, "nothere.fvecs': no such file", NULL);
    open_fails(P("nothere.csv"), NULL, VF_ENOENT, NULL, NULL);
    open_fails(dir, &(vs_reader_opts){.format = VS_FMT_CSV}, VF_EINPUT, "is a directory", NULL);
    open_fails("", NULL, VF_EARG, NULL, NULL);
    vs_reader_free(NULL);
}

static void test_loaders(void)
{
    float *v = NULL;
    int64_t *iv = NULL;
    size_t rows = 0;
    uint32_t d = 0;
    vf_error e = {0, ""};
    CHECK(vs_read_all_f32(P("a.fvecs"), NULL, &v, &rows, &d, &e) == 0);
    CHECK(rows == 10 && d == 4 && v && floats_match(v, 10, 4));
    free(v);
    CHECK(vs_read_all_f32(P("ten.csv"), NULL, &v, &rows, &d, &e) == 0);
    CHECK(rows == 10 && d == 4 && v && floats_match(v, 10, 4));
    free(v);
    CHECK(vs_read_all_i64(P("gt.txt"), NULL, &iv, &rows, &d, &e) == 0 && rows == 3 && d == 3);
    free(iv);
    CHECK(vs_read_all_f32(P("nan.fvecs"), NULL, &v, &rows, &d, &e) == VF_EVALUE && v == NULL);
    CHECK(vs_read_all_i64(P("nothere.npy"), NULL, &iv, &rows, &d, &e) == VF_ENOENT && !iv);
}

/* Large inputs cross the staging and buffer limits; values are checked throughout. */
static void test_large(void)
{
    enum { ROWS = 30000, D = 96 };
    size_t rs = 4 + D * 4;
    unsigned char *b = malloc(ROWS * rs);
    float *f = malloc((size_t)ROWS * D * 4);
    for (size_t i = 0; i < ROWS; i++) {
        int32_t d = D;
        memcpy(b + i * rs, &d, 4);
        for (size_t j = 0; j < D; j++)
            f[i * D + j] = (float)(i * D + j);
        memcpy(b + i * rs + 4, f + i * D, D * 4);
    }
    put("big.fvecs", b, ROWS * rs);
    write_npy("big.npy", 1, "<f4", 0, "(30000, 96)", f, (size_t)ROWS * D * 4);
    float *v = malloc((size_t)ROWS * D * 4);
    const char *names[] = {"big.fvecs", "big.npy"};
    size_t batches[] = {1, 7, 12000, ROWS + 5};
    for (int k = 0; k < 2; k++)
        for (int bi = 0; bi < 4; bi++) {
            vs_reader *r = open_ok(P(names[k]), NULL);
            if (!r)
                continue;
            size_t n = 0;
            vf_error e;
            long got;
            while ((got = vs_reader_read(r, v + n * D, NULL, NULL,
                                         batches[bi] < ROWS - n ? batches[bi] : ROWS - n + 1,
                                         &e)) > 0)
                n += (size_t)got;
            CHECK_MSG(got == 0 && n == ROWS, "%s batch %zu: %ld rows %zu", names[k], batches[bi],
                      got, n);
            CHECK(memcmp(v, f, (size_t)ROWS * D * 4) == 0);
            vs_reader_free(r);
        }
    free(b);
    free(f);
    free(v);
}

/* Runs fn with fd 0 reading from path (or a pipe fed from path when pipe_it). */
static void with_stdin(const char *path, int pipe_it, void (*fn)(void *), void *arg)
{
    int saved = dup(0), fd;
    pid_t child = -1;
    if (pipe_it) {
        int p[2];
        if (pipe(p) < 0)
            exit(2);
        child = fork();
        if (child == 0) {
            close(p[0]);
            int in = open(path, O_RDONLY);
            char buf[4096];
            ssize_t n;
            while ((n = read(in, buf, sizeof buf)) > 0)
                if (write(p[1], buf, (size_t)n) != n)
                    _exit(1);
            _exit(0);
        }
        close(p[1]);
        fd = p[0];
    } else {
        fd = open(path, O_RDONLY);
    }
    dup2(fd, 0);
    close(fd);
    fn(arg);
    dup2(saved, 0);
    close(saved);
    if (child > 0)
        waitpid(child, NULL, 0);
}

struct sniff_case { vs_format fmt; int want; uint32_t dim; size_t rows; const char *hint; };

static void sniff_one(void *arg)
{
    struct sniff_case *c = arg;
    vs_reader_opts o = {.format = c->fmt};
    vs_reader *r = NULL;
    vf_error e = {0, ""};
    int rc = vs_reader_open(&r, "-", &o, &e);
    if (c->want < 0) {
        CHECK_MSG(rc == c->want && strstr(e.msg, "stdin") && strstr(e.msg, c->hint), "%d %s",
                  rc, e.msg);
        return;
    }
    CHECK_MSG(rc == 0, "stdin: %s", e.msg);
    if (rc)
        return;
    CHECK(vs_reader_format(r) == (vs_format)c->want && vs_reader_dim(r) == c->dim);
    CHECK(strcmp(vs_reader_name(r), "stdin") == 0);
    float v[64];
    CHECK(read_floats(r, v, NULL, NULL, 16) == c->rows && floats_match(v, c->rows, c->dim));
    vs_reader_free(r);
}

static void sniff_nan(void *arg)
{
    (void)arg;
    vs_reader *r = open_ok("-", &(vs_reader_opts){.format = VS_FMT_FVECS});
    if (!r)
        return;
    float v[64];
    vf_error e;
    long got;
    while ((got = vs_reader_read(r, v, NULL, NULL, 3, &e)) > 0)
        ;
    CHECK_MSG(got == VF_EVALUE && strncmp(e.msg, "stdin: row 2: value 3 is NaN", 64) == 0, "%s",
              e.msg);
    vs_reader_free(r);
}

static void test_stdin(void)
{
    char big[1024] = "";
    for (int i = 0; i < 4; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%g\t%g\n", val(i, 0), val(i, 1));
    put_str("s.tsv", big);
    big[0] = '\0';
    for (int i = 0; i < 4; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), " %g  %g %g\n", val(i, 0),
                 val(i, 1), val(i, 2));
    put_str("s.txt", big);

    struct sniff_case npy = {VS_FMT_AUTO, VS_FMT_NPY, 4, 10, NULL};
    struct sniff_case csv = {VS_FMT_AUTO, VS_FMT_CSV, 4, 10, NULL};
    struct sniff_case tsv = {VS_FMT_AUTO, VS_FMT_TSV, 2, 4, NULL};
    struct sniff_case txt = {VS_FMT_AUTO, VS_FMT_TXT, 3, 4, NULL};
    struct sniff_case bin = {VS_FMT_AUTO, VF_EINPUT, 0, 0, "--input-format"};
    struct sniff_case fv = {VS_FMT_FVECS, VS_FMT_FVECS, 4, 10, NULL};
    struct sniff_case raw = {VS_FMT_RAW, VF_EARG, 0, 0, "--dim"};
    with_stdin(P("a.npy"), 0, sniff_one, &npy);
    with_stdin(P("a.npy"), 1, sniff_one, &npy);
    with_stdin(P("ten.csv"), 1, sniff_one, &csv);
    with_stdin(P("s.tsv"), 0, sniff_one, &tsv);
    with_stdin(P("s.txt"), 1, sniff_one, &txt);
    with_stdin(P("a.fvecs"), 1, sniff_one, &bin);
    with_stdin(P("a.fvecs"), 0, sniff_one, &fv);
    with_stdin(P("a.fvecs"), 1, sniff_one, &fv);
    with_stdin(P("a.fvecs"), 1, sniff_one, &raw);
    with_stdin(P("nan.fvecs"), 1, sniff_nan, NULL);
    struct sniff_case h5 = {VS_FMT_AUTO, VF_EARG, 0, 0, "HDF5 input must be a file"};
    with_stdin(P("d.h5"), 0, sniff_one, &h5);
}

/* Fortran order, float16 and int8, arrays concatenated in one stream, and what may follow. */
static void test_npy_more(void)
{
    float f[40], v[64];
    vs_reader *r;
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 4; j++)
            f[i * 4 + j] = val(i, j);

    /* Fortran order: column-major bytes, rows come out as in C order */
    float fc[40];
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 4; j++)
            fc[j * 10 + i] = val(i, j);
    write_npy("fort.npy", 1, "<f4", 1, "(10, 4)", fc, sizeof fc);
    if ((r = open_ok(P("fort.npy"), NULL))) {
        CHECK(vs_reader_dim(r) == 4 && vs_reader_rows(r) == 10);
        CHECK(read_floats(r, v, NULL, NULL, 16) == 10 && floats_match(v, 10, 4));
        vs_reader_free(r);
    }
    write_npy("fortshort.npy", 1, "<f4", 1, "(10, 4)", fc, sizeof fc - 8);
    open_fails(P("fortshort.npy"), NULL, VF_EINPUT, "fortshort.npy': npy array 1: truncated", NULL);

    /* float16: 0.5, -2, 65504 (the largest), 2^-24 (the smallest subnormal); then infinity */
    uint16_t h[4] = {0x3800, 0xc000, 0x7bff, 0x0001};
    write_npy("f2.npy", 1, "<f2", 0, "(2, 2)", h, sizeof h);
    if ((r = open_ok(P("f2.npy"), NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 4) == 2);
        CHECK(v[0] == 0.5f && v[1] == -2.0f && v[2] == 65504.0f && v[3] == ldexpf(1, -24));
        vs_reader_free(r);
    }
    h[3] = 0x7c00;
    write_npy("f2inf.npy", 1, "<f2", 0, "(2, 2)", h, sizeof h);
    read_fails(P("f2inf.npy"), NULL, 0, VF_EVALUE, "f2inf.npy': row 2: value 2 is infinite", NULL);

    int8_t i1[4] = {-128, -1, 0, 127};
    write_npy("i1.npy", 1, "|i1", 0, "(2, 2)", i1, sizeof i1);
    if ((r = open_ok(P("i1.npy"), NULL))) {
        CHECK(read_floats(r, v, NULL, NULL, 4) == 2);
        CHECK(v[0] == -128 && v[1] == -1 && v[2] == 0 && v[3] == 127);
        vs_reader_free(r);
    }

    /* three arrays one after another (as np.save three times to one pipe): every row, in
       order, whatever each array's dtype and order */
    write_npy("p1.npy", 1, "<f4", 0, "(3, 4)", f, 48);
    write_npy("p2.npy", 1, "<f4", 1, "(3, 4)", f, 0);
    write_npy("p3.npy", 1, "<f8", 0, "(4, 4)", f, 0);
    {
        float c2[12];
        double d3[16];
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 4; j++)
                c2[j * 3 + i] = val(i + 3, j);
        for (size_t i = 0; i < 16; i++)
            d3[i] = val(6 + i / 4, i % 4);
        char cmd[2048];
        FILE *o = fopen(P("cat.npy"), "wb");
        FILE *a = fopen(P("p1.npy"), "rb");
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, a);
        fclose(a);
        fwrite(buf, 1, n, o);
        a = fopen(P("p2.npy"), "rb");
        n = fread(buf, 1, sizeof buf, a);
        fclose(a);
        fwrite(buf, 1, n, o);
        fwrite(c2, 1, sizeof c2, o);
        a = fopen(P("p3.npy"), "rb");
        n = fread(buf, 1, sizeof buf, a);
        fclose(a);
        fwrite(buf, 1, n, o);
        fwrite(d3, 1, sizeof d3, o);
        fclose(o);
        if ((r = open_ok(P("cat.npy"), NULL))) {
            CHECK(vs_reader_dim(r) == 4 && vs_reader_rows(r) == -1);
            CHECK(read_floats(r, v, NULL, NULL, 16) == 10 && floats_match(v, 10, 4));
            vs_reader_free(r);
        }
        vs_reader_opts ro = {.format = VS_FMT_NPY};
        float *all;
        size_t rows;
        uint32_t dim;
        vf_error e;
        CHECK(vs_read_all_f32(P("cat.npy"), &ro, &all, &rows, &dim, &e) == 0 && rows == 10 &&
              floats_match(all, 10, 4));
        free(all);
        /* trailing bytes that are not an array are refused */
        snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf 'junk' >>'%s'", P("a3.npy"), P("junk3.npy"),
                 P("junk3.npy"));
        write_npy("a3.npy", 1, "<f4", 0, "(3, 4)", f, 48);
        CHECK(system(cmd) == 0);
        read_fails(P("junk3.npy"), NULL, 0, VF_EINPUT, "junk3.npy': trailing bytes after npy array 1",
                   NULL);
        /* an array of another dimension is refused */
        write_npy("w.npy", 1, "<f4", 0, "(2, 2)", f, 16);
        snprintf(cmd, sizeof cmd, "cat '%s' '%s' >'%s'", P("a3.npy"), P("w.npy"), P("dims.npy"));
        CHECK(system(cmd) == 0);
        read_fails(P("dims.npy"), NULL, 0, VF_EDIM, "dims.npy': npy array 2 (row 4): dim 2, expected 4",
                   NULL);
    }
}

/* JSON lines: ids, keys and vectors; bare arrays; ids alone; every error names its line. */
static void test_jsonl(void)
{
    float v[64];
    uint64_t ids[16], keys[16];
    vs_reader *r;
    put_str("a.jsonl", "\xEF\xBB\xBF{\"id\": 7, \"vector\": [0.5, 1.5], \"key\": 3, \"meta\": {\"x\": 1}}\r\n"
                       "\n{\"key\": 4, \"vector\": [10, 11.5], \"id\": 9223372036854775807}\n");
    if ((r = open_ok(P("a.jsonl"), NULL))) {
        CHECK(vs_reader_format(r) == VS_FMT_JSONL && vs_reader_dim(r) == 2);
        CHECK(vs_reader_has_ids(r) && vs_reader_has_keys(r));
        CHECK(read_floats(r, v, ids, keys, 16) == 2);
        CHECK(v[0] == 0.5f && v[1] == 1.5f && v[2] == 10 && v[3] == 11.5f);
        CHECK(ids[0] == 7 && ids[1] == (uint64_t)INT64_MAX && keys[0] == 3 && keys[1] == 4);
        vs_reader_free(r);
    }
    put_str("b.ndjson", "[1, 2, 3]\n[4, 5, 6]\n");
    if ((r = open_ok(P("b.ndjson"), NULL))) {
        CHECK(vs_reader_dim(r) == 3 && !vs_reader_has_ids(r) && !vs_reader_has_keys(r));
        CHECK(read_floats(r, v, NULL, NULL, 16) == 2 && v[5] == 6);
        vs_reader_free(r);
    }
    /* integers for read_i64 */
    if ((r = open_ok(P("b.ndjson"), NULL))) {
        int64_t iv[8];
        CHECK(read_ints(r, iv, 8) == 2 && iv[0] == 1 && iv[5] == 6);
        vs_reader_free(r);
    }
    /* rows of ids alone (what vec-ingest --delete reads): dimension 0; a key as a string */
    put_str("ids.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
    if ((r = open_ok(P("ids.jsonl"), NULL))) {
        CHECK(vs_reader_dim(r) == 0 && vs_reader_has_ids(r));
        CHECK(read_floats(r, v, ids, NULL, 16) == 2 && ids[0] == 1 && ids[1] == 2);
        vs_reader_free(r);
    }
    put_str("bigkey.jsonl", "{\"key\": \"18446744073709551615\", \"vector\": [1]}\n");
    if ((r = open_ok(P("bigkey.jsonl"), NULL))) {
        CHECK(read_floats(r, v, NULL, keys, 16) == 1 && keys[0] == UINT64_MAX);
        vs_reader_free(r);
    }
    /* errors: each names the row and the line */
    put_str("e1.jsonl", "{\"id\": 1, \"vector\": [1, 2]}\n\n{\"vector\": [1, 2]}\n");
    read_fails(P("e1.jsonl"), NULL, 0, VF_EINPUT, "e1.jsonl': row 2 (line 3): no \"id\"", NULL);
    put_str("e2.jsonl", "{\"vector\": [1, 2]}\n{\"vector\": [1, 2, 3]}\n");
    read_fails(P("e2.jsonl"), NULL, 0, VF_EDIM, "row 2 (line 2): 3 values, expected 2", NULL);
    put_str("e3.jsonl", "{\"vector\": [1, 2]}\n{\"vector\": [1, \"x\"]}\n");
    read_fails(P("e3.jsonl"), NULL, 0, VF_EINPUT, "row 2 (line 2): value 2 is a string", NULL);
    put_str("e4.jsonl", "{\"vector\": [1, 2]}\n{\"vector\": [1, 2]} {}\n");
    read_fails(P("e4.jsonl"), NULL, 0, VF_EINPUT, "row 2 (line 2): not JSON", NULL);
    put_str("e5.jsonl", "{\"vector\": [1, 2]}\n{\"vector\": [1, 1e39]}\n");
    read_fails(P("e5.jsonl"), NULL, 0, VF_EVALUE, "value 2 (1e+39) is out of float32 range", NULL);
    put_str("e6.jsonl", "{\"vector\": [1, 2]}\n{\"vector\": [1, NaN]}\n");
    read_fails(P("e6.jsonl"), NULL, 0, VF_EINPUT, "row 2 (line 2): not JSON", NULL);
    put_str("e7.jsonl", "{\"id\": 1.5, \"vector\": [1, 2]}\n");
    read_fails(P("e7.jsonl"), NULL, 0, VF_EINPUT, "\"id\" is a number (1.5), not a non-negative integer", NULL);
    put_str("e8.jsonl", "{\"id\": 1, \"id\": 2, \"vector\": [1, 2]}\n");
    open_fails(P("e8.jsonl"), NULL, VF_EINPUT, "row 1 (line 1): not JSON: duplicate", NULL);
    put_str("e9.jsonl", "{\"vector\": []}\n");
    open_fails(P("e9.jsonl"), NULL, VF_EINPUT, "empty \"vector\"", NULL);
    put_str("e10.jsonl", "\"text\"\n");
    open_fails(P("e10.jsonl"), NULL, VF_EINPUT, "row 1 (line 1): not JSON: '[' or '{' expected", NULL);
    put_str("e11.jsonl", "[1.5, 2]\n");
    read_fails(P("e11.jsonl"), NULL, 1, VF_EINPUT, "value 1 is a real number, not an integer", NULL);
    /* id and key columns are text options */
    vs_reader_opts ro = {.id_col = 1};
    open_fails(P("b.ndjson"), &ro, VF_EARG, "text input only", NULL);
    /* an empty source: no rows, dimension from the options */
    put_str("empty.jsonl", "\n\n");
    ro = (vs_reader_opts){.dim = 5};
    if ((r = open_ok(P("empty.jsonl"), &ro))) {
        CHECK(vs_reader_dim(r) == 5 && vs_reader_rows(r) == 0 && read_floats(r, v, NULL, NULL, 4) == 0);
        vs_reader_free(r);
    }
    /* vs_read_all_f32_ids gives the ids the rows carry, and none when they carry none */
    float *all;
    uint64_t *aid;
    size_t rows;
    uint32_t dim;
    vf_error e;
    CHECK(vs_read_all_f32_ids(P("a.jsonl"), NULL, &all, &aid, &rows, &dim, &e) == 0 && rows == 2 && aid &&
          aid[0] == 7);
    free(all);
    free(aid);
    CHECK(vs_read_all_f32_ids(P("b.ndjson"), NULL, &all, &aid, &rows, &dim, &e) == 0 && rows == 2 && !aid);
    free(all);
}

/* The "distance" attribute of an ann-benchmarks file names the metric. */
static void test_h5_metric(void)
{
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const struct { const char *value; int vlen, metric; } cases[] = {
        {"angular", 1, VF_METRIC_COSINE}, {"euclidean", 0, VF_METRIC_L2}, {"dot", 1, VF_METRIC_IP},
        {"hamming", 0, -1},               {NULL, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hid_t h = H5Fcreate(P("m.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        h5_put(h, "train", H5T_NATIVE_FLOAT, 2, 2, 4, f, 0);
        if (cases[c].value) {
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, cases[c].vlen ? H5T_VARIABLE : strlen(cases[c].value));
            if (cases[c].vlen)
                H5Tset_cset(t, H5T_CSET_UTF8);
            hid_t sp = H5Screate(H5S_SCALAR);
            hid_t a = H5Acreate2(h, "distance", t, sp, H5P_DEFAULT, H5P_DEFAULT);
            const char *val = cases[c].value;
            H5Awrite(a, t, cases[c].vlen ? (const void *)&val : (const void *)val);
            H5Aclose(a);
            H5Sclose(sp);
            H5Tclose(t);
        }
        H5Fclose(h);
        vs_reader *r = open_ok(P("m.h5"), NULL);
        if (!r)
            continue;
        const char *name;
        CHECK_MSG(vs_reader_metric(r, &name) == cases[c].metric, "distance %s", cases[c].value);
        CHECK(cases[c].value ? name && !strcmp(name, cases[c].value) : !name);
        vs_reader_free(r);
    }
}

static void cleanup(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_io.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_format_names();
    test_vecs();
    test_vecs_errors();
    test_npy();
    test_npy_more();
    test_jsonl();
    test_raw();
    test_text();
    test_hdf5();
    test_h5_metric();
    test_results();
    test_results_meta();
    test_common_errors();
    test_loaders();
    test_large();
    test_stdin();
    cleanup();
    UNIT_DONE();
}
