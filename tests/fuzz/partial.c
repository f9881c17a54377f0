/*
 * partial - fuzz target: the partial-result reader and the merge of vec-query --merge.
 *
 * The input is a partial result.  The trailer CRC is fixed up when the header's entry count
 * fits the input; the bytes are read from a memory file descriptor (as from a pipe) with
 * vf_partial_read_fd, and the lists are merged twice into an accumulator as --merge does
 * with two files.
 */
#include <math.h>
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
    float *d;
    uint64_t *id;
    int rc = vf_partial_read_fd(fd, &h, &d, &id, "partial", NULL);
    close(fd);
    if (rc)
        return 0;
    size_t k = h.k, total = (size_t)h.nq * k;
    vs_hit *acc = malloc((total ? total : 1) * sizeof *acc), *tmp = malloc(k * sizeof *tmp),
           *one = malloc(k * sizeof *one);
    if (!acc || !tmp || !one)
        abort();
    for (size_t i = 0; i < total; i++)
        acc[i] = (vs_hit){INFINITY, 0, VS_NO_ID};
    for (int pass = 0; pass < 2; pass++)
        for (size_t q = 0; q < h.nq; q++) {
            size_t na = 0, nb = 0;
            while (na < k && acc[q * k + na].id != VS_NO_ID)
                na++;
            for (size_t j = 0; j < k; j++) {
                one[j] = (vs_hit){d[q * k + j], 0, id[q * k + j]};
                if (id[q * k + j] != VS_NO_ID)
                    nb = j + 1;
            }
            vs_hits_merge(acc + q * k, na, one, nb, tmp, k);
            memcpy(acc + q * k, tmp, k * sizeof *tmp);
        }
    for (size_t i = 0; i < total; i++)
        (void)vs_distance_report((int)h.metric, acc[i].dist);
    free(acc);
    free(tmp);
    free(one);
    free(d);
    free(id);
    return 0;
}
