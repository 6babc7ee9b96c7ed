"""fastlin: linear models and a one-hidden-layer network with Cython training loops.

The estimators follow scikit-learn's API (scikit-learn itself is not needed to
use them). Each trains with ``backend="cython"`` (the compiled kernels, the
default) or ``backend="numpy"`` (the pure-NumPy reference, ``fastlin.reference``).
"""
from ._base import ConvergenceWarning, DivergenceError, NotFittedError
from .linear_model import (LinearRegression, LogisticRegression, MulticlassPerceptron,
                           Perceptron, SoftmaxRegression)
from .mlp import MLPClassifier
from ._parallel import SerialFallbackWarning

__version__ = "0.1.0"

__all__ = [
    "LinearRegression", "LogisticRegression", "Perceptron", "MulticlassPerceptron",
    "SoftmaxRegression", "MLPClassifier",
    "NotFittedError", "ConvergenceWarning", "DivergenceError", "SerialFallbackWarning",
]

