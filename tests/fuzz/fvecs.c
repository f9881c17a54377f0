/* fvecs - fuzz target: the reader of fvecs files (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_FVECS
#define FUZZ_EXT ".fvecs"
#include "fuzz_reader.h"
