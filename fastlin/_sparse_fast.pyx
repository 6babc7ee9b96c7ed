"""Cython kernels of the six linear models for a sparse X (CSR rows).

The functions have the names, signatures and semantics of
``fastlin._linear_fast`` and of the NumPy reference
``fastlin.reference.linear`` (read its docstring for the conventions: W (m, c),
b (c,), the mean objective with (α/2)||W||², η_t, averaging), with X a scipy
CSR matrix or array:

    sgd_epoch(X, y, W, b, order, loss, *, eta0, ..., mean=None, scale=None)
    gradient(X, y, W, b, loss, alpha, sample_weight, *, mean=None, scale=None)

X's ``data`` is float32 or float64 (W, b, ... share its dtype), its
``indices`` and ``indptr`` int32 or int64 (both the same; the loops are
compiled for each pair, so no index array is ever converted or copied).
Indices need not be sorted, explicit zeros and repeated indices are fine (a
repeated index counts as the sum of its entries, as scipy reads it).

Standardization: with ``mean`` and/or ``scale`` (float64 (m,) arrays) the
epoch trains on z = (x − mean) / scale, the parameters in that space; the
default None is mean 0 and scale 1. A scale alone multiplies each nonzero
by its column's 1 / scale (computed once per call). A mean would make every row dense; it is kept as a
rank-one term instead: with u = mean / scale, z = x / scale − u, so

    s = z W + b = (x / scale) W − u W + b,
    a step W ← f W − η g zᵀ = f W − η g (x / scale)ᵀ + η g uᵀ

and the weights are held as W = σ (V + u ⊗ r), r (c,): the step's dense
part only changes r, and q = uᵀ V (c,) is kept up to date as V changes, so
u W = σ (q + (u·u) r) costs O(c).

Every step costs O(c · nnz) of its rows, never O(m c):

* the L2 shrinkage W ← (1 − ηα) W is the scalar σ (W = σ (V + u ⊗ r)),
  folded into V once it falls below 1e-6 (as the dense kernel does);
* the average W̄ is kept lazily (Xu 2011's averaged SGD, in the form of the
  dense kernel's ``Averages``): Σ_k W_k = A + C (V + u ⊗ r) − U − u ⊗ Ur, a
  step V ← V + δ adding C δ to U (and r ← r + ε adding C ε to Ur), then
  C ← C + σ.

A batch (one sample for batch_size 1) is scored at the weights of its start,
then applied: the shrinkage, the bias and, for each row, its c weights per
nonzero. Batches of more than max(m, 256) rows (the full batch of a tall
X) sum their gradient into a dense (m, c) buffer instead and take one dense
step (O(m c), once per such batch). Sums are float64 whatever the dtype.

Per call, beyond the pass over the order's nonzeros: float64 W and W_avg
are the working state themselves (no copy; float32 ones get float64 working
copies), O(m c) once to write W = σ (V + u ⊗ r) back when σ ≠ 1 or the model
is centred (and to recompute q), and with averaging one O(m c) buffer U. A
shuffled order reads its rows at random places: the epoch prefetches the
rows a few entries ahead (and, for c > 1, the next row's weight rows).

Threads (``n_threads``, OpenMP ``prange``; a build without OpenMP runs the
same code on one thread): the full batch's gradient (and ``gradient``) sums
contiguous chunks of its rows, one thread each, into per-chunk (m, c)
buffers added in chunk order, so the result is the same on every run for a
fixed thread count, and n_threads = 1 (or a batch too short for two chunks
of 256 rows) is the serial pass. A per-sample epoch runs lock-free parallel
SGD on up to n_threads "lanes" (``_hogwild_epoch``, whose comment block
gives the design) when its rows fill at most 1/8 of the columns on average;
minibatch epochs run on one thread.

The def wrappers check types, shapes, the CSR structure and index ranges
(a ValueError or TypeError, never a crash; the values are the estimators'
to check, as for the dense kernel; ``check_input=False`` skips the O(nnz)
structure check for a caller that has made it), then run the loops in one
``with nogil:``.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

import numpy as np

from ._build_checks cimport FASTLIN_DEBUG_BUILD, FASTLIN_HAS_OPENMP, bounds_checked
from ._schedule cimport clipped_alpha, eta_t, schedule_kind
from ._loss cimport LossKind, single_loss, multi_loss

from . import _losses
from ._linear_fast import _check_array, _check_indices
from ._numeric import check_linear_epoch_arguments
from ._parallel import check_n_threads

#: sgd_epoch takes ``check_input`` (False: X's structure, mean and scale were
#: checked by the caller; the estimators pass it after check_X)
ACCEPTS_CHECK_INPUT = True

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

ctypedef fused index_t:
    int32_t
    int64_t

# the dense kernel's floor for the lazy L2 scale
cdef double MIN_SCALE = 1e-6

# batches of more rows than max(m, LAZY_ROWS) take a dense step
cdef Py_ssize_t LAZY_ROWS = 256


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fastlin_prefetch(p) __builtin_prefetch((const void*)(p))
    #else
    #define fastlin_prefetch(p) ((void)0)
    #endif
    """
    void fastlin_prefetch(const void* p) noexcept nogil

# a shuffled order reads its rows at random places: the epoch asks the cache
# for row order[q + PREFETCH_ROW]'s nonzeros, and for the indptr entries of
# row order[q + PREFETCH_PTR], before it needs them
cdef enum:
    PREFETCH_ROW = 4
    PREFETCH_PTR = 8

# rows of up to MAX_LOCAL outputs keep their c sums in a local array (no
# aliasing with the weights, so they stay in registers); wider ones use s
cdef enum:
    MAX_LOCAL = 16


cdef struct Model:
    double* V            # (m, c): W = scale · (V + u ⊗ r)
    double* b            # (c,)
    double scale
    Py_ssize_t m, c
    const double* isd    # (m,) 1 / the standardization's scale, or NULL
    const double* u      # (m,) mean / scale, or NULL (no centering)
    const double* cs     # (m, 2) (1 / scale, mean / scale) side by side for the
                         # row loops (one cache line per nonzero), or NULL when
                         # neither is given
    double uu            # u · u
    double* r            # (c,)
    double* q            # (c,) uᵀ V


cdef struct Steps:
    double eta0
    double power_t
    double alpha
    int schedule
    bint fit_intercept
    Py_ssize_t t


cdef struct Averages:
    # Σ_{k<=t} W_k = A + C (V + u ⊗ r) − U − u ⊗ Ur  (A, U (m, c); Ur (c,))
    bint on
    double* A
    double* U
    double* Ur
    double C
    double* b_avg


cdef inline double _eta(Steps* st) noexcept nogil:
    return eta_t(st.schedule, st.eta0, st.power_t, st.alpha, st.t)


cdef inline double _sample_loss(LossKind kind, const double* s, Py_ssize_t c,
                                const floating* y, const Py_ssize_t* labels,
                                Py_ssize_t i, double* d) noexcept nogil:
    if labels == NULL:
        return single_loss(kind, s[0], y[i], d)
    return multi_loss(kind, s, c, labels[i], d)


cdef inline double _row_dot1(const floating* data, const index_t* indices,
                             Py_ssize_t lo, Py_ssize_t hi, const Model* M,
                             double* zu) noexcept nogil:
    # one output: Σ_k z_k V[col_k], and zu = Σ_k z_k u[col_k] when centred
    cdef Py_ssize_t k, col
    cdef double z, acc = 0.0, acc_u = 0.0
    cdef const double* V = M.V
    cdef const double* cs = M.cs
    if cs == NULL:
        for k in range(lo, hi):
            acc += data[k] * V[indices[k]]
        return acc
    for k in range(lo, hi):
        col = indices[k]
        z = data[k] * cs[2 * col]
        acc += z * V[col]
        acc_u += z * cs[2 * col + 1]
    zu[0] = acc_u
    return acc


cdef inline void _row_scores(const floating* data, const index_t* indices,
                             Py_ssize_t lo, Py_ssize_t hi, const Model* M,
                             double* s) noexcept nogil:
    # s = z W + b for the row's nonzeros data[lo:hi] at indices[lo:hi]
    cdef Py_ssize_t k, j, col, c = M.c
    cdef double z, zu = 0.0
    cdef double acc[MAX_LOCAL]
    cdef double* out = &acc[0] if c <= MAX_LOCAL else s
    cdef const double* v
    if c == 1:
        acc[0] = _row_dot1(data, indices, lo, hi, M, &zu)
    else:
        for j in range(c):
            out[j] = 0.0
        for k in range(lo, hi):
            col = indices[k]
            z = data[k]
            if M.cs != NULL:
                z = z * M.cs[2 * col]
                zu += z * M.cs[2 * col + 1]
            v = M.V + col * c
            for j in range(c):
                out[j] += z * v[j]
    if M.u != NULL:
        # (x / scale) (u ⊗ r) − u (V + u ⊗ r)
        for j in range(c):
            out[j] += M.r[j] * zu - M.q[j] - M.uu * M.r[j]
    for j in range(c):
        s[j] = M.scale * out[j] + M.b[j]


