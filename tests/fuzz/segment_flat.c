/* segment_flat - fuzz target: the segment opener and the search of FLAT segments (no index: the exact scan). */
#define FUZZ_INDEX VS_INDEX_FLAT
#include "fuzz_segment.h"
