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
``with nogil:`` block (``_epoch``, which reads the parameters, velocities,
buffers and step settings from four structs), the products through scipy's
BLAS (cython_blas). Bias gradients and the loss are accumulated in float64.

The gather of a batch's rows and the three sweeps — σ(Ẑ + b1) and
Z ⊙ (1 − Z) over (batch, hidden), e^(Q̂ + b2 − M) over (batch, classes) —
are small C functions in ``fastlin/_simd.h`` that the compiler vectorises. The
two sweeps that evaluate exponentials use a polynomial (accurate to 2e-16 in
float64, 1e-7 in float32), not a libm call per element.

Arguments are checked, never converted (the linear kernel's rule): X is a
C-contiguous float32 or float64 ndarray (read-only is fine); the parameters,
the velocities and ``sample_weight`` are ndarrays of exactly X's dtype;
``y`` and ``order`` are 1-D C-contiguous ndarrays of dtype intp. A wrong type
or dtype raises TypeError; a wrong shape, layout or index range ValueError.
"""
import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.math cimport log

from ._blas cimport gemm
from ._build_checks cimport FASTLIN_DEBUG_BUILD, FASTLIN_HAS_OPENMP, bounds_checked
from ._numeric import INT_MAX, SCHEDULES
from ._parallel import check_n_threads
from ._schedule cimport eta_t, schedule_kind

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


cdef void _raw_first_layer(const floating *W, const floating *b1, Standardizer *sd,
                           Py_ssize_t m, Py_ssize_t hidden) noexcept nogil:
    """The first layer of the standardized network as a layer on the raw rows,
    Z W + b1 = X W_raw + b1_raw:  W_raw = W / scale (row k by scale_k),
    b1_raw = b1 − (mean / scale) W."""
    cdef floating *W_raw = <floating *> sd.W_raw
    cdef floating *b1_raw = <floating *> sd.b1_raw
    cdef Py_ssize_t k, j
    cdef double v
    for j in range(hidden):
        sd.offset[j] = 0.0
    for k in range(m):
        for j in range(hidden):
            v = W[k * hidden + j] * sd.inv_scale[k]
            W_raw[k * hidden + j] = <floating> v
            sd.offset[j] += sd.mean[k] * v
    for j in range(hidden):
        b1_raw[j] = <floating> (b1[j] - sd.offset[j])


cdef void _standardized_gradient(floating *gW, const double *gb1, const Standardizer *sd,
                                 Py_ssize_t m, Py_ssize_t hidden) noexcept nogil:
    """gW = Xbᵀ Δ1 becomes Zbᵀ Δ1 = (Xbᵀ Δ1 − mean ⊗ Σ Δ1) / scale."""
    cdef Py_ssize_t k, j
    for k in range(m):
        for j in range(hidden):
            gW[k * hidden + j] = <floating> (
                (gW[k * hidden + j] - sd.mean[k] * gb1[j]) * sd.inv_scale[k])


cdef double _epoch(const floating[:, ::1] X, const intp_t[::1] y, const intp_t[::1] order,
                   const floating *sw, Params *P, Velocities *vel, Buffers *B, Steps *st,
                   Standardizer *sd, Py_ssize_t batch_size) noexcept nogil:
    """One step per run of ``batch_size`` entries of ``order`` (arguments
    checked by ``sgd_epoch``; ``sw`` NULL when unweighted): updates P (and vel
    with momentum), advances st.t; returns Σ_i w_i CE_i. With sd.on the rows
    are standardized through the first layer's algebra (``_raw_first_layer``,
    ``_standardized_gradient``); B.gW is then allocated also without momentum."""
    cdef Py_ssize_t m = P.m, hidden = P.hidden, c = P.c
    cdef Py_ssize_t n_order = order.shape[0]
    cdef Py_ssize_t start, bs, i, j, k, idx, yi
    cdef bint contiguous
    cdef const floating *xb
    cdef double eta, total = 0.0, wi, scale, mx, s
    cdef floating decay, mu = <floating> st.momentum, g
    cdef floating *row
    # the structs' arrays, in X's dtype
    cdef floating *W = <floating *> P.W
    cdef floating *b1 = <floating *> P.b1
    cdef floating *V = <floating *> P.V
    cdef floating *b2 = <floating *> P.b2
    cdef floating *vW = <floating *> vel.W
    cdef floating *vb1 = <floating *> vel.b1
    cdef floating *vV = <floating *> vel.V
    cdef floating *vb2 = <floating *> vel.b2
    cdef floating *Z = <floating *> B.Z
    cdef floating *Q = <floating *> B.Q
    cdef floating *D1 = <floating *> B.D1
    cdef floating *gV = <floating *> B.gV
    cdef floating *gW = <floating *> B.gW
    cdef floating *rowmax = <floating *> B.rowmax

    start = 0
    while start < n_order:
        bs = min(batch_size, n_order - start)
        st.t += 1
        eta = eta_t(st.schedule, st.eta0, st.power_t, st.alpha, st.t)

        # Xb = X[order[start:start + bs]] (read in place when consecutive)
        contiguous = True
        for k in range(1, bs):
            if order[start + k] != order[start] + k:
                contiguous = False
                break
        if contiguous:
            xb = &X[order[start], 0]
        else:
            fastlin_gather_rows(<char *> B.Xb, <const char *> &X[0, 0], &order[start],
                                bs, m * sizeof(floating))
            xb = <const floating *> B.Xb

        # Ẑ = Xb W;  Z = σ(Ẑ + b1)   (Zb W + b1 = Xb W_raw + b1_raw with sd.on)
        if sd.on:
            _raw_first_layer(W, b1, sd, m, hidden)
            gemm(False, False, bs, hidden, m, 1, xb, m, <floating *> sd.W_raw, hidden,
                 0, Z, hidden)
            _sigmoid_bias(Z, <floating *> sd.b1_raw, bs, hidden)
        else:
            gemm(False, False, bs, hidden, m, 1, xb, m, W, hidden, 0, Z, hidden)
            _sigmoid_bias(Z, b1, bs, hidden)

        # Q̂ = Z V + b2;  CE_i = max + log Σ e^(Q̂ − max) − Q̂_y;
        # Δ2 = w (softmax(Q̂) − Y) / bs;  ∇b2 = Σ Δ2
        gemm(False, False, bs, c, hidden, 1, Z, hidden, V, c, 0, Q, c)
        for i in range(bs):
            row = &Q[i * c]
            mx = row[0] + b2[0]
            for k in range(c):
                row[k] += b2[k]
                if row[k] > mx:            # a NaN never wins: it propagates below
                    mx = row[k]
            rowmax[i] = <floating> mx
            B.qy[i] = row[y[order[start + i]]]
        _exp_shifted(Q, rowmax, bs, c)     # Q = e^(Q̂ − max), one sweep
        for k in range(c):
            B.gb2[k] = 0
        for i in range(bs):
            idx = order[start + i]
            yi = y[idx]
            wi = sw[idx] if sw != NULL else 1.0
            row = &Q[i * c]
            s = 0
            for k in range(c):
                s += row[k]
            total += wi * ((rowmax[i] - B.qy[i]) + log(s))
            scale = wi / bs
            for k in range(c):
                row[k] = (row[k] / s - (k == yi)) * scale
                B.gb2[k] += row[k]

        # Δ1 = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z);  ∇b1 = Σ Δ1   (V before its update)
        gemm(False, True, bs, hidden, c, 1, Q, c, V, c, 0, D1, hidden)
        _sigmoid_backward(D1, Z, B.gb1, bs, hidden)

        # ∇V = Zᵀ Δ2 (+ α V in the update)
        gemm(True, False, hidden, c, bs, 1, Z, hidden, Q, c, 0, gV, c)

        if st.momentum > 0:
            # ∇W = Xbᵀ Δ1 (+ α W below)
            gemm(True, False, m, hidden, bs, 1, xb, m, D1, hidden, 0, gW, hidden)
            if sd.on:
                _standardized_gradient(gW, B.gb1, sd, m, hidden)
            _momentum_step(W, vW, gW, m * hidden, st.alpha, eta, mu, st.nesterov)
            _momentum_step(V, vV, gV, hidden * c, st.alpha, eta, mu, st.nesterov)
            for j in range(hidden):
                g = <floating> B.gb1[j]
                vb1[j] = mu * vb1[j] - <floating> eta * g
                b1[j] += (mu * vb1[j] - <floating> eta * g) if st.nesterov else vb1[j]
            for k in range(c):
                g = <floating> B.gb2[k]
                vb2[k] = mu * vb2[k] - <floating> eta * g
                b2[k] += (mu * vb2[k] - <floating> eta * g) if st.nesterov else vb2[k]
        elif sd.on:
            # ∇W = Zbᵀ Δ1 (+ α W in the update)
            gemm(True, False, m, hidden, bs, 1, xb, m, D1, hidden, 0, gW, hidden)
            _standardized_gradient(gW, B.gb1, sd, m, hidden)
            _plain_step(W, gW, m * hidden, st.alpha, eta)
            _plain_step(V, gV, hidden * c, st.alpha, eta)
            for j in range(hidden):
                b1[j] -= <floating> eta * <floating> B.gb1[j]
            for k in range(c):
                b2[k] -= <floating> eta * <floating> B.gb2[k]
        else:
            # W ← W − η (Xbᵀ Δ1 + α W) = (1 − ηα) W − η Xbᵀ Δ1, in the gemm
            decay = <floating> (1 - eta * st.alpha)
            gemm(True, False, m, hidden, bs, <floating> -eta, xb, m, D1, hidden,
                 decay, W, hidden)
            _plain_step(V, gV, hidden * c, st.alpha, eta)
            for j in range(hidden):
                b1[j] -= <floating> eta * <floating> B.gb1[j]
            for k in range(c):
                b2[k] -= <floating> eta * <floating> B.gb2[k]
        start += bs
    return total


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
    (read-only is fine), ``sample_weight`` None or (n,) in X's dtype, ``y``
    (n,) and ``order`` 1-D intp arrays; nothing is converted (see the module
    docstring).

    Returns ``(epoch_loss, t)``: epoch_loss = (1/n) Σ_i w_i CE_i with each
    CE_i from the forward pass of its batch (before its update). Non-finite
    values propagate into the parameters and the loss; they never raise here.

    ``mean`` and ``scale`` (C-contiguous float64 (m,), either may be None:
    0 and 1) train on z_i = (x_i − mean) / scale without forming it, W and b1
    the first layer of that space: per batch Zb W + b1 = Xb (W / scale) +
    (b1 − (mean / scale) W) and ∇W = (Xbᵀ Δ1 − mean ⊗ Σ Δ1) / scale.

    ``n_threads`` (an int >= 1) is checked; this kernel runs on one thread
    for now.
    """
    check_n_threads(n_threads)
    W, b1, V, b2 = _check_network(X, params)
    n, m = X.shape
    hidden, c = V.shape
    dtype = X.dtype
    _check_indices("y", y, c, "labels", n)
    _check_indices("order", order, n, "sample indices")
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
        W_raw = np.empty((m, hidden), dtype=dtype)
        b1_raw = np.empty(hidden, dtype=dtype)
        offset = np.empty(hidden)
    cdef Standardizer sd = Standardizer(on=False, mean=NULL, inv_scale=NULL, W_raw=NULL,
                                        b1_raw=NULL, offset=NULL)
    if standardized:
        sd = Standardizer(on=True, mean=<const double *> _data(mean_arr),
                          inv_scale=<const double *> _data(inv_scale), W_raw=_data(W_raw),
                          b1_raw=_data(b1_raw), offset=<double *> _data(offset))

    cdef const intp_t[::1] y_v = y
    cdef const intp_t[::1] order_v = order
    bs = min(batch_size, max(len(order), 1))         # the same batches, a BLAS int
    if bs > INT_MAX:
        raise ValueError("batches beyond 2**31 - 1 rows do not fit BLAS's int arguments")
    # the gathered rows of a batch, only when some batch is not a run of
    # consecutive rows (a full batch in order reads X in place: no copy of X)
    Xb = np.empty((bs, m), dtype=dtype) if _needs_gather(order_v, bs) else None
    Z = np.empty((bs, hidden), dtype=dtype)
    Q = np.empty((bs, c), dtype=dtype)
    D1 = np.empty((bs, hidden), dtype=dtype)
    gV = np.empty((hidden, c), dtype=dtype)
    gW = np.empty((m, hidden), dtype=dtype) if momentum > 0 or standardized else None
    rowmax = np.empty(bs, dtype=dtype)
    gb1 = np.empty(hidden, dtype=np.float64)
    gb2 = np.empty(c, dtype=np.float64)
    qy = np.empty(bs, dtype=np.float64)

    cdef Params P = Params(W=_data(W), b1=_data(b1), V=_data(V), b2=_data(b2),
                           m=m, hidden=hidden, c=c)
    cdef Velocities vel = Velocities(W=NULL, b1=NULL, V=NULL, b2=NULL)
    if momentum > 0:
        vel = Velocities(W=_data(vW), b1=_data(vb1), V=_data(vV), b2=_data(vb2))
    cdef Buffers B = Buffers(Xb=_data(Xb), Z=_data(Z), Q=_data(Q), D1=_data(D1),
                             gV=_data(gV), gW=_data(gW), rowmax=_data(rowmax),
                             gb1=<double *> _data(gb1), gb2=<double *> _data(gb2),
                             qy=<double *> _data(qy))
    cdef Steps st = Steps(eta0=float(eta0), power_t=float(power_t), alpha=float(alpha),
                          momentum=momentum, nesterov=bool(nesterov),
                          schedule=schedule_kind(schedule, float(alpha)), t=int(t))
    cdef const void *sw = _data(sample_weight)
    cdef const double[:, ::1] X64
    cdef const float[:, ::1] X32
    cdef Py_ssize_t bs_c = bs
    cdef double total
    if dtype == np.float64:
        X64 = X
        with nogil:
            total = _epoch(X64, y_v, order_v, <const double *> sw, &P, &vel, &B, &st, &sd, bs_c)
    else:
        X32 = X
        with nogil:
            total = _epoch(X32, y_v, order_v, <const float *> sw, &P, &vel, &B, &st, &sd, bs_c)
    return total / n, st.t


cdef void *_data(object a) noexcept:
    """The data pointer of an ndarray, NULL for None."""
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray> a)


def _check_network(X, params):
    """X and the parameters: types, dtypes, shapes, layout (O(1)). Returns
    [W, b1, V, b2]."""
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
