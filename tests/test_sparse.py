"""scipy.sparse input: the same matrix gives the same model, dense or CSR.

* the estimators fitted on X as CSR (matrix or array, and CSC/COO converted)
  and on the equal dense array agree in coef_ (float64 to 1e-10 relative,
  float32 to 1e-4) and in their predictions, for every loop shape;
* the sparse kernel (``fastlin._sparse_fast``) equals the NumPy reference on
  the same CSR, standardization included (against the reference on the
  standardized dense matrix);
* bad sparse input gets a ValueError naming the problem;
* a fit allocates no copy of the CSR, and prediction never densifies X.
"""
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from estimator_cases import NAMES, kind, make, make_data

from fastlin import _losses, _sparse_fast
from fastlin._numeric import affine_scores
from fastlin.reference import linear as reference

LINEAR = [name for name in NAMES if name != "MLPClassifier"]
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def sparse_data(name, dtype, n=60, m=15, density=0.3, seed=0):
    """(X dense with most entries zero, y) for estimator ``name``."""
    X, y = make_data(name, n=n, m=m, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    X[rng.random(X.shape) > density] = 0
    return X.astype(dtype), y


def fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y, **kw)


def weights(est):
    return np.asarray(est.coefs_[0] if hasattr(est, "coefs_") else est.coef_)


def assert_same_model(dense, sparse_est, X, Xs, dtype):
    a, b = weights(dense), weights(sparse_est)
    assert np.abs(a - b).max() <= TOL[dtype] * np.abs(a).max()
    pa, pb = dense.predict(X), sparse_est.predict(Xs)
    if pa.dtype.kind == "f":
        np.testing.assert_allclose(pb, pa, rtol=TOL[dtype], atol=TOL[dtype] * np.abs(pa).max())
    else:
        np.testing.assert_array_equal(pb, pa)


