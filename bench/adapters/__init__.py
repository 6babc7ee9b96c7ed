"""One module per competitor. Each has ``NAME`` (its label in the tables) and
``prepare(model, data)``, which returns a zero-argument callable running one
epoch / one gradient of ``model`` on ``data`` (a dict from
``Problem.data``), or None when the competitor has no such operation. The
callable must do the same work every call (it is timed repeatedly), so an
epoch restarts from the same initial weights each time.

``load(names)`` imports the named adapters, skipping (with a note) those whose
library is not installed.
"""
import importlib

import numpy as np

#: module name -> the competitor it times; the order of the tables' columns
ADAPTERS = ["fastlin_cython", "fastlin_cython_f32", "fastlin_numpy", "sklearn", "numpy_blas", "torch",
            "scipy_blas"]


def load(names=None):
    """{display name: module} for the adapters in ``names`` (default all)
    whose imports succeed; the others are reported in the second value."""
    loaded, missing = {}, {}
    for name in names or ADAPTERS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:
            missing[name] = str(exc)
            continue
        loaded[module.NAME] = module
    return loaded, missing


def initial_weights(data, zero):
    """W (m, c), b (c,) in X's dtype: zeros (an epoch from scratch), or small
    fixed random weights (a gradient at a point where every loss is busy)."""
    X, c = data["X"], data["c"]
    if zero:
        return np.zeros((X.shape[1], c), X.dtype), np.zeros(c, X.dtype)
    rng = np.random.default_rng(1)
    W = (0.1 * rng.standard_normal((X.shape[1], c))).astype(X.dtype)
    b = (0.1 * rng.standard_normal(c)).astype(X.dtype)
    return W, b


#: the step size of each loss's per-sample epoch in the fastlin adapters
ETA0 = {"perceptron": 1.0, "multiclass_perceptron": 1.0}
DEFAULT_ETA0 = 0.01
#: L2 strength of the SGD epochs (scikit-learn's SGD default; the perceptrons
#: are unpenalised, as scikit-learn's Perceptron by default)
ALPHA = {"perceptron": 0.0, "multiclass_perceptron": 0.0}
DEFAULT_ALPHA = 1e-4
