/* jsonl - fuzz target: the reader of JSON lines (see fuzz_reader.h). */
#define FUZZ_FORMAT VS_FMT_JSONL
#define FUZZ_EXT ".jsonl"
#include "fuzz_reader.h"
