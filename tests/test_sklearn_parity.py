"""What a scikit-learn user reaches for: class_weight, predict_log_proba,
feature names from pandas, the "optimal" and "adaptive" schedules,
average=<int>, coef_init/intercept_init, the network's warm_start, and
scikit-learn's error types for DataFrames.

Each behaviour is checked against an independent computation (the NumPy
reference run step by step, closed forms) or against scikit-learn itself.
"""
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.linear_model import Perceptron as SkPerceptron
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.metrics import recall_score

from estimator_cases import BACKENDS, CLASSIFIERS, NAMES, fitted_arrays, make, make_data, quiet_fit
from fastlin import (LinearRegression, LogisticRegression, MLPClassifier, MulticlassPerceptron,
                     Perceptron, SoftmaxRegression)
from fastlin._numeric import learning_rate, log_sigmoid, log_softmax, optimal_t0
from fastlin.reference import linear as ref_linear
from fastlin.reference import network as ref_network

LINEAR = [name for name in NAMES if name != "MLPClassifier"]
PROBA = ["LogisticRegression-log", "LogisticRegression-squared", "SoftmaxRegression",
         "MLPClassifier"]


def assert_same_fit(a, b, rtol=1e-10, atol=1e-12):
    for p, q in zip(fitted_arrays(a), fitted_arrays(b)):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# class_weight

def encoded(y):
    return np.searchsorted(np.unique(y), y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_class_weight_multiplies_sample_weight(name, backend):
    X, y = make_data(name, n=60)
    sw = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y))
    k = len(np.unique(y))
    counts = np.bincount(encoded(y))
    balanced = len(y) / (k * counts)
    a = quiet_fit(make(name, backend=backend, class_weight="balanced"), X, y, sample_weight=sw)
    b = quiet_fit(make(name, backend=backend), X, y, sample_weight=sw * balanced[encoded(y)])
    assert_same_fit(a, b)
    weights = {label: 0.5 + j for j, label in enumerate(np.unique(y)) if j != 1}  # class 1 left out
    c = quiet_fit(make(name, backend=backend, class_weight=weights), X, y, sample_weight=sw)
    per_class = np.array([weights.get(label, 1.0) for label in np.unique(y)])
    d = quiet_fit(make(name, backend=backend), X, y, sample_weight=sw * per_class[encoded(y)])
    assert_same_fit(c, d)
    # and the weights do change the fit
    e = quiet_fit(make(name, backend=backend), X, y, sample_weight=sw)
    assert not np.allclose(fitted_arrays(c)[0], fitted_arrays(e)[0])


def test_class_weight_with_string_labels():
    X, y = make_data("SoftmaxRegression", n=60)
    labels = np.array(["ant", "bee", "cat"])[y]
    a = quiet_fit(make("SoftmaxRegression", class_weight={"bee": 3.0}), X, labels)
    b = quiet_fit(make("SoftmaxRegression"), X, labels, sample_weight=np.where(y == 1, 3.0, 1.0))
    assert_same_fit(a, b)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_class_weight_in_partial_fit(name):
    X, y = make_data(name, n=60)
    classes = np.unique(y)
    a = make(name, class_weight={classes[0]: 4.0})
    b = make(name)
    for _ in range(2):
        a.partial_fit(X, y, classes=classes)
        b.partial_fit(X, y, classes=classes, sample_weight=np.where(y == classes[0], 4.0, 1.0))
    assert_same_fit(a, b)
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        make(name, class_weight="balanced").partial_fit(X, y, classes=classes)


@pytest.mark.parametrize("bad,match", [
    ({0: -1.0}, "must be a finite number >= 0"),
    ({0: np.inf}, "must be a finite number >= 0"),
    ("auto", "class_weight must be None"),
    ([1.0, 2.0], "class_weight must be None"),
    ({7: 2.0}, "not classes"),
])
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_bad_class_weight(name, bad, match):
    X, y = make_data(name)
    est = make(name, class_weight=bad)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "coef_") and not hasattr(est, "coefs_")


def imbalanced(seed):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(900, 2)), rng.normal(loc=1.5, size=(100, 2))])
    return X, np.r_[np.zeros(900, dtype=int), np.ones(100, dtype=int)]


