"""Property-based tests (hypothesis): over shapes (n 1-60, m 1-20, c 2-6),
dtypes, memory layouts and values including the extremes, every call either
works with finite output or raises one of the documented errors
(ValueError, which DivergenceError subclasses, or TypeError). No crash, no
hang; the kernels also agree with the NumPy reference on whatever they accept.

CI runs this file a second time against the debug build
(FASTLIN_CYTHON_DEBUG=1, bounds checks on), where an out-of-bounds access in
a kernel raises IndexError, which no test here accepts.

The examples are derandomized: the same on every run (hypothesis derives
each test's random generator from its source). With FASTLIN_HYPOTHESIS_SEED=N
in the environment they are drawn from seed N instead; CI runs this file once
more that way, so that a green run does not rest on the examples of a single seed.
"""
import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from estimator_cases import NAMES, kind, make
from fastlin import _linear_fast, _mlp_fast
from fastlin._losses import LOSSES, MULTI_OUTPUT
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network

DOCUMENTED = (ValueError, TypeError)
SEED = os.environ.get("FASTLIN_HYPOTHESIS_SEED")
_SETTINGS = settings(max_examples=150, deadline=None, derandomize=SEED is None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def SETTINGS(test):
    """The settings of every property here, seeded by FASTLIN_HYPOTHESIS_SEED
    when it is set (use above ``@given``)."""
    test = _SETTINGS(test)
    return seed(int(SEED))(test) if SEED is not None else test

# values: ordinary, tiny, huge, zero, and now and then NaN or inf
EXTREMES = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 1e30, -1e30, 1e154, 3e38]


def _values(dtype, allow_nonfinite):
    ordinary = st.floats(-10, 10, allow_nan=False, width=64)
    extreme = st.sampled_from(EXTREMES + ([np.nan, np.inf, -np.inf] if allow_nonfinite else []))
    return st.one_of(ordinary, ordinary, ordinary, extreme)


LAYOUTS = ["C", "F", "strided", "reversed"]


def _layout(A, layout):
    """The values of A in the given memory layout."""
    if layout == "F":
        return np.asfortranarray(A)
    if layout == "strided":
        wide = np.zeros((A.shape[0], 2 * A.shape[1]), dtype=A.dtype)
        wide[:, ::2] = A
        return wide[:, ::2]
    if layout == "reversed":
        return np.ascontiguousarray(A[::-1])[::-1]
    return A


@st.composite
def estimator_problems(draw):
    name = draw(st.sampled_from(NAMES))
    n = draw(st.integers(1, 60))
    m = draw(st.integers(1, 20))
    c = 1 if kind(name) == "reg" else (2 if kind(name) == "bin" else draw(st.integers(2, 6)))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.bool_]))
    nonfinite = draw(st.integers(0, 5)) == 5     # NaN/inf in one example of six
    X = draw(hnp.arrays(np.float64, (n, m), elements=_values(np.float64, nonfinite)))
    with np.errstate(all="ignore"):
        if dtype in (np.int64, np.bool_):
            X = np.nan_to_num(X, posinf=1e6, neginf=-1e6).clip(-1e6, 1e6).astype(dtype)
        else:
            X = X.astype(dtype)
    X = _layout(X, draw(st.sampled_from(LAYOUTS)))
    if c == 1:
        y = draw(hnp.arrays(np.float64, n, elements=_values(np.float64, nonfinite)))
    else:
        y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
        if draw(st.booleans()):
            y[:c] = np.arange(c)[:n]     # every class present (when n >= c)
    sample_weight = draw(st.one_of(
        st.none(), hnp.arrays(np.float64, n, elements=st.sampled_from([1.0, 0.5, 3.0, 0.0]))))
    params = dict(
        backend=draw(st.sampled_from(["cython", "numpy"])),
        learning_rate=draw(st.sampled_from([1e-4, 0.01, 0.1, 1.0, 1e3])),
        batch_size=draw(st.sampled_from([1, 2, 7, 64, None])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 0.1])),
        max_iter=draw(st.integers(1, 3)),
        learning_rate_schedule=draw(st.sampled_from(["constant", "invscaling"])),
        shuffle=draw(st.booleans()),
    )
    if name != "MLPClassifier":
        params["average"] = draw(st.booleans())
        params["fit_intercept"] = draw(st.booleans())
    else:
        params["momentum"] = draw(st.sampled_from([0.0, 0.9]))
    return name, X, y, sample_weight, params


