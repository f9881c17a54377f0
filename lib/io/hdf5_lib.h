/*
 * hdf5_lib.h - HDF5, loaded on first use (internal to io/; see util/dl.h for why).
 *
 * Included by io_hdf5.c after <hdf5.h>: every HDF5 call and global that file uses is renamed
 * here to the pointer vs_h5_load filled, so the file reads as plain HDF5 code and links no HDF5
 * symbol (HDF5's constants such as H5T_NATIVE_FLOAT expand to H5open() and a global, both
 * renamed).  A call or global used without being listed here shows as an undefined HDF5 symbol
 * in libvecseg.a, which tests/startup.bats checks for.  The names are HDF5 1.10's.
 */
#ifndef VS_HDF5_LIB_H
#define VS_HDF5_LIB_H

#include <hdf5.h>

#include "vecseg.h"

#define VS_H5_CALLS(X)                                                                                         \
    X(H5open) X(H5check_version) X(H5Eset_auto2) X(H5Fis_hdf5) X(H5Fopen) X(H5Fcreate) X(H5Fclose)             \
    X(H5Literate) X(H5Lexists) X(H5Oget_info_by_name) X(H5Dopen2) X(H5Dcreate2) X(H5Dclose) X(H5Dread)         \
    X(H5Dwrite) X(H5Dget_type) X(H5Dget_space) X(H5Dget_create_plist) X(H5Dget_storage_size) X(H5Pcreate)      \
    X(H5Pclose) X(H5Pset_chunk_cache) X(H5Pget_layout) X(H5Screate_simple) X(H5Sclose)                         \
    X(H5Sselect_hyperslab) X(H5Sget_simple_extent_ndims) X(H5Sget_simple_extent_dims) X(H5Tclose)              \
    X(H5Tget_class) X(H5Tget_size) X(H5Tget_sign)                                                              \
    X(H5Aclose) X(H5Acreate2) X(H5Aexists) X(H5Aget_type) X(H5Aopen) X(H5Aread) X(H5Awrite) X(H5Pset_obj_track_times) \
    X(H5Screate) X(H5Tcopy) X(H5Tget_cset) X(H5Tis_variable_str) X(H5Tset_cset) X(H5Tset_size) X(H5free_memory) X(H5Tenum_create) X(H5Tenum_insert)
#define VS_H5_GLOBALS(X)                                                                                       \
    X(H5T_NATIVE_FLOAT_g) X(H5T_NATIVE_DOUBLE_g) X(H5T_NATIVE_UINT8_g) X(H5T_NATIVE_UINT32_g)                  \
    X(H5T_NATIVE_UINT64_g) X(H5T_NATIVE_INT32_g) X(H5T_NATIVE_INT64_g) X(H5T_STD_I64LE_g) X(H5T_IEEE_F32LE_g)  \
    X(H5P_CLS_DATASET_ACCESS_ID_g) X(H5P_CLS_DATASET_CREATE_ID_g) X(H5P_CLS_FILE_CREATE_ID_g) X(H5T_C_S1_g) X(H5T_NATIVE_INT8_g)

typedef struct vs_h5_lib {
#define VS_H5_MEMBER(name) __typeof__(name) *p_##name;
    VS_H5_CALLS(VS_H5_MEMBER)
    VS_H5_GLOBALS(VS_H5_MEMBER)
#undef VS_H5_MEMBER
} vs_h5_lib;
extern vs_h5_lib vs_h5;

/* Loads HDF5 if not yet loaded; 0, or VF_EUNSUPPORTED when it cannot be (util/dl.h). */
int vs_h5_load(vf_error *err);

