"""Held-out accuracy on scikit-learn's bundled real datasets, standardized,
against scikit-learn's nearest estimator, with fastlin's default
hyper-parameters apart from ``max_iter``.

"Held-out" is the mean accuracy of a stratified 5-fold cross-validation (every
sample is predicted once by a model that did not see it): on iris and wine a
single 25% test split has ~40 samples, so one sample would be 2.5 points and
the comparison would be noise. The bar: fastlin no more than 1.5 points below
scikit-learn (R² no more than 0.02 below for the regression).
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import datasets  # noqa: E402
from sklearn import linear_model as sk_linear  # noqa: E402
from sklearn import neural_network as sk_nn  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastlin  # noqa: E402

LOADERS = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits,
           "iris": datasets.load_iris, "wine": datasets.load_wine}
ALL = list(LOADERS)

# fastlin model (defaults but max_iter) -> (scikit-learn's nearest, datasets)
CASES = {
    "LogisticRegression": (
        lambda: fastlin.LogisticRegression(max_iter=200, random_state=0),
        lambda: sk_linear.LogisticRegression(max_iter=5000), ["breast_cancer"]),
    "LogisticRegression(squared_error)": (
        lambda: fastlin.LogisticRegression(loss="squared_error", max_iter=200, random_state=0),
        lambda: sk_linear.LogisticRegression(max_iter=5000), ["breast_cancer"]),
    "Perceptron": (
        lambda: fastlin.Perceptron(max_iter=200, random_state=0),
        lambda: sk_linear.Perceptron(random_state=0), ["breast_cancer"]),
    "MulticlassPerceptron": (
        lambda: fastlin.MulticlassPerceptron(max_iter=200, random_state=0),
        lambda: sk_linear.Perceptron(random_state=0), ALL),
    "SoftmaxRegression": (
        lambda: fastlin.SoftmaxRegression(max_iter=200, random_state=0),
        lambda: sk_linear.LogisticRegression(max_iter=5000), ALL),
    "MLPClassifier": (
        lambda: fastlin.MLPClassifier(max_iter=200, random_state=0),
        lambda: sk_nn.MLPClassifier(activation="logistic", random_state=0),
        ALL),
}
PARAMS = [(model, ds) for model, (_, _, dss) in CASES.items() for ds in dss]


def held_out(make, X, y, cv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # convergence warnings of either library
        return cross_val_score(make_pipeline(StandardScaler(), make()), X, y, cv=cv).mean()


@pytest.mark.parametrize("model,dataset", PARAMS, ids=[f"{m}-{d}" for m, d in PARAMS])
def test_classification_accuracy_near_sklearn(model, dataset):
    ours, theirs, _ = CASES[model]
    X, y = LOADERS[dataset](return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours_acc = held_out(ours, X, y, cv)
    theirs_acc = held_out(theirs, X, y, cv)
    assert ours_acc >= theirs_acc - 0.015, (
        f"{model} on {dataset}: {100 * ours_acc:.2f}% vs scikit-learn {100 * theirs_acc:.2f}%")


def test_regression_r2_near_sklearn():
    X, y = datasets.load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    ours = held_out(lambda: fastlin.LinearRegression(max_iter=200, random_state=0), X, y, cv)
    theirs = held_out(sk_linear.LinearRegression, X, y, cv)
    assert ours >= theirs - 0.02, f"R² {ours:.4f} vs scikit-learn {theirs:.4f}"


def test_float32_is_as_accurate_as_float64():
    X, y = datasets.load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X_tr, X_te, y_tr, y_te = X[:1300], X[1300:], y[:1300], y[1300:]
    acc = {}
    for dtype in (np.float32, np.float64):
        est = fastlin.SoftmaxRegression(max_iter=30, tol=None, random_state=0)
        acc[dtype] = est.fit(X_tr.astype(dtype), y_tr).score(X_te.astype(dtype), y_te)
        assert est.coef_.dtype == dtype
    assert abs(acc[np.float32] - acc[np.float64]) <= 0.005
