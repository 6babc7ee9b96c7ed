"""The estimators' behaviour: backends agree, the loop does what the reference
does by hand, dtype/copy policy, labels, stopping, divergence, partial_fit,
warm_start, averaging, pickle/clone/Pipeline/GridSearchCV, bad input."""
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest

from fastlin import (ConvergenceWarning, DivergenceError, LinearRegression,
                     LogisticRegression, MLPClassifier, MulticlassPerceptron, NotFittedError,
                     Perceptron, SoftmaxRegression)
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network

# (factory, kind): kind is "reg", "bin" or "multi"
MODELS = {
    "LinearRegression": (LinearRegression, "reg"),
    "LogisticRegression": (LogisticRegression, "bin"),
    "LogisticRegressionSquared": (lambda **kw: LogisticRegression(loss="squared_error", **kw),
                                  "bin"),
    "Perceptron": (Perceptron, "bin"),
    "MulticlassPerceptron": (MulticlassPerceptron, "multi"),
    "SoftmaxRegression": (SoftmaxRegression, "multi"),
    "MLPClassifier": (lambda **kw: MLPClassifier(hidden_size=6, **kw), "multi"),
}
LINEAR = [name for name in MODELS if name != "MLPClassifier"]
LOSS_OF = {"LinearRegression": "squared_error", "LogisticRegression": "log_loss",
           "LogisticRegressionSquared": "logistic_squared_error", "Perceptron": "perceptron",
           "MulticlassPerceptron": "multiclass_perceptron", "SoftmaxRegression": "softmax_cross_entropy"}


def make_data(kind, n=60, m=5, c=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    w = rng.normal(size=(m, c))
    S = X @ w + 0.3 * rng.normal(size=(n, c))
    if kind == "reg":
        y = S[:, 0] * 3 + 1
    elif kind == "bin":
        y = (S[:, 0] > 0).astype(int)
    else:
        y = S.argmax(axis=1)
    return X.astype(dtype), y


def make(name, **kw):
    # the plain SGD of docs/math.md (standardize=False) unless a test asks
    factory, kind = MODELS[name]
    kw.setdefault("standardize", False)
    kw.setdefault("random_state", 0)
    return factory(**kw), kind


def fitted_arrays(est):
    if isinstance(est, MLPClassifier):
        return est.coefs_ + est.intercepts_
    return [est.coef_, est.intercept_]


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kw)


# --------------------------------------------------------------------------
# backends agree; the estimator loop is the reference loop

BATCHES = {"per-sample": 1, "minibatch": 7, "full": None}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch", list(BATCHES))
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_cython_matches_numpy(name, batch, dtype, rtol):
    # vary the other switches along with the batch mode, to cover each once
    if name == "MLPClassifier":
        extra = {"per-sample": {"momentum": 0.0}, "minibatch": {"nesterov": False},
                 "full": {}}[batch]
    else:
        extra = {"per-sample": {}, "minibatch": {"average": True},
                 "full": {"fit_intercept": False}}[batch]
    if batch == "per-sample":
        extra["learning_rate_schedule"] = "invscaling"
    fits = []
    for backend in ("numpy", "cython"):
        est, kind = make(name, backend=backend, max_iter=4, tol=None, alpha=1e-3,
                         batch_size=BATCHES[batch], **extra)
        X, y = make_data(kind, dtype=dtype)
        sw = np.random.default_rng(1).uniform(0.5, 2, size=len(y))
        est.fit(X, y, sample_weight=sw)
        fits.append(est)
    for a, b in zip(fitted_arrays(fits[0]), fitted_arrays(fits[1])):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max())
    np.testing.assert_allclose(fits[1].loss_curve_, fits[0].loss_curve_, rtol=rtol * 10)
    assert fits[0].t_ == fits[1].t_
    if extra.get("fit_intercept") is False:
        assert not np.any(fits[1].intercept_)


