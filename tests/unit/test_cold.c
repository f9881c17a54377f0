/*
 * test_cold.c - a sealed segment with its vectors apart (SPEC.md 5.6.1): the
 * .vseg/.vcold pair written by format/'s calls, read back through
 * vf_seg_vectors, and refused, never followed, when the .vcold is missing,
 * truncated, swapped with another segment's or a link; a version-1 reader
 * refuses the .vseg ([R-VERSION]).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "vecseg_format.h"

extern unsigned vf_seg_read_version_max; /* format_internal.h: the test plays a version-1 reader */

static char dir[256];
static int dirfd_;

#define N 5
#define D 3

/* Writes s-NNNNNNNN.vseg with its vectors in s-NNNNNNNN.vcold; rows of id i, vector base + i. */
static int write_pair(uint64_t num, float base)
{
    float vec[N * D], norms[N];
    uint64_t ids[N], lsns[N];
    for (int i = 0; i < N; i++) {
        ids[i] = (uint64_t)i;
        lsns[i] = 1;
        norms[i] = 0;
        for (int j = 0; j < D; j++) {
            vec[i * D + j] = base + (float)i + (float)j;
            norms[i] += vec[i * D + j] * vec[i * D + j];
        }
    }
    char name[VF_NAME_MAX], cold[VF_NAME_MAX];
    vf_file_name(name, 's', num);
    if (vf_cold_name(cold, sizeof cold, name))
        return -1;
    vf_seg_info info = {D, VF_ELEM_F32, VF_METRIC_L2, 0, 0, N};
    vf_cold_ref ref;
    vf_error e;
    vf_seg_writer *w;
    int rc = vf_seg_write_cold(dirfd_, cold, &info, vec, &ref, &e);
    if (rc == 0)
        rc = vf_seg_writer_open(&w, dirfd_, name, &info, &e);
    if (rc == 0) {
        if (vf_seg_writer_cold_ref(w, &ref, &e) || vf_seg_writer_section(w, VF_SEC_IDS, 1, ids, sizeof ids, &e) ||
            vf_seg_writer_section(w, VF_SEC_LSNS, 1, lsns, sizeof lsns, &e) ||
            vf_seg_writer_section(w, VF_SEC_NORMS, 0, norms, sizeof norms, &e)) {
            vf_seg_writer_abort(w);
            return -1;
        }
        rc = vf_seg_writer_finish(w, NULL, &e);
    }
    if (rc)
        fprintf(stderr, "write_pair: %s\n", e.msg);
    return rc;
}

/* Opens s-00000001.vseg and reads its vectors: 0, or the failing code with e filled. */
static int open_read(const char *name, vf_error *e)
{
    vf_seg *s;
    const float *v;
    int rc = vf_seg_open(&s, dirfd_, name, e);
    if (rc)
        return rc;
    rc = vf_seg_vectors(s, &v, e);
    if (rc == 0)
        rc = vf_seg_verify(s, e);
    vf_seg_close(s);
    return rc;
}

static void cp(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", dir, from, dir, to);
    CHECK(system(cmd) == 0);
}

static void test_round_trip(void)
{
    CHECK(write_pair(1, 0.5f) == 0);
    vf_seg *s;
    vf_error e;
    CHECK(vf_seg_open(&s, dirfd_, "s-00000001.vseg", &e) == 0);
    const vf_seg_info *in = vf_seg_get_info(s);
    CHECK(in->flags == VF_SEG_FLAG_APART && in->rows == N);
    CHECK(vf_seg_section(s, VF_SEC_VECTORS, NULL) == NULL); /* VECTORS only through the accessor */
    struct stat st;
    CHECK(fstatat(dirfd_, "s-00000001.vcold", &st, 0) == 0 && (uint64_t)st.st_size == vf_seg_cold_size(s));
    const float *v = NULL, *v2 = NULL;
    CHECK(vf_seg_vectors(s, &v, &e) == 0 && v && v[0] == 0.5f && v[N * D - 1] == 0.5f + (N - 1) + (D - 1));
    CHECK(vf_seg_vectors(s, &v2, &e) == 0 && v2 == v); /* mapped once */
    CHECK(vf_seg_verify(s, &e) == 0);
    vf_seg_close(s);
    /* both files carry read_version 2 */
    unsigned char h[10];
    int fd = openat(dirfd_, "s-00000001.vseg", O_RDONLY);
    CHECK(fd >= 0 && pread(fd, h, 10, 0) == 10 && h[8] == 2 && h[9] == 0);
    close(fd);
    fd = openat(dirfd_, "s-00000001.vcold", O_RDONLY);
    CHECK(fd >= 0 && pread(fd, h, 10, 0) == 10 && h[8] == 2);
    close(fd);
    /* a .vcold is not a segment by itself */
    CHECK(vf_seg_open(&s, dirfd_, "s-00000001.vcold", &e) == VF_ECORRUPT && strstr(e.msg, "a cold file"));
}

