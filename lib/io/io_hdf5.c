/*
 * io_hdf5.c - HDF5 datasets as vector sources, and the ann-benchmarks results writer.
 *
 * With hdf5_lib.c the only code in vecseg that includes hdf5.h; HDF5 loads on the first open or
 * write (hdf5_lib.h), so a command that reads no HDF5 never loads it.  A source is one 1-D (dim 1) or 2-D dataset of
 * float or integer type, read in row hyperslabs of the caller's batch size, so a dataset is
 * never loaded whole; HDF5 converts stored values to the native element type chosen at open
 * (float32/float64 kept apart so float64 range errors are ours to report, integers widened to
 * uint8/int32/uint32/int64/uint64).  HDF5's own error printing is switched off: failures become
 * vf_error messages naming the file and dataset.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the rows writer is of the advanced API */
#define VECSEG_STATIC_LINKING_ONLY
#include "io/hdf5_lib.h" /* HDF5 through pointers: loaded on first use */
#include "io/io_internal.h"

#define H5_CHUNK_CACHE ((size_t)32 << 20) /* per dataset: a chunked dataset decompresses once */

struct h5_src {
    hid_t file, dset, fspace, memtype;
    int rank;
};

static void quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* An HDF5 file is written under a temporary name and renamed over path: refuse a path that
   exists and is not a regular file (a device such as /dev/null, a FIFO), which the rename would
   replace. */
static int output_path_ok(const char *path, vf_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return vf_fail(err, VF_EARG, "'%s': not a regular file (an HDF5 file is written whole and renamed into place)", path);
    return 0;
}


/* Names of the datasets at the root of a file, for a message ("a, b, c"). */
typedef struct name_list { char buf[256]; int n; char first[128]; } name_list;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    name_list *l = data;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0;
    if (l->n++ == 0)
        snprintf(l->first, sizeof l->first, "%s", name);
    size_t used = strlen(l->buf);
    if (used < sizeof l->buf - 1)
        snprintf(l->buf + used, sizeof l->buf - used, "%s%s", used ? ", " : "", name);
    return 0;
}

/* A string attribute of obj (fixed or variable length) as a new string, or NULL if none. */
static char *str_attr(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    char *out = NULL;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 converts no string between character sets */
        if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = strdup(v);
                H5free_memory(v);
            }
        } else {
            size_t n = H5Tget_size(t);
            H5Tset_size(mt, n + 1);
            out = calloc(n + 2, 1);
            if (out && H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
        }
        H5Tclose(mt);
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return out;
}

void vs_h5_close(vs_reader *r)
{
    struct h5_src *h = r->h5;
    if (!h)
        return;
    if (h->fspace >= 0)
        H5Sclose(h->fspace);
    if (h->dset >= 0)
        H5Dclose(h->dset);
    if (h->file >= 0)
        H5Fclose(h->file);
    free(h);
    r->h5 = NULL;
}

