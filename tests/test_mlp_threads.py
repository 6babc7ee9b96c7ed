"""The network kernel on several threads (``n_threads``, the estimators'
``n_jobs``).

* n_threads=2 (and 3, more than this machine may have) gives the
  n_threads=1 epoch to rounding (1e-10 in float64, 1e-4 in float32) for
  dense and CSR X, every step rule, standardization, batch sizes 1, k and
  the full batch; both equal the NumPy reference;
* a repeat with the same thread count is bit for bit the same;
* the estimator with n_jobs=2 fits the n_jobs=1 model to rounding;
* BLAS's thread setting is the same after threaded epochs (also
  concurrent ones) as before.

The problem is large enough (256 features, 64 hidden units) that every
part of a batch runs on more than one thread. Without OpenMP the kernel
runs the same blocks one after another, so these hold there too.
"""
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastlin import MLPClassifier
from fastlin import _mlp_fast as fast
from fastlin.reference import network as net

TOL = {np.float64: 1e-10, np.float32: 1e-4}

def problem(dtype, sparse, n=150, m=256, hidden=64, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m))
    if sparse:
        X[rng.random(X.shape) > 0.1] = 0
    y = rng.integers(0, c, size=n).astype(np.intp)
    params = net.init_params(m, hidden, c, random_state=seed, dtype=dtype)
    stats = {"mean": 0.2 * rng.standard_normal(m), "scale": rng.uniform(0.5, 2.0, m)}
    w = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    X = X.astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), y, params, stats, w


def epochs(module, X, y, params, order, n_threads, n_epochs=2, **kw):
    p = [a.copy() for a in params]
    v = [np.zeros_like(a) for a in params] if kw.get("momentum", 0) else None
    t, losses = 0, []
    for _ in range(n_epochs):
        loss, t = module.sgd_epoch(X, y, p, order, velocities=v, t=t, n_threads=n_threads,
                                   **kw)
        losses.append(loss)
    return losses, p + (v or [])


def assert_close(got, expected, tol):
    np.testing.assert_allclose(got[0], expected[0], rtol=tol)
    for a, e in zip(got[1], expected[1]):
        assert a.dtype == e.dtype
        assert np.abs(a - e).max() <= tol * max(np.abs(e).max(), 1e-30)


def assert_identical(a, b):
    assert a[0] == b[0]
    for p, q in zip(a[1], b[1]):
        np.testing.assert_array_equal(p, q)


RULES = {"plain": {}, "L2": {"alpha": 0.01}, "momentum": {"momentum": 0.9, "alpha": 0.001},
         "nesterov": {"momentum": 0.8, "nesterov": True}}


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("batch_size", [1, 16, None])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_equal_one_thread_and_repeat_exactly(dtype, sparse, batch_size, rule,
                                                     standardize):
    X, y, params, stats, w = problem(dtype, sparse)
    order = np.random.default_rng(1).permutation(len(y))
    kw = dict(eta0=0.02, batch_size=len(y) if batch_size is None else batch_size,
              sample_weight=w, **RULES[rule], **(stats if standardize else {}))
    one = epochs(fast, X, y, params, order, 1, **kw)
    two = epochs(fast, X, y, params, order, 2, **kw)
    assert_close(two, one, TOL[dtype])
    assert_identical(two, epochs(fast, X, y, params, order, 2, **kw))
    if batch_size == 16 and rule in ("plain", "nesterov"):
        three = epochs(fast, X, y, params, order, 3, **kw)
        assert_close(three, one, TOL[dtype])
        assert_identical(three, epochs(fast, X, y, params, order, 3, **kw))
        assert_close(two, epochs(net, X, y, params, order, 1, **kw), TOL[dtype])


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_estimator_n_jobs_two_fits_the_n_jobs_one_model(sparse):
    X, y, _, _, _ = problem(np.float64, sparse, n=200)
    fits = []
    for n_jobs in (1, 2, 2):
        est = MLPClassifier(hidden_size=64, max_iter=3, random_state=0, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(est.fit(X, y))
    one, two, again = ([*f.coefs_, *f.intercepts_] for f in fits)
    for a, b, c in zip(two, one, again):
        assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max()
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(fits[1].predict(X), fits[0].predict(X))


def _blas_threads(threadpoolctl):
    return [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]


def test_blas_threads_are_restored_after_threaded_epochs():
    """One threaded epoch, then several at once from Python threads (their
    BLAS limits overlap): BLAS's thread counts end as they began."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = _blas_threads(threadpoolctl)
    X, y, params, _, _ = problem(np.float64, False)
    order = np.arange(len(y), dtype=np.intp)
    single = epochs(fast, X, y, params, order, 2, eta0=0.1, batch_size=32)
    assert _blas_threads(threadpoolctl) == before
    results = [None] * 4

    def work(i):
        results[i] = epochs(fast, X, y, params, order, 2, n_epochs=3 if i % 2 else 2,
                            eta0=0.1, batch_size=32)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert _blas_threads(threadpoolctl) == before
    assert_identical(results[0], single)
    assert_identical(results[2], single)
