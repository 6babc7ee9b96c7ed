"""``learning_rate="auto"`` and the clipped L2 step (docs/math.md, "The
automatic step" and "The shrinkage never overshoots").

* the curvature bounds of ``fastlin._losses`` against finite differences of
  the reference losses (and, for the softmax, its Hessian's eigenvalues);
* ``learning_rate_`` equals the documented formula, computed here on an
  explicitly standardized copy, for every model, batch size, intercept
  setting, sample weights, dense and sparse X; ``partial_fit`` keeps it;
* on badly scaled data (``standardize=False``) no step of the squared error
  increases its batch's objective, and no model diverges;
* over α from 1e-6 to 1e4 every fit is finite and large α shrinks the
  weights to (nearly) 0, on both backends, also with a float step whose
  ηα is far above 2;
* kernel = reference with the clip active (ηα > 2), on every path.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from estimator_cases import BACKENDS, NAMES, fitted_arrays, kind, make_data
from estimator_cases import CASES as ESTIMATORS
from fastlin import DivergenceError, LinearRegression, MLPClassifier
from fastlin import _linear_fast, _losses, _mlp_fast, _sparse_fast
from fastlin._base import location_and_scale, weighted_moments
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network
from fastlin.reference.losses import get_loss

LINEAR = [name for name in NAMES if name != "MLPClassifier"]


def build(name, **params):
    params.setdefault("random_state", 0)
    return ESTIMATORS[name][0](**params)


def quiet_fit(est, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kw)


def loss_row(est):
    return _losses.get(est._loss)


# --------------------------------------------------------------------------
# the curvature bounds

def _second_derivative(name, s, y, h=1e-4):
    """l''(s) by central differences of the reference loss."""
    f = get_loss(name)
    y = np.full(len(s), y, dtype=np.float64)
    up, mid, down = (f((s + d)[:, None], y)[0] for d in (h, 0.0, -h))
    return (up - 2 * mid + down) / (h * h)


@pytest.mark.parametrize("name", ["squared_error", "log_loss", "logistic_squared_error"])
def test_curvature_bound_is_the_largest_second_derivative(name):
    L = _losses.get(name).curvature
    s = np.linspace(-12, 12, 24001)
    targets = [-3.0, 0.0, 2.5] if name == "squared_error" else [0.0, 1.0]
    worst = max(np.abs(_second_derivative(name, s, y)).max() for y in targets)
    assert worst <= L * (1 + 1e-5)
    assert worst >= L * (1 - 1e-4)        # tight: the bound is attained


def test_logistic_squared_curvature_is_attained_at_its_root():
    h = (15 - np.sqrt(33)) / 24
    s = np.log(h / (1 - h))
    value = _second_derivative("logistic_squared_error", np.array([s]), 0.0)[0]
    assert value == pytest.approx(_losses.LOGISTIC_SQUARED_CURVATURE, rel=1e-6)
    assert _losses.LOGISTIC_SQUARED_CURVATURE == pytest.approx(0.0770293, abs=1e-6)


@pytest.mark.parametrize("name", ["perceptron", "multiclass_perceptron"])
def test_perceptron_losses_are_piecewise_linear(name):
    # away from the kinks l'' = 0 <= L = 1
    f = get_loss(name)
    rng = np.random.default_rng(0)
    c = 1 if name == "perceptron" else 4
    S = rng.normal(size=(200, c))
    y = rng.integers(0, 2 if c == 1 else c, size=200).astype(np.float64 if c == 1 else np.intp)
    d = 1e-6 * rng.normal(size=(200, c))
    second = f(S + d, y)[0] - 2 * f(S, y)[0] + f(S - d, y)[0]
    assert np.abs(second).max() <= 1e-12
    assert _losses.get(name).curvature == 1.0


def test_softmax_curvature_bounds_the_hessian_eigenvalues():
    f = get_loss("softmax_cross_entropy")
    rng = np.random.default_rng(1)
    L = _losses.get("softmax_cross_entropy").curvature
    worst, h = 0.0, 1e-4
    for c in (2, 3, 7):
        for scale in (0.1, 1.0, 5.0):
            s = scale * rng.normal(size=c)
            y = np.array([rng.integers(c)], dtype=np.intp)
            E = np.eye(c) * h

            def l(v):
                return f(v[None], y)[0][0]

            H = np.array([[(l(s + E[j] + E[k]) - l(s + E[j] - E[k]) - l(s - E[j] + E[k])
                            + l(s - E[j] - E[k])) / (4 * h * h)
                           for k in range(c)] for j in range(c)])
            worst = max(worst, np.linalg.eigvalsh((H + H.T) / 2).max())
    assert worst <= L * (1 + 1e-4)
    # two equal scores of two classes: the eigenvalue is 2 p (1 − p) = 1/2
    H2 = _second_derivative("log_loss", np.array([0.0]), 0.0)[0]
    assert 2 * H2 == pytest.approx(L, rel=1e-6)


# --------------------------------------------------------------------------
# the formula

def _rows(X, standardize, sw=None):
    """The rows the kernel trains on, formed explicitly."""
    X = np.asarray(X, dtype=np.float64)
    if not standardize:
        return X
    mean, scale = location_and_scale(weighted_moments(X, sw))
    return (X - mean) / scale


def expected_rate(est, X, sw=None):
    """The documented η₀ for ``est``'s parameters on X."""
    n = X.shape[0]
    Z = _rows(X, est.standardize, sw)
    w = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    batch = n if est.batch_size is None else min(est.batch_size, n)
    if isinstance(est, MLPClassifier):
        r = w * (est.hidden_size + 1)
        L = 0.5
        worst_case = True
    else:
        r = w * ((Z * Z).sum(axis=1) + (1.0 if est.fit_intercept else 0.0))
        L = loss_row(est).curvature
        worst_case = not loss_row(est).bounded_slope
    if batch >= n or not worst_case:
        R = r.mean()
    else:
        top = np.sort(r)[::-1]
        R = max(top[:batch].mean(), top[0] / 2)
    alpha = est.alpha
    if alpha == "auto":                       # the network's: min(1e-3, 10 / n)
        alpha = min(1e-3, 10.0 / n)
    eta = 1.0 / (L * R + alpha)
    if batch < n and alpha > 0 and not isinstance(est, MLPClassifier):
        eta = min(eta, 0.1 / alpha)           # the stochastic cap
    return eta


