/*
 * vf_error.h - the error record and codes shared by every vecseg layer.
 *
 * Calls in format/ and lib/ return int: 0 on success, a negative VF_E* code
 * otherwise, and fill the caller-owned vf_error (which may be NULL) with the
 * code and a one-line message: lowercase, no final period, the subject quoted
 * or named first (the file, then the row where one applies).  Codes are pinned:
 * once released a value never changes meaning.
 */
#ifndef VF_ERROR_H
#define VF_ERROR_H

#include <stddef.h>

/* VF_API marks the calls libvecseg exports (format/'s and, as VS_API,
   lib/'s): the library is built with -fvisibility=hidden, so whatever a
   public header does not declare with it stays inside. */
#ifndef VF_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define VF_API __attribute__((visibility("default")))
#else
#define VF_API
#endif
#endif

#if defined(__cplusplus)
extern "C" {
#endif

enum vf_code {
    VF_OK = 0,
    VF_EIO = -1,          /* read, write, fsync, rename, mmap failed */
    VF_ENOMEM = -2,       /* allocation failed */
    VF_EINPUT = -3,       /* malformed input data (foreign formats, text) */
    VF_ECORRUPT = -4,     /* a vecseg file fails a check: magic, size, crc */
    VF_EVERSION = -5,     /* a vecseg file needs a newer reader */
    VF_EARG = -6,         /* an argument or option value is invalid */
    VF_EDIM = -7,         /* a vector has the wrong dimension */
    VF_EVALUE = -8,       /* a value is NaN or infinite */
    VF_EDUP = -9,         /* an id given twice, or already in the collection */
    VF_ENOENT = -10,      /* a file, dataset or collection does not exist */
    VF_EBUSY = -11,       /* a lock is held by another process */
    VF_EUNSUPPORTED = -12 /* a format, type or feature this build lacks */
};

#define VF_ERROR_MSG_MAX 512

typedef struct vf_error {
    int code;
    char msg[VF_ERROR_MSG_MAX];
} vf_error;

/* Fills err (if not NULL) with code and a printf-style message; returns code. */
VF_API int vf_fail(vf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "'subject': " before err's message (callers that know the file a
   lower layer's error concerns); returns code. */
VF_API int vf_fail_in(vf_error *err, int code, const char *subject);

/* A short constant name for a code ("i/o error", "corrupt file", ...). */
VF_API const char *vf_code_str(int code);

#if defined(__cplusplus)
}
#endif
#endif