# fastlin estimator -> the scikit-learn estimator it is compared with
RECALL_PAIRS = {
    "LogisticRegression": (lambda cw: LogisticRegression(class_weight=cw, random_state=0),
                           lambda cw: SkLogisticRegression(class_weight=cw)),
    "LogisticRegression-per-sample": (
        lambda cw: LogisticRegression(class_weight=cw, batch_size=1, learning_rate=0.01,
                                      random_state=0),
        lambda cw: SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.01,
                                 class_weight=cw, random_state=0)),
    "SoftmaxRegression": (lambda cw: SoftmaxRegression(class_weight=cw, random_state=0),
                          lambda cw: SkLogisticRegression(class_weight=cw)),
    "MLPClassifier": (lambda cw: MLPClassifier(hidden_size=8, class_weight=cw, random_state=0),
                      lambda cw: SkLogisticRegression(class_weight=cw)),
    "Perceptron": (lambda cw: Perceptron(class_weight=cw, random_state=0),
                   lambda cw: SkPerceptron(class_weight=cw, random_state=0)),
    "MulticlassPerceptron": (lambda cw: MulticlassPerceptron(class_weight=cw, random_state=0),
                             lambda cw: SkPerceptron(class_weight=cw, random_state=0)),
}


@pytest.mark.parametrize("name", list(RECALL_PAIRS))
def test_balanced_raises_minority_recall_like_sklearn(name):
    X, y = imbalanced(0)
    X_test, y_test = imbalanced(1)
    ours, theirs = RECALL_PAIRS[name]
    recall = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # convergence warnings of either library
        for who, factory in (("fastlin", ours), ("sklearn", theirs)):
            for cw in (None, "balanced"):
                est = factory(cw).fit(X, y)
                recall[who, cw] = recall_score(y_test, est.predict(X_test))
    # scikit-learn: "balanced" moves minority recall from ~0.3-0.6 to ~0.9
    assert recall["sklearn", "balanced"] > recall["sklearn", None] + 0.2
    assert recall["fastlin", "balanced"] > recall["fastlin", None] + 0.2
    assert abs(recall["fastlin", "balanced"] - recall["sklearn", "balanced"]) < 0.1


# --------------------------------------------------------------------------
# predict_log_proba, log_sigmoid, log_softmax

