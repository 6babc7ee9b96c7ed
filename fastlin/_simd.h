/* The C helpers of fastlin's Cython kernels (_linear_fast.pyx, _mlp_fast.pyx).
 *
 * The loops that carry the kernels' arithmetic are written here in C so that
 * GCC builds each for several instruction sets in one binary (target_clones:
 * x86-64-v4 = AVX-512, x86-64-v3 = AVX2 + FMA, and the x86-64 baseline), the
 * loader picking the one the CPU supports: no -march=native, the wheel stays
 * portable. Elsewhere (other compilers, CPUs or C libraries) they are
 * compiled once, for the baseline. No -ffast-math: every association is
 * written out here.
 *
 * Both kernel modules include the whole header and each uses its own part;
 * the parts' functions are static, so the unused ones are not emitted.
 * Python.h comes first (Py_ssize_t): the generated C includes it before this.
 */
#ifndef FASTLIN_SIMD_H
#define FASTLIN_SIMD_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Platform
 * ------------------------------------------------------------------------ */

/* target_clones needs GCC >= 11 (for the x86-64-v3/v4 names), x86-64, and
 * the ifunc resolver of the GNU C library on Linux (musl has none). Defining
 * FASTLIN_CLONES empty beforehand (-DFASTLIN_CLONES=) builds the baseline
 * only. */
#ifndef FASTLIN_CLONES
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) \
    && defined(__linux__) && defined(__GLIBC__)
#define FASTLIN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTLIN_CLONES
#endif
#endif

/* The helpers of the cloned functions must be inlined into each clone, to be
 * compiled for its instruction set (a call would reach the baseline build). */
#if defined(__GNUC__) || defined(__clang__)
#define FASTLIN_INLINE static inline __attribute__((always_inline))
#else
#define FASTLIN_INLINE static inline
#endif

/* Each module uses only its own part of this header: no unused-function
 * warnings for the other part. */
#if defined(__GNUC__) || defined(__clang__)
#define FASTLIN_MAYBE_UNUSED __attribute__((unused))
#else
#define FASTLIN_MAYBE_UNUSED
#endif

#if defined(_MSC_VER)
#define FASTLIN_RESTRICT __restrict
#else
#define FASTLIN_RESTRICT restrict
#endif

/* Ask for a cache line ahead of use, for reading, kept in all cache levels
 * (a no-op where the builtin is missing). */
#if defined(__GNUC__) || defined(__clang__)
#define FASTLIN_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define FASTLIN_PREFETCH(p) ((void)0)
#endif

/* 1 in a debug build (setup.py with FASTLIN_CYTHON_DEBUG=1 defines it), where
 * the Cython code runs with bounds checks on. */
#ifndef FASTLIN_DEBUG_BUILD
#define FASTLIN_DEBUG_BUILD 0
#endif

/* 1 when the compiler built this module with OpenMP (setup.py adds -fopenmp
 * when a test compile succeeds, unless FASTLIN_OPENMP=0): each kernel module
 * exposes it as _OPENMP. Without it, Cython's prange loops run on one thread. */
#ifdef _OPENMP
#define FASTLIN_HAS_OPENMP 1
#else
#define FASTLIN_HAS_OPENMP 0
#endif

/* ------------------------------------------------------------------------
 * Linear kernel: the row operations (a row x of X against the c weight rows
 * V, float64). Sums are float64 whatever X's dtype, in 4-wide (32-byte)
 * vector partial sums (GCC/clang vector extensions: one AVX2 or AVX-512VL
 * register, two SSE2 registers) reduced at the end. Not wider: GCC keeps a
 * generic vector wider than the target's registers in memory, and 64-byte
 * vectors made the AVX2 build of these loops 3 to 5 times slower than this.
 * Other compilers get the plain scalar loops.
 * ------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
typedef double fastlin_vd __attribute__((vector_size(32)));
typedef float fastlin_vf __attribute__((vector_size(16)));
/* unaligned loads (float32 widened to float64) and stores of 4 values */
#define fastlin_load_d(p) \
    ({ fastlin_vd v_; __builtin_memcpy(&v_, (p), sizeof v_); v_; })
#define fastlin_load_f(p) \
    ({ fastlin_vf v_; __builtin_memcpy(&v_, (p), sizeof v_); __builtin_convertvector(v_, fastlin_vd); })
