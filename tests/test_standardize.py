"""Standardization: the kernels' ``mean``/``scale`` arguments train on
z = (x − mean) / scale without forming it, and the estimators'
``standardize=True`` reports the model for raw X.

Each kernel path (per-sample, minibatch, full batch; single- and
multi-output; float32 and float64; averaging; sample weights) is compared
with the NumPy reference on the same raw X, and the reference with itself
on an explicitly standardized copy of X (made here, in the test only), which
checks the algebra."""
import warnings

import numpy as np
import pytest

import fastlin
from fastlin import _linear_fast, _mlp_fast
from fastlin._base import location_and_scale, weighted_moments
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network

TOL = {np.float64: 1e-10, np.float32: 1e-4}
LOSSES = [("squared_error", 1), ("log_loss", 1), ("softmax_cross_entropy", 3),
          ("multiclass_perceptron", 3)]


def _data(rng, n, m, dtype):
    # features far from standardized: offsets and spreads of a few units
    X = rng.normal(size=(n, m)) * rng.uniform(0.5, 5, m) + rng.normal(0, 3, m)
    return np.ascontiguousarray(X, dtype=dtype)


def _close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                               rtol=tol, atol=tol)


def _stats(X, which):
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    kw = {"both": dict(mean=mean, scale=scale), "mean": dict(mean=mean),
          "scale": dict(scale=scale)}[which]
    Z = X.astype(np.float64)
    if "mean" in kw:
        Z = Z - mean
    if "scale" in kw:
        Z = Z / scale
    return kw, np.ascontiguousarray(Z, dtype=X.dtype)


def _linear_targets(rng, loss, n, dtype):
    if loss == "squared_error":
        return rng.normal(size=n).astype(dtype)
    if loss == "log_loss":
        return rng.integers(0, 2, n).astype(dtype)
    return rng.integers(0, 3, n).astype(np.intp)


def _linear_run(module, X, y, loss, c, order, batch_size, average, sw, kw):
    m = X.shape[1]
    dtype = X.dtype.type
    W = np.full((m, c), 0.1, dtype=dtype)
    b = np.full(c, 0.2, dtype=dtype)
    W_avg = np.zeros((m, c), dtype) if average else None
    b_avg = np.zeros(c, dtype) if average else None
    t = 0
    for _ in range(3):
        loss_value, t = module.sgd_epoch(X, y, W, b, order, loss, eta0=0.01,
                                         batch_size=batch_size, alpha=0.01, t=t,
                                         sample_weight=sw, W_avg=W_avg, b_avg=b_avg, **kw)
    return loss_value, W, b, W_avg, b_avg


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss,c", LOSSES)
@pytest.mark.parametrize("batch_size", [1, 16, None])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("which", ["both", "mean", "scale"])
def test_linear_epoch_matches_reference_and_standardized_copy(dtype, loss, c, batch_size,
                                                              average, which):
    rng = np.random.default_rng(0)
    n, m = 203, 7
    X = _data(rng, n, m, dtype)
    y = _linear_targets(rng, loss, n, dtype)
    sw = rng.uniform(0.5, 2, n).astype(dtype)
    kw, Z = _stats(X, which)
    bs = n if batch_size is None else batch_size
    order = np.arange(n, dtype=np.intp) if batch_size is None else rng.permutation(n)
    kernel = _linear_run(_linear_fast, X, y, loss, c, order, bs, average, sw, kw)
    reference = _linear_run(ref_linear, X, y, loss, c, order, bs, average, sw, kw)
    copy = _linear_run(ref_linear, Z, y, loss, c, order, bs, average, sw, {})
    tol = TOL[dtype]
    for other in (reference, copy):
        for a, b in zip(kernel, other):
            if a is not None:
                _close(a, b, tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss,c", LOSSES)
def test_linear_gradient_matches_reference_and_standardized_copy(dtype, loss, c):
    rng = np.random.default_rng(1)
    n, m = 300, 6
    X = _data(rng, n, m, dtype)
    y = _linear_targets(rng, loss, n, dtype)
    sw = rng.uniform(0.5, 2, n).astype(dtype)
    kw, Z = _stats(X, "both")
    W = rng.normal(size=(m, c)).astype(dtype)
    b = rng.normal(size=c).astype(dtype)
    kernel = _linear_fast.gradient(X, y, W, b, loss, 0.1, sw, **kw)
    for other in (ref_linear.gradient(X, y, W, b, loss, 0.1, sw, **kw),
                  ref_linear.gradient(Z, y, W, b, loss, 0.1, sw)):
        for a, b_ in zip(kernel, other):
            _close(a, b_, TOL[dtype])


def test_linear_without_statistics_is_unchanged():
    """mean=None, scale=None is today's epoch, bit for bit."""
    rng = np.random.default_rng(2)
    X = _data(rng, 100, 5, np.float64)
    y = rng.normal(size=100)
    order = rng.permutation(100)
    for bs in (1, 8, 100):
        W1, b1 = np.zeros((5, 1)), np.zeros(1)
        W2, b2 = np.zeros((5, 1)), np.zeros(1)
        _linear_fast.sgd_epoch(X, y, W1, b1, order, "squared_error", eta0=0.01, batch_size=bs)
        _linear_fast.sgd_epoch(X, y, W2, b2, order, "squared_error", eta0=0.01, batch_size=bs,
                               mean=None, scale=None)
        assert np.array_equal(W1, W2) and np.array_equal(b1, b2)


def _network_run(module, X, y, params0, order, batch_size, momentum, sw, kw):
    params = [p.copy() for p in params0]
    velocities = [np.zeros_like(p) for p in params] if momentum else None
    t = 0
    for _ in range(3):
        loss, t = module.sgd_epoch(X, y, params, order, eta0=0.01, batch_size=batch_size,
                                   alpha=0.01, momentum=momentum, velocities=velocities,
                                   sample_weight=sw, t=t, **kw)
    return [loss] + params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 16, None])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("which", ["both", "mean", "scale"])