int vs_h5_open(vs_reader *r, const char *file, const char *dset, const vs_reader_opts *o,
               vf_error *err)
{
    int rc = vs_h5_load(err);
    if (rc)
        return rc;
    quiet();
    struct stat st;
    if (stat(file, &st) < 0)
        return vf_fail(err, errno == ENOENT ? VF_ENOENT : VF_EIO, "'%s': %s", file,
                       errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(st.st_mode))
        return vf_fail(err, VF_EINPUT, "'%s': is a directory", file);
    if (H5Fis_hdf5(file) <= 0)
        return vf_fail(err, VF_EINPUT, "'%s': not an HDF5 file", file);

    struct h5_src *h = calloc(1, sizeof *h);
    if (!h)
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", file);
    h->file = h->dset = h->fspace = -1;
    r->h5 = h;
    h->file = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h->file < 0)
        return vf_fail(err, VF_EIO, "'%s': cannot open as HDF5", file);
    /* ann-benchmarks files name their metric here ("angular", "euclidean", ...) */
    r->distance = str_attr(h->file, "distance");

    char path[1024];
    if (!dset || !*dset) {
        name_list l = {"", 0, ""};
        H5Literate(h->file, H5_INDEX_NAME, H5_ITER_INC, NULL, collect, &l);
        if (l.n == 0)
            return vf_fail(err, VF_ENOENT, "'%s': holds no dataset at its root", file);
        if (l.n > 1)
            return vf_fail(err, VF_EARG, "'%s': holds %d datasets (%s): name one, as '%s:/%s'",
                           file, l.n, l.buf, file, l.first);
        snprintf(path, sizeof path, "/%s", l.first);
    } else {
        snprintf(path, sizeof path, "%s%s", dset[0] == '/' ? "" : "/", dset);
    }

    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0)
        H5Pset_chunk_cache(dapl, 12421, H5_CHUNK_CACHE, 1.0);
    /* H5Lexists first: H5Dopen2 on a missing path would fail just as on a damaged file */
    htri_t exists = H5Lexists(h->file, path, H5P_DEFAULT);
    h->dset = exists > 0 ? H5Dopen2(h->file, path, dapl >= 0 ? dapl : H5P_DEFAULT) : -1;
    if (dapl >= 0)
        H5Pclose(dapl);
    if (h->dset < 0)
        return vf_fail(err, exists > 0 ? VF_EINPUT : VF_ENOENT,
                       exists > 0 ? "'%s': '%s' is not a readable dataset"
                                  : "'%s': no dataset '%s'", file, path);

    hid_t type = H5Dget_type(h->dset);
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(type) : H5T_SGN_ERROR;
    H5Tclose(type);
    if (cls == H5T_FLOAT && size <= 4) {
        r->et = ET_F32;
        h->memtype = H5T_NATIVE_FLOAT;
    } else if (cls == H5T_FLOAT && size == 8) {
        r->et = ET_F64;
        h->memtype = H5T_NATIVE_DOUBLE;
    } else if (cls == H5T_INTEGER && size <= 8) {
        if (sign == H5T_SGN_NONE) {
            r->et = size == 1 ? ET_U8 : size <= 4 ? ET_U32 : ET_U64;
            h->memtype = size == 1 ? H5T_NATIVE_UINT8 : size <= 4 ? H5T_NATIVE_UINT32
                                                                 : H5T_NATIVE_UINT64;
        } else {
            r->et = size <= 4 ? ET_I32 : ET_I64;
            h->memtype = size <= 4 ? H5T_NATIVE_INT32 : H5T_NATIVE_INT64;
        }
    } else {
        static const char *const cname[] = {"integer", "float",    "time",  "string", "bitfield",
                                            "opaque",  "compound", "reference", "enum",
                                            "variable-length", "array"};
        const char *cn = cls >= 0 && (size_t)cls < sizeof cname / sizeof cname[0] ? cname[cls]
                                                                                 : "unknown";
        return vf_fail(err, VF_EUNSUPPORTED,
                       "'%s': dataset '%s' holds %zu-byte %s values, not numbers read here",
                       file, path, size, cn);
    }

    h->fspace = H5Dget_space(h->dset);
    hsize_t dims[H5S_MAX_RANK];
    int rank = h->fspace >= 0 ? H5Sget_simple_extent_ndims(h->fspace) : -1;
    if (rank < 1 || rank > 2)
        return vf_fail(err, VF_EUNSUPPORTED,
                       "'%s': dataset '%s' has %d dimensions, expected 1 or 2", file, path, rank);
    H5Sget_simple_extent_dims(h->fspace, dims, NULL);
    h->rank = rank;
    uint64_t d = rank == 2 ? dims[1] : 1;
    if (d == 0 || d > VS_READER_DIM_MAX)
        return vf_fail(err, VF_EINPUT, "'%s': dataset '%s' has rows of %llu values", file, path,
                       (unsigned long long)d);
    if (o->dim && d != o->dim)
        return vf_fail(err, VF_EDIM, "'%s': dataset '%s' has dim %llu, expected %u", file, path,
                       (unsigned long long)d, o->dim);
    /* a compact dataset keeps its values in its object header, and HDF5 1.10 copies as many
       as the shape says without checking the stored size: a 2 KB file claiming 2^54 rows
       crashed the reader inside H5Dread */
    hid_t dcpl = H5Dget_create_plist(h->dset);
    int compact = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_COMPACT;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    uint64_t need;
    if (compact && (__builtin_mul_overflow(dims[0], d * size, &need) || H5Dget_storage_size(h->dset) < need))
        return vf_fail(err, VF_EINPUT, "'%s': dataset '%s' is damaged (it stores fewer values than its shape)",
                       file, path);
    r->dim = (uint32_t)d;
    r->rows = (int64_t)dims[0];
    return 0;
}

