"""Several epochs in one kernel call (``sgd_epochs``, the linear models' and
the network's): the same steps as one ``sgd_epoch`` call per epoch, on both
backends, and the estimators' fits are the same whether they use it or
not."""
import warnings

import numpy as np
import pytest
from test_linear_kernels import LOSSES, TOL, assert_close, make_problem

import fastlin._base as base
from fastlin import (ConvergenceWarning, LinearRegression, LogisticRegression, MLPClassifier,
                     MulticlassPerceptron, Perceptron, SoftmaxRegression)
from fastlin import _linear_fast as fast
from fastlin import _mlp_fast as net_fast
from fastlin.reference import linear as ref
from fastlin.reference import network as net_ref

# (batch_size, alpha, schedule, weighted, average, standardized)
CASES = [
    (1, 0.0, "constant", False, False, False),
    (1, 0.1, "invscaling", True, True, True),
    (7, 0.0, "constant", False, False, True),
    (7, 0.05, "invscaling", True, True, False),
    (40, 0.1, "constant", True, True, True),        # every epoch one full-batch step
    (40, 0.0, "constant", False, False, False),
]


def _orders(n, k, seed=1):
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(k)]).astype(np.intp)


def _arguments(case, dtype, X, sample_weight, W, b):
    batch_size, alpha, schedule, weighted, average, standardized = case
    kw = dict(eta0=0.05, batch_size=batch_size, alpha=alpha, schedule=schedule, t=3,
              sample_weight=sample_weight if weighted else None)
    if standardized:
        kw["mean"] = X.mean(axis=0).astype(np.float64) + 0.5
        kw["scale"] = X.std(axis=0).astype(np.float64) * 2.0
    if average:
        kw["W_avg"] = (W + 0.1).astype(dtype)
        kw["b_avg"] = (b - 0.1).astype(dtype)
    return kw


def _state(W, b, kw):
    """Fresh copies of the parameters and of the arguments holding state."""
    kw = dict(kw)
    for key in ("W_avg", "b_avg"):
        if kw.get(key) is not None:
            kw[key] = kw[key].copy()
    return W.copy(), b.copy(), kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("impl", [fast, ref], ids=["cython", "numpy"])
