"""``python -m fastlin``: train the models on real data with both backends, print one table.

Every model is trained through its public estimator (``fastlin.LinearRegression``
...), once with ``backend="cython"`` (the compiled kernels) and once with
``backend="numpy"`` (the pure-NumPy reference), with the same seed, so both
fits take the same steps. Each dataset is split once into 80% train / 20% test
(``--seed``) and standardised with the training mean and deviation; the table
shows the held-out accuracy (R² for the regression), the fit time of each
backend and their ratio. Every fit runs exactly ``--epochs`` epochs (the
stopping rule is off, ``tol=None``).

Errors the user can cause (a missing or malformed file, an unknown model, a
model that does not apply to the data) end with one line on stderr and exit
status 2; no traceback.
"""
import argparse
import contextlib
import csv
import io
import os
import re
import sys
import textwrap
import time
import zipfile

import numpy as np

from . import (LinearRegression, LogisticRegression, MLPClassifier, MulticlassPerceptron,
               Perceptron, SoftmaxRegression)
from ._backend import get_backend
from .datasets import load_diabetes, load_digits, load_digits_binary

PROG = "python -m fastlin"


class UsageError(Exception):
    """A problem with the command line or the user's data: one line, exit 2."""


# --------------------------------------------------------------------------
# models: CLI name -> (estimator label, task, default data, default epochs, factory)
# task: "regression", "binary" (exactly two classes) or "multiclass" (two or more)

MODELS = {
    "linear-regression": (
        "LinearRegression", "regression", "diabetes", 50,
        lambda **kw: LinearRegression(learning_rate=0.01, batch_size=32, **kw)),
    "logistic-squared": (
        "LogisticRegression(loss='squared_error')", "binary", "digits-binary", 20,
        lambda **kw: LogisticRegression(loss="squared_error", learning_rate=0.5,
                                        batch_size=32, alpha=1e-4, **kw)),
    "logistic": (
        "LogisticRegression(loss='log_loss')", "binary", "digits-binary", 20,
        lambda **kw: LogisticRegression(loss="log_loss", learning_rate=0.1, batch_size=32,
                                        alpha=1e-4, **kw)),
    "perceptron": (
        "Perceptron(average=True)", "binary", "digits-binary", 10,
        lambda **kw: Perceptron(average=True, **kw)),
    "multiclass-perceptron": (
        "MulticlassPerceptron(average=True)", "multiclass", "digits", 10,
        lambda **kw: MulticlassPerceptron(average=True, **kw)),
    "softmax": (
        "SoftmaxRegression", "multiclass", "digits", 20,
        lambda **kw: SoftmaxRegression(learning_rate=0.1, batch_size=32, alpha=1e-4, **kw)),
    "mlp": (
        "MLPClassifier(hidden_size=32)", "multiclass", "digits", 30,
        lambda **kw: MLPClassifier(hidden_size=32, learning_rate=0.05, batch_size=32,
                                   alpha=1e-4, momentum=0.9, **kw)),
}

# embedded data: name -> (loader, task, description)
DATASETS = {
    "digits": (load_digits, "multiclass", "UCI handwritten digits 8x8, 1797 x 64, classes 0-9"),
    "digits-binary": (load_digits_binary, "binary",
                      "the same digits, y = 1 for an odd digit, 0 for an even one"),
    "diabetes": (load_diabetes, "regression",
                 "diabetes progression, 442 x 10, regression target"),
}

#: numeric labels with more distinct values than this count as a regression target
MAX_CLASSES = 50


# --------------------------------------------------------------------------
# data

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


def infer_task(y):
    """"regression", "binary" or "multiclass" for a label vector y.

    Strings are class labels. Numbers are class labels when every value is an
    integer and there are at most MAX_CLASSES distinct values; otherwise they
    are a regression target.
    """
    if y.dtype.kind in "USO":
        n_classes = len(np.unique(y))
    else:
        if not np.all(np.isfinite(y)):
            raise UsageError("the label column contains NaN or infinity")
        n_classes = len(np.unique(y))
        if np.any(y != np.round(y)) or n_classes > MAX_CLASSES:
            return "regression"
    if n_classes < 2:
        raise UsageError("the label column has a single value; a classifier needs two "
                         "classes or more")
    return "binary" if n_classes == 2 else "multiclass"


