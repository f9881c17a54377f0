/*
 * test_distance.c - the float distance kernels on every instruction-set level this CPU runs
 * (the others are named as skipped): against a double-precision reference, and bit for bit
 * against the blocked order of simd.h written out here from its description, so every level
 * gives the same bits.
 *
 * Covers dims 1..67 and a few large ones, unaligned starts, the _many calls (bit-identical to
 * the single-pair calls), tails that end right before an unreadable page, and the candidate
 * scans and the cosine transform of one-query search.  The choice of level itself is test_simd.c's.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "levels.h"
#include "simd/metric.h"
#include "unit.h"
#include "vf_error.h"

static uint64_t rng = 0x243F6A8885A308D3u;

static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Reference values in double, and the sum of |terms| that bounds float rounding error. */
static double ref_l2(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static double ref_dot(const float *a, const float *b, size_t d, double *abs_sum)
{
    double s = 0, m = 0;
    for (size_t i = 0; i < d; i++) {
        s += (double)a[i] * b[i];
        m += fabs((double)a[i] * b[i]);
    }
    *abs_sum = m;
    return s;
}

/* float summation of d terms in 4..16 interleaved chains: a few ulps of the sum of |terms|. */
static int close_to(double got, double ref, double abs_sum)
{
    return fabs(got - ref) <= 1e-5 * abs_sum + 1e-30;
}

/* The terms of squared L2 and dot product, for blocked(). */
typedef struct pair_ctx {
    const float *a, *b;
    size_t d;
} pair_ctx;

static float l2_step(float acc, size_t i, const void *ctx)
{
    const pair_ctx *p = ctx;
    float t = i < p->d ? p->a[i] - p->b[i] : 0.0f;
    return fmaf(t, t, acc);
}

static float dot_step(float acc, size_t i, const void *ctx)
{
    const pair_ctx *p = ctx;
    return i < p->d ? fmaf(p->a[i], p->b[i], acc) : fmaf(0.0f, 0.0f, acc);
}

static float blocked_l2(const float *a, const float *b, size_t d)
{
    pair_ctx p = {a, b, d};
    return blocked(d, l2_step, &p);
}

static float blocked_dot(const float *a, const float *b, size_t d)
{
    pair_ctx p = {a, b, d};
    return blocked(d, dot_step, &p);
}

static void test_pairs(const char *set)
{
    static const size_t big[] = {128, 784, 1000, 1536};
    size_t dims[67 + 4];
    size_t nd = 0;
    for (size_t d = 1; d <= 67; d++)
        dims[nd++] = d;
    for (size_t i = 0; i < 4; i++)
        dims[nd++] = big[i];

    float *pa = malloc((1536 + 16) * sizeof *pa), *pb = malloc((1536 + 16) * sizeof *pb);
    int bad = 0;
    for (size_t di = 0; di < nd; di++) {
        size_t d = dims[di];
        for (int oa = 0; oa < 4; oa++) {
            int ob = (oa * 3 + 1) % 8; /* a and b misaligned differently */
            float *a = pa + oa, *b = pb + ob;
            for (size_t i = 0; i < d; i++) {
                a[i] = frand();
                b[i] = frand() * 2;
            }
            double abs_sum, rl = ref_l2(a, b, d), rd = ref_dot(a, b, d, &abs_sum);
            float gl = vs_l2sq(a, b, d), gd = vs_dot(a, b, d);
            if (!same_bits(gl, blocked_l2(a, b, d)) || !same_bits(gd, blocked_dot(a, b, d))) {
                bad++;
                CHECK_MSG(0, "%s: d %zu: l2sq %a dot %a, the blocked order gives %a %a", set, d, gl, gd,
                          blocked_l2(a, b, d), blocked_dot(a, b, d));
            }
            if (!close_to(gl, rl, rl) || !close_to(gd, rd, abs_sum)) {
                bad++;
                CHECK_MSG(0, "%s: d %zu offsets %d/%d: l2sq %.9g (want %.9g), dot %.9g (want %.9g)",
                          set, d, oa, ob, gl, rl, gd, rd);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %d mismatches", set, bad);

    /* Identical vectors: exactly 0; d == 0: 0 for both. */
    for (size_t d = 1; d < 40; d += 3)
        CHECK(vs_l2sq(pa + 1, pa + 1, d) == 0.0f);
    CHECK(vs_l2sq(pa, pb, 0) == 0.0f && vs_dot(pa, pb, 0) == 0.0f);

    /* Large magnitudes stay accurate (no overflow at 1e15 squared terms). */
    for (size_t i = 0; i < 100; i++) {
        pa[i] = 1e15f;
        pb[i] = -1e15f;
    }
    CHECK(fabs(vs_l2sq(pa, pb, 100) - 4e32) <= 1e-5 * 4e32);
    free(pa);
    free(pb);
}

static void test_many(const char *set)
{
    static const size_t dims[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 47, 63, 64, 65, 100, 784};
    /* n from 61 to 64: every remainder of the streams (AVX2 reads the rows as three, AVX-512
       as four) */
    static const size_t ns[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 61, 62, 63, 64};
    size_t maxn = 64, maxd = 784;
    float *px = malloc((maxn * maxd + 8) * sizeof *px), *pq = malloc((maxd + 8) * sizeof *pq);
    float *l2 = malloc((maxn + 1) * sizeof *l2), *dot = malloc((maxn + 1) * sizeof *dot);
    int bad = 0, diff = 0;
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            size_t d = dims[di], n = ns[ni];
            float *x = px + 1 + ni % 3, *q = pq + 3;
            for (size_t i = 0; i < n * d; i++)
                x[i] = frand();
            for (size_t i = 0; i < d; i++)
                q[i] = frand();
            l2[n] = dot[n] = 12345.0f; /* sentinel: written past n? */
            vs_l2sq_many(q, x, n, d, l2);
            vs_dot_many(q, x, n, d, dot);
            if (l2[n] != 12345.0f || dot[n] != 12345.0f)
                bad++;
            for (size_t i = 0; i < n; i++) {
                const float *row = x + i * d;
                double abs_sum, rl = ref_l2(q, row, d), rd = ref_dot(q, row, d, &abs_sum);
                if (!close_to(l2[i], rl, rl) || !close_to(dot[i], rd, abs_sum))
                    bad++;
                if (l2[i] != vs_l2sq(q, row, d) || dot[i] != vs_dot(q, row, d))
                    diff++;
            }
        }
    CHECK_MSG(bad == 0, "%s: %d wrong _many results", set, bad);
    CHECK_MSG(diff == 0, "%s: %d _many results differ from the single-pair call", set, diff);
    free(px);
    free(pq);
    free(l2);
    free(dot);
}

/* Vectors ending exactly at a PROT_NONE page: a kernel reading past the end would fault. */
static void test_guard_page(const char *set)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 3 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    CHECK(mprotect(m + 2 * page, (size_t)page, PROT_NONE) == 0);
    float *end = (float *)(m + 2 * page);
    float *other = (float *)m;
    int ok = 1;
    for (size_t d = 1; d <= 130; d++) {
        float *a = end - d;
        for (size_t i = 0; i < d; i++)
            a[i] = other[i] = (float)i;
        ok &= vs_l2sq(a, other, d) == 0.0f;
        ok &= vs_l2sq(other, a, d) == 0.0f;
        ok &= vs_dot(other, a, d) > 0 || d == 1;
        /* rows x ending at the guard page, n = 1..5 */
        for (size_t n = 1; n <= 5 && n * d <= 400; n++) {
            float out[5];
            float *x = end - n * d;
            for (size_t i = 0; i < n * d; i++)
                x[i] = (float)(i % d);
            vs_l2sq_many(other, x, n, d, out);
            for (size_t i = 0; i < n; i++)
                ok &= out[i] == 0.0f;
            vs_dot_many(other, x, n, d, out);
        }
    }
    CHECK_MSG(ok, "%s: wrong result next to a guard page", set);
    munmap(m, 3 * (size_t)page);
}

/* vs_scan_le against the plain formula: same indices, ascending, for every tail length. */
static void test_scan(const char *set)
{
    float c[300], p[300];
    uint32_t idx[300];
    unsigned seed = 7;
    for (int i = 0; i < 300; i++) {
        seed = seed * 1103515245u + 12345u;
        c[i] = (float)((seed >> 8) % 2000) / 100.0f - 10.0f;
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 8) % 1000) / 100.0f;
    }
    const float forms[][4] = {{0.99f, -2.0f, 0.0f, 3.0f}, {-0.01f, -1.0f, 0.0f, -2.0f}, {0, 0, -0.5f, -1.0f},
                              {1, 1, 1, -1e30f}, {1, 1, 1, 1e30f}};
    int bad = 0;
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
        for (size_t n = 0; n <= 300; n += (n < 40 ? 1 : 37)) {
            const float *F = forms[f];
            size_t m = vs_scan_le(c, p, n, F[0], F[1], F[2], F[3], idx), want = 0;
            for (size_t j = 0; j < n; j++) {
                float sv = F[0] * p[j] + F[1] * c[j] + F[2] * c[j] * p[j];
                if (sv <= F[3] && !(fabsf(sv - F[3]) < 1e-4f)) { /* skip knife-edge rounding cases */
                    int found = 0;
                    for (size_t r = 0; r < m; r++)
                        found |= idx[r] == j;
                    bad += !found;
                }
                want += sv <= F[3];
            }
            bad += m > want + 2 || m + 2 < want;
            for (size_t r = 1; r < m; r++)
                bad += idx[r] <= idx[r - 1];
        }
    CHECK_MSG(bad == 0, "%s: vs_scan_le disagrees with the formula %d times", set, bad);
}