@pytest.mark.parametrize("name", LINEAR)
@pytest.mark.parametrize("batch_size", [1, 7])
def test_fit_is_the_reference_loop(name, batch_size):
    # fit = sgd_epoch over default_rng(random_state).permutation(n), epoch after epoch
    est, kind = make(name, backend="numpy", max_iter=3, tol=None, batch_size=batch_size,
                     alpha=1e-3, random_state=7, learning_rate=0.05, average=False)
    X, y = make_data(kind)
    est.fit(X, y)
    loss = LOSS_OF[name]
    if kind == "multi":
        c = 3
        y_ref = y.astype(np.intp)
    else:
        c = 1
        y_ref = y.astype(np.float64)
    W, b = np.zeros((X.shape[1], c)), np.zeros(c)
    rng, t = np.random.default_rng(7), 0
    for _ in range(3):
        order = rng.permutation(len(y))
        _, t = ref_linear.sgd_epoch(X, y_ref, W, b, order, loss, eta0=0.05,
                                    batch_size=batch_size, alpha=1e-3, t=t)
    coef = W[:, 0] if kind == "reg" else W.T
    np.testing.assert_array_equal(est.coef_, coef)
    np.testing.assert_array_equal(est.intercept_, b)
    assert est.t_ == t


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_full_batch_is_gradient_descent(backend):
    X, y = make_data("reg")
    est = LinearRegression(standardize=False, batch_size=None, max_iter=25, tol=None, learning_rate=0.1,
                           alpha=0.01, backend=backend).fit(X, y)
    W, b = np.zeros((5, 1)), np.zeros(1)
    history = ref_linear.gradient_descent(X, y, W, b, "squared_error", eta0=0.1, n_iter=25,
                                          alpha=0.01)
    np.testing.assert_allclose(est.coef_, W[:, 0], rtol=1e-9)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-9)
    # the curve is the data term of the objective before each step
    penalty = [0.5 * 0.01 * 0 for _ in history]
    assert est.loss_curve_[0] == pytest.approx(history[0] - penalty[0])


def test_mlp_fit_is_the_reference_loop():
    X, y = make_data("multi")
    est = MLPClassifier(standardize=False, learning_rate=0.1, hidden_size=4, max_iter=2, tol=None,
                        random_state=3, backend="numpy").fit(X, y)
    rng = np.random.default_rng(3)
    params = ref_network.init_params(5, 4, 3, rng, np.float64)
    vel = [np.zeros_like(p) for p in params]
    t = 0
    for _ in range(2):
        _, t = ref_network.sgd_epoch(X, y.astype(np.intp), params, rng.permutation(len(y)),
                                     eta0=0.1, batch_size=32, alpha=est.alpha_, momentum=0.9,
                                     nesterov=True, velocities=vel, t=t)
    for a, b in zip(est.coefs_ + est.intercepts_, [params[0], params[2], params[1], params[3]]):
        np.testing.assert_array_equal(a, b)


# ---- the network's alpha="auto": min(1e-3, 10 / n) of the training rows

def _two_blobs(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)


@pytest.mark.parametrize("n, expected", [(60, 1e-3), (10_000, 1e-3), (40_000, 2.5e-4)])
def test_mlp_auto_alpha_is_the_documented_rule(n, expected):
    X, y = _two_blobs(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_size=3, max_iter=1, random_state=0).fit(X, y)
    assert est.alpha == "auto"
    assert est.alpha_ == pytest.approx(expected, rel=1e-15)