@pytest.mark.parametrize("batch_size", [1, 5, None])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_auto_step_is_the_formula(name, standardize, batch_size):
    X, y = make_data(name, n=37, m=6)
    X = X * np.array([1.0, 10.0, 0.01, 3.0, 100.0, 1.0]) + 2.0
    X[3] *= 20                                        # a large row
    X[:, 5] = 7.0              # a constant feature (standardized: centred only, z = 0)
    est = quiet_fit(build(name, standardize=standardize, batch_size=batch_size, max_iter=1,
                          tol=None, alpha=0.05), X, y)
    assert isinstance(est.learning_rate_, float)
    assert est.learning_rate_ == pytest.approx(expected_rate(est, X), rel=1e-10)


@pytest.mark.parametrize("name", LINEAR)
def test_a_strong_penalty_caps_the_stochastic_step_only(name):
    X, y = make_data(name, n=50, m=4)
    for batch_size in (1, 8, None):
        est = quiet_fit(build(name, batch_size=batch_size, alpha=30.0, max_iter=1, tol=None),
                        X, y)
        capped = est.learning_rate_ == pytest.approx(0.1 / 30.0, rel=1e-12)
        assert capped == (batch_size is not None)
        assert est.learning_rate_ == pytest.approx(expected_rate(est, X), rel=1e-10)


@pytest.mark.parametrize("name", LINEAR)
def test_auto_step_counts_weights_and_intercept(name):
    X, y = make_data(name, n=40, m=4)
    w = np.random.default_rng(2).uniform(0.1, 5.0, size=len(y))
    for fit_intercept in (True, False):
        est = quiet_fit(build(name, fit_intercept=fit_intercept, max_iter=1, tol=None),
                        X, y, sample_weight=w)
        assert est.learning_rate_ == pytest.approx(expected_rate(est, X, w), rel=1e-10)