def test_network_epoch_matches_reference_and_standardized_copy(dtype, batch_size, momentum,
                                                               which):
    rng = np.random.default_rng(3)
    n, m, hidden, c = 150, 6, 5, 3
    X = _data(rng, n, m, dtype)
    y = rng.integers(0, c, n).astype(np.intp)
    sw = rng.uniform(0.5, 2, n).astype(dtype)
    kw, Z = _stats(X, which)
    params0 = [(rng.normal(size=(m, hidden)) * 0.3).astype(dtype),
               (rng.normal(size=hidden) * 0.1).astype(dtype),
               (rng.normal(size=(hidden, c)) * 0.3).astype(dtype), np.zeros(c, dtype)]
    bs = n if batch_size is None else batch_size
    order = np.arange(n, dtype=np.intp) if batch_size is None else rng.permutation(n)
    kernel = _network_run(_mlp_fast, X, y, params0, order, bs, momentum, sw, kw)
    for other in (_network_run(ref_network, X, y, params0, order, bs, momentum, sw, kw),
                  _network_run(ref_network, Z, y, params0, order, bs, momentum, sw, {})):
        for a, b in zip(kernel, other):
            _close(a, b, TOL[dtype])


@pytest.mark.parametrize("module", [_linear_fast, _mlp_fast])
def test_kernels_reject_bad_statistics(module):
    X = np.zeros((4, 3))
    order = np.arange(4, dtype=np.intp)
    if module is _linear_fast:
        def call(**kw):
            module.sgd_epoch(X, np.zeros(4), np.zeros((3, 1)), np.zeros(1), order,
                             "squared_error", eta0=0.1, **kw)
    else:
        def call(**kw):
            module.sgd_epoch(X, np.zeros(4, dtype=np.intp),
                             [np.zeros((3, 2)), np.zeros(2), np.zeros((2, 2)), np.zeros(2)],
                             order, eta0=0.1, **kw)
    with pytest.raises(ValueError):
        call(mean=np.zeros(2))
    with pytest.raises(TypeError):
        call(scale=np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError):
        call(scale=np.ones(6)[::2])


def test_weighted_moments_one_pass():
    rng = np.random.default_rng(4)
    X = _data(rng, 10007, 3, np.float32)
    w = rng.uniform(0, 2, 10007)
    mean, scale = location_and_scale(weighted_moments(X, w))
    expected_mean = np.average(X.astype(np.float64), axis=0, weights=w)
    expected_std = np.sqrt(np.average((X - expected_mean) ** 2, axis=0, weights=w))
    _close(mean, expected_mean, 1e-10)
    _close(scale, expected_std, 1e-10)
    X[:, 1] = 5.0
    mean, scale = location_and_scale(weighted_moments(X))
    assert mean[1] == 5.0 and scale[1] == 1.0


@pytest.mark.parametrize("layout", ["float64", "float32", "fortran", "int"])
def test_weighted_moments_in_every_layout(layout):
    """The compiled block pass (C-contiguous float32/float64) and the NumPy
    one (anything else): NumPy's weighted mean and variance to rounding,
    with a large offset that a one-pass Σx² − n·mean² would lose, and blocks
    without weight skipped."""
    rng = np.random.default_rng(5)
    X = 1e4 + rng.normal(size=(20011, 40))
    if layout == "float32":
        X = X.astype(np.float32)
    elif layout == "fortran":
        X = np.asfortranarray(X)
    elif layout == "int":
        X = np.round(X).astype(np.int64)
    w = rng.uniform(0, 2, X.shape[0])
    w[:5000] = 0.0          # whole blocks without weight
    moments = weighted_moments(X, w)
    mean, scale = location_and_scale(moments)
    X64 = X.astype(np.float64)
    expected_mean = np.average(X64, axis=0, weights=w)
    expected_std = np.sqrt(np.average((X64 - expected_mean) ** 2, axis=0, weights=w))
    assert moments[0] == pytest.approx(w.sum(), rel=1e-12)
    _close(mean, expected_mean, 1e-12)
    _close(scale, expected_std, 1e-9)


