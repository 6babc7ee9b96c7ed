"""Cython kernels of the six linear models.

The Python-level functions here have the names, signatures and semantics of
their NumPy references in ``fastlin.reference.linear`` (read that module's
docstring for the conventions: W (m, c), b (c,), a mean objective with
(α/2)||W||², η_t, averaging); the estimators swap one for the other.

    sgd_epoch(X, y, W, b, order, loss, *, eta0, ...) -> (epoch_loss, t)
    gradient(X, y, W, b, loss, alpha, sample_weight) -> (J, grad_W, grad_b)

Three loop shapes, each one cdef function whatever the loss (the loss is an
inline function of the score, from ``_loss.pxd``):

* ``_per_sample_epoch``: one step per sample of ``order``. The L2 shrinkage
  W ← (1 − ηα) W is kept as a scalar (W = scale · V), so a step touches only
  the rows of V whose loss derivative is non-zero (none for a perceptron that
  classifies the sample right, two for the multi-class perceptron). The
  average W̄ is kept lazily in the same way (see ``Averages``).
* ``_minibatch_epoch``: one step per run of ``batch_size`` indices of
  ``order``, each gradient from ``_batch_gradient``.
* ``_batch_gradient``: the fused full-batch pass: for each row the score, the
  loss derivative and the accumulation of Xᵀ D in one sweep, so X is read
  once per gradient.

Inside, the weights are held transposed and in float64, V (c, m), so that
each class's weight vector is one contiguous row read against the rows of X;
they are copied in from W at the start and written back (in X's dtype) at
the end, which costs O(m c), nothing next to an epoch.

Precision, exactly: the per-sample epochs, the minibatch gradients and the
single-output float64 full-batch gradient accumulate dot products and
gradient sums in float64. The single-output float32 full-batch gradient
computes each row's dot product with the float32 weights in float32 (16-wide
partial sums, m terms) and sums the rows' updates D_i x_i in float32 over
128 rows at a time, each such partial then added into the float64 gradient
(the rows outside the 4-row blocks, at most 3, go in float64). The multi-class full-batch gradient
(``_multi_gradient_blocked``) goes 256 rows at a time through two BLAS
products in X's dtype, S_B = X_B W and X_Bᵀ D_B: for float64 data everything
is float64; for float32 data a row's scores are float32 dot products (m terms)
and a block's X_Bᵀ D_B is a float32 sum of at most 256 rows, which is then
added into the float64 gradient, so the float32 error stays bounded by one
block's whatever n is. Losses, their derivatives, Σ w l and ∇b are float64.

Speed: the arithmetic on a row (its scores, its update) is in a few C
functions that GCC builds for AVX-512, AVX2+FMA and the x86-64 baseline at
once (``target_clones``, picked at load time by the CPU; no -march=native),
with 8-wide float64 vector partial sums. A shuffled order defeats the
hardware prefetcher, so the per-sample loops request the row (and its target
and weight) about 10 KB of X ahead.

The def wrappers check shapes, dtypes and index ranges (a ValueError or
TypeError, never a crash: ``order`` and the labels are range-checked in O(n),
a small fraction of an epoch, since an index out of range would read or write
outside the arrays), then run the whole loop in one ``with nogil:``.
"""
from cython cimport floating
from libc.math cimport pow

import numpy as np

from ._blas cimport gemm
from ._loss cimport (LossKind, SQUARED_ERROR, LOGISTIC_SQUARED_ERROR, LOG_LOSS,
                     PERCEPTRON, MULTICLASS_PERCEPTRON, SOFTMAX,
                     single_loss, multi_loss)

_LOSS_KINDS = {
    "squared_error": SQUARED_ERROR,
    "logistic_squared_error": LOGISTIC_SQUARED_ERROR,
    "log_loss": LOG_LOSS,
    "perceptron": PERCEPTRON,
    "multiclass_perceptron": MULTICLASS_PERCEPTRON,
    "softmax": SOFTMAX,
}
_SCHEDULES = ("constant", "invscaling")

# The per-sample loops visit the rows of X in a shuffled order, which the
# hardware prefetcher cannot guess: each row would start with a full memory
# latency (~100 ns or more, longer than the work on a 100-wide row). They
# request the row `ahead` samples in advance instead, about PREFETCH_BYTES of
# X ahead (12 rows of 100 float64), within 2..16 rows.
cdef Py_ssize_t PREFETCH_BYTES = 10240


cdef Py_ssize_t _prefetch_distance(Py_ssize_t row_bytes) noexcept nogil:
    cdef Py_ssize_t ahead = PREFETCH_BYTES // max(row_bytes, 1)
    return min(max(ahead, 2), 16)


