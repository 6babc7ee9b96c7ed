"""``python -m fastlin``: train every model on the embedded data, print a table.

For now this trains the pure-NumPy REFERENCE implementations
(``fastlin.reference``), not the Cython kernels or estimators: the six linear
models and the one-hidden-layer network, each on the embedded dataset that
suits it, and prints model, data, held-out accuracy (R² for the regression)
and training time. Every dataset is split once into 80% train / 20% test
with a fixed seed, and standardised with the training statistics.
"""
import argparse
import time

import numpy as np

from .datasets import load_diabetes, load_digits, load_digits_binary
from .reference import linear, network


def train_test_split(X, y, test_fraction, rng):
    """A random split: (X_train, X_test, y_train, y_test)."""
    order = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def standardize(X_train, X_test):
    """(X − μ) / σ with the training mean and deviation (σ = 1 for a constant column)."""
    mu = X_train.mean(axis=0)
    sigma = X_train.std(axis=0)
    sigma[sigma == 0] = 1.0
    return (X_train - mu) / sigma, (X_test - mu) / sigma


def r2_score(y, y_pred):
    """R² = 1 − Σ (y − ŷ)² / Σ (y − ȳ)²."""
    return 1.0 - ((y - y_pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()


def _fit_least_squares_gd(X, y, n_iter):
    """Full-batch GD on ½ mean (s − y)² with the step 1/L, L = λ_max([X 1]ᵀ[X 1] / n)
    the Lipschitz constant of the gradient (the largest step that cannot diverge, halved)."""
    X1 = np.column_stack([X, np.ones(len(X))])
    L = np.linalg.eigvalsh(X1.T @ X1 / len(X))[-1]
    W, b = np.zeros((X.shape[1], 1)), np.zeros(1)
    linear.gradient_descent(X, y, W, b, "squared_error", eta0=1.0 / L, n_iter=n_iter)
    return W, b


def _fit_linear_sgd(X, y, loss, c, rng, *, eta0, epochs, batch_size, alpha=0.0, average=False):
    W, b = np.zeros((X.shape[1], c)), np.zeros(c)
    W_avg, b_avg = (np.zeros_like(W), np.zeros_like(b)) if average else (None, None)
    t = 0
    for _ in range(epochs):
        _, t = linear.sgd_epoch(X, y, W, b, rng.permutation(len(y)), loss, eta0=eta0,
                                batch_size=batch_size, alpha=alpha, t=t,
                                W_avg=W_avg, b_avg=b_avg)
    return (W_avg, b_avg) if average else (W, b)


# (model, loss, data, how it is trained); c = number of outputs.
LINEAR_MODELS = [
    ("linear regression", "squared_error", "diabetes", "full-batch GD, step 1/L, 2000 steps",
     lambda X, y, rng: _fit_least_squares_gd(X, y, 2000)),
    ("logistic regression (squared loss)", "logistic_squared_error", "digits odd/even",
     "minibatch SGD (32), 20 epochs",
     lambda X, y, rng: _fit_linear_sgd(X, y, "logistic_squared_error", 1, rng,
                                       eta0=0.5, epochs=20, batch_size=32, alpha=1e-4)),
    ("logistic regression (cross-entropy)", "log_loss", "digits odd/even",
     "minibatch SGD (32), 20 epochs",
     lambda X, y, rng: _fit_linear_sgd(X, y, "log_loss", 1, rng,
                                       eta0=0.1, epochs=20, batch_size=32, alpha=1e-4)),
    ("perceptron (averaged)", "perceptron", "digits odd/even", "per-sample, 10 epochs",
     lambda X, y, rng: _fit_linear_sgd(X, y, "perceptron", 1, rng,
                                       eta0=1.0, epochs=10, batch_size=1, average=True)),
    ("multi-class perceptron (averaged)", "multiclass_perceptron", "digits 0-9",
     "per-sample, 10 epochs",
     lambda X, y, rng: _fit_linear_sgd(X, y, "multiclass_perceptron", 10, rng,
                                       eta0=1.0, epochs=10, batch_size=1, average=True)),
    ("softmax regression", "softmax", "digits 0-9", "minibatch SGD (32), 20 epochs",
     lambda X, y, rng: _fit_linear_sgd(X, y, "softmax", 10, rng,
                                       eta0=0.1, epochs=20, batch_size=32, alpha=1e-4)),
]

NETWORK = ("network, 32 sigmoid hidden units", "digits 0-9",
           "minibatch SGD (32), momentum 0.9, 30 epochs")

_LOADERS = {"diabetes": load_diabetes, "digits odd/even": load_digits_binary,
            "digits 0-9": load_digits}


def _split_data(seed):
    """Each dataset split once (train/test, standardised with the training statistics)."""
    data = {}
    for name, load in _LOADERS.items():
        X, y = load()
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, 0.2, np.random.default_rng(seed))
        X_tr, X_te = standardize(X_tr, X_te)
        data[name] = (X_tr, X_te, y_tr, y_te)
    return data


def run(seed=0):
    """Train every model; returns rows (model, data, algorithm, metric, score, seconds)."""
    data = _split_data(seed)
    rows = []
    for model, loss, dataset, how, fit in LINEAR_MODELS:
        X_tr, X_te, y_tr, y_te = data[dataset]
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        W, b = fit(X_tr, y_tr, rng)
        seconds = time.perf_counter() - start
        y_pred = linear.predict(X_te, W, b, loss)
        if loss == "squared_error":
            rows.append((model, dataset, how, "R^2", r2_score(y_te, y_pred), seconds))
        else:
            rows.append((model, dataset, how, "accuracy", np.mean(y_pred == y_te), seconds))

    model, dataset, how = NETWORK
    X_tr, X_te, y_tr, y_te = data[dataset]
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    params = network.init_params(X_tr.shape[1], 32, 10, random_state=rng)
    velocities = [np.zeros_like(p) for p in params]
    t = 0
    for _ in range(30):
        _, t = network.sgd_epoch(X_tr, y_tr, params, rng.permutation(len(y_tr)), eta0=0.05,
                                 batch_size=32, alpha=1e-4, momentum=0.9,
                                 velocities=velocities, t=t)
    seconds = time.perf_counter() - start
    accuracy = np.mean(network.predict(X_te, *params) == y_te)
    rows.append((model, dataset, how, "accuracy", accuracy, seconds))
    return rows


def format_table(rows):
    """The rows as a plain-text table with a header."""
    header = ("model", "data", "training", "metric", "held-out", "time (s)")
    cells = [header] + [(m, d, h, k, f"{v:.3f}", f"{s:.3f}") for m, d, h, k, v, s in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastlin",
        description="Train fastlin's NumPy reference models on the embedded datasets "
                    "(80/20 split) and print held-out accuracy (R^2 for regression) "
                    "and training time.")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the train/test split and the sample orders (default 0)")
    args = parser.parse_args(argv)
    print("fastlin: NumPy reference implementations (fastlin.reference), float64, "
          f"80/20 train/test split, seed {args.seed}")
    print(format_table(run(args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
