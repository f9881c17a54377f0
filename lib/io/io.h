/*
 * io.h - readers of foreign vector formats, and the ann-benchmarks results writer.
 *
 * A reader streams the rows of one source (a file, stdin, or one HDF5 dataset) as float32
 * vectors or as int64 rows, in batches the caller sizes, so any input is read in bounded
 * memory.  Formats:
 *
 *   fvecs, bvecs, ivecs  per row: int32 LE dim, then dim float32 / uint8 / int32 values
 *   npy                  .npy 1.0/2.0/3.0, C order, shape (n, d) or (n,) (d = 1),
 *                        dtype <f4 <f8 |u1 <i4 <i8 <u4 <u8
 *   hdf5                 "FILE.h5:/dataset" (or .hdf5): a 1-D or 2-D float or integer dataset;
 *                        "FILE.h5" alone names the file's only dataset
 *   csv, tsv, txt        one row per line, separated by ',' / tab / runs of blanks; an optional
 *                        header line; optional id and partition-key columns
 *   raw                  little-endian float32, the dimension given by the caller
 *
 * Every value is checked: NaN and infinities, ragged or wrong dimensions, truncated rows and bad
 * numbers are refused with a message naming the source and the 1-based row (and, for text, the
 * column and line).  HDF5 is used only by these readers and the results writer.
 */
#ifndef VS_IO_H
#define VS_IO_H

#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"

typedef enum vs_format {
    VS_FMT_AUTO = 0,
    VS_FMT_FVECS,
    VS_FMT_BVECS,
    VS_FMT_IVECS,
    VS_FMT_NPY,
    VS_FMT_HDF5,
    VS_FMT_CSV,
    VS_FMT_TSV,
    VS_FMT_RAW,
    VS_FMT_TXT /* whitespace-separated text (.txt) */
} vs_format;

/* The largest vector dimension a reader accepts (a larger one is taken as a damaged file). */
#define VS_READER_DIM_MAX (1u << 20)

/*
 * Parses a --format name: "fvecs", "bvecs", "ivecs", "npy", "hdf5" (or "h5"), "csv", "tsv",
 * "txt", "raw" or "auto".  Returns the vs_format value, or -1 if the name is unknown or NULL.
 */
int vs_format_parse(const char *name);

/* The name of format f as vs_format_parse accepts it ("auto" for VS_FMT_AUTO); static string. */
const char *vs_format_name(vs_format f);

/* Options of vs_reader_open; a zeroed struct means defaults. */
typedef struct vs_reader_opts {
    vs_format format; /* AUTO: from the file name extension; stdin is sniffed (npy magic, text) */
    uint32_t dim;     /* RAW needs it; if nonzero for other formats, rows must have it */
    int id_col;       /* text formats: 1-based column holding the row id, 0 none */
    int key_col;      /* text formats: 1-based column holding the partition key, 0 none */
    uint32_t raw_dim; /* RAW without dim: the dimension to assume (a collection's); others ignore it */
} vs_reader_opts;

typedef struct vs_reader vs_reader;

/*
 * Opens a source for reading.
 * spec: a path, "-" for stdin (every format but HDF5, which needs seeking), or "FILE.h5:/dataset"
 *       (also .hdf5) for an HDF5 dataset.
 * o:    options, or NULL for defaults.
 * On success *r is a new reader (free with vs_reader_free) and 0 is returned; the dimension is
 * known from then on.  Errors: VF_ENOENT (no such file or dataset), VF_EINPUT (unknown
 * extension, malformed header), VF_EUNSUPPORTED (a dtype or layout this reader refuses), VF_EDIM
 * (rows do not have o->dim), VF_EARG (bad options, RAW without dim), VF_EIO, VF_ENOMEM.
 */
int vs_reader_open(vs_reader **r, const char *spec, const vs_reader_opts *o, vf_error *err);

/* Columns per row (the vector dimension; 0 only for an empty source opened without o->dim). */
uint32_t vs_reader_dim(const vs_reader *r);

/* Total rows if known up front (npy, HDF5, fvecs/bvecs/ivecs/raw regular files), else -1. */
int64_t vs_reader_rows(const vs_reader *r);

/* Nonzero if rows carry ids (text opened with id_col). */
int vs_reader_has_ids(const vs_reader *r);

/* Nonzero if rows carry partition keys (text opened with key_col). */
int vs_reader_has_keys(const vs_reader *r);

/* The spec given to vs_reader_open ("stdin" for "-"), for messages; valid until vs_reader_free. */
const char *vs_reader_name(const vs_reader *r);

/* The format the reader settled on (never VS_FMT_AUTO). */
vs_format vs_reader_format(const vs_reader *r);

/*
 * Reads the next rows as float32.
 * vec:  room for max * dim floats, filled row-major.
 * ids, keys: room for max values each, or NULL; filled when the source has them
 *       (vs_reader_has_ids / vs_reader_has_keys), left alone otherwise.
 * Returns the number of rows read (0 at the end), or a negative VF_E* code: VF_EVALUE (NaN,
 * infinity, a float64 out of float32 range), VF_EDIM (ragged row), VF_EINPUT (truncated file,
 * bad number, bad id), VF_EIO.  An error is final: later calls return it again.
 */
long vs_reader_read(vs_reader *r, float *vec, uint64_t *ids, uint64_t *keys, size_t max,
                    vf_error *err);

/*
 * Reads the next rows as int64 (ivecs, bvecs, npy integer dtypes, HDF5 integer datasets, text):
 * id files (dim 1) and ground-truth neighbor lists.
 * out: room for max * dim values, filled row-major.
 * Returns rows read (0 at the end) or a negative code as vs_reader_read; a float source
 * (fvecs, float npy or HDF5, raw) is refused with VF_EINPUT, an unsigned value above INT64_MAX
 * with VF_EVALUE.  Text id and key columns are skipped.
 */
long vs_reader_read_i64(vs_reader *r, int64_t *out, size_t max, vf_error *err);

/* Closes the source and frees the reader; accepts NULL. */
void vs_reader_free(vs_reader *r);

/*
 * Reads a whole source as int64: *out gets rows * cols values (free with free()).
 * Returns 0 or a negative code as vs_reader_open / vs_reader_read_i64; on error *out is NULL.
 */
int vs_read_all_i64(const char *spec, const vs_reader_opts *o, int64_t **out, size_t *rows,
                    uint32_t *cols, vf_error *err);

/*
 * Reads a whole source as float32: *out gets rows * dim values (free with free()).
 * Returns 0 or a negative code as vs_reader_open / vs_reader_read; on error *out is NULL.
 */
int vs_read_all_f32(const char *spec, const vs_reader_opts *o, float **out, size_t *rows,
                    uint32_t *dim, vf_error *err);

/*
 * Writes ann-benchmarks style results into the HDF5 file path: dataset "neighbors" (int64,
 * nq x k; -1 marks a missing hit) and "distances" (float32, nq x k; +inf for a missing hit),
 * both copied as given from ids and dist (nq * k values each, row-major).  The file is written
 * under a temporary name in the same directory, synced and renamed over path, so a reader sees
 * the old file or the complete new one.  Returns 0, VF_EIO or VF_EARG.
 */
int vs_h5_write_results(const char *path, size_t nq, size_t k, const int64_t *ids,
                        const float *dist, vf_error *err);

#endif