# Fold the scale into V once it falls below this (or to zero or below). The
# lazy average's A + C V − U loses about (unit round-off)/scale to
# cancellation, so the floor is kept well above scikit-learn's 1e-9; a fold
# costs O(m c) and comes every log(1e6)/(ηα) steps, rarely.
cdef double MIN_SCALE = 1e-6


# ---------------------------------------------------------------------------
# Row primitives (x is a row of X; V holds the c weight rows, float64)
# ---------------------------------------------------------------------------

# The row operations and the prefetch are C, in fastlin/_simd.h (which the
# network kernel shares): see there for the instruction sets they are built for.
cdef extern from "_simd.h":
    void FASTLIN_PREFETCH(const void* p) noexcept nogil
    int FASTLIN_DEBUG_BUILD
    void fastlin_block_dot4_f32(const float** xs, const float* w, Py_ssize_t m,
                                double* s) noexcept nogil
    void fastlin_block_axpy4_f32(const float** xs, const double* d, float* g,
                                 Py_ssize_t m) noexcept nogil
    void fastlin_scores_d(const double* x, const double* V, Py_ssize_t m, Py_ssize_t c,
                          double scale, const double* b, double* s) noexcept nogil
    void fastlin_scores_f(const float* x, const double* V, Py_ssize_t m, Py_ssize_t c,
                          double scale, const double* b, double* s) noexcept nogil
    void fastlin_update_d(const double* x, const double* a, double* V,
                          Py_ssize_t m, Py_ssize_t c) noexcept nogil
    void fastlin_update_f(const float* x, const double* a, double* V,
                          Py_ssize_t m, Py_ssize_t c) noexcept nogil
    void fastlin_block_scores_d(const double** xs, const double* V, Py_ssize_t m,
                                Py_ssize_t c, const double* b, double* S) noexcept nogil
    void fastlin_block_scores_f(const float** xs, const double* V, Py_ssize_t m,
                                Py_ssize_t c, const double* b, double* S) noexcept nogil
    void fastlin_block_update_d(const double** xs, const double* D, double* G,
                                Py_ssize_t m, Py_ssize_t c) noexcept nogil
    void fastlin_block_update_f(const float** xs, const double* D, double* G,
                                Py_ssize_t m, Py_ssize_t c) noexcept nogil

#: True in a debug build (setup.py with FASTLIN_CYTHON_DEBUG=1), whose Cython
#: code runs with bounds checks on.
_DEBUG_BUILD = FASTLIN_DEBUG_BUILD != 0


def _bounds_checked():
    """True when this module's Cython code checks its indices (the debug
    build): reads one past the end of a view sliced from a larger array, so
    that without the checks the read stays inside the allocation."""
    cdef double[::1] view = np.zeros(4)[:2]
    cdef Py_ssize_t past_end = view.shape[0]
    cdef double value
    try:
        value = view[past_end]
    except IndexError:
        return True
    return False

# Rows per block in the batch gradient (the block functions above take four):
# the block's rows share each load of the weights and of G.
cdef enum:
    BLOCK = 4

# Rows whose float32 update sums (fastlin_block_axpy4_f32) are added into the
# float64 gradient at a time.
cdef enum:
    F32_FLUSH_ROWS = 128


cdef inline void _scores(const floating* x, const double* V, Py_ssize_t m,
                         Py_ssize_t c, double scale, const double* b,
                         double* s) noexcept nogil:
    # s = scale · (x @ Vᵀ) + b
    if floating is double:
        fastlin_scores_d(x, V, m, c, scale, b, s)
    else:
        fastlin_scores_f(x, V, m, c, scale, b, s)


cdef inline void _update(const floating* x, const double* a, double* V,
                         Py_ssize_t m, Py_ssize_t c) noexcept nogil:
    # V_j += a_j x for every j with a_j ≠ 0
    if floating is double:
        fastlin_update_d(x, a, V, m, c)
    else:
        fastlin_update_f(x, a, V, m, c)


cdef inline void _block_scores(const floating** xs, const double* V, Py_ssize_t m,
                               Py_ssize_t c, const double* b, double* S) noexcept nogil:
    # S[r] = xs[r] @ Vᵀ + b for the BLOCK rows xs[r]
    if floating is double:
        fastlin_block_scores_d(xs, V, m, c, b, S)
    else:
        fastlin_block_scores_f(xs, V, m, c, b, S)