def test_network_auto_step_counts_weights():
    X, y = make_data("MLPClassifier", n=40, m=4)
    w = np.random.default_rng(3).uniform(0.1, 5.0, size=len(y))
    est = quiet_fit(build("MLPClassifier", max_iter=1, tol=None), X, y, sample_weight=w)
    assert est.learning_rate_ == pytest.approx(expected_rate(est, X, w), rel=1e-12)
    plain = quiet_fit(build("MLPClassifier", max_iter=1, tol=None, alpha=0.0), X, y)
    assert plain.learning_rate_ == pytest.approx(2.0 / (plain.hidden_size + 1), rel=1e-12)


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("name", LINEAR)
def test_sparse_X_gives_the_dense_step(name, standardize):
    X, y = make_data(name, n=60, m=8)
    X[np.abs(X) < 0.8] = 0.0
    X += np.where(X != 0, 3.0, 0.0)
    for batch_size in (1, 4, None):
        dense = quiet_fit(build(name, standardize=standardize, batch_size=batch_size,
                                max_iter=1, tol=None), X, y)
        sparse = quiet_fit(build(name, standardize=standardize, batch_size=batch_size,
                                 max_iter=1, tol=None), sp.csr_matrix(X), y)
        assert sparse.learning_rate_ == pytest.approx(dense.learning_rate_, rel=1e-10)


def test_partial_fit_keeps_the_first_calls_step():
    X, y = make_data("SoftmaxRegression", n=50, m=4)
    est = build("SoftmaxRegression")
    est.partial_fit(X, y, classes=np.unique(y))
    first = est.learning_rate_
    assert first == pytest.approx(expected_rate(est, X), rel=1e-10)
    est.partial_fit(X[:10] * 100.0, y[:10])
    assert est.learning_rate_ == first


def test_a_float_learning_rate_is_used_as_given():
    X, y = make_data("LinearRegression")
    est = quiet_fit(build("LinearRegression", learning_rate=0.0123, max_iter=1, tol=None), X, y)
    assert est.learning_rate_ == 0.0123


def test_warm_start_recomputes_the_step_from_the_new_data():
    X, y = make_data("LinearRegression", n=40)
    est = quiet_fit(build("LinearRegression", standardize=False, max_iter=2, tol=None), X, y)
    est.set_params(warm_start=True)
    quiet_fit(est, 10.0 * X, y)
    assert est.learning_rate_ == pytest.approx(expected_rate(est, 10.0 * X), rel=1e-10)


@pytest.mark.parametrize("value,error", [("fast", TypeError), (-1.0, ValueError),
                                          (0.0, ValueError), (np.inf, TypeError)])
def test_bad_learning_rate_is_a_named_error(value, error):
    X, y = make_data("LinearRegression")
    with pytest.raises(error, match="learning_rate"):
        LinearRegression(learning_rate=value).fit(X, y)


# --------------------------------------------------------------------------
# no step diverges

def badly_scaled(n=53, m=5, seed=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m)) * np.array([1e-3, 1.0, 1e2, 1e4, 10.0]) + 50.0
    X[7] *= 30.0                                      # one row far larger than the rest
    y = X @ rng.normal(size=m) * 1e-3 + rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("batch_size", [1, 8, None])