def test_mlp_auto_alpha_counts_the_training_rows_only():
    X, y = _two_blobs(20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_size=3, max_iter=1, early_stopping=True,
                            validation_fraction=0.2, random_state=0).fit(X, y)
    assert est.alpha_ == pytest.approx(10.0 / 16_000, rel=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_mlp_auto_alpha_is_the_penalty_the_fit_uses(backend):
    # "auto" must train exactly as the number it reports; 40,000 rows make it
    # differ from the old fixed 1e-3 (a fit that ignored it would differ)
    X, y = _two_blobs(40_000)
    kw = dict(hidden_size=3, max_iter=2, tol=None, random_state=0, backend=backend)
    auto = MLPClassifier(**kw).fit(X, y)
    explicit = MLPClassifier(alpha=auto.alpha_, **kw).fit(X, y)
    fixed = MLPClassifier(alpha=1e-3, **kw).fit(X, y)
    for a, b in zip(auto.coefs_ + auto.intercepts_, explicit.coefs_ + explicit.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert auto.learning_rate_ == explicit.learning_rate_
    assert not np.array_equal(auto.coefs_[1], fixed.coefs_[1])


def test_mlp_partial_fit_keeps_the_first_calls_auto_alpha():
    X, y = _two_blobs(30_000)
    est = MLPClassifier(hidden_size=3, random_state=0)
    est.partial_fit(X[:50], y[:50], classes=[0, 1])
    assert est.alpha_ == 1e-3
    est.partial_fit(X, y)
    assert est.alpha_ == 1e-3
    est.fit(X, y)           # a new fit counts its own rows
    assert est.alpha_ == pytest.approx(10.0 / 30_000, rel=1e-15)


@pytest.mark.parametrize("bad", ["Auto", "none", ""])
def test_mlp_alpha_other_strings_are_type_errors(bad):
    X, y = _two_blobs(40)
    with pytest.raises(TypeError, match='alpha must be a finite real number >= 0 or "auto"'):
        MLPClassifier(alpha=bad).fit(X, y)


@pytest.mark.parametrize("name", LINEAR)
def test_linear_models_take_a_number_for_alpha(name):
    factory, kind = MODELS[name]
    X, y = make_data(kind)
    with pytest.raises(TypeError, match="alpha"):
        factory(alpha="auto").fit(X, y)
    assert factory(alpha=0.01, max_iter=2, tol=None).fit(X, y).alpha_ == 0.01


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_same_seed_same_result(name, backend):
    est1, kind = make(name, backend=backend, max_iter=3, tol=None, random_state=5)
    est2, _ = make(name, backend=backend, max_iter=3, tol=None, random_state=5)
    est3, _ = make(name, backend=backend, max_iter=3, tol=None, random_state=6)
    X, y = make_data(kind)
    for a, b in zip(fitted_arrays(est1.fit(X, y)), fitted_arrays(est2.fit(X, y))):
        np.testing.assert_array_equal(a, b)
    est3.fit(X, y)
    if name not in ("Perceptron", "MulticlassPerceptron"):  # those may converge exactly
        assert not np.array_equal(fitted_arrays(est1)[0], fitted_arrays(est3)[0])


# --------------------------------------------------------------------------
# partial_fit, warm_start, averaging

@pytest.mark.parametrize("name", list(MODELS))
def test_partial_fit_twice_equals_two_epochs(name):
    extra = {} if name == "MLPClassifier" else {"average": True}
    est, kind = make(name, max_iter=2, tol=None, random_state=4, **extra)
    X, y = make_data(kind)
    est.fit(X, y)
    inc, _ = make(name, random_state=4, **extra)
    classes = None if kind == "reg" else np.unique(y)
    for _ in range(2):
        if classes is None:
            inc.partial_fit(X, y)
        else:
            inc.partial_fit(X, y, classes=classes)
    for a, b in zip(fitted_arrays(est), fitted_arrays(inc)):
        np.testing.assert_array_equal(a, b)
    assert inc.t_ == est.t_ and inc.n_iter_ == 2 and len(inc.loss_curve_) == 2


def test_partial_fit_needs_classes_first():
    X, y = make_data("bin")
    with pytest.raises(ValueError, match="classes"):
        Perceptron().partial_fit(X, y)
    est = Perceptron().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes"):
        est.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


@pytest.mark.parametrize("name", LINEAR)
def test_warm_start_continues_from_previous_weights(name):
    est, kind = make(name, max_iter=3, tol=None, random_state=2, backend="numpy")
    X, y = make_data(kind)
    est.fit(X, y)
    W = np.array(est._W, copy=True)
    b = np.array(est._b, copy=True)
    est.set_params(warm_start=True, max_iter=1)
    est.fit(X, y)
    y_ref = y.astype(np.intp) if kind == "multi" else y.astype(np.float64)
    ref_linear.sgd_epoch(X, y_ref, W, b, np.random.default_rng(2).permutation(len(y)),
                         LOSS_OF[name], eta0=est.learning_rate_, batch_size=est.batch_size,
                         alpha=est.alpha)
    np.testing.assert_array_equal(est._W, W)
    np.testing.assert_array_equal(est._b, b)


@pytest.mark.parametrize("name", ["Perceptron", "SoftmaxRegression", "LinearRegression"])
def test_average_publishes_the_running_mean(name):
    est, kind = make(name, max_iter=2, tol=None, average=True, random_state=1,
                     backend="numpy")
    X, y = make_data(kind)
    est.fit(X, y)
    c = 3 if kind == "multi" else 1
    W, b = np.zeros((5, c)), np.zeros(c)
    W_avg, b_avg = np.zeros_like(W), np.zeros_like(b)
    rng, t = np.random.default_rng(1), 0
    y_ref = y.astype(np.intp) if kind == "multi" else y.astype(np.float64)
    for _ in range(2):
        _, t = ref_linear.sgd_epoch(X, y_ref, W, b, rng.permutation(len(y)), LOSS_OF[name],
                                    eta0=est.learning_rate_, batch_size=est.batch_size,
                                    alpha=est.alpha, t=t, W_avg=W_avg, b_avg=b_avg)
    coef_avg = W_avg[:, 0] if kind == "reg" else W_avg.T
    np.testing.assert_array_equal(est.coef_, coef_avg)
    np.testing.assert_array_equal(est.intercept_, b_avg)
    np.testing.assert_array_equal(est._W, W)     # the running weights, to continue from
    assert not np.allclose(W_avg, W)


# --------------------------------------------------------------------------
# dtype and copies

@pytest.mark.parametrize("name", list(MODELS))
def test_float32_trains_in_float32(name):
    est, kind = make(name, max_iter=2, tol=None)
    X, y = make_data(kind, dtype=np.float32)
    est.fit(X, y)
    assert all(a.dtype == np.float32 for a in fitted_arrays(est))
    for Xo in (X.astype(np.int64), X > 0, X.astype(np.float16), X.tolist()):
        est.fit(Xo, y)
        assert all(a.dtype == np.float64 for a in fitted_arrays(est))
        assert np.all(np.isfinite(fitted_arrays(est)[0]))


def _peak_during_fit(est, X, y):
    tracemalloc.start()
    try:
        quiet(est.fit, X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contiguous_X_is_not_copied(name, dtype, tmp_path):
    est, kind = make(name, max_iter=1, tol=None)
    X, y = make_data(kind, n=4000, m=200, dtype=dtype)
    est.fit(X[:50], y[:50])                          # imports and caches out of the way
    limit = X.nbytes / 10
    assert _peak_during_fit(est, X, y) < limit
    ro = X.copy()
    ro.flags.writeable = False
    assert _peak_during_fit(est, ro, y) < limit
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    assert _peak_during_fit(est, mm, y) < limit
    # the check can fail: a Fortran-ordered X is copied, and that shows
    assert _peak_during_fit(est, np.asfortranarray(X), y) >= X.nbytes


@pytest.mark.parametrize("name", list(MODELS))
def test_layouts_give_the_same_fit(name):
    est, kind = make(name, max_iter=2, tol=None)
    X, y = make_data(kind)
    ref = [a.copy() for a in fitted_arrays(est.fit(X, y))]
    big = np.zeros((X.shape[0] * 2, X.shape[1] * 2))
    big[::2, ::2] = X
    for Xo in (np.asfortranarray(X), big[::2, ::2], X[::-1][::-1]):
        for a, b in zip(ref, fitted_arrays(est.fit(Xo, y))):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# labels, shapes, probabilities

@pytest.mark.parametrize("name", [n for n in MODELS if MODELS[n][1] != "reg"])
def test_any_labels(name):
    est, kind = make(name, max_iter=5, tol=None)
    X, y = make_data(kind)
    names = np.array(["cat", "dog", "emu"])[: len(np.unique(y))]
    s = est.fit(X, names[y]).predict(X)
    assert set(s) <= set(names) and list(est.classes_) == sorted(names)
    if kind == "bin":
        pm = est.fit(X, 2 * y - 1).predict(X)
        np.testing.assert_array_equal(pm == 1, s == "dog")
        assert est.coef_.shape == (1, 5) and est.intercept_.shape == (1,)
        assert est.decision_function(X).shape == (60,)
    elif isinstance(est, MLPClassifier):
        assert [a.shape for a in est.coefs_] == [(5, 6), (6, 3)]
        assert [a.shape for a in est.intercepts_] == [(6,), (3,)]
    else:
        assert est.coef_.shape == (3, 5) and est.intercept_.shape == (3,)
        assert est.decision_function(X).shape == (60, 3)
    if hasattr(est, "predict_proba"):
        P = est.predict_proba(X)
        np.testing.assert_allclose(P.sum(axis=1), 1)
        np.testing.assert_array_equal(est.classes_[P.argmax(axis=1)], est.predict(X))


@pytest.mark.parametrize("name", ["MulticlassPerceptron", "SoftmaxRegression", "MLPClassifier"])
def test_multiclass_models_keep_two_outputs_for_two_classes(name):
    est, _ = make(name, max_iter=5, tol=None)
    X, y = make_data("bin")
    est.fit(X, y)
    W = est.coefs_[1] if isinstance(est, MLPClassifier) else est.coef_
    assert W.shape[0 if not isinstance(est, MLPClassifier) else 1] == 2
    d = est.decision_function(X)
    assert d.shape == (60,)
    np.testing.assert_array_equal(est.classes_[(d > 0).astype(int)], est.predict(X))


def test_score_is_accuracy_and_r2():
    X, y = make_data("reg")
    est = quiet(LinearRegression(max_iter=200).fit, X, y)
    pred = est.predict(X)
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert est.score(X, y) == pytest.approx(r2)
    X, y = make_data("bin")
    est = quiet(LogisticRegression(max_iter=20).fit, X, y)
    assert est.score(X, y) == pytest.approx(np.mean(est.predict(X) == y))


# --------------------------------------------------------------------------
# stopping, verbose, divergence

def test_stopping_rule_and_convergence_warning():
    X, y = make_data("bin")
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        est = LogisticRegression(max_iter=2, tol=1e-3).fit(X, y)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = LogisticRegression(max_iter=7, tol=None).fit(X, y)
        assert est.n_iter_ == 7
        est = LogisticRegression(max_iter=1000, tol=1e-2, n_iter_no_change=3,
                                 random_state=0).fit(X, y)
    assert 3 < est.n_iter_ < 1000
    # stopped at the first epoch that completes n_iter_no_change epochs in a row
    # without beating the best loss so far by tol times the class prior's
    # cross-entropy (sklearn's SGD rule, tol scaled by that baseline loss)
    p = np.mean(y)
    prior = -p * np.log(p) - (1 - p) * np.log(1 - p)
    best, stale = np.inf, 0
    for epoch, loss in enumerate(est.loss_curve_, 1):
        stale = 0 if epoch == 1 or loss < best - 1e-2 * prior else stale + 1
        best = min(best, loss)
        if stale == 3:
            break
    assert epoch == est.n_iter_


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = make_data("multi")
    SoftmaxRegression(max_iter=3, tol=None, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {i}, loss ") and line.endswith(" s")
        assert "elapsed" in line


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_divergence_raises_and_leaves_the_estimator_as_it_was(name, backend):
    est, kind = make(name, backend=backend, max_iter=50, tol=None, learning_rate=1e300)
    X, y = make_data(kind)
    X = X * 1e10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DivergenceError, match=r"epoch \d+.*(scal|learning_rate)"):
            est.fit(X, y)
    assert not hasattr(est, "n_features_in_")
    with pytest.raises(NotFittedError):
        est.predict(X)
    # a fitted estimator keeps its previous fit
    est.set_params(learning_rate=1e-3)
    quiet(est.fit, X / 1e10, y)
    before = [a.copy() for a in fitted_arrays(est)]
    est.set_params(learning_rate=1e300, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DivergenceError):
            est.fit(X, y)
    for a, b in zip(before, fitted_arrays(est)):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(a).all() for a in fitted_arrays(est))


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("tol", [1e-3, None])
def test_a_finite_blow_up_is_a_divergence_too(backend, tol):
    # weights ~1e100, loss ~1e190: finite, but the stopping rule must not call
    # this converged
    X, y = make_data("reg")
    est = LinearRegression(learning_rate=10.0, backend=backend, tol=tol, max_iter=5)
    with pytest.raises(DivergenceError, match="grew at every epoch"):
        quiet(est.fit, X * 100, y)
    assert not hasattr(est, "coef_")


# --------------------------------------------------------------------------
# bad input: a clear ValueError/TypeError before any kernel runs

@pytest.mark.parametrize("name", list(MODELS))
def test_bad_input(name):
    est, kind = make(name, max_iter=2)
    X, y = make_data(kind)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match="2D"):
        est.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="2D"):
        est.fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="0 feature"):
        est.fit(X[:, :0], y)
    with pytest.raises(ValueError, match="inconsistent"):
        est.fit(X, y[:-1])
    with pytest.raises(TypeError, match="string"):
        est.fit(X.astype(str), y)
    with pytest.raises(ValueError, match="Complex"):
        est.fit(X + 1j, y)
    obj = X.astype(object)
    obj[0, 0] = "x"
    with pytest.raises(TypeError, match="non-numeric"):
        est.fit(obj, y)
    with pytest.raises(ValueError, match="Negative"):
        est.fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        est.fit(X, y, sample_weight=np.ones(len(y) + 1))
    with pytest.raises(ValueError, match="sample_weight"):
        est.fit(X, y, sample_weight=np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="y"):
        est.fit(X, np.full(len(y), np.nan))
    if kind != "reg":
        with pytest.raises(ValueError, match="2 classes"):
            est.fit(X, np.zeros(len(y)))
        with pytest.raises(ValueError, match="continuous"):
            est.fit(X, np.linspace(0, 1, len(y)))
    if kind == "bin":
        with pytest.raises(ValueError, match="Only binary"):
            est.fit(X, np.arange(len(y)) % 3)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(X)
    quiet(est.fit, X, y)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 5"):
        est.predict(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad * np.nan)


