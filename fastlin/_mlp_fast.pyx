"""Cython minibatch SGD for the one-hidden-layer network (§7 of docs/math.md).

``sgd_epoch`` has the signature and semantics of
``fastlin.reference.network.sgd_epoch`` (read its docstring for the math);
per batch B of b_s samples, with Xb the batch's rows of X (gathered into a
buffer, read in place when the batch is a run of consecutive rows):

    Ẑ = Xb W                      gemm
    Z = σ(Ẑ + b1)                 one sweep (fused bias + sigmoid)
    Q̂ = Z V                       gemm
    M_i = max_k (Q̂ + b2)_ik       per row
    E = e^(Q̂ + b2 − M)            one sweep
    CE_i = M_i + log Σ_k E_ik − Q̂_i,y_i;  Δ2 = w ⊙ (E / Σ_k E − Y) / b_s;
    ∇b2 = Σ Δ2                    per row
    P = Δ2 Vᵀ                     gemm (with V before its update)
    Δ1 = P ⊙ Z ⊙ (1 − Z),  ∇b1 = Σ Δ1
                                  one sweep
    ∇V = Zᵀ Δ2 + α V              gemm, then the V update in a loop
    ∇W = Xbᵀ Δ1 + α W             gemm; without momentum the update is folded
                                  into it: W ← (1 − ηα) W − η Xbᵀ Δ1

Every work buffer is allocated once per call; the whole epoch runs in one
``with nogil:`` block, the products through scipy's BLAS (cython_blas).
Bias gradients and the loss are accumulated in float64. The three sweeps that
evaluate exponentials are small C functions (below) that the compiler
vectorises: their exponential is a polynomial (accurate to 2e-16 in float64,
1e-7 in float32), not a libm call per element.
"""
import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.math cimport log

from fastlin._blas cimport gemm
from fastlin._schedule cimport eta_t, schedule_kind

cnp.import_array()

ctypedef cnp.intp_t intp_t

from fastlin._numeric import SCHEDULES
INT_MAX = 2**31 - 1      # BLAS dimensions are C ints


