"""``n_jobs``: the thread count of one fit.

* ``resolve_n_jobs``: 1 → 1, None/-1 → every core, k → k, anything else a
  ValueError; the kernels' (and the reference's) ``n_threads`` is checked
  the same way.
* Every estimator takes ``n_jobs``; ``n_jobs=1`` (the default) trains
  exactly as before, on either backend.
* The dense linear kernel's full-batch gradient on T threads (T row chunks,
  summed in chunk order) equals the one-thread gradient and the NumPy
  reference to rounding, and is the same on every run; so are full-batch
  fits with n_jobs=2.
* Its parallel per-sample epoch (lock-free, docs/math.md "Threads"): with
  the slices run one after another (``_sequential_slices``, as a build
  without OpenMP runs them) it is the serial epoch to rounding, which checks
  its bookkeeping of the per-thread working copies, lazy scales, averages
  and step counts; run on threads, its held-out accuracy on real data is
  within 0.01 of n_jobs=1's; and the GIL stays free for other Python
  threads meanwhile.
* Without OpenMP in the build (``_OPENMP`` False), n_jobs > 1 trains on one
  thread, exactly as n_jobs=1, with one SerialFallbackWarning per process
  (CI builds a copy with FASTLIN_OPENMP=0 and runs this file against it).
"""
import functools
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastlin
from conftest import child_env
from test_threads import _runs_beside
from estimator_cases import BACKENDS, NAMES, fitted_arrays, make, make_data, quiet_fit
from fastlin import SerialFallbackWarning, _linear_fast, _mlp_fast, _sparse_fast
from fastlin._parallel import available_cores, check_n_threads, resolve_n_jobs
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network

KERNELS = [_linear_fast, _mlp_fast, _sparse_fast]
OPENMP = _linear_fast._OPENMP


# --------------------------------------------------------------------------
# resolve_n_jobs and n_threads

def test_resolve_n_jobs_values():
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(3) == 3
    assert resolve_n_jobs(np.int64(2)) == 2 and type(resolve_n_jobs(np.int64(2))) is int
    cores = available_cores()
    assert cores >= 1
    assert resolve_n_jobs(None) == cores
    assert resolve_n_jobs(-1) == cores
    if hasattr(os, "sched_getaffinity"):
        assert cores == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad", [0, -2, -10, 1.0, 2.5, "2", True, False, [2], np.float64(2)])
def test_resolve_n_jobs_rejects(bad):
    with pytest.raises(ValueError, match="n_jobs"):
        resolve_n_jobs(bad)


@pytest.mark.parametrize("bad", [0, -1, None, 1.5, "1", True])
def test_check_n_threads_rejects(bad):
    with pytest.raises(ValueError, match="n_threads"):
        check_n_threads(bad)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [0, -3, 1.5, "all"])
def test_estimators_reject_bad_n_jobs(name, bad):
    X, y = make_data(name)
    est = make(name, n_jobs=bad)
    with pytest.raises(ValueError, match="n_jobs"):
        est.fit(X, y)
    assert not hasattr(est, "n_features_in_")


