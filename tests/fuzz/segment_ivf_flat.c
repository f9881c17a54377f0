/* segment_ivf_flat - fuzz target: the segment opener and the search of IVF_FLAT segments. */
#define FUZZ_INDEX VS_INDEX_IVF_FLAT
#include "fuzz_segment.h"
