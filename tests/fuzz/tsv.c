/* tsv - fuzz target: the reader of tsv text (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_TSV
#define FUZZ_EXT ".tsv"
#include "fuzz_reader.h"
