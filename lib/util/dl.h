/*
 * dl.h - a shared library loaded on first use (internal to lib/).
 *
 * lib/ links neither OpenBLAS nor HDF5: most commands need neither (one query through an index,
 * an ingest of fvecs), and loading and initialising both at start was most of the time of a
 * short command.  Each has a shim (util/blas.c, io/hdf5_lib.c) holding pointers to the calls
 * lib/ makes; the first caller that needs the library loads it with vs_dl_load, by the soname it
 * had when vecseg was built (the Makefile passes it), and then calls through the pointers.
 */
#ifndef VS_DL_H
#define VS_DL_H

#include <stdatomic.h>
#include <stddef.h>

#include "vecseg.h"

typedef struct vs_dl_sym {
    const char *name;
    void **at; /* where its address goes (a function pointer, through the POSIX cast) */
    /* a variable: a program that links the library itself holds the copy of it the library
       uses (a copy relocation), so the program's definition is taken first, as the library's
       own code finds it */
    int data;
} vs_dl_sym;

typedef struct vs_dl_lib {
    const char *what;   /* for messages: "OpenBLAS" */
    const char *soname; /* "libopenblas.so.0" */
    const vs_dl_sym *syms;
    size_t nsyms;
    /* the outcome of the one attempt: later calls report it again */
    atomic_int done;
    int rc;
    char msg[VF_ERROR_MSG_MAX];
} vs_dl_lib;

/*
 * Loads lib and fills every symbol's pointer, once per process (the first call does the work,
 * others wait for it; the library is never unloaded).  Returns 0, or VF_EUNSUPPORTED when the
 * library or one of its symbols is missing, with a message naming the soname, every time.
 */
int vs_dl_load(vs_dl_lib *lib, vf_error *err);

#endif
