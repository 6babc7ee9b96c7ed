"""Stopping: the relative ``tol``, the convergence verdict, early stopping.

* ``tol`` is relative to the loss (to the loss of the best constant
  prediction, L₀): the same fit on y scaled by a power of two (exact in
  floating point) stops at the same epoch, and on a
  standardized, ill-conditioned problem whose target has variance 0.03
  LinearRegression at its defaults reaches the least-squares R².
* A fit that ends no better than a constant prediction, or well above its
  best loss, warns (ConvergenceWarning naming the cause); a good one does
  not; a loss growing at every epoch is still a DivergenceError.
* ``early_stopping``: a stratified held-out split drawn from random_state,
  scikit-learn's rule on the validation score, the best epoch's parameters
  restored, the same on both backends and for a CSR X, no copy of X but
  the held-out rows.
"""
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris

from estimator_cases import BACKENDS, fitted_arrays
from fastlin import (ConvergenceWarning, DivergenceError, LinearRegression, LogisticRegression,
                     MLPClassifier, MulticlassPerceptron, Perceptron, SoftmaxRegression)
from fastlin._base import make_rng, validation_split


def _standardized(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _no_warning_fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return est.fit(X, y, **kw)


def _ols_r2(X, y):
    A = np.column_stack([X, np.ones(len(X))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return 1 - np.sum((A @ coef - y) ** 2) / np.sum((y - y.mean()) ** 2)


def _ill_conditioned(n=4000, seed=0):
    """Standardized features, two of them nearly equal (the covariance's
    smallest eigenvalue about 0.02) with the signal in their difference; the
    target has variance 0.03 and OLS explains about 0.75 of it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    X = np.column_stack([z[:, 0] + 0.15 * rng.normal(size=n), z[:, 0] + 0.15 * rng.normal(size=n),
                         z[:, 1:], rng.normal(size=(n, 4))])
    X = _standardized(X)
    s = 3 * (X[:, 0] - X[:, 1]) + 0.3 * X[:, 2] + 0.2 * X[:, 4]
    y = s + rng.normal(size=n) * s.std() * np.sqrt(0.24 / 0.76)
    return X, y / y.std() * np.sqrt(0.03)


# --------------------------------------------------------------------------
# the relative tol

def test_linear_regression_on_a_small_target_reaches_the_ols_r2():
    X, y = _ill_conditioned()
    assert np.var(y) == pytest.approx(0.03)
    ols = _ols_r2(X, y)
    assert ols > 0.7
    est = _no_warning_fit(LinearRegression(random_state=0), X, y)
    assert est.score(X, y) > ols - 0.005
    # an absolute tol of 1e-3 would have stopped where the loss (about 0.004
    # in y's units) still fell by less than 1e-3 an epoch: at the start
    assert est.n_iter_ > 20


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_stopping_epoch_does_not_depend_on_y_scale(backend, standardize):
    """y × 2^k scales every weight and loss exactly (2^k and 2^2k): the
    relative rule stops at the same epoch."""
    X, y = _ill_conditioned(n=1000)
    fits = [_no_warning_fit(LinearRegression(random_state=0, backend=backend,
                                             standardize=standardize), X, y * scale)
            for scale in (1.0, 2.0 ** 10, 2.0 ** -10)]
    assert len({f.n_iter_ for f in fits}) == 1
    for f, scale in zip(fits[1:], (2.0 ** 10, 2.0 ** -10)):
        np.testing.assert_allclose(f.coef_, fits[0].coef_ * scale, rtol=1e-12)
        np.testing.assert_allclose(np.array(f.loss_curve_),
                                   np.array(fits[0].loss_curve_) * scale ** 2, rtol=1e-12)


def test_a_best_loss_of_zero_stops_after_n_iter_no_change_epochs():
    """Separable data: the perceptron's loss reaches 0, which no later epoch
    can beat (0 − tol · 0 < loss never holds), so the fit ends
    n_iter_no_change epochs after the first epoch at 0."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    s = X @ np.array([1.0, -2.0, 0.5])
    X, y = X[np.abs(s) > 1.0], (s[np.abs(s) > 1.0] > 0).astype(int)     # a wide margin
    est = _no_warning_fit(Perceptron(random_state=0, n_iter_no_change=4), X, y)
    assert 0.0 not in est.loss_curve_[:-5]
    first_zero = est.loss_curve_.index(0.0) + 1
    assert est.n_iter_ == first_zero + 4
    assert est.score(X, y) == 1.0


# --------------------------------------------------------------------------
# the convergence verdict

@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_with_an_overshooting_penalty_step_warns(backend):
    """alpha=22 at learning_rate=0.1 (minibatches of 32): the L2 factor 1 − 2.2 is clipped to 0,
    so every step starts from zero weights (no blow-up), but the model is
    the last steps' gradients, not the penalized minimum: that warns, and
    says that alpha·learning_rate is the cause. At the automatic step the
    same alpha does not (ηα < 1 there)."""
    X, y = load_iris(return_X_y=True)
    X = _standardized(X)
    with pytest.warns(ConvergenceWarning, match=r"sets the weights to zero.*"
                                                r"alpha·learning_rate = 2\.2 > 1"):
        est = SoftmaxRegression(alpha=22, learning_rate=0.1, batch_size=32, average=False,
                                random_state=0, backend=backend).fit(X, y)
    assert np.all(np.isfinite(est.coef_)) and np.all(np.abs(est.coef_) < 1)
    auto = _no_warning_fit(SoftmaxRegression(alpha=22, random_state=0, backend=backend), X, y)
    assert auto.alpha * auto.learning_rate_ < 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_network_with_a_huge_step_warns(backend):
    X, y = load_iris(return_X_y=True)
    X = _standardized(X)
    with pytest.warns(ConvergenceWarning, match=r"class prior.*learning_rate \(1e\+03\) too large"):
        est = MLPClassifier(learning_rate=1e3, random_state=0, backend=backend).fit(X, y)
    assert est.score(X, y) <= 1 / 3 + 1e-12        # at or below chance


@pytest.mark.parametrize("name", ["LogisticRegression", "SoftmaxRegression", "MLPClassifier"])
def test_raw_features_with_a_float_step_warn_and_name_the_scale(name):
    """breast_cancer's raw features range over 0.001 .. 4000: at the plain
    step of standardize=False the scores explode, the loss ends far above
    the prior's, and the warning names the unscaled features."""
    X, y = load_breast_cancer(return_X_y=True)
    est = {"LogisticRegression": LogisticRegression, "SoftmaxRegression": SoftmaxRegression,
           "MLPClassifier": MLPClassifier}[name](standardize=False, learning_rate=0.1,
                                                  random_state=0)
    with pytest.warns(ConvergenceWarning, match="unscaled features.*standardize=True"):
        est.fit(X, y)
    # the same model on the same raw X with standardize=True: no warning
    good = _no_warning_fit(type(est)(learning_rate=0.1, random_state=0), X, y)
    assert good.score(X, y) > 0.95


def test_a_perceptron_at_chance_warns():
    """Labels unrelated to the features, 16% positive: the averaged
    perceptron does no better than always predicting the majority class."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (rng.random(400) < 0.15).astype(int)
    with pytest.warns(ConvergenceWarning, match="most frequent class"):
        Perceptron(random_state=0).fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [
    lambda b: LogisticRegression(random_state=0, backend=b),
    lambda b: SoftmaxRegression(random_state=0, backend=b),
    lambda b: MulticlassPerceptron(random_state=0, backend=b),
    lambda b: MLPClassifier(random_state=0, backend=b, hidden_size=20),
])
def test_good_fits_on_real_data_do_not_warn(make, backend):
    X, y = load_digits(return_X_y=True)
    if isinstance(make(backend), LogisticRegression):
        y = y % 2
    est = _no_warning_fit(make(backend), X, y)
    assert est.score(X, y) > 0.9


# (a CSR X on the compiled backend only: the verdict's pass is the same
# Python for both, and the reference's per-sample CSR steps are slow)
@pytest.mark.parametrize("backend, sparse", [("cython", False), ("numpy", False),
                                             ("cython", True)],
                         ids=["cython", "numpy", "cython-csr"])
@pytest.mark.parametrize("cls", [LogisticRegression, SoftmaxRegression])
def test_an_averaged_fit_is_judged_by_its_average(cls, backend, sparse):
    """Overlapping classes (2% of labels flipped), per-sample steps at the
    automatic rate: the running weights wander so far that their epoch loss
    ends above the class prior's, while their average, the fitted model,
    is close to the best linear model. The verdict judges the average: no
    warning, and the model's training loss is below the prior's and
    within 0.05 of the converged scikit-learn fit's."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.metrics import log_loss

    X, y = make_classification(n_samples=2000, n_features=40, n_informative=20,
                               n_redundant=10, flip_y=0.02, random_state=0)
    prior = log_loss(y, np.tile(np.bincount(y) / len(y), (len(y), 1)))
    if sparse:
        import scipy.sparse as sp

        X = sp.csr_matrix(X)
    est = _no_warning_fit(cls(random_state=0, backend=backend), X, y)
    assert est.average and est.loss_curve_[-1] > prior      # the running weights' loss
    fitted = log_loss(y, est.predict_proba(X))
    best = log_loss(y, SkLogisticRegression(max_iter=1000).fit(X, y).predict_proba(X))
    assert fitted < prior and fitted < best + 0.05


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["log_loss", "softmax_cross_entropy", "squared_error"])
def test_the_verdicts_summed_loss_is_the_objective_times_n(loss, dtype):
    """The averaged verdict's pass (blocks of rows, scores from the raw-space
    model in X's dtype) against the reference objective, dense and CSR,
    weighted, standardized."""
    import scipy.sparse as sp

    from fastlin.linear_model import summed_loss
    from fastlin.reference.linear import objective

    rng = np.random.default_rng(3)
    n, m, c = 20000, 7, (3 if loss == "softmax_cross_entropy" else 1)  # > one 8192-row block
    X = (rng.normal(size=(n, m)) * rng.uniform(0.1, 10, m) + 2).astype(dtype)
    X[np.abs(X - 2) < 0.5] = 0
    y = (rng.integers(0, c, n) if c > 1 else rng.integers(0, 2, n).astype(dtype))
    W, b = rng.normal(size=(m, c)), rng.normal(size=c)
    sw = rng.uniform(0.5, 2, n).astype(dtype)
    mean, scale = X.mean(axis=0).astype(np.float64), X.std(axis=0).astype(np.float64)
    expected = objective(X.astype(np.float64), y, W, b, loss, sample_weight=sw.astype(np.float64),
                         mean=mean, scale=scale) * n
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for data in (X, sp.csr_matrix(X)):
        assert summed_loss(data, y, sw, W, b, loss, mean, scale) == pytest.approx(expected,
                                                                                rel=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_stuck_at_the_prior_names_the_penalty_or_the_step_not_a_large_step(backend):
    """A loss that never leaves the class prior's is not an unstable step:
    alpha=1e4 shrinks the model to a constant (the warning names alpha), a
    step of 1e-9 barely moves it (the warning says the step may be too
    small, and does not blame the default alpha)."""
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(ConvergenceWarning) as record:
        LogisticRegression(alpha=1e4, random_state=0, backend=backend).fit(X, y)
    message = str(record[-1].message)
    assert "class prior" in message and "alpha=1e+04 too large" in message
    assert "too large for this data: try a tenth" not in message
    with pytest.warns(ConvergenceWarning) as record:
        LogisticRegression(learning_rate=1e-9, random_state=0, backend=backend).fit(X, y)
    message = str(record[-1].message)
    assert "class prior" in message and "too large or too small" in message
    assert "alpha=" not in message and "(1e-09) too large" not in message


def test_a_loss_growing_every_epoch_is_still_a_divergence():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    with pytest.raises(DivergenceError):
        LinearRegression(standardize=False, learning_rate=0.01, random_state=0).fit(X, y)


# --------------------------------------------------------------------------
# the split

def test_the_split_is_stratified_disjoint_and_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, val = validation_split(y, 0.1, make_rng(3), stratify=True)
    assert len(val) == 10 and len(train) == 90
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    np.testing.assert_array_equal(np.bincount(y[val], minlength=3), [5, 3, 2])
    again = validation_split(y, 0.1, make_rng(3), stratify=True)
    np.testing.assert_array_equal(again[1], val)
    other = validation_split(y, 0.1, make_rng(4), stratify=True)
    assert not np.array_equal(other[1], val)


def test_the_stratified_shares_round_by_largest_remainders():
    y = np.repeat([0, 1, 2], [7, 7, 6])          # 20 rows, 0.25 -> 5 held out
    _, val = validation_split(y, 0.25, make_rng(0), stratify=True)
    counts = np.bincount(y[val], minlength=3)
    assert counts.sum() == 5
    assert np.all(np.abs(counts - np.array([7, 7, 6]) * 0.25) < 1)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_validation_fraction_outside_0_1_is_a_value_error(fraction):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="validation_fraction"):
        SoftmaxRegression(early_stopping=True, validation_fraction=fraction).fit(X, y)


def test_bad_early_stopping_inputs():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match="early_stopping must be a bool"):
        SoftmaxRegression(early_stopping="yes").fit(X, y)
    with pytest.raises(ValueError, match="at least 1 and 2"):
        LinearRegression(early_stopping=True).fit(X[:5], y[:5].astype(float))
    y1 = y.copy()
    y1[0] = 7                                       # a class with one sample
    with pytest.raises(ValueError, match="at least 2 samples of each class"):
        SoftmaxRegression(early_stopping=True).fit(X, y1)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        SoftmaxRegression(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


# --------------------------------------------------------------------------
# early stopping

CASES = {
    "SoftmaxRegression": (lambda **kw: SoftmaxRegression(**kw), "digits"),
    "MulticlassPerceptron": (lambda **kw: MulticlassPerceptron(**kw), "digits"),
    "MLPClassifier": (lambda **kw: MLPClassifier(hidden_size=20, **kw), "digits"),
    "LogisticRegression": (lambda **kw: LogisticRegression(**kw), "breast_cancer"),
    "LinearRegression": (lambda **kw: LinearRegression(**kw), "diabetes"),
}


def _data(which):
    if which == "digits":
        return load_digits(return_X_y=True)
    if which == "breast_cancer":
        return load_breast_cancer(return_X_y=True)
    return load_diabetes(return_X_y=True, scaled=False)


@pytest.mark.parametrize("name", list(CASES))
def test_early_stopping_restores_the_best_and_agrees_across_backends(name):
    make, which = CASES[name]
    X, y = _data(which)
    fits = [_no_warning_fit(make(early_stopping=True, random_state=0, backend=b), X, y)
            for b in BACKENDS]
    cy, ref = fits
    assert cy.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(cy.validation_scores_, ref.validation_scores_, rtol=1e-10)
    for a, b in zip(fitted_arrays(cy), fitted_arrays(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    # the held-out rows are the split drawn first from random_state
    classifier = name != "LinearRegression"
    _, val = validation_split(y, 0.1, make_rng(0), stratify=classifier)
    for est in fits:
        assert est.best_validation_score_ == max(est.validation_scores_)
        assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
        # restored: the published model scores the best score on the held-out rows
        assert est.score(X[val], y[val]) == pytest.approx(est.best_validation_score_,
                                                          abs=1e-12)
        # scikit-learn's rule: an epoch improves when it reaches best + tol;
        # the fit ends at the n_iter_no_change-th epoch in a row without
        best, stale = -np.inf, 0
        for epoch, score in enumerate(est.validation_scores_, 1):
            stale = stale + 1 if score < best + est.tol else 0
            best = max(best, score)
            if stale == est.n_iter_no_change:
                break
        assert epoch == est.n_iter_ < est.max_iter


def test_early_stopping_holds_out_better_than_the_training_fit():
    """MLPClassifier on digits: the held-out score of the restored weights
    is the best of the curve, and the last epoch's is no better."""
    X, y = load_digits(return_X_y=True)
    est = _no_warning_fit(MLPClassifier(early_stopping=True, random_state=1), X, y)
    assert est.best_validation_score_ > 0.95
    assert est.validation_scores_[-1] <= est.best_validation_score_


def test_without_early_stopping_the_validation_attributes_are_none():
    X, y = load_iris(return_X_y=True)
    for est in (SoftmaxRegression(random_state=0), MLPClassifier(random_state=0)):
        with warnings.catch_warnings():     # the network may reach max_iter on iris
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        assert est.validation_scores_ is None and est.best_validation_score_ is None
    est = SoftmaxRegression().partial_fit(X, y, classes=[0, 1, 2])
    assert est.validation_scores_ is None and est.best_validation_score_ is None


def test_early_stopping_trains_on_the_other_rows_only():
    """Changing a held-out row's features changes the validation scores, not
    the training loss; changing a training row's changes the loss."""
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float64)
    train, val = validation_split(y, 0.1, make_rng(0), stratify=True)
    kw = dict(early_stopping=True, random_state=0, standardize=False, learning_rate=0.01,
              max_iter=3, tol=None)
    base = SoftmaxRegression(**kw).fit(X, y)
    X_val = X.copy()
    X_val[val] = 0.0
    with pytest.warns(ConvergenceWarning, match="best validation accuracy"):
        held = SoftmaxRegression(**kw).fit(X_val, y)      # blank held-out rows: chance
    assert held.loss_curve_ == base.loss_curve_
    assert held.validation_scores_ != base.validation_scores_
    X_train = X.copy()
    X_train[train[0]] += 1.0
    assert SoftmaxRegression(**kw).fit(X_train, y).loss_curve_ != base.loss_curve_


@pytest.mark.parametrize("name", ["SoftmaxRegression", "LinearRegression"])
def test_early_stopping_on_a_csr_matches_the_dense_fit(name):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    make, which = CASES[name]
    X, y = _data(which)
    dense = _no_warning_fit(make(early_stopping=True, random_state=0), X, y)
    sparse = _no_warning_fit(make(early_stopping=True, random_state=0),
                             scipy_sparse.csr_matrix(X), y)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sparse.validation_scores_, dense.validation_scores_, rtol=1e-9)
    for a, b in zip(fitted_arrays(sparse), fitted_arrays(dense)):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("fraction", [0.05, 0.2])
def test_early_stopping_copies_only_the_held_out_rows(fraction):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 200))
    y = (X[:, :3].sum(axis=1) > 0).astype(int)
    est = LogisticRegression(early_stopping=True, validation_fraction=fraction,
                             random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[:50], y[:50])                     # imports out of the way
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        grown = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert fraction * X.nbytes <= grown < (fraction + 0.10) * X.nbytes