cdef inline void _row_update(const floating* data, const index_t* indices,
                             Py_ssize_t lo, Py_ssize_t hi, Model* M,
                             const double* a, double* R, double* q,
                             double* R2, double f2) noexcept nogil:
    # R[col] += a z_k for each nonzero (R (m, c): V or a gradient), and
    # R2[col] += f2 a z_k when R2 is not NULL (the average's U); q += a Σ_k
    # u_col z_k when q is not NULL and the model is centred
    cdef Py_ssize_t k, j, col, c = M.c
    cdef double z, a0, zu = 0.0
    cdef double aa[MAX_LOCAL]
    cdef double aa2[MAX_LOCAL]
    cdef double* rr
    cdef double* rr2
    cdef const double* cs = M.cs
    cdef bint any_nonzero = False
    for j in range(c):
        if a[j] != 0.0:
            any_nonzero = True
    if not any_nonzero:
        return
    if c == 1:
        a0 = a[0]
        if cs == NULL and R2 == NULL:
            for k in range(lo, hi):
                R[indices[k]] += a0 * data[k]
            return
        for k in range(lo, hi):
            col = indices[k]
            z = data[k]
            if cs != NULL:
                z = z * cs[2 * col]
                zu += z * cs[2 * col + 1]
            R[col] += a0 * z
            if R2 != NULL:
                R2[col] += (f2 * a0) * z
    elif c <= MAX_LOCAL:
        for j in range(c):
            aa[j] = a[j]
            aa2[j] = f2 * a[j]
        for k in range(lo, hi):
            col = indices[k]
            z = data[k]
            if cs != NULL:
                z = z * cs[2 * col]
                zu += z * cs[2 * col + 1]
            rr = R + col * c
            for j in range(c):
                rr[j] += aa[j] * z
            if R2 != NULL:
                rr2 = R2 + col * c
                for j in range(c):
                    rr2[j] += aa2[j] * z
    else:
        for k in range(lo, hi):
            col = indices[k]
            z = data[k]
            if cs != NULL:
                z = z * cs[2 * col]
                zu += z * cs[2 * col + 1]
            rr = R + col * c
            for j in range(c):
                rr[j] += a[j] * z
            if R2 != NULL:
                rr2 = R2 + col * c
                for j in range(c):
                    rr2[j] += (f2 * a[j]) * z
    if q != NULL and M.u != NULL:
        for j in range(c):
            q[j] += a[j] * zu


cdef double _dot_self(const double[::1] u) noexcept:
    # u · u (a loop, not BLAS: a threaded BLAS call would leave its threads
    # spinning on the cores the epoch's threads are about to use)
    cdef Py_ssize_t i
    cdef double total = 0.0
    for i in range(u.shape[0]):
        total += u[i] * u[i]
    return total


cdef void _recompute_q(Model* M) noexcept nogil:
    cdef Py_ssize_t i, j
    if M.u == NULL:
        return
    for j in range(M.c):
        M.q[j] = 0.0
    for i in range(M.m):
        for j in range(M.c):
            M.q[j] += M.u[i] * M.V[i * M.c + j]


cdef void _fold_averages(Model* M, Averages* avg) noexcept nogil:
    # A ← A + C (V + u ⊗ r) − U − u ⊗ Ur;  U, Ur, C ← 0
    cdef Py_ssize_t i, j, k
    if not avg.on:
        return
    for i in range(M.m):
        for j in range(M.c):
            k = i * M.c + j
            avg.A[k] += avg.C * M.V[k] - avg.U[k]
            if M.u != NULL:
                avg.A[k] += M.u[i] * (avg.C * M.r[j] - avg.Ur[j])
            avg.U[k] = 0.0
    for j in range(M.c):
        avg.Ur[j] = 0.0
    avg.C = 0.0


cdef void _fold_scale(Model* M, double new_scale) noexcept nogil:
    # V ← new_scale (V + u ⊗ r);  r ← 0, scale ← 1
    cdef Py_ssize_t i, j, k
    for i in range(M.m):
        for j in range(M.c):
            k = i * M.c + j
            if M.u != NULL:
                M.V[k] += M.u[i] * M.r[j]
            M.V[k] *= new_scale
    if M.u != NULL:
        for j in range(M.c):
            M.r[j] = 0.0
    _recompute_q(M)
    M.scale = 1.0


cdef void _shrink(Model* M, Averages* avg, double factor) noexcept nogil:
    # W ← max(0, factor) · W through the scalar (an L2 factor 1 − ηα below 0
    # stops at W = 0); folded into V once it gets small (exactly 0 for 0)
    cdef double new_scale
    if factor < 0.0:
        factor = 0.0
    new_scale = M.scale * factor
    if new_scale > MIN_SCALE:
        M.scale = new_scale
        return
    _fold_averages(M, avg)
    _fold_scale(M, new_scale)


cdef void _after_step(Model* M, Averages* avg, Steps* st) noexcept nogil:
    # the average's bookkeeping of a step: C ← C + scale, b̄ ← b̄ + (b − b̄) / t
    cdef Py_ssize_t j
    if avg.on:
        avg.C += M.scale
        for j in range(M.c):
            avg.b_avg[j] += (M.b[j] - avg.b_avg[j]) / st.t


cdef double _lazy_batch(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* rows, Py_ssize_t nb, LossKind kind, Model* M, Steps* st,
        Averages* avg, double* D, double* s, double* a) noexcept nogil:
    """One step on the nb rows ``rows``, O(c · their nnz); D (nb, c), s and a
    (c,) scratch. Returns Σ_i w_i l_i (at the step's start)."""
    cdef Py_ssize_t p, i, j, c = M.c
    cdef double w_i, l, eta, coef, total = 0.0, inv_n = 1.0 / nb
    for p in range(nb):
        i = rows[p]
        _row_scores(data, indices, indptr[i], indptr[i + 1], M, s)
        l = _sample_loss(kind, s, c, y, labels, i, D + p * c)
        w_i = 1.0 if sample_weight == NULL else sample_weight[i]
        total += w_i * l
        w_i *= inv_n
        for j in range(c):
            D[p * c + j] *= w_i
    st.t += 1
    eta = _eta(st)
    if st.alpha != 0.0:
        _shrink(M, avg, 1.0 - eta * st.alpha)
    # s ← Σ_B D_i (the bias gradient; the rank-one term's coefficient)
    for j in range(c):
        s[j] = 0.0
    for p in range(nb):
        for j in range(c):
            s[j] += D[p * c + j]
    if st.fit_intercept:
        for j in range(c):
            M.b[j] -= eta * s[j]
    coef = -eta / M.scale
    for p in range(nb):
        i = rows[p]
        for j in range(c):
            a[j] = coef * D[p * c + j]
        _row_update(data, indices, indptr[i], indptr[i + 1], M, a, M.V, M.q,
                    avg.U if avg.on else NULL, avg.C)
    if M.u != NULL:
        # the step's dense part + η (Σ D_i) uᵀ, in r
        for j in range(c):
            a[j] = -coef * s[j]
            M.r[j] += a[j]
            if avg.on:
                avg.Ur[j] += avg.C * a[j]
    _after_step(M, avg, st)
    return total


cdef struct Chunks:
    # A full-batch gradient split into n contiguous chunks of its rows, one
    # thread each: every chunk's partial sums, added up in chunk order at the
    # end (the result depends on n, never on which thread ran what); each
    # chunk's slots PAD elements apart. n = 1: the serial pass (no scratch).
    Py_ssize_t n
    double* G            # (n, m·c + PAD)
    double* gb           # (n, c + PAD)
    double* total        # (n, PAD)
    double* s            # (n, c + PAD)
    double* d            # (n, c + PAD)


cdef enum:
    PAD = 8              # doubles (a cache line) between two threads' slots


