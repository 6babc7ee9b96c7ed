"""Numerics at the extremes: scores of magnitude up to 1e300 give finite
losses and gradients in every loss, through the Cython kernels' public
functions (``sgd_epoch``, ``gradient``; the per-sample losses one by one are
in tests/test_losses.py) and the NumPy reference alike; a diverging fit ends with DivergenceError,
never with NaN parameters.

The one stated exception: squared error's value ½ (s − y)² overflows to inf
by nature once |s| > ~1e154 (its derivative s − y stays finite); it must be
inf, never NaN.
"""
import warnings

import numpy as np
import pytest

from estimator_cases import BACKENDS, NAMES, fitted_arrays, kind, make, make_data
from fastlin import DivergenceError, LinearRegression, MLPClassifier, NotFittedError
from fastlin import _linear_fast, _mlp_fast
from fastlin._losses import MULTI_OUTPUT, SINGLE_OUTPUT
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network

LINEAR_MODULES = {"cython": _linear_fast, "numpy": ref_linear}
NETWORK_MODULES = {"cython": _mlp_fast, "numpy": ref_network}
SINGLE = list(SINGLE_OUTPUT)
MULTI = list(MULTI_OUTPUT)
# the largest scale each dtype holds with room for a sum of a few terms
SCALES = {np.float64: [1e4, 1e30, 1e150, 1e300], np.float32: [1e4, 1e30]}
DTYPE_SCALES = [(dtype, s) for dtype, scales in SCALES.items() for s in scales]


def _problem(loss, scale, where, dtype):
    """(X, y, W, b) whose scores are ±scale (and 0 for one row, a tie for the
    multi-class models), made large by X (``where="X"``, W ~ 1), by W (X ~ 1)
    or by the intercept b. Every label meets every sign."""
    c = 3 if loss in MULTI else 1
    big_x, big_w, big_b = {"X": (scale, 1.0, 0.0), "W": (1.0, scale, 0.0),
                           "b": (0.0, 0.0, scale)}[where]
    X = big_x * np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0],
                          [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    if where == "b":
        X = np.array([[1.0, 0.5]] * 8)
    if c == 1:
        W = big_w * np.array([[1.0], [-1.0]])
        b = np.array([big_b])
        y = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.float64)
    else:
        W = big_w * np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 1.0]])
        b = big_b * np.array([1.0, -1.0, 0.0])
        y = np.array([0, 1, 2, 0, 1, 2, 1, 2], dtype=np.intp)
    if loss not in MULTI:
        y = y.astype(dtype)
    return X.astype(dtype), y, W.astype(dtype), b.astype(dtype)


def _squares_overflow(loss, scale, dtype):
    """Squared error's value ½ (s − y)² (and its step (s − y) x when x is as
    big as s) is O(scale²): it overflows by nature once scale² exceeds the
    dtype's range, and must then be ±inf, never NaN."""
    return loss == "squared_error" and scale > np.sqrt(np.finfo(dtype).max)


def _assert_finite_loss(loss, scale, value, dtype):
    if _squares_overflow(loss, scale, dtype):
        assert not np.isnan(value)
    else:
        assert np.isfinite(value), value


LINEAR_CASES = [pytest.param(loss, backend, dtype, scale, where,
                             id=f"{loss}-{backend}-{np.dtype(dtype).name}-{scale:g}-big{where}")
                for loss in SINGLE + MULTI for backend in LINEAR_MODULES
                for dtype, scale in DTYPE_SCALES for where in ("X", "W", "b")]


@pytest.mark.parametrize("loss,backend,dtype,scale,where", LINEAR_CASES)
def test_gradient_finite_at_huge_scores(loss, backend, dtype, scale, where):
    X, y, W, b = _problem(loss, scale, where, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no overflow/invalid warnings either
        if _squares_overflow(loss, scale, dtype):
            warnings.simplefilter("ignore")
        J, grad_W, grad_b = LINEAR_MODULES[backend].gradient(X, y, W, b, loss, 0.0, None)
    _assert_finite_loss(loss, scale, J, dtype)
    assert not np.isnan(J)
    if not (_squares_overflow(loss, scale, dtype) and where == "X"):
        # (s − y) x overflows when both are ~scale; everything else is finite
        assert np.all(np.isfinite(grad_W)) and np.all(np.isfinite(grad_b))
    assert not np.any(np.isnan(grad_W)) and not np.any(np.isnan(grad_b))
    assert grad_W.dtype == dtype and grad_b.dtype == dtype


def test_kernel_gradient_equals_reference_at_huge_scores():
    """At 1e300 the kernel and the reference agree entry by entry (the values
    are exactly determined: 0, ±1, ±scale, the saturated sigmoid)."""
    for loss in SINGLE[1:] + MULTI:
        for where in ("X", "W", "b"):
            X, y, W, b = _problem(loss, 1e300, where, np.float64)
            got = _linear_fast.gradient(X, y, W, b, loss, 0.0, None)
            want = ref_linear.gradient(X, y, W, b, loss, 0.0, None)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=0, err_msg=f"{loss} {where}")