CASES = [pytest.param(name, backend, id=f"{name}-{backend}")
         for name in NAMES for backend in ("cython", "numpy")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("name,backend", CASES)
def test_csr_and_dense_give_the_same_model(name, backend, batch_size, dtype):
    X, y = sparse_data(name, dtype)
    Xs = sp.csr_matrix(X)
    dense = fit(make(name, backend=backend, batch_size=batch_size), X, y)
    sparse_est = fit(make(name, backend=backend, batch_size=batch_size), Xs, y)
    assert_same_model(dense, sparse_est, X, Xs, dtype)
    assert sparse_est.score(Xs, y) == pytest.approx(dense.score(X, y), rel=TOL[dtype], abs=TOL[dtype])
    for method in ("decision_function", "predict_proba", "predict_log_proba"):
        if hasattr(dense, method):
            np.testing.assert_allclose(getattr(sparse_est, method)(Xs),
                                       getattr(dense, method)(X),
                                       rtol=1e3 * TOL[dtype], atol=1e3 * TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("name", LINEAR)
def test_averaged_and_regularised_fits_agree(name, batch_size, dtype):
    """Averaging and a strong L2 penalty (the lazy scale folded into the
    weights many times) on the sparse kernel = the dense kernel."""
    X, y = sparse_data(name, dtype, n=120)
    params = dict(batch_size=batch_size, average=True, alpha=0.3, max_iter=4,
                  learning_rate=0.05, learning_rate_schedule="invscaling")
    dense = fit(make(name, **params), X, y)
    sparse_est = fit(make(name, **params), sp.csr_array(X), y)
    assert_same_model(dense, sparse_est, X, sp.csr_array(X), dtype)


def _variants(X):
    """The same matrix in the layouts sparse input comes in."""
    csr = sp.csr_matrix(X)
    unsorted = csr.copy()
    for i in range(unsorted.shape[0]):          # reverse each row's entries
        lo, hi = unsorted.indptr[i], unsorted.indptr[i + 1]
        unsorted.indices[lo:hi] = unsorted.indices[lo:hi][::-1].copy()
        unsorted.data[lo:hi] = unsorted.data[lo:hi][::-1].copy()
    unsorted.has_sorted_indices = False
    zeros = sp.csr_matrix(X)
    zeros.data[::3] = 0                          # explicit zeros ...
    dense_zeros = zeros.toarray()                # ... of this matrix
    wide = sp.csr_matrix(X)
    wide.indices = wide.indices.astype(np.int64)
    wide.indptr = wide.indptr.astype(np.int64)
    return {
        "csr_matrix": (csr, X), "csr_array": (sp.csr_array(X), X),
        "csc": (sp.csc_matrix(X), X), "coo": (sp.coo_array(X), X),
        "int64": (wide, X), "unsorted": (unsorted, X),
        "explicit_zeros": (zeros, dense_zeros),
    }


@pytest.mark.parametrize("variant", list(_variants(np.eye(2))))
@pytest.mark.parametrize("name", ["SoftmaxRegression", "Perceptron", "MLPClassifier"])
def test_sparse_layouts(name, variant):
    X, y = sparse_data(name, np.float64)
    Xs, Xd = _variants(X)[variant]
    if variant == "int64":
        assert Xs.indices.dtype == np.int64
    dense = fit(make(name, batch_size=1), Xd, y)
    sparse_est = fit(make(name, batch_size=1), Xs, y)
    assert_same_model(dense, sparse_est, Xd, Xs, np.float64)


def test_partial_fit_and_integer_data():
    X, y = sparse_data("SoftmaxRegression", np.float64)
    Xi = np.round(3 * X).astype(np.int64)
    a = make("SoftmaxRegression").partial_fit(Xi, y, classes=[0, 1, 2])
    b = make("SoftmaxRegression").partial_fit(sp.csr_matrix(Xi), y, classes=[0, 1, 2])
    b.partial_fit(sp.csr_matrix(Xi), y)
    a.partial_fit(Xi, y)
    assert b.coef_.dtype == np.float64
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-10, atol=1e-12)
    # float32 after a float64 start: converted to the parameters' dtype
    b.partial_fit(sp.csr_matrix(X.astype(np.float32)), y)
    assert b.coef_.dtype == np.float64


# ---------------------------------------------------------------------------
# the kernel against the reference

def _target(loss, n, c, dtype, rng):
    if _losses.get(loss).multiclass:
        return rng.integers(0, c, n).astype(np.intp)
    return (rng.random(n) > 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("batch_size", [1, 5, 300, 1000])
@pytest.mark.parametrize("loss", list(_losses.LOSSES))
def test_kernel_equals_reference(loss, batch_size, average, standardize, dtype):
    """Three epochs of _sparse_fast.sgd_epoch = the reference's on the same
    CSR (with mean and scale: the reference's on the same CSR with them, and
    on the standardized dense matrix); batch 300 of n = 300 rows is the full
    batch (a dense step: n > m), 1000 the same batch with an order of repeated
    rows."""
    rng = np.random.default_rng(3)
    n, m = 300, 40
    c = 3 if _losses.get(loss).multiclass else 1
    X = sp.random(n, m, density=0.15, format="csr", random_state=4, dtype=dtype)
    y = _target(loss, n, c, dtype, rng)
    sw = rng.uniform(0.5, 2, n).astype(dtype)
    kw, X_ref = {}, X
    if standardize:
        mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        scale = rng.uniform(0.5, 2, m)
        kw = dict(mean=mean, scale=scale)
        X_ref = ((X.toarray().astype(np.float64) - mean) / scale).astype(dtype)
    order = np.concatenate([rng.permutation(n)] * (3 if batch_size == 1000 else 1))
    results = []
    runs = [(_sparse_fast, X, kw), (reference, X_ref, {})]
    if standardize:
        runs.append((reference, X, kw))       # the reference's centred CSR path
    for module, data, extra in runs:
        W = np.zeros((m, c), dtype)
        b = np.zeros(c, dtype)
        W_avg, b_avg = (np.zeros((m, c), dtype), np.zeros(c, dtype)) if average else (None, None)
        t = 0
        for _ in range(3):
            loss_value, t = module.sgd_epoch(
                data, y, W, b, order, loss, eta0=0.05, batch_size=batch_size, alpha=0.2,
                schedule="invscaling", t=t, sample_weight=sw, W_avg=W_avg, b_avg=b_avg,
                **extra)
        results.append((W, b, W_avg, loss_value, t))
    (W1, b1, A1, l1, t1) = results[0]
    tol = TOL[dtype]
    for W2, b2, A2, l2, t2 in results[1:]:
        assert t1 == t2
        np.testing.assert_allclose(W1, W2, rtol=tol, atol=tol * np.abs(W2).max())
        np.testing.assert_allclose(b1, b2, rtol=tol, atol=tol)
        assert l1 == pytest.approx(l2, rel=tol)
        if average:
            np.testing.assert_allclose(A1, A2, rtol=tol, atol=tol * np.abs(A2).max())


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("loss", list(_losses.LOSSES))
def test_gradient_equals_reference(loss, standardize):
    rng = np.random.default_rng(5)
    n, m = 80, 30
    c = 3 if _losses.get(loss).multiclass else 1
    X = sp.random(n, m, density=0.2, format="csr", random_state=6)
    y = _target(loss, n, c, np.float64, rng)
    W, b = rng.normal(size=(m, c)), rng.normal(size=c)
    kw, X_ref = {}, X
    if standardize:
        mean, scale = rng.normal(size=m), rng.uniform(0.5, 2, m)
        kw = dict(mean=mean, scale=scale)
        X_ref = (X.toarray() - mean) / scale
    J1, gW1, gb1 = _sparse_fast.gradient(X, y, W, b, loss, 0.1, **kw)
    # the reference on the standardized dense matrix, and on the CSR itself
    for X2, extra in ((X_ref, {}), (X, kw)):
        J2, gW2, gb2 = reference.gradient(X2, y, W, b, loss, 0.1, **extra)
        assert J1 == pytest.approx(J2, rel=1e-12)
        np.testing.assert_allclose(gW1, gW2, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gb1, gb2, rtol=1e-10, atol=1e-13)


def test_scale_only_is_a_per_feature_multiply():
    """scale alone: the epoch on X / scale (no centring)."""
    rng = np.random.default_rng(7)
    X = sp.random(50, 20, density=0.3, format="csr", random_state=8)
    y = rng.normal(size=50)
    scale = rng.uniform(0.5, 3, 20)
    W1, b1, W2, b2 = np.zeros((20, 1)), np.zeros(1), np.zeros((20, 1)), np.zeros(1)
    order = rng.permutation(50)
    _sparse_fast.sgd_epoch(X, y, W1, b1, order, "squared_error", eta0=0.05, scale=scale)
    reference.sgd_epoch(sp.csr_matrix(X.toarray() / scale), y, W2, b2, order,
                        "squared_error", eta0=0.05)
    np.testing.assert_allclose(W1, W2, rtol=1e-10)


# ---------------------------------------------------------------------------
# bad input

def _bad(kind_of_damage):
    X = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, 5], [0, 6, 0]]))
    if kind_of_damage == "nan":
        X.data[1] = np.nan
    elif kind_of_damage == "inf":
        X.data[0] = np.inf
    elif kind_of_damage == "negative_index":
        X.indices[2] = -1
    elif kind_of_damage == "index_out_of_range":
        X.indices[2] = 3
    elif kind_of_damage == "indptr_not_monotone":
        X.indptr[2] = 1
        X.indptr[1] = 3
    elif kind_of_damage == "indptr_data_mismatch":
        X.indptr[-1] = 5
    return X