cdef double _rows_partial(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* rows, Py_ssize_t lo, Py_ssize_t hi, double inv_n,
        LossKind kind, const Model* M, double* G, double* gb, double* s,
        double* d) noexcept nogil:
    """G (m, c), gb (c,) ← Σ_i D_i (x_i / scale) and Σ_i D_i over the batch's
    entries lo..hi-1 (rows[p], or row p when rows is NULL), D_i = w_i ∂l_i/∂s
    · inv_n; returns their Σ_i w_i l_i."""
    cdef Py_ssize_t p, i, j, k, c = M.c
    cdef double w_i, l, total = 0.0
    # a copy of the model struct: each thread reads its own
    cdef Model local = M[0]
    for k in range(local.m * c):
        G[k] = 0.0
    for j in range(c):
        gb[j] = 0.0
    for p in range(lo, hi):
        i = p if rows == NULL else rows[p]
        _row_scores(data, indices, indptr[i], indptr[i + 1], &local, s)
        l = _sample_loss(kind, s, c, y, labels, i, d)
        w_i = 1.0 if sample_weight == NULL else sample_weight[i]
        total += w_i * l
        w_i *= inv_n
        for j in range(c):
            d[j] *= w_i
            gb[j] += d[j]
        _row_update(data, indices, indptr[i], indptr[i + 1], &local, d, G, NULL, NULL, 0.0)
    return total


cdef double _batch_gradient(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* rows, Py_ssize_t nb, LossKind kind, Model* M,
        double* G, double* gb, double* s, double* d, const Chunks* ch) noexcept nogil:
    """G (m, c), gb (c,) ← the gradient of the batch's mean data loss at W
    (rows[p], or row p when rows is NULL): G = Σ_i D_i (x_i / scale) − u ⊗ gb.
    With ch.n > 1 the batch's entries split into ch.n contiguous chunks, one
    thread each (``prange``), their partial sums added in chunk order.
    Returns Σ_i w_i l_i."""
    cdef Py_ssize_t t, j, k, c = M.c, mc = M.m * M.c
    cdef Py_ssize_t T = ch.n if ch != NULL else 1
    cdef double total, inv_n = 1.0 / nb
    if T <= 1:
        total = _rows_partial(data, indices, indptr, y, labels, sample_weight, rows, 0, nb,
                              inv_n, kind, M, G, gb, s, d)
    else:
        for t in prange(T, num_threads=T, schedule="static", chunksize=1):
            ch.total[t * PAD] = _rows_partial(
                data, indices, indptr, y, labels, sample_weight, rows,
                nb * t // T, nb * (t + 1) // T, inv_n, kind, M,
                ch.G + t * (mc + PAD), ch.gb + t * (c + PAD),
                ch.s + t * (c + PAD), ch.d + t * (c + PAD))
        # G = Σ_t G_t, gb = Σ_t gb_t, total = Σ_t total_t, t = 0, 1, ... in order
        total = ch.total[0]
        for k in range(mc):
            G[k] = ch.G[k]
        for j in range(c):
            gb[j] = ch.gb[j]
        for t in range(1, T):
            total += ch.total[t * PAD]
            for k in range(mc):
                G[k] += ch.G[t * (mc + PAD) + k]
            for j in range(c):
                gb[j] += ch.gb[t * (c + PAD) + j]
    if M.u != NULL:
        for k in range(M.m):
            for j in range(c):
                G[k * c + j] -= M.u[k] * gb[j]
    return total


# A full-batch gradient is split into at most n_threads chunks of at least
# MIN_CHUNK_ROWS rows (as the dense kernel's): the number of chunks, and so
# the result, depends on n_threads and the batch's length only.
cdef Py_ssize_t MIN_CHUNK_ROWS = 256