@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("name", PROBA)
def test_predict_log_proba_is_log_of_proba_where_that_is_accurate(name, dtype, rtol):
    X, y = make_data(name, dtype=dtype)
    est = quiet_fit(make(name), X, y)
    log_p = est.predict_log_proba(X)
    assert log_p.dtype == dtype and log_p.shape == est.predict_proba(X).shape
    np.testing.assert_allclose(log_p, np.log(est.predict_proba(X)), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", PROBA)
def test_predict_log_proba_at_huge_scores(name):
    X, y = make_data(name)
    est = quiet_fit(make(name), X, y)
    X_big = X * 1e6
    if name == "MLPClassifier":              # the hidden units saturate: scale V instead
        est.coefs_[1][...] *= 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # no log(0), no overflow
        log_p = est.predict_log_proba(X_big)
        P = est.predict_proba(X_big)
    assert np.any(P == 0)                    # log(P) would be -inf there
    assert np.all(np.isfinite(log_p))
    if name.startswith("LogisticRegression"):
        s = est.decision_function(X_big)
        S = np.column_stack([np.zeros_like(s), s])
    elif name == "MLPClassifier":
        (W, V), (b1, b2) = est.coefs_, est.intercepts_
        S = ref_network._scores(X_big, W, b1, V, b2)[1]
    else:
        S = X_big @ est.coef_.T + est.intercept_
    np.testing.assert_allclose(log_p, S - logsumexp(S, axis=1, keepdims=True),
                               rtol=1e-12, atol=1e-12)


def test_log_sigmoid_and_log_softmax_limits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = np.array([-np.inf, -800.0, -30.0, 0.0, 30.0, 800.0, np.inf])
        got = log_sigmoid(s)
        expected = -np.logaddexp(0.0, -s)
        np.testing.assert_array_equal(got[[0, -1]], [-np.inf, 0.0])
        np.testing.assert_allclose(got[1:-1], [-800.0, -30.0 - np.log1p(np.exp(-30.0)),
                                              -np.log(2.0), -np.log1p(np.exp(-30.0)),
                                              -np.exp(-800.0)], rtol=1e-15)
        np.testing.assert_allclose(got, expected)
        assert log_sigmoid(np.float32(3.0)).dtype == np.float32
        S = np.array([[np.inf, 1.0, np.inf],
                      [-np.inf, -np.inf, -np.inf],
                      [1000.0, 0.0, -np.inf],
                      [1.0, 2.0, 3.0]])
        got = log_softmax(S)
    assert not np.any(np.isnan(got))
    np.testing.assert_allclose(got[0], [-np.log(2), -np.inf, -np.log(2)])
    np.testing.assert_allclose(got[1], [-np.log(3)] * 3)
    np.testing.assert_allclose(got[2], [0.0, -1000.0, -np.inf])
    np.testing.assert_allclose(got[3], S[3] - logsumexp(S[3]), rtol=1e-15)
    assert log_softmax(S[3:4].astype(np.float32)).dtype == np.float32


# --------------------------------------------------------------------------
# feature names (pandas)

def frame(X, names=None):
    return pd.DataFrame(X, columns=names if names is not None
                        else [f"f{j}" for j in range(X.shape[1])])


@pytest.mark.parametrize("name", NAMES)
def test_fit_on_dataframe_sets_feature_names(name):
    X, y = make_data(name)
    df = frame(X)
    est = quiet_fit(make(name), df, y)
    assert est.feature_names_in_.dtype == object
    np.testing.assert_array_equal(est.feature_names_in_, df.columns)
    assert est.n_features_in_ == X.shape[1]
    plain = quiet_fit(make(name), X, y)
    assert_same_fit(est, plain, rtol=0, atol=0)
    np.testing.assert_array_equal(est.predict(df), plain.predict(X))
    with pytest.raises(ValueError, match="must be in the same order"):
        est.predict(df[df.columns[::-1]])
    with pytest.raises(ValueError, match="seen at fit time, yet now missing:\n- f3"):
        est.predict(df[df.columns[:3]])
    with pytest.raises(ValueError, match="unseen at fit time:\n- g0"):
        est.predict(df.rename(columns={"f0": "g0"}))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        est.predict(X)
    # refitting on an ndarray forgets the names
    quiet_fit(est, X, y)
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but"):
        est.predict(df)


def test_feature_names_need_strings():
    X, y = make_data("LinearRegression")
    est = quiet_fit(make("LinearRegression"), pd.DataFrame(X), y)      # 0..m-1: no names
    assert not hasattr(est, "feature_names_in_")
    with pytest.raises(TypeError, match="string names"):
        quiet_fit(make("LinearRegression"), frame(X, ["a", 1, "c", "d"]), y)


@pytest.mark.parametrize("name", ["Perceptron", "MLPClassifier", "LinearRegression"])
def test_partial_fit_checks_feature_names(name):
    X, y = make_data(name)
    df = frame(X)
    est = make(name)
    kw = {} if name == "LinearRegression" else {"classes": np.unique(y)}
    est.partial_fit(df, y, **kw)
    est.partial_fit(df, y)
    t = est.t_
    with pytest.raises(ValueError, match="must be in the same order"):
        est.partial_fit(df[df.columns[::-1]], y)
    assert est.t_ == t


def test_dataframe_dtypes():
    X, y = make_data("SoftmaxRegression")
    est = quiet_fit(make("SoftmaxRegression"), frame(X.astype(np.float32)), y)
    assert est.coef_.dtype == np.float32
    mixed = frame(X)
    mixed["f0"] = (mixed["f0"] > 0).astype(int)
    a = quiet_fit(make("SoftmaxRegression"), mixed, y)
    b = quiet_fit(make("SoftmaxRegression"), mixed.to_numpy(np.float64), y)
    assert_same_fit(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["LinearRegression", "Perceptron", "MLPClassifier"])
def test_dataframe_text_or_missing_raises_value_error(name):
    X, y = make_data(name)
    text = frame(X)
    text["f1"] = text["f1"].map(lambda v: f"{v:.2f}x")
    with pytest.raises(ValueError, match="column 'f1'.*not numeric"):
        quiet_fit(make(name), text, y)
    nullable = frame(X)
    nullable["f2"] = pd.array(np.arange(len(X)), dtype="Int64")
    nullable.loc[3, "f2"] = pd.NA
    with pytest.raises(ValueError, match="NaN"):
        quiet_fit(make(name), nullable, y)
    obj = frame(X).astype(object)
    obj.iloc[5, 0] = pd.NA
    with pytest.raises(ValueError):
        quiet_fit(make(name), obj, y)
    fitted = quiet_fit(make(name), frame(X), y)
    with pytest.raises(ValueError, match="not numeric"):
        fitted.predict(text)


def test_import_fastlin_does_not_import_pandas():
    code = ("import sys, numpy as np, fastlin\n"
            "X = np.random.default_rng(0).normal(size=(20, 3)); y = (X[:, 0] > 0).astype(int)\n"
            "est = fastlin.LogisticRegression(max_iter=2, tol=None).fit(X, y)\n"
            "est.predict(X); est.predict_log_proba(X)\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------
# learning-rate schedules

def test_optimal_schedule_values():
    alpha = 1e-3
    t0 = optimal_t0(alpha)
    assert learning_rate("optimal", 123.0, 1, alpha=alpha) == pytest.approx(alpha ** -0.25)
    for t in (1, 2, 10, 1000):
        assert learning_rate("optimal", 0.5, t, alpha=alpha) == pytest.approx(
            1.0 / (alpha * (t0 + t - 1)), rel=1e-15)
    assert learning_rate("adaptive", 0.5, 7) == 0.5
    with pytest.raises(ValueError, match="alpha > 0"):
        learning_rate("optimal", 0.1, 1, alpha=0.0)


def test_optimal_first_step_matches_sklearn():
    """From w = 0 the first per-sample step is w = η₁ y x (the penalty's
    shrinkage of w = 0 does nothing): η₁ = α^(−1/4), as in SGDRegressor."""
    alpha = 0.01
    X, y = np.array([[0.3, -0.2]]), np.array([0.7])
    ours = quiet_fit(LinearRegression(standardize=False, learning_rate_schedule="optimal", alpha=alpha,
                                      batch_size=1, max_iter=1, tol=None, shuffle=False), X, y)
    theirs = SGDRegressor(learning_rate="optimal", alpha=alpha, max_iter=1, tol=None,
                          shuffle=False).fit(X, y)
    eta1 = alpha ** -0.25
    np.testing.assert_allclose(ours.coef_, eta1 * y[0] * X[0], rtol=1e-14)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-12)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-12)