def _label_index(label_column, n_columns, header=None):
    """The column index of the labels: an int (negative counts from the end)
    or, for a CSV file with a header, a column name."""
    if header is not None and label_column in header:
        return header.index(label_column)
    try:
        k = int(label_column)
    except ValueError:
        where = "the header" if header is not None else "the file (it has no header line)"
        raise UsageError(f"--label-column {label_column!r}: no such column in {where}") from None
    if not -n_columns <= k < n_columns:
        raise UsageError(f"--label-column {k} is out of range for {n_columns} columns")
    return k % n_columns


def _split_columns(table, k, what):
    """(X, y) from a 2-D numeric array with the labels in column k."""
    if table.ndim != 2 or table.shape[1] < 2:
        raise UsageError(f"{what}: expected a 2-D array with at least 2 columns (features "
                         f"and a label column), got shape {table.shape}")
    if table.dtype.kind not in "biuf":
        raise UsageError(f"{what}: expected a numeric array, got dtype {table.dtype}")
    X = np.delete(table, k, axis=1).astype(np.float64)
    return X, table[:, k]


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _read_csv(path, label_column):
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row and any(c.strip() for c in row)]
    if not rows:
        raise UsageError(f"{path}: the file is empty")
    header = None
    # a header line: a cell that is not a number above a cell that is one
    # (word labels in the label column do not make the first line a header)
    second = rows[1] if len(rows) > 1 else [""] * len(rows[0])
    if any(not _is_number(a) and _is_number(b) for a, b in zip(rows[0], second)):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    n_columns = len(header) if header is not None else len(rows[0]) if rows else 0
    if not rows:
        raise UsageError(f"{path}: no data rows after the header line")
    if n_columns < 2:
        raise UsageError(f"{path}: need at least 2 columns (features and a label), "
                         f"found {n_columns}")
    k = _label_index(label_column, n_columns, header)
    features = [j for j in range(n_columns) if j != k]
    first_line = 2 if header is not None else 1
    X = np.empty((len(rows), len(features)))
    labels = []
    for i, row in enumerate(rows):
        line = first_line + i
        if len(row) != n_columns:
            raise UsageError(f"{path}, line {line}: {len(row)} fields, expected {n_columns}")
        for jj, j in enumerate(features):
            try:
                X[i, jj] = float(row[j])
            except ValueError:
                raise UsageError(f"{path}, line {line}, column {j + 1}: {row[j].strip()!r} "
                                 "is not a number") from None
        labels.append(row[k].strip())
    if all(_is_number(v) for v in labels):
        y = np.array([float(v) for v in labels])
    else:
        y = np.array(labels)
    return X, y


