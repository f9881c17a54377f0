/*
 * test_simd.c - the instruction-set levels (lib/simd/simd.h) and the kernels beside the float
 * distances (test_distance.c has those): the 8-bit code kernels of HNSW and IVF_SQ8, the
 * product-quantization tables, the half-precision rows, and the SPEC.md section 9 rules.
 *
 * Every kernel runs on every level this CPU runs (the others are named as skipped) against a
 * plain reference: exact where the kernel is exact (integer sums) or promises the same bits on
 * every level (the HNSW L2 form, the tables), within a rounding bound otherwise.  Inputs start
 * at odd offsets and end right before an unreadable page, so an over-read faults.  The choice
 * of level is checked through VECSEG_SIMD in child processes (it is made once per process).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simd/codes.h"
#include "simd/distance.h"
#include "simd/f16.h"
#include "simd/metric.h"
#include "simd/pq.h"
#include "levels.h"
#include "unit.h"
#include "vecseg.h"
#include "vf_error.h"

static uint64_t rng = 0x243F6A8885A308D3u;

static double urand(void) /* uniform in [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* n bytes ending exactly at a PROT_NONE page (munmap with guard_free). */
static void *guarded(size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t span = (n + (size_t)page - 1) / (size_t)page * (size_t)page;
    char *m = mmap(NULL, span + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    mprotect(m + span, (size_t)page, PROT_NONE);
    return m + span - n;
}

static void guard_free(void *p, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t span = (n + (size_t)page - 1) / (size_t)page * (size_t)page;
    munmap((char *)p + n - span, span + (size_t)page);
}

/* ---- the HNSW and IVF_SQ8 code kernels ------------------------------------------------------ */

/* The terms of the HNSW L2 form, for blocked(): t = qo - step * c rounded once. */
typedef struct l2_ctx {
    const float *qo, *st;
    const uint8_t *c;
    size_t d;
} l2_ctx;

static float code_l2_step(float acc, size_t i, const void *ctx)
{
    const l2_ctx *p = ctx;
    float t = i < p->d ? fmaf(-p->st[i], (float)p->c[i], p->qo[i]) : fmaf(-0.0f, 0.0f, 0.0f);
    return fmaf(t, t, acc);
}

static float l2_blocked(const float *qo, const float *st, const uint8_t *c, size_t d)
{
    l2_ctx p = {qo, st, c, d};
    return blocked(d, code_l2_step, &p);
}

static void test_codes(const char *level)
{
    enum { DMAX = 1000 };
    int8_t *w8 = guarded(DMAX);
    int16_t *w16 = guarded(DMAX * 2);
    uint8_t *c = guarded(DMAX * 4);
    float *qo = guarded(DMAX * 4), *st = guarded(DMAX * 4), *wf = guarded(DMAX * 4), out[5];
    for (int i = 0; i < DMAX; i++) {
        w8[i] = (int8_t)(urand() * 255 - 127);
        w16[i] = (int16_t)(urand() * 65535 - 32767);
        qo[i] = (float)(urand() * 300 - 20);
        st[i] = (float)(urand() * 1.5);
        wf[i] = (float)(urand() * 2 - 1);
    }
    for (int i = 0; i < DMAX * 4; i++)
        c[i] = (uint8_t)(urand() * 256);
    w8[DMAX - 1] = -127;
    w16[DMAX - 1] = -32767;
    c[DMAX * 4 - 1] = 255;
    vs_code_dot_fn dot = vs_code_dot_kernel();
    vs_code_dots_fn dots = vs_code_dots_kernel();
    vs_code_l2_fn l2 = vs_code_l2_kernel();
    int bad = 0, bad_dots = 0, bad_l2 = 0, bad_sq8 = 0, bad_i16 = 0;
    for (size_t d = 0; d <= 240; d += d < 140 ? 1 : 25) {
        /* every operand ends at its guard page */
        const int8_t *a8 = w8 + DMAX - d;
        const int16_t *a16 = w16 + DMAX - d;
        const uint8_t *cd = c + DMAX * 4 - d;
        /* the HNSW dot reads the 16-bit weights, full range (255 * 32767 * 240 < 2^31) */
        int32_t ref = 0;
        for (size_t j = 0; j < d; j++)
            ref += (int32_t)a16[j] * cd[j];
        bad += dot(a8, a16, cd, d) != ref;

        /* the same over n rows by pointer, in any order, the last one ending at the guard page */
        for (size_t n = 1; n <= 9; n += 4) {
            const uint8_t *rows[9];
            int32_t got[9];
            for (size_t i = 0; i < n; i++)
                rows[i] = i + 1 == n ? cd : c + (size_t)(urand() * (DMAX * 3 - d));
            dots(a16, rows, n, d, got);
            for (size_t i = 0; i < n; i++) {
                int32_t r = 0;
                for (size_t j = 0; j < d; j++)
                    r += (int32_t)a16[j] * rows[i][j];
                bad_dots += got[i] != r;
            }
        }

        const float *q = qo + DMAX - d, *s = st + DMAX - d;
        float got = l2(q, s, cd, d);
        double dref = 0;
        for (size_t j = 0; j < d; j++) {
            double t = (double)q[j] - (double)s[j] * cd[j];
            dref += t * t;
        }
        bad_l2 += !same_bits(got, l2_blocked(q, s, cd, d)) || fabs(got - dref) > 1e-5 * (dref + 1);

        /* SQ8 over up to five rows ending at the guard page */
        for (size_t n = 1; n <= 5 && d; n += 2) {
            const uint8_t *rows = c + DMAX * 4 - n * d;
            const float *w = wf + DMAX - d;
            for (size_t j = 0; j < d; j++)
                w16[DMAX - d + j] = (int16_t)(urand() * 4001 - 2000);
            vs_sq8_dot(w, rows, n, d, out);
            for (size_t i = 0; i < n; i++) {
                double r = 0, m = 0;
                for (size_t j = 0; j < d; j++) {
                    r += (double)w[j] * rows[i * d + j];
                    m += fabs((double)w[j] * rows[i * d + j]);
                }
                bad_sq8 += fabs(out[i] - r) > 1e-5 * m + 1e-6;
            }
            if (vs_sq8_i16_ready()) {
                vs_sq8_dot_i16(w16 + DMAX - d, rows, n, d, 0.5f, out);
                for (size_t i = 0; i < n; i++) {
                    int32_t r = 0;
                    for (size_t j = 0; j < d; j++)
                        r += (int32_t)w16[DMAX - d + j] * rows[i * d + j];
                    bad_i16 += !same_bits(out[i], (float)r * 0.5f);
                }
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: code dot wrong %d times", level, bad);
    CHECK_MSG(bad_dots == 0, "%s: code dot over rows by pointer wrong %d times", level, bad_dots);
    CHECK_MSG(bad_l2 == 0, "%s: code l2 off the blocked order %d times", level, bad_l2);
    CHECK_MSG(bad_sq8 == 0, "%s: sq8 float scan wrong %d times", level, bad_sq8);
    CHECK_MSG(bad_i16 == 0, "%s: sq8 integer scan wrong %d times", level, bad_i16);
    guard_free(w8, DMAX);
    guard_free(w16, DMAX * 2);
    guard_free(c, DMAX * 4);
    guard_free(qo, DMAX * 4);
    guard_free(st, DMAX * 4);
    guard_free(wf, DMAX * 4);
}

/* ---- product quantization ------------------------------------------------------------------- */

static void test_pq(const char *level)
{
    enum { K = 300, D = 7 };
    static float ct[D * K], xv[D], out[K], buf[256];
    for (int i = 0; i < D * K; i++)
        ct[i] = (float)(urand() * 2 - 1);
    for (int t = 0; t < D; t++)
        xv[t] = (float)(urand() * 2 - 1);
    int bad = 0;
    for (uint32_t k = 1; k <= K; k += (k < 70 ? 1 : 37)) {
        /* each entry a chain of fmaf over t from +0: the same bits on every level */
        vs_table_l2(xv, ct, D, k, out);
        for (uint32_t c = 0; c < k; c++) {
            float s = 0;
            for (int t = 0; t < D; t++)
                s = fmaf(xv[t] - ct[t * k + c], xv[t] - ct[t * k + c], s);
            bad += !same_bits(out[c], s);
        }
        vs_table_dot(xv, ct, D, k, -2.0f, out);
        for (uint32_t c = 0; c < k; c++) {
            float s = 0;
            for (int t = 0; t < D; t++)
                s = fmaf(xv[t], ct[t * k + c], s);
            bad += !same_bits(out[c], -2.0f * s);
        }
        /* argmin with planted ties: the lowest index wins */
        for (uint32_t c = 0; c < k; c++)
            out[c] = (float)((c * 7919) % 13) + 1;
        uint32_t want = 0;
        for (uint32_t c = 1; c < k; c++)
            if (out[c] < out[want])
                want = c;
        float best;
        bad += vs_argmin(out, k, &best) != want || best != out[want];
    }
    CHECK_MSG(bad == 0, "%s: tables or argmin wrong %d times", level, bad);
    /* the fused table-argmin (k = 64, 256) equals the two steps, many ties */
    static float many[256 * 6];
    bad = 0;
    for (uint32_t k = 64; k <= 256; k += 192)
        for (int rep = 0; rep < 200; rep++) {
            for (uint32_t i = 0; i < k * 6; i++)
                many[i] = (float)(int)(urand() * 8);
            for (int t = 0; t < 6; t++)
                xv[t] = (float)(int)(urand() * 8);
            float b1, b2;
            vs_table_l2(xv, many, 6, k, out);
            uint32_t a1 = vs_argmin(out, k, &b1), a2 = vs_table_l2_argmin(xv, many, 6, k, buf, &b2);
            bad += a1 != a2 || b1 != b2;
        }
    CHECK_MSG(bad == 0, "%s: fused table-argmin differs %d times", level, bad);
    /* vs_tables_dot: m tables of one sub-vector each */
    static float cb[4 * 3 * 256], lut[4 * 256], x12[12];
    for (int i = 0; i < 4 * 3 * 256; i++)
        cb[i] = (float)(urand() * 2 - 1);
    for (int i = 0; i < 12; i++)
        x12[i] = (float)(urand() * 2 - 1);
    vs_tables_dot(x12, cb, 4, 3, 256, lut);
    bad = 0;
    for (int j = 0; j < 4; j++) {
        vs_table_dot(x12 + 3 * j, cb + j * 3 * 256, 3, 256, 1.0f, out);
        bad += memcmp(out, lut + j * 256, 256 * sizeof *out) != 0;
    }
    CHECK_MSG(bad == 0, "%s: vs_tables_dot differs from vs_table_dot", level);
    /* ADC: the sum of the looked-up entries */
    static uint8_t codes[7 * 5];
    float adc[7];
    for (int i = 0; i < 7 * 5; i++)
        codes[i] = (uint8_t)(urand() * 256);
    static float lut5[5 * 256];
    for (int i = 0; i < 5 * 256; i++)
        lut5[i] = (float)(int)(urand() * 100); /* integers: every order sums exactly */
    vs_adc(lut5, codes, 7, 5, adc);
    bad = 0;
    for (int i = 0; i < 7; i++) {
        float r = 0;
        for (int j = 0; j < 5; j++)
            r += lut5[j * 256 + codes[i * 5 + j]];
        bad += adc[i] != r;
    }
    CHECK_MSG(bad == 0, "%s: adc wrong %d times", level, bad);
}

/* ---- half-precision rows -------------------------------------------------------------------- */

static void test_f16(const char *level)
{
    if (!vs_f16_ready())
        return;
    enum { N = 9, D = 37, DP = 48 };
    static float x[N * D], q[DP], l2[N], dot[N];
    static uint16_t h[N * DP];
    for (int i = 0; i < N * D; i++)
        x[i] = (float)(urand() * 2 - 1);
    for (int t = 0; t < DP; t++)
        q[t] = t < D ? (float)(urand() * 2 - 1) : 0.0f;
    vs_f16_encode(x, N, D, 4.0f, DP, h);
    for (int t = 0; t < D; t++)
        q[t] *= 4.0f; /* the query scaled as the rows */
    vs_f16_l2sq_many(q, h, N, DP, l2);
    vs_f16_dot_many(q, h, N, DP, dot);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double rl = 0, rd = 0, m = 0; /* f16 keeps 11 bits: each v within 2^-11 |v| */
        for (int t = 0; t < D; t++) {
            double v = 4.0 * x[i * D + t];
            rl += (q[t] - v) * (q[t] - v);
            rd += q[t] * v;
            m += fabs(q[t] * v) + fabs(q[t] - v) * fabs(v);
        }
        bad += fabs(l2[i] - rl) > 2e-3 * m + 1e-6 || fabs(dot[i] - rd) > 1e-3 * m + 1e-6;
        for (int t = D; t < DP; t++)
            bad += h[i * DP + t] != 0; /* zero padding */
    }
    CHECK_MSG(bad == 0, "%s: f16 rows wrong %d times", level, bad);
}

/* ---- SPEC.md section 9 ---------------------------------------------------------------------- */

static void test_metric(void)
{
    float q[3] = {3, 0, 4}, x[3] = {0, 0, 2}, z[3] = {0, 0, 0};
    CHECK(vs_metric_exact(VF_METRIC_L2, q, 25, x, 4, 3) == 9 + 0 + 4);
    CHECK(vs_metric_exact(VF_METRIC_IP, q, 25, x, 4, 3) == -8);
    CHECK(fabsf(vs_metric_exact(VF_METRIC_COSINE, q, 25, x, 4, 3) - (1 - 8.0f / 10)) < 1e-6f);
    /* the zero vector is at cosine distance 1 from everything, itself included */
    CHECK(vs_metric_exact(VF_METRIC_COSINE, q, 25, z, 0, 3) == 1.0f);
    CHECK(vs_metric_exact(VF_METRIC_COSINE, z, 0, z, 0, 3) == 1.0f);
    CHECK(vs_metric_inv_norm(0) == 0 && vs_metric_inv_norm(4) == 0.5f);
    CHECK(vs_metric_report(VF_METRIC_L2, 25) == 5 && vs_metric_report(VF_METRIC_L2, -1e-7f) == 0);
    CHECK(vs_metric_report(VF_METRIC_IP, -3) == -3 && vs_metric_report(VF_METRIC_COSINE, 0.5f) == 0.5f);
    CHECK(vs_distance_report(VF_METRIC_L2, 16) == 4);
}

/* ---- choosing the level --------------------------------------------------------------------- */

/* Runs this binary with VECSEG_SIMD=value and returns what it reports as the level, or "". */
static void child_level(const char *value, char *buf, size_t size)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    buf[0] = 0;
    if (len <= 0)
        return;
    self[len] = 0;
    int fd[2];
    if (pipe(fd))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        setenv("VECSEG_SIMD", value, 1);
        execl(self, self, "--print-level", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], buf, size - 1);
    buf[got > 0 ? got : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    close(fd[0]);
    waitpid(pid, NULL, 0);
}

/* The level the CPU runs, by asking it directly. */
static int cpu_level(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    if (!__builtin_cpu_supports("avx512f"))
        return 1;
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl"))
        return 2;
    return __builtin_cpu_supports("avx512vnni") ? 4 : 3;
}

static void test_choice(void)
{
    int cpu = cpu_level();
    const char *best = vs_simd_level_name((vs_simd_level)cpu);
    CHECK((int)vs_simd_cpu() == cpu);
    if (!getenv("VECSEG_SIMD"))
        CHECK_MSG(!strcmp(vs_simd_name(), best), "default level %s, want %s", vs_simd_name(), best);
    for (int l = 0; l < VS_SIMD_LEVELS; l++)
        CHECK(vs_simd_select(vs_simd_level_name((vs_simd_level)l)) == (l <= cpu ? 0 : VF_EUNSUPPORTED));
    /* unknown names are refused and leave the level unchanged */
    CHECK(vs_simd_select("scalar") == 0);
    CHECK(vs_simd_select("sse2") == VF_EUNSUPPORTED);
    CHECK(vs_simd_select("AVX2") == VF_EUNSUPPORTED);
    CHECK(vs_simd_select("") == VF_EUNSUPPORTED);
    CHECK(vs_simd_select(NULL) == VF_EUNSUPPORTED);
    CHECK(!strcmp(vs_simd_name(), "scalar"));
    CHECK(vs_simd_select("avx512") == (cpu >= VS_SIMD_AVX512F ? 0 : VF_EUNSUPPORTED));
    if (cpu >= VS_SIMD_AVX512F)
        CHECK(!strcmp(vs_simd_name(), best));
    CHECK(vs_simd_select("auto") == 0 && !strcmp(vs_simd_name(), best));
    CHECK(!strcmp(vs_simd_level_name(VS_SIMD_LEVELS), "?"));

    /* VECSEG_SIMD names a level the CPU runs; anything else means the highest */
    char got[64];
    for (int l = 0; l < VS_SIMD_LEVELS; l++) {
        const char *name = vs_simd_level_name((vs_simd_level)l);
        child_level(name, got, sizeof got);
        const char *want = l <= cpu ? name : best;
        CHECK_MSG(!strcmp(got, want), "VECSEG_SIMD=%s: got '%s', want '%s'", name, got, want);
    }
    child_level("avx512", got, sizeof got);
    CHECK_MSG(!strcmp(got, best), "VECSEG_SIMD=avx512: got '%s', want '%s'", got, best);
    child_level("bogus", got, sizeof got);
    CHECK_MSG(!strcmp(got, best), "VECSEG_SIMD=bogus: got '%s', want '%s'", got, best);
}

static void test_level(const char *level)
{
    test_codes(level);
    test_pq(level);
    test_f16(level);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--print-level")) {
        puts(vs_simd_name());
        return 0;
    }
    test_choice();
    test_metric();
    CHECK(each_level(test_level) >= 1);
    UNIT_DONE();
}
