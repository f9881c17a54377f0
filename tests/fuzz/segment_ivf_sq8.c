/* segment_ivf_sq8 - fuzz target: the segment opener and the search of IVF_SQ8 segments. */
#define FUZZ_INDEX VS_INDEX_IVF_SQ8
#include "fuzz_segment.h"
