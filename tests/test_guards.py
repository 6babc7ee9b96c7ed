"""Rules and guards that the other tests do not reach.

* Binary ``predict`` at a score of exactly 0 gives ``classes_[1]`` (ties go to
  the positive class, as the docstrings say), and agrees there with the
  reference's decision rule.
* The divergence rule: a training loss that grows at every epoch of the
  window and by a factor over 1000 in all raises DivergenceError; just under
  the factor, or with one epoch that does not grow, it does not.
* warm_start with another feature count or class set, a ``classes`` that
  differs in a later partial_fit, a network whose hidden_size changed since
  the fit: each a clear ValueError, the estimator left as it was.
* ``random_state`` given as a numpy Generator: used as it is (the caller's
  generator is advanced by ``fit`` and the first ``partial_fit``, not by
  later ``partial_fit`` calls), as the estimators' docstrings say.
"""
import numpy as np
import pytest

from estimator_cases import (BACKENDS, CLASSIFIERS, NAMES, fitted_arrays, kind, make, make_data,
                             quiet_fit)
from fastlin import DivergenceError, LinearRegression, MLPClassifier
from fastlin.reference import linear as ref_linear

BINARY = [name for name in NAMES if kind(name) == "bin"]


def _same_fit(est, before):
    got = fitted_arrays(est)
    assert len(got) == len(before)
    for a, b in zip(got, before):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# binary predict at a score of exactly 0

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("labels", [np.array([-3, 8]), np.array(["no", "yes"])])
@pytest.mark.parametrize("name", BINARY)
def test_binary_predict_at_a_zero_score_is_classes_1(name, labels, backend):
    """Without an intercept a row of zeros has the score 0 exactly: predict
    gives classes_[1] there."""
    X, y01 = make_data(name)
    est = quiet_fit(make(name, backend=backend, fit_intercept=False), X, labels[y01])
    zeros = np.zeros((3, X.shape[1]))
    np.testing.assert_array_equal(est.decision_function(zeros), 0.0)
    assert est.predict(zeros).tolist() == [labels[1]] * 3
    assert est.classes_[1] == labels[1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", BINARY)
def test_binary_predict_agrees_with_the_reference_decision_rule(name, backend):
    """On rows of zeros (score 0) mixed with ordinary rows, predict is
    classes_[reference.linear.predict(X, W, b, loss)]."""
    X, y01 = make_data(name)
    labels = np.array([10, 20])
    est = quiet_fit(make(name, backend=backend, fit_intercept=False), X, labels[y01])
    rows = np.vstack([np.zeros((4, X.shape[1])), X[:20]])
    W = np.asarray(est.coef_, dtype=np.float64).reshape(-1, 1)
    b = np.asarray(est.intercept_, dtype=np.float64).reshape(1)
    want = labels[ref_linear.predict(rows, W, b, est._loss)]
    np.testing.assert_array_equal(est.predict(rows), want)
    assert want[:4].tolist() == [20] * 4


# --------------------------------------------------------------------------
# the divergence rule

def _blow_up(curve, n_iter_no_change):
    """Apply the estimators' divergence rule to a loss curve: True when it
    raises DivergenceError."""
    est = LinearRegression(n_iter_no_change=n_iter_no_change)
    try:
        est._check_blow_up(list(curve))
    except DivergenceError:
        return True
    return False


def _growing(total, epochs, start=0.5):
    """epochs + 1 losses from ``start``, each larger than the last, the
    last ``total`` times the first."""
    return list(start * total ** (np.arange(epochs + 1) / epochs))


@pytest.mark.parametrize("window", [2, 5, 10])
def test_a_loss_growing_just_past_the_factor_diverges(window):
    assert _blow_up(_growing(1000 * (1 + 1e-6), window), window)
    assert _blow_up([3.0] * 7 + _growing(1001, window, start=3.0), window)


@pytest.mark.parametrize("window", [2, 5, 10])
def test_a_loss_growing_just_under_the_factor_does_not(window):
    assert not _blow_up(_growing(1000 * (1 - 1e-6), window), window)
    assert not _blow_up([3.0] * 7 + _growing(999, window, start=3.0), window)


def test_the_divergence_rule_looks_at_the_window_only():
    """The window is the last n_iter_no_change epochs: a growth by 999 in the
    last 3 steps does not count as divergence with a window of 3, even after
    a growth that makes the whole curve grow by 1998; with a window of 4
    that starts before it, it does."""
    curve = [1.0, 2.0, 20.0, 200.0, 1998.0]
    assert not _blow_up(curve, 3)
    assert _blow_up(curve, 4)


def test_the_divergence_rule_needs_growth_at_every_epoch():
    curve = _growing(1e6, 6)
    assert _blow_up(curve, 6)
    curve[3] = curve[2]                          # one epoch that does not grow
    assert not _blow_up(curve, 6)
    curve[3] = curve[2] * 0.999                  # one that shrinks
    assert not _blow_up(curve, 6)


def test_the_divergence_rule_needs_two_epochs_of_growth_and_a_positive_start():
    assert not _blow_up([1.0, 1e9], 10)          # one step of growth
    assert _blow_up([1.0, 1e4, 1e9], 10)
    assert not _blow_up([0.0, 1e4, 1e9], 10)     # no factor from 0


# --------------------------------------------------------------------------
# warm_start, partial_fit and the network's size

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_warm_start_with_another_feature_count(name, backend):
    X, y = make_data(name, m=4)
    est = quiet_fit(make(name, backend=backend, warm_start=True), X, y)
    before = [a.copy() for a in fitted_arrays(est)]
    X5, y5 = make_data(name, m=5)
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 4 .*warm_start"):
        est.fit(X5, y5)
    _same_fit(est, before)
    assert est.n_features_in_ == 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_warm_start_with_another_class_set(name, backend):
    X, y = make_data(name)
    est = quiet_fit(make(name, backend=backend, warm_start=True), X, y)
    before = [a.copy() for a in fitted_arrays(est)]
    classes = est.classes_.copy()
    y_other = np.where(y == y.max(), y.max() + 1, y)       # the last class renamed
    with pytest.raises(ValueError, match="warm_start: y's classes differ"):
        est.fit(X, y_other)
    _same_fit(est, before)
    np.testing.assert_array_equal(est.classes_, classes)
    # the same classes again continue the fit
    quiet_fit(est, X, y)
    assert est.n_iter_ == 3


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_partial_fit_with_other_classes(name, backend):
    X, y = make_data(name)
    classes = np.unique(y)
    est = make(name, backend=backend).partial_fit(X, y, classes=classes)
    before = [a.copy() for a in fitted_arrays(est)]
    for other in (np.append(classes, classes.max() + 1), classes[1:], classes + 1):
        with pytest.raises(ValueError, match="differs from the classes_ of the first"):
            est.partial_fit(X, y, classes=other)
    _same_fit(est, before)
    assert est.n_iter_ == 1
    est.partial_fit(X, y, classes=classes[::-1])           # the same set, any order
    assert est.n_iter_ == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_network_hidden_size_changed_since_the_fit(how, backend):
    """fit (or partial_fit) makes 5 hidden units; continuing with
    hidden_size=9 raises instead of silently keeping the 5."""
    X, y = make_data("MLPClassifier")
    classes = np.unique(y)
    est = MLPClassifier(hidden_size=5, max_iter=2, tol=None, random_state=0, backend=backend,
                        warm_start=how == "warm_start")
    if how == "warm_start":
        quiet_fit(est, X, y)
    else:
        est.partial_fit(X, y, classes=classes)
    before = [a.copy() for a in fitted_arrays(est)]
    est.set_params(hidden_size=9)
    with pytest.raises(ValueError, match="hidden_size=9 differs from the fitted network's 5"):
        if how == "warm_start":
            est.fit(X, y)
        else:
            est.partial_fit(X, y)
    _same_fit(est, before)
    assert est.coefs_[0].shape == (X.shape[1], 5)
    # back at 5 it continues; a new fit (no warm_start) makes the 9 units
    est.set_params(hidden_size=5)
    est.partial_fit(X, y)
    est.set_params(hidden_size=9, warm_start=False)
    quiet_fit(est, X, y)
    assert est.coefs_[0].shape == (X.shape[1], 9)


# --------------------------------------------------------------------------
# a numpy Generator as random_state

def _state(gen):
    return gen.bit_generator.state["state"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_a_generator_is_used_as_it_is_and_advanced_by_fit(name, backend):
    """fit draws from the caller's Generator itself: the result is the fit
    seeded with the Generator's seed, the caller's generator has moved on by
    exactly the draws of that fit, and a second fit with it differs."""
    X, y = make_data(name, n=60)
    gen = np.random.default_rng(7)
    first = quiet_fit(make(name, backend=backend, random_state=gen), X, y)
    seeded = quiet_fit(make(name, backend=backend, random_state=7), X, y)
    for a, b in zip(fitted_arrays(first), fitted_arrays(seeded)):
        np.testing.assert_array_equal(a, b)
    assert _state(gen) == _state(seeded._rng) != _state(np.random.default_rng(7))
    moved = _state(gen)
    second = quiet_fit(first, X, y)                         # the same Generator again
    assert _state(gen) != moved
    assert any(not np.array_equal(a, b) for a, b in
               zip(fitted_arrays(second), fitted_arrays(seeded)))


@pytest.mark.parametrize("name", NAMES)
def test_only_the_first_partial_fit_advances_the_callers_generator(name):
    X, y = make_data(name, n=60)
    kw = {} if kind(name) == "reg" else {"classes": np.unique(y)}
    gen = np.random.default_rng(3)
    est = make(name, random_state=gen).partial_fit(X, y, **kw)
    after_first = _state(gen)
    assert after_first != _state(np.random.default_rng(3))
    twin = make(name, random_state=3).partial_fit(X, y, **kw)
    for _ in range(2):
        est.partial_fit(X, y)
        twin.partial_fit(X, y)
    assert _state(gen) == after_first
    for a, b in zip(fitted_arrays(est), fitted_arrays(twin)):
        np.testing.assert_array_equal(a, b)


def test_a_random_state_gives_one_draw():
    """A RandomState seeds a new Generator with one draw from it."""
    X, y = make_data("SoftmaxRegression")
    rs = np.random.RandomState(0)
    est = quiet_fit(make("SoftmaxRegression", random_state=rs), X, y)
    twin_rs = np.random.RandomState(0)
    seed = twin_rs.randint(np.iinfo(np.int32).max)
    for a, b in zip(rs.get_state(), twin_rs.get_state()):   # one draw, no more
        np.testing.assert_array_equal(a, b)
    twin = quiet_fit(make("SoftmaxRegression", random_state=seed), X, y)
    for a, b in zip(fitted_arrays(est), fitted_arrays(twin)):
        np.testing.assert_array_equal(a, b)