cdef inline void _block_update(const floating** xs, const double* D, double* G,
                               Py_ssize_t m, Py_ssize_t c) noexcept nogil:
    # G_j += Σ_r D[r, j] xs[r] for the BLOCK rows xs[r]
    if floating is double:
        fastlin_block_update_d(xs, D, G, m, c)
    else:
        fastlin_block_update_f(xs, D, G, m, c)


cdef inline void _prefetch_row(const floating* x, Py_ssize_t m) noexcept nogil:
    # request every 64-byte cache line of x[0:m]
    cdef Py_ssize_t k, step = 64 // sizeof(floating)
    for k in range((m + step - 1) // step):
        FASTLIN_PREFETCH(x + k * step)
    FASTLIN_PREFETCH(x + m - 1)


cdef inline double _sample_loss(LossKind kind, const double* s, Py_ssize_t c,
                                const floating* y, const Py_ssize_t* labels,
                                Py_ssize_t i, double* d) noexcept nogil:
    # l, d = loss(s, y_i): a real target for single-output models, a label otherwise
    if labels == NULL:
        return single_loss(kind, s[0], y[i], d)
    return multi_loss(kind, s, c, labels[i], d)


# ---------------------------------------------------------------------------
# State shared by the loops
# ---------------------------------------------------------------------------

cdef struct Model:
    double* V            # (c, m): W = scale · Vᵀ
    double* b            # (c,)
    double scale
    Py_ssize_t m, c
    Py_ssize_t ahead     # rows of X to prefetch ahead in a shuffled order


cdef struct Steps:
    double eta0
    double power_t
    double alpha
    bint invscaling      # else "constant"
    bint fit_intercept
    Py_ssize_t t         # steps taken so far in the whole fit


cdef struct Averages:
    # W̄_t = (1/t) Σ_{k<=t} W_k is kept as A + C V − U (all (c, m) but C):
    # a step V ← V + u g adds C·u·g to U, then C ← C + scale. (Σ_k W_k =
    # Σ_k scale_k V_k and V_k = V_0 + Σ_{j<=k} u_j g_j give
    # Σ_{k<=t} W_k = C_t V_t − Σ_j C_{j−1} u_j g_j with C_t = Σ_{k<=t} scale_k.)
    # A starts as t₀ W̄ and absorbs C V − U whenever the scale is folded into V.
    bint on
    double* A
    double* U
    double C
    double* b_avg        # (c,), averaged directly: b̄ ← b̄ + (b − b̄) / t


cdef inline double _eta(Steps* st) noexcept nogil:
    # η_t = η₀ ("constant") or η₀ / t^power_t ("invscaling")
    if st.invscaling:
        return st.eta0 / pow(<double>st.t, st.power_t)
    return st.eta0


cdef void _shrink(Model* M, Averages* avg, double factor) noexcept nogil:
    # W ← factor · W, by scaling the scalar only; once it gets small (or not
    # positive, or NaN) W = scale · V is written out into V and scale = 1.
    cdef Py_ssize_t k, size = M.c * M.m
    cdef double new_scale = M.scale * factor
    if new_scale > MIN_SCALE:
        M.scale = new_scale
        return
    if avg.on:
        # A ← A + C V − U, C ← 0, U ← 0: the lazy average in terms of the old V
        for k in range(size):
            avg.A[k] += avg.C * M.V[k] - avg.U[k]
            avg.U[k] = 0.0
        avg.C = 0.0
    # V ← new_scale · V, scale ← 1
    for k in range(size):
        M.V[k] *= new_scale
    M.scale = 1.0


# ---------------------------------------------------------------------------
# The three loop shapes
# ---------------------------------------------------------------------------

cdef double _per_sample_epoch(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t[::1] order,
        LossKind kind, Model* M, Steps* st, Averages* avg,
        double* s, double* d) noexcept nogil:
    """One step per index of ``order``; returns Σ_i w_i l_i (before each step)."""
    cdef Py_ssize_t p, q, i, j, m = M.m, c = M.c
    cdef const floating* x
    cdef double w_i, l, eta, u, total = 0.0
    cdef Py_ssize_t n_order = order.shape[0]
    for p in range(n_order):
        i = order[p]
        x = &X[i, 0]
        if p + M.ahead < n_order:
            # request row q of X ahead, with its target and weight (a shuffled
            # order makes those random accesses too)
            q = order[p + M.ahead]
            _prefetch_row(&X[q, 0], m)
            if y != NULL:
                FASTLIN_PREFETCH(&y[q])
            else:
                FASTLIN_PREFETCH(&labels[q])
            if sample_weight != NULL:
                FASTLIN_PREFETCH(&sample_weight[q])
        w_i = 1.0 if sample_weight == NULL else sample_weight[i]
        # s = x_i @ W + b = scale · (x_i @ Vᵀ) + b
        _scores(x, M.V, m, c, M.scale, M.b, s)
        # l, d = loss(s, y_i)
        l = _sample_loss(kind, s, c, y, labels, i, d)
        total += w_i * l
        st.t += 1
        eta = _eta(st)
        # W ← (1 − η α) W
        if st.alpha != 0.0:
            _shrink(M, avg, 1.0 - eta * st.alpha)
        # b ← b − η w_i d;  then d ← u = −η w_i d / scale
        if st.fit_intercept:
            for j in range(c):
                M.b[j] -= eta * w_i * d[j]
        u = -eta * w_i / M.scale
        for j in range(c):
            d[j] *= u
        # W ← W − η w_i x_iᵀ d, i.e. V_j ← V_j + u_j x_i for each u_j ≠ 0 (the
        # perceptrons touch no row on a right answer, two rows on a multi-class mistake)
        _update(x, d, M.V, m, c)
        if avg.on:
            # U_j ← U_j + C u_j x_i
            for j in range(c):
                d[j] *= avg.C
            _update(x, d, avg.U, m, c)
            avg.C += M.scale
            # b̄ ← b̄ + (b − b̄) / t
            for j in range(c):
                avg.b_avg[j] += (M.b[j] - avg.b_avg[j]) / st.t
    return total


cdef double _batch_gradient(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t* rows, Py_ssize_t n_rows,
        Py_ssize_t start, Py_ssize_t stop, LossKind kind, const Model* M,
        double* G, double* gb, double* s, double* d,
        const float* w32=NULL, float* g32=NULL) noexcept nogil:
    """The fused gradient over rows i = rows[p] (or i = p when rows is NULL)
    for p in start..stop-1, n_B = stop − start of them, with W = Vᵀ
    (rows has n_rows entries, prefetched ahead across batches):

        D_i = w_i ∂l/∂s_i / n_B,   G += Σ_i D_iᵀ x_i  (c, m),   gb += Σ_i D_i

    in one sweep: each row is scored and accumulated while it is in cache.
    G and gb must start at zero. Returns Σ_i w_i l_i.

    With w32 (the float32 weights, (m,), single-output float32 data only) and
    g32 (m,) scratch, the blocks' dot products and G updates run in float32
    lanes, g32 added into the float64 G every F32_FLUSH_ROWS rows."""
    cdef Py_ssize_t p, q, r, i, j, nb, m = M.m, c = M.c
    cdef Py_ssize_t ahead_stop = stop if rows == NULL else n_rows
    cdef const floating* x
    cdef const floating* xs[BLOCK]
    cdef Py_ssize_t idx[BLOCK]
    cdef double w_i, l, total = 0.0
    cdef double inv_n = 1.0 / (stop - start)
    cdef Py_ssize_t n32 = 0
    if w32 != NULL:
        for j in range(m):
            g32[j] = 0.0
    p = start
    while p < stop:
        # Single-output float32 rows go BLOCK at a time, sharing the loads of
        # W and G (measured on 100-wide rows: 25% faster); float64 rows and
        # multi-class models one at a time (there the blocks measured slower
        # or no faster; the row path's scores already share each x over four
        # classes).
        nb = BLOCK if floating is float and c == 1 and p + BLOCK <= stop else 1
        # request the rows M.ahead ahead: a shuffled order defeats the
        # hardware prefetcher, and even in order it falls behind (float64
        # W1 squared-error gradient measured 3.3 -> 2.9-3.0 ms with this)
        for q in range(p + M.ahead, min(p + M.ahead + nb, ahead_stop)):
            i = q if rows == NULL else rows[q]
            _prefetch_row(&X[i, 0], m)
            if y != NULL:
                FASTLIN_PREFETCH(&y[i])
            else:
                FASTLIN_PREFETCH(&labels[i])
            if sample_weight != NULL:
                FASTLIN_PREFETCH(&sample_weight[i])
        if nb == BLOCK:
            for r in range(BLOCK):
                idx[r] = p + r if rows == NULL else rows[p + r]
                xs[r] = &X[idx[r], 0]
            # S_B = X_B @ W + b   (BLOCK, c)
            if floating is float and w32 != NULL:
                fastlin_block_dot4_f32(xs, w32, m, s)
                for r in range(BLOCK):
                    s[r] += M.b[0]
            else:
                _block_scores(xs, M.V, m, c, M.b, s)
            for r in range(BLOCK):
                i = idx[r]
                w_i = 1.0 if sample_weight == NULL else sample_weight[i]
                # l, d = loss(s_i, y_i);  D_i = w_i d / n_B;  gb += D_i
                l = _sample_loss(kind, s + r * c, c, y, labels, i, d + r * c)
                total += w_i * l
                w_i *= inv_n
                for j in range(c):
                    d[r * c + j] *= w_i
                    gb[j] += d[r * c + j]
            # G += D_Bᵀ X_B
            if floating is float and w32 != NULL:
                fastlin_block_axpy4_f32(xs, d, g32, m)
                n32 += BLOCK
                if n32 >= F32_FLUSH_ROWS:
                    # G += g32 (float64), g32 ← 0
                    for j in range(m):
                        G[j] += g32[j]
                        g32[j] = 0.0
                    n32 = 0
            else:
                _block_update(xs, d, G, m, c)
            p += BLOCK
        else:
            i = p if rows == NULL else rows[p]
            x = &X[i, 0]
            w_i = 1.0 if sample_weight == NULL else sample_weight[i]
            # s = x_i @ W + b
            _scores(x, M.V, m, c, 1.0, M.b, s)
            # l, d = loss(s, y_i)
            l = _sample_loss(kind, s, c, y, labels, i, d)
            total += w_i * l
            # D_i = w_i d / n_B;  G_j += D_ij x_i;  gb += D_i
            w_i *= inv_n
            for j in range(c):
                d[j] *= w_i
                gb[j] += d[j]
            _update(x, d, G, m, c)
            p += 1
    if w32 != NULL:
        # G += g32: the last block's float32 sum
        for j in range(m):
            G[j] += g32[j]
    return total


# Rows per block of the multi-class full-batch gradient: 256 rows of 100
# float64 are 200 KB, read from memory once by the first product and again
# from L2 by the second.
cdef enum:
    GEMM_ROWS = 256


cdef double _multi_gradient_blocked(
        const floating[:, ::1] X, const Py_ssize_t* labels,
        const floating* sample_weight, const floating* W, LossKind kind,
        const Model* M, double* G, double* gb, floating* SB, floating* GB,
        double* s, double* d) noexcept nogil:
    """The full-batch gradient of a multi-class model, GEMM_ROWS rows of X at a
    time, each block through two BLAS products while it sits in L2:

        S_B = X_B W  (in X's dtype),  D_B = w ⊙ ∂l/∂S_B / n,
        G += (X_Bᵀ D_B)ᵀ,  gb += Σ_B D_B

    W (m, c) is the caller's weights in X's dtype, SB (GEMM_ROWS, c) and GB
    (c, m) scratch in X's dtype; G (c, m) and gb start at zero. float64: the
    products accumulate in float64 straight into G. float32: the dot products
    and a block's X_Bᵀ D_B accumulate in float32 (m and GEMM_ROWS terms), each
    block's sum then added into the float64 G. Returns Σ_i w_i l_i."""
    cdef Py_ssize_t p, r, i, j, k, nb, n = X.shape[0], m = M.m, c = M.c
    cdef double w_i, l, total = 0.0, inv_n = 1.0 / n
    cdef floating zero = 0, one = 1
    p = 0
    while p < n:
        nb = min(<Py_ssize_t>GEMM_ROWS, n - p)
        # S_B = X_B @ W   (nb, c)
        gemm(False, False, <int>nb, <int>c, <int>m, one, &X[p, 0], <int>m, W, <int>c,
             zero, SB, <int>c)
        for r in range(nb):
            i = p + r
            # s = S_B[r] + b (float64);  l, d = loss(s, y_i)
            for j in range(c):
                s[j] = <double>SB[r * c + j] + M.b[j]
            l = multi_loss(kind, s, c, labels[i], d)
            w_i = 1.0 if sample_weight == NULL else sample_weight[i]
            total += w_i * l
            # D_i = w_i d / n (into S_B's row);  gb += D_i
            w_i *= inv_n
            for j in range(c):
                d[j] *= w_i
                gb[j] += d[j]
                SB[r * c + j] = <floating>d[j]
        # G += (X_Bᵀ D_B)ᵀ = D_Bᵀ X_B   (c, m)
        if floating is double:
            gemm(True, False, <int>c, <int>m, <int>nb, one, SB, <int>c, &X[p, 0], <int>m,
                 one, G, <int>m)
        else:
            gemm(True, False, <int>c, <int>m, <int>nb, one, SB, <int>c, &X[p, 0], <int>m,
                 zero, GB, <int>m)
            for k in range(c * m):
                G[k] += GB[k]
        p += nb
    return total


cdef double _minibatch_epoch(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t[::1] order,
        Py_ssize_t batch_size, LossKind kind, Model* M, Steps* st,
        double* W_avg, double* b_avg, double* G, double* gb,
        double* s, double* d) noexcept nogil:
    """One step per run of ``batch_size`` indices of ``order``; returns
    Σ_i w_i l_i (each before its batch's step). W_avg is NULL or (c, m)."""
    cdef Py_ssize_t start, stop, k, j, size = M.m * M.c
    cdef Py_ssize_t n_order = order.shape[0]
    cdef double eta, total = 0.0
    start = 0
    while start < n_order:
        stop = min(start + batch_size, n_order)
        for k in range(size):
            G[k] = 0.0
        for j in range(M.c):
            gb[j] = 0.0
        # G, gb = gradient of the batch's mean loss
        total += _batch_gradient(X, y, labels, sample_weight, &order[0], n_order,
                                 start, stop, kind, M, G, gb, s, d)
        st.t += 1
        eta = _eta(st)
        # W ← W − η (G + α W)
        for k in range(size):
            M.V[k] -= eta * (G[k] + st.alpha * M.V[k])
        # b ← b − η gb
        if st.fit_intercept:
            for j in range(M.c):
                M.b[j] -= eta * gb[j]
        if W_avg != NULL:
            # W̄ ← W̄ + (W − W̄) / t,  b̄ ← b̄ + (b − b̄) / t
            for k in range(size):
                W_avg[k] += (M.V[k] - W_avg[k]) / st.t
            for j in range(M.c):
                b_avg[j] += (M.b[j] - b_avg[j]) / st.t
        start = stop
    return total


# ---------------------------------------------------------------------------
# Python-level functions: checks, then one nogil block
# ---------------------------------------------------------------------------

def _loss_kind(loss):
    try:
        return _LOSS_KINDS[loss]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(_LOSS_KINDS)}") from None