def _chunk_scratch(Py_ssize_t n_threads, Py_ssize_t nb, Py_ssize_t m, Py_ssize_t c):
    """The arrays behind a ``Chunks`` for the gradient of a batch of nb rows
    on up to n_threads threads: a dict, "n" the number of chunks (1: none)."""
    cdef Py_ssize_t T = max(1, min(n_threads, nb // MIN_CHUNK_ROWS))
    if T == 1:
        return {"n": 1}
    return {"n": T, "G": np.empty((T, m * c + PAD)), "gb": np.empty((T, c + PAD)),
            "total": np.empty((T, PAD)), "s": np.empty((T, c + PAD)),
            "d": np.empty((T, c + PAD))}


cdef Chunks _chunks(dict scratch):
    """The Chunks over the arrays of ``_chunk_scratch`` (the caller keeps
    them referenced)."""
    cdef Chunks ch
    cdef double[:, ::1] G, gb, total, sv, dv
    ch.n = scratch["n"]
    ch.G = ch.gb = ch.total = ch.s = ch.d = NULL
    if ch.n == 1:
        return ch
    G, gb, total, sv, dv = (scratch["G"], scratch["gb"], scratch["total"], scratch["s"],
                            scratch["d"])
    ch.G, ch.gb, ch.total, ch.s, ch.d = &G[0, 0], &gb[0, 0], &total[0, 0], &sv[0, 0], &dv[0, 0]
    return ch


cdef double _dense_batch(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* rows, Py_ssize_t nb, LossKind kind, Model* M, Steps* st,
        Averages* avg, double* G, double* gb, double* s, double* d,
        const Chunks* ch) noexcept nogil:
    """One step on the nb rows from a dense gradient, O(m c + c · nnz):
    W ← W − η (G + α′ W) (α′ = min(α, 1/η): the L2 factor max(0, 1 − ηα)),
    b ← b − η gb, with the lazy state folded first."""
    cdef Py_ssize_t k, j
    cdef double eta, total, alpha
    _fold_averages(M, avg)
    _fold_scale(M, M.scale)
    total = _batch_gradient(data, indices, indptr, y, labels, sample_weight, rows, nb,
                            kind, M, G, gb, s, d, ch)
    st.t += 1
    eta = _eta(st)
    alpha = clipped_alpha(st.alpha, eta)
    for k in range(M.m * M.c):
        M.V[k] -= eta * (G[k] + alpha * M.V[k])
    if st.fit_intercept:
        for j in range(M.c):
            M.b[j] -= eta * gb[j]
    _recompute_q(M)
    _after_step(M, avg, st)
    return total


cdef inline void _prefetch_rows(const floating* data, const index_t* indices,
                                const index_t* indptr, const Py_ssize_t* order,
                                Py_ssize_t n_order, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    # the cache lines of the rows PREFETCH_ROW entries after order[lo:hi], and
    # the indptr entries of those PREFETCH_PTR after
    cdef Py_ssize_t p, i, k, start, end
    for p in range(lo + PREFETCH_ROW, min(hi + PREFETCH_ROW, n_order)):
        i = order[p]
        start = indptr[i]
        end = indptr[i + 1]
        k = start
        while k < end:
            fastlin_prefetch(data + k)
            k += 64 // sizeof(floating)
        k = start
        while k < end:
            fastlin_prefetch(indices + k)
            k += 64 // sizeof(index_t)
        if p + PREFETCH_PTR - PREFETCH_ROW < n_order:
            fastlin_prefetch(indptr + order[p + PREFETCH_PTR - PREFETCH_ROW])


cdef inline void _prefetch_weights(const index_t* indices, const index_t* indptr,
                                   const Py_ssize_t* order, Py_ssize_t n_order,
                                   Py_ssize_t p, const Model* M) noexcept nogil:
    # the weight rows V[col] (c > 1: they span cache lines) of row order[p],
    # the next batch's first, whose
    # indices the row prefetch has brought in
    cdef Py_ssize_t k, i
    if p >= n_order:
        return
    i = order[p]
    for k in range(indptr[i], indptr[i + 1]):
        fastlin_prefetch(M.V + indices[k] * M.c)


cdef double _epoch(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* order, Py_ssize_t n_order, Py_ssize_t batch_size,
        Py_ssize_t lazy_max, LossKind kind, Model* M, Steps* st, Averages* avg,
        double* D, double* G, double* gb, double* s, double* d,
        const Chunks* ch) noexcept nogil:
    """One step per run of ``batch_size`` entries of ``order``: lazily for
    runs of up to lazy_max rows, densely for longer ones (their gradient
    over ch's chunks)."""
    cdef Py_ssize_t start = 0, nb
    cdef double total = 0.0
    while start < n_order:
        nb = min(batch_size, n_order - start)
        if nb <= lazy_max:
            _prefetch_rows(data, indices, indptr, order, n_order, start, start + nb)
            if M.c > 1:
                _prefetch_weights(indices, indptr, order, n_order, start + nb, M)
            total += _lazy_batch(data, indices, indptr, y, labels, sample_weight,
                                 order + start, nb, kind, M, st, avg, D, s, d)
        else:
            total += _dense_batch(data, indices, indptr, y, labels, sample_weight,
                                  order + start, nb, kind, M, st, avg, G, gb, s, d, ch)
        start += nb
    return total


# ---------------------------------------------------------------------------
# Lock-free parallel per-sample SGD on CSR rows (Hogwild!)
# ---------------------------------------------------------------------------
#
# n_threads = T > 1 (batch_size 1) cuts the epoch's order into T contiguous
# slices, one thread ("lane") each. A sparse step writes only its row's
# nonzero weights, so, as in Hogwild! (Recht et al., 2011), every lane
# writes its steps straight into the shared V (and the average's U), without
# locks. What every step changes whatever its row, the O(c) state (b, r, q)
# and the scalars (the scale σ, the average's C), a lane changes in its own
# view instead, and the lanes exchange those changes without locks:
#
# * The epoch runs in rounds of at most MAX_ROUND steps per lane (one
#   ``prange`` each). A round starts every lane's view from the shared
#   state; every PUBLISH_STEPS steps a lane writes its own change since the
#   round's start (to b, r, q; its shrink factor φ; its sum of scales C)
#   into its slot and rebuilds its view as the round's start + every lane's
#   latest published change; the round's end adds each lane's change into
#   the shared state, on one thread.
# * The lazy L2 scale: a lane's view is σ₀ Π_lanes φ_k, its own φ_k kept
#   up to date; the round's end multiplies σ by every φ_k. So every step's
#   shrinkage is applied exactly once. σ is folded into V between rounds,
#   below 2 MIN_SCALE, and a round is cut so that Σ η_t α over it stays
#   within ROUND_SHRINK (but at least MIN_ROUND steps): no view's scale
#   reaches MIN_SCALE within a round. An epoch whose first step has
#   η_t α MIN_ROUND > MAX_ROUND_SHRINK runs on one thread.
# * The average: Σ W_k = A + C (V + u ⊗ r) − U − u ⊗ Ur needs every change
#   δ of V stamped with C, the sum of the scales after every earlier step; a
#   lane stamps with the round's start C + every lane's published sum + its
#   own. The intercepts' sums are kept per lane, added at the epoch's end.
# * The step count: lane k's j-th step is step t₀ + j·T + k + 1 of the fit
#   (its η_t), as in the dense kernel's parallel epoch.
#
# Approximate with T > 1, then: a step reads weights that other lanes are
# writing, two lanes adding to the same weight at the same instant can lose
# one addition, a lane sees the other lanes' b, r, q, σ and C up to
# PUBLISH_STEPS steps late, and the result varies from run to run. Run one
# after another (``_sequential_slices``: each lane's whole slice before the
# next lane's), each lane's rounds start from the state the previous one
# left, so the epoch is the serial epoch over the same order to rounding
# (with a constant η_t). (A build without OpenMP runs each round's lanes
# one after another: the same bookkeeping, the slices' rounds interleaved;
# the estimators ask it for one thread.)

cdef double ROUND_SHRINK = 0.01
cdef Py_ssize_t MIN_ROUND = 64
cdef Py_ssize_t MAX_ROUND = 4096
cdef double MAX_ROUND_SHRINK = 0.1
cdef Py_ssize_t PUBLISH_STEPS = 16

# at least this many steps per lane (else the serial epoch), as the dense kernel
cdef Py_ssize_t MIN_SLICE = 128

# lanes only for rows that fill at most 1 / ROW_FILL of the columns on average:
# denser rows make the lanes write the same weights at every step, and lost
# additions become the rule (such an X trains as well as an array, whose
# kernel steps on per-thread copies instead)
cdef Py_ssize_t ROW_FILL = 8

# a lane's (c,) arrays: base, ext, view, own (3c each: b, r, q), Ur, Ab, s, d;
# and its slot: own (3c), φ, C; each row LANE_PAD doubles longer
cdef enum:
    LANE_ARRAYS = 16
    LANE_PAD = 16

# For the tests: True runs the lanes one after another on the calling thread
# (set through ``_sequential_slices(on)``, which returns the previous setting).
cdef bint SEQUENTIAL_SLICES = False


def _sequential_slices(bint on):
    global SEQUENTIAL_SLICES
    SEQUENTIAL_SLICES, on = on, SEQUENTIAL_SLICES
    return on


cdef struct Lane:
    Model M              # its view: V, isd, u, cs shared; b, r, q = view's thirds
    double* base         # (3c,) the shared (b, r, q) at the round's start
    double* ext          # (3c,) base + the other lanes' published changes
    double* own          # (3c,) its own change this round, as of its last publish
    double* slot         # (3c + 2,) what it publishes: own, φ, C
    double* Ur           # (c,) its round's additions to the average's Ur
    double* Ab           # (c,) Σ of its intercepts after each of its steps
    double* s            # (c,) scratch
    double* d            # (c,) scratch
    double scale0        # σ at the round's start
    double C0            # the average's C at the round's start
    double C_ext         # C0 + the other lanes' published C
    double phi           # its shrink factor this round
    double C             # Σ of its scales after each of its steps this round
    double total         # Σ w_i l_i over its steps
    Py_ssize_t first     # its slice of the order: first .. stop
    Py_ssize_t stop
    Py_ssize_t pos       # its next step's position in the order
    Py_ssize_t end       # the end of its current round


cdef bint _lanes_fit(const Steps* st) noexcept nogil:
    # can the epoch's rounds be MIN_ROUND steps or more? (η_t never grows)
    if st.alpha == 0.0:
        return True
    return (eta_t(st.schedule, st.eta0, st.power_t, st.alpha, st.t + 1) * st.alpha
            * MIN_ROUND <= MAX_ROUND_SHRINK)


cdef Py_ssize_t _round_steps(const Steps* st, Py_ssize_t t) noexcept nogil:
    # a round's steps per lane from step t on: at most MAX_ROUND, and Σ η α
    # within ROUND_SHRINK, but at least MIN_ROUND
    cdef double R
    if st.alpha == 0.0:
        return MAX_ROUND
    R = ROUND_SHRINK / (eta_t(st.schedule, st.eta0, st.power_t, st.alpha, t) * st.alpha)
    if R >= MAX_ROUND:
        return MAX_ROUND
    return max(<Py_ssize_t>R, MIN_ROUND)


cdef void _clear_slot(Lane* L) noexcept nogil:
    cdef Py_ssize_t i, n3 = 3 * L.M.c
    for i in range(n3):
        L.slot[i] = 0.0
    L.slot[n3] = 1.0
    L.slot[n3 + 1] = 0.0


cdef void _lane_begin(Lane* L, const Model* M, const Averages* avg) noexcept nogil:
    # the lane's view = the shared model now, its own change none
    cdef Py_ssize_t i, j, c = M.c
    for j in range(c):
        L.base[j] = M.b[j]
        L.base[c + j] = M.r[j]
        L.base[2 * c + j] = M.q[j]
        L.Ur[j] = 0.0
    for i in range(3 * c):
        L.ext[i] = L.base[i]
        L.M.b[i] = L.base[i]         # the view: b, r, q side by side
        L.own[i] = 0.0
    L.M.scale = M.scale
    L.scale0 = M.scale
    L.C0 = avg.C
    L.C_ext = avg.C
    L.phi = 1.0
    L.C = 0.0


cdef void _lane_publish(Lane* L, const Lane* lanes, Py_ssize_t T, Py_ssize_t k,
                        double phi, double C, double* scale) noexcept nogil:
    # write the lane's change (view − ext), φ and C into its slot; then
    # ext = base + the other lanes' published changes, view = ext + own, and
    # scale = σ₀ Π_lanes φ (a slot being written meanwhile may be read half
    # old, half new: one more lock-free approximation)
    cdef Py_ssize_t i, j, n3 = 3 * L.M.c
    cdef double* view = L.M.b
    cdef const double* other
    cdef double phi_others = 1.0, C_others = 0.0
    for i in range(n3):
        L.own[i] = view[i] - L.ext[i]
        L.slot[i] = L.own[i]
        L.ext[i] = L.base[i]
    L.slot[n3] = phi
    L.slot[n3 + 1] = C
    for j in range(T):
        if j != k:
            other = lanes[j].slot
            for i in range(n3):
                L.ext[i] += other[i]
            phi_others *= other[n3]
            C_others += other[n3 + 1]
    for i in range(n3):
        view[i] = L.ext[i] + L.own[i]
    scale[0] = L.scale0 * phi_others * phi
    L.C_ext = L.C0 + C_others


cdef void _lane_round(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* order, LossKind kind, const Steps* st, Py_ssize_t T,
        Py_ssize_t k, Lane* lanes, double* U) noexcept nogil:
    """Lane k's steps lanes[k].pos .. .end on its view (V and U, the
    average's or NULL, shared and written in place; b, r, q, σ, C its own,
    published every PUBLISH_STEPS steps and at the end)."""
    cdef Lane* L = &lanes[k]
    cdef Model M = L.M
    cdef Py_ssize_t p, i, j, c = M.c, lo, hi, since = 0
    cdef double w_i, l, eta, coef, factor, stamp, C = L.C, phi = L.phi, total = 0.0
    cdef double* d = L.d
    for p in range(L.pos, L.end):
        if since == PUBLISH_STEPS:
            _lane_publish(L, lanes, T, k, phi, C, &M.scale)
            since = 0
        since += 1
        i = order[p]
        _prefetch_rows(data, indices, indptr, order, L.stop, p, p + 1)
        if c > 1:
            _prefetch_weights(indices, indptr, order, L.stop, p + 1, &M)
        lo = indptr[i]
        hi = indptr[i + 1]
        _row_scores(data, indices, lo, hi, &M, L.s)
        l = _sample_loss(kind, L.s, c, y, labels, i, d)
        w_i = 1.0 if sample_weight == NULL else sample_weight[i]
        total += w_i * l
        eta = eta_t(st.schedule, st.eta0, st.power_t, st.alpha,
                    st.t + (p - L.first) * T + k + 1)
        if st.alpha != 0.0:
            # >= 1 − MAX_ROUND_SHRINK / MIN_ROUND here (_lanes_fit)
            factor = 1.0 - eta * st.alpha
            M.scale *= factor
            phi *= factor
        if st.fit_intercept:
            for j in range(c):
                M.b[j] -= eta * w_i * d[j]
        coef = -eta * w_i / M.scale
        for j in range(c):
            d[j] *= coef
        stamp = L.C_ext + C
        _row_update(data, indices, lo, hi, &M, d, M.V, M.q, U, stamp)
        if M.u != NULL:
            # the step's dense part, in r (and its stamp in Ur)
            for j in range(c):
                M.r[j] -= d[j]
                if U != NULL:
                    L.Ur[j] -= stamp * d[j]
        if U != NULL:
            C += M.scale
            for j in range(c):
                L.Ab[j] += M.b[j]
    _lane_publish(L, lanes, T, k, phi, C, &M.scale)
    L.phi = phi
    L.C = C
    L.total += total
    L.pos = L.end


cdef void _lane_merge(Lane* L, Model* M, Averages* avg) noexcept nogil:
    # add the lane's round into the shared model: σ ← σ φ, (b, r, q) += own
    cdef Py_ssize_t j, c = M.c
    M.scale *= L.phi
    for j in range(c):
        M.b[j] += L.own[j]
        M.r[j] += L.own[c + j]
        M.q[j] += L.own[2 * c + j]
    if avg.on:
        avg.C += L.C
        for j in range(c):
            avg.Ur[j] += L.Ur[j]
    _clear_slot(L)


cdef void _fold_if_small(Model* M, Averages* avg) noexcept nogil:
    # between rounds: fold σ into V before a lane's scale could reach MIN_SCALE
    if M.scale < 2.0 * MIN_SCALE:
        _fold_averages(M, avg)
        _fold_scale(M, M.scale)


cdef double _hogwild_epoch(
        const floating* data, const index_t* indices, const index_t* indptr,
        const floating* y, const Py_ssize_t* labels, const floating* sample_weight,
        const Py_ssize_t* order, Py_ssize_t n_order, LossKind kind, Model* M, Steps* st,
        Averages* avg, Lane* lanes, Py_ssize_t T) noexcept nogil:
    """The per-sample epoch over ``order`` on T lanes, lock-free (see above);
    returns Σ_i w_i l_i. With averaging, avg.b_avg is the new mean."""
    cdef Py_ssize_t k, j, R, t0 = st.t
    cdef double total = 0.0
    cdef double* U = avg.U if avg.on else NULL
    cdef bint more = True
    cdef Lane* L
    for k in range(T):
        L = &lanes[k]
        L.first = n_order * k // T
        L.pos = L.first
        L.stop = n_order * (k + 1) // T
        L.total = 0.0
        for j in range(M.c):
            L.Ab[j] = 0.0
        _clear_slot(L)
    if SEQUENTIAL_SLICES:
        for k in range(T):
            L = &lanes[k]
            while L.pos < L.stop:
                R = _round_steps(st, t0 + (L.pos - L.first) * T + k + 1)
                L.end = L.pos + min(R, L.stop - L.pos)
                _lane_begin(L, M, avg)
                _lane_round(data, indices, indptr, y, labels, sample_weight, order, kind,
                            st, T, k, lanes, U)
                _lane_merge(L, M, avg)
                _fold_if_small(M, avg)
    else:
        while more:
            R = _round_steps(st, t0 + (lanes[0].pos - lanes[0].first) * T + 1)
            for k in range(T):
                L = &lanes[k]
                L.end = L.pos + min(R, L.stop - L.pos)
                _lane_begin(L, M, avg)
            for k in prange(T, num_threads=T, schedule="static", chunksize=1):
                _lane_round(data, indices, indptr, y, labels, sample_weight, order, kind,
                            st, T, k, lanes, U)
            more = False
            for k in range(T):
                _lane_merge(&lanes[k], M, avg)
                more = more or lanes[k].pos < lanes[k].stop
            _fold_if_small(M, avg)
    st.t = t0 + n_order
    for k in range(T):
        total += lanes[k].total
    if avg.on:
        # b̄ ← (t₀ b̄ + Σ_lanes Σ b) / t
        for j in range(M.c):
            avg.b_avg[j] *= t0
            for k in range(T):
                avg.b_avg[j] += lanes[k].Ab[j]
            avg.b_avg[j] /= st.t
    # q = uᵀ V again (lost additions to V would leave it off)
    _recompute_q(M)
    return total

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

cdef Py_ssize_t _bad_indptr(const index_t[::1] indptr, Py_ssize_t nnz) noexcept nogil:
    # the first p where indptr decreases (or -1 when it never does); indptr[0]
    # must be 0 and indptr[-1] nnz, checked by the caller
    cdef Py_ssize_t p
    for p in range(indptr.shape[0] - 1):
        if indptr[p + 1] < indptr[p]:
            return p
    return -1


cdef Py_ssize_t _bad_index(const index_t[::1] indices, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(indices.shape[0]):
        if indices[k] < 0 or indices[k] >= m:
            return k
    return -1


def _check_structure(const floating[::1] data, const index_t[::1] indices,
                     const index_t[::1] indptr, Py_ssize_t n, Py_ssize_t m):
    """ValueError unless (data, indices, indptr) is a CSR of n rows and m
    columns: O(n + nnz) on the index arrays, without the GIL, so that no
    loop reads or writes out of bounds. The values are not checked (as for
    the dense kernel, NaN and inf propagate; the estimators reject them)."""
    cdef Py_ssize_t nnz = data.shape[0], bad
    if indices.shape[0] != nnz:
        raise ValueError(f"X's indices have {indices.shape[0]} entries but its data {nnz}")
    if indptr.shape[0] != n + 1:
        raise ValueError(f"X's indptr has {indptr.shape[0]} entries; {n + 1} expected "
                         f"for {n} rows")
    if indptr[0] != 0 or indptr[n] != nnz:
        raise ValueError(f"X's indptr must run from 0 to the data length {nnz}, got "
                         f"{indptr[0]}..{indptr[n]}")
    with nogil:
        bad = _bad_indptr(indptr, nnz)
    if bad >= 0:
        raise ValueError(f"X's indptr is not monotone: indptr[{bad + 1}] < indptr[{bad}]")
    with nogil:
        bad = _bad_index(indices, m)
    if bad >= 0:
        raise ValueError(f"X's column index {indices[bad]} (entry {bad}) is outside "
                         f"0..{m - 1}")


def _csr_parts(X, W, check_input=True):
    """(data, indices, indptr, n, m) of a CSR X, checked against W's dtype
    (and its structure by ``_check_structure`` unless check_input is False)."""
    if getattr(X, "format", None) != "csr":
        raise TypeError(f"X must be a scipy.sparse CSR matrix or array, got "
                        f"{type(X).__name__}")
    n, m = X.shape
    if n == 0:
        raise ValueError("X has no rows")
    data, indices, indptr = X.data, X.indices, X.indptr
    if data.dtype not in (np.float32, np.float64):
        raise TypeError(f"X's data must be float32 or float64, got {data.dtype}")
    if indices.dtype not in (np.int32, np.int64) or indptr.dtype != indices.dtype:
        raise TypeError(f"X's indices and indptr must both be int32 or both int64, got "
                        f"{indices.dtype} and {indptr.dtype}")
    if not isinstance(W, np.ndarray) or W.dtype != data.dtype:
        raise TypeError(f"W must be a numpy array of X's dtype {data.dtype}")
    if check_input:
        _check_structure(data, indices, indptr, n, m)
    elif indices.shape[0] != data.shape[0] or indptr.shape[0] != n + 1:
        raise ValueError("X's data, indices and indptr do not describe a CSR of its shape")
    return data, indices, indptr, n, m


def _check_targets(y, W, b, loss, sample_weight, n, m, dtype):
    """(kind, labels or None, y or None, sample_weight), as the dense kernel's."""
    c = W.shape[1] if W.ndim == 2 else -1
    if W.shape != (m, c) or not W.flags.c_contiguous:
        raise ValueError(f"W must be a C-contiguous ({m}, c) array for X of shape "
                         f"({n}, {m}), got {W.shape}")
    _check_array("b", b, dtype, (c,))
    row = _losses.get(loss)
    if sample_weight is not None:
        _check_array("sample_weight", sample_weight, dtype, (n,))
    if row.multiclass:
        labels = _check_indices("y (class labels)", y, c)
        if labels.shape[0] != n:
            raise ValueError(f"y must have shape ({n},), got {y.shape}")
        return row.kind, y, None, sample_weight
    if c != 1:
        raise ValueError(f"loss {loss!r} has one output: W must have shape ({m}, 1), got {W.shape}")
    _check_array("y", y, dtype, (n,))
    return row.kind, None, y, sample_weight


def _check_standardization(mean, scale, Py_ssize_t m, bint check_input=True):
    """(1 / scale or None, u = mean / scale or None): float64 (m,) arrays, the
    scale positive, both finite (not checked with check_input False)."""
    if scale is not None:
        _check_array("scale", scale, np.float64, (m,))
        if check_input and not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("scale must be finite and positive")
    u = None
    if mean is not None:
        _check_array("mean", mean, np.float64, (m,))
        if check_input and not np.all(np.isfinite(mean)):
            raise ValueError("mean must be finite")
        u = mean / scale if scale is not None else mean.copy()
    return (None if scale is None else 1.0 / scale), u


def _side_by_side(isd, u, Py_ssize_t m):
    """(m, 2) float64: each column's 1 / scale (1 without a scale) and
    mean / scale (0 without a mean) side by side, or None without either."""
    if isd is None and u is None:
        return None
    cs = np.empty((m, 2))
    cs[:, 0] = 1.0 if isd is None else isd
    cs[:, 1] = 0.0 if u is None else u
    return cs


# ---------------------------------------------------------------------------
# Python-level functions
# ---------------------------------------------------------------------------

def _run_epoch(const floating[::1] data, const index_t[::1] indices,
               const index_t[::1] indptr, floating[:, ::1] W, floating[::1] b,
               y_obj, labels_obj, sw_obj, const Py_ssize_t[::1] order, int kind,
               double eta0, Py_ssize_t batch_size, double alpha, bint fit_intercept,
               int schedule, double power_t, Py_ssize_t t, W_avg, b_avg, isd_obj, u_obj,
               Py_ssize_t n_threads):
    # float64 parameters are the working state themselves (V is W, A is W_avg:
    # no copy); float32 ones get float64 working copies, written back at the end
    cdef Py_ssize_t m = W.shape[0], c = W.shape[1], n = indptr.shape[0] - 1
    cdef Py_ssize_t k, i, j, t0 = t, n_order = order.shape[0]
    cdef const floating[::1] y_v, sw_v
    cdef const Py_ssize_t[::1] labels_v
    cdef const double[::1] isd_v, u_v
    cdef const floating* y_p = NULL
    cdef const floating* sw_p = NULL
    cdef const Py_ssize_t* labels_p = NULL
    if y_obj is not None:
        y_v = y_obj
        y_p = &y_v[0]
    else:
        labels_v = labels_obj
        labels_p = &labels_v[0]
    if sw_obj is not None:
        sw_v = sw_obj
        sw_p = &sw_v[0]
    cdef bint average = W_avg is not None
    cdef floating[:, ::1] W_avg_v
    cdef floating[::1] b_avg_v

    cdef double[:, ::1] V
    if floating is double:
        V = W
    else:
        V = np.array(W, dtype=np.float64)
    cdef double[::1] b64 = np.array(b, dtype=np.float64)
    cdef double[::1] r = np.zeros(c), q = np.zeros(c), s = np.empty(c), d = np.empty(c)
    cdef double[::1] gb = np.empty(c), Ur = np.zeros(c)
    cdef Py_ssize_t lazy_max = max(m, LAZY_ROWS)
    cdef double[::1] D = np.empty(min(batch_size, lazy_max) * c)
    cdef double[:, ::1] G, A, U
    chunk_arrays = {"n": 1}
    if batch_size > lazy_max:
        G = np.empty((m, c))
        chunk_arrays = _chunk_scratch(n_threads, min(batch_size, n_order), m, c)
    cdef Chunks ch = _chunks(chunk_arrays)
    cdef Model M = Model(V=&V[0, 0], b=&b64[0], scale=1.0, m=m, c=c, isd=NULL, u=NULL,
                         cs=NULL, uu=0.0, r=&r[0], q=&q[0])
    cdef double[:, ::1] cs_v
    if isd_obj is not None:
        isd_v = isd_obj
        M.isd = &isd_v[0]
    if u_obj is not None:
        u_v = u_obj
        M.u = &u_v[0]
        M.uu = _dot_self(u_v)
    cs_obj = _side_by_side(isd_obj, u_obj, m)
    if cs_obj is not None:
        cs_v = cs_obj
        M.cs = &cs_v[0, 0]
    cdef Steps st = Steps(eta0=eta0, power_t=power_t, alpha=alpha, schedule=schedule,
                          fit_intercept=fit_intercept, t=t)
    cdef Averages avg
    avg.on = average and n_order > 0
    avg.C = 0.0
    cdef double[::1] b_avg64_v
    if avg.on:
        W_avg_v = W_avg
        b_avg_v = b_avg
        if floating is double:
            A = W_avg
        else:
            A = np.array(W_avg, dtype=np.float64)
        U = np.zeros((m, c))
        avg.A = &A[0, 0]
        avg.U = &U[0, 0]
        avg.Ur = &Ur[0]
        b_avg64_v = np.array(b_avg, dtype=np.float64)
        avg.b_avg = &b_avg64_v[0]
    # the lanes of a parallel per-sample epoch (n_lanes 1: the serial epoch)
    cdef Py_ssize_t n_lanes = 1
    if batch_size == 1 and indices.shape[0] <= n * m // ROW_FILL:
        n_lanes = max(1, min(n_threads, n_order // MIN_SLICE))
    cdef double[:, ::1] lane_arrays = np.zeros((n_lanes, LANE_ARRAYS * c + LANE_PAD))
    cdef double[:, ::1] lane_slots = np.zeros((n_lanes, 3 * c + 2 + LANE_PAD))
    lane_structs = np.zeros(n_lanes * sizeof(Lane), dtype=np.uint8)
    cdef unsigned char[::1] lane_bytes = lane_structs
    cdef Lane* lanes = <Lane*>&lane_bytes[0]
    cdef double* slots
    for k in range(n_lanes if n_lanes > 1 else 0):
        slots = &lane_arrays[k, 0]
        lanes[k].M = M
        lanes[k].base = slots
        lanes[k].ext = slots + 3 * c
        lanes[k].M.b = slots + 6 * c          # the view: b, r, q side by side
        lanes[k].M.r = slots + 7 * c
        lanes[k].M.q = slots + 8 * c
        lanes[k].own = slots + 9 * c
        lanes[k].Ur = slots + 12 * c
        lanes[k].Ab = slots + 13 * c
        lanes[k].s = slots + 14 * c
        lanes[k].d = slots + 15 * c
        lanes[k].slot = &lane_slots[k, 0]
    cdef double total
    with nogil:
        if avg.on:
            # A = t₀ W̄: the sum of the t₀ weights averaged so far
            for k in range(m * c):
                avg.A[k] *= t0
        _recompute_q(&M)
        if n_lanes > 1 and _lanes_fit(&st):
            total = _hogwild_epoch(&data[0], &indices[0], &indptr[0], y_p, labels_p, sw_p,
                                   &order[0], n_order, <LossKind>kind, &M, &st, &avg,
                                   lanes, n_lanes)
        else:
            total = _epoch(&data[0], &indices[0], &indptr[0], y_p, labels_p, sw_p, &order[0],
                           n_order, batch_size, lazy_max, <LossKind>kind, &M, &st, &avg,
                           &D[0], &G[0, 0] if batch_size > lazy_max else NULL, &gb[0],
                           &s[0], &d[0], &ch)
        if avg.on:
            # W̄ = (A + C (V + u ⊗ r) − U − u ⊗ Ur) / t  (before W, which may be V)
            for i in range(m):
                for j in range(c):
                    W_avg_v[i, j] = <floating>(
                        (A[i, j] + avg.C * V[i, j] - U[i, j]
                         + (M.u[i] * (avg.C * r[j] - Ur[j]) if M.u != NULL else 0.0)) / st.t)
            for j in range(c):
                b_avg_v[j] = <floating>b_avg64_v[j]
        # W = scale (V + u ⊗ r), b, in X's dtype (nothing to do when V is W as it is)
        if floating is not double or M.scale != 1.0 or M.u != NULL:
            for i in range(m):
                for j in range(c):
                    W[i, j] = <floating>(M.scale * (V[i, j] + (M.u[i] * r[j] if M.u != NULL else 0.0)))
        for j in range(c):
            b[j] = <floating>b64[j]
    return total / n, st.t


def _run_gradient(const floating[::1] data, const index_t[::1] indices,
                  const index_t[::1] indptr, const floating[:, ::1] W, const floating[::1] b,
                  y_obj, labels_obj, sw_obj, int kind, double alpha, isd_obj, u_obj,
                  Py_ssize_t n_threads):
    cdef Py_ssize_t m = W.shape[0], c = W.shape[1], n = indptr.shape[0] - 1, i, j
    cdef const floating[::1] y_v, sw_v
    cdef const Py_ssize_t[::1] labels_v
    cdef const double[::1] isd_v, u_v
    cdef const floating* y_p = NULL
    cdef const floating* sw_p = NULL
    cdef const Py_ssize_t* labels_p = NULL
    if y_obj is not None:
        y_v = y_obj
        y_p = &y_v[0]
    else:
        labels_v = labels_obj
        labels_p = &labels_v[0]
    if sw_obj is not None:
        sw_v = sw_obj
        sw_p = &sw_v[0]
    cdef double[:, ::1] V = np.array(W, dtype=np.float64)
    cdef double[::1] b64 = np.array(b, dtype=np.float64)
    cdef double[::1] r = np.zeros(c), q = np.zeros(c), s = np.empty(c), d = np.empty(c)
    cdef double[::1] gb = np.empty(c)
    cdef double[:, ::1] G = np.empty((m, c))
    chunk_arrays = _chunk_scratch(n_threads, n, m, c)
    cdef Chunks ch = _chunks(chunk_arrays)
    cdef Model M = Model(V=&V[0, 0], b=&b64[0], scale=1.0, m=m, c=c, isd=NULL, u=NULL,
                         cs=NULL, uu=0.0, r=&r[0], q=&q[0])
    cdef double[:, ::1] cs_v
    if isd_obj is not None:
        isd_v = isd_obj
        M.isd = &isd_v[0]
    if u_obj is not None:
        u_v = u_obj
        M.u = &u_v[0]
        M.uu = _dot_self(u_v)
    cs_obj = _side_by_side(isd_obj, u_obj, m)
    if cs_obj is not None:
        cs_v = cs_obj
        M.cs = &cs_v[0, 0]
    grad_W_arr = np.empty((m, c), dtype=np.asarray(W).dtype)
    grad_b_arr = np.empty(c, dtype=np.asarray(W).dtype)
    cdef floating[:, ::1] grad_W = grad_W_arr
    cdef floating[::1] grad_b = grad_b_arr
    cdef double total, sq = 0.0
    with nogil:
        _recompute_q(&M)
        total = _batch_gradient(&data[0], &indices[0], &indptr[0], y_p, labels_p, sw_p, NULL, n,
                                <LossKind>kind, &M, &G[0, 0], &gb[0], &s[0], &d[0], &ch)
        for i in range(m):
            for j in range(c):
                grad_W[i, j] = <floating>(G[i, j] + alpha * V[i, j])
                sq += V[i, j] * V[i, j]
        for j in range(c):
            grad_b[j] = <floating>gb[j]
    return total / n + (0.5 * alpha * sq if alpha != 0 else 0.0), grad_W_arr, grad_b_arr


cdef Py_ssize_t _summed_row(const floating* data, const index_t* indices,
                            Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t i, Py_ssize_t* mark,
                            double* row_value, Py_ssize_t* cols,
                            double* values) noexcept nogil:
    # row i's entries data[lo:hi] at indices[lo:hi] (marked mark[col] = i by
    # the caller) with a repeated column's entries summed, as scipy reads
    # them: (cols, values)[:count], count returned; row_value (m,) scratch
    cdef Py_ssize_t k, col, count = 0
    for k in range(lo, hi):
        row_value[indices[k]] = 0.0
    for k in range(lo, hi):
        row_value[indices[k]] += data[k]
    for k in range(lo, hi):
        col = indices[k]
        if mark[col] == i:          # the column's first entry in the row
            cols[count] = col
            values[count] = row_value[col]
            count += 1
            mark[col] = -2
    return count


def _row_scratch(indptr, Py_ssize_t m, bint canonical):
    """(mark (m,) intp of -1, row_value (m,), cols, values (the longest row))
    for a pass that sums a row's repeated indices; all of length 1 when X is
    canonical (the pass does not look)."""
    longest = 1 if canonical or len(indptr) < 2 else max(1, int(np.diff(indptr).max()))
    size = 1 if canonical else m
    return (np.full(size, -1, dtype=np.intp), np.zeros(size),
            np.empty(longest, dtype=np.intp), np.empty(longest))


def column_moments(X, sample_weight=None):
    """(Σ w, mean, M2) of the columns of a CSR X (float64 (m,) arrays), the
    implicit zeros counted as values 0 and a repeated index as the sum of its
    entries: one pass over the nonzeros summing
    Σ_i w_i x_ij and Σ_i w_i x_ij² per column, then mean = Σ w x / Σ w and
    M2 = max(Σ w x² − Σ w · mean², 0). X's structure must be valid (the
    estimators' check_X has checked it); ``sample_weight`` (n,) or None (1)."""
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1]
    data, indices, indptr = X.data, X.indices, X.indptr
    sw = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    if sw is not None and sw.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}")
    if indptr.shape[0] != n + 1 or indices.shape[0] != data.shape[0]:
        raise ValueError("X's data, indices and indptr do not describe a CSR of its shape")
    # a column's two sums side by side: one cache line per nonzero
    sums = np.zeros((m, 2))
    total = _column_sums(data, indices, indptr, sw, sums, _canonical(X))
    if not total > 0:
        return 0.0, np.zeros(m), np.zeros(m)
    mean = sums[:, 0] / total
    M2 = np.maximum(sums[:, 1] - total * mean * mean, 0.0)
    return total, mean, M2


def _column_sums(const floating[::1] data, const index_t[::1] indices,
                 const index_t[::1] indptr, sw_obj, double[:, ::1] sums, bint canonical):
    # sums[j] += (Σ_i w_i x_ij, Σ_i w_i x_ij²); a row that repeats an index
    # has its entries added up first (x_ij is their sum, as scipy reads it);
    # ``canonical``: X's rows repeat no index (no need to look)
    cdef Py_ssize_t n = indptr.shape[0] - 1, m = sums.shape[0], i, k, col, count
    cdef const double[::1] sw_v
    cdef const double* sw = NULL
    cdef double* acc = &sums[0, 0] if m > 0 else NULL
    cdef double w, x, total = 0.0
    cdef bint repeated
    cdef Py_ssize_t[::1] mark, cols
    cdef double[::1] row_value, values
    mark, row_value, cols, values = _row_scratch(indptr, m, canonical)
    if sw_obj is not None:
        sw_v = sw_obj
        sw = &sw_v[0]
    with nogil:
        for i in range(n):
            w = 1.0 if sw == NULL else sw[i]
            total += w
            repeated = False
            if not canonical:
                for k in range(indptr[i], indptr[i + 1]):
                    col = indices[k]
                    # mark: the last row seen with this column
                    if mark[col] == i:
                        repeated = True
                    mark[col] = i
            if not repeated:
                for k in range(indptr[i], indptr[i + 1]):
                    x = w * data[k]
                    col = 2 * indices[k]
                    acc[col] += x
                    acc[col + 1] += x * data[k]
                continue
            count = _summed_row(&data[0], &indices[0], indptr[i], indptr[i + 1], i, &mark[0],
                                &row_value[0], &cols[0], &values[0])
            for k in range(count):
                x = w * values[k]
                acc[2 * cols[k]] += x
                acc[2 * cols[k] + 1] += x * values[k]
    return total


def row_square_norms(X, mean=None, scale=None):
    """‖(x_i − mean) / scale‖² of every row of a CSR X (float64 (n,); mean,
    scale float64 (m,) or None: 0 and 1), from each row's nonzeros:
    Σ_k x_ik² / σ_k² − 2 Σ_k x_ik μ_k / σ_k² + Σ_k μ_k² / σ_k², clipped at 0,
    a repeated index counted as the sum of its entries. One pass without the
    GIL; X's structure must be valid (the estimators' check_X has checked
    it)."""
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1]
    if X.indptr.shape[0] != n + 1 or X.indices.shape[0] != X.data.shape[0]:
        raise ValueError("X's data, indices and indptr do not describe a CSR of its shape")
    # the kernels index them by X's columns: float64 (m,) exactly, or an error
    inv2 = None if scale is None else 1.0 / _check_array("scale", scale, np.float64, (m,)) ** 2
    mu_inv2 = None if mean is None else _check_array("mean", mean, np.float64, (m,)) * (
        1.0 if inv2 is None else inv2)
    constant = 0.0 if mean is None else float(np.sum(mean * mu_inv2))
    out = np.empty(n)
    _row_square_norms(X.data, X.indices, X.indptr, m, inv2, mu_inv2, constant, out,
                      _canonical(X))
    return out


def _canonical(X):
    """True when X's rows hold each column once, sorted (scipy's
    ``has_canonical_format``: one sequential read of the indices the first
    time, then remembered by X), so that a pass need not look for repeated
    indices, a random write per nonzero."""
    return bool(X.has_canonical_format)


def _row_square_norms(const floating[::1] data, const index_t[::1] indices,
                      const index_t[::1] indptr, Py_ssize_t m, inv2_obj, mu_obj,
                      double constant, double[::1] out, bint canonical):
    # out_i = Σ_k x_ik² inv2_k − 2 Σ_k x_ik mu_k + constant (clipped at 0), with
    # inv2 = 1 / scale² (None: 1) and mu = mean / scale² (None: 0); a row that
    # repeats an index has its entries added up first (unless ``canonical``).
    # With both, a column's inv2 and mu are read side by side from one (m, 2)
    # array (one cache line per nonzero): column col's at [st·col], st = 2.
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, col, count, st = 1
    cdef const double[::1] mu_v, inv2_v
    cdef double[:, ::1] both
    cdef const double* mu = NULL
    cdef const double* inv2 = NULL
    cdef double sq, lin, x
    cdef bint repeated
    cdef Py_ssize_t[::1] mark, cols
    cdef double[::1] row_value, values
    mark, row_value, cols, values = _row_scratch(indptr, m, canonical)
    if m == 0:
        pass        # no column to read: mu and inv2 stay NULL
    elif mu_obj is not None and inv2_obj is not None:
        both = np.column_stack([inv2_obj, mu_obj])
        inv2, mu, st = &both[0, 0], &both[0, 1], 2
    elif mu_obj is not None:
        mu_v = mu_obj
        mu = &mu_v[0]
    elif inv2_obj is not None:
        inv2_v = inv2_obj
        inv2 = &inv2_v[0]
    with nogil:
        for i in range(n):
            sq = 0.0
            lin = 0.0
            repeated = False
            for k in range(indptr[i], indptr[i + 1]):
                col = indices[k]
                if not canonical:
                    # mark: the last row seen with this column
                    if mark[col] == i:
                        repeated = True
                    mark[col] = i
                if mu != NULL:
                    lin += data[k] * mu[st * col]
                if canonical:
                    x = data[k]
                    sq += x * x if inv2 == NULL else x * x * inv2[st * col]
            if not canonical and not repeated:
                for k in range(indptr[i], indptr[i + 1]):
                    x = data[k]
                    sq += x * x if inv2 == NULL else x * x * inv2[st * indices[k]]
            elif not canonical:
                count = _summed_row(&data[0], &indices[0], indptr[i], indptr[i + 1], i,
                                    &mark[0], &row_value[0], &cols[0], &values[0])
                for k in range(count):
                    x = values[k]
                    sq += x * x if inv2 == NULL else x * x * inv2[st * cols[k]]
            sq += constant - 2.0 * lin
            out[i] = sq if sq > 0.0 else 0.0


def sgd_epoch(X, y, W, b, order, loss, *, double eta0, Py_ssize_t batch_size=1,
              double alpha=0.0, bint fit_intercept=True, schedule="constant",
              double power_t=0.5, Py_ssize_t t=0, sample_weight=None,
              W_avg=None, b_avg=None, mean=None, scale=None, n_threads=1,
              bint check_input=True):
    """One epoch of (minibatch) SGD over ``order`` on the CSR rows of X, in
    place; returns ``(epoch_loss, t)``. Same as
    ``fastlin.reference.linear.sgd_epoch`` (see there for the update rule)
    and ``fastlin._linear_fast.sgd_epoch`` (the same arguments; here X is a
    scipy CSR matrix or array, W, b, y (single-output), sample_weight, W_avg
    and b_avg have its data's dtype, y (multi-class) and order are intp).
    ``mean``/``scale``: float64 (m,) arrays or None, the epoch then trains on
    z = (x − mean) / scale (see the module docstring). ``n_threads`` (an
    int >= 1): a batch of more than max(m, 256) rows (the full batch) sums
    its gradient over up to that many row chunks on as many threads, as
    ``gradient`` does; a per-sample epoch (batch_size 1) runs lock-free on
    up to that many threads, at least 128 steps each, when X's rows fill at
    most 1/8 of its columns on average and η_t α <= 0.1 / 64 at its first
    step (else on one thread; see the module docstring); minibatch steps
    run on one thread.
    ``check_input=False`` skips the O(nnz) checks of X's structure (indptr
    monotone, indices in range) and of mean/scale's values: for a caller
    that has checked them, as the estimators do once per fit; on an
    unchecked X it may crash."""
    n_threads = check_n_threads(n_threads)
    data, indices, indptr, n, m = _csr_parts(X, W, check_input)
    dtype = data.dtype
    kind, labels, y_real, sw = _check_targets(y, W, b, loss, sample_weight, n, m, dtype)
    order_v = _check_indices("order", order, n)
    check_linear_epoch_arguments(batch_size, schedule, t, W_avg, b_avg)
    c = W.shape[1]
    if W_avg is not None:
        _check_array("W_avg", W_avg, dtype, (m, c))
        _check_array("b_avg", b_avg, dtype, (c,))
        if not W_avg.flags.c_contiguous:
            raise ValueError("W_avg must be C-contiguous")
    isd, u = _check_standardization(mean, scale, m, check_input)
    return _run_epoch(data, indices, indptr, W, b, y_real, labels, sw, order_v, kind,
                      eta0, batch_size, alpha, fit_intercept,
                      schedule_kind(schedule, alpha), power_t, t, W_avg, b_avg, isd, u,
                      n_threads)


def gradient(X, y, W, b, loss, alpha=0.0, sample_weight=None, *, mean=None, scale=None,
             n_threads=1):
    """The full-batch objective and its gradient ``(J, grad_W, grad_b)`` on
    the CSR rows of X, as ``fastlin.reference.linear.gradient``:

        D = w ⊙ ∂l/∂S / n,  ∇W = Zᵀ D + α W,  ∇b = Σ_i D_i,
        J = (1/n) Σ_i w_i l_i + (α/2) ||W||²

    with Z = (X − mean) / scale (X itself by default), summed over the rows
    in storage order without forming Z. ``n_threads`` (an int >= 1; 1 is
    the serial pass): the rows are summed in up to that many contiguous
    chunks of at least 256 rows, one thread each, whose partial sums are then
    added in chunk order (the same result on every run for the same
    n_threads and n)."""
    n_threads = check_n_threads(n_threads)
    data, indices, indptr, n, m = _csr_parts(X, W)
    dtype = data.dtype
    kind, labels, y_real, sw = _check_targets(y, W, b, loss, sample_weight, n, m, dtype)
    isd, u = _check_standardization(mean, scale, m)
    return _run_gradient(data, indices, indptr, np.ascontiguousarray(W), b, y_real, labels,
                         sw, kind, float(alpha), isd, u, n_threads)