int vs_h5_read(vs_reader *r, uint64_t row0, size_t n, void *buf, vf_error *err)
{
    struct h5_src *h = r->h5;
    hsize_t start[2] = {row0, 0}, count[2] = {n, r->dim};
    hid_t mspace = H5Screate_simple(h->rank, count, NULL);
    herr_t rc = mspace < 0 ? -1
                           : H5Sselect_hyperslab(h->fspace, H5S_SELECT_SET, start, NULL, count,
                                                 NULL);
    if (rc >= 0)
        rc = H5Dread(h->dset, h->memtype, mspace, h->fspace, H5P_DEFAULT, buf);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (rc < 0)
        return vs_reader_fail(r, err, VF_EIO, "%s: row %llu: HDF5 read failed", r->label,
                              (unsigned long long)(row0 + 1));
    return 0;
}

/* ---- results writer ------------------------------------------------------------------------ */

static int write_dataset(hid_t file, const char *name, hid_t ftype, hid_t mtype, size_t nq,
                         size_t k, const void *data)
{
    hsize_t dims[2] = {nq, k};
    hid_t space = H5Screate_simple(2, dims, NULL);
    if (space < 0)
        return -1;
    hid_t ds = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : 0;
    if (rc == 0 && nq * k > 0)
        rc = H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0 && H5Dclose(ds) < 0)
        rc = -1;
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

static int sync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* ---- rows writer (vec-export) --------------------------------------------------------------- */

struct vs_h5_rows {
    hid_t file, vecs, ids, keys;
    uint64_t n, at;
    uint32_t dim;
    char *path, *tmp;
};

/* A dataset of n x cols (cols 0: 1-D) with no modification times, so two exports of the same
   rows are the same bytes. */
