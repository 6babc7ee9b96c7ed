"""The network kernel on CSR rows (fastlin._mlp_fast with a scipy.sparse X).

* the sparse epoch equals the NumPy reference on the same CSR (which uses
  scipy's sparse products) and the dense kernel on the equal dense array,
  for batch sizes 1, k and the full batch, both dtypes, both index dtypes,
  unsorted indices and explicit zeros, with and without momentum, the L2
  penalty and standardization;
* only the batch's rows of W move when nothing else reaches the others;
* a bad CSR structure is a ValueError from the kernel itself;
* a fit on a wide CSR allocates nothing of size batch × m.
"""
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastlin import MLPClassifier
from fastlin import _mlp_fast as fast
from fastlin.reference import network as net

TOL = {np.float64: 1e-10, np.float32: 1e-4}


def problem(dtype, n=41, m=13, hidden=5, c=3, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m))
    X[rng.random(X.shape) > density] = 0
    X[:, 4] = 0                                     # a column no row reaches
    y = rng.integers(0, c, size=n).astype(np.intp)
    params = net.init_params(m, hidden, c, random_state=seed, dtype=dtype)
    params[1] += 0.3 * rng.standard_normal(hidden).astype(dtype)
    w = rng.uniform(0.2, 3.0, size=n).astype(dtype)
    stats = {"mean": rng.standard_normal(m) * 0.5, "scale": rng.uniform(0.5, 2.0, m)}
    return X.astype(dtype), y, params, w, stats


def layout(X, name, index_dtype):
    """The CSR of X as ``name``: sorted, each row's entries reversed, or with
    explicit zeros stored (the matrix it then equals is returned too)."""
    Xs = sp.csr_matrix(X)
    if name == "unsorted":
        for i in range(Xs.shape[0]):
            lo, hi = Xs.indptr[i], Xs.indptr[i + 1]
            Xs.indices[lo:hi] = Xs.indices[lo:hi][::-1].copy()
            Xs.data[lo:hi] = Xs.data[lo:hi][::-1].copy()
        Xs.has_sorted_indices = False
    elif name == "explicit_zeros":
        Xs.data[::3] = 0
    dense = Xs.toarray()
    Xs.indices = Xs.indices.astype(index_dtype)
    Xs.indptr = Xs.indptr.astype(index_dtype)
    return Xs, dense


def epochs(module, X, y, params, order, n_epochs=2, **kw):
    p = [a.copy() for a in params]
    v = [np.zeros_like(a) for a in params] if kw.get("momentum", 0) else None
    t = 0
    losses = []
    for _ in range(n_epochs):
        loss, t = module.sgd_epoch(X, y, p, order, velocities=v, t=t, **kw)
        losses.append(loss)
    return losses, t, p, v


def assert_close(got, expected, tol):
    for a, e in zip(got, expected):
        assert a.dtype == e.dtype and a.shape == e.shape
        assert np.abs(a - e).max() <= tol * max(np.abs(e).max(), 1e-30)


def check_all_three(X, Xs, y, params, order, tol, **kw):
    """The sparse kernel = the reference on the CSR = the dense kernel."""
    ref = epochs(net, Xs, y, params, order, **kw)
    got = epochs(fast, Xs, y, params, order, **kw)
    dense = epochs(fast, X, y, params, order, **kw)
    assert got[1] == ref[1] == dense[1]
    np.testing.assert_allclose(got[0], ref[0], rtol=tol)
    np.testing.assert_allclose(got[0], dense[0], rtol=tol)
    assert_close(got[2], ref[2], tol)
    assert_close(got[2], dense[2], tol)
    if got[3] is not None:
        assert_close(got[3], ref[3], tol)
    return got


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("variant", ["sorted", "unsorted", "explicit_zeros"])
@pytest.mark.parametrize("batch_size", [1, 6, None])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_epoch_equals_reference_and_dense(dtype, batch_size, variant, index_dtype):
    X, y, params, w, stats = problem(dtype)
    Xs, X = layout(X, variant, index_dtype)
    assert Xs.indices.dtype == index_dtype
    order = np.random.default_rng(1).permutation(len(y))
    bs = len(y) if batch_size is None else batch_size
    check_all_three(X, Xs, y, params, order, TOL[dtype], eta0=0.2, batch_size=bs,
                    alpha=0.01, momentum=0.9, nesterov=True, sample_weight=w, **stats)