/* [R-VERSION] a reader that knows only version 1 refuses the .vseg, and still reads a plain one */
static void test_version_one_reader(void)
{
    vf_seg *s;
    vf_error e;
    vf_seg_read_version_max = 1;
    CHECK(vf_seg_open(&s, dirfd_, "s-00000001.vseg", &e) == VF_EVERSION &&
          !strcmp(e.msg, "'s-00000001.vseg': needs reader version 2 (this reads 1)"));
    static const float v[D] = {1, 2, 3};
    static const uint64_t one = 1;
    vf_seg_info info = {D, VF_ELEM_F32, VF_METRIC_L2, 0, 0, 1};
    vf_seg_writer *w;
    CHECK(vf_seg_writer_open(&w, dirfd_, "plain.vseg", &info, &e) == 0);
    CHECK(vf_seg_writer_section(w, VF_SEC_VECTORS, 1, v, sizeof v, &e) == 0);
    CHECK(vf_seg_writer_section(w, VF_SEC_IDS, 1, &one, 8, &e) == 0);
    CHECK(vf_seg_writer_section(w, VF_SEC_LSNS, 1, &one, 8, &e) == 0);
    CHECK(vf_seg_writer_finish(w, NULL, &e) == 0);
    CHECK(vf_seg_open(&s, dirfd_, "plain.vseg", &e) == 0);
    vf_seg_close(s);
    vf_seg_read_version_max = VF_SEG_VERSION;
}

static void test_damage(void)
{
    vf_error e;
    CHECK(write_pair(2, 100.0f) == 0);
    /* missing: ENOENT from a collection's open (the caller tells GC from damage) */
    CHECK(renameat(dirfd_, "s-00000001.vcold", dirfd_, "keep.vcold") == 0);
    CHECK(open_read("s-00000001.vseg", &e) == VF_ENOENT &&
          !strcmp(e.msg, "'s-00000001.vcold': missing (the vectors of 's-00000001.vseg')"));
    /* ... damage when the user named the .vseg */
    char path[600];
    vf_seg *s;
    snprintf(path, sizeof path, "%s/s-00000001.vseg", dir);
    CHECK(vf_seg_open_path(&s, path, &e) == VF_ECORRUPT && strstr(e.msg, "missing"));
    /* swapped: another segment's .vcold of the same size fails COLD_REF's footer CRC */
    cp("s-00000002.vcold", "s-00000001.vcold");
    CHECK(open_read("s-00000001.vseg", &e) == VF_ECORRUPT &&
          !strcmp(e.msg, "'s-00000001.vcold': does not belong to its segment (footer checksum differs)"));
    /* ... caught at the first read of VECTORS, not at open: a search that re-ranks nothing never maps it */
    CHECK(vf_seg_open(&s, dirfd_, "s-00000001.vseg", &e) == 0);
    vf_seg_close(s);
    /* truncated: the size COLD_REF gives is checked at open */
    cp("keep.vcold", "s-00000001.vcold");
    CHECK(truncate(strcat(strcpy(path, dir), "/s-00000001.vcold"), 100) == 0);
    CHECK(open_read("s-00000001.vseg", &e) == VF_ECORRUPT && strstr(e.msg, "100 bytes, but 's-00000001.vseg' pairs"));
    /* a flipped vector byte: COLD_REF holds (the footer is intact), verification finds it */
    cp("keep.vcold", "s-00000001.vcold");
    int fd = openat(dirfd_, "s-00000001.vcold", O_RDWR);
    unsigned char b;
    CHECK(fd >= 0 && pread(fd, &b, 1, 64) == 1);
    b ^= 1;
    CHECK(pwrite(fd, &b, 1, 64) == 1);
    close(fd);
    CHECK(open_read("s-00000001.vseg", &e) == VF_ECORRUPT &&
          !strcmp(e.msg, "'s-00000001.vcold': section 1 fails its checksum"));
    /* a symbolic link in its place is refused, never followed [R-FILES] */
    CHECK(unlinkat(dirfd_, "s-00000001.vcold", 0) == 0 && symlinkat("keep.vcold", dirfd_, "s-00000001.vcold") == 0);
    CHECK(open_read("s-00000001.vseg", &e) == VF_ECORRUPT && strstr(e.msg, "symbolic link"));
    CHECK(unlinkat(dirfd_, "s-00000001.vcold", 0) == 0);
    CHECK(renameat(dirfd_, "keep.vcold", dirfd_, "s-00000001.vcold") == 0);
    CHECK(open_read("s-00000001.vseg", &e) == 0);
}

static void test_names(void)
{
    char c[VF_NAME_MAX];
    CHECK(vf_cold_name(c, sizeof c, "s-00000012.vseg") == 0 && !strcmp(c, "s-00000012.vcold"));
    CHECK(vf_cold_name(c, sizeof c, "dir/s-00000012.vseg") == 0 && !strcmp(c, "dir/s-00000012.vcold"));
    CHECK(vf_cold_name(c, sizeof c, "s-00000012.log") == -1);
    CHECK(vf_cold_name(c, 10, "s-00000012.vseg") == -1);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vecseg-cold-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return 2;
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    test_round_trip();
    test_version_one_reader();
    test_damage();
    test_names();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 2;
    UNIT_DONE();
}