def test_several_epochs_are_the_epochs_one_by_one(impl, loss, case, dtype):
    X, y, W, b, sw, _ = make_problem(loss, dtype)
    orders = _orders(len(X), 4)
    kw = _arguments(case, dtype, X, sw, W, b)

    W1, b1, kw1 = _state(W, b, kw)
    losses, t = impl.sgd_epochs(X, y, W1, b1, orders, loss, **kw1)

    W2, b2, kw2 = _state(W, b, kw)
    one_by_one = []
    t2 = kw2.pop("t")
    for order in orders:
        epoch_loss, t2 = impl.sgd_epoch(X, y, W2, b2, order, loss, t=t2, **kw2)
        one_by_one.append(epoch_loss)

    assert losses.dtype == np.float64 and losses.shape == (4,)
    np.testing.assert_array_equal(losses, one_by_one)
    assert t == t2
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(b1, b2)
    if kw1.get("W_avg") is not None:
        np.testing.assert_array_equal(kw1["W_avg"], kw2["W_avg"])
        np.testing.assert_array_equal(kw1["b_avg"], kw2["b_avg"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("loss", LOSSES)
def test_kernel_equals_reference_over_several_epochs(loss, case, dtype):
    X, y, W, b, sw, _ = make_problem(loss, dtype)
    orders = _orders(len(X), 3)
    kw = _arguments(case, dtype, X, sw, W, b)
    out = []
    for impl in (fast, ref):
        W_, b_, kw_ = _state(W, b, kw)
        res = impl.sgd_epochs(X, y, W_, b_, orders, loss, **kw_)
        out.append((res, W_, b_, kw_.get("W_avg"), kw_.get("b_avg")))
    assert len(out[0][0][0]) == len(out[1][0][0]) == 3
    assert_close(*out, 20 * TOL[dtype])     # three epochs of rounding


@pytest.mark.parametrize("impl", [fast, ref], ids=["cython", "numpy"])
def test_the_call_stops_after_the_first_epoch_that_is_not_finite(impl):
    # squared error on huge targets with a huge step: the weights overflow in
    # the first epochs; the call must not go on stepping from inf and NaN
    X, y, W, b, _, _ = make_problem("squared_error")
    y = y * 1e200
    orders = _orders(len(X), 50)
    with np.errstate(all="ignore"):
        losses, t = impl.sgd_epochs(X, y, W, b, orders, "squared_error", eta0=10.0,
                                    batch_size=1)
    assert 1 <= len(losses) < 50
    assert t == len(losses) * len(X)
    assert np.isfinite(losses[:-1]).all()
    assert not (np.isfinite(losses[-1]) and np.isfinite(W).all() and np.isfinite(b).all())


def test_both_backends_stop_at_the_same_epoch():
    X, y, W, b, _, _ = make_problem("squared_error")
    y = y * 1e150
    orders = _orders(len(X), 50)
    lengths = []
    for impl in (fast, ref):
        with np.errstate(all="ignore"):
            losses, _ = impl.sgd_epochs(X, y, W.copy(), b.copy(), orders, "squared_error",
                                        eta0=3.0, batch_size=5)
        lengths.append(len(losses))
    assert lengths[0] == lengths[1] < 50


@pytest.mark.parametrize("impl", [fast, ref], ids=["cython", "numpy"])
@pytest.mark.parametrize("bad", [np.arange(40, dtype=np.intp),
                                 np.zeros((2, 40), dtype=np.int32),
                                 np.zeros((2, 40), dtype=np.float64),
                                 [[0, 1], [1, 0]]],
                         ids=["1-D", "int32", "float", "list"])
def test_orders_of_the_wrong_kind_are_type_errors(impl, bad):
    X, y, W, b, _, _ = make_problem("log_loss")
    with pytest.raises(TypeError, match="orders must be a 2-D numpy array of dtype intp"):
        impl.sgd_epochs(X, y, W, b, bad, "log_loss", eta0=0.1)


def test_an_order_out_of_range_is_named():
    X, y, W, b, _, _ = make_problem("log_loss")
    orders = _orders(len(X), 3)
    orders[2, 7] = len(X)
    with pytest.raises(ValueError, match=r"orders\[2, 7\] = 40 is outside 0\.\.39"):
        fast.sgd_epochs(X, y, W, b, orders, "log_loss", eta0=0.1)
    W0 = W.copy()
    order = orders[0].copy()
    order[5] = -1
    with pytest.raises(ValueError, match=r"order\[5\] = -1 is outside 0\.\.39"):
        fast.sgd_epoch(X, y, W, b, order, "log_loss", eta0=0.1)
    np.testing.assert_array_equal(W, W0)       # nothing ran


# ---- the network's kernels

def _network_problem(dtype, n=53, m=7, hidden=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)).astype(dtype)
    y = rng.integers(0, c, size=n).astype(np.intp)
    params = net_ref.init_params(m, hidden, c, random_state=seed, dtype=dtype)
    w = rng.uniform(0.2, 3.0, size=n).astype(dtype)
    return X, y, params, w


# (batch_size, alpha, momentum, nesterov, schedule, weighted, standardized, sparse)
NETWORK_CASES = [
    (10, 0.0, 0.0, False, "constant", False, False, False),
    (10, 0.02, 0.9, True, "invscaling", True, True, False),
    (1, 0.01, 0.5, False, "constant", True, False, False),
    (100, 0.0, 0.0, False, "constant", False, True, False),     # one full batch an epoch
    (8, 0.02, 0.9, True, "constant", True, True, True),
]


def _network_arguments(case, X, w):
    batch_size, alpha, momentum, nesterov, schedule, weighted, standardized, sparse = case
    kw = dict(eta0=0.3, batch_size=batch_size, alpha=alpha, momentum=momentum,
              nesterov=nesterov, schedule=schedule, t=2, sample_weight=w if weighted else None)
    if standardized:
        kw["mean"] = X.mean(axis=0).astype(np.float64) + 0.5
        kw["scale"] = X.std(axis=0).astype(np.float64) * 2.0
    return kw


def _network_state(params, momentum):
    return ([p.copy() for p in params],
            [np.full_like(p, 0.01) for p in params] if momentum else None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", NETWORK_CASES)
@pytest.mark.parametrize("impl", [net_fast, net_ref], ids=["cython", "numpy"])
def test_several_network_epochs_are_the_epochs_one_by_one(impl, case, dtype):
    import scipy.sparse as sp

    X, y, params, w = _network_problem(dtype)
    if case[-1]:
        X[np.abs(X) < 0.8] = 0
        X = sp.csr_matrix(X)
    orders = _orders(X.shape[0], 4)
    kw = _network_arguments(case, X.toarray() if case[-1] else X, w)
    momentum = kw["momentum"]

    p1, v1 = _network_state(params, momentum)
    losses, t = impl.sgd_epochs(X, y, p1, orders, velocities=v1, **kw)

    p2, v2 = _network_state(params, momentum)
    one_by_one = []
    t2 = kw.pop("t")
    for order in orders:
        epoch_loss, t2 = impl.sgd_epoch(X, y, p2, order, velocities=v2, t=t2, **kw)
        one_by_one.append(epoch_loss)

    assert losses.dtype == np.float64 and losses.shape == (4,)
    np.testing.assert_array_equal(losses, one_by_one)
    assert t == t2
    for a, b in zip(p1 + (v1 or []), p2 + (v2 or [])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", NETWORK_CASES[:4])
def test_network_kernel_equals_reference_over_several_epochs(case, dtype):
    X, y, params, w = _network_problem(dtype)
    orders = _orders(len(X), 3)
    kw = _network_arguments(case, X, w)
    out = []
    for impl in (net_fast, net_ref):
        p, v = _network_state(params, kw["momentum"])
        losses, t = impl.sgd_epochs(X, y, p, orders, velocities=v, **kw)
        out.append((losses, t, p))
    assert out[0][1] == out[1][1]
    rtol = 1e-8 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=rtol)
    for a, e in zip(out[0][2], out[1][2]):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * np.abs(e).max())


@pytest.mark.parametrize("impl", [net_fast, net_ref], ids=["cython", "numpy"])
def test_a_network_call_stops_after_the_first_epoch_that_is_not_finite(impl):
    # one row of weight 1e300 and a huge step: the parameters overflow; the
    # call must not go on stepping from inf and NaN
    X, y, params, w = _network_problem(np.float64)
    w[:] = 1.0
    w[0] = 1e300
    orders = _orders(len(X), 50)
    with np.errstate(all="ignore"):
        losses, t = impl.sgd_epochs(X, y, params, orders, eta0=1e10, batch_size=10,
                                    sample_weight=w)
    assert 1 <= len(losses) < 50
    assert t == len(losses) * 6                      # 6 batches an epoch
    assert np.isfinite(losses[:-1]).all()
    assert not (np.isfinite(losses[-1]) and all(np.isfinite(p).all() for p in params))


@pytest.mark.parametrize("impl", [net_fast, net_ref], ids=["cython", "numpy"])
@pytest.mark.parametrize("bad", [np.arange(53, dtype=np.intp),
                                 np.zeros((2, 53), dtype=np.int32), [[0, 1], [1, 0]]],
                         ids=["1-D", "int32", "list"])
def test_network_orders_of_the_wrong_kind_are_type_errors(impl, bad):
    X, y, params, _ = _network_problem(np.float64)
    with pytest.raises(TypeError, match="orders must be a 2-D numpy array of dtype intp"):
        impl.sgd_epochs(X, y, params, bad, eta0=0.1)


@pytest.mark.parametrize("impl", [net_fast, net_ref], ids=["cython", "numpy"])
def test_network_orders_need_not_be_contiguous(impl):
    X, y, params, _ = _network_problem(np.float64)
    wide = _orders(len(X), 6)[::2]                 # every other row: not C-contiguous
    assert not wide.flags.c_contiguous
    p1, p2 = [p.copy() for p in params], [p.copy() for p in params]
    got = impl.sgd_epochs(X, y, p1, wide, eta0=0.2, batch_size=8)
    expected = impl.sgd_epochs(X, y, p2, np.ascontiguousarray(wide), eta0=0.2, batch_size=8)
    np.testing.assert_array_equal(got[0], expected[0])
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


def test_a_network_order_out_of_range_is_named():
    X, y, params, _ = _network_problem(np.float64)
    orders = _orders(len(X), 3)
    orders[2, 7] = len(X)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=r"orders must hold sample indices in 0\.\.52"):
        net_fast.sgd_epochs(X, y, params, orders, eta0=0.1)
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)         # nothing ran


