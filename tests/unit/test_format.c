/*
 * test_format.c - the format layer: write, read back, corrupt one byte,
 * reject.  Also regenerates and checks the golden files of SPEC.md section
 * 11: tests/golden/tiny.vseg and the broken variants in tests/golden-errors/
 * (run with --write-golden to rewrite them; found from any directory: srcdir.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "vecseg_format.h"

static char dir[256];
static int dirfd_;

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* The tiny segment of SPEC.md section 11: 3 rows of dimension 4. */
static int write_tiny(const char *name)
{
    static const float vec[12] = {1, 2, 3, 4, 0, 0, 0, 0, -1, 0.5f, 2, 8};
    static const uint64_t ids[3] = {9, 7, 8}, lsns[3] = {1, 1, 2};
    float norms[3];
    uint32_t order[3] = {1, 2, 0}; /* rows by ascending id: 7, 8, 9 */
    for (int i = 0; i < 3; i++) {
        norms[i] = 0;
        for (int j = 0; j < 4; j++)
            norms[i] += vec[i * 4 + j] * vec[i * 4 + j];
    }
    vf_seg_info info = {4, VF_ELEM_F32, VF_METRIC_L2, 0, 0, 3};
    vf_seg_writer *w;
    vf_error e;
    int rc = vf_seg_writer_open(&w, dirfd_, name, &info, &e);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, vec, sizeof vec, &e);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_IDS, VF_SECTION_REQUIRED, ids, sizeof ids, &e);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_LSNS, VF_SECTION_REQUIRED, lsns, sizeof lsns, &e);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_NORMS, 0, norms, sizeof norms, &e);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_ID_ORDER, 0, order, sizeof order, &e);
    uint64_t bytes;
    if (rc == 0)
        rc = vf_seg_writer_finish(w, &bytes, &e);
    if (rc)
        fprintf(stderr, "write_tiny: %s\n", e.msg);
    return rc;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

/* Recomputes the header CRC and the footer CRC after an edit, so a test can
   reach the checks behind them. */
static void reseal(unsigned char *b, size_t len)
{
    put32(b + 60, vf_crc32(0, b, 60));
    uint64_t table;
    uint32_t nsec;
    memcpy(&table, b + 40, 8);
    memcpy(&nsec, b + 48, 4);
    uint32_t crc = vf_crc32(0, b, 64);
    if (table <= len && len - table == (uint64_t)nsec * 32 + 32)
        crc = vf_crc32(crc, b + table, (size_t)nsec * 32);
    put32(b + len - 16, crc);
}

typedef struct variant {
    const char *name;   /* file in tests/golden-errors/ */
    int code;
    const char *msg;    /* expected message after the file name */
    int verify;         /* 1: opens, and vf_seg_verify fails with code and msg */
} variant;

static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

/* Recomputes section i's CRC (entry at 384 + 32*i) after its bytes changed. */
static void reseal_section(unsigned char *b, size_t len, int i)
{
    unsigned char *e = b + 384 + 32 * i;
    uint64_t off, l;
    memcpy(&off, e + 8, 8);
    memcpy(&l, e + 16, 8);
    put32(e + 24, vf_crc32(0, b + off, (size_t)l));
    reseal(b, len);
}

/* Builds each broken variant from the tiny segment's bytes. */
static size_t make_variant(const char *name, const unsigned char *good, size_t len, unsigned char *b)
{
    memcpy(b, good, len);
    if (!strcmp(name, "bad-magic.vseg"))
        b[1] = 'X';
    else if (!strcmp(name, "header-crc.vseg"))
        b[16] ^= 1; /* dim changes, CRC does not */
    else if (!strcmp(name, "truncated.vseg"))
        return len - 1;
    else if (!strcmp(name, "newer-version.vseg")) {
        b[8] = 3;
        reseal(b, len);
    } else if (!strcmp(name, "section-out-of-bounds.vseg")) {
        uint64_t big = 1u << 20;
        memcpy(b + 384 + 16, &big, 8); /* first entry's length */
        reseal(b, len);
    } else if (!strcmp(name, "unknown-required-section.vseg")) {
        put32(b + 384 + 3 * 32, 99); /* NORMS becomes required type 99 */
        put32(b + 384 + 3 * 32 + 4, 1);
        reseal(b, len);
    } else if (!strcmp(name, "table-crc.vseg"))
        b[384 + 8] ^= 0x40;
    else if (!strcmp(name, "short-vectors.vseg")) {
        uint64_t l = 44;
        memcpy(b + 384 + 16, &l, 8);
        reseal(b, len);
    } else if (!strcmp(name, "section-after-table.vseg")) {
        put64(b + 384 + 4 * 32 + 8, 1u << 20); /* ID_ORDER far past the table */
        reseal(b, len);
    } else if (!strcmp(name, "table-offset-wraps.vseg")) {
        /* table + 19*32 + 32 wraps around 2^64 to the file size */
        put64(b + 40, UINT64_MAX - 63);
        put32(b + 48, 19);
        put64(b + len - 32, UINT64_MAX - 63);
        reseal(b, len);
    } else if (!strcmp(name, "sections-overlap.vseg")) {
        put64(b + 384 + 32 + 8, 64); /* IDS on top of VECTORS */
        reseal(b, len);
    } else if (!strcmp(name, "section-over-header.vseg")) {
        put64(b + 384 + 8, 0); /* VECTORS on top of the header */
        reseal(b, len);
    } else if (!strcmp(name, "nan-vector.vseg")) {
        put32(b + 64 + 4, 0x7fc00000); /* row 0, second value: NaN */
        reseal_section(b, len, 0);
    } else if (!strcmp(name, "id-out-of-range.vseg")) {
        put64(b + 128 + 8, (uint64_t)1 << 63); /* row 1's id */
        reseal_section(b, len, 1);
    } else if (!strcmp(name, "lsn-zero.vseg")) {
        put64(b + 192 + 16, 0); /* row 2's lsn */
        reseal_section(b, len, 2);
    } else if (!strcmp(name, "id-order-unsorted.vseg")) {
        put32(b + 320, 0); /* rows 0, 2, 0: ids 9, 8, 9 */
        reseal_section(b, len, 4);
    }
    return len;
}