@pytest.mark.parametrize("batch_size", [1, 3, 8])
@pytest.mark.parametrize("loss,backend,dtype,scale,where", LINEAR_CASES)
def test_sgd_step_finite_at_huge_scores(loss, backend, dtype, scale, where, batch_size):
    """One step from scores of ±scale (per sample: one sample per call, so
    no sample sees another's step): the loss before it is finite and so are
    the new weights (squared error excepted where its step is ~scale²)."""
    X, y, W0, b0 = _problem(loss, scale, where, dtype)
    module = LINEAR_MODULES[backend]
    n = X.shape[0]
    orders = ([np.array([i], dtype=np.intp) for i in range(n)] if batch_size == 1
              else [np.arange(n, dtype=np.intp)[:batch_size]])
    for order in orders:
        W, b = W0.copy(), b0.copy()
        W_avg, b_avg = W0.copy(), b0.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            epoch_loss, t = module.sgd_epoch(
                X, y, W, b, order, loss, eta0=1e-3, batch_size=batch_size, alpha=0.0,
                schedule="invscaling", t=0, W_avg=W_avg, b_avg=b_avg)
        assert t == 1
        _assert_finite_loss(loss, scale, epoch_loss, dtype)
        assert not np.isnan(epoch_loss)
        if _squares_overflow(loss, scale, dtype) and where == "X":
            continue    # the step (s − y) x is ~scale²
        for a in (W, b, W_avg, b_avg):
            assert a.dtype == dtype
            assert np.all(np.isfinite(a)), (W, b)


def test_perceptron_and_log_loss_values_at_1e300():
    """The exact values at s = ±1e300 (kernel and reference): a confident
    right answer costs 0, a confident wrong one |s|, with gradient ±1."""
    X = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    W = np.array([[1e300]])
    b = np.zeros(1)
    for module in LINEAR_MODULES.values():
        J, gW, gb = module.gradient(X, y, W, b, "log_loss", 0.0, None)
        assert J == pytest.approx((0 + 1e300 + 1e300 + 0) / 4, rel=1e-15)
        # dl/ds = σ(s) − y: 0, 1, −1, 0
        np.testing.assert_array_equal(gb, [0.0])
        np.testing.assert_allclose(gW, [[(0 + 1 + 1 + 0) / 4]], rtol=1e-15)
        J, gW, gb = module.gradient(X, y, W, b, "perceptron", 0.0, None)
        assert J == pytest.approx(2e300 / 4, rel=1e-15)


# --------------------------------------------------------------------------
# the network: output scores of ±scale through V, b2 or X

@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("where", ["X", "V", "b2"])
@pytest.mark.parametrize("dtype,scale", DTYPE_SCALES)
@pytest.mark.parametrize("backend", list(NETWORK_MODULES))
def test_network_epoch_finite_at_huge_scores(backend, dtype, scale, where, momentum):
    X = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.0], [0.0, 0.5]])
    y = np.array([0, 1, 2, 1], dtype=np.intp)
    W = np.array([[1.0, -1.0], [-1.0, 1.0]])
    b1 = np.zeros(2)
    V = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.5]])
    b2 = np.zeros(3)
    if where == "X":
        X = X * scale
    elif where == "V":
        V = V * scale
    else:
        b2 = scale * np.array([1.0, -1.0, 0.0])
    params = [a.astype(dtype) for a in (W, b1, V, b2)]
    velocities = [np.zeros_like(p) for p in params] if momentum else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, t = NETWORK_MODULES[backend].sgd_epoch(
            X.astype(dtype), y, params, np.arange(4, dtype=np.intp), eta0=1e-3,
            batch_size=4, alpha=0.0, momentum=momentum, nesterov=True,
            velocities=velocities, t=0)
    assert np.isfinite(loss) and t == 1
    for p in params:
        assert p.dtype == dtype
        assert np.all(np.isfinite(p))