ESTIMATORS = ["LinearRegression", "LogisticRegression", "Perceptron", "MulticlassPerceptron",
              "SoftmaxRegression", "MLPClassifier"]


def _problem(name, rng, n=120, m=4):
    X = _data(rng, n, m, np.float64)
    if name == "LinearRegression":
        y = X @ rng.normal(size=m) * 10 + 100
    elif name in ("LogisticRegression", "Perceptron"):
        y = (X[:, 0] > X[:, 0].mean()).astype(int)
    else:
        y = np.digitize(X[:, 0], np.quantile(X[:, 0], [1 / 3, 2 / 3]))
    return X, y


def _raw_model(est):
    if hasattr(est, "coefs_"):
        return [est.coefs_[0], est.intercepts_[0]]
    return [est.coef_, est.intercept_]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_reports_the_model_of_raw_X(name):
    """The fit with standardize=True is the reference fit on an explicitly
    standardized copy (standardize=False), mapped back to the original space."""
    rng = np.random.default_rng(5)
    X, y = _problem(name, rng)
    sw = rng.uniform(0.5, 2, len(y))
    kw = dict(random_state=0, max_iter=3, tol=None)
    est = getattr(fastlin, name)(standardize=True, **kw).fit(X, y, sample_weight=sw)
    mean = np.average(X, axis=0, weights=sw)
    std = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sw))
    _close(est.scale_mean_, mean, 1e-12)
    _close(est.scale_std_, std, 1e-12)
    Z = (X - mean) / std
    target = y
    if name == "LinearRegression":
        y_mean = np.average(y, weights=sw)
        y_std = np.sqrt(np.average((y - y_mean) ** 2, weights=sw))
        target = (y - y_mean) / y_std
    plain = getattr(fastlin, name)(standardize=False, backend="numpy", **kw)
    plain.fit(Z, target, sample_weight=sw)
    W, b = _raw_model(plain)
    if name == "LinearRegression":
        W, b = W * y_std, b * y_std
        expected = [W / std, b - (mean / std) @ W + (y_mean if name == "LinearRegression" else 0)]
    elif hasattr(est, "coefs_"):
        expected = [W / std[:, None], b - (mean / std) @ W]
    else:
        expected = [W / std, b - W @ (mean / std)]
    for a, e in zip(_raw_model(est), expected):
        _close(a, e, 1e-8)
    # predictions on raw X need nothing else
    if name == "LinearRegression":
        _close(est.predict(X), plain.predict(Z) * y_std + y_mean, 1e-8)
    else:
        assert np.array_equal(est.predict(X), plain.predict(Z))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_partial_fit_keeps_first_statistics(name):
    rng = np.random.default_rng(6)
    X, y = _problem(name, rng)
    est = getattr(fastlin, name)(random_state=0)
    extra = {} if name == "LinearRegression" else {"classes": np.unique(y)}
    est.partial_fit(X[:60], y[:60], **extra)
    mean = est.scale_mean_.copy()
    est.partial_fit(X[60:] * 3 + 7, y[60:])
    assert np.array_equal(est.scale_mean_, mean)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_warm_start_and_init_convert_between_spaces(name):
    """A warm start on data of another scale continues the same raw-space
    model: zero epochs of change would publish the previous coefficients."""
    rng = np.random.default_rng(7)
    X, y = _problem(name, rng)
    extra = {} if name == "MLPClassifier" else {"average": False}
    est = getattr(fastlin, name)(random_state=0, warm_start=True, max_iter=5, tol=None, **extra)
    est.fit(X, y)
    before = [a.copy() for a in _raw_model(est)]
    state = est._init_state(X.shape[1], est._n_outputs(getattr(est, "classes_", None)),
                            X.dtype, None, continue_from=est)
    new = {"mean": est._stats["mean"] + 1.0, "scale": est._stats["scale"] * 2.0}
    if "y_scale" in est._stats:
        new.update(y_mean=3.0, y_scale=0.5)
    est._change_space(state, est._stats, new)
    state["stats"] = new
    est._publish(state)
    for a, b in zip(_raw_model(est), before):
        _close(a, b, 1e-9)


def test_coef_init_is_in_the_original_space():
    rng = np.random.default_rng(8)
    X, y = _problem("LogisticRegression", rng)
    coef = rng.normal(size=(1, X.shape[1]))
    est = fastlin.LogisticRegression(learning_rate=1e-300, max_iter=1, tol=None)
    est.fit(X, y, coef_init=coef, intercept_init=0.5)
    _close(est.coef_, coef, 1e-9)
    _close(est.intercept_, [0.5], 1e-9)


def test_defaults_fit_raw_real_data():
    """Raw breast_cancer and wine: the default models classify well."""
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.model_selection import train_test_split

    for load, names in ((load_breast_cancer, ["LogisticRegression", "MLPClassifier"]),
                        (load_wine, ["SoftmaxRegression", "MLPClassifier"])):
        X, y = load(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0, stratify=y)
        for name in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = getattr(fastlin, name)(random_state=0).fit(X_tr, y_tr).score(X_te, y_te)
            assert score >= 0.9, (load.__name__, name, score)
