"""``n_jobs``: the thread count of one fit.

* ``resolve_n_jobs``: 1 → 1, None/-1 → every core, k → k, anything else a
  ValueError; the kernels' (and the reference's) ``n_threads`` is checked
  the same way.
* Every estimator takes ``n_jobs``; ``n_jobs=1`` (the default) trains
  exactly as before, on either backend.
* Without OpenMP in the build (``_OPENMP`` False), n_jobs > 1 trains on one
  thread, exactly as n_jobs=1, with one SerialFallbackWarning per process
  (CI builds a copy with FASTLIN_OPENMP=0 and runs this file against it).
"""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import fastlin
from conftest import child_env
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