@pytest.mark.parametrize("schedule", ["optimal", "adaptive"])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("batch_size", [1, 8, None])
@pytest.mark.parametrize("name", NAMES)
def test_schedule_cython_matches_numpy(name, batch_size, dtype, rtol, schedule):
    if name == "MLPClassifier" and batch_size is None:
        batch_size = 40
    X, y = make_data(name, dtype=dtype)
    kw = dict(learning_rate_schedule=schedule, batch_size=batch_size, alpha=0.5,
              max_iter=12, tol=0.5, n_iter_no_change=2, learning_rate=0.05)
    a = quiet_fit(make(name, backend="cython", **kw), X, y)
    b = quiet_fit(make(name, backend="numpy", **kw), X, y)
    assert a.t_ == b.t_ and a.n_iter_ == b.n_iter_
    for p, q in zip(fitted_arrays(a), fitted_arrays(b)):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol)


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("loss", ["squared_error", "log_loss", "softmax_cross_entropy"])
def test_optimal_linear_kernel_matches_reference(loss, batch_size):
    from fastlin import _linear_fast
    name = {"squared_error": "LinearRegression", "log_loss": "LogisticRegression-log",
            "softmax_cross_entropy": "SoftmaxRegression"}[loss]
    X, y = make_data(name, n=30)
    c = 3 if loss == "softmax_cross_entropy" else 1
    target = y.astype(np.intp) if c == 3 else y.astype(np.float64)
    order = np.random.default_rng(3).permutation(len(X)).astype(np.intp)
    out = []
    for module in (_linear_fast, ref_linear):
        W, b = np.zeros((X.shape[1], c)), np.zeros(c)
        loss_value, t = module.sgd_epoch(X, target, W, b, order, loss, eta0=0.3,
                                         batch_size=batch_size, alpha=0.5,
                                         schedule="optimal", t=7)
        out.append((loss_value, t, W, b))
    (la, ta, Wa, ba), (lb, tb, Wb, bb) = out
    assert ta == tb == 7 + -(-len(X) // batch_size)
    assert la == pytest.approx(lb, rel=1e-10)
    np.testing.assert_allclose(Wa, Wb, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ba, bb, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="alpha > 0"):
        module.sgd_epoch(X, target, W, b, order, loss, eta0=0.3, schedule="optimal")


def test_optimal_network_kernel_matches_reference():
    from fastlin import _mlp_fast
    X, y = make_data("MLPClassifier", n=30)
    order = np.random.default_rng(3).permutation(len(X)).astype(np.intp)
    params = ref_network.init_params(X.shape[1], 4, 3, random_state=0)
    out = []
    for module in (_mlp_fast, ref_network):
        p = [a.copy() for a in params]
        v = [np.zeros_like(a) for a in params]
        loss_value, t = module.sgd_epoch(X, y, p, order, eta0=0.3, batch_size=4, alpha=0.05,
                                         momentum=0.5, velocities=v, schedule="optimal", t=7)
        out.append((loss_value, t, p))
    (la, ta, pa), (lb, tb, pb) = out
    assert ta == tb == 7 + 8
    assert la == pytest.approx(lb, rel=1e-10)
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for module in (_mlp_fast, ref_network):
        with pytest.raises(ValueError, match="alpha > 0"):
            module.sgd_epoch(X, y, [a.copy() for a in params], order, eta0=0.3,
                             schedule="optimal")


@pytest.mark.parametrize("name", NAMES)
def test_optimal_needs_positive_alpha(name):
    X, y = make_data(name)
    with pytest.raises(ValueError, match="needs alpha > 0"):
        make(name, learning_rate_schedule="optimal", alpha=0.0).fit(X, y)


def reference_adaptive_fit(name, X, y, eta0, max_iter, tol, n_iter_no_change, batch_size):
    """The "adaptive" rule written out over the reference's sgd_epoch, in
    order (shuffle=False), with ``tol`` relative to the loss of the best
    constant prediction (½ Var(y); the class prior's cross-entropy):
    returns (params, etas used per epoch)."""
    n = len(X)
    if name == "MLPClassifier":
        p = np.bincount(y) / n
        baseline = -np.sum(p[p > 0] * np.log(p[p > 0]))
    else:
        baseline = 0.5 * np.var(y)
    order = np.arange(n, dtype=np.intp)
    if name == "MLPClassifier":
        params = ref_network.init_params(X.shape[1], 5, 3, random_state=0)
        velocities = [np.zeros_like(p) for p in params]

        def epoch(eta, t):
            return ref_network.sgd_epoch(X, y, params, order, eta0=eta, batch_size=batch_size,
                                         alpha=0.01, momentum=0.9, nesterov=True,
                                         velocities=velocities, schedule="constant", t=t)
    else:
        W, b = np.zeros((X.shape[1], 1)), np.zeros(1)
        params = [W, b]

        def epoch(eta, t):
            return ref_linear.sgd_epoch(X, y.astype(np.float64), W, b, order, "squared_error",
                                        eta0=eta, batch_size=batch_size, alpha=0.01, t=t)
    eta, t, best, stale, etas = eta0, 0, np.inf, 0, []
    for _ in range(max_iter):
        etas.append(eta)
        loss, t = epoch(eta, t)
        # an improvement: below the best so far by tol relative to it
        stale = 0 if best == np.inf or loss < best - tol * baseline else stale + 1
        best = min(best, loss)
        if stale >= n_iter_no_change:
            if eta > 1e-6:
                eta, stale = eta / 5, 0
            else:
                break
    return params, etas


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["LinearRegression", "MLPClassifier"])
def test_adaptive_divides_eta_by_five(name, backend):
    X, y = make_data(name)
    kw = dict(max_iter=30, tol=0.05, n_iter_no_change=2, batch_size=8)
    params, etas = reference_adaptive_fit(name, X, y, 0.05, **kw)
    assert len(set(etas)) >= 3              # η was divided at least twice
    est = quiet_fit(make(name, backend=backend, learning_rate_schedule="adaptive",
                         learning_rate=0.05, alpha=0.01, shuffle=False, **kw), X, y)
    assert est.n_iter_ == len(etas)
    got = fitted_arrays(est)
    if name == "MLPClassifier":
        got = [got[0], got[2], got[1], got[3]]
        expected = params
    else:
        expected = [params[0][:, 0], params[1]]
    for p, q in zip(got, expected):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)