def _linear_args(c=1, n=30, m=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    if c == 1:
        y, loss = (X[:, 0] > 0).astype(np.float64), "log_loss"
    else:
        y, loss = rng.integers(0, c, n).astype(np.intp), "softmax"
    return X, y, np.zeros((m, c)), np.zeros(c), loss


@pytest.mark.parametrize("bad", [0, -1, 2.0, None])
def test_kernel_entry_points_check_n_threads(bad):
    X, y, W, b, loss = _linear_args()
    order = np.arange(len(X), dtype=np.intp)
    import scipy.sparse as sp
    for module, data in ((_linear_fast, X), (ref_linear, X), (_sparse_fast, sp.csr_matrix(X))):
        with pytest.raises(ValueError, match="n_threads"):
            module.sgd_epoch(data, y, W, b, order, loss, eta0=0.1, n_threads=bad)
        with pytest.raises(ValueError, match="n_threads"):
            module.gradient(data, y, W, b, loss, n_threads=bad)
    Xn, yn = make_data("MLPClassifier")
    params = fastlin._numeric.init_network_params(Xn.shape[1], 3, 3, np.random.default_rng(0),
                                                  np.float64)
    for module in (_mlp_fast, ref_network):
        with pytest.raises(ValueError, match="n_threads"):
            module.sgd_epoch(Xn, yn.astype(np.intp), params, np.arange(len(Xn), dtype=np.intp),
                             eta0=0.1, n_threads=bad)


# --------------------------------------------------------------------------
# the estimators

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_n_jobs_default_is_one_and_one_is_the_serial_fit(name, backend):
    """n_jobs=1 is the default, and an explicit n_jobs=1 gives bit for bit
    the parameters of a fit without it."""
    X, y = make_data(name, n=60)
    default = make(name, backend=backend)
    assert default.get_params()["n_jobs"] == 1
    a = fitted_arrays(quiet_fit(default, X, y))
    b = fitted_arrays(quiet_fit(make(name, backend=backend, n_jobs=1), X, y))
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_backend_takes_any_n_jobs(name):
    """The NumPy reference does not use threads: every n_jobs trains exactly
    as n_jobs=1 there, without a warning."""
    X, y = make_data(name, n=60)
    a = fitted_arrays(quiet_fit(make(name, backend="numpy"), X, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SerialFallbackWarning)
        b = fitted_arrays(quiet_fit(make(name, backend="numpy", n_jobs=-1), X, y))
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("module", KERNELS, ids=lambda m: m.__name__)
def test_openmp_flag_is_a_bool(module):
    assert module._OPENMP is OPENMP


# --------------------------------------------------------------------------
# the build without OpenMP

FALLBACK = textwrap.dedent("""
    import warnings
    import numpy as np
    import fastlin
    from fastlin import SerialFallbackWarning, _linear_fast
    assert _linear_fast._OPENMP is False
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int)
    def fit(n_jobs, **kw):
        return fastlin.LogisticRegression(n_jobs=n_jobs, max_iter=3, tol=None,
                                          random_state=0, **kw).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        serial = fit(1)
        assert not [w for w in caught if w.category is SerialFallbackWarning]
        for batch_size in (1, None):
            a, b = fit(1, batch_size=batch_size), fit(2, batch_size=batch_size)
            assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.intercept_, b.intercept_)
        fit(None)
        fastlin.MLPClassifier(hidden_size=3, max_iter=1, tol=None, n_jobs=2).fit(X, y)
    fallback = [w for w in caught if w.category is SerialFallbackWarning]
    assert len(fallback) == 1, [str(w.message) for w in fallback]
    assert "OpenMP" in str(fallback[0].message)
    print("fallback ok")
""")


def test_n_jobs_without_openmp_runs_serially_and_warns_once():
    """In a build without OpenMP (CI's FASTLIN_OPENMP=0 copy), n_jobs > 1
    trains exactly as n_jobs=1 and warns once per process (a fresh process,
    so that no earlier test has used up the warning); with OpenMP, n_jobs > 1
    never warns."""
    if OPENMP:
        X, y = make_data("LogisticRegression-log", n=60)
        with warnings.catch_warnings():
            warnings.simplefilter("error", SerialFallbackWarning)
            quiet_fit(make("LogisticRegression-log", n_jobs=2), X, y)
            quiet_fit(make("LogisticRegression-log", n_jobs=None), X, y)
        return
    out = subprocess.run([sys.executable, "-c", FALLBACK], env=child_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fallback ok" in out.stdout


# --------------------------------------------------------------------------
# the full-batch gradient on threads

FULL_CASES = [(1, "log_loss"), (1, "squared_error"), (1, "perceptron"),
              (4, "softmax_cross_entropy"), (4, "multiclass_perceptron")]


def _problem(c, loss, dtype, n=2000, m=13, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m)).astype(dtype)
    if c == 1:
        y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(dtype)
    else:
        y = (X[:, :c] + 0.5 * rng.normal(size=(n, c))).argmax(axis=1).astype(np.intp)
    W = (0.1 * rng.normal(size=(m, c))).astype(dtype)
    b = (0.1 * rng.normal(size=c)).astype(dtype)
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    return X, y, W, b, sw


def _tol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("c,loss", FULL_CASES)
def test_full_gradient_on_threads_equals_one_thread_and_the_reference(c, loss, standardize,
                                                                      dtype):
    X, y, W, b, sw = _problem(c, loss, dtype, n=2011)
    std = {}
    if standardize:
        rng = np.random.default_rng(1)
        std = {"mean": rng.normal(size=X.shape[1]), "scale": rng.uniform(0.5, 2, X.shape[1])}
    one = _linear_fast.gradient(X, y, W, b, loss, 0.01, sw, n_threads=1, **std)
    ref = ref_linear.gradient(X, y, W, b, loss, 0.01, sw, **std)
    tol = _tol(dtype)
    for n_threads in (2, 3, 7):
        many = _linear_fast.gradient(X, y, W, b, loss, 0.01, sw, n_threads=n_threads, **std)
        again = _linear_fast.gradient(X, y, W, b, loss, 0.01, sw, n_threads=n_threads, **std)
        for a, o, r, g in zip(many, one, ref, again):
            np.testing.assert_allclose(a, o, rtol=tol, atol=tol)
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol)
            np.testing.assert_array_equal(a, g)          # the same on every run


def test_full_gradient_chunks_differ_from_one_pass_only_by_rounding():
    """The chunked sum is a different sum (it is not the one-thread pass run
    twice): on a large float32 model its result differs from the one pass
    in the last bits, while staying within the tolerance."""
    X, y, W, b, sw = _problem(1, "log_loss", np.float32, n=20000, m=50)
    one = _linear_fast.gradient(X, y, W, b, "log_loss", 0.0, sw, n_threads=1)[1]
    two = _linear_fast.gradient(X, y, W, b, "log_loss", 0.0, sw, n_threads=2)[1]
    assert not np.array_equal(one, two)
    np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["SoftmaxRegression", "LogisticRegression-log",
                                  "LinearRegression", "MulticlassPerceptron"])
