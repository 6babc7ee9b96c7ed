"""Shared test helpers: finite differences, a relative error, a seeded RNG.

Import the helpers with ``from conftest import numerical_gradient, relative_error``
(pytest puts this directory on sys.path).
"""
import numpy as np
import pytest


def numerical_gradient(f, param, eps=1e-6):
    """Central finite difference of the scalar ``f()`` with respect to ``param``.

    ``param`` is an array (any shape, float64 for a tight check) that ``f``
    reads; each entry is perturbed in place to ``p ± eps`` and restored
    exactly afterwards:

        ∂f/∂p_k ≈ (f(p + eps e_k) − f(p − eps e_k)) / (2 eps)

    The error is O(eps² f''') + O(u |f| / eps) with u the unit round-off, so
    eps = 1e-6 in float64 gives about 1e-10 relative. Returns an array of
    param's shape (float64).
    """
    grad = np.zeros(param.shape, dtype=np.float64)
    flat = param.reshape(-1)          # a view: writing to it writes to param
    if not np.shares_memory(flat, param):
        raise ValueError("param must be contiguous so it can be perturbed in place")
    g = grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        f_plus = float(f())
        flat[k] = old - eps
        f_minus = float(f())
        flat[k] = old
        g[k] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(actual, expected):
    """||actual − expected|| / max(||actual||, ||expected||) (Frobenius norm;
    0 when both are zero). Norm-wise, so one tiny entry does not dominate."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(np.linalg.norm(actual), np.linalg.norm(expected))
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(actual - expected) / scale)


@pytest.fixture
def rng():
    """A NumPy Generator with a fixed seed, fresh for each test."""
    return np.random.default_rng(0)


def child_env():
    """The environment for a child Python process that imports the very
    fastlin this process imported (the checkout's or an installed one,
    wherever the tests were started from)."""
    import os

    import fastlin

    root = os.path.dirname(os.path.dirname(os.path.abspath(fastlin.__file__)))
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