DAMAGE = {"nan": "NaN", "inf": "NaN or inf", "negative_index": "index",
          "index_out_of_range": "index", "indptr_not_monotone": "monotone",
          "indptr_data_mismatch": "indptr"}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("name", ["Perceptron", "SoftmaxRegression"])
def test_bad_sparse_input_is_a_value_error(name, damage):
    X = _bad(damage)
    y = np.array([0, 1, 0, 1]) if name == "Perceptron" else np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match=DAMAGE[damage].split(" ")[0]):
        make(name).fit(X, y)
    est = fit(make(name), _bad(None), y)
    with pytest.raises(ValueError, match=DAMAGE[damage].split(" ")[0]):
        est.predict(X)
    if damage in ("nan", "inf"):
        return        # the kernel checks the structure; values are the estimator's
    with pytest.raises(ValueError, match=DAMAGE[damage].split(" ")[0]):
        _sparse_fast.sgd_epoch(X, y.astype(np.float64) if name == "Perceptron" else
                               y.astype(np.intp), np.zeros((3, 1 if name == "Perceptron" else 3)),
                               np.zeros(1 if name == "Perceptron" else 3),
                               np.arange(4), "perceptron" if name == "Perceptron"
                               else "softmax_cross_entropy", eta0=0.1)


def test_shape_mismatches():
    X = _bad(None)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        make("Perceptron").fit(X, [0, 1, 0])
    est = fit(make("Perceptron"), X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="features"):
        est.predict(sp.csr_matrix(np.ones((2, 4))))
    bad_coo = sp.coo_matrix(np.eye(3))
    bad_coo.col[0] = 7
    with pytest.raises(ValueError, match="outside"):
        make("Perceptron").fit(bad_coo, [0, 1, 0])


