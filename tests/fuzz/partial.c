/*
 * partial - fuzz target: the partial-result reader and the merge of vec-query --merge.
 *
 * The input is a partial result.  The trailer CRC is fixed up when the header's entry count
 * fits the input; the bytes are read from a memory file descriptor (as from a pipe) with
 * vs_hits_read_partial, and the lists are merged twice into an accumulator and reported as
 * --merge does with two files.
 */
#include <sys/mman.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = fz_copy(data, size);
    if (size >= VF_PARTIAL_HEADER_SIZE) {
        uint64_t total = (uint64_t)fz_get32(b + 16) * fz_get32(b + 20);
        if (total <= (size - VF_PARTIAL_HEADER_SIZE) / 16) {
            uint64_t end = VF_PARTIAL_HEADER_SIZE + total * 16;
            fz_fix_crc(b, size, end, 0, end);
        }
    }
    int fd = memfd_create("partial", MFD_CLOEXEC);
    if (fd < 0 || write(fd, b, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    free(b);
    vf_partial_hdr h;
    vs_hit *hits;
    int rc = vs_hits_read_partial(fd, &h, &hits, "partial", NULL);
    close(fd);
    if (rc)
        return 0;
    size_t total = (size_t)h.nq * h.k;
    vs_hit *acc = malloc((total ? total : 1) * sizeof *acc);
    uint64_t *ids = malloc((total ? total : 1) * sizeof *ids);
    float *dist = malloc((total ? total : 1) * sizeof *dist);
    if (!acc || !ids || !dist)
        abort();
    vs_hits_clear(acc, total);
    for (int pass = 0; pass < 2; pass++)
        if (vs_hits_merge_lists(acc, hits, h.nq, h.k, NULL))
            abort();
    vs_hits_report(acc, total, (int)h.metric, ids, dist);
    free(acc);
    free(ids);
    free(dist);
    free(hits);
    return 0;
}