static const variant variants[] = {
    {"bad-magic.vseg", VF_ECORRUPT, "not a vecseg segment (bad magic)", 0},
    {"header-crc.vseg", VF_ECORRUPT, "header checksum mismatch", 0},
    {"truncated.vseg", VF_ECORRUPT, "truncated (footer missing or size mismatch)", 0},
    {"newer-version.vseg", VF_EVERSION, "needs reader version 3 (this reads 2)", 0},
    {"section-out-of-bounds.vseg", VF_ECORRUPT, "section 1 out of bounds", 0},
    {"unknown-required-section.vseg", VF_EVERSION, "required section 99 is unknown to this reader", 0},
    {"table-crc.vseg", VF_ECORRUPT, "header/table checksum mismatch", 0},
    {"short-vectors.vseg", VF_ECORRUPT, "section 1 has length 44, expected 48", 0},
    {"section-after-table.vseg", VF_ECORRUPT, "section 6 out of bounds", 0},
    {"table-offset-wraps.vseg", VF_ECORRUPT, "section table out of bounds", 0},
    {"sections-overlap.vseg", VF_ECORRUPT, "section 2 out of bounds", 0},
    {"section-over-header.vseg", VF_ECORRUPT, "section 1 out of bounds", 0},
    {"nan-vector.vseg", VF_ECORRUPT, "row 0 has a NaN or infinite value", 1},
    {"id-out-of-range.vseg", VF_ECORRUPT, "row 1 has id 9223372036854775808, above 2^63-1", 1},
    {"lsn-zero.vseg", VF_ECORRUPT, "row 2 has lsn 0", 1},
    {"id-order-unsorted.vseg", VF_ECORRUPT, "section 6 is not in id order at position 1", 1},
};

static void test_segment(int write_golden)
{
    CHECK(write_tiny("tiny.vseg") == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.vseg", dir);
    size_t len, glen;
    unsigned char *b = slurp(path, &len);
    CHECK(b && len == 576);
    char golden[PATH_MAX];
    test_path(golden, sizeof golden, "tests/golden/tiny.vseg");
    if (write_golden)
        spit(golden, b, len);
    /* [R-SEG-DETERMINISTIC] the same calls give the same bytes */
    unsigned char *g = slurp(golden, &glen);
    CHECK_MSG(g && glen == len && memcmp(g, b, len) == 0, "tiny.vseg differs from tests/golden/tiny.vseg");
    free(g);

    vf_seg *s;
    vf_error e;
    CHECK(vf_seg_open(&s, dirfd_, "tiny.vseg", &e) == 0);
    if (s) {
        const vf_seg_info *in = vf_seg_get_info(s);
        CHECK(in->dim == 4 && in->rows == 3 && in->metric == VF_METRIC_L2);
        uint64_t l;
        const uint64_t *ids = vf_seg_section(s, VF_SEC_IDS, &l);
        CHECK(ids && l == 24 && ids[0] == 9 && ids[2] == 8);
        const float *v = vf_seg_section(s, VF_SEC_VECTORS, &l);
        CHECK(v && l == 48 && v[11] == 8.0f && ((uintptr_t)v % 64) == 0);
        CHECK(vf_seg_verify(s, &e) == 0);
        vf_seg_close(s);
    }

    /* every single-byte change of header, table or footer is refused */
    unsigned char *c = malloc(len);
    int refused = 0, tried = 0;
    for (size_t i = 0; i < len; i++) {
        if (i >= 64 && i < 384)
            continue; /* section bytes: caught by verify, below */
        memcpy(c, b, len);
        c[i] ^= 0x5a;
        int fd = openat(dirfd_, "bad.vseg", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (write(fd, c, len) != (ssize_t)len)
            abort();
        close(fd);
        tried++;
        if (vf_seg_open(&s, dirfd_, "bad.vseg", &e) != 0)
            refused++;
        else
            vf_seg_close(s);
    }
    CHECK_MSG(refused == tried, "%d of %d corrupted headers/tables/footers refused", refused, tried);
    /* a changed section byte passes open (O(1)) but fails verify */
    memcpy(c, b, len);
    c[64 + 5] ^= 1;
    int fd = openat(dirfd_, "bad.vseg", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, c, len) != (ssize_t)len)
        abort();
    close(fd);
    CHECK(vf_seg_open(&s, dirfd_, "bad.vseg", &e) == 0);
    if (s) {
        CHECK(vf_seg_verify(s, &e) == VF_ECORRUPT);
        vf_seg_close(s);
    }
    /* every truncation is refused */
    int trunc_ok = 1;
    for (size_t n = 0; n < len; n += 7) {
        fd = openat(dirfd_, "bad.vseg", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (write(fd, b, n) != (ssize_t)n)
            abort();
        close(fd);
        if (vf_seg_open(&s, dirfd_, "bad.vseg", &e) == 0) {
            trunc_ok = 0;
            vf_seg_close(s);
        }
    }
    CHECK(trunc_ok);

    /* the golden broken variants and their messages */
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const variant *v = &variants[i];
        size_t n = make_variant(v->name, b, len, c);
        char rel[256], gp[PATH_MAX];
        snprintf(rel, sizeof rel, "tests/golden-errors/%s", v->name);
        test_path(gp, sizeof gp, rel);
        if (write_golden)
            spit(gp, c, n);
        size_t gl;
        unsigned char *gb = slurp(gp, &gl);
        CHECK_MSG(gb && gl == n && memcmp(gb, c, n) == 0, "%s differs from its regenerated bytes", gp);
        free(gb);
        int rc = vf_seg_open_path(&s, gp, &e);
        char want[PATH_MAX + 600];
        if (v->verify) /* verify's messages name no file: the caller adds it */
            snprintf(want, sizeof want, "%s", v->msg);
        else
            snprintf(want, sizeof want, "'%s': %s", gp, v->msg);
        if (v->verify) {
            CHECK_MSG(rc == 0, "%s: open: %s", v->name, e.msg);
            if (rc == 0) {
                rc = vf_seg_verify(s, &e);
                vf_seg_close(s);
            }
        } else if (rc == 0)
            vf_seg_close(s);
        CHECK_MSG(rc == v->code && strcmp(e.msg, want) == 0, "%s: got %d '%s'", v->name, rc, rc ? e.msg : "");
    }
    free(c);
    free(b);
}

static void test_manifest(void)
{
    vf_manifest m;
    memset(&m, 0, sizeof m);
    m.generation = 7;
    m.dim = 3;
    m.metric = VF_METRIC_COSINE;
    m.keys = 1;
    m.next_id = 100;
    m.next_lsn = 5;
    m.next_ingest_file = 4;
    m.next_maint_file = 2;
    vf_error e;
    vf_shard_ent sh = {0, 0, 0, 0, 0};
    vf_growing_ent g = {"g-00000001.log", 0, 32, 4096, 12, ""};
    vf_sealed_ent se = {"s-00000001.vseg", 0, 1000, 65536, "node-a", 0};
    vf_tomb_ent t = {"t-00000003.tomb", 2};
    CHECK(vf_manifest_add_shard(&m, &sh, &e) == 0);
    CHECK(vf_manifest_add_growing(&m, &g, &e) == 0);
    CHECK(vf_manifest_add_sealed(&m, &se, &e) == 0);
    CHECK(vf_manifest_add_tomb(&m, &t, &e) == 0);
    CHECK(vf_manifest_set(&m, "seal-rows", "1000", &e) == 0);
    CHECK(vf_manifest_set(&m, "bad key", "x", &e) == VF_EARG);
    char *text, *text2;
    size_t len, len2;
    CHECK(vf_manifest_format(&m, &text, &len, &e) == 0);
    vf_manifest p;
    CHECK(vf_manifest_parse(&p, text, len, "m", &e) == 0);
    CHECK(p.generation == 7 && p.dim == 3 && p.metric == VF_METRIC_COSINE && p.keys == 1 && p.next_id == 100);
    CHECK(p.ngrowing == 1 && p.growing[0].length == 4096 && p.nsealed == 1 && p.sealed[0].rows == 1000);
    CHECK(!strcmp(p.sealed[0].node, "node-a") && p.growing[0].node[0] == 0);
    CHECK(p.ntombs == 1 && p.tombs[0].count == 2 && !strcmp(vf_manifest_get(&p, "seal-rows"), "1000"));
    CHECK(vf_manifest_format(&p, &text2, &len2, &e) == 0);
    CHECK(len == len2 && memcmp(text, text2, len) == 0);
    /* one changed byte anywhere is refused */
    int refused = 0;
    for (size_t i = 0; i < len; i++) {
        vf_manifest q;
        text[i] ^= 0x01;
        if (vf_manifest_parse(&q, text, len, "m", &e) != 0)
            refused++;
        else
            vf_manifest_release(&q);
        text[i] ^= 0x01;
    }
    CHECK_MSG(refused == (int)len, "%d of %zu corrupted manifests refused", refused, len);
    /* a newer major version is refused as such */
    char *v2 = strdup(text);
    v2[16] = '3';
    char *crcline = strstr(v2, "crc32 ");
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", vf_crc32(0, v2, (size_t)(crcline - v2)));
    memcpy(crcline + 6, hex, 8);
    vf_manifest q;
    CHECK(vf_manifest_parse(&q, v2, len, "m", &e) == VF_EVERSION);
    free(v2);
    free(text);
    free(text2);
    vf_manifest_release(&m);
    vf_manifest_release(&p);
}

static void test_log(void)
{
    vf_error e;
    int fd;
    CHECK(vf_log_create(dirfd_, "g-1.log", 2, 0, 0, &fd, &e) == 0);
    uint64_t len = VF_LOG_HEADER_SIZE;
    uint64_t ids[3] = {1, 2, 3};
    float v[6] = {1, 2, 3, 4, 5, 6};
    CHECK(vf_log_append(fd, &len, 2, 7, 3, ids, NULL, v, &e) == 0);
    uint64_t one = len;
    CHECK(vf_log_append(fd, &len, 2, 8, 1, ids, NULL, v, &e) == 0);
    close(fd);
    vf_log_view lv;
    CHECK(vf_log_map(dirfd_, "g-1.log", len, &lv, &e) == 0);
    uint64_t off = VF_LOG_HEADER_SIZE;
    vf_rows r;
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == 1 && r.n == 3 && r.lsn == 7 && r.vecs[5] == 6 && r.ids[2] == 3);
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == 1 && r.n == 1 && r.lsn == 8);
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == 0);
    /* a torn tail is reported, not misread */
    off = one;
    CHECK(vf_log_next(&lv, &off, len - 4, &r, &e) < 0);
    vf_log_unmap(&lv);
    /* a flipped payload byte fails the record's CRC */
    fd = openat(dirfd_, "g-1.log", O_RDWR);
    unsigned char x;
    CHECK(pread(fd, &x, 1, 60) == 1);
    x ^= 0x10;
    CHECK(pwrite(fd, &x, 1, 60) == 1);
    close(fd);
    CHECK(vf_log_map(dirfd_, "g-1.log", len, &lv, &e) == 0);
    off = VF_LOG_HEADER_SIZE;
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == VF_ECORRUPT && strstr(e.msg, "checksum"));
    vf_log_unmap(&lv);
    /* reopening for append cuts an uncommitted tail */
    CHECK(vf_log_open_append(dirfd_, "g-1.log", one, &fd, &e) == 0);
    struct stat st;
    fstat(fd, &st);
    CHECK((uint64_t)st.st_size == one);
    close(fd);
}

