/*
 * test_format.c - the format layer: write, read back, corrupt one byte,
 * reject.  Also regenerates and checks the golden files of SPEC.md section
 * 11: tests/golden/tiny.vseg and the broken variants in tests/golden-errors/
 * (run with --write-golden from the repository root to rewrite them).
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    if (table + (uint64_t)nsec * 32 + 32 == len)
        crc = vf_crc32(crc, b + table, (size_t)nsec * 32);
    put32(b + len - 16, crc);
}

typedef struct variant {
    const char *name;   /* file in tests/golden-errors/ */
    int code;
    const char *msg;    /* expected message after the file name */
} variant;

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
        b[8] = 2;
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
    }
    return len;
}

static const variant variants[] = {
    {"bad-magic.vseg", VF_ECORRUPT, "not a vecseg segment (bad magic)"},
    {"header-crc.vseg", VF_ECORRUPT, "header checksum mismatch"},
    {"truncated.vseg", VF_ECORRUPT, "truncated (footer missing or size mismatch)"},
    {"newer-version.vseg", VF_EVERSION, "needs reader version 2 (this reads 1)"},
    {"section-out-of-bounds.vseg", VF_ECORRUPT, "section 1 out of bounds"},
    {"unknown-required-section.vseg", VF_EVERSION, "required section 99 is unknown to this reader"},
    {"table-crc.vseg", VF_ECORRUPT, "header/table checksum mismatch"},
    {"short-vectors.vseg", VF_ECORRUPT, "section 1 has length 44, expected 48"},
};

static void test_segment(int write_golden)
{
    CHECK(write_tiny("tiny.vseg") == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.vseg", dir);
    size_t len, glen;
    unsigned char *b = slurp(path, &len);
    CHECK(b && len == 576);
    if (write_golden)
        spit("tests/golden/tiny.vseg", b, len);
    /* [R-SEG-DETERMINISTIC] the same calls give the same bytes */
    unsigned char *g = slurp("tests/golden/tiny.vseg", &glen);
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
        char gp[512];
        snprintf(gp, sizeof gp, "tests/golden-errors/%s", v->name);
        if (write_golden)
            spit(gp, c, n);
        size_t gl;
        unsigned char *gb = slurp(gp, &gl);
        CHECK_MSG(gb && gl == n && memcmp(gb, c, n) == 0, "%s differs from its regenerated bytes", gp);
        free(gb);
        int rc = vf_seg_open_path(&s, gp, &e);
        char want[600];
        snprintf(want, sizeof want, "'%s': %s", gp, v->msg);
        CHECK_MSG(rc == v->code && strcmp(e.msg, want) == 0, "%s: got %d '%s'", v->name, rc, rc ? e.msg : "");
        if (rc == 0)
            vf_seg_close(s);
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
    vf_shard_ent sh = {0, 0, 0};
    vf_growing_ent g = {"g-00000001.log", 0, 32, 4096, 12, ""};
    vf_sealed_ent se = {"s-00000001.vseg", 0, 1000, 65536, "node-a"};
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
    v2[16] = '2';
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

int main(int argc, char **argv)
{
    int write_golden = argc > 1 && strcmp(argv[1], "--write-golden") == 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vecseg-format-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return 2;
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    test_segment(write_golden);
    test_manifest();
    test_log();
    test_tomb_partial();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 2;
    UNIT_DONE();
}