@pytest.mark.parametrize("standardize", [False, True])
def test_full_batch_fit_with_two_jobs_equals_one_job(name, standardize):
    X, y = make_data(name, n=1500, m=8, c=4)
    kw = dict(batch_size=None, max_iter=20, standardize=standardize, average=True,
              alpha=1e-3, learning_rate=0.1)
    one = fitted_arrays(quiet_fit(make(name, **kw), X, y))
    two = [fitted_arrays(quiet_fit(make(name, n_jobs=2, **kw), X, y)) for _ in range(2)]
    for p, q, r in zip(one, *two):
        np.testing.assert_allclose(q, p, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(q, r)


# --------------------------------------------------------------------------
# the parallel per-sample epoch

SAMPLE_CASES = [(1, "log_loss"), (1, "squared_error"), (1, "perceptron"),
                (3, "softmax_cross_entropy"), (3, "multiclass_perceptron")]


@pytest.fixture
def sequential_slices():
    previous = [kernel._sequential_slices(True) for kernel in (_linear_fast, _sparse_fast)]
    yield
    for kernel, setting in zip((_linear_fast, _sparse_fast), previous):
        kernel._sequential_slices(setting)


def _rows(X, sparse, seed=0, fill=0.1):
    """X as given (dense), or as a CSR of about ``fill`` of its entries (int64
    indices for float32 data, int32 for float64: both index types). The CSR
    kernel's threads need rows of at most 1/8 of the columns on average."""
    if not sparse:
        return X
    keep = np.random.default_rng(seed).random(X.shape) < fill
    A = sp.csr_matrix(np.where(keep, X, 0).astype(X.dtype))
    if A.dtype == np.float32:
        A.indices, A.indptr = A.indices.astype(np.int64), A.indptr.astype(np.int64)
    return A


def _kernel(sparse):
    return _sparse_fast if sparse else _linear_fast


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.02])
@pytest.mark.parametrize("c,loss", SAMPLE_CASES)
def test_parallel_epoch_with_sequential_slices_is_the_serial_epoch(
        sequential_slices, c, loss, alpha, standardize, dtype, sparse):
    """Run one after another, the threads' slices make one pass over the
    order; so the parallel epoch's bookkeeping (the dense kernel's working
    copies synced every few steps; the CSR kernel's rounds, published
    changes and merges), per-thread lazy scales, averages (continuing
    t₀ = 7 earlier steps) and losses must give the serial epoch's results,
    to rounding."""
    X, y, W0, b0, sw = _problem(c, loss, dtype, n=3001, m=40 if sparse else 9, seed=2)
    X = _rows(X, sparse)
    order = np.random.default_rng(3).permutation(X.shape[0]).astype(np.intp)
    std = {}
    if standardize:
        rng = np.random.default_rng(4)
        std = {"mean": rng.normal(size=X.shape[1]), "scale": rng.uniform(0.5, 2, X.shape[1])}
    results = []
    for n_threads in (1, 2, 5):
        W, b = W0.copy(), b0.copy()
        W_avg, b_avg = 0.5 * W0, 0.5 * b0
        loss_value, t = _kernel(sparse).sgd_epoch(
            X, y, W, b, order, loss, eta0=0.05, alpha=alpha, t=7, sample_weight=sw,
            W_avg=W_avg, b_avg=b_avg, n_threads=n_threads, **std)
        results.append((loss_value, t, W, b, W_avg, b_avg))
    tol = _tol(dtype)
    serial = results[0]
    assert serial[1] == 7 + X.shape[0]
    for parallel in results[1:]:
        assert parallel[1] == serial[1]
        np.testing.assert_allclose(parallel[0], serial[0], rtol=1e-12)
        for p, q in zip(parallel[2:], serial[2:]):
            np.testing.assert_allclose(p, q, rtol=tol, atol=tol)


