"""scikit-learn's SGD estimators, one epoch each (``max_iter=1``), timed as
a user calls them: ``fit`` with its input checks and its own shuffling.
Multi-class problems are one-vs-rest there: c binary passes over X."""
import warnings

import sklearn  # noqa: F401  (ImportError here skips the adapter)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Perceptron, SGDClassifier, SGDRegressor
from sklearn.neural_network import MLPClassifier

from ._network import ALPHA, BATCH_SIZE, ETA0, HIDDEN, is_network

NAME = "sklearn"

ESTIMATORS = {
    # loss -> (what the table calls it, a fresh estimator for one epoch)
    "perceptron": ("Perceptron(max_iter=1)",
                   lambda: Perceptron(max_iter=1, tol=None, random_state=0)),
    "multiclass_perceptron": ("Perceptron(max_iter=1), one-vs-rest",
                              lambda: Perceptron(max_iter=1, tol=None, random_state=0)),
    "log_loss": ('SGDClassifier(loss="log_loss", max_iter=1)',
                 lambda: SGDClassifier(loss="log_loss", max_iter=1, tol=None, random_state=0)),
    "softmax_cross_entropy": ('SGDClassifier(loss="log_loss", max_iter=1), one-vs-rest',
                              lambda: SGDClassifier(loss="log_loss", max_iter=1, tol=None, random_state=0)),
    "squared_error": ("SGDRegressor(max_iter=1)",
                      lambda: SGDRegressor(max_iter=1, tol=None, random_state=0)),
}


def prepare(model, data):
    if is_network(model):
        return _prepare_mlp(data)
    if model.shape != "epoch" or model.loss not in ESTIMATORS:
        return None
    X, y = data["X"], data["y"]
    make = ESTIMATORS[model.loss][1]

    def fit_one_epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return make().fit(X, y)
    return fit_one_epoch


def _prepare_mlp(data):
    """The network of W3: MLPClassifier with 128 logistic units, plain SGD on
    batches of 128, one epoch (max_iter=1; its fit shuffles with its own
    generator), the same step and L2 strength as the other competitors."""
    X, y = data["X"], data["y"]

    def fit_one_epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="logistic",
                                 solver="sgd", batch_size=BATCH_SIZE, momentum=0,
                                 max_iter=1, learning_rate_init=ETA0, alpha=ALPHA,
                                 random_state=0).fit(X, y)
    return fit_one_epoch