def load_user_data(path, label_column="-1"):
    """(X, y) from a .npy, .npz or .csv file; see ``--help`` for the formats."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, expected a .npy, .npz or .csv file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".csv":
            X, y = _read_csv(path, label_column)
        elif ext == ".npy":
            table = np.load(path, allow_pickle=False)
            k = _label_index(label_column, table.shape[1] if table.ndim == 2 else 0)
            X, y = _split_columns(table, k, path)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            if "X" in arrays and "y" in arrays:
                X, y = arrays["X"], arrays["y"]
                if X.ndim != 2 or X.dtype.kind not in "biuf":
                    raise UsageError(f"{path}: X must be a 2-D numeric array, got "
                                     f"shape {X.shape}, dtype {X.dtype}")
                if y.ndim != 1 or len(y) != len(X):
                    raise UsageError(f"{path}: y must be 1-D with one label per row of X, "
                                     f"got shape {y.shape} for X of shape {X.shape}")
                X = X.astype(np.float64)
            elif len(arrays) == 1:
                (table,) = arrays.values()
                k = _label_index(label_column, table.shape[1] if table.ndim == 2 else 0)
                X, y = _split_columns(table, k, path)
            else:
                raise UsageError(f"{path}: expected arrays named 'X' and 'y' (or a single "
                                 f"array), found {sorted(arrays)}")
        else:
            raise UsageError(f"{path}: unsupported file type {ext or '(none)'!r}; "
                             "expected .npy, .npz or .csv")
    except UsageError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError,
            csv.Error) as exc:
        raise UsageError(f"{path}: cannot read it as {ext}: {_one_line(exc)}") from None
    if len(y) < 5:
        raise UsageError(f"{path}: {len(y)} rows; need at least 5 to hold out a test set")
    if not np.all(np.isfinite(X)):
        raise UsageError(f"{path}: the features contain NaN or infinity")
    if y.dtype.kind in "biu":
        y = y.astype(np.float64)
    return X, y


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def prepare(X, y, task, dtype, seed):
    """Split 80/20 with ``seed``, standardise X (and a regression target) with
    the training statistics, cast X to ``dtype``; class labels given as
    floats become integers."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 0.2, np.random.default_rng(seed))
    X_tr, X_te = standardize(X_tr.astype(np.float64), X_te.astype(np.float64))
    if task == "regression":
        # the target too (R² does not change under y -> (y − μ) / σ, and the
        # step size then suits any scale of y)
        y_tr, y_te = standardize(y_tr.astype(np.float64)[:, None],
                                 y_te.astype(np.float64)[:, None])
        y_tr, y_te = y_tr[:, 0].astype(dtype), y_te[:, 0].astype(dtype)
    elif y.dtype.kind == "f":
        y_tr, y_te = y_tr.astype(np.intp), y_te.astype(np.intp)
    return X_tr.astype(dtype), X_te.astype(dtype), y_tr, y_te


# --------------------------------------------------------------------------
# progress on stderr

class Progress(io.TextIOBase):
    """Receives the estimators' verbose lines ("epoch N, loss ...") and shows
    an epoch counter on stderr: rewritten in place on a terminal, otherwise a
    line every 5 s; nothing until a fit has run for 1.5 s."""

    def __init__(self, label, epochs, stream=None):
        self.label, self.epochs = label, epochs
        self.stream = stream if stream is not None else sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.last = -np.inf  # time of the last line shown
        self.shown = False

    def writable(self):
        return True

    def write(self, text):
        match = re.search(r"epoch (\d+)", text)
        if match is None:
            return len(text)
        now = time.perf_counter()
        wait = 0.2 if self.tty else 5.0
        if now - self.start > 1.5 and now - self.last > wait:
            self.last = now
            line = f"{self.label}: epoch {match.group(1)}/{self.epochs}, {now - self.start:.0f} s"
            if self.tty:
                self.stream.write("\r" + line + "\033[K")
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
            self.shown = True
        return len(text)

    def done(self):
        if self.shown and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


# --------------------------------------------------------------------------
# training

def fit_timed(make, X, y, label, epochs, min_seconds=0.3, max_repeats=5):
    """Fit a fresh estimator; repeat while the fits are quick (< ``min_seconds``
    in total, at most ``max_repeats``) and return (last estimator, median seconds)."""
    times = []
    while True:
        est = make()
        est.set_params(verbose=1)
        progress = Progress(label, epochs)
        with contextlib.redirect_stdout(progress):
            t0 = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - t0)
        progress.done()
        if sum(times) >= min_seconds or len(times) >= max_repeats:
            return est, float(np.median(times))


