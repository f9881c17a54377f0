/* npy - fuzz target: the reader of npy files (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_NPY
#define FUZZ_EXT ".npy"
#include "fuzz_reader.h"