BAD_PARAMS = [
    ("learning_rate", -0.1, ValueError), ("learning_rate", 0.0, ValueError),
    ("learning_rate", np.nan, TypeError), ("learning_rate", "big", TypeError),
    ("learning_rate_schedule", "sometimes", ValueError), ("power_t", -1.0, ValueError),
    ("max_iter", 0, ValueError), ("max_iter", 2.5, TypeError), ("tol", -1.0, ValueError),
    ("n_iter_no_change", 0, ValueError), ("batch_size", 0, ValueError),
    ("batch_size", 3.0, TypeError), ("alpha", -1.0, ValueError), ("shuffle", "yes", TypeError),
    ("warm_start", 1, TypeError), ("verbose", -1, ValueError),
    ("random_state", "seed", ValueError), ("backend", "fortran", ValueError),
]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("param,value,error", BAD_PARAMS)
def test_bad_hyperparameters(name, param, value, error):
    est, kind = make(name)
    est.set_params(**{param: value})
    X, y = make_data(kind, n=10)
    with pytest.raises(error, match=param):
        est.fit(X, y)
    assert est.get_params()[param] is value                 # never modified


def test_model_specific_bad_hyperparameters():
    X, y = make_data("bin", n=10)
    for est, param in [(LogisticRegression(loss="hinge"), "loss"),
                       (Perceptron(average="yes"), "average"),
                       (Perceptron(fit_intercept=None), "fit_intercept"),
                       (MLPClassifier(hidden_size=0), "hidden_size"),
                       (MLPClassifier(momentum=1.0), "momentum"),
                       (MLPClassifier(nesterov="no"), "nesterov")]:
        with pytest.raises((ValueError, TypeError), match=param):
            est.fit(X, y)


