/* simd.c - choose a kernel set (simd.h) once per handle.
 *
 * x86-64: AUTO takes AVX2 when the CPU reports avx2 and popcnt, else SSE4.2 when it reports
 * sse4.2 and popcnt, else the portable reference (__builtin_cpu_supports reads CPUID once,
 * cached by libgcc). The AVX2 float kernels also use FMA; on the rare AVX2 CPU without FMA the
 * AVX2 set keeps its Hamming kernel and takes the SSE4.2 float kernels instead of faulting.
 * aarch64: NEON is part of the base ISA, so AUTO is always NEON. Other CPUs: the reference.
 * Asking for a set the CPU or the build cannot run is DEJA_UNSUPPORTED, never a silent
 * fallback: a forced set is a promise to the caller (benchmarks, tests). */
#include "simd.h"

static void fill_ref(deja__kernels *k)
{
    k->kind = DEJA_SIMD_SCALAR;
    k->hamming_1xn = deja__hamming_1xn_ref;
    k->l2sq_1xn = deja__l2sq_1xn_ref;
    k->dot_f32 = deja__dot_f32_ref;
    k->fast_row = deja__fast_row_ref;
}

#if defined(__x86_64__)
static bool has_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
}

static bool has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}

static bool has_fma(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("fma");
}
#endif

deja_simd deja_simd_detect(void)
{
#if defined(__x86_64__)
    if (has_avx2()) return DEJA_SIMD_AVX2;
    if (has_sse42()) return DEJA_SIMD_SSE42;
    return DEJA_SIMD_SCALAR;
#elif defined(__aarch64__)
    return DEJA_SIMD_NEON;
#else
    return DEJA_SIMD_SCALAR;
#endif
}

const char *deja_simd_name(deja_simd s)
{
    switch (s) {
    case DEJA_SIMD_AUTO:
        return "auto";
    case DEJA_SIMD_SCALAR:
        return "scalar";
    case DEJA_SIMD_SSE42:
        return "sse4.2";
    case DEJA_SIMD_AVX2:
        return "avx2";
    case DEJA_SIMD_NEON:
        return "neon";
    }
    return "unknown";
}

deja_status deja__kernels_get(deja_simd want, deja__kernels *out)
{
    if ((int)want < (int)DEJA_SIMD_AUTO || (int)want > (int)DEJA_SIMD_NEON)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "simd: unknown kernel set %d", (int)want);
    deja_simd got = want == DEJA_SIMD_AUTO ? deja_simd_detect() : want;
    deja__kernels k;
    fill_ref(&k);
    switch (got) {
    case DEJA_SIMD_SCALAR:
        break;
#if defined(__x86_64__)
    case DEJA_SIMD_SSE42:
        if (!has_sse42()) break;
        k.kind = got;
        k.hamming_1xn = deja__hamming_1xn_sse42;
        k.l2sq_1xn = deja__l2sq_1xn_sse42;
        k.dot_f32 = deja__dot_f32_sse42;
        k.fast_row = deja__fast_row_sse2;
        break;
    case DEJA_SIMD_AVX2:
        if (!has_avx2()) break;
        k.kind = got;
        k.hamming_1xn = deja__hamming_1xn_avx2;
        k.l2sq_1xn = has_fma() ? deja__l2sq_1xn_avx2 : deja__l2sq_1xn_sse42;
        k.dot_f32 = has_fma() ? deja__dot_f32_avx2 : deja__dot_f32_sse42;
        k.fast_row = deja__fast_row_avx2;
        break;
#endif
#if defined(__aarch64__)
    case DEJA_SIMD_NEON:
        k.kind = got;
        k.hamming_1xn = deja__hamming_1xn_neon;
        k.l2sq_1xn = deja__l2sq_1xn_neon;
        k.dot_f32 = deja__dot_f32_neon;
        k.fast_row = deja__fast_row_neon;
        break;
#endif
    default:
        break;
    }
    if (k.kind != got)
        return DEJA_ERR(NULL, DEJA_UNSUPPORTED,
                        "simd: kernel set %s is not available on this "
                        "CPU or build (best here: %s)",
                        deja_simd_name(got), deja_simd_name(deja_simd_detect()));
    *out = k;
    return DEJA_OK;
}
