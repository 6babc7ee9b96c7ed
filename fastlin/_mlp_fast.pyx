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
``with nogil:`` block (in ``_epoch``, which reads the parameters,
velocities, buffers, step settings and threads' buffers from structs), the products through scipy's
BLAS (cython_blas). Bias gradients and the loss are accumulated in float64.

The gather of a batch's rows and the three sweeps — σ(Ẑ + b1) and
Z ⊙ (1 − Z) over (batch, hidden), e^(Q̂ + b2 − M) over (batch, classes) —
are small C functions in ``fastlin/_simd.h``. The two sweeps that evaluate
exponentials use a polynomial (accurate to 2e-16 in float64, 1e-7 in
float32), not a libm call per element, written on 4 float64 or 8 float32
vector lanes (the compiler did not vectorise the scalar polynomial for AVX2:
on such a CPU the σ sweep was a quarter of a small data set's epoch).

A scipy.sparse CSR X (``_sparse_epoch``) runs the same batches and the same
second layer; its first layer's products come from the nonzeros of the
batch's rows (data, indices, indptr read in place, int32 or int64 indices,
unsorted indices and explicit zeros fine): Ẑ = Xb W and Xbᵀ Δ1 cost
O(nnz · hidden), Xbᵀ Δ1 is kept only for the columns the batch reaches,
and nothing of size batch × m is formed. Standardization divides each
nonzero by its column's scale and keeps the centring as the rank-one terms
(mean / scale) W in b1 and − mean ⊗ ∇b1 in ∇W.

Threads (``n_threads`` > 1, OpenMP): each batch runs in parts, each split
into contiguous blocks, one per thread, that do not depend on the
scheduling: the forward and backward passes by the batch's rows (each
thread's gemms on its rows; its ∇b1, ∇b2, ∇V and loss into its own buffers,
reduced in thread order), W's gradient and step by W's rows (each thread's
gemm writes its rows of ∇W, no reduction; with standardization its rows of
W / scale for the next batch follow); V, b1 and b2 step on the calling
thread. A CSR's Xbᵀ Δ1 is summed on the calling
thread. A part smaller than ``WORK_PER_THREAD`` per thread (a per-sample
batch's forward pass, a small layer) runs on fewer threads. So a fixed
``n_threads`` gives the same result every run, another count the same to
rounding, and ``n_threads=1`` is the serial algorithm exactly (it enters no
OpenMP region). The threads call BLAS concurrently, each on its block:
during such an epoch scipy's BLAS is limited to one thread per call
through threadpoolctl where it is installed (``fastlin._parallel.blas_threads_for``);
``n_threads=1`` leaves BLAS's own threading as it is.

Arguments are checked, never converted (the linear kernel's rule): X is a
C-contiguous float32 or float64 ndarray (read-only is fine) or a CSR
(structure checked by ``fastlin._sparse_fast``'s check); the parameters,
the velocities and ``sample_weight`` are ndarrays of exactly X's dtype;
``y`` and ``order`` are 1-D C-contiguous ndarrays of dtype intp. A wrong type
or dtype raises TypeError; a wrong shape, layout or index range ValueError.
"""
import sys

import numpy as np

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isfinite, log
from libc.stdint cimport int32_t, int64_t

from ._blas cimport gemm
from ._build_checks cimport FASTLIN_DEBUG_BUILD, FASTLIN_HAS_OPENMP, bounds_checked
from ._numeric import INT_MAX, SCHEDULES
from ._parallel import blas_threads_for, check_n_threads
from ._sparse_fast import _csr_parts
from ._schedule cimport clipped_alpha, eta_t, schedule_kind

cnp.import_array()

ctypedef cnp.intp_t intp_t


# The network's C helpers, in fastlin/_simd.h (which the linear kernel shares):
# see there for the instruction sets they are built for.
cdef extern from "_simd.h":
    void fastlin_gather_rows(char *dst, const char *src, const intp_t *idx,
                             Py_ssize_t count, Py_ssize_t row_bytes) noexcept nogil
    void fastlin_sigmoid_bias_f64(double *Z, const double *b, Py_ssize_t rows,
                                  Py_ssize_t cols) noexcept nogil
    void fastlin_sigmoid_bias_f32(float *Z, const float *b, Py_ssize_t rows,
                                  Py_ssize_t cols) noexcept nogil
    void fastlin_exp_shifted_f64(double *Q, const double *shift, Py_ssize_t rows,
                                 Py_ssize_t cols) noexcept nogil
    void fastlin_exp_shifted_f32(float *Q, const float *shift, Py_ssize_t rows,
                                 Py_ssize_t cols) noexcept nogil
    void fastlin_sigmoid_backward_f64(double *D, const double *Z, double *g,
                                      Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
    void fastlin_sigmoid_backward_f32(float *D, const float *Z, double *g,
                                      Py_ssize_t rows, Py_ssize_t cols) noexcept nogil

#: True in a debug build (setup.py with FASTLIN_CYTHON_DEBUG=1), whose Cython
#: code runs with bounds checks on.
_DEBUG_BUILD = FASTLIN_DEBUG_BUILD != 0

#: True when this module was compiled with OpenMP (setup.py): n_threads > 1
#: then runs threads; without it the threaded loops run on one thread.
_OPENMP = FASTLIN_HAS_OPENMP != 0


def _bounds_checked():
    """True when this module's Cython code checks its indices (the debug
    build; ``fastlin/_build_checks.pxd`` says how it is found out)."""
    return bounds_checked()


# ---------------------------------------------------------------------------
# The state of an epoch. Cython structs cannot have fused-type fields: the
# arrays in X's dtype are held as untyped pointers, which ``_epoch`` reads as
# ``floating *``. All arrays are C-contiguous.
# ---------------------------------------------------------------------------

cdef struct Params:
    # the network's parameters (X's dtype), updated in place
    void *W              # (m, hidden)
    void *b1             # (hidden,)
    void *V              # (hidden, c)
    void *b2             # (c,)
    Py_ssize_t m, hidden, c


cdef struct Velocities:
    # shaped and typed like Params' arrays, updated in place; NULL without momentum
    void *W
    void *b1
    void *V
    void *b2


cdef struct Buffers:
    # scratch with rows for the largest batch (bs), in X's dtype but for the double ones
    void *Xb             # (bs, m) the gathered rows; NULL when every batch is consecutive
    void *Z              # (bs, hidden) Ẑ, then Z = σ(Ẑ + b1)
    void *Q              # (bs, c) Q̂, then Δ2
    void *D1             # (bs, hidden) Δ2 Vᵀ, then Δ1
    void *gV             # (hidden, c) Zᵀ Δ2
    void *gW             # (m, hidden) Xbᵀ Δ1; NULL without momentum and standardization
    void *rowmax         # (bs,) max_k (Q̂ + b2)_ik of each row
    double *gb1          # (hidden,) ∇b1
    double *gb2          # (c,) ∇b2
    double *qy           # (bs,) (Q̂ + b2)_i,y_i of each row


cdef struct Standardizer:
    # training on z = (x − mean) ⊙ inv_scale without forming Z (on = False:
    # the epoch exactly as without standardization)
    bint on
    const double *mean       # (m,)
    const double *inv_scale  # (m,) 1 / scale
    void *W_raw              # (m, hidden) X's dtype: W ⊙ inv_scale (rows)
    void *b1_raw             # (hidden,) X's dtype: b1 − (mean ⊙ inv_scale) W
    double *offset           # (hidden,) scratch for b1_raw


cdef struct Steps:
    double eta0
    double power_t
    double alpha
    double momentum      # 0: plain SGD
    bint nesterov
    int schedule         # a ScheduleKind of _schedule.pxd
    Py_ssize_t t         # steps taken so far in the whole fit


# ---------------------------------------------------------------------------
# The epoch
# ---------------------------------------------------------------------------

cdef inline void _sigmoid_bias(floating *Z, const floating *b, Py_ssize_t rows,
                               Py_ssize_t cols) noexcept nogil:
    """Z = σ(Z + b) = 1 / (1 + e^(−(Z + b))), b broadcast over the rows."""
    if floating is float:
        fastlin_sigmoid_bias_f32(Z, b, rows, cols)
    else:
        fastlin_sigmoid_bias_f64(Z, b, rows, cols)


cdef inline void _exp_shifted(floating *Q, const floating *shift, Py_ssize_t rows,
                              Py_ssize_t cols) noexcept nogil:
    """Q = e^(Q − shift), shift (rows,) broadcast over each row."""
    if floating is float:
        fastlin_exp_shifted_f32(Q, shift, rows, cols)
    else:
        fastlin_exp_shifted_f64(Q, shift, rows, cols)


cdef inline void _sigmoid_backward(floating *D, const floating *Z, double *g, Py_ssize_t rows,
                                   Py_ssize_t cols) noexcept nogil:
    """D = D ⊙ Z ⊙ (1 − Z);  g = Σ_rows D."""
    if floating is float:
        fastlin_sigmoid_backward_f32(D, Z, g, rows, cols)
    else:
        fastlin_sigmoid_backward_f64(D, Z, g, rows, cols)


cdef inline void _plain_step(floating *theta, const floating *grad, Py_ssize_t size,
                             double alpha, double eta) noexcept nogil:
    """θ ← θ − η (G + α′ θ), α′ = min(α, 1/η) (the L2 factor max(0, 1 − ηα))."""
    cdef Py_ssize_t i
    cdef floating a = <floating> clipped_alpha(alpha, eta), h = <floating> eta
    for i in range(size):
        theta[i] -= h * (grad[i] + a * theta[i])


cdef inline void _momentum_step(floating *theta, floating *v, const floating *grad,
                                Py_ssize_t size, double alpha, double eta, floating mu,
                                bint nesterov) noexcept nogil:
    """g = G + α′ θ;  v ← μ v − η g;  θ ← θ + v  (Nesterov: θ ← θ + μ v − η g),
    with α′ = min(α, 1/η): the penalty's part of a step never overshoots 0."""
    cdef Py_ssize_t i
    cdef floating a = <floating> clipped_alpha(alpha, eta), h = <floating> eta, g
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


# ---------------------------------------------------------------------------
# Threads: a batch's rows (the forward and backward passes) and W's rows (its
# gradient and step) are split into contiguous blocks, one per thread, the
# same blocks whatever the scheduling; thread t's partial sums are reduced in
# thread order after each parallel part, so a fixed thread count gives the
# same result every time. Thread 0 works in the epoch's own buffers, so one
# thread is the serial algorithm exactly (and enters no OpenMP region).
# ---------------------------------------------------------------------------

cdef struct Threads:
    int n                # threads asked for (n_threads)
    double *loss         # (n,) Σ w CE of thread t's rows (t >= 1)
    double *gb1          # (n, hidden) thread t's ∇b1 (t >= 1)
    double *gb2          # (n, c) thread t's ∇b2 (t >= 1)
    void *gV             # (n, hidden, c) X's dtype: thread t's Zᵀ Δ2 (t >= 1)
    double *offset       # (n, hidden) thread t's part of (mean / scale) W (t >= 1)
    void *grad_rows      # (n, hidden) X's dtype: thread t's row of ∇W (sparse X)


# A thread takes at least this much work (multiply-adds or element updates)
# in a part, so that small batches and layers stay on one thread.
cdef Py_ssize_t WORK_PER_THREAD = 16384


cdef inline int _team(const Threads *TH, Py_ssize_t items, Py_ssize_t work) noexcept nogil:
    """The threads for a part of ``items`` blocks' rows and ``work`` in all:
    at most n, one per item, WORK_PER_THREAD each."""
    return <int> max(1, min(<Py_ssize_t> TH.n, items, work // WORK_PER_THREAD))


cdef inline Py_ssize_t _block(Py_ssize_t size, Py_ssize_t t, Py_ssize_t T) noexcept nogil:
    """Where block t of T (contiguous, near-equal) of 0..size-1 starts."""
    return size * t // T


cdef void _raw_first_layer_rows(const floating *W, Standardizer *sd, Py_ssize_t k0,
                                Py_ssize_t k1, Py_ssize_t hidden,
                                double *offset) noexcept nogil:
    """Rows k0..k1-1 of W_raw = W / scale (row k by scale_k), and their part
    of (mean / scale) W into ``offset``."""
    cdef floating *W_raw = <floating *> sd.W_raw
    cdef Py_ssize_t k, j
    cdef double v
    for j in range(hidden):
        offset[j] = 0.0
    for k in range(k0, k1):
        for j in range(hidden):
            v = W[k * hidden + j] * sd.inv_scale[k]
            W_raw[k * hidden + j] = <floating> v
            offset[j] += sd.mean[k] * v


cdef void _raw_bias(const floating *b1, Standardizer *sd, const Threads *TH, int T,
                    Py_ssize_t hidden) noexcept nogil:
    """b1_raw = b1 − (mean / scale) W from the T threads' parts of
    (mean / scale) W (sd.offset and TH.offset's rows 1..T-1), summed in
    thread order."""
    cdef floating *b1_raw = <floating *> sd.b1_raw
    cdef Py_ssize_t j
    cdef int t
    for t in range(1, T):
        for j in range(hidden):
            sd.offset[j] += TH.offset[t * hidden + j]
    for j in range(hidden):
        b1_raw[j] = <floating> (b1[j] - sd.offset[j])


cdef void _standardized_gradient(floating *gW, const double *gb1, const Standardizer *sd,
                                 Py_ssize_t k0, Py_ssize_t k1,
                                 Py_ssize_t hidden) noexcept nogil:
    """Rows k0..k1-1 of gW = Xbᵀ Δ1 become Zbᵀ Δ1 = (Xbᵀ Δ1 − mean ⊗ Σ Δ1) / scale."""
    cdef Py_ssize_t k, j
    for k in range(k0, k1):
        for j in range(hidden):
            gW[k * hidden + j] = <floating> (
                (gW[k * hidden + j] - sd.mean[k] * gb1[j]) * sd.inv_scale[k])


cdef void _output_layer(const floating *Z, const intp_t *rows, const intp_t[::1] y,
                        const floating *sw, Params *P, Buffers *B, Threads *TH,
                        Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t bs, int t,
                        double *total) noexcept nogil:
    """From Z = σ(Ẑ + b1) of the batch's rows r0..r1-1 (of bs; ``rows``
    their sample indices) to the gradients of everything but W: Q̂, the
    loss, Δ2 and Δ1 of the rows (in B.Q, B.D1), their sums ∇b2, ∇b1 and
    ∇V = Zᵀ Δ2, all with V before its update, into thread t's partial sums
    (B.gb2, B.gb1, B.gV and ``total`` for thread 0, TH's rows t otherwise).
    Dense and sparse X share it."""
    cdef Py_ssize_t hidden = P.hidden, c = P.c, nr = r1 - r0
    cdef Py_ssize_t i, k, idx, yi
    cdef double wi, scale, mx, s
    cdef floating *row
    cdef const floating *V = <floating *> P.V
    cdef const floating *b2 = <floating *> P.b2
    cdef floating *Q = <floating *> B.Q
    cdef floating *D1 = <floating *> B.D1
    cdef floating *rowmax = <floating *> B.rowmax
    cdef double *gb1 = B.gb1
    cdef double *gb2 = B.gb2
    cdef floating *gV = <floating *> B.gV
    cdef double *loss = total
    if t > 0:
        gb1 = &TH.gb1[t * hidden]
        gb2 = &TH.gb2[t * c]
        gV = &(<floating *> TH.gV)[t * hidden * c]
        loss = &TH.loss[t]
        loss[0] = 0.0

    # Q̂ = Z V + b2;  CE_i = max + log Σ e^(Q̂ − max) − Q̂_y;
    # Δ2 = w (softmax(Q̂) − Y) / bs;  ∇b2 = Σ Δ2
    gemm(False, False, nr, c, hidden, 1, &Z[r0 * hidden], hidden, V, c, 0, &Q[r0 * c], c)
    for i in range(r0, r1):
        row = &Q[i * c]
        mx = row[0] + b2[0]
        for k in range(c):
            row[k] += b2[k]
            if row[k] > mx:            # a NaN never wins: it propagates below
                mx = row[k]
        rowmax[i] = <floating> mx
        B.qy[i] = row[y[rows[i]]]
    _exp_shifted(&Q[r0 * c], &rowmax[r0], nr, c)     # Q = e^(Q̂ − max), one sweep
    for k in range(c):
        gb2[k] = 0
    for i in range(r0, r1):
        idx = rows[i]
        yi = y[idx]
        wi = sw[idx] if sw != NULL else 1.0
        row = &Q[i * c]
        s = 0
        for k in range(c):
            s += row[k]
        loss[0] += wi * ((rowmax[i] - B.qy[i]) + log(s))
        scale = wi / bs
        for k in range(c):
            row[k] = (row[k] / s - (k == yi)) * scale
            gb2[k] += row[k]

    # Δ1 = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z);  ∇b1 = Σ Δ1   (V before its update)
    gemm(False, True, nr, hidden, c, 1, &Q[r0 * c], c, V, c, 0, &D1[r0 * hidden], hidden)
    _sigmoid_backward(&D1[r0 * hidden], &Z[r0 * hidden], gb1, nr, hidden)

    # ∇V = Zᵀ Δ2 (+ α V in the update)
    gemm(True, False, hidden, c, nr, 1, &Z[r0 * hidden], hidden, &Q[r0 * c], c, 0, gV, c)


cdef void _reduce_rows(floating *gV, Params *P, Buffers *B, Threads *TH, int T,
                       double *total) noexcept nogil:
    """Threads 1..T-1's partial sums into thread 0's, in thread order (``gV``
    is B.gV, typed)."""
    cdef Py_ssize_t hidden = P.hidden, c = P.c, j, k
    cdef const floating *part
    cdef int t
    for t in range(1, T):
        total[0] += TH.loss[t]
        for j in range(hidden):
            B.gb1[j] += TH.gb1[t * hidden + j]
        for k in range(c):
            B.gb2[k] += TH.gb2[t * c + k]
        part = &(<floating *> TH.gV)[t * hidden * c]
        for k in range(hidden * c):
            gV[k] += part[k]


cdef void _step_output_layer(floating *V, Params *P, Velocities *vel, Buffers *B,
                             Steps *st, double eta) noexcept nogil:
    """The step of V (P.V, typed), b1 and b2 from B.gV, B.gb1, B.gb2."""
    cdef Py_ssize_t hidden = P.hidden, c = P.c, j, k
    cdef floating mu = <floating> st.momentum, g
    cdef floating *b1 = <floating *> P.b1
    cdef floating *b2 = <floating *> P.b2
    cdef floating *vb1 = <floating *> vel.b1
    cdef floating *vb2 = <floating *> vel.b2
    if st.momentum > 0:
        _momentum_step(V, <floating *> vel.V, <floating *> B.gV, hidden * c, st.alpha, eta,
                       mu, st.nesterov)
        for j in range(hidden):
            g = <floating> B.gb1[j]
            vb1[j] = mu * vb1[j] - <floating> eta * g
            b1[j] += (mu * vb1[j] - <floating> eta * g) if st.nesterov else vb1[j]
        for k in range(c):
            g = <floating> B.gb2[k]
            vb2[k] = mu * vb2[k] - <floating> eta * g
            b2[k] += (mu * vb2[k] - <floating> eta * g) if st.nesterov else vb2[k]
    else:
        _plain_step(V, <floating *> B.gV, hidden * c, st.alpha, eta)
        for j in range(hidden):
            b1[j] -= <floating> eta * <floating> B.gb1[j]
        for k in range(c):
            b2[k] -= <floating> eta * <floating> B.gb2[k]


cdef void _dense_rows(const floating *X0, const floating *xb, const intp_t *rows,
                      const intp_t[::1] y, const floating *sw, const floating *W1,
                      const floating *b1u, Params *P, Buffers *B, Threads *TH,
                      Py_ssize_t bs, int t, int T, double *total) noexcept nogil:
    """Block t of T of a batch's rows, forward and backward: the rows of Xb
    (``xb``: B.Xb, gathered here from X's data X0 by ``rows``, or X's own
    rows when X0 is NULL), Ẑ = Xb W1, Z = σ(Ẑ + b1u), then ``_output_layer``."""
    cdef Py_ssize_t m = P.m, hidden = P.hidden
    cdef Py_ssize_t r0 = _block(bs, t, T), r1 = _block(bs, t + 1, T)
    cdef floating *Z = <floating *> B.Z
    if X0 != NULL:
        fastlin_gather_rows(<char *> &(<floating *> B.Xb)[r0 * m], <const char *> X0,
                            &rows[r0], r1 - r0, m * sizeof(floating))
    gemm(False, False, r1 - r0, hidden, m, 1, &xb[r0 * m], m, W1, hidden, 0,
         &Z[r0 * hidden], hidden)
    _sigmoid_bias(&Z[r0 * hidden], b1u, r1 - r0, hidden)
    _output_layer(Z, rows, y, sw, P, B, TH, r0, r1, bs, t, total)


cdef void _dense_W_step(const floating *xb, Params *P, Velocities *vel, Buffers *B,
                        Steps *st, Standardizer *sd, const Threads *TH, double eta,
                        Py_ssize_t bs, Py_ssize_t k0, Py_ssize_t k1, int t) noexcept nogil:
    """Rows k0..k1-1 of W step (on thread t): ∇W = Xbᵀ Δ1 (Zbᵀ Δ1 with sd.on)
    + α W. Without momentum and standardization the step is folded into the
    gemm: W ← W − η (Xbᵀ Δ1 + α W) = (1 − ηα) W − η Xbᵀ Δ1. With sd.on the
    rows of W_raw for the next batch follow, from the updated rows."""
    cdef Py_ssize_t hidden = P.hidden, m = P.m, rows = k1 - k0
    cdef floating *W = &(<floating *> P.W)[k0 * hidden]
    cdef floating *gW = &(<floating *> B.gW)[k0 * hidden] if B.gW != NULL else NULL
    cdef floating decay
    if rows == 0:
        return
    if st.momentum > 0:
        gemm(True, False, rows, hidden, bs, 1, &xb[k0], m, <floating *> B.D1, hidden,
             0, gW, hidden)
        if sd.on:
            _standardized_gradient(<floating *> B.gW, B.gb1, sd, k0, k1, hidden)
        _momentum_step(W, &(<floating *> vel.W)[k0 * hidden], gW, rows * hidden, st.alpha,
                       eta, <floating> st.momentum, st.nesterov)
    elif sd.on:
        gemm(True, False, rows, hidden, bs, 1, &xb[k0], m, <floating *> B.D1, hidden,
             0, gW, hidden)
        _standardized_gradient(<floating *> B.gW, B.gb1, sd, k0, k1, hidden)
        _plain_step(W, gW, rows * hidden, st.alpha, eta)
    else:
        decay = <floating> (1 - eta * clipped_alpha(st.alpha, eta))
        gemm(True, False, rows, hidden, bs, <floating> -eta, &xb[k0], m,
             <floating *> B.D1, hidden, decay, W, hidden)
    if sd.on:
        _raw_first_layer_rows(<floating *> P.W, sd, k0, k1, hidden,
                              sd.offset if t == 0 else &TH.offset[t * hidden])


cdef double _epoch(const floating[:, ::1] X, const intp_t[::1] y, const intp_t[::1] order,
                   const floating *sw, Params *P, Velocities *vel, Buffers *B, Steps *st,
                   Standardizer *sd, Threads *TH, Py_ssize_t batch_size) noexcept:
    """One step per run of ``batch_size`` entries of ``order`` (arguments
    checked by ``sgd_epoch``; ``sw`` NULL when unweighted): updates P (and vel
    with momentum), advances st.t; returns Σ_i w_i CE_i. With sd.on the rows
    are standardized through the first layer's algebra (``_raw_first_layer_rows``,
    ``_raw_bias``, ``_standardized_gradient``); B.gW is then allocated also without momentum.
    Each batch runs in two parts on up to TH.n threads (see Threads): the
    forward and backward passes by the batch's rows (``_dense_rows``), W's
    gradient and step (and the next W_raw) by W's rows (``_dense_W_step``);
    V, b1 and b2 step on the calling thread."""
    cdef Py_ssize_t m = P.m, hidden = P.hidden, c = P.c
    cdef Py_ssize_t n_order = order.shape[0]
    cdef Py_ssize_t start, bs, k, t
    cdef int T
    cdef const floating *X0
    cdef const floating *xb
    cdef const floating *W1
    cdef const floating *b1u
    cdef double eta, total = 0.0

    with nogil:
        # the first layer of the standardized network as a layer of the raw
        # rows, W_raw = W / scale (row k by scale_k), b1_raw = b1 − (mean / scale) W;
        # then after each W step, from the updated rows (``_dense_W_step``)
        W1, b1u = <floating *> P.W, <floating *> P.b1
        if sd.on:
            W1, b1u = <floating *> sd.W_raw, <floating *> sd.b1_raw
            T = _team(TH, m, 2 * m * hidden)
            if T == 1:
                _raw_first_layer_rows(<floating *> P.W, sd, 0, m, hidden, sd.offset)
            else:
                for t in prange(T, num_threads=T, schedule="static", chunksize=1):
                    _raw_first_layer_rows(<floating *> P.W, sd, _block(m, t, T),
                                          _block(m, t + 1, T), hidden,
                                          sd.offset if t == 0 else &TH.offset[t * hidden])
            _raw_bias(<floating *> P.b1, sd, TH, T, hidden)
        start = 0
        while start < n_order:
            bs = min(batch_size, n_order - start)
            st.t += 1
            eta = eta_t(st.schedule, st.eta0, st.power_t, st.alpha, st.t)

            # Xb = X[order[start:start + bs]] (read in place when consecutive)
            X0 = NULL
            for k in range(1, bs):
                if order[start + k] != order[start] + k:
                    X0 = &X[0, 0]
                    break
            xb = <const floating *> B.Xb if X0 != NULL else &X[order[start], 0]

            # Ẑ = Xb W1;  Z = σ(Ẑ + b1u)   (Zb W + b1 = Xb W_raw + b1_raw with sd.on)
            T = _team(TH, bs, bs * hidden * (m + 2 * c))
            if T == 1:
                _dense_rows(X0, xb, &order[start], y, sw, W1, b1u, P, B, TH, bs, 0, 1, &total)
            else:
                for t in prange(T, num_threads=T, schedule="static", chunksize=1):
                    _dense_rows(X0, xb, &order[start], y, sw, W1, b1u, P, B, TH, bs, t, T,
                                &total)
                _reduce_rows(<floating *> B.gV, P, B, TH, T, &total)

            T = _team(TH, m, m * hidden * (bs + 5))
            if T == 1:
                _dense_W_step(xb, P, vel, B, st, sd, TH, eta, bs, 0, m, 0)
            else:
                for t in prange(T, num_threads=T, schedule="static", chunksize=1):
                    _dense_W_step(xb, P, vel, B, st, sd, TH, eta, bs, _block(m, t, T),
                                  _block(m, t + 1, T), t)
            _step_output_layer(<floating *> P.V, P, vel, B, st, eta)
            if sd.on:
                _raw_bias(<floating *> P.b1, sd, TH, T, hidden)
            start += bs
    return total


# ---------------------------------------------------------------------------
# The epoch on CSR rows
# ---------------------------------------------------------------------------

ctypedef fused index_t:
    int32_t
    int64_t


cdef struct SparseBuffers:
    # the rows of ∇W that a batch's nonzeros reach, compactly: column k of X
    # (row k of W) is row slot[k] of G, touched[s] the column of G's row s
    void *G              # (cap, hidden) X's dtype: Xbᵀ Δ1 on the batch's columns
    intp_t *slot         # (m,) -1 for a column outside the batch (so between batches)
    intp_t *touched      # (cap,)
    bint centred         # a mean was given: ∇W has the dense term − mean ⊗ ∇b1
    bint every_row       # every row of W steps each batch (momentum, α or centring)


cdef inline void _axpy(floating *y, floating a, const floating *x,
                       Py_ssize_t size) noexcept nogil:
    """y ← y + a x."""
    cdef Py_ssize_t j
    for j in range(size):
        y[j] += a * x[j]


cdef inline void _add_scaled_row(double *acc, double a, const floating *x,
                                 Py_ssize_t size) noexcept nogil:
    """acc ← acc + a x in float64."""
    cdef Py_ssize_t j
    for j in range(size):
        acc[j] += a * x[j]


cdef double _sparse_epoch(const floating[::1] data, const index_t[::1] indices,
                          const index_t[::1] indptr, const intp_t[::1] y,
                          const intp_t[::1] order, const floating *sw, Params *P,
                          Velocities *vel, Buffers *B, SparseBuffers *SB, Steps *st,
                          Standardizer *sd, Threads *TH, Py_ssize_t batch_size) noexcept:
    """``_epoch`` on the CSR rows of X (data, indices, indptr): the same
    batches, steps and second layer; the first layer's products from the
    nonzeros. Per batch, with u = mean / scale (0 and 1 when not given):

        Ẑ_i = Σ_(k in row i) (x_ik / scale_k) W_k + b1 − u W        O(nnz · hidden)
        G   = Xbᵀ Δ1 on the batch's columns only (SB.G)             O(nnz · hidden)
        ∇W_k = (G_k − mean_k ∇b1) / scale_k  (G_k = 0 off the batch)

    With momentum, an L2 penalty or a mean, every row of W changes every
    step (the velocity, the shrinkage and the rank-one centring term reach
    all of them), so the step is one pass over W (and its velocity) as in
    the dense kernel, which also sums u W for the next batch; G is never
    dense, and the pass reads it only for the batch's columns. Without any
    of the three only the batch's rows of W step. On TH.n threads the
    forward and backward passes split the batch's rows and the pass over W
    splits W's rows (see Threads); G is summed on the calling thread."""
    cdef Py_ssize_t m = P.m, hidden = P.hidden, c = P.c
    cdef Py_ssize_t n_order = order.shape[0]
    cdef Py_ssize_t start, bs, i, j, k, p, s, r, n_touched, nnz, t
    cdef int T
    cdef double eta, total = 0.0
    cdef floating *W = <floating *> P.W
    cdef floating *b1 = <floating *> P.b1
    cdef floating *D1 = <floating *> B.D1
    cdef floating *G = <floating *> SB.G
    cdef floating *b1_raw = <floating *> sd.b1_raw
    cdef const floating *b1u = b1

    with nogil:
        if SB.centred:
            _sparse_W_rows(W, P, vel, B, SB, st, sd, TH, 0.0, 0, m, 0, False)
            b1u = b1_raw
        start = 0
        while start < n_order:
            bs = min(batch_size, n_order - start)
            st.t += 1
            eta = eta_t(st.schedule, st.eta0, st.power_t, st.alpha, st.t)

            # Ẑ_i = Σ_k (x_ik / scale_k) W_k;  Z = σ(Ẑ + b1 − u W);  the output layer
            if SB.centred:
                for j in range(hidden):
                    b1_raw[j] = <floating> (b1[j] - sd.offset[j])
            nnz = 0
            for i in range(bs):
                nnz += indptr[order[start + i] + 1] - indptr[order[start + i]]
            T = _team(TH, bs, hidden * (nnz + 2 * c * bs))
            if T == 1:
                _sparse_rows(data, indices, indptr, &order[start], y, sw, b1u, P, B, TH, sd,
                             bs, 0, 1, &total)
            else:
                for t in prange(T, num_threads=T, schedule="static", chunksize=1):
                    _sparse_rows(data, indices, indptr, &order[start], y, sw, b1u, P, B, TH, sd,
                                 bs, t, T, &total)
                _reduce_rows(<floating *> B.gV, P, B, TH, T, &total)

            # G = Xbᵀ Δ1 on the batch's columns
            n_touched = 0
            for i in range(bs):
                r = order[start + i]
                for p in range(indptr[r], indptr[r + 1]):
                    k = indices[p]
                    s = SB.slot[k]
                    if s < 0:
                        s = n_touched
                        n_touched += 1
                        SB.slot[k] = s
                        SB.touched[s] = k
                        for j in range(hidden):
                            G[s * hidden + j] = 0
                    _axpy(&G[s * hidden], data[p], &D1[i * hidden], hidden)

            # the step of W, row by row: ∇W_k = (G_k − mean_k ∇b1) / scale_k (+ α W_k)
            if SB.every_row:
                T = _team(TH, m, 3 * m * hidden)
                if T == 1:
                    _sparse_W_rows(W, P, vel, B, SB, st, sd, TH, eta, 0, m, 0, True)
                else:
                    for t in prange(T, num_threads=T, schedule="static", chunksize=1):
                        _sparse_W_rows(W, P, vel, B, SB, st, sd, TH, eta, _block(m, t, T),
                                       _block(m, t + 1, T), t, True)
                    if SB.centred:
                        for t in range(1, T):
                            for j in range(hidden):
                                sd.offset[j] += TH.offset[t * hidden + j]
            else:
                for s in range(n_touched):
                    k = SB.touched[s]
                    _sparse_gradient_row(<floating *> TH.grad_rows, G, s, B.gb1, sd, False, k,
                                         hidden)
                    _step_row(&W[k * hidden], NULL, <floating *> TH.grad_rows, hidden, st, eta)
            for s in range(n_touched):
                SB.slot[SB.touched[s]] = -1

            _step_output_layer(<floating *> P.V, P, vel, B, st, eta)
            start += bs
    return total


cdef void _sparse_rows(const floating[::1] data, const index_t[::1] indices,
                       const index_t[::1] indptr, const intp_t *rows, const intp_t[::1] y,
                       const floating *sw, const floating *b1u, Params *P, Buffers *B,
                       Threads *TH, const Standardizer *sd, Py_ssize_t bs, int t, int T,
                       double *total) noexcept nogil:
    """Block t of T of a batch's CSR rows, forward and backward:
    Ẑ_i = Σ_k (x_ik / scale_k) W_k, Z = σ(Ẑ + b1u), then ``_output_layer``."""
    cdef Py_ssize_t hidden = P.hidden
    cdef Py_ssize_t r0 = _block(bs, t, T), r1 = _block(bs, t + 1, T)
    cdef Py_ssize_t i, j, k, p, r
    cdef double inv
    cdef const floating *W = <floating *> P.W
    cdef floating *Z = <floating *> B.Z
    cdef floating *zrow
    for i in range(r0, r1):
        r = rows[i]
        zrow = &Z[i * hidden]
        for j in range(hidden):
            zrow[j] = 0
        for p in range(indptr[r], indptr[r + 1]):
            k = indices[p]
            inv = sd.inv_scale[k] if sd.on else 1.0
            _axpy(zrow, <floating> (data[p] * inv), &W[k * hidden], hidden)
    _sigmoid_bias(&Z[r0 * hidden], b1u, r1 - r0, hidden)
    _output_layer(Z, rows, y, sw, P, B, TH, r0, r1, bs, t, total)


cdef void _sparse_W_rows(floating *W, Params *P, Velocities *vel, Buffers *B,
                         SparseBuffers *SB, const Steps *st, Standardizer *sd,
                         Threads *TH, double eta, Py_ssize_t k0, Py_ssize_t k1, int t,
                         bint step) noexcept nogil:
    """Rows k0..k1-1 of W on thread t: with ``step``, each row's gradient
    (``_sparse_gradient_row``) and step; with a mean, their part of
    (mean / scale) W (after the step) into sd.offset (thread 0) or thread t's
    row of TH.offset. ``W`` is P.W, typed."""
    cdef Py_ssize_t hidden = P.hidden, k, j
    cdef floating *vW = <floating *> vel.W
    cdef floating *g = &(<floating *> TH.grad_rows)[t * hidden]
    cdef double *offset = sd.offset if t == 0 else &TH.offset[t * hidden]
    if SB.centred:
        for j in range(hidden):
            offset[j] = 0.0
    for k in range(k0, k1):
        if step:
            _sparse_gradient_row(g, <floating *> SB.G, SB.slot[k], B.gb1, sd, SB.centred,
                                 k, hidden)
            _step_row(&W[k * hidden], &vW[k * hidden] if vW != NULL else NULL, g, hidden,
                      st, eta)
        if SB.centred:
            _add_scaled_row(offset, sd.mean[k] * sd.inv_scale[k], &W[k * hidden], hidden)


cdef inline void _sparse_gradient_row(floating *g, const floating *G, Py_ssize_t s,
                                      const double *gb1, const Standardizer *sd,
                                      bint centred, Py_ssize_t k,
                                      Py_ssize_t hidden) noexcept nogil:
    """g = (G_s − mean_k ∇b1) / scale_k, row k of ∇W without the penalty (G_s
    taken as 0 when s < 0, a column outside the batch)."""
    cdef Py_ssize_t j
    cdef double inv = sd.inv_scale[k] if sd.on else 1.0
    cdef double mk = sd.mean[k] if centred else 0.0
    if s >= 0:
        for j in range(hidden):
            g[j] = <floating> ((G[s * hidden + j] - mk * gb1[j]) * inv)
    else:
        for j in range(hidden):
            g[j] = <floating> (-mk * gb1[j] * inv)


cdef inline void _step_row(floating *w, floating *v, const floating *g, Py_ssize_t hidden,
                           const Steps *st, double eta) noexcept nogil:
    """One row of W steps with its gradient g (+ α w): plain or with momentum."""
    if st.momentum > 0:
        _momentum_step(w, v, g, hidden, st.alpha, eta, <floating> st.momentum, st.nesterov)
    else:
        _plain_step(w, g, hidden, st.alpha, eta)


cdef Py_ssize_t _largest_batch_nnz(const index_t[::1] indptr, const intp_t[::1] order,
                                   Py_ssize_t batch_size) noexcept nogil:
    """The most nonzeros in one batch of ``order``."""
    cdef Py_ssize_t start = 0, i, count, most = 0
    while start < order.shape[0]:
        count = 0
        for i in range(start, min(start + batch_size, order.shape[0])):
            count += indptr[order[i] + 1] - indptr[order[i]]
        most = max(most, count)
        start += batch_size
    return most


cdef bint _needs_gather(const intp_t[::1] order, Py_ssize_t batch_size) noexcept nogil:
    """True when some batch of ``order`` is not a run of consecutive rows."""
    cdef Py_ssize_t k
    for k in range(1, order.shape[0]):
        if k % batch_size != 0 and order[k] != order[k - 1] + 1:
            return True
    return False


# ---------------------------------------------------------------------------
# Python level: checks, the buffers, then one nogil call
# ---------------------------------------------------------------------------

def sgd_epoch(X, y, params, order, *, eta0, batch_size=32, alpha=0.0,
              momentum=0.0, nesterov=False, velocities=None,
              schedule="constant", power_t=0.5, t=0, sample_weight=None,
              mean=None, scale=None, n_threads=1):
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
    place) with velocities ``v`` (same shapes and dtype, updated in place,
    required when momentum > 0). X is C-contiguous float32 or float64
    (read-only is fine), or a scipy.sparse CSR matrix or array (float32 or
    float64 data, int32 or int64 indices and indptr, indices in any order,
    explicit zeros kept; its structure is checked, never converted or
    copied); ``sample_weight`` None or (n,) in X's dtype, ``y`` (n,) and
    ``order`` 1-D intp arrays; nothing is converted (see the module
    docstring).

    Returns ``(epoch_loss, t)``: epoch_loss = (1/n) Σ_i w_i CE_i with each
    CE_i from the forward pass of its batch (before its update). Non-finite
    values propagate into the parameters and the loss; they never raise here.

    ``mean`` and ``scale`` (C-contiguous float64 (m,), either may be None:
    0 and 1) train on z_i = (x_i − mean) / scale without forming it, W and b1
    the first layer of that space: per batch Zb W + b1 = Xb (W / scale) +
    (b1 − (mean / scale) W) and ∇W = (Xbᵀ Δ1 − mean ⊗ Σ Δ1) / scale.

    ``n_threads`` (an int >= 1): the threads of the epoch (see the module
    docstring); 1 is the serial epoch exactly, more give the same result to
    rounding, the same on every run for a given count.
    """
    if not isinstance(order, np.ndarray) or order.dtype != np.intp:
        raise TypeError(f"order must be an ndarray of dtype intp, "
                        f"got {getattr(order, 'dtype', type(order).__name__)}")
    if order.ndim != 1 or not order.flags.c_contiguous:
        raise ValueError(f"order must be a 1-D C-contiguous array, got shape {order.shape}")
    losses, t = _run_epochs(X, y, params, order.reshape(1, -1), "order", eta0, batch_size,
                            alpha, momentum, nesterov, velocities, schedule, power_t, t,
                            sample_weight, mean, scale, n_threads)
    return float(losses[0]), t


def sgd_epochs(X, y, params, orders, *, eta0, batch_size=32, alpha=0.0,
               momentum=0.0, nesterov=False, velocities=None,
               schedule="constant", power_t=0.5, t=0, sample_weight=None,
               mean=None, scale=None, n_threads=1):
    """k epochs in one call, one per row of ``orders`` (a (k, n_order) intp
    array; a non-contiguous one is copied): exactly the steps, losses and t of k calls of
    ``sgd_epoch`` with those orders and its other arguments, without the k
    calls' checks and buffers. Same as ``fastlin.reference.network.sgd_epochs``.

    Returns ``(losses, t)``: losses a float64 array of the epochs' data
    losses. The call stops after an epoch whose loss or any parameter is
    not finite: that epoch is then the last entry."""
    if not isinstance(orders, np.ndarray) or orders.dtype != np.intp or orders.ndim != 2:
        raise TypeError("orders must be a 2-D numpy array of dtype intp")
    # (as the linear kernel does: the orders of a few epochs, a small copy
    # at most)
    return _run_epochs(X, y, params, np.ascontiguousarray(orders), "orders", eta0, batch_size, alpha, momentum,
                       nesterov, velocities, schedule, power_t, t, sample_weight, mean, scale,
                       n_threads)


cdef bint _finite(const floating *a, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(size):
        if not isfinite(a[k]):
            return False
    return True


cdef bint _params_finite(const Params *P, bint single) noexcept nogil:
    """Whether W, b1, V and b2 hold no inf or NaN (``single``: float32)."""
    cdef Py_ssize_t m = P.m, hidden = P.hidden, c = P.c
    if single:
        return (_finite(<const float *> P.W, m * hidden) and _finite(<const float *> P.b1, hidden)
                and _finite(<const float *> P.V, hidden * c) and _finite(<const float *> P.b2, c))
    return (_finite(<const double *> P.W, m * hidden) and _finite(<const double *> P.b1, hidden)
            and _finite(<const double *> P.V, hidden * c) and _finite(<const double *> P.b2, c))


def _run_epochs(X, y, params, orders, what, eta0, batch_size, alpha, momentum, nesterov,
                velocities, schedule, power_t, t, sample_weight, mean, scale, n_threads):
    """``sgd_epochs`` (``sgd_epoch``: one row of orders, named ``what`` in
    the messages) once the orders are a C-contiguous 2-D intp array."""
    n_threads = check_n_threads(n_threads)
    sparse = _is_sparse(X)
    if sparse:
        data, indices, indptr, n, m = _csr_parts(X, params[0] if len(params) == 4 else None)
        dtype = data.dtype
    else:
        _check_dense_X(X)
        (n, m), dtype = X.shape, X.dtype
    W, b1, V, b2 = _check_params(params, m, dtype)
    hidden, c = V.shape
    _check_indices("y", y, c, "labels", n)
    flat = orders.reshape(-1)
    if flat.shape[0] and (flat.min() < 0 or flat.max() >= n):
        raise ValueError(f"{what} must hold sample indices in 0..{n - 1}")
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
    if sample_weight is not None:
        if not isinstance(sample_weight, np.ndarray) or sample_weight.dtype != dtype:
            raise TypeError(f"sample_weight must be an ndarray of X's dtype {dtype}, "
                            f"got {getattr(sample_weight, 'dtype', type(sample_weight).__name__)}")
        if sample_weight.shape != (n,) or not sample_weight.flags.c_contiguous:
            raise ValueError(f"sample_weight must be a C-contiguous array of shape ({n},), "
                             f"got shape {sample_weight.shape}")

    standardized = mean is not None or scale is not None
    if standardized:
        for name, a in (("mean", mean), ("scale", scale)):
            if a is None:
                continue
            if not isinstance(a, np.ndarray) or a.dtype != np.float64:
                raise TypeError(f"{name} must be a float64 ndarray, "
                                f"got {getattr(a, 'dtype', type(a).__name__)}")
            if a.shape != (m,) or not a.flags.c_contiguous:
                raise ValueError(f"{name} must be a C-contiguous array of shape ({m},), "
                                 f"got shape {a.shape}")
        mean_arr = np.zeros(m) if mean is None else mean
        inv_scale = np.ones(m) if scale is None else 1.0 / scale
        # the dense rows' product takes W / scale whole; the sparse rows scale
        # each nonzero instead
        W_raw = None if sparse else np.empty((m, hidden), dtype=dtype)
        b1_raw = np.empty(hidden, dtype=dtype)
        offset = np.empty(hidden)
    cdef Standardizer sd = Standardizer(on=False, mean=NULL, inv_scale=NULL, W_raw=NULL,
                                        b1_raw=NULL, offset=NULL)
    if standardized:
        sd = Standardizer(on=True, mean=<const double *> _data(mean_arr),
                          inv_scale=<const double *> _data(inv_scale), W_raw=_data(W_raw),
                          b1_raw=_data(b1_raw), offset=<double *> _data(offset))

    cdef const intp_t[::1] y_v = y
    cdef const intp_t[:, ::1] orders_v = orders
    cdef const intp_t[::1] order_v
    cdef Py_ssize_t e, k = orders.shape[0]
    bs = min(batch_size, max(orders.shape[1], 1))    # the same batches, a BLAS int
    if bs > INT_MAX:
        raise ValueError("batches beyond 2**31 - 1 rows do not fit BLAS's int arguments")
    # the gathered rows of a batch, only when some batch of a dense X is not a
    # run of consecutive rows (a full batch in order reads X in place: no copy)
    gather = False
    if not sparse:
        for e in range(k):
            if _needs_gather(orders_v[e], bs):
                gather = True
                break
    Xb = np.empty((bs, m), dtype=dtype) if gather else None
    Z = np.empty((bs, hidden), dtype=dtype)
    Q = np.empty((bs, c), dtype=dtype)
    D1 = np.empty((bs, hidden), dtype=dtype)
    gV = np.empty((hidden, c), dtype=dtype)
    gW = (np.empty((m, hidden), dtype=dtype)
          if not sparse and (momentum > 0 or standardized) else None)
    rowmax = np.empty(bs, dtype=dtype)
    gb1 = np.empty(hidden, dtype=np.float64)
    gb2 = np.empty(c, dtype=np.float64)
    qy = np.empty(bs, dtype=np.float64)
    # the threads' partial sums (row 0 unused: thread 0 sums into the above)
    loss_parts = np.empty(n_threads)
    gb1_parts = np.empty((n_threads, hidden))
    gb2_parts = np.empty((n_threads, c))
    gV_parts = np.empty((n_threads, hidden, c), dtype=dtype)
    offset_parts = np.empty((n_threads, hidden))
    grad_rows = np.empty((n_threads, hidden), dtype=dtype)

    cdef Params P = Params(W=_data(W), b1=_data(b1), V=_data(V), b2=_data(b2),
                           m=m, hidden=hidden, c=c)
    cdef Velocities vel = Velocities(W=NULL, b1=NULL, V=NULL, b2=NULL)
    if momentum > 0:
        vel = Velocities(W=_data(vW), b1=_data(vb1), V=_data(vV), b2=_data(vb2))
    cdef Buffers B = Buffers(Xb=_data(Xb), Z=_data(Z), Q=_data(Q), D1=_data(D1),
                             gV=_data(gV), gW=_data(gW), rowmax=_data(rowmax),
                             gb1=<double *> _data(gb1), gb2=<double *> _data(gb2),
                             qy=<double *> _data(qy))
    cdef Threads TH = Threads(n=n_threads, loss=<double *> _data(loss_parts),
                              gb1=<double *> _data(gb1_parts), gb2=<double *> _data(gb2_parts),
                              gV=_data(gV_parts), offset=<double *> _data(offset_parts),
                              grad_rows=_data(grad_rows))
    cdef Steps st = Steps(eta0=float(eta0), power_t=float(power_t), alpha=float(alpha),
                          momentum=momentum, nesterov=bool(nesterov),
                          schedule=schedule_kind(schedule, float(alpha)), t=int(t))
    cdef const void *sw = _data(sample_weight)
    cdef const double[:, ::1] X64
    cdef const float[:, ::1] X32
    cdef Py_ssize_t bs_c = bs
    cdef double total = 0.0
    cdef const double[::1] data64
    cdef const float[::1] data32
    cdef bint single = dtype == np.float32
    losses = np.empty(k)
    cdef double[::1] losses_v = losses
    if sparse and not single:
        data64 = data
    elif sparse:
        data32 = data
    elif not single:
        X64 = X
    else:
        X32 = X
    with blas_threads_for(n_threads):
        for e in range(k):
            order_v = orders_v[e]
            if sparse and not single:
                total = _run_sparse(data64, indices, indptr, y_v, order_v, sample_weight, &P,
                                    &vel, &B, &st, &sd, &TH, bs_c, mean is not None)
            elif sparse:
                total = _run_sparse(data32, indices, indptr, y_v, order_v, sample_weight, &P,
                                    &vel, &B, &st, &sd, &TH, bs_c, mean is not None)
            elif not single:
                total = _epoch(X64, y_v, order_v, <const double *> sw, &P, &vel, &B, &st,
                               &sd, &TH, bs_c)
            else:
                total = _epoch(X32, y_v, order_v, <const float *> sw, &P, &vel, &B, &st,
                               &sd, &TH, bs_c)
            losses_v[e] = total / n
            # (a later epoch would only step from inf or NaN)
            if not (isfinite(losses_v[e]) and _params_finite(&P, single)):
                return losses[:e + 1], st.t
    return losses, st.t


cdef double _run_sparse(const floating[::1] data, indices, indptr, const intp_t[::1] y,
                        const intp_t[::1] order, sample_weight, Params *P, Velocities *vel,
                        Buffers *B, Steps *st, Standardizer *sd, Threads *TH, Py_ssize_t bs,
                        bint centred) except? -1.0:
    """``_sparse_epoch`` for the CSR's index dtype (int32 or int64)."""
    cdef const int32_t[::1] indices32, indptr32
    cdef const int64_t[::1] indices64, indptr64
    if indices.dtype == np.int32:
        indices32, indptr32 = indices, indptr
        return _sparse_buffers_and_epoch(data, indices32, indptr32, y, order, sample_weight,
                                         P, vel, B, st, sd, TH, bs, centred)
    indices64, indptr64 = indices, indptr
    return _sparse_buffers_and_epoch(data, indices64, indptr64, y, order, sample_weight,
                                     P, vel, B, st, sd, TH, bs, centred)


cdef double _sparse_buffers_and_epoch(
        const floating[::1] data, const index_t[::1] indices, const index_t[::1] indptr,
        const intp_t[::1] y, const intp_t[::1] order, sample_weight, Params *P,
        Velocities *vel, Buffers *B, Steps *st, Standardizer *sd, Threads *TH, Py_ssize_t bs,
        bint centred) except? -1.0:
    """The sparse epoch's own buffers (G holds the most columns one batch
    reaches, at most m), then ``_sparse_epoch`` (which releases the GIL)."""
    cdef Py_ssize_t cap
    with nogil:
        cap = min(P.m, max(_largest_batch_nnz(indptr, order, bs), 1))
    dtype = np.float32 if floating is float else np.float64
    G = np.empty((cap, P.hidden), dtype=dtype)
    slot = np.full(P.m, -1, dtype=np.intp)
    touched = np.empty(cap, dtype=np.intp)
    cdef SparseBuffers SB = SparseBuffers(
        G=_data(G), slot=<intp_t *> _data(slot), touched=<intp_t *> _data(touched),
        centred=centred,
        every_row=st.momentum > 0 or st.alpha != 0 or centred)
    cdef const floating *sw = <const floating *> _data(sample_weight)
    return _sparse_epoch(data, indices, indptr, y, order, sw, P, vel, B, &SB, st, sd, TH, bs)


cdef void *_data(object a) noexcept:
    """The data pointer of an ndarray, NULL for None."""
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray> a)


def _is_sparse(X):
    """True for a scipy.sparse matrix or array (scipy.sparse is never
    imported here: X cannot be one unless the caller imported it)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def _check_dense_X(X):
    """A dense X: type, dtype, layout, size (O(1))."""
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be a float32 or float64 ndarray, got {getattr(X, 'dtype', type(X))}")
    if X.ndim != 2 or not X.flags.c_contiguous:
        raise ValueError("X must be a 2-D C-contiguous array")
    n, m = X.shape
    if n < 1 or m < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {X.shape}")


def _check_params(params, m, dtype):
    """The parameters for X of m features and ``dtype``: types, dtypes,
    shapes, layout (O(1)). Returns [W, b1, V, b2]."""
    if len(params) != 4:
        raise ValueError("params must be the list [W, b1, V, b2]")
    W, b1, V, b2 = params
    for name, p, ndim in (("W", W, 2), ("b1", b1, 1), ("V", V, 2), ("b2", b2, 1)):
        if not isinstance(p, np.ndarray) or p.dtype != dtype:
            raise TypeError(f"{name} must be an ndarray of X's dtype {dtype}, "
                            f"got {getattr(p, 'dtype', type(p))}")
        if p.ndim != ndim or not p.flags.c_contiguous or not p.flags.writeable:
            raise ValueError(f"{name} must be a writeable C-contiguous {ndim}-D array")
    hidden, c = V.shape
    if W.shape != (m, hidden) or b1.shape != (hidden,) or b2.shape != (c,) or hidden < 1 or c < 1:
        raise ValueError(f"parameter shapes W {W.shape}, b1 {b1.shape}, V {V.shape}, "
                         f"b2 {b2.shape} do not fit X with {m} features")
    if max(m, hidden, c) > INT_MAX:
        raise ValueError("dimensions beyond 2**31 - 1 do not fit BLAS's int arguments")
    return W, b1, V, b2


def _check_indices(name, a, bound, what, length=None):
    """``a`` must be a 1-D C-contiguous intp ndarray (of ``length`` entries
    when given) of values in 0..bound-1 (O(len(a)))."""
    if not isinstance(a, np.ndarray) or a.dtype != np.intp:
        raise TypeError(f"{name} must be an ndarray of dtype intp, "
                        f"got {getattr(a, 'dtype', type(a).__name__)}")
    if a.ndim != 1 or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a 1-D C-contiguous array, got shape {a.shape}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} has shape {a.shape}, expected ({length},)")
    if a.shape[0] and (a.min() < 0 or a.max() >= bound):
        raise ValueError(f"{name} must hold {what} in 0..{bound - 1}")


def _check_like(arrays, like, what):
    if len(arrays) != len(like):
        raise ValueError(f"{what} must be a list of {len(like)} arrays shaped like params")
    for a, p in zip(arrays, like):
        if (not isinstance(a, np.ndarray) or a.dtype != p.dtype or a.shape != p.shape
                or not a.flags.c_contiguous or not a.flags.writeable):
            raise ValueError(f"{what} must be writeable C-contiguous arrays shaped and typed like params")
    return arrays


def _py_sigmoid_bias(const floating[:, ::1] S, const floating[::1] b):
    """σ(S + b) (a new array) by the kernel's own sweep: a test hook, so that
    the tests compare the kernel's polynomial exponential with the reference
    sigmoid over the whole range."""
    if S.shape[1] != b.shape[0]:
        raise ValueError("S (n, k) and b (k,) do not fit")
    Z = np.array(S, dtype=np.float32 if floating is float else np.float64, copy=True)
    cdef floating[:, ::1] Zv = Z
    if Zv.shape[0] and Zv.shape[1]:
        with nogil:
            _sigmoid_bias(&Zv[0, 0], &b[0], Zv.shape[0], Zv.shape[1])
    return Z