# ---------------------------------------------------------------------------
# memory and overflow

def _peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _csr_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


@pytest.mark.parametrize("batch_size", [1, 32, None])
@pytest.mark.parametrize("name", LINEAR)
def test_fit_does_not_copy_the_csr(name, batch_size):
    """Peak memory of a fit <= 10% of the CSR's bytes plus the model: six
    (m, c) float64 arrays at most (the estimator's weights and average, the
    kernel's working weights, the lazy average's two and a gradient)."""
    rng = np.random.default_rng(0)
    n, m = 3000, 2000
    X = sp.random(n, m, density=0.03, format="csr", random_state=1)   # 60 per row
    y = rng.integers(0, 3, n) if kind(name) == "multi" else rng.integers(0, 2, n)
    if kind(name) == "reg":
        y = rng.normal(size=n)
    c = 3 if kind(name) == "multi" else 1
    est = make(name, batch_size=batch_size, max_iter=2, average=True)
    fit(make(name, max_iter=1), X[:50], y[:50])                        # warm up imports
    grown = _peak(lambda: fit(est, X, y))
    assert grown <= 0.10 * _csr_bytes(X) + 6 * m * c * 8


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array])
def test_row_block_is_a_view_of_the_csr(container):
    """A block of CSR rows reads X's own data and indices (scipy's slicing
    copies them) and equals the slice, empty rows and the last block too."""
    from fastlin._base import row_block

    X = container(sp.random(300, 40, density=0.1, format="csr", random_state=3))
    X.indptr[50:60] = X.indptr[50]          # ten empty rows
    X = container((X.data[:X.indptr[-1]], X.indices[:X.indptr[-1]], X.indptr), shape=X.shape)
    for start, stop in [(0, 64), (45, 61), (50, 60), (256, 300), (299, 300)]:
        block = row_block(X, start, stop)
        assert type(block) is type(X) and block.shape == (stop - start, 40)
        assert np.shares_memory(block.data, X.data) or block.nnz == 0
        assert np.shares_memory(block.indices, X.indices) or block.nnz == 0
        np.testing.assert_array_equal(block.toarray(), X[start:stop].toarray())


