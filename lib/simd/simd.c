/*
 * simd.c - the one place that tests the CPU: which instruction-set levels it runs, and the
 * level the kernels use (simd.h), chosen once per process under pthread_once and replaced
 * only by vs_simd_select.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "simd/distance.h"
#include "simd/simd.h"
#include "vf_error.h"

_Atomic int vs_simd_now = -1;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static const char *const names[VS_SIMD_LEVELS] = {"scalar", "avx2", "avx512f", "avx512bw", "avx512vnni"};

const char *vs_simd_level_name(vs_simd_level l)
{
    return l >= 0 && l < VS_SIMD_LEVELS ? names[l] : "?";
}

vs_simd_level vs_simd_cpu(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return VS_SIMD_SCALAR;
    if (!__builtin_cpu_supports("avx512f"))
        return VS_SIMD_AVX2;
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl"))
        return VS_SIMD_AVX512F;
    if (!__builtin_cpu_supports("avx512vnni"))
        return VS_SIMD_AVX512BW;
    return VS_SIMD_AVX512VNNI;
}

/* The level called name if this CPU runs it: a level's name, "avx512" (the highest AVX-512
   level the CPU runs) or "auto" (the highest level); -1 otherwise. */
static int find_level(const char *name)
{
    if (!name)
        return -1;
    vs_simd_level cpu = vs_simd_cpu();
    if (!strcmp(name, "auto"))
        return cpu;
    if (!strcmp(name, "avx512"))
        return cpu >= VS_SIMD_AVX512F ? (int)cpu : -1;
    for (int l = 0; l < VS_SIMD_LEVELS; l++)
        if (!strcmp(name, names[l]))
            return l <= (int)cpu ? l : -1;
    return -1;
}

static void choose(void)
{
    int l = find_level(getenv("VECSEG_SIMD"));
    atomic_store_explicit(&vs_simd_now, l >= 0 ? l : (int)vs_simd_cpu(), memory_order_relaxed);
}

vs_simd_level vs_simd_choose(void)
{
    pthread_once(&choose_once, choose);
    return (vs_simd_level)atomic_load_explicit(&vs_simd_now, memory_order_relaxed);
}

const char *vs_simd_name(void)
{
    return names[vs_simd_active()];
}

int vs_simd_select(const char *name)
{
    int l = find_level(name);
    if (l < 0)
        return VF_EUNSUPPORTED;
    pthread_once(&choose_once, choose); /* so a later first use cannot undo this choice */
    atomic_store_explicit(&vs_simd_now, l, memory_order_relaxed);
    return 0;
}
