/*
 * hdf5_lib.c - the HDF5 shim (see hdf5_lib.h): the calls and globals io_hdf5.c uses, loaded on
 * first use.
 */
#include "io/hdf5_lib.h"
#include "util/dl.h"

/* the soname of the HDF5 vecseg was built against (the Makefile finds it) */
#ifndef VS_HDF5_SONAME
#define VS_HDF5_SONAME "libhdf5_serial.so.103"
#endif

vs_h5_lib vs_h5;

#define VS_H5_CALL(name) {#name, (void **)&vs_h5.p_##name, 0},
#define VS_H5_GLOBAL(name) {#name, (void **)&vs_h5.p_##name, 1},
static const vs_dl_sym syms[] = {VS_H5_CALLS(VS_H5_CALL) VS_H5_GLOBALS(VS_H5_GLOBAL)};
static vs_dl_lib hdf5 = {"HDF5", VS_HDF5_SONAME, syms, sizeof syms / sizeof syms[0], 0, 0, ""};

int vs_h5_load(vf_error *err)
{
    return vs_dl_load(&hdf5, err);
}