#define fastlin_store(p, v) \
    do { fastlin_vd v_ = (v); __builtin_memcpy((p), &v_, sizeof v_); } while (0)
#define fastlin_hsum(a) (((a)[0] + (a)[2]) + ((a)[1] + (a)[3]))
#define FASTLIN_W 4          /* elements per vector step */
#define FASTLIN_VEC(...) __VA_ARGS__
#else
#define FASTLIN_VEC(...)     /* no vector steps: the scalar tails do it all */
#endif

#define FASTLIN_ROW_OPS(S, T)                                                     \
/* return x @ v, x and v (m,) */                                                 \
FASTLIN_INLINE double fastlin_dot_##S(const T *FASTLIN_RESTRICT x,                \
                                     const double *FASTLIN_RESTRICT v,           \
                                     Py_ssize_t m) {                             \
    Py_ssize_t k = 0;                                                            \
    double sum = 0.0;                                                            \
    FASTLIN_VEC(                                                                 \
    fastlin_vd a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                           \
    for (; k + 4 * FASTLIN_W <= m; k += 4 * FASTLIN_W) {                         \
        a0 += fastlin_load_##S(x + k) * fastlin_load_d(v + k);                   \
        a1 += fastlin_load_##S(x + k + FASTLIN_W) * fastlin_load_d(v + k + FASTLIN_W); \
        a2 += fastlin_load_##S(x + k + 2 * FASTLIN_W)                            \
              * fastlin_load_d(v + k + 2 * FASTLIN_W);                           \
        a3 += fastlin_load_##S(x + k + 3 * FASTLIN_W)                            \
              * fastlin_load_d(v + k + 3 * FASTLIN_W);                           \
    }                                                                            \
    for (; k + FASTLIN_W <= m; k += FASTLIN_W)                                   \
        a0 += fastlin_load_##S(x + k) * fastlin_load_d(v + k);                   \
    a0 = (a0 + a1) + (a2 + a3);                                                  \
    sum = fastlin_hsum(a0);                                                      \
    )                                                                            \
    for (; k < m; k++)                                                           \
        sum += (double)x[k] * v[k];                                              \
    return sum;                                                                  \
}                                                                                \
/* s = scale * (x @ V.T) + b, V (c, m): four classes at a time share x */       \
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_scores_##S(              \
        const T *FASTLIN_RESTRICT x, const double *FASTLIN_RESTRICT V,           \
        Py_ssize_t m, Py_ssize_t c, double scale,                                \
        const double *FASTLIN_RESTRICT b, double *FASTLIN_RESTRICT s) {          \
    Py_ssize_t j = 0, k;                                                         \
    for (; j + 4 <= c; j += 4) {                                                 \
        const double *v0 = V + j * m, *v1 = v0 + m, *v2 = v1 + m, *v3 = v2 + m;  \
        double t0 = 0.0, t1 = 0.0, t2 = 0.0, t3 = 0.0;                           \
        k = 0;                                                                   \
        FASTLIN_VEC(                                                             \
        fastlin_vd a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                       \
        for (; k + FASTLIN_W <= m; k += FASTLIN_W) {                             \
            fastlin_vd xk = fastlin_load_##S(x + k);                             \
            a0 += xk * fastlin_load_d(v0 + k);                                   \
            a1 += xk * fastlin_load_d(v1 + k);                                   \
            a2 += xk * fastlin_load_d(v2 + k);                                   \
            a3 += xk * fastlin_load_d(v3 + k);                                   \
        }                                                                        \
        t0 = fastlin_hsum(a0); t1 = fastlin_hsum(a1);                            \
        t2 = fastlin_hsum(a2); t3 = fastlin_hsum(a3);                            \
        )                                                                        \
        for (; k < m; k++) {                                                     \
            double xk = (double)x[k];                                            \
            t0 += xk * v0[k]; t1 += xk * v1[k]; t2 += xk * v2[k]; t3 += xk * v3[k]; \
        }                                                                        \
        s[j] = scale * t0 + b[j];         s[j + 1] = scale * t1 + b[j + 1];      \
        s[j + 2] = scale * t2 + b[j + 2]; s[j + 3] = scale * t3 + b[j + 3];      \
    }                                                                            \
    for (; j < c; j++)                                                           \
        s[j] = scale * fastlin_dot_##S(x, V + j * m, m) + b[j];                  \
}                                                                                \
/* S[r, :] = xs[r] @ V.T + b for the four rows xs[r], S (4, c):                 \
   the rows share each load of V */                                              \
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_block_scores_##S(        \
        const T *const *xs, const double *FASTLIN_RESTRICT V, Py_ssize_t m,      \
        Py_ssize_t c, const double *FASTLIN_RESTRICT b,                          \
        double *FASTLIN_RESTRICT S) {                                            \
    const T *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];                  \
    for (Py_ssize_t j = 0; j < c; j++) {                                         \
        const double *v = V + j * m;                                             \
        double t0 = 0.0, t1 = 0.0, t2 = 0.0, t3 = 0.0;                           \
        Py_ssize_t k = 0;                                                        \
        FASTLIN_VEC(                                                             \
        fastlin_vd a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                       \
        for (; k + FASTLIN_W <= m; k += FASTLIN_W) {                             \
            fastlin_vd vk = fastlin_load_d(v + k);                               \
            a0 += fastlin_load_##S(x0 + k) * vk;                                 \
            a1 += fastlin_load_##S(x1 + k) * vk;                                 \
            a2 += fastlin_load_##S(x2 + k) * vk;                                 \
            a3 += fastlin_load_##S(x3 + k) * vk;                                 \
        }                                                                        \
        t0 = fastlin_hsum(a0); t1 = fastlin_hsum(a1);                            \
        t2 = fastlin_hsum(a2); t3 = fastlin_hsum(a3);                            \
        )                                                                        \
        for (; k < m; k++) {                                                     \
            double vk = v[k];                                                    \
            t0 += (double)x0[k] * vk; t1 += (double)x1[k] * vk;                  \
            t2 += (double)x2[k] * vk; t3 += (double)x3[k] * vk;                  \
        }                                                                        \
        S[j] = t0 + b[j];         S[c + j] = t1 + b[j];                          \
        S[2 * c + j] = t2 + b[j]; S[3 * c + j] = t3 + b[j];                      \
    }                                                                            \
}                                                                                \
/* G[j] += sum_r D[r, j] * xs[r] for the four rows xs[r], D (4, c), G (c, m):   \
   one load and store of G per four rows */                                     \
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_block_update_##S(        \
        const T *const *xs, const double *FASTLIN_RESTRICT D,                    \
        double *FASTLIN_RESTRICT G, Py_ssize_t m, Py_ssize_t c) {                \
    const T *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];                  \
    for (Py_ssize_t j = 0; j < c; j++) {                                         \
        double d0 = D[j], d1 = D[c + j], d2 = D[2 * c + j], d3 = D[3 * c + j];   \
        double *g = G + j * m;                                                   \
        Py_ssize_t k = 0;                                                        \
        if (d0 == 0.0 && d1 == 0.0 && d2 == 0.0 && d3 == 0.0) continue;          \
        FASTLIN_VEC(                                                             \
        for (; k + FASTLIN_W <= m; k += FASTLIN_W)                               \
            fastlin_store(g + k, fastlin_load_d(g + k)                           \
                + ((d0 * fastlin_load_##S(x0 + k) + d1 * fastlin_load_##S(x1 + k)) \
                 + (d2 * fastlin_load_##S(x2 + k) + d3 * fastlin_load_##S(x3 + k)))); \
        )                                                                        \
        for (; k < m; k++)                                                       \
            g[k] += (d0 * (double)x0[k] + d1 * (double)x1[k])                    \
                    + (d2 * (double)x2[k] + d3 * (double)x3[k]);                 \
    }                                                                            \
}                                                                                \
/* V[j] += a[j] * x for each j with a[j] != 0, V (c, m): four rows at a time   \
   share the loads of x when all four change (softmax), else one by one */      \
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_update_##S(              \
        const T *FASTLIN_RESTRICT x, const double *FASTLIN_RESTRICT a,           \
        double *FASTLIN_RESTRICT V, Py_ssize_t m, Py_ssize_t c) {                \
    Py_ssize_t j = 0;                                                            \
    for (; j + 4 <= c && a[j] != 0.0 && a[j + 1] != 0.0                         \
           && a[j + 2] != 0.0 && a[j + 3] != 0.0; j += 4) {                      \
        double a0 = a[j], a1 = a[j + 1], a2 = a[j + 2], a3 = a[j + 3];           \
        double *v0 = V + j * m, *v1 = v0 + m, *v2 = v1 + m, *v3 = v2 + m;        \
        Py_ssize_t k = 0;                                                        \
        FASTLIN_VEC(                                                             \
        for (; k + FASTLIN_W <= m; k += FASTLIN_W) {                             \
            fastlin_vd xk = fastlin_load_##S(x + k);                             \
            fastlin_store(v0 + k, fastlin_load_d(v0 + k) + a0 * xk);             \
            fastlin_store(v1 + k, fastlin_load_d(v1 + k) + a1 * xk);             \
            fastlin_store(v2 + k, fastlin_load_d(v2 + k) + a2 * xk);             \
            fastlin_store(v3 + k, fastlin_load_d(v3 + k) + a3 * xk);             \
        }                                                                        \
        )                                                                        \
        for (; k < m; k++) {                                                     \
            double xk = (double)x[k];                                            \
            v0[k] += a0 * xk; v1[k] += a1 * xk; v2[k] += a2 * xk; v3[k] += a3 * xk; \
        }                                                                        \
    }                                                                            \
    for (; j < c; j++) {                                                         \
        double aj = a[j], *v = V + j * m;                                        \
        Py_ssize_t k = 0;                                                        \
        if (aj == 0.0) continue;                                                 \
        FASTLIN_VEC(                                                             \
        for (; k + FASTLIN_W <= m; k += FASTLIN_W)                               \
            fastlin_store(v + k, fastlin_load_d(v + k) + aj * fastlin_load_##S(x + k)); \
        )                                                                        \
        for (; k < m; k++)                                                       \
            v[k] += aj * (double)x[k];                                           \
    }                                                                            \
}

FASTLIN_ROW_OPS(d, double)
FASTLIN_ROW_OPS(f, float)

/* float32 lanes for the single-output float32 full-batch gradient: four
 * rows' dot products with the float32 weights w, summed in float32 (8-wide
 * partial sums, reduced at the end), and the block's update of a float32
 * gradient g that the caller adds into its float64 sum every
 * F32_FLUSH_ROWS rows. */
#if defined(__GNUC__) || defined(__clang__)
typedef float fastlin_v8f __attribute__((vector_size(32)));
#define fastlin_load8f(p) \
    ({ fastlin_v8f v_; __builtin_memcpy(&v_, (p), sizeof v_); v_; })
#define fastlin_store8f(p, v) \
    do { fastlin_v8f v_ = (v); __builtin_memcpy((p), &v_, sizeof v_); } while (0)
FASTLIN_INLINE float fastlin_hsum8f(fastlin_v8f a) {
    float t = 0.0f;
    for (int i = 0; i < 4; i++) t += a[i] + a[i + 4];
    return t;
}
#endif
/* s[r] = xs[r] @ w in float32, r < 4 */
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_block_dot4_f32(
        const float *const *xs, const float *FASTLIN_RESTRICT w, Py_ssize_t m,
        double *FASTLIN_RESTRICT s) {
    const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
    Py_ssize_t k = 0;
    FASTLIN_VEC(
    fastlin_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (; k + 8 <= m; k += 8) {
        fastlin_v8f wk = fastlin_load8f(w + k);
        a0 += fastlin_load8f(x0 + k) * wk;
        a1 += fastlin_load8f(x1 + k) * wk;
        a2 += fastlin_load8f(x2 + k) * wk;
        a3 += fastlin_load8f(x3 + k) * wk;
    }
    t0 = fastlin_hsum8f(a0); t1 = fastlin_hsum8f(a1);
    t2 = fastlin_hsum8f(a2); t3 = fastlin_hsum8f(a3);
    )
    for (; k < m; k++) {
        float wk = w[k];
        t0 += x0[k] * wk; t1 += x1[k] * wk; t2 += x2[k] * wk; t3 += x3[k] * wk;
    }
    s[0] = t0; s[1] = t1; s[2] = t2; s[3] = t3;
}
/* g += Σ_r d[r] xs[r] in float32, r < 4 */
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_block_axpy4_f32(
        const float *const *xs, const double *FASTLIN_RESTRICT d,
        float *FASTLIN_RESTRICT g, Py_ssize_t m) {
    const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
    float d0 = (float)d[0], d1 = (float)d[1], d2 = (float)d[2], d3 = (float)d[3];
    Py_ssize_t k = 0;
    FASTLIN_VEC(
    for (; k + 8 <= m; k += 8)
        fastlin_store8f(g + k, fastlin_load8f(g + k)
            + ((d0 * fastlin_load8f(x0 + k) + d1 * fastlin_load8f(x1 + k))
             + (d2 * fastlin_load8f(x2 + k) + d3 * fastlin_load8f(x3 + k))));
    )
    for (; k < m; k++)
        g[k] += (d0 * x0[k] + d1 * x1[k]) + (d2 * x2[k] + d3 * x3[k]);
}

/* ------------------------------------------------------------------------
 * Network kernel: the gather of a batch's rows and the elementwise sweeps
 * over the (batch, hidden) and (batch, classes) buffers. Their exponential
 * is a polynomial, not a libm call per element, written once per lane
 * width: a scalar function for the tails and the other compilers, and the
 * same operations on 4 float64 or 8 float32 lanes (GCC/clang vector
 * extensions; GCC does not vectorise the scalar one for AVX2 by itself).
 * ------------------------------------------------------------------------ */

/* e^x = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 (ln 2 in two
   parts, Cody-Waite), e^r by Taylor to degree 13 (|r| <= ln2/2: relative
   error below 2e-16). 2^k is applied as 2^k1 2^k2 (k1 + k2 = k, two normal
   doubles), so that e^x overflows to inf and underflows through the
   subnormals to 0 as libm's does. x is first clamped to [-746, 710], past
   which the result is already 0 or inf (the comparisons keep a NaN, and k
   is taken from 0 for a NaN). */
#define FASTLIN_EXP_F64_POLY(p, r)                                              \
    p = p * r + 1.0 / 479001600.0;  p = p * r + 1.0 / 39916800.0;               \
    p = p * r + 1.0 / 3628800.0;    p = p * r + 1.0 / 362880.0;                 \
    p = p * r + 1.0 / 40320.0;      p = p * r + 1.0 / 5040.0;                   \
    p = p * r + 1.0 / 720.0;        p = p * r + 1.0 / 120.0;                    \
    p = p * r + 1.0 / 24.0;         p = p * r + 1.0 / 6.0;                      \
    p = p * r + 0.5;                p = p * r + 1.0;                            \
    p = p * r + 1.0;
static inline double fastlin_exp_f64(double x) {
    x = x > 710.0 ? 710.0 : x;
    x = x < -746.0 ? -746.0 : x;
    double xk = x == x ? x : 0.0;
    double kf = (xk * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
    double r = (x - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    FASTLIN_EXP_F64_POLY(p, r)
    int32_t k = (int32_t) kf, k1 = k / 2, k2 = k - k1;
    int64_t bits1 = (int64_t) (k1 + 1023) << 52, bits2 = (int64_t) (k2 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &bits1, sizeof s1);
    memcpy(&s2, &bits2, sizeof s2);
    return p * s1 * s2;
}

/* The same in float: x clamped to [-104, 89], Taylor to degree 7. */
#define FASTLIN_EXP_F32_POLY(p, r)                                              \
    p = p * r + 1.0f / 720.0f;  p = p * r + 1.0f / 120.0f;                      \
    p = p * r + 1.0f / 24.0f;   p = p * r + 1.0f / 6.0f;                        \
    p = p * r + 0.5f;           p = p * r + 1.0f;                               \
    p = p * r + 1.0f;
static inline float fastlin_exp_f32(float x) {
    x = x > 89.0f ? 89.0f : x;
    x = x < -104.0f ? -104.0f : x;
    float xk = x == x ? x : 0.0f;
    float kf = (xk * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = (x - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    FASTLIN_EXP_F32_POLY(p, r)
    int32_t k = (int32_t) kf, k1 = k / 2, k2 = k - k1;
    int32_t bits1 = (k1 + 127) << 23, bits2 = (k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &bits1, sizeof s1);
    memcpy(&s2, &bits2, sizeof s2);
    return p * s1 * s2;
}

#if defined(__GNUC__) || defined(__clang__)
typedef long long fastlin_vl __attribute__((vector_size(32)));             /* 4 int64 */
typedef unsigned long long fastlin_vul __attribute__((vector_size(32)));   /* 4 uint64 */
typedef int fastlin_v8i __attribute__((vector_size(32)));                  /* 8 int32 */
typedef unsigned int fastlin_v8u __attribute__((vector_size(32)));         /* 8 uint32 */
#define FASTLIN_VD(c) ((fastlin_vd){(c), (c), (c), (c)})
#define FASTLIN_V8F(c) ((fastlin_v8f){(c), (c), (c), (c), (c), (c), (c), (c)})
/* mask ? a : b, lane by lane (a comparison's mask: all ones or all zeros) */
#define FASTLIN_SELECT(T, I, mask, a, b) \
    ((T) (((I) (mask) & (I) (a)) | (~(I) (mask) & (I) (b))))

/* fastlin_exp_f64 on 4 lanes. k is read from the bits of the rounding sum
   xk / ln 2 + 1.5·2^52 (whose low bits hold k) and split as k1 = ⌊k/2⌋
   with unsigned shifts of k + 2046 >= 0, where the scalar truncates k/2:
   p 2^k1 is exact for either (|k1| <= 539), so p 2^k1 2^k2 rounds once and
   both give the same e^x. */
FASTLIN_INLINE void fastlin_exp_vd(fastlin_vd *out, fastlin_vd x) {
    x = FASTLIN_SELECT(fastlin_vd, fastlin_vl, x > FASTLIN_VD(710.0), FASTLIN_VD(710.0), x);
    x = FASTLIN_SELECT(fastlin_vd, fastlin_vl, x < FASTLIN_VD(-746.0), FASTLIN_VD(-746.0), x);
    fastlin_vd xk = FASTLIN_SELECT(fastlin_vd, fastlin_vl, x == x, x, FASTLIN_VD(0.0));
    fastlin_vd shifted = xk * 1.4426950408889634 + 6755399441055744.0;
    fastlin_vd kf = shifted - 6755399441055744.0;
    fastlin_vd r = (x - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
    fastlin_vd p = FASTLIN_VD(1.0 / 6227020800.0);
    FASTLIN_EXP_F64_POLY(p, r)
    const double magic = 6755399441055744.0;
    long long magic_bits;
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    fastlin_vul kb = (fastlin_vul) ((fastlin_vl) shifted - magic_bits + 2046);
    fastlin_vul k1b = kb >> 1;
    fastlin_vd s1 = (fastlin_vd) (k1b << 52), s2 = (fastlin_vd) ((kb - k1b) << 52);
    *out = p * s1 * s2;
}

/* fastlin_exp_f32 on 8 lanes, k split as in fastlin_exp_vd (k + 254 >= 0). */
FASTLIN_INLINE void fastlin_exp_v8f(fastlin_v8f *out, fastlin_v8f x) {
    x = FASTLIN_SELECT(fastlin_v8f, fastlin_v8i, x > FASTLIN_V8F(89.0f), FASTLIN_V8F(89.0f), x);
    x = FASTLIN_SELECT(fastlin_v8f, fastlin_v8i, x < FASTLIN_V8F(-104.0f),
                       FASTLIN_V8F(-104.0f), x);
    fastlin_v8f xk = FASTLIN_SELECT(fastlin_v8f, fastlin_v8i, x == x, x, FASTLIN_V8F(0.0f));
    fastlin_v8f shifted = xk * 1.44269504f + 12582912.0f;
    fastlin_v8f kf = shifted - 12582912.0f;
    fastlin_v8f r = (x - kf * 0.693359375f) - kf * -2.12194440e-4f;
    fastlin_v8f p = FASTLIN_V8F(1.0f / 5040.0f);
    FASTLIN_EXP_F32_POLY(p, r)
    const float magic = 12582912.0f;
    int magic_bits;
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    fastlin_v8u kb = (fastlin_v8u) ((fastlin_v8i) shifted - magic_bits + 254);
    fastlin_v8u k1b = kb >> 1;
    fastlin_v8f s1 = (fastlin_v8f) (k1b << 23), s2 = (fastlin_v8f) ((kb - k1b) << 23);
    *out = p * s1 * s2;
}
#endif

/* dst row k = src row idx[k] (k < count), rows of row_bytes bytes. The
   rows come in a random order the hardware prefetcher cannot guess, so
   each row is prefetched `ahead` rows before it is copied. */
FASTLIN_MAYBE_UNUSED static void fastlin_gather_rows(
        char *dst, const char *src, const Py_ssize_t *idx, Py_ssize_t count,
        Py_ssize_t row_bytes) {
    const Py_ssize_t ahead = 4;
    for (Py_ssize_t k = 0; k < count && k < ahead; k++)
        for (Py_ssize_t o = 0; o < row_bytes; o += 64)
            FASTLIN_PREFETCH(src + idx[k] * row_bytes + o);
    for (Py_ssize_t k = 0; k < count; k++) {
        if (k + ahead < count)
            for (Py_ssize_t o = 0; o < row_bytes; o += 64)
                FASTLIN_PREFETCH(src + idx[k + ahead] * row_bytes + o);
        memcpy(dst + k * row_bytes, src + idx[k] * row_bytes, row_bytes);
    }
}

/* The two exponential sweeps of one dtype S (element T, vector V of LANES
 * lanes, its loads/stores LOAD/STORE, exponentials EXP_V and EXP_S):
 *   fastlin_exp_shifted_S:  Q = e^(Q - shift[i]) row by row, Q (rows, cols);
 *   fastlin_sigmoid_bias_S: Z = sigma(Z + b), Z (rows, cols), b (cols,);
 * whole vectors first, then the row's last cols % LANES entries one by one. */
#define FASTLIN_EXP_SWEEPS(S, T, V, LANES, LOAD, STORE, EXP_V, EXP_S)              \
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_exp_shifted_##S(            \
        T *Q, const T *shift, Py_ssize_t rows, Py_ssize_t cols) {                   \
    for (Py_ssize_t i = 0; i < rows; i++) {                                         \
        T *q = Q + i * cols;                                                        \
        Py_ssize_t j = 0;                                                           \
        FASTLIN_VEC(                                                                \
        for (; j + LANES <= cols; j += LANES) {                                     \
            V e;                                                                    \
            EXP_V(&e, LOAD(q + j) - shift[i]);                                      \
            STORE(q + j, e);                                                        \
        })                                                                          \
        for (; j < cols; j++)                                                       \
            q[j] = EXP_S(q[j] - shift[i]);                                          \
    }                                                                               \
}                                                                                   \
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_sigmoid_bias_##S(           \
        T *Z, const T *b, Py_ssize_t rows, Py_ssize_t cols) {                       \
    for (Py_ssize_t i = 0; i < rows; i++) {                                         \
        T *z = Z + i * cols;                                                        \
        Py_ssize_t j = 0;                                                           \
        FASTLIN_VEC(                                                                \
        for (; j + LANES <= cols; j += LANES) {                                     \
            V e;                                                                    \
            EXP_V(&e, -(LOAD(z + j) + LOAD(b + j)));                                \
            STORE(z + j, (T) 1 / ((T) 1 + e));                                      \
        })                                                                          \
        for (; j < cols; j++)                                                       \
            z[j] = (T) 1 / ((T) 1 + EXP_S(-(z[j] + b[j])));                         \
    }                                                                               \
}

FASTLIN_EXP_SWEEPS(f64, double, fastlin_vd, 4, fastlin_load_d, fastlin_store,
                   fastlin_exp_vd, fastlin_exp_f64)
FASTLIN_EXP_SWEEPS(f32, float, fastlin_v8f, 8, fastlin_load8f, fastlin_store8f,
                   fastlin_exp_v8f, fastlin_exp_f32)

/* D = D * Z * (1 - Z) and g = column sums of the new D (in double). */
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_sigmoid_backward_f64(
        double *D, const double *Z, double *g, Py_ssize_t rows, Py_ssize_t cols) {
    for (Py_ssize_t j = 0; j < cols; j++) g[j] = 0.0;
    for (Py_ssize_t i = 0; i < rows; i++) {
        double *d = D + i * cols;
        const double *z = Z + i * cols;
        for (Py_ssize_t j = 0; j < cols; j++) {
            d[j] = d[j] * z[j] * (1.0 - z[j]);
            g[j] += d[j];
        }
    }
}
FASTLIN_CLONES FASTLIN_MAYBE_UNUSED static void fastlin_sigmoid_backward_f32(
        float *D, const float *Z, double *g, Py_ssize_t rows, Py_ssize_t cols) {
    for (Py_ssize_t j = 0; j < cols; j++) g[j] = 0.0;
    for (Py_ssize_t i = 0; i < rows; i++) {
        float *d = D + i * cols;
        const float *z = Z + i * cols;
        for (Py_ssize_t j = 0; j < cols; j++) {
            d[j] = d[j] * z[j] * (1.0f - z[j]);
            g[j] += (double) d[j];
        }
    }
}

#endif /* FASTLIN_SIMD_H */