def run(models, data, backends, epochs=None, dtype=np.float64, seed=0, label_column="-1",
        stderr=None):
    """Train ``models`` (CLI names) on ``data`` (None: each model's own
    embedded set; an embedded name; or a file path) with each backend.

    Returns (rows, notes): a row is a dict with model, data, metric, score,
    seconds per backend; notes are lines to print under the table.
    """
    stderr = stderr if stderr is not None else sys.stderr
    for backend in backends:  # fail early (one line) if a backend cannot load
        for kind in ("linear", "network"):
            try:
                get_backend(backend, kind)
            except ImportError as exc:
                raise UsageError(_one_line(exc)) from None

    # the datasets each model trains on
    cache = {}

    def dataset(name):
        if name not in cache:
            if name in DATASETS:
                load, task, _ = DATASETS[name]
                X, y = load()
            else:
                X, y = load_user_data(name, label_column)
                task = infer_task(y)
            cache[name] = (task, prepare(X, y, task, dtype, seed))
        return cache[name]

    rows, notes = [], []
    plan = []
    for model in models:
        label, needs, default_data, default_epochs, make = MODELS[model]
        data_name = data if data is not None else default_data
        task, split = dataset(data_name)
        shown = os.path.basename(data_name) if data_name not in DATASETS else data_name
        if needs == "regression" and task != "regression":
            notes.append(f"skipped {model}: it needs a regression target, {shown} has "
                         "class labels")
            continue
        if needs != "regression" and task == "regression":
            notes.append(f"skipped {model}: it needs class labels, {shown} has a continuous "
                         "target")
            continue
        if needs == "binary" and task != "binary":
            notes.append(f"skipped {model}: it needs exactly two classes, {shown} has more")
            continue
        plan.append((model, label, shown, split, epochs or default_epochs, make))
    if not plan:
        raise UsageError("none of the chosen models applies to the data: "
                         + "; ".join(n.replace("skipped ", "") for n in notes))

    for i, (model, label, shown, split, n_epochs, make) in enumerate(plan, 1):
        X_tr, X_te, y_tr, y_te = split
        row = {"model": model, "estimator": label, "data": shown, "epochs": n_epochs,
               "metric": "R^2" if MODELS[model][1] == "regression" else "accuracy",
               "score": {}, "seconds": {}}
        for backend in backends:
            def factory():
                return make(backend=backend, max_iter=n_epochs, tol=None, random_state=seed)
            tag = f"[{i}/{len(plan)}] {model} ({backend})"
            try:
                est, seconds = fit_timed(factory, X_tr, y_tr, tag, n_epochs)
            except (ValueError, ArithmeticError) as exc:
                # DivergenceError and friends: report it in the table, keep going
                row["score"][backend] = None
                row["seconds"][backend] = None
                notes.append(f"{model} ({backend}) failed: {_one_line(exc)}")
                continue
            row["score"][backend] = est.score(X_te, y_te)
            row["seconds"][backend] = seconds
        rows.append(row)
    return rows, notes


def _three_digits(x):
    """x with three significant digits, trailing zeros kept (2.00, 24.5, 243)."""
    decimals = max(0, 2 - int(np.floor(np.log10(x)))) if x > 0 else 2
    return f"{x:.{decimals}f}"


def _fmt_seconds(s):
    if s is None:
        return "-"
    return f"{_three_digits(s * 1e3)} ms" if s < 0.9995 else f"{_three_digits(s)} s"


def format_table(rows, backends):
    """The rows as a plain-text table: model, data, metric, held-out score,
    Cython fit time, NumPy fit time, speed-up (NumPy time / Cython time)."""
    header = ("model", "data", "metric", "held-out", "cython fit", "numpy fit", "speed-up")
    cells = [header]
    for r in rows:
        scores = [s for s in (r["score"].get(b) for b in backends) if s is not None]
        score = f"{scores[0]:.3f}" if scores else "failed"
        cy, npy = r["seconds"].get("cython"), r["seconds"].get("numpy")
        speedup = f"{npy / cy:.1f}x" if cy and npy else "-"
        cells.append((r["estimator"], r["data"], r["metric"], score, _fmt_seconds(cy),
                      _fmt_seconds(npy), speedup))
    widths = [max(len(c[j]) for c in cells) for j in range(len(header))]
    right = {3, 4, 5, 6}
    lines = ["  ".join(c.rjust(w) if j in right else c.ljust(w)
                       for j, (c, w) in enumerate(zip(cell, widths))).rstrip()
             for cell in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _model_list(text):
    names = [n for n in re.split(r"[,\s]+", text.strip()) if n]
    if names == ["all"]:
        return list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model {', '.join(map(repr, unknown)) or repr(text)}; choose from "
            f"{', '.join(MODELS)} (or all)")
    return names


