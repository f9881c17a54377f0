/* txt - fuzz target: the reader of txt text (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_TXT
#define FUZZ_EXT ".txt"
#include "fuzz_reader.h"
