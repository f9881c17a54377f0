/* bvecs - fuzz target: the reader of bvecs files (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_BVECS
#define FUZZ_EXT ".bvecs"
#include "fuzz_reader.h"
