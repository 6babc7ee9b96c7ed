"""The estimator configurations and data the reliability tests share
(test_bad_input, test_numerics, test_properties, test_threads, test_memory).

``CASES`` names every estimator configuration: the six linear models (both
losses of LogisticRegression) and the network; ``make(name, **params)``
builds one with small, fast defaults; ``make_data(name, ...)`` gives a
matching (X, y).
"""
import warnings

import numpy as np

from fastlin import (ConvergenceWarning, LinearRegression, LogisticRegression,
                     MLPClassifier, MulticlassPerceptron, Perceptron, SoftmaxRegression)

# name -> (factory, target kind: "reg", "bin" or "multi")
CASES = {
    "LinearRegression": (LinearRegression, "reg"),
    "LogisticRegression-log": (lambda **kw: LogisticRegression(loss="log_loss", **kw), "bin"),
    "LogisticRegression-squared": (
        lambda **kw: LogisticRegression(loss="squared_error", **kw), "bin"),
    "Perceptron": (Perceptron, "bin"),
    "MulticlassPerceptron": (MulticlassPerceptron, "multi"),
    "SoftmaxRegression": (SoftmaxRegression, "multi"),
    "MLPClassifier": (lambda **kw: MLPClassifier(hidden_size=5, **kw), "multi"),
}
NAMES = list(CASES)
CLASSIFIERS = [name for name in NAMES if CASES[name][1] != "reg"]
BACKENDS = ["cython", "numpy"]


def kind(name):
    return CASES[name][1]


def make(name, **params):
    """A small, deterministic, fast configuration (a few epochs, no stopping
    rule, the plain SGD of docs/math.md: ``standardize=False``) of estimator
    ``name``; ``params`` override."""
    params.setdefault("standardize", False)
    params.setdefault("random_state", 0)
    params.setdefault("max_iter", 3)
    params.setdefault("tol", None)
    return CASES[name][0](**params)


def make_data(name, n=40, m=4, c=3, seed=0, dtype=np.float64):
    """(X, y) for estimator ``name``: y real for the regressor, 0/1 for the
    binary models, 0..c-1 (every class present) for the multi-class ones."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    S = X @ rng.normal(size=(m, c)) + 0.3 * rng.normal(size=(n, c))
    k = kind(name)
    if k == "reg":
        y = 3 * S[:, 0] + 1
    elif k == "bin":
        y = (S[:, 0] > 0).astype(np.int64)
        y[:2] = [0, 1]
    else:
        y = S.argmax(axis=1)
        y[:c] = np.arange(c)
    return X.astype(dtype), y


def fitted_arrays(est):
    """The fitted parameters of ``est`` as a list of arrays."""
    if hasattr(est, "coefs_"):
        return list(est.coefs_) + list(est.intercepts_)
    return [np.asarray(est.coef_), np.asarray(est.intercept_)]


def quiet_fit(est, X, y, **kw):
    """est.fit without the ConvergenceWarning (the small max_iter is on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)
