// The vector vocabulary of each SIMD target. Kernels are written once with these macros:
// vf is a vector of VF_W floats; loads and stores are unaligned; vf_fma(a, b, c) = a*b + c.
// vf_max(a, b) is NaN wherever b is NaN (x86 max_ps returns its second operand when either
// is NaN; NEON's vmaxq propagates both), so callers put the operand that may be NaN second.
// vf_keep(v) makes the compiler hold v in a register as loaded: without it gcc turns a
// weight vector used by a few FMAs back into a memory operand of each (a 1x3-pixel x
// 4-vector tile then loaded 12 vectors a step, not 4, and ran load-bound at 64% of peak).
// CNNC_ISA_BEGIN/END bracket the functions compiled for the target's instruction set, so the
// file needs no special compiler flags and its CPU check itself runs on any CPU.
// A target's section declares vf; its _ops and _math sections define the macros, so that
// a layer planned for a narrower target of the same CPU (AVX2 vectors in an AVX-512 build:
// cnnc.targets `narrow`) can switch them around its functions: its _ops and _math sections
// follow narrow_begin, the build's own follow narrow_end. The narrow target's instructions
// are enabled on top of the build's (gcc's avx512f does not imply fma, though every AVX-512
// CPU has it). The vector helpers of templates/helpers.c (cnnc_vf_exp) take the build's
// vf, so such a layer calls none.

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

//@ avx512_ops
#define VF_W 16
#define vf_load(p) _mm512_loadu_ps(p)
#define vf_store(p, v) _mm512_storeu_ps((p), (v))
#define vf_set1(x) _mm512_set1_ps(x)
#define vf_zero() _mm512_setzero_ps()
#define vf_fma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vf_add(a, b) _mm512_add_ps((a), (b))
#define vf_mul(a, b) _mm512_mul_ps((a), (b))
#define vf_max(a, b) _mm512_max_ps((a), (b))
#define vf_keep(v) __asm__("" : "+v"(v))

//@ avx2
#include <immintrin.h>
typedef __m256 vf;

//@ avx2_ops
#define VF_W 8
#define vf_load(p) _mm256_loadu_ps(p)
#define vf_store(p, v) _mm256_storeu_ps((p), (v))
#define vf_set1(x) _mm256_set1_ps(x)
#define vf_zero() _mm256_setzero_ps()
#define vf_fma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define vf_add(a, b) _mm256_add_ps((a), (b))
#define vf_mul(a, b) _mm256_mul_ps((a), (b))
#define vf_max(a, b) _mm256_max_ps((a), (b))
#define vf_keep(v) __asm__("" : "+v"(v))

//@ sse4
#include <immintrin.h>
typedef __m128 vf;

//@ sse4_ops
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
#define vf_keep(v) __asm__("" : "+v"(v))

//@ neon
/* AArch64 only: Advanced SIMD is mandatory there, and its vfmaq_f32 is a fused multiply-add. */
#if !defined(__aarch64__)
#error "the neon target needs an AArch64 C compiler (e.g. aarch64-linux-gnu-gcc; cnnc build picks it on other hosts)"
#endif
#include <arm_neon.h>
typedef float32x4_t vf;

//@ neon_ops
#define VF_W 4
#define vf_load(p) vld1q_f32(p)
#define vf_store(p, v) vst1q_f32((p), (v))
#define vf_set1(x) vdupq_n_f32(x)
#define vf_zero() vdupq_n_f32(0.0f)
#define vf_fma(a, b, c) vfmaq_f32((c), (a), (b))
#define vf_add(a, b) vaddq_f32((a), (b))
#define vf_mul(a, b) vmulq_f32((a), (b))
#define vf_max(a, b) vmaxq_f32((a), (b))
#define vf_keep(v) __asm__("" : "+w"(v))
#define CNNC_ISA_BEGIN
#define CNNC_ISA_END

//@ aarch64_common
/* Every AArch64 CPU has NEON (Advanced SIMD is part of ARMv8-A). */
int ${name}_cpu_supported(void)
{
return 1;
}