def _check_array(name, a, dtype, shape):
    """``a`` must be an ndarray of exactly this dtype and shape."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


cdef Py_ssize_t _first_out_of_range(const Py_ssize_t[::1] idx,
                                    Py_ssize_t n) noexcept nogil:
    # the first p with idx[p] outside 0..n-1, or -1
    cdef Py_ssize_t p
    for p in range(idx.shape[0]):
        if idx[p] < 0 or idx[p] >= n:
            return p
    return -1


def _check_indices(name, idx, Py_ssize_t n):
    """``idx`` must be a 1-D intp array of values in 0..n-1 (O(len(idx)))."""
    if not isinstance(idx, np.ndarray) or idx.dtype != np.intp or idx.ndim != 1:
        raise TypeError(f"{name} must be a 1-D numpy array of dtype intp")
    cdef const Py_ssize_t[::1] view = idx
    cdef Py_ssize_t bad
    with nogil:
        bad = _first_out_of_range(view, n)
    if bad >= 0:
        raise ValueError(f"{name}[{bad}] = {idx[bad]} is outside 0..{n - 1}")
    return view


def _check_model(X, y, W, b, loss, sample_weight):
    """Shared checks; returns (kind, labels or None, y or None, sample_weight)."""
    n, m = X.shape[0], X.shape[1]
    c = W.shape[1]
    if n == 0:
        raise ValueError("X has no rows")
    if W.shape[0] != m:
        raise ValueError(f"W must have shape ({m}, c) for X of shape {X.shape}, got {W.shape}")
    if b.shape[0] != c:
        raise ValueError(f"b must have shape ({c},) for W of shape {W.shape}, got {b.shape}")
    kind = _loss_kind(loss)
    dtype = np.asarray(X).dtype
    if kind == MULTICLASS_PERCEPTRON or kind == SOFTMAX:
        labels = _check_indices("y (class labels)", y, c)
        if labels.shape[0] != n:
            raise ValueError(f"y must have shape ({n},), got {y.shape}")
        y_real = None
    else:
        if c != 1:
            raise ValueError(f"loss {loss!r} has one output: W must have shape ({m}, 1), got {W.shape}")
        y_real = _check_array("y", y, dtype, (n,))
        labels = None
    if sample_weight is not None:
        _check_array("sample_weight", sample_weight, dtype, (n,))
    return kind, labels, y_real, sample_weight


cdef int _input_pointers(object y_obj, object labels_obj, object sw_obj,
                         const floating** y_p, const Py_ssize_t** labels_p,
                         const floating** sw_p) except -1:
    """Data pointers of the checked targets (y, or the labels when y_obj is
    None) and of the sample weights (left NULL when None). The arrays stay
    referenced by the caller, so the pointers outlive the views taken here."""
    cdef const floating[::1] y_v, sw_v
    cdef const Py_ssize_t[::1] labels_v
    if y_obj is not None:
        y_v = y_obj
        y_p[0] = &y_v[0]
    else:
        labels_v = labels_obj
        labels_p[0] = &labels_v[0]
    if sw_obj is not None:
        sw_v = sw_obj
        sw_p[0] = &sw_v[0]
    return 0


def sgd_epoch(const floating[:, ::1] X, y, floating[:, ::1] W, floating[::1] b,
              order, loss, *, double eta0, Py_ssize_t batch_size=1,
              double alpha=0.0, bint fit_intercept=True, schedule="constant",
              double power_t=0.5, Py_ssize_t t=0, sample_weight=None,
              W_avg=None, b_avg=None):
    """One epoch of (minibatch) SGD over ``order``, in place; returns
    ``(epoch_loss, t)``. Same as ``fastlin.reference.linear.sgd_epoch``: see
    there for the update rule. Batch size 1 runs the per-sample kernel (with
    the L2 shrinkage and the average kept lazily), larger ones the minibatch
    kernel. X, y (single-output), W, b, sample_weight, W_avg and b_avg share
    X's dtype; y (multi-class) and order are intp."""
    kind_obj, labels_obj, y_obj, sw_obj = _check_model(X, y, W, b, loss, sample_weight)
    cdef LossKind kind = kind_obj
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1], c = W.shape[1]
    cdef const Py_ssize_t[::1] order_v = _check_indices("order", order, n)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if schedule not in _SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {_SCHEDULES}")
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    if (W_avg is None) != (b_avg is None):
        raise ValueError("pass both W_avg and b_avg, or neither")
    cdef bint average = W_avg is not None
    dtype = np.asarray(X).dtype
    if average:
        _check_array("W_avg", W_avg, dtype, (m, c))
        _check_array("b_avg", b_avg, dtype, (c,))
        if not W_avg.flags.c_contiguous:
            raise ValueError("W_avg must be C-contiguous")

    # pointers to the optional inputs (NULL when absent)
    cdef const floating* y_p = NULL
    cdef const floating* sw_p = NULL
    cdef const Py_ssize_t* labels_p = NULL
    _input_pointers(y_obj, labels_obj, sw_obj, &y_p, &labels_p, &sw_p)
    cdef floating[:, ::1] W_avg_v
    cdef floating[::1] b_avg_v
    if average:
        W_avg_v = W_avg
        b_avg_v = b_avg

    # float64 working copies: V = Wᵀ (c, m), b, and the averaging state
    cdef double[:, ::1] V = np.array(np.asarray(W).T, dtype=np.float64, order="C")
    cdef double[::1] b64 = np.array(b, dtype=np.float64)
    cdef double[::1] s = np.empty(BLOCK * c), d = np.empty(BLOCK * c)
    cdef double[:, ::1] A, U, G
    cdef double[::1] b_avg64, gb
    if average:
        A = np.array(np.asarray(W_avg).T, dtype=np.float64, order="C")
        b_avg64 = np.array(b_avg, dtype=np.float64)
        U = np.zeros((c, m))
    if batch_size > 1:
        G = np.empty((c, m))
        gb = np.empty(c)

    cdef Model M = Model(V=&V[0, 0], b=&b64[0], scale=1.0, m=m, c=c,
                         ahead=_prefetch_distance(m * sizeof(floating)))
    cdef Steps st = Steps(eta0=eta0, power_t=power_t, alpha=alpha,
                          invscaling=schedule == "invscaling",
                          fit_intercept=fit_intercept, t=t)
    cdef Averages avg
    avg.on = False
    avg.C = 0.0
    cdef Py_ssize_t k, j, t0 = t
    cdef double total
    with nogil:
        if batch_size == 1:
            if average:
                avg.on = True
                avg.A = &A[0, 0]
                avg.U = &U[0, 0]
                avg.b_avg = &b_avg64[0]
                # A = t₀ W̄ (the sum of the t₀ weights averaged so far)
                for k in range(c * m):
                    avg.A[k] *= t0
            total = _per_sample_epoch(X, y_p, labels_p, sw_p, order_v, kind,
                                      &M, &st, &avg, &s[0], &d[0])
        else:
            total = _minibatch_epoch(X, y_p, labels_p, sw_p, order_v, batch_size,
                                     kind, &M, &st,
                                     &A[0, 0] if average else NULL,
                                     &b_avg64[0] if average else NULL,
                                     &G[0, 0], &gb[0], &s[0], &d[0])
        # W = scale · Vᵀ, b, in X's dtype
        for k in range(m):
            for j in range(c):
                W[k, j] = <floating>(M.scale * V[j, k])
        for j in range(c):
            b[j] = <floating>b64[j]
        if average and st.t > 0:
            for j in range(c):
                b_avg_v[j] = <floating>b_avg64[j]
            for k in range(m):
                for j in range(c):
                    if batch_size == 1:
                        # W̄ = (A + C V − U) / t
                        W_avg_v[k, j] = <floating>(
                            (A[j, k] + avg.C * V[j, k] - U[j, k]) / st.t)
                    else:
                        W_avg_v[k, j] = <floating>A[j, k]
    return total / n, st.t