def test_network_kernel_equals_reference_at_huge_scores():
    X = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.0]])
    y = np.array([0, 1, 2], dtype=np.intp)
    base = [np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2),
            1e300 * np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.5]]), np.zeros(3)]
    results = []
    for module in (ref_network, _mlp_fast):
        params = [p.copy() for p in base]
        loss, _ = module.sgd_epoch(X, y, params, np.arange(3, dtype=np.intp), eta0=0.1,
                                   batch_size=3, alpha=0.0)
        results.append((loss, params))
    (l_ref, p_ref), (l_cy, p_cy) = results
    assert l_cy == pytest.approx(l_ref, rel=1e-12)
    for a, b in zip(p_cy, p_ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------
# estimators: extreme but valid inputs, and divergence

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_predictions_finite_with_huge_parameters(name, backend):
    """predict_proba and decision_function from scores of ~1e300 (a fit on
    tiny-scale X with a big learning rate would do the same)."""
    X, y = make_data(name)
    est = make(name, backend=backend, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    for a in fitted_arrays(est):
        a[...] = np.sign(a) * 1e300 / (10 * a.size) if a.ndim else a
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if hasattr(est, "predict_proba"):
            P = est.predict_proba(X)
            assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1)
        if hasattr(est, "decision_function"):
            assert np.all(np.isfinite(est.decision_function(X)))
        pred = est.predict(X)
    if kind(name) == "reg":
        assert np.all(np.isfinite(pred))


# (learning rate, X scale, max_iter): a huge step on unscaled data, and an
# ordinary step size on data that is only a thousand times too big (which
# grows geometrically until it overflows). Only squared error diverges from
# the second: the classifiers' loss derivatives are bounded, so their weights
# grow at most linearly (the perceptron is even scale-free).
DIVERGING = {"huge-step": (1e200, 1e150, 3), "unscaled": (1.0, 1e3, 400)}
DIVERGING_CASES = [(name, how) for name in NAMES for how in DIVERGING
                   if how == "huge-step" or name == "LinearRegression"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,how", DIVERGING_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_diverging_fit_raises_and_publishes_nothing(name, backend, how, dtype):
    eta, x_scale, max_iter = DIVERGING[how]
    X, y = make_data(name)
    if dtype == np.float32:
        x_scale = min(x_scale, 1e18)
    X = (X * x_scale).astype(dtype)
    est = make(name, backend=backend, learning_rate=eta, max_iter=max_iter,
               batch_size=None if name == "LinearRegression" and how == "unscaled" else 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DivergenceError, match="diverged at epoch"):
            est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    # warm start from a good fit: the failed call leaves the good weights
    good = make(name, backend=backend, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good.fit(make_data(name, dtype=dtype)[0], y)
    before = [a.copy() for a in fitted_arrays(good)]
    # (the network refits from its initial weights: from a good fit's weights
    # its hidden units saturate on this X, and with the L2 step clipped its
    # bounded-gradient steps then grow no weight beyond the float range)
    good.set_params(learning_rate=eta, max_iter=max_iter,
                    warm_start=not isinstance(good, MLPClassifier))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DivergenceError):
            good.fit(X, y)
    for a, b in zip(fitted_arrays(good), before):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# float32: the reference keeps the kernels' float64 sums (losses, Σ w l, the
# penalty, the bias gradients), so the two take the same steps

@pytest.mark.parametrize("batch_size", [None, 1, 2])
def test_float32_residuals_beyond_1e19_fit_alike_on_both_backends(batch_size):
    """½ r² of a residual of 1e20 is 5e39: beyond float32, within float64."""
    X32 = np.array([[1.0], [2.0], [3.0]], dtype=np.float32)
    y = np.array([1e20, 2e20, 3e20])
    fits = {}
    for backend in BACKENDS:
        est = LinearRegression(backend=backend, batch_size=batch_size, max_iter=2, tol=None,
                               random_state=0, learning_rate=1e-3).fit(X32, y)
        assert est.coef_.dtype == np.float32
        assert np.all(np.isfinite(est.loss_curve_)) and est.loss_curve_[0] > 1e39
        fits[backend] = est
    ref, cy = fits["numpy"], fits["cython"]
    np.testing.assert_allclose(cy.coef_, ref.coef_, rtol=1e-5)
    np.testing.assert_allclose(cy.intercept_, ref.intercept_, rtol=1e-5)
    np.testing.assert_allclose(cy.loss_curve_, ref.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("loss", SINGLE + MULTI)
def test_reference_losses_are_float64_for_float32_scores(loss):
    from fastlin.reference.losses import get_loss
    c = 3 if loss in MULTI else 1
    S = np.array([[3e38, -3e38, 0.0][:c], [-3e38, 3e38, 1.0][:c]], dtype=np.float32)
    y = (np.array([1, 0]) if loss in MULTI
         else np.array([-3e38, 3e38] if loss == "squared_error" else [0, 1], dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        l, D = get_loss(loss)(S, y)
    assert l.dtype == D.dtype == np.float64
    assert np.all(np.isfinite(l)) and np.all(np.isfinite(D))
    if loss == "squared_error":         # r = ±6e38, ½ r² = 1.8e77: beyond float32
        np.testing.assert_allclose(l, 0.5 * (S[:, 0].astype(np.float64) - y) ** 2, rtol=1e-15)
    if loss == "multiclass_perceptron":
        np.testing.assert_allclose(l, [3e38 + 3e38, 3e38 + 3e38], rtol=1e-7)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_float32_network_loss_beyond_float32_equal_on_both_backends(alpha):
    """Output scores ±3e38: CE = 6e38 is finite in float64, inf in float32."""
    X = np.array([[1.0], [-1.0]], dtype=np.float32)
    y = np.array([1, 0])
    results = []
    for module in (ref_network, _mlp_fast):
        p = [np.array([[30.0]], np.float32), np.zeros(1, np.float32),
             np.array([[3e38, -3e38]], np.float32), np.zeros(2, np.float32)]
        with np.errstate(all="ignore"):
            out = module.sgd_epoch(X, y, p, np.array([0, 1]), eta0=1e-45, batch_size=2,
                                   alpha=alpha)
        results.append(out[0])
    assert np.isfinite(results[0]) and results[0] > 3e38
    assert results[1] == pytest.approx(results[0], rel=1e-6)