static void test_tomb_partial(void)
{
    vf_error e;
    vf_tomb t[3] = {{5, 2}, {1, 9}, {5, 1}};
    CHECK(vf_tomb_write(dirfd_, "t.tomb", t, 3, &e) == 0);
    vf_tomb *r;
    size_t n;
    CHECK(vf_tomb_read(dirfd_, "t.tomb", &r, &n, &e) == 0 && n == 3 && r[0].id == 1 && r[1].lsn == 1);
    free(r);
    int fd = openat(dirfd_, "t.tomb", O_RDWR);
    unsigned char x = 0x77;
    CHECK(pwrite(fd, &x, 1, 40) == 1);
    close(fd);
    CHECK(vf_tomb_read(dirfd_, "t.tomb", &r, &n, &e) == VF_ECORRUPT);

    vf_partial_hdr h = {VF_METRIC_IP, 2, 2, 42}, h2;
    float d[4] = {-3, -1, INFINITY, INFINITY};
    uint64_t ids[4] = {10, 11, UINT64_MAX, UINT64_MAX};
    fd = openat(dirfd_, "p.part", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(vf_partial_write_fd(fd, &h, d, ids, "p", &e) == 0);
    lseek(fd, 0, SEEK_SET);
    float *d2;
    uint64_t *i2;
    CHECK(vf_partial_read_fd(fd, &h2, &d2, &i2, "p", &e) == 0 && h2.nq == 2 && h2.generation == 42 &&
          d2[1] == -1 && i2[1] == 11 && i2[3] == UINT64_MAX);
    free(d2);
    free(i2);
    x = 0x01;
    CHECK(pwrite(fd, &x, 1, 40) == 1);
    lseek(fd, 0, SEEK_SET);
    CHECK(vf_partial_read_fd(fd, &h2, &d2, &i2, "p", &e) == VF_ECORRUPT);
    close(fd);
}


/* ---- hostile manifests (SPEC.md 3, [R-MANIFEST-STRICT]) ------------------ */

/* body + its crc32 line, malloc'd, *len set; body may hold NULs (blen). */
static char *with_crc(const char *body, size_t blen, size_t *len)
{
    char *t = malloc(blen + 16);
    memcpy(t, body, blen);
    snprintf(t + blen, 16, "crc32 %08x\n", vf_crc32(0, body, blen));
    *len = blen + 15;
    return t;
}

#define HEAD_REST "generation 3\ndim 4\nmetric l2\nkeys no\nnext-id 10\nnext-lsn 2\nnext-ingest-file 3\n" \
                  "next-maint-file 2\n"
#define HEAD "vecseg-manifest 1 0\n" HEAD_REST
#define SHARD0 "shard 0 depth=0 value=0\n"

/* Parses HEAD-style text; returns the code, the message in e. */
static int parse_text(const char *body, vf_error *e)
{
    size_t len;
    char *t = with_crc(body, strlen(body), &len);
    vf_manifest m;
    int rc = vf_manifest_parse(&m, t, len, "m", e);
    if (rc == 0)
        vf_manifest_release(&m);
    free(t);
    return rc;
}

static void test_manifest_hostile(void)
{
    vf_error e;
    /* numbers and names have one spelling each (SPEC.md 2.1, 3) */
    uint64_t v;
    CHECK(vf_parse_u64("18446744073709551615", &v) == 0 && v == UINT64_MAX);
    CHECK(vf_parse_u64("0", &v) == 0 && v == 0);
    static const char *const badnum[] = {"18446744073709551616", "99999999999999999999", "01", "", "+1", "-1",
                                         "1 ", " 1", "0x10", "1e3"};
    for (size_t i = 0; i < sizeof badnum / sizeof badnum[0]; i++)
        CHECK_MSG(vf_parse_u64(badnum[i], &v) != 0, "'%s' parsed", badnum[i]);
    CHECK(vf_file_number("g-00000001.log", 'g', &v) == 0 && v == 1);
    CHECK(vf_file_number("s-123456789.vseg", 's', &v) == 0 && v == 123456789);
    CHECK(vf_file_number("t-18446744073709551615.tomb", 't', &v) == 0 && v == UINT64_MAX);
    static const char *const badname[] = {"g-1.log", "g-000000001.log", "g-0123456789.log", "g-00000000.log",
                                          "g-00000001.vseg", "s-00000001.log", "g-00000001.log.tmp",
                                          "g-00000001.lo", "../g-00000001.log", "g-18446744073709551616.log"};
    for (size_t i = 0; i < sizeof badname / sizeof badname[0]; i++)
        CHECK_MSG(vf_file_number(badname[i], 'g', &v) != 0, "'%s' accepted", badname[i]);
    /* a valid manifest parses */
    CHECK(parse_text(HEAD SHARD0 "growing g-00000002.log shard=0 start=32 length=96 rows=1\n"
                              "sealed s-00000001.vseg shard=0 rows=1 bytes=576 node=a\n"
                              "tombstones t-00000001.tomb count=1\nfuture-line whatever  goes\n", &e) == 0);

    /* the parser reads nothing past len: the text ends at a page that
       cannot be read (it used to sscanf the last line, which needs a NUL) */
    size_t len, pg = (size_t)sysconf(_SC_PAGESIZE);
    char *t = with_crc(HEAD SHARD0, strlen(HEAD SHARD0), &len);
    char *map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED && len < pg);
    mprotect(map + pg, pg, PROT_NONE);
    memcpy(map + pg - len, t, len);
    pid_t pid = fork();
    if (pid == 0) {
        vf_manifest m;
        _exit(vf_manifest_parse(&m, map + pg - len, len, "m", NULL) == 0 ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "parse of an unterminated buffer: status %d", status);
    munmap(map, 2 * pg);
    free(t);

    /* a NUL with a valid CRC hid every line after it (the tombstones) */
    static const char nul_body[] = HEAD SHARD0 "node a\0\ntombstones t-00000001.tomb count=1\n";
    t = with_crc(nul_body, sizeof nul_body - 1, &len);
    vf_manifest m;
    CHECK(vf_manifest_parse(&m, t, len, "m", &e) == VF_ECORRUPT && !strcmp(e.msg, "'m': line 11: NUL byte in manifest"));
    free(t);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"vecseg-manifest 1 4294967296\n" HEAD_REST, "'m': line 1: minor version out of range (0 to 2^32-1)"},
        {"vecseg-manifest 1 00\n" HEAD_REST, "'m': line 1: not a vecseg manifest"},
        {HEAD "dim 5\n" SHARD0, "'m': line 10: second 'dim' line"},
        {HEAD "generation 4\n" SHARD0, "'m': line 10: second 'generation' line"},
        {HEAD "next-lsn 0\n" SHARD0, "'m': line 10: second 'next-lsn' line"},
        {"vecseg-manifest 1 0\ngeneration 18446744073709551616\n" SHARD0, "'m': line 2: bad generation"},
        {"vecseg-manifest 1 0\ngeneration 03\n" SHARD0, "'m': line 2: bad generation"},
        {"vecseg-manifest 1 0\ngeneration +3\n" SHARD0, "'m': line 2: bad generation"},
        {"vecseg-manifest 1 0\ngeneration  3\n" SHARD0, "'m': line 2: 'generation' line is not single-space separated fields"},
        {"vecseg-manifest 1 0\ngeneration 3 \n" SHARD0, "'m': line 2: 'generation' line is not single-space separated fields"},
        {"vecseg-manifest 1 0\n\ngeneration 3\n" SHARD0, "'m': line 2: empty line"},
        {"vecseg-manifest 1 0\ngeneration 3\ndim 4\nmetric l2\nkeys no\nnext-id 9223372036854775809\n", "'m': line 6: bad next-id (0 to 2^63)"},
        {"vecseg-manifest 1 0\ngeneration 3\ndim 65537\n", "'m': line 3: bad dim (1 to 65536)"},
        {"vecseg-manifest 1 0\ngeneration 3\ndim 4\nmetric l2\nkeys no\nnext-id 10\nnext-ingest-file 3\nnext-maint-file 2\n" SHARD0,
         "'m': manifest has no 'next-lsn' line"},
        {HEAD, "'m': manifest has no shard"},
        {HEAD "setting grace 1\nsetting grace 2\n" SHARD0, "'m': line 11: second setting 'grace'"},
        {HEAD "node a\nnode a\n" SHARD0, "'m': line 11: second node 'a'"},
        {HEAD "node a=b\n" SHARD0, "'m': line 10: bad node line"},
        {HEAD SHARD0 "shard 0 key=5\n", "'m': shard 0 is listed twice"},
        {HEAD "shard 0 depth=1 value=0\nshard 1 depth=1 value=1\nshard 2 key=5\nshard 3 key=5\n",
         "'m': partition key 5 is isolated twice"},
        {HEAD "shard 0 depth=1 value=0\nshard 1 depth=1 value=1\nshard 2 depth=2 value=1\n",
         "'m': shards 1 and 2 overlap"},
        {HEAD "shard 0 depth=0 value=0\nshard 1 depth=1 value=1\n", "'m': shards 0 and 1 overlap"},
        {HEAD "shard 0 depth=1 value=0\n", "'m': the shards leave some hashes to no shard"},
        {HEAD "shard 0 depth=2 value=0\nshard 1 depth=2 value=2\nshard 2 depth=2 value=3\n",
         "'m': the shards leave some hashes to no shard"},
        {HEAD "shard 0 depth=1 value=2\n", "'m': line 10: bad shard line"},
        {HEAD "shard 0 depth=1 depth=1 value=0\n", "'m': line 10: bad shard line"},
        {HEAD SHARD0 "growing g-00000001.log shard=1 start=32 length=32 rows=0\n",
         "'m': 'g-00000001.log' belongs to shard 1, which is not listed"},
        {HEAD SHARD0 "sealed s-00000001.vseg shard=7 rows=0 bytes=576\n",
         "'m': 's-00000001.vseg' belongs to shard 7, which is not listed"},
        {HEAD SHARD0 "growing g-00000001.log shard=0 start=32 length=32 rows=0\n"
                     "growing g-00000001.log shard=0 start=32 length=32 rows=0\n",
         "'m': 'g-00000001.log' is named twice"},
        {HEAD SHARD0 "tombstones t-00000001.tomb count=1\ntombstones t-00000001.tomb count=2\n",
         "'m': 't-00000001.tomb' is named twice"},
        {HEAD SHARD0 "growing g-1.log shard=0 start=32 length=32 rows=0\n", "'m': line 11: bad growing line"},
        {HEAD SHARD0 "growing ../g-00000001.log shard=0 start=32 length=32 rows=0\n", "'m': line 11: bad growing line"},
        {HEAD SHARD0 "growing s-00000001.vseg shard=0 start=32 length=32 rows=0\n", "'m': line 11: bad growing line"},
        {HEAD SHARD0 "sealed CURRENT shard=0 rows=0 bytes=576\n", "'m': line 11: bad sealed line"},
        {HEAD SHARD0 "tombstones t-00000000.tomb count=0\n", "'m': line 11: bad tombstones line"},
        {HEAD SHARD0 "growing g-00000003.log shard=0 start=32 length=32 rows=0\n",
         "'m': 'g-00000003.log' is not below next-ingest-file"},
        {HEAD SHARD0 "sealed s-00000002.vseg shard=0 rows=0 bytes=576\n", "'m': 's-00000002.vseg' is not below next-maint-file"},
        {HEAD SHARD0 "growing g-00000001.log shard=0 start=32 length=100 rows=3\n",
         "'m': 'g-00000001.log': 3 rows cannot fit in 68 bytes"},
        {HEAD SHARD0 "growing g-00000001.log shard=0 start=16 length=100 rows=0\n", "'m': line 11: 'g-00000001.log': bad start or length"},
        {HEAD SHARD0 "sealed s-00000001.vseg shard=0 rows=1000000000 bytes=576\n",
         "'m': 's-00000001.vseg': 1000000000 rows cannot fit in 576 bytes"},
        {HEAD SHARD0 "growing g-00000001.log shard=0 start=32 length=32 rows=0 garbage\n", "'m': line 11: bad growing line"},
        {HEAD SHARD0 "growing g-00000001.log shard=0 shard=0 start=32 length=32 rows=0\n", "'m': line 11: bad growing line"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse_text(bad[i].body, &e);
        CHECK_MSG(rc == VF_ECORRUPT && !strcmp(e.msg, bad[i].msg), "case %zu: got %d '%s', want '%s'", i, rc,
                  rc ? e.msg : "", bad[i].msg);
    }
}