def test_missing_cython_extension_is_a_clear_error(monkeypatch):
    import sys

    from fastlin import _backend
    monkeypatch.setitem(_backend.MODULES, "cython",
                        {"linear": "fastlin._no_such_ext", "network": "fastlin._no_such_ext"})
    monkeypatch.delitem(sys.modules, "fastlin._no_such_ext", raising=False)
    X, y = make_data("bin", n=10)
    with pytest.raises(ImportError, match="backend='numpy'"):
        Perceptron().fit(X, y)


# --------------------------------------------------------------------------
# scikit-learn interplay (sklearn is a test extra only)

def test_fastlin_imports_without_sklearn():
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import numpy as np, fastlin\n"
            "X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)\n"
            "e = fastlin.SoftmaxRegression(max_iter=3, tol=None).fit(X, y)\n"
            "e = fastlin.Perceptron(max_iter=3, tol=None).fit(X, y); print(e.score(X, y))\n"
            "try:\n    fastlin.Perceptron().predict(X)\n"
            "except fastlin.NotFittedError: print('nf')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split()[-1] == "nf"


@pytest.mark.parametrize("name", list(MODELS))
def test_pickle_and_clone(name):
    from sklearn.base import clone
    est, kind = make(name, max_iter=3, tol=None)
    X, y = make_data(kind)
    est.fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    for a, b in zip(fitted_arrays(back), fitted_arrays(est)):
        np.testing.assert_array_equal(a, b)
    # the unpickled estimator continues exactly like the original
    kw = {} if kind == "reg" else {"classes": np.unique(y)}
    est.partial_fit(X, y, **kw)
    back.partial_fit(X, y, **kw)
    for a, b in zip(fitted_arrays(back), fitted_arrays(est)):
        np.testing.assert_array_equal(a, b)
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "n_features_in_")
    assert repr(c).startswith(type(est).__name__ + "(")