// Per-ISA primitives of the vector math functions (templates/helpers.c, vexp, vtanh, vlog1p):
// vf_sub/vf_div/vf_min, vf_abs, vf_round (to nearest even), vf_floor, vf_pow2i(n) = 2^n for
// a vector of integral floats in [-126, 127], vf_sel_lt(a, b, x, y) = a < b ? x : y and
// vf_sel_nan(a, x, y) = a is NaN ? x : y, lane by lane.

//@ avx512_math
#define vf_sub(a, b) _mm512_sub_ps((a), (b))
#define vf_div(a, b) _mm512_div_ps((a), (b))
#define vf_min(a, b) _mm512_min_ps((a), (b))
#define vf_abs(a) _mm512_castsi512_ps(_mm512_and_epi32(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)))
#define vf_round(a) _mm512_roundscale_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_floor(a) _mm512_roundscale_ps((a), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
#define vf_pow2i(n) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))
#define vf_sel_lt(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ), (y), (x))
#define vf_sel_nan(a, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (a), _CMP_UNORD_Q), (y), (x))

//@ avx2_math
#define vf_sub(a, b) _mm256_sub_ps((a), (b))
#define vf_div(a, b) _mm256_div_ps((a), (b))
#define vf_min(a, b) _mm256_min_ps((a), (b))
#define vf_abs(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (a))
#define vf_round(a) _mm256_round_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_floor(a) _mm256_round_ps((a), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
#define vf_pow2i(n) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#define vf_sel_lt(a, b, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (b), _CMP_LT_OQ))
#define vf_sel_nan(a, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (a), _CMP_UNORD_Q))

//@ sse4_math
#define vf_sub(a, b) _mm_sub_ps((a), (b))
#define vf_div(a, b) _mm_div_ps((a), (b))
#define vf_min(a, b) _mm_min_ps((a), (b))
#define vf_abs(a) _mm_andnot_ps(_mm_set1_ps(-0.0f), (a))
#define vf_round(a) _mm_round_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_floor(a) _mm_round_ps((a), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
#define vf_pow2i(n) _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(_mm_cvtps_epi32(n), _mm_set1_epi32(127)), 23))
#define vf_sel_lt(a, b, x, y) _mm_blendv_ps((y), (x), _mm_cmplt_ps((a), (b)))
#define vf_sel_nan(a, x, y) _mm_blendv_ps((y), (x), _mm_cmpunord_ps((a), (a)))

//@ neon_math
#define vf_sub(a, b) vsubq_f32((a), (b))
#define vf_div(a, b) vdivq_f32((a), (b))
#define vf_min(a, b) vminq_f32((a), (b))
#define vf_abs(a) vabsq_f32(a)
#define vf_round(a) vrndnq_f32(a)
#define vf_floor(a) vrndmq_f32(a)
#define vf_pow2i(n) vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))
#define vf_sel_lt(a, b, x, y) vbslq_f32(vcltq_f32((a), (b)), (x), (y))
#define vf_sel_nan(a, x, y) vbslq_f32(vmvnq_u32(vceqq_f32((a), (a))), (x), (y))


//@ narrow_begin
/* $layer: $narrow vectors ($why) */
#if defined(__clang__)
#pragma clang attribute push (__attribute__((target("$gcc_target"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("$gcc_target")
#endif
$undefs
#define vf $vtype

//@ narrow_end
/* back to $target vectors */
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#undef vf
$undefs

//@ vf_undef
#undef VF_W
#undef vf_load
#undef vf_store
#undef vf_set1
#undef vf_zero
#undef vf_fma
#undef vf_add
#undef vf_mul
#undef vf_max
#undef vf_keep
#undef vf_sub
#undef vf_div
#undef vf_min
#undef vf_abs
#undef vf_round
#undef vf_floor
#undef vf_pow2i
#undef vf_sel_lt
#undef vf_sel_nan