/* ---- the collection's files (SPEC.md 2.1, [R-FILES]) -------------------- */

/* A fresh collection of one shard in dir/name; returns its vf_coll. */
static vf_coll *new_coll(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vf_manifest m;
    memset(&m, 0, sizeof m);
    m.dim = 2;
    m.metric = VF_METRIC_L2;
    m.next_lsn = m.next_ingest_file = m.next_maint_file = 1;
    vf_shard_ent sh = {0, 0, 0, 0, 0};
    vf_error e;
    vf_coll *c = NULL;
    int made;
    if (vf_manifest_add_shard(&m, &sh, &e) || vf_coll_create(&c, path, &m, &made, &e))
        fprintf(stderr, "new_coll: %s\n", e.msg);
    vf_manifest_release(&m);
    return c;
}

static int apply_nothing(vf_manifest *next, void *arg, vf_error *err)
{
    (void)next, (void)arg, (void)err;
    return 0;
}

static int apply_next_id(vf_manifest *next, void *arg, vf_error *err)
{
    (void)err;
    next->next_id = *(uint64_t *)arg;
    return 0;
}

static void put_file(int dfd, const char *name, const void *p, size_t len)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, p, len) != (ssize_t)len)
        abort();
    close(fd);
}

static void test_containment(void)
{
    vf_error e;
    vf_manifest m;
    vf_coll *c = new_coll("c1");
    CHECK(c != NULL);
    if (!c)
        return;
    int dfd = vf_coll_dirfd(c);
    char cpath[600], want[700];
    snprintf(cpath, sizeof cpath, "%s/c1", dir);
    CHECK(vf_coll_snapshot(c, &m, &e) == 0 && m.generation == 1);
    vf_manifest_release(&m);

    /* CURRENT as a symbolic link to /dev/zero, a FIFO, too long, naming no
       manifest: each refused at once (alarm() in main catches a hang) */
    renameat(dfd, "CURRENT", dfd, "CURRENT.keep");
    CHECK(symlinkat("/dev/zero", dfd, "CURRENT") == 0);
    snprintf(want, sizeof want, "'%s/CURRENT': is a symbolic link (a collection holds regular files only)", cpath);
    CHECK_MSG(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    vf_manifest_release(&m); /* releasable after any failure */
    unlinkat(dfd, "CURRENT", 0);
    CHECK(mkfifoat(dfd, "CURRENT", 0644) == 0);
    snprintf(want, sizeof want, "'%s/CURRENT': not a regular file", cpath);
    CHECK_MSG(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    unlinkat(dfd, "CURRENT", 0);
    char big[100];
    memset(big, 'x', sizeof big);
    put_file(dfd, "CURRENT", big, sizeof big);
    snprintf(want, sizeof want, "'%s/CURRENT': too large (100 bytes, at most 64)", cpath);
    CHECK_MSG(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    static const char *const badptr[] = {"", "\n", "manifest-1\n", "manifest-00000001", "../manifest-00000001\n",
                                         "manifest-00000001\n\n", "manifest-0000000a\n", "manifest-000000001\n"};
    snprintf(want, sizeof want, "'%s/CURRENT': does not name a manifest", cpath);
    for (size_t i = 0; i < sizeof badptr / sizeof badptr[0]; i++) {
        put_file(dfd, "CURRENT", badptr[i], strlen(badptr[i]));
        CHECK_MSG(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "'%s': %s", badptr[i], e.msg);
    }
    /* CURRENT naming a manifest that holds another generation */
    put_file(dfd, "CURRENT", "manifest-00000002\n", 18);
    CHECK(linkat(dfd, "manifest-00000001", dfd, "manifest-00000002", 0) == 0);
    CHECK_MSG(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && !strcmp(e.msg, "'manifest-00000002': holds generation 1"),
              "%s", e.msg);
    unlinkat(dfd, "manifest-00000002", 0);
    unlinkat(dfd, "CURRENT", 0);
    renameat(dfd, "CURRENT.keep", dfd, "CURRENT");

    /* a manifest that is a symbolic link, or larger than the cap */
    renameat(dfd, "manifest-00000001", dfd, "keep");
    CHECK(symlinkat("/dev/zero", dfd, "manifest-00000001") == 0);
    CHECK(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && strstr(e.msg, "is a symbolic link"));
    unlinkat(dfd, "manifest-00000001", 0);
    int fd = openat(dfd, "manifest-00000001", O_WRONLY | O_CREAT, 0644);
    CHECK(ftruncate(fd, (off_t)VF_MANIFEST_MAX + 1) == 0);
    close(fd);
    CHECK_MSG(vf_coll_snapshot(c, &m, &e) == VF_ECORRUPT && strstr(e.msg, "too large"), "%s", e.msg);
    unlinkat(dfd, "manifest-00000001", 0);
    renameat(dfd, "keep", dfd, "manifest-00000001");

    /* a lock file that is a symbolic link is not followed */
    int lfd;
    renameat(dfd, "ingest.lock", dfd, "keep");
    CHECK(symlinkat("keep", dfd, "ingest.lock") == 0);
    CHECK(vf_lock(c, VF_LOCK_INGEST, 0, &lfd, &e) == VF_ECORRUPT && strstr(e.msg, "ingest.lock': is a symbolic link"));
    unlinkat(dfd, "ingest.lock", 0);
    renameat(dfd, "keep", dfd, "ingest.lock");

    /* a growing log symlinked to a file elsewhere is neither truncated nor
       appended to; a hard-linked one neither */
    char outside[600];
    snprintf(outside, sizeof outside, "%s/outside.log", dir);
    CHECK(vf_log_create(dfd, "g-00000001.log", 2, 0, 0, &fd, &e) == 0);
    close(fd);
    CHECK(renameat(dfd, "g-00000001.log", AT_FDCWD, outside) == 0);
    CHECK(symlinkat(outside, dfd, "g-00000001.log") == 0);
    CHECK(vf_log_open_append(dfd, "g-00000001.log", 32, &fd, &e) == VF_ECORRUPT && strstr(e.msg, "symbolic link"));
    vf_log_view lv;
    CHECK(vf_log_map(dfd, "g-00000001.log", 32, &lv, &e) == VF_ECORRUPT);
    CHECK(vf_log_create(dfd, "g-00000001.log", 2, 0, 0, &fd, &e) == VF_EIO);
    unlinkat(dfd, "g-00000001.log", 0);
    CHECK(linkat(AT_FDCWD, outside, dfd, "g-00000001.log", 0) == 0);
    CHECK(vf_log_open_append(dfd, "g-00000001.log", 32, &fd, &e) == VF_ECORRUPT && strstr(e.msg, "2 hard links"));
    struct stat st;
    CHECK(stat(outside, &st) == 0 && st.st_size == 32);
    unlinkat(dfd, "g-00000001.log", 0);

    /* segments and tombstones: never through a link inside a collection */
    CHECK(symlinkat("../tiny.vseg", dfd, "s-00000001.vseg") == 0);
    vf_seg *s;
    CHECK(vf_seg_open(&s, dfd, "s-00000001.vseg", &e) == VF_ECORRUPT && strstr(e.msg, "symbolic link"));
    CHECK(symlinkat("/dev/zero", dfd, "t-00000001.tomb") == 0);
    vf_tomb *tb;
    size_t n;
    CHECK(vf_tomb_read(dfd, "t-00000001.tomb", &tb, &n, &e) == VF_ECORRUPT && strstr(e.msg, "symbolic link"));
    unlinkat(dfd, "t-00000001.tomb", 0);
    CHECK(mkfifoat(dfd, "t-00000001.tomb", 0644) == 0);
    CHECK(vf_tomb_read(dfd, "t-00000001.tomb", &tb, &n, &e) == VF_ECORRUPT && strstr(e.msg, "not a regular file"));
    unlinkat(dfd, "t-00000001.tomb", 0);
    /* ... but a path the user names may be a link, to a regular file only */
    char lpath[700];
    snprintf(lpath, sizeof lpath, "%s/s-00000001.vseg", cpath);
    CHECK(vf_seg_open_path(&s, lpath, &e) == 0);
    if (e.code == 0 || s)
        vf_seg_close(s);
    CHECK(vf_seg_open_path(&s, "/dev/zero", &e) == VF_ECORRUPT && !strcmp(e.msg, "'/dev/zero': not a regular file"));
    CHECK(mkfifoat(dfd, "fifo.vseg", 0644) == 0);
    snprintf(lpath, sizeof lpath, "%s/fifo.vseg", cpath);
    CHECK(vf_seg_open_path(&s, lpath, &e) == VF_ECORRUPT && strstr(e.msg, "not a regular file"));
    unlinkat(dfd, "fifo.vseg", 0);
    unlinkat(dfd, "s-00000001.vseg", 0);

    /* a stale temporary file that is a link: the writer replaces the link,
       never writes through it */
    CHECK(symlinkat(outside, dfd, "CURRENT.tmp") == 0);
    CHECK(vf_coll_commit(c, apply_nothing, NULL, NULL, &e) == 0);
    CHECK(stat(outside, &st) == 0 && st.st_size == 32);

    /* [R-COUNTERS] generation 2^64-1 is the last: commit refuses, nothing changes */
    char *text;
    size_t len;
    CHECK(vf_coll_snapshot(c, &m, &e) == 0);
    m.generation = UINT64_MAX;
    CHECK(vf_manifest_format(&m, &text, &len, &e) == 0);
    vf_manifest_release(&m);
    put_file(dfd, "manifest-18446744073709551615", text, len);
    free(text);
    put_file(dfd, "CURRENT", "manifest-18446744073709551615\n", 30);
    CHECK(vf_coll_snapshot(c, &m, &e) == 0 && m.generation == UINT64_MAX);
    vf_manifest_release(&m);
    snprintf(want, sizeof want, "'%s': generation 18446744073709551615 is the last one; no further commit is possible",
             cpath);
    CHECK_MSG(vf_coll_commit(c, apply_nothing, NULL, NULL, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    CHECK(faccessat(dfd, "manifest-00000000", F_OK, 0) != 0);
    put_file(dfd, "CURRENT", "manifest-00000002\n", 18);
    /* a writer's bug cannot commit what readers refuse: next-id above 2^63 */
    uint64_t id = VF_ID_MAX + 2;
    CHECK(vf_coll_commit(c, apply_next_id, &id, NULL, &e) == VF_ECORRUPT &&
          strstr(e.msg, "refusing to commit an invalid manifest") && strstr(e.msg, "bad next-id"));
    CHECK(vf_coll_snapshot(c, &m, &e) == 0 && m.generation == 2);
    vf_manifest_release(&m);
    id = VF_ID_MAX + 1;
    CHECK(vf_coll_commit(c, apply_next_id, &id, NULL, &e) == 0);
    vf_coll_close(c);
}

/* ---- values a CRC cannot vouch for (SPEC.md 1, 4, 6, 7) ------------------ */

static void test_values(void)
{
    vf_error e;
    int fd;
    /* growing-log records with a valid CRC but rows SPEC.md 1 forbids */
    CHECK(vf_log_create(dirfd_, "g-2.log", 2, 0, 0, &fd, &e) == 0);
    uint64_t len = VF_LOG_HEADER_SIZE, ok[2] = {1, 2}, big[2] = {1, (uint64_t)1 << 63};
    float v[4] = {1, 2, 3, 4}, nan4[4] = {1, 2, NAN, 4}, inf4[4] = {1, 2, 3, -INFINITY};
    CHECK(vf_log_append(fd, &len, 2, 5, 2, ok, NULL, v, &e) == 0);
    uint64_t at_nan = len;
    CHECK(vf_log_append(fd, &len, 2, 6, 2, ok, NULL, nan4, &e) == 0);
    uint64_t at_inf = len;
    CHECK(vf_log_append(fd, &len, 2, 7, 2, ok, NULL, inf4, &e) == 0);
    uint64_t at_id = len;
    CHECK(vf_log_append(fd, &len, 2, 8, 2, big, NULL, v, &e) == 0);
    uint64_t at_lsn = len;
    CHECK(vf_log_append(fd, &len, 2, 0, 2, ok, NULL, v, &e) == 0);
    close(fd);
    vf_log_view lv;
    vf_rows r;
    CHECK(vf_log_map(dirfd_, "g-2.log", len, &lv, &e) == 0);
    uint64_t off = VF_LOG_HEADER_SIZE;
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == 1);
    char want[200];
    snprintf(want, sizeof want, "log: record at offset %" PRIu64 " has a NaN or infinite value", at_nan);
    CHECK_MSG(vf_log_next(&lv, &off, len, &r, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    off = at_inf;
    snprintf(want, sizeof want, "log: record at offset %" PRIu64 " has a NaN or infinite value", at_inf);
    CHECK_MSG(vf_log_next(&lv, &off, len, &r, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    off = at_id;
    snprintf(want, sizeof want, "log: record at offset %" PRIu64 ": row 1 has id 9223372036854775808, above 2^63-1",
             at_id);
    CHECK_MSG(vf_log_next(&lv, &off, len, &r, &e) == VF_ECORRUPT && !strcmp(e.msg, want), "%s", e.msg);
    off = at_lsn;
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == VF_ECORRUPT && strstr(e.msg, "has lsn 0"));
    off = 8; /* inside the header */
    CHECK(vf_log_next(&lv, &off, len, &r, &e) == VF_ECORRUPT);
    vf_log_unmap(&lv);

    /* tombstone files: reserved fields, size against count, order */
    vf_tomb t[2] = {{5, 2}, {1, 9}};
    CHECK(vf_tomb_write(dirfd_, "t2.tomb", t, 2, &e) == 0);
    size_t flen;
    char path[600];
    snprintf(path, sizeof path, "%s/t2.tomb", dir);
    unsigned char *good = slurp(path, &flen), *b = malloc(flen + 64);
    CHECK(good && flen == 72);
    static const struct {
        size_t off;
        uint64_t val;
        int width;
        const char *msg;
    } tb[] = {
        {12, 1, 4, "reserved header fields are not zero"},
        {24, 1, 8, "reserved header fields are not zero"},
        {68, 1, 4, "reserved trailer field is not zero"},
        {16, 3, 8, "size 72 does not match its count of 3 entries"},
        {16, (uint64_t)1 << 60, 8, "size 72 does not match its count of 1152921504606846976 entries"},
        {32, (uint64_t)1 << 63, 8, "entry 0 is out of range or out of order"},
        {40, 0, 8, "entry 0 is out of range or out of order"},
        {48, 0, 8, "entry 1 is out of range or out of order"},
    };
    for (size_t i = 0; i < sizeof tb / sizeof tb[0]; i++) {
        memcpy(b, good, flen);
        memcpy(b + tb[i].off, &tb[i].val, (size_t)tb[i].width);
        if (tb[i].off != 68)
            put32(b + 64, vf_crc32(0, b, 64));
        put_file(dirfd_, "t3.tomb", b, flen);
        vf_tomb *r2;
        size_t n;
        int rc = vf_tomb_read(dirfd_, "t3.tomb", &r2, &n, &e);
        CHECK_MSG(rc == VF_ECORRUPT && strstr(e.msg, tb[i].msg), "tomb case %zu: %d %s", i, rc, rc ? e.msg : "");
        if (rc == 0)
            free(r2);
    }
    free(good);
    free(b);
}

/* Writes a partial of nq x k (header only when hits is 0) to fd. */
static void partial_bytes(unsigned char *h, uint32_t nq, uint32_t k)
{
    memset(h, 0, 32);
    memcpy(h, "\x89VPRT\r\n\x1a", 8);
    h[8] = 1;
    h[10] = 1;
    put32(h + 12, VF_METRIC_L2);
    put32(h + 16, nq);
    put32(h + 20, k);
}

static void test_partial_hostile(void)
{
    vf_error e;
    vf_partial_hdr h;
    float *d;
    uint64_t *ids;
    /* a 100-byte file announcing 10^9 hits is refused before any allocation,
       and so is the same header on a pipe, under a 256 MiB address-space
       limit (the reader used to allocate 12 GB up front) */
    unsigned char hdr[100];
    memset(hdr, 0, sizeof hdr);
    partial_bytes(hdr, 1000, 1000000);
    put_file(dirfd_, "huge.part", hdr, sizeof hdr);
    int fd = openat(dirfd_, "huge.part", O_RDONLY);
    CHECK(vf_partial_read_fd(fd, &h, &d, &ids, "huge.part", &e) == VF_ECORRUPT &&
          !strcmp(e.msg, "'huge.part': truncated partial result"));
    close(fd);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        struct rlimit rl;
        getrlimit(RLIMIT_AS, &rl);
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1)
            _exit(3);
        fclose(f);
        rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
        setrlimit(RLIMIT_AS, &rl);
        vf_error e2;
        int rc = vf_partial_read_fd(p[0], &h, &d, &ids, "pipe", &e2);
        _exit(rc == VF_ECORRUPT && strstr(e2.msg, "truncated") ? 0 : rc == VF_ENOMEM ? 4 : 5);
    }
    close(p[0]);
    CHECK(write(p[1], hdr, sizeof hdr) == (ssize_t)sizeof hdr);
    close(p[1]);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "partial header on a pipe: status %d", status);

    /* k above the cap */
    partial_bytes(hdr, 1, VF_PARTIAL_K_MAX + 1);
    put_file(dirfd_, "k.part", hdr, 40);
    fd = openat(dirfd_, "k.part", O_RDONLY);
    CHECK(vf_partial_read_fd(fd, &h, &d, &ids, "k.part", &e) == VF_ECORRUPT && strstr(e.msg, "bad partial result header"));
    close(fd);

    /* reserved fields, ids, NaN and order of hits, with valid CRCs */
    vf_partial_hdr ph = {VF_METRIC_L2, 1, 3, 9};
    static const struct {
        float d[3];
        uint64_t id[3];
        int zero_at; /* hit whose zero field is set, or -1; 3: the trailer's */
        const char *msg;
    } pc[] = {
        {{1, 2, INFINITY}, {4, 5, UINT64_MAX}, -1, NULL},
        {{1, 2, INFINITY}, {4, 5, UINT64_MAX}, 1, "'p': reserved field is not zero"},
        {{1, 2, INFINITY}, {4, 5, UINT64_MAX}, 3, "'p': reserved field is not zero"},
        {{1, NAN, INFINITY}, {4, 5, UINT64_MAX}, -1, "'p': query 0: hit 2 is out of range or out of order"},
        {{1, 2, 3}, {4, (uint64_t)1 << 63, 6}, -1, "'p': query 0: hit 2 is out of range or out of order"},
        {{2, 1, INFINITY}, {4, 5, UINT64_MAX}, -1, "'p': query 0: hit 2 is out of range or out of order"},
        {{1, 1, INFINITY}, {5, 4, UINT64_MAX}, -1, "'p': query 0: hit 2 is out of range or out of order"},
        {{1, INFINITY, 2}, {4, UINT64_MAX, 5}, -1, "'p': query 0: hit 3 is out of range or out of order"},
        {{1, 2, 3}, {4, 5, UINT64_MAX}, -1, "'p': query 0: hit 3 is out of range or out of order"},
    };
    for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++) {
        fd = openat(dirfd_, "v.part", O_RDWR | O_CREAT | O_TRUNC, 0644);
        CHECK(vf_partial_write_fd(fd, &ph, pc[i].d, pc[i].id, "p", &e) == 0);
        if (pc[i].zero_at >= 0) {
            unsigned char all[32 + 48 + 8];
            CHECK(pread(fd, all, sizeof all, 0) == (ssize_t)sizeof all);
            all[pc[i].zero_at < 3 ? 32 + 16 * pc[i].zero_at + 4 : 32 + 48 + 4] = 1;
            put32(all + 80, vf_crc32(0, all, 80));
            CHECK(pwrite(fd, all, sizeof all, 0) == (ssize_t)sizeof all);
        }
        lseek(fd, 0, SEEK_SET);
        int rc = vf_partial_read_fd(fd, &h, &d, &ids, "p", &e);
        CHECK_MSG(pc[i].msg ? rc == VF_ECORRUPT && !strcmp(e.msg, pc[i].msg) : rc == 0, "partial case %zu: %d %s", i,
                  rc, rc ? e.msg : "");
        if (rc == 0) {
            free(d);
            free(ids);
        }
        close(fd);
    }
}

int main(int argc, char **argv)
{
    int write_golden = argc > 1 && strcmp(argv[1], "--write-golden") == 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vecseg-format-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return 2;
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    alarm(60); /* a read that hangs (a FIFO) fails the test instead */
    test_segment(write_golden);
    test_manifest();
    test_manifest_hostile();
    test_log();
    test_tomb_partial();
    test_containment();
    test_values();
    test_partial_hostile();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 2;
    UNIT_DONE();
}