#define H5open (*vs_h5.p_H5open)
#define H5check_version (*vs_h5.p_H5check_version)
#define H5Eset_auto2 (*vs_h5.p_H5Eset_auto2)
#define H5Fis_hdf5 (*vs_h5.p_H5Fis_hdf5)
#define H5Fopen (*vs_h5.p_H5Fopen)
#define H5Fcreate (*vs_h5.p_H5Fcreate)
#define H5Fclose (*vs_h5.p_H5Fclose)
#define H5Literate (*vs_h5.p_H5Literate)
#define H5Lexists (*vs_h5.p_H5Lexists)
#define H5Oget_info_by_name (*vs_h5.p_H5Oget_info_by_name)
#define H5Dopen2 (*vs_h5.p_H5Dopen2)
#define H5Dcreate2 (*vs_h5.p_H5Dcreate2)
#define H5Dclose (*vs_h5.p_H5Dclose)
#define H5Dread (*vs_h5.p_H5Dread)
#define H5Dwrite (*vs_h5.p_H5Dwrite)
#define H5Dget_type (*vs_h5.p_H5Dget_type)
#define H5Dget_space (*vs_h5.p_H5Dget_space)
#define H5Dget_create_plist (*vs_h5.p_H5Dget_create_plist)
#define H5Dget_storage_size (*vs_h5.p_H5Dget_storage_size)
#define H5Pcreate (*vs_h5.p_H5Pcreate)
#define H5Pclose (*vs_h5.p_H5Pclose)
#define H5Pset_chunk_cache (*vs_h5.p_H5Pset_chunk_cache)
#define H5Pget_layout (*vs_h5.p_H5Pget_layout)
#define H5Screate_simple (*vs_h5.p_H5Screate_simple)
#define H5Sclose (*vs_h5.p_H5Sclose)
#define H5Sselect_hyperslab (*vs_h5.p_H5Sselect_hyperslab)
#define H5Sget_simple_extent_ndims (*vs_h5.p_H5Sget_simple_extent_ndims)
#define H5Sget_simple_extent_dims (*vs_h5.p_H5Sget_simple_extent_dims)
#define H5Tclose (*vs_h5.p_H5Tclose)
#define H5Tget_class (*vs_h5.p_H5Tget_class)
#define H5Tget_size (*vs_h5.p_H5Tget_size)
#define H5Tget_sign (*vs_h5.p_H5Tget_sign)
#define H5T_NATIVE_FLOAT_g (*vs_h5.p_H5T_NATIVE_FLOAT_g)
#define H5T_NATIVE_DOUBLE_g (*vs_h5.p_H5T_NATIVE_DOUBLE_g)
#define H5T_NATIVE_UINT8_g (*vs_h5.p_H5T_NATIVE_UINT8_g)
#define H5T_NATIVE_UINT32_g (*vs_h5.p_H5T_NATIVE_UINT32_g)
#define H5T_NATIVE_UINT64_g (*vs_h5.p_H5T_NATIVE_UINT64_g)
#define H5T_NATIVE_INT32_g (*vs_h5.p_H5T_NATIVE_INT32_g)
#define H5T_NATIVE_INT64_g (*vs_h5.p_H5T_NATIVE_INT64_g)
#define H5T_STD_I64LE_g (*vs_h5.p_H5T_STD_I64LE_g)
#define H5T_IEEE_F32LE_g (*vs_h5.p_H5T_IEEE_F32LE_g)
#define H5P_CLS_DATASET_ACCESS_ID_g (*vs_h5.p_H5P_CLS_DATASET_ACCESS_ID_g)
#define H5Aclose (*vs_h5.p_H5Aclose)
#define H5Acreate2 (*vs_h5.p_H5Acreate2)
#define H5Aexists (*vs_h5.p_H5Aexists)
#define H5Aget_type (*vs_h5.p_H5Aget_type)
#define H5Aopen (*vs_h5.p_H5Aopen)
#define H5Aread (*vs_h5.p_H5Aread)
#define H5Awrite (*vs_h5.p_H5Awrite)
#define H5Pset_obj_track_times (*vs_h5.p_H5Pset_obj_track_times)
#define H5Screate (*vs_h5.p_H5Screate)
#define H5Tcopy (*vs_h5.p_H5Tcopy)
#define H5Tget_cset (*vs_h5.p_H5Tget_cset)
#define H5Tis_variable_str (*vs_h5.p_H5Tis_variable_str)
#define H5Tset_cset (*vs_h5.p_H5Tset_cset)
#define H5Tset_size (*vs_h5.p_H5Tset_size)
#define H5free_memory (*vs_h5.p_H5free_memory)
#define H5P_CLS_DATASET_CREATE_ID_g (*vs_h5.p_H5P_CLS_DATASET_CREATE_ID_g)
#define H5P_CLS_FILE_CREATE_ID_g (*vs_h5.p_H5P_CLS_FILE_CREATE_ID_g)
#define H5T_C_S1_g (*vs_h5.p_H5T_C_S1_g)
#define H5Tenum_create (*vs_h5.p_H5Tenum_create)
#define H5Tenum_insert (*vs_h5.p_H5Tenum_insert)
#define H5T_NATIVE_INT8_g (*vs_h5.p_H5T_NATIVE_INT8_g)

#endif