def test_adaptive_stops_once_eta_is_tiny():
    X, y = make_data("LinearRegression")
    est = quiet_fit(make("LinearRegression", learning_rate=0.01, learning_rate_schedule="adaptive",
                         tol=1e9, n_iter_no_change=1, max_iter=1000), X, y)
    # every epoch counts as no improvement: η = 0.01 / 5^k until η <= 1e-6
    # epoch 1 sets the best loss, epochs 2..k+1 divide η (k divisions), epoch
    # k + 2 finds η <= 1e-6 and ends the fit
    k = int(np.ceil(np.log(0.01 / 1e-6) / np.log(5)))
    assert est.n_iter_ == k + 2


@pytest.mark.parametrize("name", NAMES)
def test_adaptive_without_tol_is_constant(name):
    X, y = make_data(name)
    a = quiet_fit(make(name, learning_rate_schedule="adaptive"), X, y)
    b = quiet_fit(make(name, learning_rate_schedule="constant"), X, y)
    assert_same_fit(a, b, rtol=0, atol=0)


# --------------------------------------------------------------------------
# average=<int>

def stepwise_average(X, y, batch_size, epochs, start, eta0=0.05):
    """LinearRegression by the reference one batch at a time (order 0..n−1
    every epoch), W̄ the mean of the weights after each step whose batch
    ends at sample ``start`` or later."""
    W, b = np.zeros((X.shape[1], 1)), np.zeros(1)
    t, seen, after = 0, 0, []
    for _ in range(epochs):
        for lo in range(0, len(X), batch_size):
            batch = np.arange(lo, min(lo + batch_size, len(X)), dtype=np.intp)
            _, t = ref_linear.sgd_epoch(X, y, W, b, batch, "squared_error", eta0=eta0,
                                        batch_size=batch_size, t=t)
            seen += len(batch)
            if seen >= start:
                after.append((W[:, 0].copy(), b.copy()))
    if not after:
        return W[:, 0], b
    return np.mean([w for w, _ in after], axis=0), np.mean([c for _, c in after], axis=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_size,start", [(1, 17), (1, 61), (8, 20), (8, 41), (7, 1000)])
def test_average_int_starts_after_that_many_samples(batch_size, start, backend):
    X, y = make_data("LinearRegression")
    W_bar, b_bar = stepwise_average(X, y, batch_size, epochs=3, start=start)
    est = quiet_fit(LinearRegression(standardize=False, average=start, batch_size=batch_size, shuffle=False,
                                     max_iter=3, tol=None, learning_rate=0.05,
                                     backend=backend), X, y)
    np.testing.assert_allclose(est.coef_, W_bar, rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, b_bar, rtol=1e-10)
    # partial_fit calls continue the count of samples and of averaged steps
    part = LinearRegression(standardize=False, average=start, batch_size=batch_size, shuffle=False,
                            learning_rate=0.05, backend=backend)
    for _ in range(3):
        part.partial_fit(X, y)
    np.testing.assert_allclose(part.coef_, W_bar, rtol=1e-10)
    np.testing.assert_allclose(part.intercept_, b_bar, rtol=1e-10)


def test_average_int_matches_sklearn_sgd_regressor():
    X, y = make_data("LinearRegression")
    for start in (5, 50, 100):
        ours = quiet_fit(LinearRegression(standardize=False, average=start, batch_size=1, shuffle=False, alpha=0.0,
                                          max_iter=2, tol=None, learning_rate=0.01), X, y)
        theirs = SGDRegressor(average=start, penalty=None, learning_rate="constant", eta0=0.01,
                              shuffle=False, max_iter=2, tol=None).fit(X, y)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-10)