def test_parallel_csr_epoch_with_sequential_slices_folds_the_scale(sequential_slices):
    """A shrink strong enough that the lazy scale is folded into the weights
    (ηα = 0.0015: σ falls below 2e-6, where the parallel epoch folds between
    rounds, after about 8,700 of the 12,004 steps, and below 1e-6, where the
    serial epoch folds, after about 9,200), with averaging: still the serial
    epoch, to rounding."""
    X, y, W0, b0, sw = _problem(1, "log_loss", np.float64, n=3001, m=40, seed=2)
    X = _rows(X, True)
    order = np.tile(np.random.default_rng(3).permutation(X.shape[0]), 4).astype(np.intp)
    kw = dict(eta0=1.0, alpha=0.0015, schedule="constant", sample_weight=sw,
              mean=np.full(40, 0.1), scale=np.full(40, 2.0))
    out = []
    for n_threads in (1, 2):
        W, b, W_avg, b_avg = W0.copy(), b0.copy(), np.zeros_like(W0), np.zeros_like(b0)
        _sparse_fast.sgd_epoch(X, y, W, b, order, "log_loss", n_threads=n_threads,
                               W_avg=W_avg, b_avg=b_avg, **kw)
        out.append((W, b, W_avg, b_avg))
    # the two fold at different steps, with the scale near 1e-6: the updates
    # held in V until then are divided by it, and so are their rounding errors
    for p, q in zip(*out):
        np.testing.assert_allclose(p, q, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_parallel_epoch_needs_enough_samples_per_thread(sparse):
    """Fewer than MIN_SLICE samples per thread: the serial epoch, exactly
    (bit for bit), whatever n_threads says."""
    X, y, W0, b0, sw = _problem(1, "log_loss", np.float64, n=200)
    X = _rows(X, sparse)
    order = np.arange(X.shape[0], dtype=np.intp)
    out = []
    for n_threads in (1, 2):
        W, b = W0.copy(), b0.copy()
        _kernel(sparse).sgd_epoch(X, y, W, b, order, "log_loss", eta0=0.1,
                                  n_threads=n_threads)
        out.append((W, b))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    W, b = W0.copy(), b0.copy()
    _kernel(sparse).sgd_epoch(X, y, W, b, order, "log_loss", eta0=0.1, n_threads=3)
    np.testing.assert_array_equal(out[0][0], W)


def test_parallel_csr_epoch_with_a_strong_shrink_runs_serially():
    """η α = 0.005 at the first step: rounds of 64 steps would shrink each
    thread's view by about 27% unseen by the others, so the CSR epoch runs
    on one thread: the serial epoch, bit for bit."""
    X, y, W0, b0, sw = _problem(1, "log_loss", np.float64, n=3000)
    X = _rows(X, True)
    order = np.random.default_rng(1).permutation(X.shape[0]).astype(np.intp)
    out = []
    for n_threads in (1, 2):
        W, b = W0.copy(), b0.copy()
        _sparse_fast.sgd_epoch(X, y, W, b, order, "log_loss", eta0=0.5, alpha=0.01,
                               n_threads=n_threads)
        out.append((W, b))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


@functools.lru_cache(maxsize=None)
def _sparse_problem(c, n=20000, m=4000, per_row=12, seed=5):
    """Rows of 12 uniform(0, 1) entries at random columns among m = 4,000 (a
    CSR; a repeated column counts as the sum), labels from a noisy linear
    rule (c = 1: 0/1; else the argmax of c scores)."""
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, m, size=n * per_row)
    X = sp.csr_matrix((rng.random(n * per_row), indices, np.arange(0, n * per_row + 1,
                                                                      per_row)), shape=(n, m))
    S = X @ rng.normal(size=(m, max(c, 1))) + 0.1 * rng.normal(size=(n, max(c, 1)))
    y = (S[:, 0] > 0).astype(np.float64) if c == 1 else S.argmax(axis=1).astype(np.intp)
    return X, y


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("c,loss", [(1, "log_loss"), (3, "softmax_cross_entropy")])
def test_parallel_csr_epoch_on_threads_descends_like_the_serial_one(c, loss, standardize):
    """The same for the CSR kernel's lanes, on sparse rows, raw and centred
    (where every step changes every weight, through the rank-one term the
    lanes publish to each other): the objective after the epoch is at most
    2% above the serial epoch's (it may come out below; a serial epoch over
    another shuffled order differs from it by about as much)."""
    X, y = _sparse_problem(c)
    m = X.shape[1]
    std = {}
    if standardize:
        rng = np.random.default_rng(7)
        std = {"mean": np.asarray(X.mean(axis=0)).reshape(-1),
               "scale": rng.uniform(0.05, 0.3, m)}
    order = np.random.default_rng(6).permutation(X.shape[0]).astype(np.intp)
    W0, b0 = np.zeros((m, c)), np.zeros(c)
    after = {}
    for n_threads in (1, 2):
        W, b = W0.copy(), b0.copy()
        _, t = _sparse_fast.sgd_epoch(X, y, W, b, order, loss,
                                      eta0=0.002 if standardize else 0.1, alpha=1e-4,
                                      n_threads=n_threads, **std)
        assert t == X.shape[0]
        assert np.isfinite(W).all() and np.isfinite(b).all()
        after[n_threads] = ref_linear.gradient(X, y, W, b, loss, 1e-4, **std)[0]
    start = ref_linear.gradient(X, y, W0, b0, loss, 1e-4, **std)[0]
    assert after[1] < 0.9 * start
    assert after[2] <= 1.02 * after[1]


