/* common.c - shared helpers of the vecseg tools (see common.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *cli_tool = "vecseg";
int cli_quiet;
int cli_verbose;
static int progress_shown;
static double progress_t0, progress_last; /* cli_progress_work's start and last line */

/* OpenBLAS reads its settings once, when it loads, which lib/ does on the first sgemm
   (lib/util/blas.h), long after this runs: so they are set in the environment here, before
   any (a value the user set is left alone; child processes inherit them):
   - OPENBLAS_CORETYPE: OpenBLAS picks its kernels from the CPU model it recognises; on
     virtual machines that report a generic model it falls back to old SSE3 kernels, several
     times slower, so the CPU's features name the kernels instead.
   - OPENBLAS_NUM_THREADS=1: lib/ runs every sgemm on its own threads (vs_cores() of them,
     one OpenBLAS thread each), so OpenBLAS's own pool, started at load with a thread per
     core it sees, would only add idle threads, and busy ones past a CPU quota. */
static void tune_openblas(void)
{
    if (!getenv("OPENBLAS_NUM_THREADS"))
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
    if (!getenv("OPENBLAS_CORETYPE")) {
        const char *core = NULL;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
            core = "SkylakeX";
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            core = "Haswell";
        if (core)
            setenv("OPENBLAS_CORETYPE", core, 1);
    }
}

/* True when stdout is a pipe or socket whose reader has gone (`| head` that has read enough):
   poll reports POLLERR on the write end then, whatever errno says by now. */
static int reader_gone(void)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return 0;
    struct pollfd p = {STDOUT_FILENO, POLLOUT, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* gnulib's close_stdout: a write to stdout that failed (a full disk, /dev/full, a closed
   descriptor) must not end in exit 0.  At exit, flush and close stdout; on an error print one
   line and exit 74 (EX_IOERR).  A reader that went away is no error: with SIGPIPE at its
   default the tool has already ended by the signal, and when SIGPIPE is ignored the tool ends
   with the status it had, as after the signal, quietly. */
static void close_stdout(void)
{
    int pending = __fpending(stdout) != 0;
    int bad = fflush(stdout) != 0;
    int saved = errno;
    bad |= ferror(stdout) != 0;
    int gone = bad && reader_gone(); /* before fclose closes descriptor 1 */
    if (fclose(stdout) != 0 && (pending || errno != EBADF)) {
        if (!bad)
            saved = errno;
        bad = 1;
    }
    if (!bad || gone || saved == EPIPE)
        return;
    cli_progress_done();
    fprintf(stderr, "%s: write error on standard output%s%s\n", cli_tool, saved ? ": " : "",
            saved ? strerror(saved) : "");
    _exit(EX_IOERR);
}

/* Guards stdout for the whole run: a closed descriptor 0, 1 or 2 gets /dev/null opened the
   wrong way round (as gnulib's stdopen does), so a file the tool opens never lands on it and
   a write to a closed stdout fails instead of writing into a collection file; then
   close_stdout runs at exit. */
static void guard_stdout(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    atexit(close_stdout);
}

void cli_init(const char *tool, char **argv)
{
    (void)argv;
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
    tune_openblas();
    guard_stdout(); /* at exit, a failed write to stdout fails the tool (close_stdout) */
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
    if (!cli_progress_on())
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r%s: ", cli_tool);
    vfprintf(stderr, fmt, ap);
    fputs("\033[K", stderr);
    va_end(ap);
    progress_shown = 1;
}

int cli_progress_on(void)
{
    return !cli_quiet && isatty(STDERR_FILENO);
}

void cli_progress_start(void)
{
    progress_t0 = progress_last = cli_now();
}

void cli_progress_work(const char *what, uint64_t done, uint64_t total, const char *unit)
{
    if (!cli_progress_on())
        return;
    double now = cli_now();
    if (progress_t0 == 0)
        progress_t0 = progress_last = now;
    /* a few lines a second are enough to see it move, and the last one */
    if (now - progress_last < 0.2 && done < total)
        return;
    progress_last = now;
    double dt = now - progress_t0, rate = dt > 0 ? (double)done / dt : 0;
    char eta[32] = "";
    if (total && done < total && rate > 0) {
        long s = (long)((double)(total - done) / rate + 0.5);
        snprintf(eta, sizeof eta, ", ETA %ld:%02ld", s / 60, s % 60);
    }
    if (total)
        cli_progress("%s %llu/%llu %s (%.0f%%), %.0f %s/s%s", what, (unsigned long long)done,
                     (unsigned long long)total, unit, 100.0 * (double)done / (double)total, rate, unit, eta);
    else
        cli_progress("%s %llu %s, %.0f %s/s", what, (unsigned long long)done, unit, rate, unit);
}

const char *cli_size(char *buf, size_t len, uint64_t bytes)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024 || !isatty(STDOUT_FILENO)) {
        snprintf(buf, len, "%llu", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f%s", v, units[u]);
    return buf;
}

void cli_progress_done(void)
{
    progress_t0 = 0;
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
