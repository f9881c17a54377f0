/* common.c - shared helpers of the vecseg tools (see common.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *cli_tool = "vecseg";
int cli_quiet;
static int progress_shown;

/* OpenBLAS reads its settings once, when the library loads, so they are set in the
   environment and the tool run again (once: the second run finds them set; a value the user
   set is left alone):
   - OPENBLAS_CORETYPE: OpenBLAS picks its kernels from the CPU model it recognises; on
     virtual machines that report a generic model it falls back to old SSE3 kernels, several
     times slower, so the CPU's features name the kernels instead.
   - OPENBLAS_NUM_THREADS=1: lib/ runs every sgemm on its own threads (vs_cores() of them,
     one OpenBLAS thread each), so OpenBLAS's own pool, started at load with a thread per
     core it sees, would only add idle threads, and busy ones past a CPU quota. */
static void tune_openblas(char **argv)
{
    if (!argv)
        return;
    int again = 0;
    if (!getenv("OPENBLAS_NUM_THREADS")) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        again = 1;
    }
    if (!getenv("OPENBLAS_CORETYPE")) {
        const char *core = NULL;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
            core = "SkylakeX";
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            core = "Haswell";
        if (core) {
            setenv("OPENBLAS_CORETYPE", core, 1);
            again = 1;
        }
    }
    if (again)
        execv("/proc/self/exe", argv);
    /* no /proc: carry on with OpenBLAS's own choices */
}

void cli_init(const char *tool, char **argv)
{
    cli_tool = tool;
    /* past `ulimit -f` a write fails with EFBIG instead of killing the tool
       silently: the error paths then clean up and say why */
    signal(SIGXFSZ, SIG_IGN);
    /* lib/ ignores a VECSEG_THREADS it cannot use; a tool says so */
    const char *threads = getenv("VECSEG_THREADS");
    if (threads && *threads) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(threads, &end, 10);
        if (*threads < '0' || *threads > '9' || *end || errno || n < 1 || n > VS_THREADS_MAX)
            cli_die(EX_USAGE, "VECSEG_THREADS: '%s' is not a number from 1 to %d", threads, VS_THREADS_MAX);
    }
    tune_openblas(argv);
}

static void vmsg(const char *fmt, va_list ap)
{
    cli_progress_done();
    fprintf(stderr, "%s: ", cli_tool);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

void cli_die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    exit(status);
}

int cli_status(int code)
{
    switch (code) {
    case VF_OK: return 0;
    case VF_EINPUT:
    case VF_EDIM:
    case VF_EVALUE:
    case VF_EDUP:
    case VF_ECORRUPT:
    case VF_EVERSION: return EX_DATAERR;
    case VF_ENOENT: return EX_NOINPUT;
    case VF_EARG: return EX_USAGE;
    case VF_EBUSY: return EX_TEMPFAIL;
    case VF_EUNSUPPORTED: return EX_UNAVAILABLE;
    case VF_ENOMEM: return EX_OSERR;
    case VF_EIO: return EX_IOERR;
    }
    return EX_SOFTWARE;
}

void cli_die_err(const vf_error *err)
{
    cli_die(cli_status(err->code), "%s", err->msg);
}

void cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", cli_tool);
    exit(EX_USAGE);
}

void cli_version(void)
{
    printf("%s (vecseg) %s\nlibrary %s, %s, simd %s\n", cli_tool, VS_VERSION_STRING, vs_version(),
           vf_version_string(), vs_simd_name());
    exit(0);
}

uint64_t cli_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    /* digits only: strtoull would take blanks, a sign, and wrap "-1" to 2^64-1 */
    if (*s < '0' || *s > '9' || *end || errno || v < min || v > max)
        cli_usage("option '%s': '%s' is not a number from %llu to %llu", opt, s, (unsigned long long)min,
                  (unsigned long long)max);
    return v;
}

void cli_progress(const char *fmt, ...)
{
    if (cli_quiet || !isatty(STDERR_FILENO))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r%s: ", cli_tool);
    vfprintf(stderr, fmt, ap);
    fputs("\033[K", stderr);
    va_end(ap);
    progress_shown = 1;
}

void cli_progress_done(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
