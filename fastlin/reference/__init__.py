"""Pure-NumPy reference implementations: the same algorithms as the Cython
kernels, written to read like the math (see docs/math.md).

``linear`` holds the six linear models (their per-sample losses are in
``losses``); ``network`` the one-hidden-layer network.
"""
from . import linear, losses, network  # noqa: F401
