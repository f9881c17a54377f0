/*
 * fuzz_reader.h - the body of the foreign-format targets (npy, fvecs, bvecs, ivecs, csv, tsv,
 * txt, hdf5): one reader of lib/io, fed a file.
 *
 * The input is written to a file named with the format's extension (FUZZ_EXT) and read the
 * two ways the tools read: streamed in small batches as float32 (vec-ingest; text also with an
 * id column and with id and key columns), and loaded whole as float32 and as int64 (vec-query's
 * queries, ids and ground truth).  The format is forced (FUZZ_FORMAT), so every input reaches
 * the reader under test.
 */
#ifndef FUZZ_READER_H
#define FUZZ_READER_H

#include "fuzz.h"

#define IN "in" FUZZ_EXT

static void stream(const char *path, int id_col, int key_col)
{
    vs_reader_opts o = {.format = FUZZ_FORMAT, .id_col = id_col, .key_col = key_col};
    vs_reader *r;
    if (vs_reader_open(&r, path, &o, NULL))
        return;
    uint32_t dim = vs_reader_dim(r);
    size_t batch = dim <= 4096 ? 7 : 1; /* small, so rows straddle the batches */
    float *vec = malloc(batch * (dim ? dim : 1) * sizeof *vec);
    uint64_t ids[7], keys[7];
    if (!vec)
        abort();
    while (vs_reader_read(r, vec, ids, keys, batch, NULL) > 0)
        ;
    free(vec);
    vs_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(IN, data, size);
    const char *path = fz_path(IN);
    int text = FUZZ_FORMAT == VS_FMT_CSV || FUZZ_FORMAT == VS_FMT_TSV || FUZZ_FORMAT == VS_FMT_TXT;
    stream(path, 0, 0);
    if (text) {
        stream(path, 1, 0);
        stream(path, 1, 2);
    }
    vs_reader_opts o = {.format = FUZZ_FORMAT};
    float *f;
    int64_t *i;
    size_t rows;
    uint32_t dim;
    if (vs_read_all_f32(path, &o, &f, &rows, &dim, NULL) == 0)
        free(f);
    if (vs_read_all_i64(path, &o, &i, &rows, &dim, NULL) == 0)
        free(i);
    return 0;
}

#endif