# ---- the estimators: the same fit with and without several epochs per call

def _data(kind, n=150, m=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m)) * np.logspace(-1, 2, m) + 3.0
    score = (X - X.mean(axis=0)) / X.std(axis=0) @ rng.normal(size=m)
    if kind == "reg":
        return X, 2.0 * score + rng.normal(size=n)
    if kind == "bin":
        return X, (score + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, np.digitize(score + 0.5 * rng.normal(size=n), [-0.7, 0.7])


ESTIMATORS = [
    (LinearRegression, "reg", {}),
    (LinearRegression, "reg", {"batch_size": None, "learning_rate": 0.05, "tol": None,
                               "max_iter": 30}),
    (LogisticRegression, "bin", {}),
    (LogisticRegression, "bin", {"loss": "squared_error", "average": True}),
    (LogisticRegression, "bin", {"learning_rate_schedule": "adaptive", "max_iter": 60}),
    (LogisticRegression, "bin", {"average": 40}),         # one epoch per call
    (Perceptron, "bin", {}),
    (Perceptron, "bin", {"shuffle": False, "alpha": 1e-3, "standardize": False}),
    (MulticlassPerceptron, "multi", {"class_weight": "balanced"}),
    (SoftmaxRegression, "multi", {}),
    (SoftmaxRegression, "multi", {"batch_size": 1, "tol": None, "max_iter": 12}),
    (SoftmaxRegression, "multi", {"dtype": np.float32}),
    (MLPClassifier, "multi", {"hidden_size": 8}),
    (MLPClassifier, "bin", {"hidden_size": 8, "momentum": 0.0, "max_iter": 30}),
    (MLPClassifier, "multi", {"hidden_size": 8, "learning_rate_schedule": "adaptive",
                              "max_iter": 60, "dtype": np.float32}),
]


def _fit(cls, kind, params, backend, **extra):
    params = dict(params)
    dtype = params.pop("dtype", np.float64)
    X, y = _data(kind)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(random_state=0, backend=backend, **params, **extra).fit(
            X.astype(dtype), y, sample_weight=sw)


def _same_fit(a, b):
    if hasattr(a, "coefs_"):
        pairs = zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_)
    else:
        pairs = [(a.coef_, b.coef_), (a.intercept_, b.intercept_)]
    for x, z in pairs:
        np.testing.assert_array_equal(x, z)
    assert a.loss_curve_ == b.loss_curve_
    assert (a.n_iter_, a.t_) == (b.n_iter_, b.t_)
    # the generator is where the one-epoch-per-call fit left it
    assert a._rng.bit_generator.state == b._rng.bit_generator.state


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("cls, kind, params", ESTIMATORS,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(ESTIMATORS)])
def test_a_fit_is_the_same_with_one_epoch_per_call(monkeypatch, cls, kind, params, backend):
    several = _fit(cls, kind, params, backend)
    monkeypatch.setattr(base, "CHUNK_ORDER_ENTRIES", 0)       # one epoch per call
    one = _fit(cls, kind, params, backend)
    _same_fit(several, one)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_small_fit_runs_several_epochs_per_call(monkeypatch, backend):
    # so that the test above compares two different ways of running a fit
    module = fast if backend == "cython" else ref
    calls, inside = [], []
    several, one = module.sgd_epochs, module.sgd_epoch

    def spy_several(*args, **kwargs):
        calls.append(len(args[4]))
        inside.append(True)         # the reference's sgd_epochs calls its sgd_epoch
        try:
            return several(*args, **kwargs)
        finally:
            inside.pop()

    def spy_one(*args, **kwargs):
        if not inside:
            calls.append(1)
        return one(*args, **kwargs)

    monkeypatch.setattr(module, "sgd_epochs", spy_several)
    monkeypatch.setattr(module, "sgd_epoch", spy_one)
    est = _fit(SoftmaxRegression, "multi", {}, backend)
    assert max(calls) == est.n_iter_no_change       # a call of several epochs
    assert sum(calls) == est.n_iter_                # every epoch in some call
    assert len(calls) < est.n_iter_


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_small_network_fit_runs_several_epochs_per_call(monkeypatch, backend):
    module = net_fast if backend == "cython" else net_ref
    calls = []
    several = module.sgd_epochs

    def spy_several(*args, **kwargs):
        calls.append(len(args[3]))
        return several(*args, **kwargs)

    monkeypatch.setattr(module, "sgd_epochs", spy_several)
    est = _fit(MLPClassifier, "multi", {"hidden_size": 8}, backend)
    assert max(calls) == est.n_iter_no_change
    assert sum(calls) <= est.n_iter_ < sum(calls) + len(calls) + 1


def test_a_call_never_holds_more_than_its_share_of_orders(monkeypatch):
    # the (k, n) orders of one call stay within CHUNK_ORDER_ENTRIES (a last
    # single epoch goes through sgd_epoch)
    calls = []
    several, one = fast.sgd_epochs, fast.sgd_epoch

    def spy_several(*args, **kwargs):
        calls.append(args[4].shape)
        return several(*args, **kwargs)

    def spy_one(*args, **kwargs):
        calls.append((1, len(args[4])))
        return one(*args, **kwargs)

    monkeypatch.setattr(fast, "sgd_epochs", spy_several)
    monkeypatch.setattr(fast, "sgd_epoch", spy_one)
    _fit(LogisticRegression, "bin", {"tol": None, "max_iter": 40}, "cython")
    assert all(k * n <= base.CHUNK_ORDER_ENTRIES for k, n in calls)
    assert max(k for k, _ in calls) == base.CHUNK_ORDER_ENTRIES // 150
    assert sum(k for k, _ in calls) == 40
