"""Real data as users pass it: every model at its defaults, on the data sets
scikit-learn ships, raw and standardized, against scikit-learn's default
counterpart fitted here on the same split.

The data: digits (1797 x 64, pixels 0-16), breast_cancer (569 x 30, features
from 1e-3 to 1e3), wine (178 x 13), iris (150 x 4), and diabetes with
``scaled=False`` (442 x 10, the target in its own units). Each set is split
once, in halves, stratified by class (by target decile for diabetes), with a
fixed seed: half of iris is 75 samples, so that one sample (0.013) is below
the tolerance of 0.02 and the comparison is not decided by a single point. "standardized" means scikit-learn's StandardScaler fitted on the
training part; "raw" is the data as loaded.

The binary models (the two LogisticRegression losses, Perceptron) need two
classes. breast_cancer is binary already; on the multi-class sets they learn
one binary question: odd against even digits for digits (the package's own
digits-binary task, balanced), and the last class against the rest for wine
and iris (class 2: for iris, virginica, which a line almost separates from
the rest; versicolor would not be a linear task at all).

The counterparts (scikit-learn at its defaults; every fit of this file has
BLAS limited to one thread, so that a loaded machine does not slow it down
by thread contention):
LogisticRegression(max_iter=1000) for both logistic losses and the softmax
model, Perceptron for both perceptrons, MLPClassifier() for the network
(its ConvergenceWarning silenced), and ordinary least squares
(LinearRegression) for fastlin's LinearRegression. The held-out score
(accuracy, R² for the regression) must be at least the counterpart's minus
0.02.

Beyond the scores: over alpha from 1e-6 to 1e4 every fit ends with finite
scores (no DivergenceError), on both backends; and a fit that ends at a bad
model on real data does not do so silently (it raises DivergenceError or
warns ConvergenceWarning) -- "bad" meaning more than 0.1 below the
counterpart.
"""
import functools
import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn import linear_model as sk_linear
from sklearn import neural_network as sk_network
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import fastlin
from fastlin import ConvergenceWarning, DivergenceError

SEED = 0
TOLERANCE = 0.02
SILENT_TOLERANCE = 0.1       # a fit further below the counterpart than this must say so
CLASSIFICATION_SETS = ("digits", "breast_cancer", "wine", "iris")
PREPROCESSING = ("raw", "standardized")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Every fit here (scikit-learn's and the network's BLAS calls) on one
    thread: on a loaded machine, BLAS threads contending for the cores make
    scikit-learn's lbfgs and MLP fits up to a hundred times slower."""
    with threadpool_limits(limits=1):
        yield


def _load(name):
    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True, scaled=False)
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _binary_labels(name, y):
    """The binary task of each classification set (module docstring)."""
    if name == "breast_cancer":
        return y
    if name == "digits":
        return y % 2
    return (y == y.max()).astype(np.int64)


@functools.lru_cache(maxsize=None)
def split(name, preprocessing, task):
    """(X_train, X_test, y_train, y_test) of one data set; ``task`` is
    "multiclass" (the labels as loaded), "binary" or "regression"."""
    X, y = _load(name)
    X = np.asarray(X, dtype=np.float64)
    if task == "binary":
        y = _binary_labels(name, y)
    strata = np.digitize(y, np.quantile(y, np.linspace(0.1, 0.9, 9))) if task == "regression" else y
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=strata, random_state=SEED)
    if preprocessing == "standardized":
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    for a in (X_train, X_test, y_train, y_test):
        a.setflags(write=False)
    return X_train, X_test, y_train, y_test


# model name -> (fastlin estimator at its defaults, its scikit-learn counterpart, task)
MODELS = {
    "LogisticRegression": (
        lambda: fastlin.LogisticRegression(random_state=SEED),
        lambda: sk_linear.LogisticRegression(max_iter=1000), "binary"),
    "LogisticRegression(loss='squared_error')": (
        lambda: fastlin.LogisticRegression(loss="squared_error", random_state=SEED),
        lambda: sk_linear.LogisticRegression(max_iter=1000), "binary"),
    "Perceptron": (
        lambda: fastlin.Perceptron(random_state=SEED),
        lambda: sk_linear.Perceptron(random_state=SEED), "binary"),
    "MulticlassPerceptron": (
        lambda: fastlin.MulticlassPerceptron(random_state=SEED),
        lambda: sk_linear.Perceptron(random_state=SEED), "multiclass"),
    "SoftmaxRegression": (
        lambda: fastlin.SoftmaxRegression(random_state=SEED),
        lambda: sk_linear.LogisticRegression(max_iter=1000), "multiclass"),
    "MLPClassifier": (
        lambda: fastlin.MLPClassifier(random_state=SEED),
        lambda: sk_network.MLPClassifier(random_state=SEED), "multiclass"),
    "LinearRegression": (
        lambda: fastlin.LinearRegression(random_state=SEED),
        lambda: sk_linear.LinearRegression(), "regression"),
}


