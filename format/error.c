/* error.c - the error record (see vf_error.h). */
#include <stdarg.h>
#include <stdio.h>

#include "vf_error.h"

int vf_fail(vf_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int vf_fail_in(vf_error *err, int code, const char *subject)
{
    if (err) {
        char msg[VF_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        vf_fail(err, code, "'%s': %s", subject, msg);
    }
    return code;
}

const char *vf_code_str(int code)
{
    switch (code) {
    case VF_OK: return "ok";
    case VF_EIO: return "i/o error";
    case VF_ENOMEM: return "out of memory";
    case VF_EINPUT: return "malformed input";
    case VF_ECORRUPT: return "corrupt file";
    case VF_EVERSION: return "unsupported version";
    case VF_EARG: return "invalid argument";
    case VF_EDIM: return "wrong dimension";
    case VF_EVALUE: return "non-finite value";
    case VF_EDUP: return "duplicate id";
    case VF_ENOENT: return "not found";
    case VF_EBUSY: return "busy";
    case VF_EUNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}