def test_no_squared_error_step_raises_its_batch_objective(batch_size):
    # the squared error's R bounds every batch (the short last one too): a
    # step with η₀ (R_B + α) <= 2 never increases that batch's objective
    X, y = badly_scaled()
    alpha = 1e-3
    est = build("LinearRegression", standardize=False, batch_size=batch_size, alpha=alpha,
                max_iter=1, tol=None)
    eta = quiet_fit(est, X, y).learning_rate_
    n = len(y)
    b = n if batch_size is None else batch_size
    W, bias = np.zeros((X.shape[1], 1)), np.zeros(1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(n)
        for start in range(0, n, b):
            B = order[start:start + b]
            before = ref_linear.objective(X[B], y[B], W, bias, "squared_error", alpha)
            ref_linear.sgd_epoch(X, y, W, bias, B, "squared_error", eta0=eta,
                                 batch_size=b, alpha=alpha)
            after = ref_linear.objective(X[B], y[B], W, bias, "squared_error", alpha)
            assert after <= before * (1 + 1e-12)


@pytest.mark.parametrize("batch_size", [1, 8, None])
@pytest.mark.parametrize("name", NAMES)
def test_auto_never_diverges_on_badly_scaled_data(name, batch_size):
    X, y_reg = badly_scaled()
    if kind(name) == "reg":
        y = y_reg
    elif kind(name) == "bin":
        y = (y_reg > np.median(y_reg)).astype(int)
    else:
        y = np.digitize(y_reg, np.quantile(y_reg, [1 / 3, 2 / 3]))
    est = quiet_fit(build(name, standardize=False, batch_size=batch_size, max_iter=30), X, y)
    assert all(np.isfinite(a).all() for a in fitted_arrays(est))
    assert np.isfinite(est.loss_curve_).all()
    if "Perceptron" not in name and name != "MLPClassifier":
        # never far above the first epoch's loss (the perceptrons' loss from
        # zero weights starts at 0 and only measures the weights' scale; the
        # network's rule bounds its output layer only, docs/math.md)
        assert max(est.loss_curve_) <= 2 * est.loss_curve_[0]


# --------------------------------------------------------------------------
# the α grid: finite, and shrinking to 0

def _standardized_weights(est):
    if isinstance(est, MLPClassifier):
        return np.concatenate([p.ravel() for p in est._params[::2]])
    return np.asarray(est._W).ravel()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_alpha_grid_is_finite_and_shrinks(name, backend):
    X, y = make_data(name, n=80, m=4)
    norms = {}
    for alpha in (1e-6, 1e-3, 1.0, 1e2, 1e4):
        est = quiet_fit(build(name, alpha=alpha, backend=backend, max_iter=20), X, y)
        assert all(np.isfinite(a).all() for a in fitted_arrays(est))
        assert np.isfinite(est.predict(X)).all() if kind(name) == "reg" else True
        norms[alpha] = np.abs(_standardized_weights(est)).max()
        if alpha == 1e4:
            coef = fitted_arrays(est)[0]
            assert np.abs(coef).max() <= 1e-2
    assert norms[1e4] < norms[1e2] < norms[1.0]


@pytest.mark.parametrize("schedule", ["constant", "optimal"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_a_huge_alpha_times_step_does_not_diverge(name, backend, schedule):
    # η α = 500 (constant) or α^(3/4) = 1e3 ("optimal"): without the clip the
    # shrink factor 1 − ηα flips and grows the weights every step
    X, y = make_data(name, n=60, m=4)
    est = quiet_fit(build(name, alpha=1e4, learning_rate=0.05, backend=backend, max_iter=20,
                          learning_rate_schedule=schedule, standardize=False), X, y)
    for a in fitted_arrays(est):
        assert np.isfinite(a).all()
    # the penalty keeps at most one step's data term, −η ∇(data loss)
    assert np.abs(_standardized_weights(est)).max() < 10 * np.abs(X).max()


def test_per_sample_shrink_to_zero_keeps_the_average_right():
    # ηα = 2: each per-sample step zeroes W, then adds −η w_i x_i d_i; the
    # lazily kept average must equal the reference's mean of those weights
    X, y = make_data("LinearRegression", n=30, m=3)
    order = np.arange(30, dtype=np.intp)
    out = []
    for module in (_linear_fast, ref_linear):
        W, b = np.zeros((3, 1)), np.zeros(1)
        W_avg, b_avg = np.zeros_like(W), np.zeros_like(b)
        module.sgd_epoch(X, y, W, b, order, "squared_error", eta0=0.5, batch_size=1,
                         alpha=4.0, W_avg=W_avg, b_avg=b_avg)
        out.append((W, b, W_avg, b_avg))
    for a, r in zip(*out):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)
    # the last step: W = −η (s − y) x of the last sample, s scored before it
    W_before = np.zeros((3, 1))
    b_run = np.zeros(1)
    ref_linear.sgd_epoch(X, y, W_before, b_run, order[:-1], "squared_error", eta0=0.5,
                         batch_size=1, alpha=4.0)
    s = X[-1] @ W_before[:, 0] + b_run[0]
    np.testing.assert_allclose(out[0][0][:, 0], -0.5 * (s - y[-1]) * X[-1], rtol=1e-10)


# --------------------------------------------------------------------------
# kernel = reference with the clip active

def _linear_case(loss, n=23, m=4, c=3, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    if _losses.get(loss).multiclass:
        y = rng.integers(0, c, size=n).astype(np.intp)
        W, b = rng.normal(size=(m, c)), rng.normal(size=c)
    else:
        y = (rng.normal(size=n) > 0).astype(np.float64)
        W, b = rng.normal(size=(m, 1)), rng.normal(size=1)
    return X, y, W, b


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("standardized", [False, True])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 100])
@pytest.mark.parametrize("loss", list(_losses.LOSSES))
def test_linear_kernel_equals_reference_with_the_clip_active(loss, batch_size, average,
                                                              standardized, sparse):
    X, y, W0, b0 = _linear_case(loss)
    kernel = _sparse_fast if sparse else _linear_fast
    X_kernel = sp.csr_matrix(X) if sparse else X
    kw = {}
    if standardized:
        kw = {"mean": X.mean(axis=0), "scale": X.std(axis=0)}
    order = np.random.default_rng(6).permutation(len(y)).astype(np.intp)
    results = []
    for module, data in ((kernel, X_kernel), (ref_linear, X)):
        W, b = W0.copy(), b0.copy()
        W_avg = b_avg = None
        if average:
            W_avg, b_avg = np.zeros_like(W), np.zeros_like(b)
        t = 0
        for _ in range(2):          # ηα = 3 (constant) then the "optimal" steps
            _, t = module.sgd_epoch(data, y, W, b, order, loss, eta0=0.5, batch_size=batch_size,
                                    alpha=6.0, t=t, W_avg=W_avg, b_avg=b_avg, **kw)
        _, t = module.sgd_epoch(data, y, W, b, order, loss, eta0=0.5, batch_size=batch_size,
                                alpha=6.0, schedule="optimal", t=t, W_avg=W_avg, b_avg=b_avg,
                                **kw)
        results.append([W, b] + ([W_avg, b_avg] if average else []))
    for a, r in zip(*results):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("standardized", [False, True])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_network_kernel_equals_reference_with_the_clip_active(batch_size, momentum, nesterov,
                                                               standardized):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, size=30).astype(np.intp)
    kw = {"mean": X.mean(axis=0), "scale": X.std(axis=0)} if standardized else {}
    order = rng.permutation(30).astype(np.intp)
    results = []
    for module in (_mlp_fast, ref_network):
        params = ref_network.init_params(4, 5, 3, 0, np.float64)
        vel = [np.zeros_like(p) for p in params] if momentum > 0 else None
        t = 0
        for _ in range(2):          # ηα = 2.5
            _, t = module.sgd_epoch(X, y, params, order, eta0=0.5, batch_size=batch_size,
                                    alpha=5.0, momentum=momentum, nesterov=nesterov,
                                    velocities=vel, t=t, **kw)
        results.append(params + (vel or []))
    for a, r in zip(*results):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------