@functools.lru_cache(maxsize=None)
def counterpart_score(model, name, preprocessing):
    """The held-out score of ``model``'s scikit-learn counterpart (cached: the
    network on digits is the slowest fit of this file)."""
    _, make_reference, task = MODELS[model]
    X_train, X_test, y_train, y_test = split(name, preprocessing, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        return make_reference().fit(X_train, y_train).score(X_test, y_test)


BATTERY = [(model, name, preprocessing)
           for model, (_, _, task) in MODELS.items()
           for name in (("diabetes",) if task == "regression" else CLASSIFICATION_SETS)
           for preprocessing in PREPROCESSING]


@pytest.mark.parametrize("model, name, preprocessing", BATTERY)
def test_defaults_match_scikit_learn_on_real_data(model, name, preprocessing):
    make, _, task = MODELS[model]
    X_train, X_test, y_train, y_test = split(name, preprocessing, task)
    score = make().fit(X_train, y_train).score(X_test, y_test)
    reference = counterpart_score(model, name, preprocessing)
    assert score >= reference - TOLERANCE, (
        f"{model} on {preprocessing} {name}: held-out {score:.3f}, "
        f"scikit-learn {reference:.3f}")


def test_regression_target_in_small_units():
    """A standardized data set whose target is a fraction (variance 0.03):
    the fit must not stop early because its loss is small in absolute terms."""
    X_train, X_test, y_train, y_test = split("diabetes", "standardized", "regression")
    mean, std = y_train.mean(), y_train.std()
    y_train = (y_train - mean) / std * np.sqrt(0.03)
    y_test = (y_test - mean) / std * np.sqrt(0.03)
    ols = sk_linear.LinearRegression().fit(X_train, y_train).score(X_test, y_test)
    score = fastlin.LinearRegression(random_state=SEED).fit(X_train, y_train).score(X_test, y_test)
    assert score >= ols - TOLERANCE, (score, ols)


# The alpha grid: 1e-6 to 1e4, with 30 (where an unclipped L2 step at the old
# default learning rate started to overshoot) in between.
ALPHAS = (1e-6, 1e-3, 1.0, 30.0, 1e2, 1e4)

# per task, the raw set the alpha grid runs on (small, so that the NumPy
# reference's per-sample loop of the perceptrons stays cheap)
ALPHA_DATA = {"binary": "breast_cancer", "multiclass": "wine", "regression": "diabetes"}


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("model", list(MODELS))
def test_every_alpha_gives_finite_scores(model, backend):
    make, _, task = MODELS[model]
    X_train, X_test, y_train, y_test = split(ALPHA_DATA[task], "raw", task)
    for alpha in ALPHAS:
        est = make().set_params(alpha=alpha, backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                est.fit(X_train, y_train)
            except DivergenceError as exc:
                pytest.fail(f"{model}(alpha={alpha:g}, backend={backend!r}): {exc}")
        scores = est.decision_function(X_test) if task != "regression" else est.predict(X_test)
        assert np.all(np.isfinite(scores)), (model, alpha, backend)
        assert np.isfinite(est.score(X_test, y_test)), (model, alpha, backend)


# Fits that ended at a bad model without a word: the textbook update
# (standardize=False, the old float defaults) on raw features, the softmax
# model with a large alpha on standardized iris, and the network with a step
# far too large. Each must now end at a good model or say that it did not.
SILENT_FAILURES = [
    ("LogisticRegression", dict(standardize=False, learning_rate=0.1), "breast_cancer", "raw"),
    ("LogisticRegression(loss='squared_error')", dict(standardize=False, learning_rate=0.1),
     "breast_cancer", "raw"),
    ("MLPClassifier", dict(standardize=False, learning_rate=0.1), "breast_cancer", "raw"),
    ("MLPClassifier", dict(standardize=False, learning_rate=0.1), "wine", "raw"),
    ("SoftmaxRegression", dict(standardize=False, learning_rate=0.1), "wine", "raw"),
    ("SoftmaxRegression", dict(alpha=22.0), "iris", "standardized"),
    ("MLPClassifier", dict(learning_rate=1e3), "digits", "standardized"),
]


@pytest.mark.parametrize("model, params, name, preprocessing", SILENT_FAILURES)
def test_a_bad_fit_is_not_silent(model, params, name, preprocessing):
    """Either the fit raises DivergenceError, or it warns ConvergenceWarning,
    or its held-out score is within 0.1 of the counterpart's (with the same
    penalty where the case sets alpha: a large alpha is meant to cost
    accuracy, a fit that misses its own objective's minimum is not)."""
    make, _, task = MODELS[model]
    X_train, X_test, y_train, y_test = split(name, preprocessing, task)
    est = make().set_params(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X_train, y_train)
        except DivergenceError:
            return
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        return
    score = est.score(X_test, y_test)
    if "alpha" in params:
        # the same penalised objective: scikit-learn's C sum(l) + |w|^2 / 2 is
        # C n times fastlin's mean(l) + (alpha / 2) |w|^2 for C = 1 / (alpha n)
        reference = sk_linear.LogisticRegression(
            C=1 / (params["alpha"] * len(y_train)), max_iter=1000).fit(
            X_train, y_train).score(X_test, y_test)
    else:
        reference = counterpart_score(model, name, preprocessing)
    assert score >= reference - SILENT_TOLERANCE, (
        f"{model}({params}) on {preprocessing} {name}: held-out {score:.3f} "
        f"(scikit-learn {reference:.3f}) with no warning")
