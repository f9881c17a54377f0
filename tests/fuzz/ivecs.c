/* ivecs - fuzz target: the reader of ivecs files (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_IVECS
#define FUZZ_EXT ".ivecs"
#include "fuzz_reader.h"
