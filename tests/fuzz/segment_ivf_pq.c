/* segment_ivf_pq - fuzz target: the segment opener and the search of IVF_PQ segments. */
#define FUZZ_INDEX VS_INDEX_IVF_PQ
#include "fuzz_segment.h"
