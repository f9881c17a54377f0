/* segment_hnsw - fuzz target: the segment opener and the search of HNSW segments. */
#define FUZZ_INDEX VS_INDEX_HNSW
#include "fuzz_segment.h"
