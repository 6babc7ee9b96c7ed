"""Cython kernels of the six linear models.

The Python-level functions here have the names, signatures and semantics of
their NumPy references in ``fastlin.reference.linear`` (read that module's
docstring for the conventions: W (m, c), b (c,), a mean objective with
(α/2)||W||², η_t, averaging); the estimators swap one for the other.

    sgd_epoch(X, y, W, b, order, loss, *, eta0, ...) -> (epoch_loss, t)
    sgd_epochs(X, y, W, b, orders, loss, *, eta0, ...) -> (epoch_losses, t)
    gradient(X, y, W, b, loss, alpha, sample_weight) -> (J, grad_W, grad_b)

``sgd_epoch`` takes every step of a fit, whatever the batch size, and
reports the epoch's data loss (no penalty); ``sgd_epochs`` runs one epoch
per row of ``orders`` in one call, exactly as that many ``sgd_epoch`` calls
(which are its one-row case), so that a fit on a small X, whose epochs take
microseconds, does not pay the set-up of a call per epoch. ``loss`` is a name of the table
``fastlin._losses``, which gives its kind code for the inline loss functions
of ``_loss.pxd`` and whether it takes labels or real targets (``_py_loss``
exposes those functions to the tests).

Four loop shapes, each one cdef function whatever the loss (the loss is an
inline function of the score):

* ``_per_sample_epoch``: one step per sample of ``order``. The L2 shrinkage
  W ← (1 − ηα) W is kept as a scalar (W = scale · Wtᵀ), so a step touches
  only the rows of Wt whose loss derivative is non-zero (none for a
  perceptron that classifies the sample right, two for the multi-class
  perceptron). The average W̄ is kept lazily in the same way (see
  ``Averages``).
* ``_minibatch_epoch``: one step (``_step``) per run of ``batch_size``
  indices of ``order``, each gradient from ``_batch_gradient``.
* ``_batch_gradient``: the fused gradient pass: for each row the score, the
  loss derivative and the accumulation of Xᵀ D in one sweep, so X is read
  once per gradient.
* ``_multi_gradient_blocked``: the multi-class full-batch gradient, 256 rows
  at a time through two BLAS products (S_B = X_B W, then X_Bᵀ D_B).

The full batch (one batch that holds every row once: ``batch_size >= n``
and ``order`` a permutation of 0..n−1, as the estimators pass for
``batch_size=None``) is one step of ``sgd_epoch`` too: its gradient comes
from ``_full_gradient`` (the last two shapes, over the rows in storage
order; ``gradient`` returns the same), then ``_step``.

Inside, the weights are held transposed and in float64, Wt = Wᵀ (c, m), so
that each class's weight vector is one contiguous row read against the rows
of X; they are copied in from W at the start and written back (in X's dtype)
at the end, which costs O(m c), nothing next to an epoch.

Precision, exactly: the per-sample epochs, the minibatch gradients and the
single-output float64 full-batch gradient accumulate dot products and
gradient sums in float64. The single-output float32 full-batch gradient
computes each row's dot product with the float32 weights in float32 (8-wide
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
with 4-wide (32-byte) float64 vector partial sums (``_simd.h`` says why not
wider). A shuffled order defeats the
hardware prefetcher, so the per-sample loops request the row (and its target
and weight) about 10 KB of X ahead.

Threads (``n_threads``, OpenMP ``prange``; a build without OpenMP runs the
same code on one thread): the full-batch gradient sums row chunks into
per-thread buffers (padded apart so that no two threads write one cache
line), added in chunk order at the end, so it is deterministic for a fixed
thread count. The per-sample epoch runs lock-free parallel SGD, Hogwild!
style (``_hogwild_epoch``, whose comment block gives the design: disjoint
slices of the order, per-thread working copies synced into the shared
weights every few steps, each with its own lazy scale and lazy average);
docs/math.md ("Threads") says what it approximates. n_threads = 1 runs the
serial loops above, unchanged. The GIL is released for the whole call.

The def wrappers check shapes, dtypes and index ranges (a ValueError or
TypeError, never a crash: ``order`` and the labels are range-checked in O(n),
a small fraction of an epoch, since an index out of range would read or write
outside the arrays), then run the whole loop in one ``with nogil:``.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isfinite

import operator

import numpy as np

from ._blas cimport gemm
from ._build_checks cimport FASTLIN_DEBUG_BUILD, FASTLIN_HAS_OPENMP, bounds_checked
from ._schedule cimport clipped_alpha, eta_t, schedule_kind
from ._loss cimport LossKind, single_loss, multi_loss

from . import _losses
from ._numeric import INT_MAX, check_linear_epoch_arguments
from ._parallel import check_n_threads

# The per-sample loops visit the rows of X in a shuffled order, which the
# hardware prefetcher cannot guess: each row would start with a full memory
# latency (~100 ns or more, longer than the work on a 100-wide row). They
# request the row `ahead` samples in advance instead, about PREFETCH_BYTES of
# X ahead (12 rows of 100 float64), within 2..16 rows.
cdef Py_ssize_t PREFETCH_BYTES = 10240


cdef Py_ssize_t _prefetch_distance(Py_ssize_t row_bytes) noexcept nogil:
    cdef Py_ssize_t ahead = PREFETCH_BYTES // max(row_bytes, 1)
    return min(max(ahead, 2), 16)


# Fold the scale into Wt once it falls below this (or to zero or below). The
# lazy average's A + C Wt − U loses about (unit round-off)/scale to
# cancellation, so the floor is kept well above scikit-learn's 1e-9; a fold
# costs O(m c) and comes every log(1e6)/(ηα) steps, rarely.
cdef double MIN_SCALE = 1e-6


# ---------------------------------------------------------------------------
# Row primitives (x is a row of X; Wt = Wᵀ holds the c weight rows, float64)
# ---------------------------------------------------------------------------

# The row operations and the prefetch are C, in fastlin/_simd.h (which the
# network kernel shares): see there for the instruction sets they are built for.
cdef extern from "_simd.h":
    void FASTLIN_PREFETCH(const void* p) noexcept nogil
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

#: True when this module was compiled with OpenMP (setup.py): n_threads > 1
#: then runs threads; without it the threaded loops run on one thread.
_OPENMP = FASTLIN_HAS_OPENMP != 0


def _bounds_checked():
    """True when this module's Cython code checks its indices (the debug
    build; ``fastlin/_build_checks.pxd`` says how it is found out)."""
    return bounds_checked()

# Rows per block in the batch gradient (the block functions above take four):
# the block's rows share each load of the weights and of G.
cdef enum:
    BLOCK = 4

# Rows whose float32 update sums (fastlin_block_axpy4_f32) are added into the
# float64 gradient at a time.
cdef enum:
    F32_FLUSH_ROWS = 128


cdef inline void _scores(const floating* x, const double* Wt, Py_ssize_t m,
                         Py_ssize_t c, double scale, const double* b,
                         double* s) noexcept nogil:
    # s = scale · (x @ W) + b, with the weights transposed: Wt = Wᵀ (c, m)
    if floating is double:
        fastlin_scores_d(x, Wt, m, c, scale, b, s)
    else:
        fastlin_scores_f(x, Wt, m, c, scale, b, s)


cdef inline void _update(const floating* x, const double* a, double* R,
                         Py_ssize_t m, Py_ssize_t c) noexcept nogil:
    # R_j += a_j x for every j with a_j ≠ 0; R (c, m) is Wt, a gradient G or
    # the lazy average's U
    if floating is double:
        fastlin_update_d(x, a, R, m, c)
    else:
        fastlin_update_f(x, a, R, m, c)


cdef inline void _block_scores(const floating** xs, const double* Wt, Py_ssize_t m,
                               Py_ssize_t c, const double* b, double* S) noexcept nogil:
    # S[r] = xs[r] @ W + b for the BLOCK rows xs[r], Wt = Wᵀ (c, m)
    if floating is double:
        fastlin_block_scores_d(xs, Wt, m, c, b, S)
    else:
        fastlin_block_scores_f(xs, Wt, m, c, b, S)


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
    double* Wt           # (c, m): W = scale · Wtᵀ, the weights transposed
    double* b            # (c,)
    double scale
    Py_ssize_t m, c
    Py_ssize_t ahead     # rows of X to prefetch ahead in a shuffled order


cdef struct Steps:
    double eta0
    double power_t
    double alpha
    int schedule         # a ScheduleKind of _schedule.pxd
    bint fit_intercept
    Py_ssize_t t         # steps taken so far in the whole fit


cdef struct Averages:
    # W̄_t = (1/t) Σ_{k<=t} W_k is kept (transposed, as Wt) as A + C Wt − U
    # (all (c, m) but C): a step Wt ← Wt + u g adds C·u·g to U, then
    # C ← C + scale. (Σ_k W_k = Σ_k scale_k Wt_k and
    # Wt_k = Wt_0 + Σ_{j<=k} u_j g_j give
    # Σ_{k<=t} W_k = C_t Wt_t − Σ_j C_{j−1} u_j g_j with C_t = Σ_{k<=t} scale_k.)
    # A starts as t₀ W̄ and absorbs C Wt − U whenever the scale is folded into Wt.
    bint on
    double* A
    double* U
    double C
    double* b_avg        # (c,), averaged directly: b̄ ← b̄ + (b − b̄) / t


cdef struct Standardizer:
    # training on z = (x − mean) ⊙ inv_scale without forming Z: on = False
    # leaves every loop exactly as without standardization
    bint on
    const double* mean       # (m,)
    const double* inv_scale  # (m,) 1 / scale
    double* z                # (m,) one standardized row (the per-sample loop)
    double* Wt               # (c, m) the weights in the raw space, Wt ⊙ inv_scale
    double* b                # (c,) the intercepts in the raw space, b − Wt · (mean ⊙ inv_scale)


cdef void _raw_space_model(const Model* M, Standardizer* sd, Model* R) noexcept nogil:
    # R: the model M as a model of the raw rows, so that x R.Wtᵀ + R.b =
    # z M.Wtᵀ + M.b (scale · Wt folded in):
    #   R.Wt_j = scale · Wt_j ⊙ inv_scale,  R.b_j = b_j − Σ_k mean_k R.Wt_jk
    cdef Py_ssize_t j, k, m = M.m
    cdef double v, offset
    for j in range(M.c):
        offset = 0.0
        for k in range(m):
            v = M.scale * M.Wt[j * m + k] * sd.inv_scale[k]
            sd.Wt[j * m + k] = v
            offset += sd.mean[k] * v
        sd.b[j] = M.b[j] - offset
    R.Wt = sd.Wt
    R.b = sd.b
    R.scale = 1.0
    R.m = M.m
    R.c = M.c
    R.ahead = M.ahead


cdef void _standardized_gradient(const Standardizer* sd, Py_ssize_t m, Py_ssize_t c,
                                 double* G, const double* gb) noexcept nogil:
    # G = Σ_i D_iᵀ x_i (c, m) and gb = Σ_i D_i become Σ_i D_iᵀ z_i:
    #   G_jk ← (G_jk − mean_k gb_j) · inv_scale_k
    cdef Py_ssize_t j, k
    for j in range(c):
        for k in range(m):
            G[j * m + k] = (G[j * m + k] - sd.mean[k] * gb[j]) * sd.inv_scale[k]


cdef void _standardize_row(const floating* x, const Standardizer* sd,
                           Py_ssize_t m) noexcept nogil:
    # sd.z = (x − mean) ⊙ inv_scale
    cdef Py_ssize_t k
    for k in range(m):
        sd.z[k] = (x[k] - sd.mean[k]) * sd.inv_scale[k]


cdef inline double _eta(Steps* st) noexcept nogil:
    return eta_t(st.schedule, st.eta0, st.power_t, st.alpha, st.t)


cdef void _shrink(Model* M, Averages* avg, double factor) noexcept nogil:
    # W ← max(0, factor) · W, by scaling the scalar only (an L2 factor 1 − ηα
    # below 0 stops at W = 0 instead of overshooting); once the scale gets
    # small (or 0, or NaN) W = scale · Wtᵀ is written out into Wt (exactly 0
    # for a factor of 0) and scale = 1.
    cdef Py_ssize_t k, size = M.c * M.m
    cdef double new_scale
    if factor < 0.0:
        factor = 0.0
    new_scale = M.scale * factor
    if new_scale > MIN_SCALE:
        M.scale = new_scale
        return
    if avg.on:
        # A ← A + C Wt − U, C ← 0, U ← 0: the lazy average in terms of the old Wt
        for k in range(size):
            avg.A[k] += avg.C * M.Wt[k] - avg.U[k]
            avg.U[k] = 0.0
        avg.C = 0.0
    # Wt ← new_scale · Wt, scale ← 1
    for k in range(size):
        M.Wt[k] *= new_scale
    M.scale = 1.0


# ---------------------------------------------------------------------------
# The loop shapes
# ---------------------------------------------------------------------------

cdef double _per_sample_epoch(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t[::1] order,
        LossKind kind, Model* M, Steps* st, Averages* avg, const Standardizer* sd,
        double* s, double* d) noexcept nogil:
    """One step per index of ``order``; returns Σ_i w_i l_i (before each step).
    With sd.on, each row is standardized into sd.z first and the step is taken
    on z (float64) in place of x."""
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
        # s = x_i @ W + b = scale · (x_i @ Wtᵀ) + b   (z_i in place of x_i with sd.on)
        if sd.on:
            _standardize_row(x, sd, m)
            fastlin_scores_d(sd.z, M.Wt, m, c, M.scale, M.b, s)
        else:
            _scores(x, M.Wt, m, c, M.scale, M.b, s)
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
        # W ← W − η w_i x_iᵀ d, i.e. Wt_j ← Wt_j + u_j x_i for each u_j ≠ 0 (the
        # perceptrons touch no row on a right answer, two rows on a multi-class mistake)
        if sd.on:
            fastlin_update_d(sd.z, d, M.Wt, m, c)
        else:
            _update(x, d, M.Wt, m, c)
        if avg.on:
            # U_j ← U_j + C u_j x_i
            for j in range(c):
                d[j] *= avg.C
            if sd.on:
                fastlin_update_d(sd.z, d, avg.U, m, c)
            else:
                _update(x, d, avg.U, m, c)
            avg.C += M.scale
            # b̄ ← b̄ + (b − b̄) / t
            for j in range(c):
                avg.b_avg[j] += (M.b[j] - avg.b_avg[j]) / st.t
    return total


# ---------------------------------------------------------------------------
# Lock-free parallel per-sample SGD (Hogwild!)
# ---------------------------------------------------------------------------
#
# n_threads = T > 1 splits the epoch's order into T contiguous slices, one
# thread each (one ``prange`` per epoch, no barrier inside it). Every thread
# takes the per-sample steps of its slice and adds them into the shared
# weights Wt, b without locks, as in Hogwild! (Recht et al., 2011), but
# buffered: it steps on its own working copy of (Wt, b) and every
# SYNC_STEPS steps adds the copy's change since its last sync into the
# shared weights (a plain read-add-write of each weight, no lock: a
# concurrent sync of another thread can lose a few of those additions), then
# copies the shared weights, with every thread's steps so far, back into its
# own. (Dense rows change every weight at every step: shared per-step writes
# would move every cache line of Wt between the cores at every step, which
# measured several times slower than one thread.)
#
# * The lazy L2 scale. Each working copy has its own scale: W_k = s_k Wt_k,
#   shrunk by (1 − η_t α) at each of the thread's own steps (``_shrink``, as
#   in the serial epoch), and folded into Wt_k at each sync, so the change
#   a thread adds holds the shrinkage of its steps; the threads' additions
#   then shrink the shared weights by Σ_k (1 − f_k) where one thread would
#   shrink them by 1 − Π_k f_k (f_k its shrink since the last sync): equal to
#   first order, and SYNC_STEPS is cut down so that each thread's shrinkage
#   between syncs stays within SHRINK_PER_SYNC.
# * The step count and η_t. The threads' steps are counted as they run,
#   interleaved: thread k's j-th step is step t₀ + j·T + k + 1 of the fit
#   (its η_t); the epoch still ends at t₀ + n steps.
# * The average. W̄ is the mean of the weights each step left behind, i.e.
#   of every thread's working copy after each of its steps: each thread keeps
#   the lazy sum of its own iterates (``Averages`` on its copy: A_k + C_k Wt_k
#   − U_k, folded into A_k at each sync, before the copy changes) and of its
#   intercepts; the epoch's end adds the threads' sums in thread order.
#
# Approximate with T > 1, then: a gradient is taken at weights that miss the
# other threads' last (up to SYNC_STEPS) steps, a sync can lose another's
# concurrent addition, the shrinkage adds up to first order only, and the
# result varies from run to run. T = 1 is the serial epoch, exactly.

# A thread adds its steps into the shared weights every SYNC_STEPS steps at
# most, and more often while its shrinkage between syncs would exceed
# SHRINK_PER_SYNC (Σ η_t α over the steps).
cdef Py_ssize_t SYNC_STEPS = 64
cdef double SHRINK_PER_SYNC = 0.01

# The parallel epoch needs at least this many samples per thread (else serial).
cdef Py_ssize_t MIN_SLICE = 128

# For the tests: True runs the threads' slices one after another on one
# thread (as a build without OpenMP does), which makes the parallel epoch
# deterministic: the serial epoch up to rounding (with a constant η_t).
cdef bint SEQUENTIAL_SLICES = False


def _sequential_slices(bint on):
    """(For the tests) run a parallel per-sample epoch's slices one after
    another (True) or on their threads (False, the default); returns the
    previous setting. (``fastlin._sparse_fast`` has the same switch.)"""
    global SEQUENTIAL_SLICES
    SEQUENTIAL_SLICES, on = on, SEQUENTIAL_SLICES
    return on


cdef struct Threads:
    # the per-thread state of a parallel per-sample epoch (n threads; each
    # thread's slots are PAD elements apart from the next thread's)
    Py_ssize_t n
    double* total        # (n,) Σ w_i l_i
    double* s            # (n, c) scores
    double* d            # (n, c) derivatives
    double* z            # (n, m) a standardized row (sd.on)
    double* P            # (n, c·m + c) the thread's working copy of Wt and b
    double* S            # (n, c·m + c) the shared Wt and b it last copied
    double* A            # (n, c·m) Σ of its iterates W (averaging)
    double* U            # (n, c·m) its lazy average's U
    double* Ab           # (n, c) Σ of its iterates b


cdef void _sync_copy(Model* shared, Model* copy, double* S, Averages* avg,
                     bint push) noexcept nogil:
    # push: fold the copy's lazy average (A += C Wt − U) and scale, and add
    # the copy's change since the last sync, P − S, into the shared weights
    # without a lock (a weight that did not change is not written: the
    # perceptrons' right answers leave the shared cache lines alone). Then
    # (push or the first copy) the copy and S = the shared weights.
    cdef Py_ssize_t k, cm = copy.c * copy.m, c = copy.c
    cdef double v, change
    if avg.on and push:
        for k in range(cm):
            avg.A[k] += avg.C * copy.Wt[k] - avg.U[k]
            avg.U[k] = 0.0
        avg.C = 0.0
    for k in range(cm):
        v = shared.Wt[k]
        if push:
            change = copy.scale * copy.Wt[k] - S[k]
            if change != 0.0:
                v += change
                shared.Wt[k] = v
        copy.Wt[k] = v
        S[k] = v
    for k in range(c):
        v = shared.b[k]
        if push:
            change = copy.b[k] - S[cm + k]
            if change != 0.0:
                v += change
                shared.b[k] = v
        copy.b[k] = v
        S[cm + k] = v
    copy.scale = 1.0


cdef void _hogwild_slice(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t[::1] order,
        LossKind kind, const Model* shared_model, const Steps* shared_steps, bint average,
        const Standardizer* sd, const Threads* th, Py_ssize_t k) noexcept nogil:
    """Thread k's slice of the order, n·k/T .. n·(k+1)/T, stepped on its
    working copy and added into the shared model's weights every few steps
    (see above); its loss sum and average sums go to its own slots of th.
    The structs passed (on the calling thread's stack) are copied first, so
    that the loop reads nothing next to another thread's locals."""
    cdef Model Mc = shared_model[0]
    cdef Steps stc = shared_steps[0]
    cdef Model* M = &Mc
    cdef const Steps* st = &stc
    cdef Py_ssize_t T = th.n, n_order = order.shape[0], m = M.m, c = M.c
    cdef Py_ssize_t first = n_order * k // T, stop = n_order * (k + 1) // T
    cdef Py_ssize_t p, q, i, j, since_sync = 0, sync_every = SYNC_STEPS
    cdef Py_ssize_t stride = c * m + c + PAD
    cdef double* s = th.s + k * (c + PAD)
    cdef double* d = th.d + k * (c + PAD)
    cdef double* S = th.S + k * stride
    cdef double* Ab = th.Ab + k * (c + PAD)
    cdef const floating* x
    cdef double w_i, l, eta, u, total = 0.0
    cdef Model W = Model(Wt=th.P + k * stride, b=th.P + k * stride + c * m, scale=1.0,
                         m=m, c=c, ahead=M.ahead)
    cdef Averages avg
    avg.on = average
    avg.C = 0.0
    avg.A = th.A + k * (c * m + PAD) if average else NULL
    avg.U = th.U + k * (c * m + PAD) if average else NULL
    avg.b_avg = NULL
    cdef Standardizer local
    if sd.on:
        local = sd[0]
        local.z = th.z + k * (m + PAD)
    _sync_copy(M, &W, S, &avg, False)
    for p in range(first, stop):
        if since_sync == sync_every:
            _sync_copy(M, &W, S, &avg, True)
            since_sync = 0
        i = order[p]
        x = &X[i, 0]
        if p + M.ahead < stop:
            q = order[p + M.ahead]
            _prefetch_row(&X[q, 0], m)
            if y != NULL:
                FASTLIN_PREFETCH(&y[q])
            else:
                FASTLIN_PREFETCH(&labels[q])
            if sample_weight != NULL:
                FASTLIN_PREFETCH(&sample_weight[q])
        w_i = 1.0 if sample_weight == NULL else sample_weight[i]
        # s = x_i @ W + b on the working copy   (z_i with sd.on)
        if sd.on:
            _standardize_row(x, &local, m)
            fastlin_scores_d(local.z, W.Wt, m, c, W.scale, W.b, s)
        else:
            _scores(x, W.Wt, m, c, W.scale, W.b, s)
        l = _sample_loss(kind, s, c, y, labels, i, d)
        total += w_i * l
        # step t₀ + j·T + k + 1 (j = p − first): the serial epoch's step
        eta = eta_t(st.schedule, st.eta0, st.power_t, st.alpha,
                    st.t + (p - first) * T + k + 1)
        if st.alpha != 0.0:
            _shrink(&W, &avg, 1.0 - eta * st.alpha)
            if since_sync == 0:
                # sync often enough that a thread's shrinkage between syncs
                # stays within SHRINK_PER_SYNC (η_t never grows)
                sync_every = SYNC_STEPS
                if eta * st.alpha * SYNC_STEPS > SHRINK_PER_SYNC:
                    sync_every = max(1, <Py_ssize_t>(SHRINK_PER_SYNC / (eta * st.alpha)))
        if st.fit_intercept:
            for j in range(c):
                W.b[j] -= eta * w_i * d[j]
        u = -eta * w_i / W.scale
        for j in range(c):
            d[j] *= u
        if sd.on:
            fastlin_update_d(local.z, d, W.Wt, m, c)
        else:
            _update(x, d, W.Wt, m, c)
        if average:
            for j in range(c):
                d[j] *= avg.C
            if sd.on:
                fastlin_update_d(local.z, d, avg.U, m, c)
            else:
                _update(x, d, avg.U, m, c)
            avg.C += W.scale
            for j in range(c):
                Ab[j] += W.b[j]
        since_sync += 1
    _sync_copy(M, &W, S, &avg, True)
    th.total[k * PAD] = total


cdef double _hogwild_epoch(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t[::1] order,
        LossKind kind, Model* M, Steps* st, Averages* avg, const Standardizer* sd,
        const Threads* th) noexcept nogil:
    """``_per_sample_epoch`` on th.n threads, lock-free (see above), on M at
    scale 1; returns Σ_i w_i l_i. With averaging, avg.A (= t₀ W̄ on entry)
    gains the threads' sums of iterates and avg.b_avg becomes the new mean
    (avg.C and avg.U stay 0, so the caller's A + C Wt − U is A)."""
    cdef Py_ssize_t T = th.n, n_order = order.shape[0], m = M.m, c = M.c
    cdef Py_ssize_t k, j, idx
    cdef double total = 0.0
    cdef Py_ssize_t t0 = st.t
    if avg.on:
        for k in range(T):
            for idx in range(c * m):
                th.A[k * (c * m + PAD) + idx] = 0.0
                th.U[k * (c * m + PAD) + idx] = 0.0
            for j in range(c):
                th.Ab[k * (c + PAD) + j] = 0.0
    for k in prange(T, num_threads=1 if SEQUENTIAL_SLICES else T, schedule="static",
                    chunksize=1):
        _hogwild_slice(X, y, labels, sample_weight, order, kind, M, st, avg.on, sd, th, k)
    st.t += n_order
    for k in range(T):
        total += th.total[k * PAD]
    if avg.on:
        # A ← A + Σ_k A_k;  b̄ ← (t₀ b̄ + Σ_k Σ b) / t
        for k in range(T):
            for idx in range(c * m):
                avg.A[idx] += th.A[k * (c * m + PAD) + idx]
        for j in range(c):
            avg.b_avg[j] *= t0
            for k in range(T):
                avg.b_avg[j] += th.Ab[k * (c + PAD) + j]
            avg.b_avg[j] /= st.t
    return total


# ---------------------------------------------------------------------------
# Batch gradients
# ---------------------------------------------------------------------------

cdef double _batch_gradient(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t* rows, Py_ssize_t n_rows,
        Py_ssize_t start, Py_ssize_t stop, double inv_n, LossKind kind, const Model* M,
        double* G, double* gb, double* s, double* d,
        const float* w32=NULL, float* g32=NULL) noexcept nogil:
    """The fused gradient over rows i = rows[p] (or i = p when rows is NULL)
    for p in start..stop-1, with W = Wtᵀ and inv_n = 1 / n_B, n_B the rows of
    the whole batch (stop − start, or all n rows when a full batch is split
    into chunks); rows has n_rows entries, prefetched ahead across batches:

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
                _block_scores(xs, M.Wt, m, c, M.b, s)
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
            _scores(x, M.Wt, m, c, 1.0, M.b, s)
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
        const Model* M, Py_ssize_t start, Py_ssize_t stop,
        double* G, double* gb, floating* SB, floating* GB,
        double* s, double* d) noexcept nogil:
    """The full-batch gradient of a multi-class model over the rows
    start..stop-1 of X (n = X.shape[0] rows in all), GEMM_ROWS rows at a
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
    p = start
    while p < stop:
        nb = min(<Py_ssize_t>GEMM_ROWS, stop - p)
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


# Each thread's slots of a per-thread array are PAD elements further apart
# than their size (128 bytes of float64, 64 of float32): two threads never
# write into one cache line (nor into the pair of lines fetched together).
cdef enum:
    PAD = 16


cdef struct Chunks:
    # The scratch of a full-batch gradient split into n row chunks, one
    # thread each: every chunk's partial sums, then added up in chunk order
    # (so the result depends on n, never on which thread ran what). n = 1:
    # the one serial pass, no scratch (the pointers unused).
    # (each chunk's slots PAD elements apart, as (n, size + PAD) arrays)
    Py_ssize_t n
    double* G            # (n, c·m) the chunks' Σ D_iᵀ x_i
    double* gb           # (n, c)   their Σ D_i
    double* total        # (n,)     their Σ w_i l_i
    double* s            # (n, BLOCK·c) score and derivative scratch
    double* d            # (n, BLOCK·c)
    void* SB             # (n, GEMM_ROWS·c) in X's dtype, or NULL (no BLAS path)
    void* GB             # (n, c·m) in X's dtype, or NULL
    float* g32           # (n, m)


cdef double _rows_gradient(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const floating* W, LossKind kind,
        const Model* M, Py_ssize_t start, Py_ssize_t stop,
        double* G, double* gb, floating* SB, floating* GB,
        float* g32, double* s, double* d) noexcept nogil:
    """G, gb ← the rows start..stop-1's share of the full-batch gradient (the
    mean over all n rows of X), in storage order at W = Wtᵀ (W: the same
    weights in X's dtype, (m, c)); returns their Σ_i w_i l_i.

    With SB (GEMM_ROWS, c) and GB (c, m) scratch (multi-class models whose
    sizes fit BLAS's C ints), 256-row blocks through two BLAS products
    (``_multi_gradient_blocked``); otherwise the fused pass
    (``_batch_gradient``), single-output float32 models in its float32 lanes
    with g32 (m,) scratch."""
    cdef Py_ssize_t k
    cdef double inv_n = 1.0 / X.shape[0]
    # a copy of the model struct: a thread reads its own (see _hogwild_slice)
    cdef Model local = M[0]
    for k in range(M.c * M.m):
        G[k] = 0.0
    for k in range(M.c):
        gb[k] = 0.0
    if SB != NULL:
        return _multi_gradient_blocked(X, labels, sample_weight, W, kind, &local, start,
                                       stop, G, gb, SB, GB, s, d)
    if floating is float and M.c == 1:
        return _batch_gradient(X, y, labels, sample_weight, NULL, 0, start, stop, inv_n,
                               kind, &local, G, gb, s, d, W, g32)
    return _batch_gradient(X, y, labels, sample_weight, NULL, 0, start, stop, inv_n,
                           kind, &local, G, gb, s, d)


cdef double _full_gradient(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const floating* W, LossKind kind,
        const Model* M, double* G, double* gb, floating* SB, floating* GB,
        float* g32, double* s, double* d, const Chunks* ch) noexcept nogil:
    """G, gb ← the gradient of the mean loss over every row of X at W = Wtᵀ;
    returns Σ_i w_i l_i. With ch.n = 1 one pass over the rows in storage
    order (``_rows_gradient``, with the scratch SB, GB, g32, s, d); with
    ch.n > 1 the rows split into ch.n contiguous chunks, one thread each
    (``prange``), each into its own partial sums in ch, which are then added
    in chunk order: the same result for the same ch.n on every run."""
    cdef Py_ssize_t t, k, j, n = X.shape[0], m = M.m, c = M.c, cm = M.c * M.m
    cdef Py_ssize_t T = ch.n
    cdef double total
    if T <= 1:
        return _rows_gradient(X, y, labels, sample_weight, W, kind, M, 0, n,
                              G, gb, SB, GB, g32, s, d)
    for t in prange(T, num_threads=T, schedule="static", chunksize=1):
        ch.total[t * PAD] = _rows_gradient(
            X, y, labels, sample_weight, W, kind, M, n * t // T, n * (t + 1) // T,
            ch.G + t * (cm + PAD), ch.gb + t * (c + PAD),
            NULL if ch.SB == NULL else <floating*>ch.SB + t * (GEMM_ROWS * c + PAD),
            NULL if ch.GB == NULL else <floating*>ch.GB + t * (cm + PAD),
            ch.g32 + t * (m + PAD), ch.s + t * (BLOCK * c + PAD),
            ch.d + t * (BLOCK * c + PAD))
    # G = Σ_t G_t, gb = Σ_t gb_t, total = Σ_t total_t, t = 0, 1, ... in order
    total = ch.total[0]
    for k in range(cm):
        G[k] = ch.G[k]
    for j in range(c):
        gb[j] = ch.gb[j]
    for t in range(1, T):
        total += ch.total[t * PAD]
        for k in range(cm):
            G[k] += ch.G[t * (cm + PAD) + k]
        for j in range(c):
            gb[j] += ch.gb[t * (c + PAD) + j]
    return total


cdef double _standardized_full_gradient(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, floating* W_raw, LossKind kind,
        const Model* M, Standardizer* sd, double* G, double* gb, floating* SB,
        floating* GB, float* g32, double* s, double* d, const Chunks* ch) noexcept nogil:
    """``_full_gradient`` of the standardized model: the full-batch pass runs
    on the raw rows with the raw-space model R (``_raw_space_model``; W_raw
    (m, c) scratch gets R's weights in X's dtype), then
    G ← (G − mean ⊗ gb) ⊙ inv_scale. Returns Σ_i w_i l_i."""
    cdef Py_ssize_t k, j, m = M.m, c = M.c
    cdef double total
    cdef Model R
    _raw_space_model(M, sd, &R)
    for k in range(m):
        for j in range(c):
            W_raw[k * c + j] = <floating>R.Wt[j * m + k]
    total = _full_gradient(X, y, labels, sample_weight, W_raw, kind, &R,
                           G, gb, SB, GB, g32, s, d, ch)
    _standardized_gradient(sd, m, c, G, gb)
    return total


cdef void _step(Model* M, Steps* st, const double* G, const double* gb,
                double* W_avg, double* b_avg) noexcept nogil:
    """One step from the gradient (G, gb) of a batch's mean loss, t ← t + 1:

        W ← W − η_t (G + α′ W),  b ← b − η_t gb  (if fit_intercept),
        W̄ ← W̄ + (W − W̄) / t,  b̄ ← b̄ + (b − b̄) / t  (W_avg (c, m), or NULL)

    on W = Wtᵀ (scale 1), with α′ = min(α, 1/η_t): the L2 factor
    1 − η_t α′ = max(0, 1 − η_t α) never overshoots zero."""
    cdef Py_ssize_t k, j, size = M.m * M.c
    cdef double eta, alpha
    st.t += 1
    eta = _eta(st)
    alpha = clipped_alpha(st.alpha, eta)
    for k in range(size):
        M.Wt[k] -= eta * (G[k] + alpha * M.Wt[k])
    if st.fit_intercept:
        for j in range(M.c):
            M.b[j] -= eta * gb[j]
    if W_avg != NULL:
        for k in range(size):
            W_avg[k] += (M.Wt[k] - W_avg[k]) / st.t
        for j in range(M.c):
            b_avg[j] += (M.b[j] - b_avg[j]) / st.t


cdef double _minibatch_epoch(
        const floating[:, ::1] X, const floating* y, const Py_ssize_t* labels,
        const floating* sample_weight, const Py_ssize_t[::1] order,
        Py_ssize_t batch_size, LossKind kind, Model* M, Steps* st,
        double* W_avg, double* b_avg, double* G, double* gb,
        Standardizer* sd, double* s, double* d) noexcept nogil:
    """One step per run of ``batch_size`` indices of ``order``; returns
    Σ_i w_i l_i (each before its batch's step). W_avg is NULL or (c, m).
    With sd.on, each batch's gradient is taken through the raw-space model
    (``_raw_space_model``) and turned into the standardized one."""
    cdef Py_ssize_t start, stop, k, j, size = M.m * M.c
    cdef Py_ssize_t n_order = order.shape[0]
    cdef double total = 0.0
    cdef Model R
    start = 0
    while start < n_order:
        stop = min(start + batch_size, n_order)
        for k in range(size):
            G[k] = 0.0
        for j in range(M.c):
            gb[j] = 0.0
        # G, gb = gradient of the batch's mean loss
        if sd.on:
            _raw_space_model(M, sd, &R)
            total += _batch_gradient(X, y, labels, sample_weight, &order[0], n_order,
                                     start, stop, 1.0 / (stop - start), kind, &R,
                                     G, gb, s, d)
            _standardized_gradient(sd, M.m, M.c, G, gb)
        else:
            total += _batch_gradient(X, y, labels, sample_weight, &order[0], n_order,
                                     start, stop, 1.0 / (stop - start), kind, M,
                                     G, gb, s, d)
        _step(M, st, G, gb, W_avg, b_avg)
        start = stop
    return total


cdef bint _every_row_once(const Py_ssize_t[::1] order, unsigned char* seen) noexcept nogil:
    # True when order (n entries, each in 0..n-1) holds each of the n rows
    # once; seen (n,) starts at zero
    cdef Py_ssize_t p, i
    for p in range(order.shape[0]):
        i = order[p]
        if seen[i]:
            return False
        seen[i] = 1
    return True


# ---------------------------------------------------------------------------
# Python-level functions: checks, then one nogil block
# ---------------------------------------------------------------------------

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


def _check_orders(name, orders, Py_ssize_t n):
    """``orders`` (a 2-D intp array, type-checked by the caller): its rows
    the epochs' orders, every value in 0..n-1 (O(size)); a view. ``name``
    "order" reports the one row's position as ``sgd_epoch``'s order."""
    orders = np.ascontiguousarray(orders)
    cdef const Py_ssize_t[::1] flat = orders.reshape(-1)
    cdef Py_ssize_t bad, width = orders.shape[1]
    with nogil:
        bad = _first_out_of_range(flat, n)
    if bad >= 0:
        where = f"[{bad}]" if name == "order" else f"[{bad // width}, {bad % width}]"
        raise ValueError(f"{name}{where} = {flat[bad]} is outside 0..{n - 1}")
    cdef const Py_ssize_t[:, ::1] view = orders
    return view


def _check_model(X, y, W, b, loss, sample_weight):
    """Shared checks; returns (kind, labels or None, y or None, sample_weight).
    The loss is a row of ``fastlin._losses``: its kind, and whether it takes
    labels and c outputs or real targets and one output."""
    n, m = X.shape[0], X.shape[1]
    c = W.shape[1]
    if n == 0:
        raise ValueError("X has no rows")
    if W.shape[0] != m:
        raise ValueError(f"W must have shape ({m}, c) for X of shape {X.shape}, got {W.shape}")
    if b.shape[0] != c:
        raise ValueError(f"b must have shape ({c},) for W of shape {W.shape}, got {b.shape}")
    row = _losses.get(loss)
    dtype = np.asarray(X).dtype
    if row.multiclass:
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
    return row.kind, labels, y_real, sample_weight


def _check_standardization(mean, scale, Py_ssize_t m):
    """``mean`` and ``scale``: None or C-contiguous float64 arrays of shape
    (m,). Returns (mean, 1 / scale) as arrays (zeros, ones for None), or
    (None, None) when both are None (no standardization)."""
    if mean is None and scale is None:
        return None, None
    for name, a in (("mean", mean), ("scale", scale)):
        if a is not None:
            _check_array(name, a, np.float64, (m,))
            if not a.flags.c_contiguous:
                raise ValueError(f"{name} must be C-contiguous")
    mean_arr = np.zeros(m) if mean is None else mean
    inv_scale = np.ones(m) if scale is None else 1.0 / scale
    return mean_arr, inv_scale


cdef Standardizer _standardizer(object mean_obj, object inv_scale_obj, double[::1] z,
                                double[:, ::1] Wt_raw, double[::1] b_raw):
    """The Standardizer over the checked arrays (off when mean_obj is None);
    the caller keeps the arrays referenced."""
    cdef Standardizer sd
    cdef const double[::1] mean_v, inv_v
    sd.on = mean_obj is not None
    sd.mean = NULL
    sd.inv_scale = NULL
    sd.z = NULL
    sd.Wt = NULL
    sd.b = NULL
    if sd.on:
        mean_v = mean_obj
        inv_v = inv_scale_obj
        sd.mean = &mean_v[0]
        sd.inv_scale = &inv_v[0]
        sd.z = &z[0]
        sd.Wt = &Wt_raw[0, 0]
        sd.b = &b_raw[0]
    return sd


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


def _full_gradient_scratch(dtype, Py_ssize_t n, Py_ssize_t m, Py_ssize_t c):
    """The scratch of ``_full_gradient``: (SB, GB, g32), SB and GB None unless
    the model is multi-class with sizes BLAS takes (C ints)."""
    blas = c > 1 and m <= INT_MAX and c <= INT_MAX
    SB = np.empty((min(n, <Py_ssize_t>GEMM_ROWS), c), dtype=dtype) if blas else None
    GB = np.empty((c, m), dtype=dtype) if blas else None
    return SB, GB, np.empty(m, dtype=np.float32)


# A full-batch gradient is split into at most n_threads chunks of at least
# MIN_CHUNK_ROWS rows (fewer rows than that are not worth a thread): the
# number of chunks, and so the result, depends on n_threads and n only.
cdef Py_ssize_t MIN_CHUNK_ROWS = 256


def _thread_scratch(Py_ssize_t n_threads, Py_ssize_t n_order, Py_ssize_t m, Py_ssize_t c,
                    bint average, bint standardize):
    """The arrays behind a ``Threads`` for a per-sample epoch of n_order
    steps on up to n_threads threads (at least MIN_SLICE steps each): a
    dict, "n" the number of threads (1: no arrays, the serial epoch)."""
    cdef Py_ssize_t T = max(1, min(n_threads, n_order // MIN_SLICE))
    if T == 1:
        return {"n": 1}
    one = np.empty((1, 1))
    return {"n": T, "total": np.zeros((T, PAD)),
            "s": np.empty((T, c + PAD)), "d": np.empty((T, c + PAD)),
            "z": np.empty((T, m + PAD)) if standardize else one,
            "P": np.empty((T, c * m + c + PAD)), "S": np.empty((T, c * m + c + PAD)),
            "A": np.empty((T, c * m + PAD)) if average else one,
            "U": np.empty((T, c * m + PAD)) if average else one,
            "Ab": np.empty((T, c + PAD)) if average else one}


cdef Threads _threads(dict scratch):
    """The Threads over the arrays of ``_thread_scratch`` (which the caller
    keeps referenced)."""
    cdef Threads th
    cdef double[:, ::1] total, sv, dv, z, P, S, A, U, Ab
    th.n = scratch["n"]
    if th.n == 1:
        return th
    total, sv, dv, z = scratch["total"], scratch["s"], scratch["d"], scratch["z"]
    P, S, A, U, Ab = scratch["P"], scratch["S"], scratch["A"], scratch["U"], scratch["Ab"]
    th.total, th.s, th.d, th.z = &total[0, 0], &sv[0, 0], &dv[0, 0], &z[0, 0]
    th.P, th.S, th.A, th.U, th.Ab = &P[0, 0], &S[0, 0], &A[0, 0], &U[0, 0], &Ab[0, 0]
    return th


def _chunk_scratch(dtype, Py_ssize_t n_threads, Py_ssize_t n, Py_ssize_t m, Py_ssize_t c,
                   bint blas):
    """The arrays behind a ``Chunks`` for the full-batch gradient of n rows on
    up to n_threads threads: a dict, with "n" the number of chunks (1: no
    arrays, the serial pass)."""
    cdef Py_ssize_t T = max(1, min(n_threads, n // MIN_CHUNK_ROWS))
    if T == 1:
        return {"n": 1}
    return {"n": T, "G": np.empty((T, c * m + PAD)), "gb": np.empty((T, c + PAD)),
            "total": np.empty((T, PAD)),
            "s": np.empty((T, BLOCK * c + PAD)), "d": np.empty((T, BLOCK * c + PAD)),
            "SB": np.empty((T, GEMM_ROWS * c + PAD), dtype=dtype) if blas else None,
            "GB": np.empty((T, c * m + PAD), dtype=dtype) if blas else None,
            "g32": np.empty((T, m + PAD), dtype=np.float32)}


cdef Chunks _chunks(dict scratch):
    """The Chunks over the arrays of ``_chunk_scratch`` (which the caller
    keeps referenced)."""
    cdef Chunks ch
    cdef double[:, ::1] G, gb, sv, dv, total
    cdef float[:, ::1] g32
    cdef unsigned char[::1] SB, GB     # the bytes of SB, GB (X's dtype)
    ch.n = scratch["n"]
    ch.G = ch.gb = ch.total = ch.s = ch.d = NULL
    ch.SB = ch.GB = NULL
    ch.g32 = NULL
    if ch.n == 1:
        return ch
    G, gb, total = scratch["G"], scratch["gb"], scratch["total"]
    sv, dv, g32 = scratch["s"], scratch["d"], scratch["g32"]
    ch.G, ch.gb, ch.total = &G[0, 0], &gb[0, 0], &total[0, 0]
    ch.s, ch.d, ch.g32 = &sv[0, 0], &dv[0, 0], &g32[0, 0]
    if scratch["SB"] is not None:
        SB = scratch["SB"].reshape(-1).view(np.uint8)
        GB = scratch["GB"].reshape(-1).view(np.uint8)
        ch.SB = &SB[0]
        ch.GB = &GB[0]
    return ch


def sgd_epoch(const floating[:, ::1] X, y, floating[:, ::1] W, floating[::1] b,
              order, loss, *, double eta0, Py_ssize_t batch_size=1,
              double alpha=0.0, bint fit_intercept=True, schedule="constant",
              double power_t=0.5, Py_ssize_t t=0, sample_weight=None,
              W_avg=None, b_avg=None, mean=None, scale=None, n_threads=1):
    """One epoch of (minibatch) SGD over ``order``, in place; returns
    ``(epoch_loss, t)``, epoch_loss the data loss (1/n) Σ_i w_i l_i without
    the penalty. Same as ``fastlin.reference.linear.sgd_epoch``: see there
    for the update rule. Three paths:

    * batch size 1: the per-sample kernel (the L2 shrinkage and the average
      kept lazily);
    * one batch of every row (``batch_size >= n`` and ``order`` a permutation
      of 0..n−1, e.g. the identity): one full-batch gradient-descent step,
      its gradient summed over the rows in storage order by the full-batch
      pass (``_full_gradient``, as ``gradient``);
    * otherwise the minibatch kernel (any order, repeats and gaps included).

    X, y (single-output), W, b, sample_weight, W_avg and b_avg share X's
    dtype; y (multi-class) and order are intp.

    ``mean`` and ``scale`` (float64 (m,), either may be None: 0 and 1) train
    on the standardized rows z_i = (x_i − mean) / scale without forming them:
    W, b, W_avg, b_avg are then the parameters of the standardized space.
    The per-sample path standardizes each row into an (m,) scratch; the
    batch paths score with the raw-space weights W / scale, b − (mean / scale)
    · W and correct the gradient: Zᵀ D = (Xᵀ D − mean ⊗ Σ D) / scale.

    ``n_threads`` (an int >= 1; 1 is exactly the serial algorithm): the
    full-batch step's gradient is summed over up to that many row chunks,
    one thread each (``gradient``); a per-sample epoch runs lock-free on up
    to that many threads, at least MIN_SLICE = 128 samples each (see "Threads"
    in the module docstring); minibatch epochs run on one thread.

    ``sgd_epochs`` runs several epochs in one call."""
    if not isinstance(order, np.ndarray) or order.dtype != np.intp or order.ndim != 1:
        raise TypeError("order must be a 1-D numpy array of dtype intp")
    losses, t = _epochs(X, y, W, b, order.reshape(1, -1), "order", loss, eta0, batch_size,
                        alpha, fit_intercept, schedule, power_t, t, sample_weight, W_avg,
                        b_avg, mean, scale, n_threads)
    return float(losses[0]), t


def sgd_epochs(const floating[:, ::1] X, y, floating[:, ::1] W, floating[::1] b,
               orders, loss, *, double eta0, Py_ssize_t batch_size=1,
               double alpha=0.0, bint fit_intercept=True, schedule="constant",
               double power_t=0.5, Py_ssize_t t=0, sample_weight=None,
               W_avg=None, b_avg=None, mean=None, scale=None, n_threads=1):
    """k epochs in one call, one per row of ``orders`` (a (k, n_order) intp
    array; a non-contiguous one is copied): exactly the steps, losses and t of k calls of
    ``sgd_epoch`` with those orders (each epoch starts from the parameters
    the previous one wrote back in X's dtype, as the next call would),
    without the k calls' set-up. Same as ``fastlin.reference.linear.sgd_epochs``.

    Returns ``(losses, t)``: losses a float64 array of the epochs' data
    losses. The call stops after an epoch whose loss or any parameter (W,
    b, W_avg, b_avg) is not finite: that epoch is then the last entry."""
    if not isinstance(orders, np.ndarray) or orders.dtype != np.intp or orders.ndim != 2:
        raise TypeError("orders must be a 2-D numpy array of dtype intp")
    return _epochs(X, y, W, b, orders, "orders", loss, eta0, batch_size, alpha,
                   fit_intercept, schedule, power_t, t, sample_weight, W_avg, b_avg,
                   mean, scale, n_threads)


cdef bint _all_finite_model(floating[:, ::1] W, floating[::1] b, bint average,
                            floating[:, ::1] W_avg, floating[::1] b_avg) noexcept nogil:
    # whether W, b (and W_avg, b_avg when averaging) hold no inf or NaN
    cdef Py_ssize_t k, j
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            if not isfinite(W[k, j]):
                return False
            if average and not isfinite(W_avg[k, j]):
                return False
    for j in range(b.shape[0]):
        if not isfinite(b[j]):
            return False
        if average and not isfinite(b_avg[j]):
            return False
    return True


cdef tuple _epochs(const floating[:, ::1] X, object y, floating[:, ::1] W, floating[::1] b,
                   object orders, str orders_name, object loss, double eta0,
                   Py_ssize_t batch_size, double alpha, bint fit_intercept, object schedule,
                   double power_t, Py_ssize_t t, object sample_weight, object W_avg,
                   object b_avg, object mean, object scale, object n_threads):
    """``sgd_epochs`` (``sgd_epoch`` is its one-epoch case) after the type
    check of ``orders``: the checks, the scratch, then one nogil block per
    epoch."""
    n_threads = check_n_threads(n_threads)
    kind_obj, labels_obj, y_obj, sw_obj = _check_model(X, y, W, b, loss, sample_weight)
    cdef LossKind kind = kind_obj
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1], c = W.shape[1]
    mean_obj, inv_scale_obj = _check_standardization(mean, scale, m)
    cdef const Py_ssize_t[:, ::1] orders_v = _check_orders(orders_name, orders, n)
    cdef Py_ssize_t n_epochs = orders_v.shape[0], n_order = orders_v.shape[1]
    check_linear_epoch_arguments(batch_size, schedule, t, W_avg, b_avg)
    cdef bint average = W_avg is not None
    dtype = np.asarray(X).dtype
    if average:
        _check_array("W_avg", W_avg, dtype, (m, c))
        _check_array("b_avg", b_avg, dtype, (c,))
        if not W_avg.flags.c_contiguous:
            raise ValueError("W_avg must be C-contiguous")

    # the epochs that are one full-batch step: one batch that holds every row
    # once (O(n) each to check)
    cdef Py_ssize_t e, k, j, t0
    cdef unsigned char[::1] full = np.zeros(max(n_epochs, 1), dtype=np.uint8)
    cdef unsigned char[::1] seen
    cdef bint any_full = False
    if batch_size > 1 and batch_size >= n and n_order == n:
        seen = np.empty(n, dtype=np.uint8)
        with nogil:
            for e in range(n_epochs):
                for k in range(n):
                    seen[k] = 0
                full[e] = _every_row_once(orders_v[e], &seen[0])
                any_full = any_full or full[e]

    # pointers to the optional inputs (NULL when absent)
    cdef const floating* y_p = NULL
    cdef const floating* sw_p = NULL
    cdef const Py_ssize_t* labels_p = NULL
    _input_pointers(y_obj, labels_obj, sw_obj, &y_p, &labels_p, &sw_p)
    cdef floating[:, ::1] W_avg_v = W if not average else W_avg
    cdef floating[::1] b_avg_v = b if not average else b_avg

    # float64 working copies, filled from the caller's arrays at every epoch:
    # Wt = Wᵀ (c, m), b, and the averaging state
    cdef double[:, ::1] Wt = np.empty((c, m))
    cdef double[::1] b64 = np.empty(c)
    cdef double[::1] s = np.empty(BLOCK * c), d = np.empty(BLOCK * c)
    cdef double[:, ::1] A, U, G
    cdef double[::1] b_avg64, gb
    if average:
        A = np.empty((c, m))
        b_avg64 = np.empty(c)
        U = np.empty((c, m))
    if batch_size > 1:
        G = np.empty((c, m))
        gb = np.empty(c)
    # the full-batch pass's scratch
    cdef floating[:, ::1] SB, GB
    cdef float[::1] g32
    cdef bint use_blas = False
    cdef Chunks ch
    ch.n = 1
    if any_full:
        SB_arr, GB_arr, g32_arr = _full_gradient_scratch(dtype, n, m, c)
        g32 = g32_arr
        use_blas = SB_arr is not None
        if use_blas:
            SB = SB_arr
            GB = GB_arr
        chunk_arrays = _chunk_scratch(dtype, n_threads, n, m, c, use_blas)
        ch = _chunks(chunk_arrays)

    # the standardization's scratch: a row z, the raw-space model, its weights in X's dtype
    cdef double[::1] z_raw, b_raw
    cdef double[:, ::1] Wt_raw
    cdef floating[:, ::1] W_raw
    if mean_obj is not None:
        z_raw = np.empty(m)
        Wt_raw = np.empty((c, m))
        b_raw = np.empty(c)
        W_raw = np.empty((m, c), dtype=dtype)
    else:       # never read; assigned so that no view is passed uninitialised
        z_raw = b_raw = np.empty(1)
        Wt_raw = np.empty((1, 1))
        W_raw = np.empty((1, 1), dtype=dtype)
    cdef Standardizer sd = _standardizer(mean_obj, inv_scale_obj, z_raw, Wt_raw, b_raw)

    cdef Model M = Model(Wt=&Wt[0, 0], b=&b64[0], scale=1.0, m=m, c=c,
                         ahead=_prefetch_distance(m * sizeof(floating)))
    cdef Steps st = Steps(eta0=eta0, power_t=power_t, alpha=alpha,
                          schedule=schedule_kind(schedule, alpha),
                          fit_intercept=fit_intercept, t=t)
    cdef Averages avg
    # the parallel per-sample epoch's per-thread state (th.n = 1: serial)
    cdef Threads th
    th.n = 1
    if batch_size == 1:
        thread_arrays = _thread_scratch(n_threads, n_order, m, c, average,
                                        mean_obj is not None)
        th = _threads(thread_arrays)
    losses = np.empty(n_epochs)
    cdef double[::1] losses_v = losses
    cdef double total
    cdef bint finite = True
    cdef Py_ssize_t done = 0
    cdef const Py_ssize_t[::1] order_v
    for e in range(n_epochs):
        order_v = orders_v[e]
        with nogil:
            # the epoch starts from the caller's arrays, as a call of its own would
            for k in range(m):
                for j in range(c):
                    Wt[j, k] = W[k, j]
            for j in range(c):
                b64[j] = b[j]
            M.scale = 1.0
            avg.on = False
            avg.C = 0.0
            t0 = st.t
            if average:
                for k in range(m):
                    for j in range(c):
                        A[j, k] = W_avg_v[k, j]
                        U[j, k] = 0.0
                for j in range(c):
                    b_avg64[j] = b_avg_v[j]
            if batch_size == 1:
                if average:
                    avg.on = True
                    avg.A = &A[0, 0]
                    avg.U = &U[0, 0]
                    avg.b_avg = &b_avg64[0]
                    # A = t₀ W̄ (the sum of the t₀ weights averaged so far)
                    for k in range(c * m):
                        avg.A[k] *= t0
                if th.n > 1:
                    total = _hogwild_epoch(X, y_p, labels_p, sw_p, order_v, kind,
                                           &M, &st, &avg, &sd, &th)
                else:
                    total = _per_sample_epoch(X, y_p, labels_p, sw_p, order_v, kind,
                                              &M, &st, &avg, &sd, &s[0], &d[0])
            elif full[e] and sd.on:
                total = _standardized_full_gradient(
                    X, y_p, labels_p, sw_p, &W_raw[0, 0], kind, &M, &sd, &G[0, 0], &gb[0],
                    &SB[0, 0] if use_blas else NULL, &GB[0, 0] if use_blas else NULL,
                    &g32[0], &s[0], &d[0], &ch)
                _step(&M, &st, &G[0, 0], &gb[0],
                      &A[0, 0] if average else NULL,
                      &b_avg64[0] if average else NULL)
            elif full[e]:
                # G, gb = the gradient at the epoch's W (still the step's start)
                total = _full_gradient(X, y_p, labels_p, sw_p, &W[0, 0], kind, &M,
                                       &G[0, 0], &gb[0],
                                       &SB[0, 0] if use_blas else NULL,
                                       &GB[0, 0] if use_blas else NULL,
                                       &g32[0], &s[0], &d[0], &ch)
                _step(&M, &st, &G[0, 0], &gb[0],
                      &A[0, 0] if average else NULL,
                      &b_avg64[0] if average else NULL)
            else:
                total = _minibatch_epoch(X, y_p, labels_p, sw_p, order_v, batch_size,
                                         kind, &M, &st,
                                         &A[0, 0] if average else NULL,
                                         &b_avg64[0] if average else NULL,
                                         &G[0, 0], &gb[0], &sd, &s[0], &d[0])
            # W = scale · Wtᵀ, b, in X's dtype
            for k in range(m):
                for j in range(c):
                    W[k, j] = <floating>(M.scale * Wt[j, k])
            for j in range(c):
                b[j] = <floating>b64[j]
            if average and st.t > 0:
                for j in range(c):
                    b_avg_v[j] = <floating>b_avg64[j]
                for k in range(m):
                    for j in range(c):
                        if batch_size == 1:
                            # W̄ = (A + C Wt − U) / t
                            W_avg_v[k, j] = <floating>(
                                (A[j, k] + avg.C * Wt[j, k] - U[j, k]) / st.t)
                        else:
                            W_avg_v[k, j] = <floating>A[j, k]
            losses_v[e] = total / n
            finite = isfinite(losses_v[e]) and _all_finite_model(W, b, average, W_avg_v,
                                                                 b_avg_v)
        done = e + 1
        if not finite:
            break
    return losses[:done], st.t


def gradient(const floating[:, ::1] X, y, const floating[:, ::1] W,
             const floating[::1] b, loss, double alpha=0.0, sample_weight=None,
             *, mean=None, scale=None, n_threads=1):
    """The full-batch objective and its gradient, ``(J, grad_W, grad_b)``,
    as ``fastlin.reference.linear.gradient``:

        D = w ⊙ ∂l/∂S / n,  ∇W = Xᵀ D + α W,  ∇b = Σ_i D_i,
        J = (1/n) Σ_i w_i l_i + (α/2) ||W||²

    by the full-batch pass that ``sgd_epoch`` steps from (``_full_gradient``):
    for a single-output model one fused sweep over X (``_batch_gradient``),
    for a multi-class one two BLAS products per block of 256 rows
    (``_multi_gradient_blocked``). grad_W and grad_b have X's dtype.

    With ``mean``/``scale`` (as in ``sgd_epoch``), the objective and gradient
    of the model on the standardized rows z_i = (x_i − mean) / scale, W and b
    its parameters: ∇W = Zᵀ D + α W = (Xᵀ D − mean ⊗ Σ D) / scale + α W.

    ``n_threads`` (an int >= 1): the rows are summed in up to that many
    contiguous chunks of at least MIN_CHUNK_ROWS = 256 rows, one thread each,
    whose partial sums are then added in chunk order: the same result on
    every run for the same n_threads and n, equal to n_threads=1's (the one
    pass in storage order, exactly as before) to rounding."""
    n_threads = check_n_threads(n_threads)
    kind_obj, labels_obj, y_obj, sw_obj = _check_model(X, y, W, b, loss, sample_weight)
    cdef LossKind kind = kind_obj
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1], c = W.shape[1]
    mean_obj, inv_scale_obj = _check_standardization(mean, scale, m)
    # pointers to the optional inputs (NULL when absent)
    cdef const floating* y_p = NULL
    cdef const floating* sw_p = NULL
    cdef const Py_ssize_t* labels_p = NULL
    _input_pointers(y_obj, labels_obj, sw_obj, &y_p, &labels_p, &sw_p)

    dtype = np.asarray(X).dtype
    cdef double[:, ::1] Wt = np.array(np.asarray(W).T, dtype=np.float64, order="C")
    cdef double[::1] b64 = np.array(b, dtype=np.float64)
    cdef double[:, ::1] G = np.empty((c, m))
    cdef double[::1] gb = np.empty(c), s = np.empty(BLOCK * c), d = np.empty(BLOCK * c)
    grad_W_arr = np.empty((m, c), dtype=dtype)
    grad_b_arr = np.empty(c, dtype=dtype)
    SB_arr, GB_arr, g32_arr = _full_gradient_scratch(dtype, n, m, c)
    cdef floating[:, ::1] SB, GB
    cdef float[::1] g32 = g32_arr
    cdef bint use_blas = SB_arr is not None
    if use_blas:
        SB = SB_arr
        GB = GB_arr
    chunk_arrays = _chunk_scratch(dtype, n_threads, n, m, c, use_blas)
    cdef Chunks ch = _chunks(chunk_arrays)
    cdef floating[:, ::1] grad_W = grad_W_arr
    cdef floating[::1] grad_b = grad_b_arr
    cdef Model M = Model(Wt=&Wt[0, 0], b=&b64[0], scale=1.0, m=m, c=c,
                         ahead=_prefetch_distance(m * sizeof(floating)))
    cdef double[::1] z_raw, b_raw
    cdef double[:, ::1] Wt_raw
    cdef floating[:, ::1] W_raw
    if mean_obj is not None:
        Wt_raw = np.empty((c, m))
        b_raw = np.empty(c)
        W_raw = np.empty((m, c), dtype=dtype)
        z_raw = np.empty(1)
    else:       # never read; assigned so that no view is passed uninitialised
        z_raw = b_raw = np.empty(1)
        Wt_raw = np.empty((1, 1))
        W_raw = np.empty((1, 1), dtype=dtype)
    cdef Standardizer sd = _standardizer(mean_obj, inv_scale_obj, z_raw, Wt_raw, b_raw)
    cdef Py_ssize_t k, j
    cdef double total, sq = 0.0
    with nogil:
        # D, Xᵀ D, Σ D, Σ w l   (Zᵀ D for a standardized model)
        if sd.on:
            total = _standardized_full_gradient(
                X, y_p, labels_p, sw_p, &W_raw[0, 0], kind, &M, &sd, &G[0, 0], &gb[0],
                &SB[0, 0] if use_blas else NULL, &GB[0, 0] if use_blas else NULL,
                &g32[0], &s[0], &d[0], &ch)
        else:
            total = _full_gradient(X, y_p, labels_p, sw_p, &W[0, 0], kind, &M,
                                   &G[0, 0], &gb[0],
                                   &SB[0, 0] if use_blas else NULL,
                                   &GB[0, 0] if use_blas else NULL,
                                   &g32[0], &s[0], &d[0], &ch)
        # ∇W = Xᵀ D + α W,  ||W||²
        for k in range(m):
            for j in range(c):
                grad_W[k, j] = <floating>(G[j, k] + alpha * Wt[j, k])
                sq += Wt[j, k] * Wt[j, k]
        for j in range(c):
            grad_b[j] = <floating>gb[j]
    # (α/2)||W||² only when α ≠ 0: ||W||² overflows for |W| > ~1e154, and
    # 0 · inf would turn a finite objective into NaN
    return total / n + (0.5 * alpha * sq if alpha != 0 else 0.0), grad_W_arr, grad_b_arr


def _py_loss(int kind, s, y):
    """One sample's loss and derivative ``(l, dl)`` from the kernel's own
    inline functions (``fastlin/_loss.pxd``), for the tests.

    A number ``s`` (the score) with a real target ``y`` goes through
    ``single_loss`` (dl a float); a 1-D score vector ``s`` (c,) with an
    integer label ``y`` in 0..c−1 through ``multi_loss`` (dl an array (c,)).
    ``kind`` is the code of a row of ``fastlin._losses``; a code with no
    branch of that shape gives NaN for both."""
    cdef double l, dl
    cdef double[::1] s_v, d_v
    cdef Py_ssize_t c, label
    if np.ndim(s) == 0:
        l = single_loss(<LossKind>kind, float(s), float(y), &dl)
        return l, dl
    s_arr = np.array(s, dtype=np.float64)
    if s_arr.ndim != 1 or s_arr.shape[0] == 0:
        raise ValueError(f"s must be a number or a non-empty 1-D score vector, got shape {s_arr.shape}")
    c = s_arr.shape[0]
    label = operator.index(y)
    if not 0 <= label < c:
        raise ValueError(f"label {label} is outside 0..{c - 1}")
    d_arr = np.empty(c)
    s_v = s_arr
    d_v = d_arr
    l = multi_loss(<LossKind>kind, &s_v[0], c, label, &d_v[0])
    return l, d_arr


# ---------------------------------------------------------------------------
# Passes over blocks of rows for the estimators (standardization statistics,
# the automatic step's row norms): compiled, without the GIL, and on
# ``n_threads`` threads whose results do not depend on their number (each
# block's moments, and each row's norm, are summed as one thread sums them)
# ---------------------------------------------------------------------------

cdef double _block_moments(const floating* A, Py_ssize_t n, Py_ssize_t m, const double* w,
                           double* mean, double* M2) noexcept nogil:
    # Σ w of the n rows at A (row-major, m columns), mean and M2 (zeroed by
    # the caller) their weighted mean and Σ w_i (a_i − mean)²: two passes
    # over the block, which the caller keeps small enough for the cache
    cdef Py_ssize_t i, j
    cdef double total = 0.0, w_i, d
    for i in range(n):
        w_i = 1.0 if w == NULL else w[i]
        total += w_i
        for j in range(m):
            mean[j] += w_i * A[i * m + j]
    if total > 0:
        for j in range(m):
            mean[j] /= total
        for i in range(n):
            w_i = 1.0 if w == NULL else w[i]
            for j in range(m):
                d = A[i * m + j] - mean[j]
                M2[j] += w_i * d * d
    return total


def block_moments(const floating[:, ::1] A, sw=None, Py_ssize_t rows=0, n_threads=1):
    """(Σ w, mean, M2) of each block of ``rows`` consecutive rows of A ((n,
    m), C-contiguous; ``rows`` 0: one block of all n), float64 arrays (k,),
    (k, m), (k, m) for the k blocks: mean = Σ w_i a_i / Σ w, then M2 =
    Σ w_i (a_i − mean)² (two passes over each block); ``sw`` (n,) or None
    (w = 1). The blocks are shared out among ``n_threads`` threads; each
    block's numbers are the same for any thread count."""
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1], k, n_blocks, lo, hi
    cdef int T = check_n_threads(n_threads)
    cdef const double[::1] w_v
    cdef const double* w = NULL
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if rows == 0 or rows > n:
        rows = max(n, 1)
    n_blocks = (n + rows - 1) // rows
    if sw is not None:
        w_v = np.ascontiguousarray(sw, dtype=np.float64)
        if w_v.shape[0] != n:
            raise ValueError(f"sw must have shape ({n},), got ({w_v.shape[0]},)")
        w = &w_v[0] if n > 0 else NULL
    totals_arr = np.zeros(n_blocks)
    mean_arr, M2_arr = np.zeros((n_blocks, m)), np.zeros((n_blocks, m))
    cdef double[::1] totals = totals_arr
    cdef double[:, ::1] mean = mean_arr, M2 = M2_arr
    if n == 0:
        return totals_arr, mean_arr, M2_arr
    # (no entry is read through these when m is 0)
    cdef const floating* a = &A[0, 0] if m > 0 else NULL
    cdef double* mp = &mean[0, 0] if m > 0 else NULL
    cdef double* M2p = &M2[0, 0] if m > 0 else NULL
    with nogil:
        for k in prange(n_blocks, num_threads=T, schedule="static"):
            lo = k * rows
            hi = min(lo + rows, n)
            totals[k] = _block_moments(a + lo * m if m > 0 else NULL, hi - lo, m,
                                       NULL if w == NULL else w + lo,
                                       mp + k * m if m > 0 else NULL,
                                       M2p + k * m if m > 0 else NULL)
    return totals_arr, mean_arr, M2_arr


cdef double _row_square_norm(const floating* a, Py_ssize_t m, const double* mu,
                             const double* inv) noexcept nogil:
    # ‖(a − mu) inv‖² (mu, inv NULL: 0, 1)
    cdef Py_ssize_t j
    cdef double s = 0.0, z
    for j in range(m):
        z = a[j]
        if mu != NULL:
            z = z - mu[j]
        if inv != NULL:
            z = z * inv[j]
        s += z * z
    return s


def row_square_norms(const floating[:, ::1] A, mean=None, scale=None, n_threads=1):
    """‖(a_i − mean) / scale‖² of every row of A ((rows, m), C-contiguous),
    float64 (rows,); mean, scale float64 (m,) or None (0, 1); the rows shared
    out among ``n_threads`` threads (the same numbers for any count)."""
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1], i
    cdef int T = check_n_threads(n_threads)
    cdef const double[::1] mu_v, inv_v
    cdef const double* mu = NULL
    cdef const double* inv = NULL
    if mean is not None:
        mu_v = _check_array("mean", mean, np.float64, (m,))
        mu = &mu_v[0] if m > 0 else NULL
    if scale is not None:
        inv_v = 1.0 / _check_array("scale", scale, np.float64, (m,))
        inv = &inv_v[0] if m > 0 else NULL
    out_arr = np.zeros(n)
    cdef double[::1] out = out_arr
    if m == 0:
        return out_arr
    with nogil:
        for i in prange(n, num_threads=T, schedule="static"):
            out[i] = _row_square_norm(&A[i, 0], m, mu, inv)
    return out_arr
