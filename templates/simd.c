// The vector vocabulary of each SIMD target. Kernels are written once with these macros:
// vf is a vector of VF_W floats; loads and stores are unaligned; vf_fma(a, b, c) = a*b + c.
// vf_max(a, b) is NaN wherever b is NaN (x86 max_ps returns its second operand when either
// is NaN; NEON's vmaxq propagates both), so callers put the operand that may be NaN second.
// CNNC_ISA_BEGIN/END bracket the functions compiled for the target's instruction set, so the
// file needs no special compiler flags and its CPU check itself runs on any CPU.

//@ generic
/* This build is portable C99: it runs on any CPU. */
int ${name}_cpu_supported(void)
{
return 1;
}

//@ x86_common
#if defined(__clang__)
#define CNNC_ISA_BEGIN _Pragma("clang attribute push (__attribute__((target(\"$gcc_target\"))), apply_to = function)")
#define CNNC_ISA_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define CNNC_ISA_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"$gcc_target\")")
#define CNNC_ISA_END _Pragma("GCC pop_options")
#else
#error "the $target target needs gcc or clang (use --target generic for other compilers)"
#endif

/* 1 when the running CPU has the $target instructions this file uses. */
int ${name}_cpu_supported(void)
{
return $cpu_check;
}

//@ avx512
#include <immintrin.h>
typedef __m512 vf;
#define VF_W 16
#define vf_load(p) _mm512_loadu_ps(p)
#define vf_store(p, v) _mm512_storeu_ps((p), (v))
#define vf_set1(x) _mm512_set1_ps(x)
#define vf_zero() _mm512_setzero_ps()
#define vf_fma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vf_add(a, b) _mm512_add_ps((a), (b))
#define vf_mul(a, b) _mm512_mul_ps((a), (b))
#define vf_max(a, b) _mm512_max_ps((a), (b))

//@ avx2
#include <immintrin.h>
typedef __m256 vf;
#define VF_W 8
#define vf_load(p) _mm256_loadu_ps(p)
#define vf_store(p, v) _mm256_storeu_ps((p), (v))
#define vf_set1(x) _mm256_set1_ps(x)
#define vf_zero() _mm256_setzero_ps()
#define vf_fma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define vf_add(a, b) _mm256_add_ps((a), (b))
#define vf_mul(a, b) _mm256_mul_ps((a), (b))
#define vf_max(a, b) _mm256_max_ps((a), (b))

//@ sse4
#include <immintrin.h>
typedef __m128 vf;
#define VF_W 4
#define vf_load(p) _mm_loadu_ps(p)
#define vf_store(p, v) _mm_storeu_ps((p), (v))
#define vf_set1(x) _mm_set1_ps(x)
#define vf_zero() _mm_setzero_ps()
/* SSE4 has no fused multiply-add: a multiply and an add. */
#define vf_fma(a, b, c) _mm_add_ps(_mm_mul_ps((a), (b)), (c))
#define vf_add(a, b) _mm_add_ps((a), (b))
#define vf_mul(a, b) _mm_mul_ps((a), (b))
#define vf_max(a, b) _mm_max_ps((a), (b))

//@ neon
#include <arm_neon.h>
typedef float32x4_t vf;
#define VF_W 4
#define vf_load(p) vld1q_f32(p)
#define vf_store(p, v) vst1q_f32((p), (v))
#define vf_set1(x) vdupq_n_f32(x)
#define vf_zero() vdupq_n_f32(0.0f)
#define vf_fma(a, b, c) vfmaq_f32((c), (a), (b))
#define vf_add(a, b) vaddq_f32((a), (b))
#define vf_mul(a, b) vmulq_f32((a), (b))
#define vf_max(a, b) vmaxq_f32((a), (b))
#define CNNC_ISA_BEGIN
#define CNNC_ISA_END

/* Every AArch64 CPU has NEON. */
int ${name}_cpu_supported(void)
{
return 1;
}