@pytest.mark.parametrize("name", LINEAR)
def test_average_int_edge_values(name):
    X, y = make_data(name)
    one = quiet_fit(make(name, average=1), X, y)
    assert_same_fit(one, quiet_fit(make(name, average=True), X, y), rtol=0, atol=0)
    zero = quiet_fit(make(name, average=0), X, y)
    assert_same_fit(zero, quiet_fit(make(name, average=False), X, y), rtol=0, atol=0)
    never = quiet_fit(make(name, average=10**9), X, y)     # not started: the running weights
    assert_same_fit(never, zero, rtol=0, atol=0)
    with pytest.raises(ValueError, match="average must be >= 0"):
        make(name, average=-1).fit(X, y)


@pytest.mark.parametrize("name", ["Perceptron", "SoftmaxRegression"])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_average_int_cython_matches_numpy(name, dtype, rtol):
    X, y = make_data(name, dtype=dtype)
    for batch_size in (1, 8, None):
        a = quiet_fit(make(name, average=50, batch_size=batch_size, backend="cython"), X, y)
        b = quiet_fit(make(name, average=50, batch_size=batch_size, backend="numpy"), X, y)
        for p, q in zip(fitted_arrays(a), fitted_arrays(b)):
            np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol)


# --------------------------------------------------------------------------
# coef_init / intercept_init

