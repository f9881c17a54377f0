/*
 * blas.c - the OpenBLAS shim (see blas.h): three calls, loaded on first use.
 */
#include "util/blas.h"
#include "util/dl.h"

/* the soname of the OpenBLAS vecseg was built against (the Makefile finds it) */
#ifndef VS_OPENBLAS_SONAME
#define VS_OPENBLAS_SONAME "libopenblas.so.0"
#endif

__typeof__(cblas_sgemm) *vs_blas_sgemm;
static int (*get_num_threads)(void);
static void (*set_num_threads)(int);

static const vs_dl_sym syms[] = {
    {"cblas_sgemm", (void **)&vs_blas_sgemm, 0},
    {"openblas_get_num_threads", (void **)&get_num_threads, 0},
    {"openblas_set_num_threads", (void **)&set_num_threads, 0},
};
static vs_dl_lib openblas = {"OpenBLAS", VS_OPENBLAS_SONAME, syms, sizeof syms / sizeof syms[0], 0, 0, ""};

int vs_blas_serial(vf_error *err)
{
    int rc = vs_dl_load(&openblas, err);
    if (rc)
        return rc;
    if (get_num_threads() != 1)
        set_num_threads(1);
    return 0;
}