static hid_t rows_dataset(hid_t file, const char *name, hid_t ftype, uint64_t n, uint32_t cols)
{
    hsize_t dims[2] = {n, cols};
    hid_t space = H5Screate_simple(cols ? 2 : 1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = -1;
    if (space >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0)
        ds = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return ds;
}

/* Writes n rows of cols values (cols 0: 1-D) at row `at` of ds. */
static int rows_put(hid_t ds, hid_t mtype, uint64_t at, size_t n, uint32_t cols, const void *data)
{
    hsize_t start[2] = {at, 0}, count[2] = {n, cols};
    int rank = cols ? 2 : 1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(rank, count, NULL);
    int rc = fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                     H5Dwrite(ds, mtype, ms, fs, H5P_DEFAULT, data) < 0
                 ? -1
                 : 0;
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    return rc;
}

static void rows_free(vs_h5_rows *w)
{
    if (w->keys >= 0)
        H5Dclose(w->keys);
    if (w->ids >= 0)
        H5Dclose(w->ids);
    if (w->vecs >= 0)
        H5Dclose(w->vecs);
    if (w->file >= 0)
        H5Fclose(w->file);
    free(w->path);
    free(w->tmp);
    free(w);
}

void vs_h5_rows_abort(vs_h5_rows *w)
{
    if (!w)
        return;
    char *tmp = w->tmp;
    w->tmp = NULL;
    rows_free(w);
    if (tmp)
        unlink(tmp);
    free(tmp);
}

int vs_h5_rows_open(vs_h5_rows **out, const char *path, uint64_t n, uint32_t dim, int keys, const char *distance,
                    vf_error *err)
{
    *out = NULL;
    if (!path || !*path || dim == 0)
        return vf_fail(err, VF_EARG, "no HDF5 file or dimension given");
    if (output_path_ok(path, err))
        return VF_EARG;
    int lrc = vs_h5_load(err);
    if (lrc)
        return lrc;
    quiet();
    vs_h5_rows *w = calloc(1, sizeof *w);
    if (!w)
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", path);
    w->file = w->vecs = w->ids = w->keys = -1;
    w->n = n;
    w->dim = dim;
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(plen + 32);
    if (!w->path || !w->tmp) {
        vs_h5_rows_abort(w);
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", path);
    }
    snprintf(w->tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, H5P_DEFAULT);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (w->file < 0) {
        char *tmp = w->tmp;
        w->tmp = NULL;
        rows_free(w);
        int rc = vf_fail(err, VF_EIO, "'%s': cannot create '%s'", path, tmp);
        free(tmp);
        return rc;
    }
    int rc = 0;
    w->vecs = rows_dataset(w->file, "train", H5T_IEEE_F32LE, n, dim);
    w->ids = rows_dataset(w->file, "ids", H5T_STD_I64LE, n, 0);
    if (keys)
        w->keys = rows_dataset(w->file, "keys", H5T_STD_I64LE, n, 0);
    if (w->vecs < 0 || w->ids < 0 || (keys && w->keys < 0))
        rc = -1;
    if (rc == 0 && distance) {
        /* a variable-length UTF-8 string, as h5py writes ann-benchmarks' attributes */
        hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
        if (t >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0 && sp >= 0)
            a = H5Acreate2(w->file, "distance", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a < 0 || H5Awrite(a, t, &distance) < 0)
            rc = -1;
        if (a >= 0)
            H5Aclose(a);
        if (sp >= 0)
            H5Sclose(sp);
        if (t >= 0)
            H5Tclose(t);
    }
    if (rc) {
        rc = vf_fail(err, VF_EIO, "'%s': creating the datasets failed", w->tmp);
        vs_h5_rows_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int vs_h5_rows_write(vs_h5_rows *w, size_t n, const float *vecs, const uint64_t *ids, const uint64_t *keys,
                     vf_error *err)
{
    if (n == 0)
        return 0;
    if (n > w->n - w->at)
        return vf_fail(err, VF_EARG, "'%s': more rows than the %llu announced", w->path, (unsigned long long)w->n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] > (uint64_t)INT64_MAX || (keys && keys[i] > (uint64_t)INT64_MAX))
            return vf_fail(err, VF_EVALUE, "'%s': id or key %llu does not fit int64", w->path,
                           (unsigned long long)(ids[i] > (uint64_t)INT64_MAX ? ids[i] : keys[i]));
    if (rows_put(w->vecs, H5T_NATIVE_FLOAT, w->at, n, w->dim, vecs) < 0 ||
        rows_put(w->ids, H5T_NATIVE_INT64, w->at, n, 0, ids) < 0 ||
        (w->keys >= 0 && rows_put(w->keys, H5T_NATIVE_INT64, w->at, n, 0, keys) < 0))
        return vf_fail(err, VF_EIO, "'%s': writing rows failed", w->tmp);
    w->at += n;
    return 0;
}

int vs_h5_rows_close(vs_h5_rows *w, vf_error *err)
{
    int rc = 0;
    if (w->at != w->n)
        rc = vf_fail(err, VF_EARG, "'%s': %llu rows written of the %llu announced", w->path,
                     (unsigned long long)w->at, (unsigned long long)w->n);
    hid_t ds[3] = {w->vecs, w->ids, w->keys};
    for (int i = 0; i < 3; i++)
        if (ds[i] >= 0 && H5Dclose(ds[i]) < 0 && rc == 0)
            rc = vf_fail(err, VF_EIO, "'%s': closing a dataset failed", w->tmp);
    w->vecs = w->ids = w->keys = -1;
    if (H5Fclose(w->file) < 0 && rc == 0)
        rc = vf_fail(err, VF_EIO, "'%s': closing failed", w->tmp);
    w->file = -1;
    if (rc == 0 && sync_path(w->tmp, 0) < 0)
        rc = vf_fail(err, VF_EIO, "'%s': fsync failed: %s", w->tmp, strerror(errno));
    if (rc == 0 && rename(w->tmp, w->path) < 0)
        rc = vf_fail(err, VF_EIO, "'%s': rename from '%s' failed: %s", w->path, w->tmp, strerror(errno));
    if (rc) {
        vs_h5_rows_abort(w);
        return rc;
    }
    char *d = strdup(w->path);
    if (d)
        sync_path(dirname(d), 1); /* best effort: the file itself is complete */
    free(d);
    rows_free(w);
    return 0;
}

/* Scalar attributes as h5py writes Python values: str variable-length UTF-8, float and int
   64-bit, bool the numpy enum h5py reads back as numpy.bool_. */
static int attr_put(hid_t f, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, type, v) < 0 ? -1 : 0;
    if (a >= 0 && H5Aclose(a) < 0)
        rc = -1;
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

static int attr_str(hid_t f, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    int rc = H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ? -1 : attr_put(f, name, t, &v);
    H5Tclose(t);
    return rc;
}

static int attr_bool(hid_t f, const char *name, int v)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    if (t < 0)
        return -1;
    int8_t no = 0, yes = 1, b = v ? 1 : 0;
    int rc = H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0 ? -1 : attr_put(f, name, t, &b);
    H5Tclose(t);
    return rc;
}

static int write_meta(hid_t f, size_t nq, size_t k, const vs_h5_results_meta *m)
{
    double dv[4] = {m->build_time, m->index_size, m->best_search_time, m->candidates};
    const char *dn[4] = {"build_time", "index_size", "best_search_time", "candidates"};
    int64_t count = (int64_t)k, runs = m->run_count > 0 ? m->run_count : 1;
    for (int i = 0; i < 4; i++)
        if (attr_put(f, dn[i], H5T_NATIVE_DOUBLE, &dv[i]) < 0)
            return -1;
    if (attr_str(f, "algo", m->algo ? m->algo : "vecseg") < 0 || attr_str(f, "name", m->name ? m->name : "vecseg") < 0 ||
        attr_str(f, "distance", m->distance ? m->distance : "euclidean") < 0 ||
        attr_str(f, "dataset", m->dataset ? m->dataset : "") < 0 ||
        attr_put(f, "count", H5T_NATIVE_INT64, &count) < 0 || attr_put(f, "run_count", H5T_NATIVE_INT64, &runs) < 0 ||
        attr_bool(f, "batch_mode", m->batch_mode) < 0 || attr_bool(f, "expect_extra", 0) < 0)
        return -1;
    /* ann-benchmarks' per-query "times": float32, one per query */
    float *t = malloc((nq ? nq : 1) * sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < nq; i++)
        t[i] = m->times ? m->times[i] : (float)m->best_search_time;
    hsize_t dims[1] = {nq};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(f, "times", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = ds < 0 || (nq && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t) < 0) ? -1 : 0;
    if (ds >= 0 && H5Dclose(ds) < 0)
        rc = -1;
    if (sp >= 0)
        H5Sclose(sp);
    free(t);
    return rc;
}

int vs_h5_write_results(const char *path, size_t nq, size_t k, const int64_t *ids,
                        const float *dist, vf_error *err)
{
    return vs_h5_write_results_meta(path, nq, k, ids, dist, NULL, err);
}

int vs_h5_write_results_meta(const char *path, size_t nq, size_t k, const int64_t *ids,
                             const float *dist, const vs_h5_results_meta *meta, vf_error *err)
{
    if (!path || !*path)
        return vf_fail(err, VF_EARG, "no results file named");
    if (k && nq > SIZE_MAX / 8 / k)
        return vf_fail(err, VF_EARG, "'%s': %zu x %zu results is too many", path, nq, k);
    if (nq * k > 0 && (!ids || !dist))
        return vf_fail(err, VF_EARG, "'%s': no results to write", path);
    int rc = vs_h5_load(err);
    if (rc)
        return rc;
    quiet();
    if (output_path_ok(path, err))
        return VF_EARG;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    char *dcopy = malloc(plen + 1);
    if (!tmp || !dcopy) {
        free(tmp);
        free(dcopy);
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    memcpy(dcopy, path, plen + 1);

    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        rc = vf_fail(err, VF_EIO, "'%s': cannot create '%s'", path, tmp);
        goto out;
    }
    if (write_dataset(f, "neighbors", H5T_STD_I64LE, H5T_NATIVE_INT64, nq, k, ids) < 0 ||
        write_dataset(f, "distances", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, nq, k, dist) < 0 ||
        (meta && write_meta(f, nq, k, meta) < 0))
        rc = vf_fail(err, VF_EIO, "'%s': writing the results failed", tmp);
    if (H5Fclose(f) < 0 && rc == 0)
        rc = vf_fail(err, VF_EIO, "'%s': closing failed", tmp);
    if (rc == 0 && sync_path(tmp, 0) < 0)
        rc = vf_fail(err, VF_EIO, "'%s': fsync failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = vf_fail(err, VF_EIO, "'%s': rename from '%s' failed: %s", path, tmp, strerror(errno));
    if (rc == 0)
        sync_path(dirname(dcopy), 1); /* best effort: the file itself is complete */
out:
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    free(dcopy);
    return rc;
}