@pytest.mark.parametrize("backend", BACKENDS)
def test_coef_init_is_the_starting_point(backend):
    X, y = make_data("LinearRegression")
    C, c0 = np.array([0.5, -1.0, 2.0, 0.25]), 1.5
    est = quiet_fit(LinearRegression(standardize=False, learning_rate=0.01, max_iter=1, tol=None,
                                     shuffle=False, backend=backend),
                    X, y, coef_init=C, intercept_init=c0)
    W, b = C[:, None].copy(), np.array([c0])
    ref_linear.sgd_epoch(X, y, W, b, np.arange(len(X), dtype=np.intp), "squared_error",
                         eta0=0.01, batch_size=32)
    np.testing.assert_allclose(est.coef_, W[:, 0], rtol=1e-10)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-10)
    # fit_intercept=False keeps intercept_init
    fixed = quiet_fit(LinearRegression(standardize=False, fit_intercept=False, max_iter=2, backend=backend), X, y,
                      intercept_init=[c0])
    assert fixed.intercept_[0] == c0


@pytest.mark.parametrize("name", LINEAR)
def test_coef_init_shapes(name):
    X, y = make_data(name)
    est = quiet_fit(make(name), X, y)
    coef, intercept = np.asarray(est.coef_), np.asarray(est.intercept_)
    m = X.shape[1]
    with pytest.raises(ValueError, match="coef_init has shape"):
        make(name).fit(X, y, coef_init=np.zeros(m + 1))
    with pytest.raises(ValueError, match="coef_init has shape"):
        make(name).fit(X, y, coef_init=np.zeros((coef.reshape(-1, m).shape[0] + 1, m)))
    with pytest.raises(ValueError, match="intercept_init has shape"):
        make(name).fit(X, y, intercept_init=np.zeros(intercept.size + 2))
    with pytest.raises(ValueError, match="finite"):
        make(name).fit(X, y, coef_init=np.full(coef.shape, np.nan))
    with pytest.raises(TypeError, match="coef_init has dtype"):
        make(name).fit(X, y, coef_init=np.full(coef.shape, "a"))
    if coef.ndim == 2 and coef.shape[0] == 1:           # binary: (m,) works too
        a = quiet_fit(make(name), X, y, coef_init=coef[0], intercept_init=float(intercept[0]))
        b = quiet_fit(make(name), X, y, coef_init=coef, intercept_init=intercept)
        assert_same_fit(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", LINEAR)
def test_coef_init_overrides_warm_start(name):
    X, y = make_data(name)
    est = quiet_fit(make(name, warm_start=True), X, y)
    coef = np.asarray(est.coef_) * 0.5
    intercept = np.asarray(est.intercept_) - 1.0
    quiet_fit(est, X, y, coef_init=coef, intercept_init=intercept)
    fresh = quiet_fit(make(name), X, y, coef_init=coef, intercept_init=intercept)
    assert_same_fit(est, fresh, rtol=0, atol=0)


# --------------------------------------------------------------------------
# the network's warm_start continues the schedule

@pytest.mark.parametrize("schedule", ["invscaling", "optimal"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_warm_start_continues_step_count(backend, schedule):
    X, y = make_data("MLPClassifier")
    kw = dict(backend=backend, shuffle=False, learning_rate_schedule=schedule, alpha=0.01)
    est = quiet_fit(make("MLPClassifier", max_iter=3, warm_start=True, **kw), X, y)
    t3 = est.t_
    est.set_params(max_iter=2)
    quiet_fit(est, X, y)
    assert est.t_ == t3 + 2 * t3 // 3
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    straight = quiet_fit(make("MLPClassifier", max_iter=5, **kw), X, y)
    assert_same_fit(est, straight)
