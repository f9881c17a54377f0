/* csv - fuzz target: the reader of csv text (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_CSV
#define FUZZ_EXT ".csv"
#include "fuzz_reader.h"