def build_parser():
    models = "\n".join(f"  {name:<22} {label} on {default} ({epochs} epochs)"
                       for name, (label, _, default, epochs, _) in MODELS.items())
    datasets = "\n".join(f"  {name:<22} {descr}" for name, (_, _, descr) in DATASETS.items())
    parser = _Parser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Train fastlin's models with the Cython kernels and with the NumPy reference, "
            "on the embedded data or your own, and print one table: held-out accuracy (R^2 "
            "for the regression), the fit time of each backend and the speed-up "
            "(NumPy time / Cython time). Each dataset is split 80/20 into train/test "
            "(--seed) and standardised with the training statistics (a regression "
            "target too). Quick fits are "
            "repeated up to 5 times and the median time is shown."),
        epilog=(
            f"models (default: all):\n{models}\n\n"
            f"embedded data (default: each model's own, as above):\n{datasets}\n\n"
            "your own data (--data FILE):\n"
            "  .csv  comma-separated numbers, one sample per line, and an optional header\n"
            "        line (recognised by a word above a number). The label column is the\n"
            "        LAST one unless --label-column says otherwise (an index, 0-based,\n"
            "        negative counts from the end, or a header name). Labels may be\n"
            "        numbers or words.\n"
            "  .npy  one 2-D numeric array: features and the label column (as for .csv).\n"
            "  .npz  arrays 'X' (n, m) and 'y' (n,); or a single 2-D array as for .npy.\n"
            "  Labels that are words, or integers with at most "
            f"{MAX_CLASSES} distinct values, are classes\n"
            "  (the binary models need exactly two); other numbers are a regression\n"
            "  target (only linear-regression applies). Models that do not fit the data\n"
            "  are skipped, with a note.\n\n"
            "examples:\n"
            f"  {PROG}\n"
            f"  {PROG} --models softmax,mlp --dtype float32 --epochs 5\n"
            f"  {PROG} --data mydata.csv --label-column species --backend cython\n"))
    parser.add_argument(
        "--models", type=_model_list, default=list(MODELS), metavar="NAMES",
        help="comma-separated model names (see below), or 'all' (the default)")
    parser.add_argument(
        "--data", default=None, metavar="NAME|FILE",
        help="an embedded dataset (digits, digits-binary, diabetes) or a .npy/.npz/.csv "
             "file; all chosen models train on it (default: each model on its own "
             "embedded set)")
    parser.add_argument(
        "--label-column", default="-1", metavar="K",
        help="for a .csv/.npy file: the label column, an index (0-based, negative from the "
             "end) or a CSV header name (default: -1, the last column)")
    parser.add_argument(
        "--backend", choices=("both", "cython", "numpy"), default="both",
        help="which implementation trains: the compiled Cython kernels, the pure-NumPy "
             "reference, or both (the default, and the only way to get a speed-up)")
    parser.add_argument(
        "--epochs", type=int, default=None, metavar="N",
        help="epochs (passes over the training set) for every model (default: per model, "
             "see below)")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64",
        help="floating-point type of the data and the weights (default float64)")
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the train/test split, the initial weights and the sample order "
             "(default 0)")
    return parser


def main(argv=None):
    """Run the main job; returns the exit status (0 ok, 1 a fit failed, 2 usage/data error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.epochs is not None and args.epochs < 1:
            raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
        if args.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {args.seed}")
        backends = ["cython", "numpy"] if args.backend == "both" else [args.backend]
        dtype = np.dtype(args.dtype)
        rows, notes = run(args.models, args.data, backends, epochs=args.epochs, dtype=dtype,
                          seed=args.seed, label_column=args.label_column)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130

    from . import __version__
    print(f"fastlin {__version__}, {args.dtype}, 80/20 train/test split, seed {args.seed}; "
          "fit time = median over up to 5 fits")
    print(format_table(rows, backends))
    failed = any(s is None for r in rows for s in r["score"].values())
    if len(backends) == 2:
        diffs = [abs(r["score"]["cython"] - r["score"]["numpy"]) for r in rows
                 if None not in r["score"].values()]
        if diffs:
            print(f"held-out scores of the two backends differ by at most {max(diffs):.3g}")
    for note in notes:
        print(note)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