def _held_out(load, est_factory, n_jobs, sparse=False, seeds=range(4)):
    sklearn = pytest.importorskip("sklearn")  # noqa: F841 (the test extra has it)
    from sklearn.model_selection import train_test_split

    X, y = load(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0,
                                              stratify=y)
    if sparse:
        X_tr, X_te = sp.csr_matrix(X_tr), sp.csr_matrix(X_te)
    return np.mean([est_factory(n_jobs, seed).fit(X_tr, y_tr).score(X_te, y_te)
                    for seed in seeds])


REAL = {
    "LogisticRegression": ("load_breast_cancer", lambda j, s: fastlin.LogisticRegression(
        batch_size=1, n_jobs=j, random_state=s, max_iter=20, tol=None)),
    "Perceptron": ("load_breast_cancer", lambda j, s: fastlin.Perceptron(
        n_jobs=j, random_state=s, max_iter=20, tol=None)),
    "SoftmaxRegression": ("load_digits", lambda j, s: fastlin.SoftmaxRegression(
        batch_size=1, n_jobs=j, random_state=s, max_iter=10, tol=None)),
    "MulticlassPerceptron": ("load_digits", lambda j, s: fastlin.MulticlassPerceptron(
        n_jobs=j, random_state=s, max_iter=10, tol=None)),
}


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("name", list(REAL))
def test_parallel_sgd_held_out_accuracy_matches_one_job(name, sparse):
    """Lock-free per-sample SGD on 2 threads costs at most 0.01 of the
    held-out accuracy of n_jobs=1 (the mean over 4 seeds) on real data, raw
    and standardized in the step (the default), given as an array or as a
    CSR (the sparse kernel's lanes). (Its interleaving of steps is not
    deterministic: it may also come out above.)"""
    from sklearn import datasets

    loader, factory = REAL[name]
    load = getattr(datasets, loader)
    one = _held_out(load, factory, 1, sparse)
    two = _held_out(load, factory, 2, sparse)
    assert one > 0.9
    assert two >= one - 0.01, (one, two)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("batch_size", [1, None])
