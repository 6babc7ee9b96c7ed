"""scikit-learn's estimator checks on every fastlin estimator."""
import warnings

import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastlin import (LinearRegression, LogisticRegression, MLPClassifier,  # noqa: E402
                     MulticlassPerceptron, Perceptron, SoftmaxRegression)

# small max_iter keeps the checks fast; the warning that it ends the fit is expected
pytestmark = pytest.mark.filterwarnings("ignore::fastlin.ConvergenceWarning")


def estimators(backend):
    # the per-sample models (the classifiers' default batch_size=1) take a
    # Python step per sample in the NumPy reference: fewer epochs there
    per_sample_epochs = 100 if backend == "cython" else 20
    return [
        LinearRegression(backend=backend, max_iter=100, random_state=0),
        LogisticRegression(backend=backend, max_iter=per_sample_epochs, random_state=0),
        LogisticRegression(loss="squared_error", backend=backend, max_iter=per_sample_epochs,
                           random_state=0),
        Perceptron(backend=backend, max_iter=20, random_state=0),
        MulticlassPerceptron(backend=backend, max_iter=20, random_state=0),
        SoftmaxRegression(backend=backend, max_iter=per_sample_epochs, random_state=0),
        MLPClassifier(hidden_size=10, backend=backend, max_iter=50, random_state=0),
    ]


# both backends: the checks exercise the kernels' handling of read-only
# memmaps, float32/int input, Fortran order, single samples and features
ESTIMATORS = estimators("cython") + estimators("numpy")


def expected_failed_checks(estimator):
    # Each entry is a check the model genuinely cannot satisfy, with the reason.
    # (With standardize=True, the default, the checks on raw features centred
    # at 100 and on class weights of 1000 pass: the step sees standardized
    # rows.)
    weight_equivalence = (
        "stochastic (per-sample or minibatch) SGD over a shuffled order: a "
        "sample repeated k times is visited k times at different steps, "
        "while weight k scales a single step, so the iterates differ; and "
        "the objective is a mean over n samples (not over the sum of the "
        "weights), so the penalty's relative strength differs as well.")
    # LinearRegression passes these: at alpha=0 its fit runs to the weighted
    # least-squares solution, which the weighted and the repeated data share.
    if isinstance(estimator, LinearRegression):
        return {}
    # the sparse variant runs for the estimators that take sparse input
    failed = {f"check_sample_weight_equivalence_on_{kind}_data": weight_equivalence
              for kind in ("dense", "sparse")}
    return failed


with warnings.catch_warnings():
    # "does not inherit from sklearn.base.BaseEstimator": by design, fastlin
    # does not depend on scikit-learn at run time
    warnings.filterwarnings("ignore", message=".*does not inherit from")
    _checks = parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)


@_checks
def test_sklearn_compatible(estimator, check):
    check(estimator)
