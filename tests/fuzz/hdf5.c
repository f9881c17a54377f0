/* hdf5 - fuzz target: the reader of HDF5 files (the file's only dataset), through the HDF5 library (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_HDF5
#define FUZZ_EXT ".h5"
#include "fuzz_reader.h"
