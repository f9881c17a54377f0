/*
 * test_dl.c - loading a library on first use (lib/util/dl.c) and the OpenBLAS shim on it
 * (lib/util/blas.c): a missing library or symbol is one error, the same every time, with no
 * pointer left half filled; a library the program already has is the same copy; callers racing
 * on the first load all see it done.
 */
#include <pthread.h>
#include <string.h>
#include <zlib.h>

#include "unit.h"
#include "util/blas.h"
#include "util/dl.h"

static void test_missing_library(void)
{
    void *p = NULL;
    vs_dl_sym syms[] = {{"anything", &p, 0}};
    vs_dl_lib lib = {"Test", "libvecseg-no-such-library.so.7", syms, 1, 0, 0, ""};
    for (int round = 0; round < 2; round++) { /* the outcome is remembered, and said again */
        vf_error e = {0};
        CHECK(vs_dl_load(&lib, &e) == VF_EUNSUPPORTED);
        CHECK(e.code == VF_EUNSUPPORTED);
        CHECK_MSG(!strncmp(e.msg, "cannot load Test: ", 18) && strstr(e.msg, "libvecseg-no-such-library.so.7"),
                  "%s", e.msg);
        CHECK(p == NULL);
    }
    CHECK(vs_dl_load(&lib, NULL) == VF_EUNSUPPORTED); /* err may be NULL */
}

static void test_missing_symbol(void)
{
    void *crc = NULL, *none = (void *)&crc;
    vs_dl_sym syms[] = {{"crc32", &crc, 0}, {"vecseg_no_such_symbol", &none, 0}};
    vs_dl_lib lib = {"zlib", "libz.so.1", syms, 2, 0, 0, ""};
    vf_error e = {0};
    CHECK(vs_dl_load(&lib, &e) == VF_EUNSUPPORTED);
    CHECK_MSG(!strcmp(e.msg, "cannot load zlib: 'libz.so.1' has no symbol 'vecseg_no_such_symbol'"), "%s", e.msg);
    CHECK(crc == NULL); /* all or none */
}

/* zlib is linked into this program: the library loaded by name is that very copy */
static const char *(*version)(void);
static vs_dl_sym zsyms[] = {{"zlibVersion", (void **)&version, 0}};
static vs_dl_lib zlib = {"zlib", "libz.so.1", zsyms, 1, 0, 0, ""};

static void *load_zlib(void *arg)
{
    (void)arg;
    return (void *)(size_t)(vs_dl_load(&zlib, NULL) == 0 && version != NULL);
}

static void test_race_and_same_copy(void)
{
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&t[i], NULL, load_zlib, NULL) == 0);
    for (int i = 0; i < 8; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        CHECK(ok == (void *)1);
    }
    CHECK(version == zlibVersion);
    CHECK(!strcmp(version(), ZLIB_VERSION));
}

static void test_blas(void)
{
    vf_error e = {0};
    CHECK_MSG(vs_blas_serial(&e) == 0, "%s", e.msg);
    CHECK(vs_blas_sgemm != NULL);
    /* C = A B^T, as lib/ calls it: [1 2; 3 4] [5 6; 7 8]^T */
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float c[4] = {0};
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    CHECK(c[0] == 17 && c[1] == 23 && c[2] == 39 && c[3] == 53);
    CHECK(openblas_get_num_threads() == 1); /* the serial rule; this program links OpenBLAS too */
}

int main(void)
{
    test_missing_library();
    test_missing_symbol();
    test_race_and_same_copy();
    test_blas();
    UNIT_DONE();
}
