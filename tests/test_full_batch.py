"""The full batch at large weights, on both backends and in both dtypes.

An epoch reports its data loss (1/n) Σ_i w_i l_i, computed as such. Taking
it as J − (α/2)‖W‖² instead cancels every digit of the data loss once the
penalty dwarfs it (|W| ≈ 1e7, α = 1 in float64), and in float32 squares of
|W| > 1.8e19 overflow, which made a finite fit raise DivergenceError: here
the weights are that large while the scores x W stay O(1).
"""
import warnings

import numpy as np
import pytest
from conftest import relative_error

from fastlin import LinearRegression
from fastlin import _linear_fast
from fastlin._losses import LOSSES, MULTI_OUTPUT
from fastlin.reference import linear as ref_linear

MODULES = {"cython": _linear_fast, "numpy": ref_linear}
# the features' scale: the weights are O(1 / scale)
SCALE = {np.float64: 1e-7, np.float32: 1e-19}
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def _problem(loss, dtype, n=50, m=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    scale = SCALE[dtype]
    X = (scale * rng.normal(size=(n, m))).astype(dtype)
    if loss in MULTI_OUTPUT:
        y = rng.integers(0, c, size=n).astype(np.intp)
    else:
        c = 1
        y = (rng.normal(size=n) if loss == "squared_error"
             else rng.integers(0, 2, size=n)).astype(dtype)
    W = (rng.uniform(1.0, 3.0, size=(m, c)) * rng.choice([-1, 1], size=(m, c)) / scale).astype(dtype)
    b = rng.normal(size=c).astype(dtype)
    sw = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    return X, y, W, b, sw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("backend", list(MODULES))
def test_full_batch_epoch_loss_at_large_weights(backend, loss, dtype):
    X, y, W, b, sw = _problem(loss, dtype)
    n = X.shape[0]
    # the data loss at the starting weights, in float64 by the reference
    y64 = y if loss in MULTI_OUTPUT else y.astype(np.float64)
    want = ref_linear.objective(X.astype(np.float64), y64, W.astype(np.float64),
                                b.astype(np.float64), loss, 0.0, sw.astype(np.float64))
    assert np.isfinite(want) and want > 0
    with np.errstate(over="ignore"):
        penalty = 0.5 * np.sum(W * W)
    if dtype == np.float64:
        # the penalty dwarfs the data loss: J − penalty would keep few digits
        assert penalty > 1e13 * want
    else:
        assert not np.isfinite(penalty)           # W² overflows float32
    W_, b_ = W.copy(), b.copy()
    epoch_loss, t = MODULES[backend].sgd_epoch(
        X, y, W_, b_, np.arange(n, dtype=np.intp), loss, eta0=1e-3, batch_size=n,
        alpha=1.0, sample_weight=sw)
    assert t == 1
    assert np.isfinite(epoch_loss)
    assert relative_error(epoch_loss, want) <= TOL[dtype]
    assert np.isfinite(W_).all() and np.isfinite(b_).all()
    # the step shrank the weights by (1 − ηα) and moved them by η ∇ (tiny here)
    assert relative_error(W_, (1 - 1e-3) * W.astype(np.float64)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", list(MODULES))
def test_estimator_full_batch_loss_at_large_weights(backend, dtype):
    """LinearRegression(batch_size=None) fits weights of about 3 / scale
    (3e7 in float64, 3e19 in float32); a partial_fit with α = 1 then reports
    the data loss at those weights, and stays finite."""
    rng = np.random.default_rng(0)
    scale = SCALE[dtype]
    Z = rng.normal(size=(200, 3))
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    y = Z @ np.array([3.0, -2.0, 1.0]) + rng.normal(size=200)
    X = (scale * Z).astype(dtype)
    # (no intercept: its step would be η = 0.5 / scale², far too long)
    est = LinearRegression(standardize=False, batch_size=None, learning_rate=0.5 / scale ** 2, alpha=0.0,
                           fit_intercept=False, max_iter=100, tol=None, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X, y)
    coef = est.coef_.astype(np.float64)
    assert np.abs(coef).max() * scale == pytest.approx(3.0, rel=0.05)
    data_loss = np.mean(0.5 * (X.astype(np.float64) @ coef - y) ** 2)
    assert 0.3 < data_loss < 0.7

    est.set_params(alpha=1.0, learning_rate=1e-3).partial_fit(X, y)
    assert np.isfinite(est.loss_curve_[-1])
    assert relative_error(est.loss_curve_[-1], data_loss) <= TOL[dtype]
    assert np.isfinite(est.coef_).all()


def test_float32_full_batch_with_penalty_fits_as_float64():
    """Three samples with targets of 1e20: after the first step |W| > 1.8e19,
    whose square overflows float32. The float32 fit (penalty on) ends where
    the float64 one does, with the same loss curve, and no DivergenceError.
    (The compiled backend: the float32 NumPy reference's own per-sample loss
    ½ r² of residuals ~1e20 overflows float32 by itself.)"""
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1e20, 2e20, 3e20])
    fits = {}
    for dtype in (np.float32, np.float64):
        est = LinearRegression(standardize=False, batch_size=None, max_iter=2, tol=None, random_state=0,
                               learning_rate=0.05, alpha=0.1, backend="cython")
        fits[dtype] = est.fit(X.astype(dtype), y)
    f32, f64 = fits[np.float32], fits[np.float64]
    assert abs(f32.coef_[0]) > 1.8e19 and np.isfinite(f32.coef_).all()
    assert relative_error(f32.coef_, f64.coef_) <= 1e-6
    assert relative_error(f32.loss_curve_, f64.loss_curve_) <= 1e-6
