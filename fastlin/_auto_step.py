"""``learning_rate="auto"``: the step size from the data and a curvature bound.

A step on a batch B descends J_B = (1/|B|) Σ_{i∈B} w_i l(s_i, y_i) + (α/2)‖W‖²
in the space the kernel trains in (z_i = (x_i − μ) / σ with
``standardize=True``, x_i otherwise). When the loss's second derivative in
the score is at most L (the ``curvature`` column of ``fastlin._losses``;
for a multi-class loss, the largest eigenvalue of its Hessian in the
scores), the Hessian of J_B in (W, b) is at most

    L · (1/|B|) Σ_{i∈B} w_i ‖(z_i, 1)‖² + α

(the intercept counted as a feature of value 1 when it is fitted). With

    r_i = w_i (‖z_i‖² + [fit_intercept])

a bound of the batch mean (1/|B|) Σ_{i∈B} r_i over every batch a fit can
form is

    R = mean of the b largest r_i                   (batch size b < n)
        (max r_i when b = 1: SAG's max ‖x_i‖²)
    R = (1/n) Σ_i r_i                               (the full batch, b >= n)

and the linear models take η = 1 / (L R + α): η times the curvature of every
batch of b rows is at most 1. A last, shorter batch of an epoch (or a
``partial_fit`` call with fewer rows) has a mean of at most max r_i; R is
raised to at least max r_i / 2 for minibatches, so that η times its
curvature stays at most 2, the edge of a step that cannot diverge.

With standardization and the mean bound (the full batch, or a loss of
bounded slope) no pass is needed: the standardization's pass gives each
feature's weighted sum of squares around its mean, M2_k, so that

    Σ_i w_i ‖z_i‖² = Σ_k M2_k / σ_k²        (Σ_i w_i for each varying feature)

and R = (Σ_k M2_k / σ_k² + [fit_intercept] Σ_i w_i) / n. Otherwise the r_i
come from one pass over X in blocks of rows (the blocks of
``fastlin._base.weighted_moments``), after the standardization statistics
are known (the norms of the standardized rows need μ and σ first): a
float64 block at a time and the b largest values so far, never a copy of X.
A CSR X's rows give ‖z_i‖² = Σ_k x_ik² / σ_k² − 2 Σ_k x_ik μ_k / σ_k² +
Σ_k μ_k² / σ_k² from their nonzeros, all rows in one compiled pass
(``fastlin._sparse_fast.row_square_norms``, n floats); a dense X's blocks
are compiled passes too (``fastlin._linear_fast.row_square_norms``, no
copy, its rows shared out among the fit's threads), where they apply. A dask array's chunks are summarised
on their workers (``summarize`` of each chunk) and merged here.
"""
import numpy as np