def gradient(const floating[:, ::1] X, y, const floating[:, ::1] W,
             const floating[::1] b, loss, double alpha=0.0, sample_weight=None):
    """The full-batch objective and its gradient, ``(J, grad_W, grad_b)``,
    as ``fastlin.reference.linear.gradient``:

        D = w ⊙ ∂l/∂S / n,  ∇W = Xᵀ D + α W,  ∇b = Σ_i D_i,
        J = (1/n) Σ_i w_i l_i + (α/2) ||W||²

    computed in one sweep over X (``_batch_gradient``); grad_W and grad_b
    have X's dtype."""
    kind_obj, labels_obj, y_obj, sw_obj = _check_model(X, y, W, b, loss, sample_weight)
    cdef LossKind kind = kind_obj
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1], c = W.shape[1]
    # pointers to the optional inputs (NULL when absent)
    cdef const floating* y_p = NULL
    cdef const floating* sw_p = NULL
    cdef const Py_ssize_t* labels_p = NULL
    _input_pointers(y_obj, labels_obj, sw_obj, &y_p, &labels_p, &sw_p)

    dtype = np.asarray(X).dtype
    cdef double[:, ::1] V = np.array(np.asarray(W).T, dtype=np.float64, order="C")
    cdef double[::1] b64 = np.array(b, dtype=np.float64)
    cdef double[:, ::1] G = np.zeros((c, m))
    cdef double[::1] gb = np.zeros(c), s = np.empty(BLOCK * c), d = np.empty(BLOCK * c)
    grad_W_arr = np.empty((m, c), dtype=dtype)
    grad_b_arr = np.empty(c, dtype=dtype)
    cdef floating[:, ::1] SB, GB
    cdef float[::1] g32 = np.empty(m, dtype=np.float32)
    # the BLAS products take C int sizes: wider models go through the row loop
    cdef bint use_blas = c > 1 and m <= 2147483647 and c <= 2147483647
    if use_blas:
        SB = np.empty((min(n, <Py_ssize_t>GEMM_ROWS), c), dtype=dtype)
        GB = np.empty((c, m), dtype=dtype)
    cdef floating[:, ::1] grad_W = grad_W_arr
    cdef floating[::1] grad_b = grad_b_arr
    cdef Model M = Model(V=&V[0, 0], b=&b64[0], scale=1.0, m=m, c=c,
                         ahead=_prefetch_distance(m * sizeof(floating)))
    cdef Py_ssize_t k, j
    cdef double total, sq = 0.0
    with nogil:
        # D, Xᵀ D, Σ D, Σ w l in one pass
        if use_blas:
            total = _multi_gradient_blocked(X, labels_p, sw_p, &W[0, 0], kind, &M,
                                            &G[0, 0], &gb[0], &SB[0, 0], &GB[0, 0],
                                            &s[0], &d[0])
        else:
            total = _batch_gradient(X, y_p, labels_p, sw_p, NULL, 0, 0, n, kind, &M,
                                    &G[0, 0], &gb[0], &s[0], &d[0],
                                    <const float*>&W[0, 0] if floating is float else NULL,
                                    &g32[0] if floating is float else NULL)
        # ∇W = Xᵀ D + α W,  ||W||²
        for k in range(m):
            for j in range(c):
                grad_W[k, j] = <floating>(G[j, k] + alpha * V[j, k])
                sq += V[j, k] * V[j, k]
        for j in range(c):
            grad_b[j] = <floating>gb[j]
    # (α/2)||W||² only when α ≠ 0: ||W||² overflows for |W| > ~1e154, and
    # 0 · inf would turn a finite objective into NaN
    return total / n + (0.5 * alpha * sq if alpha != 0 else 0.0), grad_W_arr, grad_b_arr