@pytest.mark.parametrize("standardize", [None, "scale", "both"])
@pytest.mark.parametrize("alpha", [0.0, 0.02])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.8, False), (0.8, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_step_rule(dtype, momentum, nesterov, alpha, standardize):
    X, y, params, w, stats = problem(dtype, seed=2)
    Xs = sp.csr_array(X)
    order = np.random.default_rng(3).permutation(len(y))
    kw = {"None": {}, "scale": {"scale": stats["scale"]}, "both": stats}[str(standardize)]
    check_all_three(X, Xs, y, params, order, TOL[dtype], eta0=0.3, batch_size=4,
                    alpha=alpha, momentum=momentum, nesterov=nesterov,
                    schedule="invscaling", **kw)


def test_rows_outside_the_batches_stay_when_nothing_reaches_them():
    """Plain SGD, no penalty, no centring: the row of W of a column no row
    reaches stays as it was; the penalty or the centring moves it (as for
    dense X), momentum does not (its velocity stays 0) but takes the every-row
    pass."""
    X, y, params, w, stats = problem(np.float64)
    Xs = sp.csr_matrix(X)
    order = np.arange(len(y), dtype=np.intp)
    base = dict(eta0=0.3, batch_size=5, scale=stats["scale"])
    _, _, p, _ = epochs(fast, Xs, y, params, order, **base)
    np.testing.assert_array_equal(p[0][4], params[0][4])
    assert not np.array_equal(p[0][3], params[0][3])
    for extra in ({"alpha": 0.1}, {"mean": stats["mean"]}, {"momentum": 0.5}):
        got = check_all_three(X, Xs, y, params, order, 1e-10, **base, **extra)
        moved = not np.array_equal(got[2][0][4], params[0][4])
        assert moved == ("momentum" not in extra)


DAMAGE = {"negative_index": "index", "index_out_of_range": "index",
          "indptr_not_monotone": "monotone", "indptr_data_mismatch": "indptr"}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_bad_structure_is_a_value_error(damage):
    X = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, 0], [0, 0, 5]]))
    if damage == "negative_index":
        X.indices[1] = -1
    elif damage == "index_out_of_range":
        X.indices[1] = 3
    elif damage == "indptr_not_monotone":
        X.indptr[1] = 4
        X.indptr[2] = 3
    else:
        X.indptr[-1] = 4
    params = net.init_params(3, 2, 2, random_state=0, dtype=np.float64)
    with pytest.raises(ValueError, match=DAMAGE[damage]):
        fast.sgd_epoch(X, np.array([0, 1, 0, 1], dtype=np.intp), params,
                       np.arange(4, dtype=np.intp), eta0=0.1)


def test_csr_of_another_dtype_than_the_parameters_is_a_type_error():
    X = sp.csr_matrix(np.eye(3, dtype=np.float32))
    params = net.init_params(3, 2, 2, random_state=0, dtype=np.float64)
    with pytest.raises(TypeError, match="dtype"):
        fast.sgd_epoch(X, np.zeros(3, dtype=np.intp), params, np.arange(3, dtype=np.intp),
                       eta0=0.1)
    with pytest.raises(TypeError, match="CSR"):
        fast.sgd_epoch(X.tocsc(), np.zeros(3, dtype=np.intp),
                       net.init_params(3, 2, 2, random_state=0, dtype=np.float32),
                       np.arange(3, dtype=np.intp), eta0=0.1)


def test_wide_fit_allocates_nothing_of_batch_by_m():
    """A fit's peak allocation on a CSR with 2^16 columns: the model's arrays
    (W, its velocity, the published and kernel copies: at most six (m, hidden)
    float64 arrays) and m indices, far below one dense batch of 32 × m."""
    rng = np.random.default_rng(0)
    n, m, hidden, bs = 400, 1 << 16, 4, 32
    X = sp.random(n, m, density=20 / m, format="csr", random_state=1)
    y = rng.integers(0, 3, n)
    est = MLPClassifier(hidden_size=hidden, batch_size=bs, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X[:40], y[:40])                                  # warm up imports
        tracemalloc.start()
        try:
            est.fit(X, y)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak <= 6 * m * hidden * 8 + 2 * m * 8 + 0.1 * (X.data.nbytes + X.indices.nbytes)
    assert peak < bs * m * 8