def _block_rows(A):
    """Rows per block: each a float64 block of at most ~1/128 of A (at
    least 4096 entries), as ``weighted_moments`` reads it."""
    n, m = A.shape
    if hasattr(A, "nnz"):
        nnz = max(int(A.nnz), 1)
        return max(1, n * max(1 << 12, nnz // 128) // nnz)
    return max(1, max(1 << 12, min(1 << 20, A.size // 128)) // m)


def _block_terms(block, w, mean, scale, intercept, features=True):
    """r_i = w_i (‖z_i‖² + intercept) of a block of rows (dense or CSR);
    w_i · intercept with ``features=False``."""
    if not features:
        sq = np.zeros(block.shape[0])
    elif hasattr(block, "tocsr"):
        block = block.tocsr().astype(np.float64)
        inv2 = np.ones(block.shape[1]) if scale is None else 1.0 / (scale * scale)
        sq = np.asarray(block.multiply(block) @ inv2).reshape(-1)
        if mean is not None:
            sq -= 2.0 * np.asarray(block @ (mean * inv2)).reshape(-1)
            sq += float(mean @ (mean * inv2))
            np.maximum(sq, 0.0, out=sq)
    else:
        z = np.array(block, dtype=np.float64)
        if mean is not None:
            z -= mean
        if scale is not None:
            z /= scale
        sq = np.einsum("ij,ij->i", z, z)
    sq += float(intercept)
    if w is not None:
        sq *= w
    return sq


def _csr_terms(X, sw, mean, scale, intercept):
    """Every r_i of a CSR X in one compiled pass (an (n,) float64 array: 8
    bytes a row, against X's 12 a nonzero), or None without the compiled
    module."""
    try:
        from ._sparse_fast import row_square_norms
    except ImportError:
        return None
    r = row_square_norms(X, mean, scale)
    r += float(intercept)
    if sw is not None:
        r *= np.asarray(sw, dtype=np.float64)
    return r


def _dense_norms(X):
    """The compiled ``fastlin._linear_fast.row_square_norms`` for the blocks
    of a C-contiguous float32/float64 X (no copy, no GIL), or None."""
    if not (isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64)
            and X.flags.c_contiguous):
        return None
    try:
        from ._linear_fast import row_square_norms
    except ImportError:
        return None
    return row_square_norms


def summarize(X, sw, mean, scale, intercept, k, features=True, n_threads=1):
    """(Σ_i r_i, the k largest r_i in decreasing order) of the rows of X
    (dense or CSR), with r_i = w_i (‖(x_i − mean) / scale‖² + intercept)
    (mean, scale None: 0 and 1; sw None: w_i = 1; ``features=False``: r_i =
    w_i · intercept), in one pass of blocks (a dense block's norms on
    ``n_threads`` threads)."""
    n = X.shape[0]
    if features and getattr(X, "format", None) == "csr":
        r = _csr_terms(X, sw, mean, scale, intercept)
        if r is not None:
            return float(r.sum()), _largest(r, k)
    rows = _block_rows(X)
    norms = _dense_norms(X) if features else None
    total, top = 0.0, np.empty(0)
    for start in range(0, n, rows):
        w = None if sw is None else np.asarray(sw[start:start + rows], dtype=np.float64)
        if norms is not None:
            r = norms(X[start:start + rows], mean, scale, n_threads)
            r += float(intercept)
            if w is not None:
                r *= w
        else:
            r = _block_terms(X[start:start + rows], w, mean, scale, intercept, features)
        total += float(r.sum())
        top = _largest(np.concatenate([top, r]), k)
    return total, top


def merge(a, b, k):
    """The summary of two parts' union from theirs."""
    return a[0] + b[0], _largest(np.concatenate([a[1], b[1]]), k)


def _largest(r, k):
    if k > 0 and len(r) > k:
        r = np.partition(r, len(r) - k)[len(r) - k:]
    return np.sort(r)[::-1]


def batch_bound(summary, n, batch, worst_case=True):
    """R of the module docstring from a ``summarize`` summary (with k >=
    ``batch`` largest values) of n rows: the mean r_i for the full batch or
    without ``worst_case``, else max(mean of the ``batch`` largest, max / 2)."""
    total, top = summary
    if batch >= n or not worst_case:
        return total / n
    return max(float(top[:batch].mean()), float(top[0]) / 2)


def curvature_radius(X, sw, stats, batch, intercept, features=True, worst_case=True,
                     n_threads=1):
    """R for the rows the kernel trains on: X standardized by ``stats``
    ({"mean", "scale"} or None; with "z_square_sum" and "total_weight",
    as ``_standardization`` gives them, a mean bound comes from those
    without a pass), the training weights ``sw`` (the statistics' weights) and batches
    of ``batch`` rows (>= n: the full batch); ``intercept`` is the constant
    added to each ‖z_i‖² (1 for a fitted intercept, 0 without one). A dask
    ``DaskData`` X is summarised chunk by chunk on its workers.
    ``features=False`` bounds the batch means of w_i · intercept alone (the
    network's output layer, whose inputs are bounded); ``worst_case=False``
    gives the mean r_i (the losses of bounded slope). ``n_threads``: the
    threads of the pass over a dense X."""
    n = X.shape[0]
    mean_bound = batch >= n or not worst_case
    if features and mean_bound and stats is not None and "z_square_sum" in stats:
        # the mean of the standardized rows' r_i, from the statistics' pass
        return (stats["z_square_sum"] + intercept * stats["total_weight"]) / n
    mean = None if stats is None else stats["mean"]
    scale = None if stats is None else stats["scale"]
    k = 1 if mean_bound else batch
    if hasattr(X, "row_summary"):
        summary = X.row_summary(mean, scale, intercept, k, features)
    else:
        summary = summarize(X, sw, mean, scale, intercept, k, features, n_threads)
    return batch_bound(summary, n, batch, worst_case)


#: the largest η α of an automatic stochastic step (see linear_learning_rate)
STOCHASTIC_SHRINK = 0.1


def linear_learning_rate(curvature, R, alpha, stochastic=False):
    """η = 1 / (L R + α) of a linear model whose loss has curvature bound L
    (1 when L R + α is 0: every row is 0 in the trained space, and without a
    penalty no step changes W). With ``stochastic`` (batches smaller than
    the data) also η ≤ 0.1 / α: a constant stochastic step leaves the
    iterate a noise of relative size about √(ηα) around the penalized
    minimum, which matters once the penalty dominates (ηα near 1 would keep
    only the last few batches' gradients)."""
    denominator = curvature * R + alpha
    eta = 1.0 / denominator if denominator > 0 else 1.0
    if stochastic and alpha > 0:
        eta = min(eta, STOCHASTIC_SHRINK / alpha)
    return eta