@pytest.mark.parametrize("name", list(MODELS))
def test_pipeline_and_grid_search(name):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    est, kind = make(name, max_iter=100, tol=None)
    X, y = make_data(kind, n=90)
    X = X * 100 + 50
    pipe = make_pipeline(StandardScaler(), est).fit(X, y)
    assert pipe.score(X, y) > (0.8 if kind != "reg" else 0.8)
    step = pipe.steps[-1][0]
    grid = GridSearchCV(pipe, {f"{step}__alpha": [1e-4, 1e-2]}, cv=3).fit(X, y)
    assert grid.best_params_[f"{step}__alpha"] in (1e-4, 1e-2)
    assert grid.score(X, y) > 0.5


@pytest.mark.parametrize("name", list(MODELS))
def test_partial_fit_in_ten_chunks_is_as_accurate_as_fit(name):
    # digits: 540 held-out samples, so 1 point is 5 samples, not noise (binary
    # models learn odd vs even; the regression predicts the digit, scored by R²)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    _, kind = MODELS[name]
    X, y = load_digits(return_X_y=True)
    if kind == "bin":
        y = y % 2
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    n_epochs = 20
    full, _ = make(name, max_iter=n_epochs, tol=None, random_state=0)
    full.fit(X_tr, y_tr)
    inc, _ = make(name, random_state=0)
    kw = {} if kind == "reg" else {"classes": np.unique(y)}
    rng = np.random.default_rng(0)
    for _ in range(n_epochs):
        # a stream of ten chunks per pass, in a new order each pass (as fit shuffles)
        for chunk in np.array_split(rng.permutation(len(y_tr)), 10):
            inc.partial_fit(X_tr[chunk], y_tr[chunk], **kw)
    assert inc.n_iter_ == 10 * n_epochs
    assert inc.score(X_te, y_te) >= full.score(X_te, y_te) - 0.01
