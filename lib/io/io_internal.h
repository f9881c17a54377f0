/*
 * io_internal.h - the reader struct and helpers shared by io.c, io_text.c and io_hdf5.c.
 * Not for cli/: the readers' API is in vecseg.h.
 */
#ifndef VS_IO_INTERNAL_H
#define VS_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vecseg.h"

/* Element types of binary sources; every source maps onto one. */
typedef enum elem_type { ET_F32, ET_F64, ET_U8, ET_I32, ET_I64, ET_U32, ET_U64, ET_F16, ET_I8 } elem_type;

/* A buffered byte source over a file descriptor (a file or stdin), which can peek ahead. */
typedef struct byte_src {
    int fd;
    int own_fd;          /* close on free (not stdin) */
    unsigned char *buf;
    size_t cap, pos, len; /* buffered bytes are buf[pos..len) */
    int eof;
    int err_no;          /* errno of a failed read(2), 0 if none */
} byte_src;

struct h5_src; /* io_json.c */
int vs_json_open(vs_reader *r, const vs_reader_opts *o, vf_error *err);
long vs_json_read(vs_reader *r, float *vec, int64_t *ivec, uint64_t *ids, uint64_t *keys,
                  size_t max, vf_error *err);

/* io_hdf5.c */

struct vs_reader {
    vs_format fmt;
    char *spec;          /* as given */
    char *name;          /* for vs_reader_name: spec, or "stdin" */
    char *label;         /* for messages: 'spec' quoted, or stdin */
    uint32_t dim;
    int64_t rows;        /* known total, or -1 */
    uint64_t row;        /* rows delivered so far */
    elem_type et;        /* binary formats: element type of the values */
    byte_src src;        /* every format but HDF5 */
    void *scratch;       /* binary formats: staging for conversion, <= SCRATCH_MAX bytes */
    size_t scratch_cap;
    int failed;          /* sticky error code, 0 if none */
    char failmsg[VF_ERROR_MSG_MAX];

    /* text */
    char sep;            /* ',', '\t', or 0 for runs of blanks */
    int id_col, key_col; /* 1-based, 0 none */
    int ncols;           /* columns per line, vector columns plus id/key */
    uint64_t line;       /* lines consumed so far */
    char *pending;       /* first data line, read at open and not yet delivered (points into src) */
    size_t pending_len;
    uint64_t pending_line;

    /* JSON lines: whether the rows carry "id" and "key" (every row as the first) */
    int json_ids, json_keys;

    /* npy: the arrays of one stream are read one after another */
    uint64_t arr_start, arr_end; /* rows of the arrays before the current one; through it */
    int arr_count;               /* arrays opened so far */
    unsigned char *fort;         /* a Fortran-order array, loaded whole (column-major), or NULL */

    char *distance;      /* HDF5: the file's "distance" attribute, or NULL */

    struct h5_src *h5;
};

/* Staging buffers hold at most this many bytes (but always at least one row). */
#define SCRATCH_MAX ((size_t)4 << 20)

/* byte_src (io.c). */
int vs_src_fill(byte_src *s, size_t need);
/* Skips a UTF-8 byte-order mark at the start of a text source. */
int vs_src_skip_bom(byte_src *s);
/* The next line without its "\n" or "\r\n", NUL-terminated, valid until the next src call;
   NULL at the end of input or on a read error (s->err_no set). */
char *vs_src_line(byte_src *s, size_t *len);

/* Records err (already filled with code) as the reader's final error; returns the code. */
int vs_reader_fail(vs_reader *r, vf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* io_text.c: the next non-blank line (length in *len), or NULL at the end or on a read error;
   and the failure for that error. */
char *vs_next_line(vs_reader *r, size_t *len);
int vs_line_fail(vs_reader *r, vf_error *err);
/* The next data line: the one held back at open (pending) first, then the source's.  1 with
   *line, *len and its number *ln; 0 at the end of input; a VF_E* code on a read error. */
int vs_line_take(vs_reader *r, char **line, size_t *len, uint64_t *ln, vf_error *err);
/* io_text.c */
int vs_text_open(vs_reader *r, const vs_reader_opts *o, vf_error *err);
long vs_text_read(vs_reader *r, float *vec, int64_t *ivec, uint64_t *ids, uint64_t *keys,
                  size_t max, vf_error *err);

/* io_hdf5.c */
int vs_h5_open(vs_reader *r, const char *file, const char *dset, const vs_reader_opts *o,
               vf_error *err);
/* Reads rows [row0, row0 + n) as elements of r->et into buf (n * dim elements). */
int vs_h5_read(vs_reader *r, uint64_t row0, size_t n, void *buf, vf_error *err);
void vs_h5_close(vs_reader *r);

#endif
