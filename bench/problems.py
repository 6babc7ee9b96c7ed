"""The benchmark's workloads and the models timed on them.

A ``Problem`` says how to make its data (X, targets, a fixed sample order);
a ``Model`` names one timed operation: one epoch of per-sample SGD (``epoch``)
or one full-batch gradient (``gradient``) of a loss. A model runs on the
problems of its ``kind``. To add a workload (e.g. the network's W3), append a
Problem with its own ``kind`` and ``section`` and Models of that kind, and
teach the adapters its models; ``run.py`` needs no change.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Problem:
    name: str
    kind: str            # "binary" or "multiclass" (the models it serves)
    n: int
    m: int
    c: int               # classes (1 for binary)
    dtype: type
    make: Callable       # make(problem, n, rng) -> dict of arrays
    section: str = "linear"   # the RESULTS.md section its tables go to
    description: str = ""

    def data(self, n=None, seed=0):
        """The problem's data with ``n`` rows (default ``self.n``): a dict
        with X (n, m), y, c, order (a fixed permutation) and the problem."""
        n = self.n if n is None else n
        rng = np.random.default_rng(seed)
        data = self.make(self, n, rng)
        data.setdefault("order", rng.permutation(n).astype(np.intp))
        data.update(c=self.c, problem=self)
        return data


@dataclass(frozen=True)
class Model:
    name: str            # "<loss's short name>/<shape>"
    loss: str
    shape: str           # "epoch" (per-sample SGD over the order) or "gradient"
    kind: str            # the problems it runs on


def _features(n, m, rng, dtype):
    # X ~ N(0, 1), C-contiguous, in the problem's dtype
    return rng.standard_normal((n, m)).astype(dtype)


def _binary(problem, n, rng):
    """Binary labels from a noisy linear rule: y = [x w* / √m + 0.5 ε > 0]."""
    X = _features(n, problem.m, rng, problem.dtype)
    w = rng.standard_normal(problem.m)
    score = X @ w.astype(problem.dtype) / np.sqrt(problem.m) + 0.5 * rng.standard_normal(n)
    y = (score > 0).astype(problem.dtype)
    return {"X": X, "y": y}


def _multiclass(problem, n, rng):
    """c classes from a noisy linear rule: y = argmax_j (x W*_j / √m + 0.5 ε_j)."""
    X = _features(n, problem.m, rng, problem.dtype)
    W = rng.standard_normal((problem.m, problem.c))
    S = X @ W.astype(problem.dtype) / np.sqrt(problem.m) + 0.5 * rng.standard_normal((n, problem.c))
    return {"X": X, "y": S.argmax(axis=1).astype(np.intp)}


PROBLEMS = [
    Problem("W1", "binary", 100_000, 100, 1, np.float64, _binary,
            description="binary labels from a noisy linear rule, float64"),
    Problem("W2", "multiclass", 100_000, 100, 10, np.float64, _multiclass,
            description="10 classes from a noisy linear rule, float64"),
    Problem("W1-f32", "binary", 100_000, 100, 1, np.float32, _binary,
            description="W1 in float32"),
    Problem("W2-f32", "multiclass", 100_000, 100, 10, np.float32, _multiclass,
            description="W2 in float32"),
]

# The network's workload: MNIST-shaped, one epoch of minibatch SGD of
# the one-hidden-layer network (bench/adapters/_network.py fixes its shape).
PROBLEMS += [
    Problem("W3", "network", 60_000, 784, 10, np.float64, _multiclass, section="network",
            description="MNIST-shaped, 10 classes from a noisy linear rule, float64"),
    Problem("W3-f32", "network", 60_000, 784, 10, np.float32, _multiclass, section="network",
            description="W3 in float32"),
]

SINGLE = ["perceptron", "log_loss", "logistic_squared_error", "squared_error"]
MULTI = ["multiclass_perceptron", "softmax_cross_entropy"]
# the tables' name of a loss where it differs from the loss's key: softmax
# regression's loss is "softmax" there
SHORT = {"softmax_cross_entropy": "softmax"}

MODELS = (
    [Model(f"{SHORT.get(loss, loss)}/epoch", loss, "epoch", "binary") for loss in SINGLE]
    + [Model(f"{SHORT.get(loss, loss)}/epoch", loss, "epoch", "multiclass") for loss in MULTI]
    + [Model(f"{SHORT.get(loss, loss)}/gradient", loss, "gradient", "binary") for loss in SINGLE]
    + [Model(f"{SHORT.get(loss, loss)}/gradient", loss, "gradient", "multiclass")
       for loss in MULTI]
    # one epoch of the network: 128 sigmoid units, softmax output, batch 128
    + [Model("mlp128/epoch", "softmax_cross_entropy", "network-epoch", "network")]
)