# The two elementwise sweeps over the (batch, hidden) buffers, in plain C so
# that GCC vectorises them (the exponential is a polynomial, not a libm call)
# and, on x86-64 Linux, compiles them for AVX-512 and AVX2 besides the SSE2
# baseline, picking the best at load time (target_clones). Elsewhere they are
# the same loops, compiled for the baseline.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 \
        && defined(__x86_64__) && defined(__linux__)
    #define FL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define FL_CLONES
    #endif

    /* e^x = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 (ln 2 in two
       parts, Cody-Waite), e^r by Taylor to degree 13 (|r| <= ln2/2: relative
       error below 2e-16). 2^k is applied as 2^k1 2^k2 (k1 = k/2, two normal
       doubles), so that e^x overflows to inf and underflows through the
       subnormals to 0 as libm's does. x is first clamped to [-746, 710], past
       which the result is already 0 or inf (the comparisons keep a NaN, and k
       is taken from 0 for a NaN). */
    static inline double fl_exp_f64(double x) {
        x = x > 710.0 ? 710.0 : x;
        x = x < -746.0 ? -746.0 : x;
        double xk = x == x ? x : 0.0;
        double kf = (xk * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
        double r = (x - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
        double p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        int32_t k = (int32_t) kf, k1 = k / 2, k2 = k - k1;
        int64_t bits1 = (int64_t) (k1 + 1023) << 52, bits2 = (int64_t) (k2 + 1023) << 52;
        double s1, s2;
        memcpy(&s1, &bits1, sizeof s1);
        memcpy(&s2, &bits2, sizeof s2);
        return p * s1 * s2;
    }

    /* The same in float: x clamped to [-104, 89], Taylor to degree 7. */
    static inline float fl_exp_f32(float x) {
        x = x > 89.0f ? 89.0f : x;
        x = x < -104.0f ? -104.0f : x;
        float xk = x == x ? x : 0.0f;
        float kf = (xk * 1.44269504f + 12582912.0f) - 12582912.0f;
        float r = (x - kf * 0.693359375f) - kf * -2.12194440e-4f;
        float p = 1.0f / 5040.0f;
        p = p * r + 1.0f / 720.0f;
        p = p * r + 1.0f / 120.0f;
        p = p * r + 1.0f / 24.0f;
        p = p * r + 1.0f / 6.0f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        int32_t k = (int32_t) kf, k1 = k / 2, k2 = k - k1;
        int32_t bits1 = (k1 + 127) << 23, bits2 = (k2 + 127) << 23;
        float s1, s2;
        memcpy(&s1, &bits1, sizeof s1);
        memcpy(&s2, &bits2, sizeof s2);
        return p * s1 * s2;
    }

    /* dst row k = src row idx[k] (k < count), rows of row_bytes bytes. The
       rows come in a random order the hardware prefetcher cannot guess, so
       each row is prefetched `ahead` rows before it is copied. */
    #if defined(__GNUC__) || defined(__clang__)
    #define FL_PREFETCH(p) __builtin_prefetch((p), 0, 3)
    #else
    #define FL_PREFETCH(p) ((void) 0)
    #endif
    static void fl_gather_rows(char *dst, const char *src, const Py_ssize_t *idx,
                               Py_ssize_t count, Py_ssize_t row_bytes) {
        const Py_ssize_t ahead = 4;
        for (Py_ssize_t k = 0; k < count && k < ahead; k++)
            for (Py_ssize_t o = 0; o < row_bytes; o += 64)
                FL_PREFETCH(src + idx[k] * row_bytes + o);
        for (Py_ssize_t k = 0; k < count; k++) {
            if (k + ahead < count)
                for (Py_ssize_t o = 0; o < row_bytes; o += 64)
                    FL_PREFETCH(src + idx[k + ahead] * row_bytes + o);
            memcpy(dst + k * row_bytes, src + idx[k] * row_bytes, row_bytes);
        }
    }

    /* Q = e^(Q - shift), the shift (rows,) broadcast over each row. */
    FL_CLONES static void fl_exp_shifted_f64(double *Q, const double *shift,
                                             Py_ssize_t rows, Py_ssize_t cols) {
        for (Py_ssize_t i = 0; i < rows; i++)
            for (Py_ssize_t j = 0; j < cols; j++)
                Q[i * cols + j] = fl_exp_f64(Q[i * cols + j] - shift[i]);
    }
    FL_CLONES static void fl_exp_shifted_f32(float *Q, const float *shift,
                                             Py_ssize_t rows, Py_ssize_t cols) {
        for (Py_ssize_t i = 0; i < rows; i++)
            for (Py_ssize_t j = 0; j < cols; j++)
                Q[i * cols + j] = fl_exp_f32(Q[i * cols + j] - shift[i]);
    }

    /* Z = sigma(Z + b), Z (rows, cols) row-major, b (cols,). */
    FL_CLONES static void fl_sigmoid_bias_f64(double *Z, const double *b,
                                              Py_ssize_t rows, Py_ssize_t cols) {
        for (Py_ssize_t i = 0; i < rows; i++) {
            double *z = Z + i * cols;
            for (Py_ssize_t j = 0; j < cols; j++)
                z[j] = 1.0 / (1.0 + fl_exp_f64(-(z[j] + b[j])));
        }
    }
    FL_CLONES static void fl_sigmoid_bias_f32(float *Z, const float *b,
                                              Py_ssize_t rows, Py_ssize_t cols) {
        for (Py_ssize_t i = 0; i < rows; i++) {
            float *z = Z + i * cols;
            for (Py_ssize_t j = 0; j < cols; j++)
                z[j] = 1.0f / (1.0f + fl_exp_f32(-(z[j] + b[j])));
        }
    }

    /* D = D * Z * (1 - Z) and g = column sums of the new D (in double). */
    FL_CLONES static void fl_sigmoid_backward_f64(double *D, const double *Z, double *g,
                                                  Py_ssize_t rows, Py_ssize_t cols) {
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
    FL_CLONES static void fl_sigmoid_backward_f32(float *D, const float *Z, double *g,
                                                  Py_ssize_t rows, Py_ssize_t cols) {
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
    """
    void fl_sigmoid_bias_f64(double *Z, const double *b, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void fl_sigmoid_bias_f32(float *Z, const float *b, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void fl_sigmoid_backward_f64(double *D, const double *Z, double *g, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void fl_sigmoid_backward_f32(float *D, const float *Z, double *g, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void fl_gather_rows(char *dst, const char *src, const intp_t *idx, Py_ssize_t count, Py_ssize_t row_bytes) noexcept nogil
    void fl_exp_shifted_f64(double *Q, const double *shift, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void fl_exp_shifted_f32(float *Q, const float *shift, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    double fl_exp_f64(double x) noexcept nogil
    float fl_exp_f32(float x) noexcept nogil


cdef inline void _sigmoid_bias(floating *Z, const floating *b, Py_ssize_t rows,
                               Py_ssize_t cols) noexcept nogil:
    """Z = σ(Z + b) = 1 / (1 + e^(−(Z + b))), b broadcast over the rows."""
    if floating is float:
        fl_sigmoid_bias_f32(Z, b, rows, cols)
    else:
        fl_sigmoid_bias_f64(Z, b, rows, cols)


cdef inline void _exp_shifted(floating *Q, const floating *shift, Py_ssize_t rows,
                              Py_ssize_t cols) noexcept nogil:
    """Q = e^(Q − shift), shift (rows,) broadcast over each row."""
    if floating is float:
        fl_exp_shifted_f32(Q, shift, rows, cols)
    else:
        fl_exp_shifted_f64(Q, shift, rows, cols)


cdef inline void _sigmoid_backward(floating *D, const floating *Z, double *g, Py_ssize_t rows,
                                   Py_ssize_t cols) noexcept nogil:
    """D = D ⊙ Z ⊙ (1 − Z);  g = Σ_rows D."""
    if floating is float:
        fl_sigmoid_backward_f32(D, Z, g, rows, cols)
    else:
        fl_sigmoid_backward_f64(D, Z, g, rows, cols)


def sgd_epoch(X, y, params, order, *, eta0, batch_size=32, alpha=0.0,
              momentum=0.0, nesterov=False, velocities=None,
              schedule="constant", power_t=0.5, t=0, sample_weight=None):
    """One epoch of minibatch SGD on the network, in place, in Cython.

    Same signature and semantics as ``fastlin.reference.network.sgd_epoch``:
    batches are consecutive runs of ``batch_size`` entries of ``order`` (the
    last may be shorter); per batch t ← t + 1, η_t of ``schedule``
    (``_schedule.pxd``), the gradient g of the batch objective
    (mean over the batch plus (α/2)(||W||² + ||V||²)), then

        plain     (momentum = 0):  θ ← θ − η_t g
        momentum  (μ > 0):         v ← μ v − η_t g,   θ ← θ + v
        Nesterov  (μ > 0):         v ← μ v − η_t g,   θ ← θ + μ v − η_t g

    for θ in ``params = [W, b1, V, b2]`` (C-contiguous, X's dtype, updated in
    place) with velocities ``v`` (same shapes, updated in place, required when
    momentum > 0). X is C-contiguous float32 or float64 (read-only is fine),
    y and ``order`` integer arrays (converted to intp).

    Returns ``(epoch_loss, t)``: epoch_loss = (1/n) Σ_i w_i CE_i with each
    CE_i from the forward pass of its batch (before its update). Non-finite
    values propagate into the parameters and the loss; they never raise here.
    """
    X, y, order, W, b1, V, b2 = _check_arrays(X, y, order, params)
    n, m = X.shape
    hidden, c = V.shape
    dtype = X.dtype
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")
    momentum = float(momentum)
    if momentum > 0:
        if velocities is None:
            raise ValueError("momentum > 0 needs velocities (a list shaped like params)")
        vW, vb1, vV, vb2 = _check_like(velocities, (W, b1, V, b2), "velocities")
    else:
        vW = vV = np.empty((0, 0), dtype=dtype)      # never touched
        vb1 = vb2 = np.empty(0, dtype=dtype)
    has_weights = sample_weight is not None
    if has_weights:
        sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
        if sample_weight.shape != (n,):
            raise ValueError(f"sample_weight has shape {sample_weight.shape}, expected ({n},)")
    else:
        sample_weight = np.empty(0, dtype=dtype)

    bs = min(batch_size, max(len(order), 1))         # the same batches, a BLAS int
    if bs > INT_MAX:
        raise ValueError("batches beyond 2**31 - 1 rows do not fit BLAS's int arguments")
    # the gathered rows of a batch, only when some batch is not a run of
    # consecutive rows (a full batch in order reads X in place: no copy of X)
    Xb = np.empty((bs if _needs_gather(order, bs) else 0, m), dtype=dtype)
    Z = np.empty((bs, hidden), dtype=dtype)          # Ẑ, then Z = σ(Ẑ + b1)
    Q = np.empty((bs, c), dtype=dtype)               # Q̂, then Δ2
    D1 = np.empty((bs, hidden), dtype=dtype)         # Δ2 Vᵀ, then Δ1
    gV = np.empty((hidden, c), dtype=dtype)          # Zᵀ Δ2
    gW = np.empty((m, hidden) if momentum > 0 else (0, 0), dtype=dtype)   # Xbᵀ Δ1
    gb1 = np.empty(hidden, dtype=np.float64)
    gb2 = np.empty(c, dtype=np.float64)
    rowmax = np.empty(bs, dtype=dtype)               # max_k Q̂_ik of each row
    qy = np.empty(bs, dtype=np.float64)              # Q̂_i,y_i of each row

    cdef double total
    cdef Py_ssize_t t_out
    total, t_out = _epoch(X, y, order, W, b1, V, b2, vW, vb1, vV, vb2,
                          sample_weight, Xb, Z, Q, D1, gV, gW, gb1, gb2, rowmax, qy,
                          has_weights, bs, float(eta0), float(alpha), momentum,
                          bool(nesterov), schedule_kind(schedule, float(alpha)), float(power_t), int(t))
    return total / n, t_out


def _needs_gather(const intp_t[::1] order, Py_ssize_t batch_size):
    """True when some batch of ``order`` is not a run of consecutive rows."""
    cdef Py_ssize_t k
    for k in range(1, order.shape[0]):
        if k % batch_size != 0 and order[k] != order[k - 1] + 1:
            return True
    return False


def _check_arrays(X, y, order, params):
    """Cheap O(1) checks (O(n) for the label and index ranges): dtypes, shapes,
    contiguity. Raises TypeError / ValueError with a message, never crashes."""
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be a float32 or float64 ndarray, got {getattr(X, 'dtype', type(X))}")
    if X.ndim != 2 or not X.flags.c_contiguous:
        raise ValueError("X must be a 2-D C-contiguous array")
    n, m = X.shape
    if n < 1 or m < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {X.shape}")
    if len(params) != 4:
        raise ValueError("params must be the list [W, b1, V, b2]")
    W, b1, V, b2 = params
    for name, p, ndim in (("W", W, 2), ("b1", b1, 1), ("V", V, 2), ("b2", b2, 1)):
        if not isinstance(p, np.ndarray) or p.dtype != X.dtype:
            raise TypeError(f"{name} must be an ndarray of X's dtype {X.dtype}, "
                            f"got {getattr(p, 'dtype', type(p))}")
        if p.ndim != ndim or not p.flags.c_contiguous or not p.flags.writeable:
            raise ValueError(f"{name} must be a writeable C-contiguous {ndim}-D array")
    hidden, c = V.shape
    if W.shape != (m, hidden) or b1.shape != (hidden,) or b2.shape != (c,) or hidden < 1 or c < 1:
        raise ValueError(f"parameter shapes W {W.shape}, b1 {b1.shape}, V {V.shape}, "
                         f"b2 {b2.shape} do not fit X with {m} features")
    if max(m, hidden, c) > INT_MAX:
        raise ValueError("dimensions beyond 2**31 - 1 do not fit BLAS's int arguments")
    y = _as_index(y, "y")
    order = _as_index(order, "order")
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, expected ({n},)")
    if n and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"labels must lie in 0..{c - 1}")
    if len(order) and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order must hold sample indices in 0..{n - 1}")
    return X, y, order, W, b1, V, b2


def _as_index(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D")
    return np.ascontiguousarray(a, dtype=np.intp)


def _check_like(arrays, like, what):
    if len(arrays) != len(like):
        raise ValueError(f"{what} must be a list of {len(like)} arrays shaped like params")
    for a, p in zip(arrays, like):
        if (not isinstance(a, np.ndarray) or a.dtype != p.dtype or a.shape != p.shape
                or not a.flags.c_contiguous or not a.flags.writeable):
            raise ValueError(f"{what} must be writeable C-contiguous arrays shaped and typed like params")
    return arrays


def _epoch(const floating[:, ::1] X, const intp_t[::1] y, const intp_t[::1] order,
           floating[:, ::1] W, floating[::1] b1, floating[:, ::1] V, floating[::1] b2,
           floating[:, ::1] vW, floating[::1] vb1, floating[:, ::1] vV, floating[::1] vb2,
           const floating[::1] sw,
           floating[:, ::1] Xb, floating[:, ::1] Z, floating[:, ::1] Q, floating[:, ::1] D1,
           floating[:, ::1] gV, floating[:, ::1] gW, double[::1] gb1, double[::1] gb2,
           floating[::1] rowmax, double[::1] qy, bint has_weights, Py_ssize_t batch_size, double eta0, double alpha,
           double momentum, bint nesterov, int schedule, double power_t, Py_ssize_t t):
    """The epoch proper (arguments checked by ``sgd_epoch``); returns
    (Σ_i w_i CE_i, t)."""
    cdef Py_ssize_t m = X.shape[1], hidden = V.shape[0], c = V.shape[1]
    cdef Py_ssize_t n_order = order.shape[0]
    cdef Py_ssize_t start, bs, i, j, k, idx, yi
    cdef bint contiguous
    cdef const floating *xb
    cdef double eta, total = 0.0, wi, scale, mx, s
    cdef floating decay, mu = <floating> momentum, g
    cdef floating *row

    with nogil:
        start = 0
        while start < n_order:
            bs = min(batch_size, n_order - start)
            t += 1
            eta = eta_t(schedule, eta0, power_t, alpha, t)

            # Xb = X[order[start:start + bs]] (read in place when consecutive)
            contiguous = True
            for k in range(1, bs):
                if order[start + k] != order[start] + k:
                    contiguous = False
                    break
            if contiguous:
                xb = &X[order[start], 0]
            else:
                fl_gather_rows(<char *> &Xb[0, 0], <const char *> &X[0, 0], &order[start],
                               bs, m * sizeof(floating))
                xb = &Xb[0, 0]

            # Ẑ = Xb W;  Z = σ(Ẑ + b1)
            gemm(False, False, bs, hidden, m, 1, xb, m, &W[0, 0], hidden, 0, &Z[0, 0], hidden)
            _sigmoid_bias(&Z[0, 0], &b1[0], bs, hidden)

            # Q̂ = Z V + b2;  CE_i = max + log Σ e^(Q̂ − max) − Q̂_y;
            # Δ2 = w (softmax(Q̂) − Y) / bs;  ∇b2 = Σ Δ2
            gemm(False, False, bs, c, hidden, 1, &Z[0, 0], hidden, &V[0, 0], c, 0, &Q[0, 0], c)
            for i in range(bs):
                row = &Q[i, 0]
                mx = row[0] + b2[0]
                for k in range(c):
                    row[k] += b2[k]
                    if row[k] > mx:            # a NaN never wins: it propagates below
                        mx = row[k]
                rowmax[i] = <floating> mx
                qy[i] = row[y[order[start + i]]]
            _exp_shifted(&Q[0, 0], &rowmax[0], bs, c)      # Q = e^(Q̂ − max), one sweep
            for k in range(c):
                gb2[k] = 0
            for i in range(bs):
                idx = order[start + i]
                yi = y[idx]
                wi = sw[idx] if has_weights else 1.0
                row = &Q[i, 0]
                s = 0
                for k in range(c):
                    s += row[k]
                total += wi * ((rowmax[i] - qy[i]) + log(s))
                scale = wi / bs
                for k in range(c):
                    row[k] = (row[k] / s - (k == yi)) * scale
                    gb2[k] += row[k]

            # Δ1 = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z);  ∇b1 = Σ Δ1   (V before its update)
            gemm(False, True, bs, hidden, c, 1, &Q[0, 0], c, &V[0, 0], c, 0, &D1[0, 0], hidden)
            _sigmoid_backward(&D1[0, 0], &Z[0, 0], &gb1[0], bs, hidden)

            # ∇V = Zᵀ Δ2 (+ α V in the update)
            gemm(True, False, hidden, c, bs, 1, &Z[0, 0], hidden, &Q[0, 0], c, 0, &gV[0, 0], c)

            if momentum > 0:
                # ∇W = Xbᵀ Δ1 (+ α W below)
                gemm(True, False, m, hidden, bs, 1, xb, m, &D1[0, 0], hidden, 0, &gW[0, 0], hidden)
                _momentum_step(&W[0, 0], &vW[0, 0], &gW[0, 0], m * hidden, alpha, eta, mu, nesterov)
                _momentum_step(&V[0, 0], &vV[0, 0], &gV[0, 0], hidden * c, alpha, eta, mu, nesterov)
                for j in range(hidden):
                    g = <floating> gb1[j]
                    vb1[j] = mu * vb1[j] - <floating> eta * g
                    b1[j] += (mu * vb1[j] - <floating> eta * g) if nesterov else vb1[j]
                for k in range(c):
                    g = <floating> gb2[k]
                    vb2[k] = mu * vb2[k] - <floating> eta * g
                    b2[k] += (mu * vb2[k] - <floating> eta * g) if nesterov else vb2[k]
            else:
                # W ← W − η (Xbᵀ Δ1 + α W) = (1 − ηα) W − η Xbᵀ Δ1, in the gemm
                decay = <floating> (1 - eta * alpha)
                gemm(True, False, m, hidden, bs, <floating> -eta, xb, m, &D1[0, 0], hidden,
                     decay, &W[0, 0], hidden)
                _plain_step(&V[0, 0], &gV[0, 0], hidden * c, alpha, eta)
                for j in range(hidden):
                    b1[j] -= <floating> eta * <floating> gb1[j]
                for k in range(c):
                    b2[k] -= <floating> eta * <floating> gb2[k]
            start += bs
    return total, t


cdef inline void _plain_step(floating *theta, const floating *grad, Py_ssize_t size,
                             double alpha, double eta) noexcept nogil:
    """θ ← θ − η (G + α θ)."""
    cdef Py_ssize_t i
    cdef floating a = <floating> alpha, h = <floating> eta
    for i in range(size):
        theta[i] -= h * (grad[i] + a * theta[i])


cdef inline void _momentum_step(floating *theta, floating *v, const floating *grad,
                                Py_ssize_t size, double alpha, double eta, floating mu,
                                bint nesterov) noexcept nogil:
    """g = G + α θ;  v ← μ v − η g;  θ ← θ + v  (Nesterov: θ ← θ + μ v − η g)."""
    cdef Py_ssize_t i
    cdef floating a = <floating> alpha, h = <floating> eta, g
    if nesterov:
        for i in range(size):
            g = grad[i] + a * theta[i]
            v[i] = mu * v[i] - h * g
            theta[i] += mu * v[i] - h * g
    else:
        for i in range(size):
            g = grad[i] + a * theta[i]
            v[i] = mu * v[i] - h * g
            theta[i] += v[i]


def matmul_floor_epoch(const floating[:, ::1] X, floating[:, ::1] W, floating[:, ::1] V,
                       Py_ssize_t batch_size):
    """The matrix products of one ``sgd_epoch`` alone, for benchmarks: per batch
    of consecutive rows Xb (no gather, no elementwise work), the same five
    BLAS calls with the same shapes,

        Xb W,  Z V,  Δ2 Vᵀ,  Zᵀ Δ2,  Xbᵀ Δ1   (Z, Δ2, Δ1: scratch buffers)

    with the GIL released. W and V are read, never written. This is the floor
    an epoch of this design cannot beat; the rest of ``sgd_epoch``'s time is
    its elementwise share.
    """
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1], hidden = V.shape[0], c = V.shape[1]
    if W.shape[0] != m or W.shape[1] != hidden or batch_size < 1 or n < 1:
        raise ValueError("X (n, m), W (m, b) and V (b, c) do not fit, or batch_size < 1")
    dtype = np.float32 if floating is float else np.float64
    bs_max = min(batch_size, n)
    cdef floating[:, ::1] Z = np.zeros((bs_max, hidden), dtype=dtype)
    cdef floating[:, ::1] Q = np.zeros((bs_max, c), dtype=dtype)
    cdef floating[:, ::1] D1 = np.zeros((bs_max, hidden), dtype=dtype)
    cdef floating[:, ::1] gV = np.empty((hidden, c), dtype=dtype)
    cdef floating[:, ::1] gW = np.empty((m, hidden), dtype=dtype)
    cdef Py_ssize_t start = 0, bs
    cdef const floating *xb
    with nogil:
        while start < n:
            bs = min(batch_size, n - start)
            xb = &X[start, 0]
            gemm(False, False, bs, hidden, m, 1, xb, m, &W[0, 0], hidden, 0, &Z[0, 0], hidden)
            gemm(False, False, bs, c, hidden, 1, &Z[0, 0], hidden, &V[0, 0], c, 0, &Q[0, 0], c)
            gemm(False, True, bs, hidden, c, 1, &Q[0, 0], c, &V[0, 0], c, 0, &D1[0, 0], hidden)
            gemm(True, False, hidden, c, bs, 1, &Z[0, 0], hidden, &Q[0, 0], c, 0, &gV[0, 0], c)
            gemm(True, False, m, hidden, bs, 1, xb, m, &D1[0, 0], hidden, 0, &gW[0, 0], hidden)
            start += bs


def sigmoid_bias(const floating[:, ::1] S, const floating[::1] b):
    """σ(S + b) (a new array) by the kernel's own vectorised sweep: exposed so
    that the tests can compare it with the reference sigmoid."""
    if S.shape[1] != b.shape[0]:
        raise ValueError("S (n, k) and b (k,) do not fit")
    Z = np.array(S, dtype=np.float32 if floating is float else np.float64, copy=True)
    cdef floating[:, ::1] Zv = Z
    if Zv.shape[0] and Zv.shape[1]:
        with nogil:
            _sigmoid_bias(&Zv[0, 0], &b[0], Zv.shape[0], Zv.shape[1])
    return Z
