"""Cython minibatch SGD for the one-hidden-layer network (§7 of docs/math.md).

``sgd_epoch`` has the signature and semantics of
``fastlin.reference.network.sgd_epoch`` (read its docstring for the math);
per batch B of b_s samples, with Xb the batch's rows of X:

    Ẑ = Xb W                      gemm
    Z = σ(Ẑ + b1)                 loop (fused bias + sigmoid)
    Q̂ = Z V                       gemm
    Δ2 = w ⊙ (softmax(Q̂ + b2) − Y) / b_s,  CE_i,  ∇b2 = Σ Δ2
                                  loop per row (max-subtracted, log-sum-exp)
    P = Δ2 Vᵀ                     gemm (with V before its update)
    Δ1 = P ⊙ Z ⊙ (1 − Z),  ∇b1 = Σ Δ1
                                  loop
    ∇V = Zᵀ Δ2 + α V              gemm, then the V update in a loop
    ∇W = Xbᵀ Δ1 + α W             gemm; without momentum the update is folded
                                  into it: W ← (1 − ηα) W − η Xbᵀ Δ1

Every work buffer is allocated once per call; the whole epoch runs in one
``with nogil:`` block, the products through scipy's BLAS (cython_blas).
Bias gradients and the loss are accumulated in float64.
"""
import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.math cimport exp, log, pow
from libc.string cimport memcpy

from fastlin._blas cimport gemm

cnp.import_array()

ctypedef cnp.intp_t intp_t

SCHEDULES = ("constant", "invscaling")


cdef inline floating _sigmoid(floating s) noexcept nogil:
    """σ(s) = 1 / (1 + e^(−s)); e^(−s) = inf for s < −709 gives exactly 0."""
    return 1 / (1 + exp(-s))


def sgd_epoch(X, y, params, order, *, eta0, batch_size=32, alpha=0.0,
              momentum=0.0, nesterov=False, velocities=None,
              schedule="constant", power_t=0.5, t=0, sample_weight=None):
    """One epoch of minibatch SGD on the network, in place, in Cython.

    Same signature and semantics as ``fastlin.reference.network.sgd_epoch``:
    batches are consecutive runs of ``batch_size`` entries of ``order`` (the
    last may be shorter); per batch t ← t + 1, η_t = η₀ ("constant") or
    η₀ / t^power_t ("invscaling"), the gradient g of the batch objective
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

    bs = min(batch_size, max(len(order), 1))
    Xb = np.empty((bs, m), dtype=dtype)              # the gathered rows of a batch
    Z = np.empty((bs, hidden), dtype=dtype)          # Ẑ, then Z = σ(Ẑ + b1)
    Q = np.empty((bs, c), dtype=dtype)               # Q̂, then Δ2
    D1 = np.empty((bs, hidden), dtype=dtype)         # Δ2 Vᵀ, then Δ1
    gV = np.empty((hidden, c), dtype=dtype)          # Zᵀ Δ2
    gW = np.empty((m, hidden) if momentum > 0 else (0, 0), dtype=dtype)   # Xbᵀ Δ1
    gb1 = np.empty(hidden, dtype=np.float64)
    gb2 = np.empty(c, dtype=np.float64)

    cdef double total
    cdef Py_ssize_t t_out
    total, t_out = _epoch(X, y, order, W, b1, V, b2, vW, vb1, vV, vb2,
                          sample_weight, Xb, Z, Q, D1, gV, gW, gb1, gb2,
                          has_weights, batch_size, float(eta0), float(alpha), momentum,
                          bool(nesterov), schedule == "invscaling", float(power_t), int(t))
    return total / n, t_out


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
           bint has_weights, Py_ssize_t batch_size, double eta0, double alpha,
           double momentum, bint nesterov, bint invscaling, double power_t, Py_ssize_t t):
    """The epoch proper (arguments checked by ``sgd_epoch``); returns
    (Σ_i w_i CE_i, t)."""
    cdef Py_ssize_t m = X.shape[1], hidden = V.shape[0], c = V.shape[1]
    cdef Py_ssize_t n_order = order.shape[0]
    cdef Py_ssize_t start, bs, i, j, k, idx, yi
    cdef bint contiguous
    cdef const floating *xb
    cdef double eta, total = 0.0, wi, scale, mx, s, e, qy, acc
    cdef floating z, decay, mu = <floating> momentum, g
    cdef floating *row

    with nogil:
        start = 0
        while start < n_order:
            bs = min(batch_size, n_order - start)
            t += 1
            eta = eta0 / pow(<double> t, power_t) if invscaling else eta0

            # Xb = X[order[start:start + bs]] (read in place when consecutive)
            contiguous = True
            for k in range(1, bs):
                if order[start + k] != order[start] + k:
                    contiguous = False
                    break
            if contiguous:
                xb = &X[order[start], 0]
            else:
                for k in range(bs):
                    memcpy(&Xb[k, 0], &X[order[start + k], 0], m * sizeof(floating))
                xb = &Xb[0, 0]

            # Ẑ = Xb W;  Z = σ(Ẑ + b1)
            gemm(False, False, bs, hidden, m, 1, xb, m, &W[0, 0], hidden, 0, &Z[0, 0], hidden)
            for i in range(bs):
                for j in range(hidden):
                    Z[i, j] = _sigmoid(Z[i, j] + b1[j])

            # Q̂ = Z V + b2;  CE_i = max + log Σ e^(Q̂ − max) − Q̂_y;
            # Δ2 = w (softmax(Q̂) − Y) / bs;  ∇b2 = Σ Δ2
            gemm(False, False, bs, c, hidden, 1, &Z[0, 0], hidden, &V[0, 0], c, 0, &Q[0, 0], c)
            for k in range(c):
                gb2[k] = 0
            for i in range(bs):
                idx = order[start + i]
                yi = y[idx]
                wi = sw[idx] if has_weights else 1.0
                row = &Q[i, 0]
                mx = row[0] + b2[0]
                for k in range(c):
                    row[k] += b2[k]
                    if row[k] > mx:
                        mx = row[k]
                qy = row[yi]
                s = 0
                for k in range(c):
                    e = exp(row[k] - mx)
                    row[k] = e
                    s += e
                total += wi * ((mx - qy) + log(s))
                scale = wi / bs
                for k in range(c):
                    row[k] = (row[k] / s - (k == yi)) * scale
                    gb2[k] += row[k]

            # Δ1 = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z);  ∇b1 = Σ Δ1   (V before its update)
            gemm(False, True, bs, hidden, c, 1, &Q[0, 0], c, &V[0, 0], c, 0, &D1[0, 0], hidden)
            for j in range(hidden):
                gb1[j] = 0
            for i in range(bs):
                for j in range(hidden):
                    z = Z[i, j]
                    D1[i, j] = D1[i, j] * z * (1 - z)
                    gb1[j] += D1[i, j]

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