def test_python_thread_runs_beside_a_parallel_kernel(batch_size, sparse):
    """The threaded kernels release the GIL for their whole call: the main
    thread runs Python code while a 2-thread epoch (per-sample, or the
    full-batch gradient) runs in another thread (``_runs_beside``, with the
    interpreter's switch interval so high that only a released GIL lets it
    in); and the weights come out sound."""
    X, y, W, b, _ = _problem(1, "log_loss", np.float64, n=20000, m=60)
    X = _rows(X, sparse)
    kernel = _kernel(sparse)
    W[:] = 0
    if batch_size == 1:
        order = np.tile(np.arange(X.shape[0], dtype=np.intp), 10)

        def call():
            kernel.sgd_epoch(X, y, W, b, order, "log_loss", eta0=0.01, n_threads=2)
    else:
        def call():
            for _ in range(20):
                kernel.gradient(X, y, W, b, "log_loss", 0.0, None, n_threads=2)
    assert _runs_beside(call)
    assert np.isfinite(W).all()


def test_parallel_fit_beside_a_python_thread():
    """Fits with n_jobs=2 in two Python threads at once (four kernel threads
    on the cores): each gives what it gives alone for the deterministic
    full batch, and a sound model for the per-sample epochs."""
    X, y = make_data("LogisticRegression-log", n=4000, m=10)
    full = make("LogisticRegression-log", batch_size=None, n_jobs=2, max_iter=10)
    alone = fitted_arrays(quiet_fit(full, X, y))
    results = {}

    def fit(key, **kw):
        results[key] = quiet_fit(make("LogisticRegression-log", n_jobs=2, max_iter=10, **kw),
                                 X, y)

    threads = [threading.Thread(target=fit, args=("full",), kwargs={"batch_size": None}),
               threading.Thread(target=fit, args=("sample",), kwargs={"batch_size": 1})]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for p, q in zip(fitted_arrays(results["full"]), alone):
        np.testing.assert_array_equal(p, q)
    assert results["sample"].score(X, y) > 0.85


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_fit_holds_blas_to_one_thread_while_its_kernels_run(monkeypatch, sparse):
    """With n_jobs=2 every epoch of a fit runs with the loaded BLAS limited
    to one thread (a threaded BLAS call between epochs would leave its
    threads spinning on the kernel's cores), and BLAS's thread counts end as
    they began; with n_jobs=1, or a build without OpenMP (whose fits run on
    one thread whatever n_jobs says), BLAS is left as it is."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    kernel = _kernel(sparse)
    seen = []

    def spy_on(name, epochs_of):
        real = getattr(kernel, name)

        def spy(*args, **kwargs):
            seen.extend([blas_threads()] * epochs_of(args))
            return real(*args, **kwargs)

        monkeypatch.setattr(kernel, name, spy)

    # one epoch per call, or (a small X) several: one per row of the orders
    spy_on("sgd_epoch", lambda args: 1)
    if hasattr(kernel, "sgd_epochs"):
        spy_on("sgd_epochs", lambda args: len(args[4]))
    X, y = make_data("LogisticRegression-log", n=600, m=10)
    X = _rows(X, sparse, fill=0.5) if sparse else X
    quiet_fit(make("LogisticRegression-log", n_jobs=2, max_iter=3), X, y)
    limited = [1] * len(before) if OPENMP else before
    assert seen == [limited] * 3
    assert blas_threads() == before
    seen.clear()
    quiet_fit(make("LogisticRegression-log", n_jobs=1, max_iter=3), X, y)
    assert seen == [before] * 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_standardization_and_step_passes_on_threads_equal_one_thread(dtype, weighted):
    """The fit's one-off passes over a dense X, the statistics (blocks of
    rows, merged in order) and the automatic step's row norms, give the
    same bits on 1, 2 and 3 threads, and NumPy's numbers."""
    from fastlin._auto_step import summarize
    from fastlin._base import weighted_moments

    rng = np.random.default_rng(5)
    X = (rng.normal(size=(20011, 13)) * rng.uniform(0.1, 50, 13) + 3).astype(dtype)
    w = rng.uniform(0, 2, X.shape[0]) if weighted else None
    runs = [weighted_moments(X, w, n_threads=k) for k in (1, 2, 3)]
    for total, mean, M2 in runs[1:]:
        assert total == runs[0][0]
        np.testing.assert_array_equal(mean, runs[0][1])
        np.testing.assert_array_equal(M2, runs[0][2])
    X64, w64 = X.astype(np.float64), np.ones(X.shape[0]) if w is None else w
    mean = np.average(X64, axis=0, weights=w64)
    np.testing.assert_allclose(runs[0][1], mean, rtol=1e-10)
    np.testing.assert_allclose(runs[0][2], w64 @ (X64 - mean) ** 2, rtol=1e-9)

    scale = np.sqrt(runs[0][2] / runs[0][0])
    norms = [_linear_fast.row_square_norms(X, mean, scale, n_threads=k) for k in (1, 2, 3)]
    for r in norms[1:]:
        np.testing.assert_array_equal(r, norms[0])
    Z = (X64 - mean) / scale
    np.testing.assert_allclose(norms[0], np.einsum("ij,ij->i", Z, Z), rtol=1e-10)
    summaries = [summarize(X, w, mean, scale, 1.0, 8, n_threads=k) for k in (1, 2)]
    assert summaries[0][0] == summaries[1][0]
    np.testing.assert_array_equal(summaries[0][1], summaries[1][1])