# dask: the chunks' summaries give the in-memory step

@pytest.mark.dask
@pytest.mark.parametrize("batch_size", [1, 16, None])
def test_dask_X_gives_the_in_memory_step(batch_size):
    distributed = pytest.importorskip("distributed")
    import dask.array as da

    X, y = make_data("LinearRegression", n=200, m=5)
    X[11] *= 40
    w = np.random.default_rng(8).uniform(0.5, 2.0, size=len(y))
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    try:
        for name in ("LinearRegression", "SoftmaxRegression"):
            target = y if name == "LinearRegression" else (y > 0).astype(int) + (y > 2)
            local = quiet_fit(build(name, batch_size=batch_size, max_iter=1, tol=None),
                              X, target, sample_weight=w)
            remote = quiet_fit(build(name, batch_size=batch_size, max_iter=1, tol=None),
                               da.from_array(X, chunks=(70, 5)),
                               da.from_array(target, chunks=70),
                               sample_weight=da.from_array(w, chunks=70))
            assert remote.learning_rate_ == pytest.approx(local.learning_rate_, rel=1e-10)
    finally:
        client.close()
        cluster.close()


@pytest.mark.parametrize("standardized", [False, True])
def test_csr_row_norms_are_the_dense_rows_norms(standardized):
    """The compiled pass behind a CSR X's automatic step gives every row's
    ‖(x_i − μ) / σ‖² as the equal dense array does, a repeated index
    counted as the sum of its entries (as scipy reads it), and unsorted
    indices, explicit zeros and an empty row as they are."""
    rng = np.random.default_rng(0)
    X = sp.random(40, 7, density=0.4, random_state=1, format="csr")
    # row 0 repeats a column (2 + 3 at column 4), row 1 is empty, row 2
    # holds an explicit zero and unsorted indices
    data = np.r_[2.0, 3.0, 1.0, 0.0, 5.0, -1.0, X.data[X.indptr[3]:]]
    indices = np.r_[4, 4, 0, 6, 1, 3, X.indices[X.indptr[3]:]]
    indptr = np.r_[0, 3, 3, 6, X.indptr[4:] - X.indptr[3] + 6]
    A = sp.csr_matrix((data, indices, indptr), shape=(40, 7))
    dense = A.toarray()
    assert dense[0, 4] == 5.0
    mean = rng.normal(size=7) if standardized else None
    scale = rng.uniform(0.5, 2, size=7) if standardized else None
    Z = (dense - (0 if mean is None else mean)) / (1 if scale is None else scale)
    assert not A.has_canonical_format
    np.testing.assert_allclose(_sparse_fast.row_square_norms(A, mean, scale),
                               np.einsum("ij,ij->i", Z, Z), rtol=1e-12, atol=1e-12)
    # a canonical X (sorted, no repeats) takes the pass that does not look
    assert X.has_canonical_format
    Z = (X.toarray() - (0 if mean is None else mean)) / (1 if scale is None else scale)
    np.testing.assert_allclose(_sparse_fast.row_square_norms(X, mean, scale),
                               np.einsum("ij,ij->i", Z, Z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_row_norms_are_numpys(dtype):
    """The automatic step's pass over a dense X (the compiled block norms)
    gives NumPy's Σ_i r_i and k largest r_i, weighted and standardized, and
    the compiled norms NumPy's ‖(x_i − μ) / σ‖²."""
    from fastlin._auto_step import summarize
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30011, 17)).astype(dtype)
    w = rng.uniform(0, 2, X.shape[0])
    mean, scale = rng.normal(size=17), rng.uniform(0.5, 2, 17)
    Z = (X.astype(np.float64) - mean) / scale
    r = w * (np.einsum("ij,ij->i", Z, Z) + 1.0)
    total, top = summarize(X, w, mean, scale, 1.0, 32)
    assert total == pytest.approx(r.sum(), rel=1e-12)
    np.testing.assert_allclose(top, np.sort(r)[::-1][:32], rtol=1e-12)
    np.testing.assert_allclose(_linear_fast.row_square_norms(X[:100], mean, scale),
                               np.einsum("ij,ij->i", Z[:100], Z[:100]), rtol=1e-12)
    np.testing.assert_allclose(_linear_fast.row_square_norms(X[:100]),
                               np.einsum("ij,ij->i", X[:100].astype(np.float64),
                                         X[:100].astype(np.float64)), rtol=1e-12)


def test_row_norms_reject_statistics_of_the_wrong_shape_or_dtype():
    """Both compiled row-norm passes index mean and scale by X's columns:
    anything but float64 (m,) is a named error, never a read past the end."""
    X = np.ones((5, 4))
    for kernel, A in ((_linear_fast, X), (_sparse_fast, sp.csr_matrix(X))):
        with pytest.raises(ValueError, match="mean"):
            kernel.row_square_norms(A, np.zeros(3), None)
        with pytest.raises(ValueError, match="scale"):
            kernel.row_square_norms(A, None, np.ones(6))
        with pytest.raises(TypeError, match="scale"):
            kernel.row_square_norms(A, None, np.ones(4, dtype=np.float32))


def test_row_norms_of_a_csr_without_columns():
    """A CSR of shape (n, 0) has rows of norm 0, with or without statistics
    (no column array is read)."""
    X = sp.csr_matrix((4, 0))
    for mean, scale in [(None, None), (np.zeros(0), None), (None, np.ones(0)),
                        (np.zeros(0), np.ones(0))]:
        np.testing.assert_array_equal(_sparse_fast.row_square_norms(X, mean, scale),
                                      np.zeros(4))