@SETTINGS
@given(estimator_problems())
def test_estimator_fit_predict_finite_or_documented_error(problem):
    name, X, y, sample_weight, params = problem
    est = make(name, **params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # ConvergenceWarning, overflow in checks
            est.fit(X, y, sample_weight=sample_weight)
    except DOCUMENTED:
        return
    arrays = (est.coefs_ + est.intercepts_ if name == "MLPClassifier"
              else [est.coef_, est.intercept_])
    for a in arrays:
        assert np.all(np.isfinite(a))
    assert np.all(np.isfinite(est.loss_curve_))
    X_pred = np.ascontiguousarray(X, dtype=arrays[0].dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pred = est.predict(X)
        assert pred.shape == (X.shape[0],)
        if kind(name) == "reg":
            assert not np.any(np.isnan(pred))
        else:
            assert np.isin(pred, est.classes_).all()
            assert not np.any(np.isnan(est.decision_function(X)))
        if hasattr(est, "predict_proba"):
            P = est.predict_proba(X_pred)
            assert np.all(np.isfinite(P))
            np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-4)


# --------------------------------------------------------------------------
# the kernels, called directly: shapes, batch sizes, orders (repeated
# indices, empty, partial), averaging, weights; equal to the reference

GRID = st.integers(-24, 24).map(lambda k: k / 8)
LINEAR_LOSSES = list(LOSSES)
MULTI = MULTI_OUTPUT


@st.composite
def linear_kernel_problems(draw):
    loss = draw(st.sampled_from(LINEAR_LOSSES))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n = draw(st.integers(1, 60))
    m = draw(st.integers(1, 20))
    c = draw(st.integers(2, 6)) if loss in MULTI else 1
    # values on a grid of 1/8 and power-of-two step sizes: the scores are then
    # exact in float32 and float64 alike, so a tie of the (discontinuous)
    # perceptron losses is a tie for the kernel and the reference both
    finite = GRID
    X = draw(hnp.arrays(dtype, (n, m), elements=finite))
    W = draw(hnp.arrays(dtype, (m, c), elements=finite))
    b = draw(hnp.arrays(dtype, c, elements=finite))
    if loss in MULTI:
        y = draw(hnp.arrays(np.intp, n, elements=st.integers(0, c - 1)))
    elif loss == "squared_error":
        y = draw(hnp.arrays(dtype, n, elements=finite))
    else:
        y = draw(hnp.arrays(dtype, n, elements=st.sampled_from([0.0, 1.0])))
    order = draw(hnp.arrays(np.intp, draw(st.integers(0, 2 * n)),
                            elements=st.integers(0, n - 1)))
    sw = draw(st.one_of(st.none(), hnp.arrays(dtype, n, elements=st.sampled_from(
        [0.0, 0.5, 1.0, 2.0]))))
    kw = dict(eta0=draw(st.sampled_from([2.0 ** -10, 0.125, 1.0])),
              batch_size=draw(st.integers(1, n + 3)),
              alpha=draw(st.sampled_from([0.0, 2.0 ** -10, 0.5])),
              fit_intercept=draw(st.booleans()),
              schedule=draw(st.sampled_from(["constant", "invscaling"])),
              t=draw(st.integers(0, 5)), sample_weight=sw)
    average = draw(st.booleans())
    return loss, X, y, W, b, order, kw, average


@SETTINGS
@given(linear_kernel_problems())
def test_linear_kernel_equals_reference_on_any_shape(problem):
    loss, X, y, W, b, order, kw, average = problem
    rtol = 1e-9 if X.dtype == np.float64 else 2e-3
    results = []
    for module in (ref_linear, _linear_fast):
        Wk, bk = W.copy(), b.copy()
        avg = dict(W_avg=W.copy(), b_avg=b.copy()) if average else {}
        with np.errstate(all="ignore"):
            out = module.sgd_epoch(X, y, Wk, bk, order, loss, **kw, **avg)
        results.append((out, Wk, bk, avg))
    (ref_out, W_ref, b_ref, avg_ref), (out, W_cy, b_cy, avg_cy) = results
    assert out[1] == ref_out[1] == kw["t"] + -(-len(order) // kw["batch_size"])
    for got, want in [(out[0], ref_out[0]), (W_cy, W_ref), (b_cy, b_ref)] + [
            (avg_cy[k], avg_ref[k]) for k in avg_cy]:
        assert np.all(np.isfinite(got))
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)
    J, gW, gb = _linear_fast.gradient(X, y, W, b, loss, kw["alpha"], kw["sample_weight"])
    J_ref, gW_ref, gb_ref = ref_linear.gradient(X, y, W, b, loss, kw["alpha"],
                                                kw["sample_weight"])
    for got, want in [(J, J_ref), (gW, gW_ref), (gb, gb_ref)]:
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


@st.composite
def network_kernel_problems(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n, m = draw(st.integers(1, 60)), draw(st.integers(1, 20))
    hidden, c = draw(st.integers(1, 8)), draw(st.integers(2, 6))
    finite = st.floats(-3, 3, allow_nan=False, width=32)
    X = draw(hnp.arrays(dtype, (n, m), elements=finite))
    params = [draw(hnp.arrays(dtype, shape, elements=finite))
              for shape in [(m, hidden), hidden, (hidden, c), c]]
    y = draw(hnp.arrays(np.intp, n, elements=st.integers(0, c - 1)))
    order = draw(hnp.arrays(np.intp, draw(st.integers(0, 2 * n)),
                            elements=st.integers(0, n - 1)))
    sw = draw(st.one_of(st.none(), hnp.arrays(dtype, n, elements=st.floats(0, 2, width=32))))
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
    kw = dict(eta0=draw(st.sampled_from([1e-3, 0.1, 1.0])),
              batch_size=draw(st.integers(1, n + 3)),
              alpha=draw(st.sampled_from([0.0, 1e-3, 0.5])), momentum=momentum,
              nesterov=draw(st.booleans()),
              schedule=draw(st.sampled_from(["constant", "invscaling"])),
              t=draw(st.integers(0, 5)), sample_weight=sw)
    return X, y, params, order, kw


@SETTINGS
@given(network_kernel_problems())
def test_network_kernel_equals_reference_on_any_shape(problem):
    X, y, params, order, kw = problem
    rtol = 1e-9 if X.dtype == np.float64 else 2e-3
    results = []
    for module in (ref_network, _mlp_fast):
        p = [a.copy() for a in params]
        v = [np.zeros_like(a) for a in params] if kw["momentum"] else None
        with np.errstate(all="ignore"):
            out = module.sgd_epoch(X, y, p, order, velocities=v, **kw)
        results.append((out, p))
    (ref_out, p_ref), (out, p_cy) = results
    assert out[1] == ref_out[1]
    assert np.isfinite(out[0])
    np.testing.assert_allclose(out[0], ref_out[0], rtol=rtol, atol=rtol)
    for got, want in zip(p_cy, p_ref):
        assert np.all(np.isfinite(got))
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------------------
# the kernels on malformed arguments: a documented error, never a crash

@st.composite
def malformed_linear_calls(draw):
    loss = draw(st.sampled_from(LINEAR_LOSSES + ["hinge", None]))
    n, m = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    c = draw(st.integers(2, 4)) if loss in MULTI else 1
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    X = np.ones((n, m), dtype=dtype)
    W = np.zeros((m, c), dtype=dtype)
    b = np.zeros(c, dtype=dtype)
    y = (np.zeros(n, dtype=np.intp) if loss in MULTI else np.zeros(n, dtype=dtype))
    order = np.arange(n, dtype=np.intp)
    sw = None
    what = draw(st.sampled_from(["W-rows", "W-cols", "b", "y-len", "y-dtype", "label-range",
                                 "order-range", "order-negative", "order-dtype", "sw-len",
                                 "sw-dtype", "W-dtype", "X-F", "X-1d", "batch", "t",
                                 "schedule", "none"]))
    k = draw(st.integers(1, 3))
    if what == "W-rows":
        W = np.zeros((m + k, c), dtype=dtype)
    elif what == "W-cols":
        W = np.zeros((m, c + k), dtype=dtype)
    elif what == "b":
        b = np.zeros(c + k, dtype=dtype)
    elif what == "y-len":
        y = np.zeros(n + k, dtype=y.dtype)
    elif what == "y-dtype":
        y = y.astype(np.int32 if loss in MULTI else np.float16)
    elif what == "label-range":
        y = np.full(n, c + k - 1 if loss in MULTI else 1.0, dtype=y.dtype)
    elif what == "order-range":
        order = np.array([0, n + k - 1], dtype=np.intp)
    elif what == "order-negative":
        order = np.array([-k], dtype=np.intp)
    elif what == "order-dtype":
        order = order.astype(np.int32)
    elif what == "sw-len":
        sw = np.ones(n + k, dtype=dtype)
    elif what == "sw-dtype":
        sw = np.ones(n, dtype=np.float16)
    elif what == "W-dtype":
        W = W.astype(np.float32 if dtype == np.float64 else np.float64)
    elif what == "X-F":
        X = np.asfortranarray(np.ones((n, m + 1), dtype=dtype))
        W = np.zeros((m + 1, c), dtype=dtype)
    elif what == "X-1d":
        X = np.ones(n, dtype=dtype)
    kw = dict(eta0=0.1, batch_size=-k if what == "batch" else 2, t=-k if what == "t" else 0,
              schedule="cosine" if what == "schedule" else "constant", sample_weight=sw)
    return loss, X, y, W, b, order, kw, what


@SETTINGS
@given(malformed_linear_calls())
def test_linear_kernel_rejects_malformed_arguments(call):
    loss, X, y, W, b, order, kw, what = call
    if what == "label-range" and loss not in MULTI:
        what = "none"       # a real target of 1.0 is fine
    if what == "X-F" and X.flags.c_contiguous:
        what = "none"       # a one-row "Fortran" array is C-contiguous too
    try:
        _linear_fast.sgd_epoch(X, y, W, b, order, loss, **kw)
        _linear_fast.gradient(X, y, W, b, loss, 0.0, kw["sample_weight"])
    except DOCUMENTED:
        return
    assert what == "none" and loss in LINEAR_LOSSES, f"{what!r} with loss {loss!r} was accepted"


@st.composite
def malformed_network_calls(draw):
    n, m, hidden, c = (draw(st.integers(1, 10)), draw(st.integers(1, 5)),
                       draw(st.integers(1, 4)), draw(st.integers(2, 4)))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    X = np.ones((n, m), dtype=dtype)
    params = [np.zeros((m, hidden), dtype), np.zeros(hidden, dtype),
              np.zeros((hidden, c), dtype), np.zeros(c, dtype)]
    y = np.zeros(n, dtype=np.intp)
    order = np.arange(n, dtype=np.intp)
    kw = dict(eta0=0.1, batch_size=2, momentum=0.0, velocities=None, sample_weight=None)
    what = draw(st.sampled_from(["W-shape", "V-shape", "b1", "b2", "dtype", "read-only",
                                 "F-param", "y-len", "label-range", "order-range",
                                 "order-float", "sw-len", "velocities", "velocity-shape",
                                 "X-dtype", "X-F", "params-len", "batch", "none"]))
    k = draw(st.integers(1, 3))
    if what == "W-shape":
        params[0] = np.zeros((m + k, hidden), dtype)
    elif what == "V-shape":
        params[2] = np.zeros((hidden + k, c), dtype)
    elif what == "b1":
        params[1] = np.zeros(hidden + k, dtype)
    elif what == "b2":
        params[3] = np.zeros(c + k, dtype)
    elif what == "dtype":
        params[draw(st.integers(0, 3))] = params[0].astype(np.float16)
    elif what == "read-only":
        params[2].flags.writeable = False
    elif what == "F-param":
        params[0] = np.zeros((m, 2 * hidden), dtype)[:, ::2]
    elif what == "y-len":
        y = np.zeros(n + k, dtype=np.intp)
    elif what == "label-range":
        y = np.full(n, c + k - 1, dtype=np.intp)
    elif what == "order-range":
        order = np.array([n + k - 1], dtype=np.intp)
    elif what == "order-float":
        order = order.astype(np.float64)
    elif what == "sw-len":
        kw["sample_weight"] = np.ones(n + k, dtype)
    elif what == "velocities":
        kw["momentum"] = 0.9
    elif what == "velocity-shape":
        kw["momentum"] = 0.9
        kw["velocities"] = [np.zeros_like(p) for p in params[:3]] + [np.zeros(c + k, dtype)]
    elif what == "X-dtype":
        X = X.astype(np.int64)
    elif what == "X-F":
        X = np.ones((n, 2 * m), dtype)[:, ::2]
    elif what == "params-len":
        params = params[:3]
    elif what == "batch":
        kw["batch_size"] = -k
    return X, y, params, order, kw, what


@SETTINGS
@given(malformed_network_calls())
def test_network_kernel_rejects_malformed_arguments(call):
    X, y, params, order, kw, what = call
    try:
        _mlp_fast.sgd_epoch(X, y, params, order, **kw)
    except DOCUMENTED:
        return
    # a one-element "non-contiguous" array is contiguous after all
    harmless = what == "none" or (what == "X-F" and X.flags.c_contiguous) or (
        what == "F-param" and params[0].flags.c_contiguous)
    assert harmless, f"{what!r} was accepted"