def test_block_moments_blocks():
    """block_moments gives each block of ``rows`` rows its own moments (the
    last block short), and rejects a negative block size."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(23, 4))
    totals, means, M2s = _linear_fast.block_moments(X, None, 10, n_threads=2)
    assert totals.tolist() == [10, 10, 3]
    for k, (lo, hi) in enumerate([(0, 10), (10, 20), (20, 23)]):
        np.testing.assert_allclose(means[k], X[lo:hi].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(M2s[k], ((X[lo:hi] - X[lo:hi].mean(axis=0)) ** 2).sum(axis=0),
                                   rtol=1e-12)
    assert _linear_fast.block_moments(X)[0].tolist() == [23]
    with pytest.raises(ValueError, match="rows"):
        _linear_fast.block_moments(X, None, -1)


def test_block_moments_take_read_only_arrays():
    rng = np.random.default_rng(7)
    X, w = rng.normal(size=(50, 3)), rng.uniform(0.5, 1.5, 50)
    X.flags.writeable = w.flags.writeable = False
    totals, means, _ = _linear_fast.block_moments(X, w, 20, n_threads=2)
    np.testing.assert_allclose(totals, [w[:20].sum(), w[20:40].sum(), w[40:].sum()])
    np.testing.assert_allclose(means[2], w[40:] @ X[40:] / w[40:].sum())


@pytest.mark.parametrize("backend", BACKENDS)
def test_pre_epoch_passes_take_the_fit_threads_with_the_kernels_only(monkeypatch, backend):
    """The statistics and the automatic step's norms run on n_jobs threads
    with the compiled kernels (one without OpenMP), on one thread with the
    NumPy reference, which never uses threads."""
    import fastlin._auto_step as auto_step
    import fastlin._base as base

    seen = {}
    moments, summarize = base.weighted_moments, auto_step.summarize

    def record_moments(A, sw=None, n_threads=1):
        seen.setdefault("moments", n_threads)
        return moments(A, sw, n_threads)

    def record_summarize(*args):
        seen["norms"] = args[-1]
        return summarize(*args)

    monkeypatch.setattr(base, "weighted_moments", record_moments)
    monkeypatch.setattr(auto_step, "summarize", record_summarize)
    # (minibatches of the squared error: R bounds the largest batches, which
    # takes the rows' norms; a loss of bounded slope needs only their mean)
    X, y = make_data("LinearRegression", n=300, m=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastlin.LinearRegression(backend=backend, n_jobs=2, max_iter=2, tol=None,
                                 random_state=0).fit(X, y)
    expected = 1 if backend == "numpy" or not OPENMP else 2
    assert seen == {"moments": expected, "norms": expected}