def test_end_of_fit_accuracy_forms_the_model_once(monkeypatch):
    """The perceptrons' closing training-accuracy pass over many CSR blocks
    converts the model to X's space once, not once per block (which cost
    a multi-class fit on 2^18 columns several times its epoch)."""
    import fastlin._base as base
    from fastlin import linear_model

    rng = np.random.default_rng(0)
    X = sp.random(4000, 3000, density=0.05, format="csr", random_state=4)
    y = rng.integers(0, 4, 4000)
    calls = []
    real = base.to_original_space

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(linear_model, "to_original_space", counting)
    est = make("MulticlassPerceptron", max_iter=1, standardize=True)
    fit(est, X, y)
    n_blocks = -(-X.shape[0] // max(1, X.shape[0] * max(1 << 12, X.nnz // 128) // X.nnz))
    assert n_blocks > 8 and len(calls) <= 2       # the accuracy pass and coef_


def test_prediction_does_not_densify():
    rng = np.random.default_rng(0)
    X = sp.random(2000, 5000, density=0.01, format="csr", random_state=2)
    y = rng.integers(0, 3, 2000)
    est = fit(make("SoftmaxRegression"), X, y)
    grown = _peak(lambda: est.predict_proba(X))
    assert grown < 0.01 * 2000 * 5000 * 8        # a dense X would be 100 times this


def test_sparse_scores_never_nan():
    """Scores whose product overflows: ±inf of the exact score's sign, and
    the exact score where it is in range (0 for 1e310 − 1e310)."""
    X = np.array([[1e300, 0.0, -1e300], [0.0, 2.0, 0.0], [1e300, 1e300, 0.0]])
    W = np.array([[1e10, -1e10], [1e10, 1.0], [1e10, 1e10]])
    b = np.array([0.0, 1.0])
    exact = np.array([[0.0, -np.inf], [2e10, 3.0], [np.inf, -np.inf]])
    for Xs in (sp.csr_matrix(X), sp.csr_array(X)):
        np.testing.assert_array_equal(affine_scores(Xs, W, b), exact)


def test_benchmark_quick_mode_runs(capsys):
    """bench/sparse_text.py --quick at a few hundred rows, in-process: every
    model runs and the table is printed (nothing written, no timing asserted)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "sparse_text.py"
    spec = importlib.util.spec_from_file_location("sparse_text", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--rows", "300", "--results", "/nonexistent/RESULTS.md"]) == 0
    out = capsys.readouterr().out
    for name in module.PAIRS:
        assert f"| {name} |" in out


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_moments_equal_the_dense_ones(monkeypatch, compiled, weighted):
    """The standardization's statistics of a CSR (the compiled one-pass
    column_moments, and the chunked NumPy path without it) = those of the
    equal dense array; repeated indices and explicit zeros included."""
    from fastlin._base import weighted_moments
    rng = np.random.default_rng(8)
    X = sp.random(500, 30, density=0.2, format="csr", random_state=9)
    X.data[::7] = 0.0                                   # explicit zeros
    X.data += 3.0 * (X.data != 0)                       # a mean far from 0
    last = X.indices[X.indptr[-2]]                      # a column of the last row, again
    X = sp.csr_matrix((np.r_[X.data, 1.5], np.r_[X.indices, last],
                       np.r_[X.indptr[:-1], X.indptr[-1] + 1]), shape=X.shape)
    assert X.indptr[-1] - X.indptr[-2] >= 2
    Xd = X.toarray()                                    # sums the repeated index
    w = rng.uniform(0, 2, X.shape[0]) if weighted else None
    if not compiled:
        monkeypatch.setitem(sys.modules, "fastlin._sparse_fast", None)
    total, mean, M2 = weighted_moments(X, w)
    total_d, mean_d, M2_d = weighted_moments(Xd, w)
    assert total == pytest.approx(total_d, rel=1e-12)
    np.testing.assert_allclose(mean, mean_d, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(M2, M2_d, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("average", [False, True])
def test_unchecked_epoch_and_empty_order(average):
    """check_input=False (the estimators' call, X checked once per fit) gives
    the checked epoch's result bit for bit; an empty order changes nothing
    (the float64 weights and averages are updated in place)."""
    rng = np.random.default_rng(10)
    n, m = 120, 25
    X = sp.random(n, m, density=0.2, format="csr", random_state=11)
    y = rng.integers(0, 3, n).astype(np.intp)
    mean, scale = rng.normal(size=m), rng.uniform(0.5, 2, m)
    order = rng.permutation(n)
    out = []
    for check in (True, False):
        W, b = np.zeros((m, 3)), np.zeros(3)
        avg = dict(W_avg=np.zeros((m, 3)), b_avg=np.zeros(3)) if average else {}
        loss, t = _sparse_fast.sgd_epoch(X, y, W, b, order, "softmax_cross_entropy",
                                         eta0=0.1, alpha=0.01, mean=mean, scale=scale,
                                         check_input=check, **avg)
        out.append((W, b, loss, t, avg))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][2] == out[1][2] and out[0][3] == out[1][3] == n
    W, b, _, t, avg = out[1]
    before = [a.copy() for a in (W, b, *avg.values())]
    _, t2 = _sparse_fast.sgd_epoch(X, y, W, b, order[:0], "softmax_cross_entropy", eta0=0.1,
                                   alpha=0.01, t=t, mean=mean, scale=scale, **avg)
    assert t2 == t
    for a, a0 in zip((W, b, *avg.values()), before):
        np.testing.assert_array_equal(a, a0)


# --------------------------------------------------------------------------
# threads: the full-batch gradient over row chunks

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("loss", ["log_loss", "squared_error", "softmax_cross_entropy"])
def test_sparse_full_gradient_on_threads_equals_one_thread(loss, standardize, dtype):
    """_sparse_fast.gradient and a full-batch epoch (batch > max(m, 256)
    rows) on 2, 3 and 7 threads = on 1 thread (1e-10 in float64) = the
    reference, and the same bits on every run for a fixed n_threads."""
    rng = np.random.default_rng(12)
    n, m = 1500, 40
    c = 3 if _losses.get(loss).multiclass else 1
    X = sp.random(n, m, density=0.1, format="csr", random_state=13, dtype=dtype)
    y = _target(loss, n, c, dtype, rng)
    W = (0.1 * rng.normal(size=(m, c))).astype(dtype)
    b = (0.1 * rng.normal(size=c)).astype(dtype)
    sw = rng.uniform(0.5, 2, n).astype(dtype)
    kw = dict(mean=rng.normal(size=m), scale=rng.uniform(0.5, 2, m)) if standardize else {}
    tol = TOL[dtype]

    def epoch(n_threads):
        W1, b1 = W.copy(), b.copy()
        A, Ab = np.zeros_like(W), np.zeros_like(b)
        t = 0
        for _ in range(3):
            loss_value, t = _sparse_fast.sgd_epoch(
                X, y, W1, b1, np.arange(n), loss, eta0=0.1, batch_size=n, alpha=0.01,
                t=t, sample_weight=sw, W_avg=A, b_avg=Ab, n_threads=n_threads, **kw)
        return W1, b1, A, Ab, np.array([loss_value])

    one = _sparse_fast.gradient(X, y, W, b, loss, 0.01, sw, n_threads=1, **kw)
    ref = reference.gradient(X, y, W, b, loss, 0.01, sw, **kw)
    one_epoch = epoch(1)
    for n_threads in (2, 3, 7):
        many = _sparse_fast.gradient(X, y, W, b, loss, 0.01, sw, n_threads=n_threads, **kw)
        again = _sparse_fast.gradient(X, y, W, b, loss, 0.01, sw, n_threads=n_threads, **kw)
        for a, o, r, g in zip(many, one, ref, again):
            np.testing.assert_allclose(a, o, rtol=tol, atol=tol)
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol)
            np.testing.assert_array_equal(a, g)
        many_epoch, again_epoch = epoch(n_threads), epoch(n_threads)
        for a, o, g in zip(many_epoch, one_epoch, again_epoch):
            np.testing.assert_allclose(a, o, rtol=tol, atol=tol * max(1.0, np.abs(o).max()))
            np.testing.assert_array_equal(a, g)


@pytest.mark.parametrize("name", ["SoftmaxRegression", "LogisticRegression-log",
                                  "LinearRegression"])
@pytest.mark.parametrize("standardize", [False, True])
def test_sparse_full_batch_fit_with_two_jobs_equals_one_job(name, standardize):
    X, y = sparse_data(name, np.float64, n=1200, m=12)
    Xs = sp.csr_matrix(X)
    kw = dict(batch_size=None, max_iter=10, standardize=standardize, average=True,
              alpha=1e-3, learning_rate=0.1)
    one = fit(make(name, **kw), Xs, y)
    two = [fit(make(name, n_jobs=2, **kw), Xs, y) for _ in range(2)]
    a, b2, b3 = weights(one), weights(two[0]), weights(two[1])
    np.testing.assert_allclose(b2, a, rtol=1e-10, atol=1e-12 * np.abs(a).max())
    np.testing.assert_array_equal(b2, b3)