/* vs_scan_le1 finds exactly the j with c[j] <= thr, ascending (NaN never), for every tail. */
static void test_scan1(const char *set)
{
    float c[300];
    uint32_t idx[300];
    for (int i = 0; i < 300; i++)
        c[i] = i % 17 == 5 ? NAN : i % 13 == 2 ? INFINITY : frand();
    const float thr[] = {-2.0f, -0.5f, 0.0f, 0.25f, 2.0f, INFINITY};
    int bad = 0;
    for (size_t t = 0; t < sizeof thr / sizeof *thr; t++)
        for (size_t n = 0; n <= 300; n += (n < 40 ? 1 : 37)) {
            size_t m = vs_scan_le1(c, n, thr[t], idx), r = 0;
            for (size_t j = 0; j < n; j++)
                if (c[j] <= thr[t])
                    bad += r >= m || idx[r++] != j;
            bad += r != m;
        }
    CHECK_MSG(bad == 0, "%s: vs_scan_le1 disagrees with c[j] <= thr %d times", set, bad);
}

/* vs_cosine_many gives the bits of vs_metric_cosine(dot, qs, sqrtf(xn)), zero norms included,
   without writing past n. */
static void test_cosine_many(const char *set)
{
    float dot[70], xn[70], c[71];
    const float qss[] = {0.0f, 1.0f, 3.7f, 1e-20f};
    int bad = 0;
    for (int i = 0; i < 70; i++) {
        dot[i] = frand() * 5.0f;
        xn[i] = i % 9 == 4 ? 0.0f : i % 11 == 3 ? NAN : fabsf(frand()) * 7.0f;
    }
    for (size_t t = 0; t < sizeof qss / sizeof *qss; t++)
        for (size_t n = 0; n <= 70; n++) {
            memcpy(c, dot, n * sizeof *c);
            c[n] = 12345.0f;
            vs_cosine_many(c, xn, n, qss[t]);
            bad += c[n] != 12345.0f;
            for (size_t j = 0; j < n; j++) {
                float want = vs_metric_cosine(dot[j], qss[t], sqrtf(xn[j]));
                bad += memcmp(&want, &c[j], sizeof want) != 0;
            }
        }
    CHECK_MSG(bad == 0, "%s: vs_cosine_many differs from vs_metric_cosine %d times", set, bad);
}

static void test_level(const char *level)
{
    CHECK(!strcmp(vs_simd_name(), level));
    test_pairs(level);
    test_many(level);
    test_guard_page(level);
    test_scan(level);
    test_scan1(level);
    test_cosine_many(level);
}

int main(void)
{
    CHECK(each_level(test_level) >= 1);
    UNIT_DONE();
}
