"""``fastlin`` (also ``python -m fastlin``): train the models on real data with
both backends and print one table; save the fitted models and predict with them.

Every model is trained through its public estimator (``fastlin.LinearRegression``
...), once with ``backend="cython"`` (the compiled kernels) and once with
``backend="numpy"`` (the pure-NumPy reference), with the same seed, so both
fits take the same steps. Each dataset is split once into 80% train / 20% test
(``--seed``) and standardised with the training mean and deviation; the table
shows the held-out accuracy (R² for the regression), the fit time of each
backend and their ratio. Every fit runs exactly ``--epochs`` epochs (the
stopping rule is off, ``tol=None``).

``--save FILE`` pickles a dict::

    {"format": "fastlin-cli-models", "version": 1, "fastlin_version": "0.1.0",
     "models": {CLI name: {"estimator": the fitted estimator (the first backend
                           whose fit succeeded: Cython when both ran),
                           "task": "regression" | "binary" | "multiclass",
                           "x_mean", "x_scale": the training statistics X is
                           standardised with, (m,) float64,
                           "y_mean", "y_scale": the same for a regression
                           target (floats), None for classes,
                           "dtype": "float64" | "float32",
                           "data": the dataset's name,
                           "layout": (label column index, its header name or
                           None, the feature names or None),
                           "backend": "cython" | "numpy"}}}

``--predict FILE --data DATA`` unpickles it, standardises DATA's features
with each model's statistics and writes the predictions as CSV (a regression
target back on its own scale). Unpickling runs code the file names: only load
files you trust.

Errors the user can cause (a missing or malformed file, an unknown model, a
model that does not apply to the data, an option that does not apply) end
with one line on stderr and exit status 2; no traceback.
"""
import argparse
import contextlib
import csv
import io
import os
import pickle
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

PROG = "fastlin"

#: the values of --task
TASKS = ("classification", "regression")


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
                                        batch_size=32, alpha=1e-4, average=False, **kw)),
    "logistic": (
        "LogisticRegression(loss='log_loss')", "binary", "digits-binary", 20,
        lambda **kw: LogisticRegression(loss="log_loss", learning_rate=0.1, batch_size=32,
                                        alpha=1e-4, average=False, **kw)),
    "perceptron": (
        "Perceptron(average=True)", "binary", "digits-binary", 10,
        lambda **kw: Perceptron(average=True, **kw)),
    "multiclass-perceptron": (
        "MulticlassPerceptron(average=True)", "multiclass", "digits", 10,
        lambda **kw: MulticlassPerceptron(average=True, **kw)),
    "softmax": (
        "SoftmaxRegression", "multiclass", "digits", 20,
        lambda **kw: SoftmaxRegression(learning_rate=0.1, batch_size=32, alpha=1e-4,
                                       average=False, **kw)),
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


def scaling(X_train):
    """The mean μ and deviation σ of each column (σ = 1 for a constant column).
    For a sparse X, μ = 0 (centring would make every row dense) and σ the
    root mean square of the column, from its nonzeros."""
    if _is_sparse(X_train):
        mu = np.zeros(X_train.shape[1])
        sigma = np.sqrt(np.asarray(X_train.multiply(X_train).mean(axis=0)).ravel())
    else:
        mu = X_train.mean(axis=0)
        sigma = X_train.std(axis=0)
    sigma[sigma == 0] = 1.0
    return mu, sigma


def standardise(X, mean, scale, dtype):
    """(X − mean) / scale in ``dtype``; a sparse X stays sparse (CSR): it is
    only divided by the scale, and its models were trained with mean 0."""
    if _is_sparse(X):
        if np.any(mean != 0):
            raise UsageError("the models were trained on dense data (their features "
                             "are centred): give the features as a dense table")
        return X.multiply(1.0 / scale).tocsr().astype(dtype)
    return ((X.astype(np.float64) - mean) / scale).astype(dtype)


def _is_sparse(X):
    return hasattr(X, "tocsr")


def _all_finite(X):
    return bool(np.all(np.isfinite(X.data if _is_sparse(X) else X)))


def _is_sparse_npz(arrays):
    """True for the arrays of a ``scipy.sparse.save_npz`` file."""
    return "format" in arrays and "shape" in arrays and "data" in arrays


def _load_sparse(path):
    """The CSR float64 matrix of a ``scipy.sparse.save_npz`` file."""
    import scipy.sparse

    X = scipy.sparse.load_npz(path).tocsr()
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise UsageError(f"{path}: expected a 2-D numeric sparse matrix, got shape "
                         f"{X.shape}, dtype {X.dtype}")
    return X.astype(np.float64)


def sparse_labels_path(path):
    """Where the labels of the sparse matrix ``path`` (FILE.npz) are:
    FILE.labels.npy."""
    return os.path.splitext(path)[0] + ".labels.npy"


def r2_score(y, y_pred):
    """R² = 1 − Σ (y − ŷ)² / Σ (y − ȳ)²."""
    return 1.0 - ((y - y_pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()


def infer_task(y, task=None):
    """"regression", "binary" or "multiclass" for a label vector y.

    ``task`` (``--task``: "classification" or "regression") says which the
    labels are. Without it, strings are class labels, and numbers are class
    labels when every value is an integer and there are at most MAX_CLASSES
    distinct values; otherwise they are a regression target.
    """
    words = y.dtype.kind in "USO"
    if not words and not np.all(np.isfinite(y)):
        raise UsageError("the label column contains NaN or infinity")
    if task == "regression":
        if words:
            raise UsageError("--task regression needs numeric labels; the label column "
                             "holds words")
        return "regression"
    n_classes = len(np.unique(y))
    if task is None and not words and (np.any(y != np.round(y)) or n_classes > MAX_CLASSES):
        return "regression"
    if n_classes < 2:
        raise UsageError("the label column has a single value; a classifier needs two "
                         "classes or more")
    return "binary" if n_classes == 2 else "multiclass"


def _label_index(label_column, n_columns, header=None):
    """The column index of the labels: an int (negative counts from the end)
    or, for a CSV file with a header, a column name. None: the last column."""
    if label_column is None:
        label_column = "-1"
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


def _check_table(table, what, need_columns=2):
    """A 2-D numeric array with at least ``need_columns`` columns, or UsageError."""
    if table.ndim != 2:
        raise UsageError(f"{what}: expected a 2-D array (one row per sample), got "
                         f"{table.ndim}-D, shape {table.shape}")
    if table.shape[1] < need_columns:
        raise UsageError(f"{what}: expected a 2-D array with at least {need_columns} columns "
                         f"(features and a label column), got shape {table.shape}")
    if table.dtype.kind not in "biuf":
        raise UsageError(f"{what}: expected a numeric array, got dtype {table.dtype}")


def _split_columns(table, k):
    """(X, y) from a 2-D numeric array with the labels in column k."""
    X = np.delete(table, k, axis=1).astype(np.float64)
    return X, table[:, k]


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _csv_table(path):
    """(header or None, [(line number, fields), ...]) of a CSV file.

    Fields follow the csv module's rules (double quotes, a doubled quote
    inside them), and spaces after a comma are skipped. Blank lines are
    ignored. The first line is a header when a cell of it that is not a
    number stands above a cell that is one (word labels in the label column
    do not make it a header); a file of one line is a header when two or
    more of its cells are not numbers (a data line has at most one, its label).
    """
    with open(path, newline="") as f:
        reader = csv.reader(f, skipinitialspace=True)
        rows = [(reader.line_num, row) for row in reader
                if row and any(c.strip() for c in row)]
    if not rows:
        raise UsageError(f"{path}: the file is empty")
    first = rows[0][1]
    if len(rows) > 1:
        is_header = any(not _is_number(a) and _is_number(b) for a, b in zip(first, rows[1][1]))
    else:
        is_header = sum(not _is_number(c) for c in first) >= 2
    if not is_header:
        return None, rows
    if len(rows) == 1:
        raise UsageError(f"{path}: no data rows after the header line")
    return [c.strip() for c in first], rows[1:]


def _csv_numbers(path, rows, n_columns, columns):
    """The float array of ``columns`` of the CSV data rows."""
    X = np.empty((len(rows), len(columns)))
    for i, (line, row) in enumerate(rows):
        if len(row) != n_columns:
            raise UsageError(f"{path}, line {line}: {len(row)} fields, expected {n_columns}")
        for jj, j in enumerate(columns):
            try:
                X[i, jj] = float(row[j])
            except ValueError:
                raise UsageError(f"{path}, line {line}, column {j + 1}: {row[j].strip()!r} "
                                 "is not a number") from None
    return X


def _csv_columns(path, header, rows):
    n_columns = len(header) if header is not None else len(rows[0][1])
    if n_columns < 2:
        raise UsageError(f"{path}: need at least 2 columns (features and a label), "
                         f"found {n_columns}")
    return n_columns


#: the first bytes of each binary format (a .npz is a zip archive)
_MAGIC = {".npy": ((b"\x93NUMPY",), "a NumPy .npy file (it does not start with the .npy "
                                    "format's magic string)"),
          ".npz": ((b"PK\x03\x04", b"PK\x05\x06"), "a NumPy .npz file (it is not a zip "
                                                  "archive)")}


def _check_file(path):
    """The extension (.csv, .npy, .npz) of an existing data file, or UsageError."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file, nor an embedded dataset (those are "
                         f"{', '.join(DATASETS)})")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, expected a .npy, .npz or .csv file")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".npy", ".npz"):
        raise UsageError(f"{path}: unsupported file type {ext or '(none)'!r}; "
                         "expected .npy, .npz or .csv")
    if ext in _MAGIC:
        magics, what = _MAGIC[ext]
        with _reading(path, ext), open(path, "rb") as f:
            head = f.read(6)
        if not head.startswith(magics):
            raise UsageError(f"{path}: not {what}")
    return ext


@contextlib.contextmanager
def _reading(path, ext):
    """Turn the errors of reading a malformed file into one UsageError line."""
    try:
        yield
    except UsageError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read it as {ext}: {_one_line(exc)}") from None


def _npz_arrays(path):
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _npz_xy_label_error(path, label_column):
    if label_column is not None:
        raise UsageError(f"--label-column does not apply to {path}: its labels are the "
                         "array 'y'")


def _load_file(path, label_column=None):
    """(X, y, layout) from a .npy, .npz or .csv file. ``layout`` describes
    the label column of a table, for prediction on a file laid out the same
    way: (index, header name or None, feature names or None)."""
    ext = _check_file(path)
    with _reading(path, ext):
        if ext == ".csv":
            header, rows = _csv_table(path)
            n_columns = _csv_columns(path, header, rows)
            k = _label_index(label_column, n_columns, header)
            features = [j for j in range(n_columns) if j != k]
            X = _csv_numbers(path, rows, n_columns, features)
            labels = [row[k].strip() for _, row in rows]
            if all(_is_number(v) for v in labels):
                y = np.array([float(v) for v in labels])
            else:
                y = np.array(labels)
            layout = (k, None if header is None else header[k],
                      None if header is None else [header[j] for j in features])
        elif ext == ".npy":
            table = np.load(path, allow_pickle=False)
            _check_table(table, path)
            k = _label_index(label_column, table.shape[1])
            X, y = _split_columns(table, k)
            layout = (k, None, None)
        else:
            arrays = _npz_arrays(path)
            if _is_sparse_npz(arrays):
                _npz_xy_label_error(path, label_column)
                X = _load_sparse(path)
                labels = sparse_labels_path(path)
                if not os.path.exists(labels):
                    raise UsageError(f"{path} is a sparse matrix; its labels must be in "
                                     f"{labels} (a 1-D .npy array, one per row)")
                y = np.load(labels, allow_pickle=False)
                if y.ndim != 1 or len(y) != X.shape[0]:
                    raise UsageError(f"{labels}: expected one label per row of {path} "
                                     f"({X.shape[0]}), got shape {y.shape}")
                layout = (X.shape[1], None, None)
            elif "X" in arrays and "y" in arrays:
                _npz_xy_label_error(path, label_column)
                X, y = arrays["X"], arrays["y"]
                if X.ndim != 2 or X.dtype.kind not in "biuf":
                    raise UsageError(f"{path}: X must be a 2-D numeric array, got "
                                     f"shape {X.shape}, dtype {X.dtype}")
                if y.ndim != 1 or len(y) != len(X):
                    raise UsageError(f"{path}: y must be 1-D with one label per row of X, "
                                     f"got shape {y.shape} for X of shape {X.shape}")
                X = X.astype(np.float64)
                layout = (X.shape[1], None, None)
            elif len(arrays) == 1:
                (table,) = arrays.values()
                _check_table(table, path)
                k = _label_index(label_column, table.shape[1])
                X, y = _split_columns(table, k)
                layout = (k, None, None)
            else:
                raise UsageError(f"{path}: expected arrays named 'X' and 'y' (or a single "
                                 f"array), found {sorted(arrays)}")
    if len(y) < 5:
        raise UsageError(f"{path}: {len(y)} rows; need at least 5 to hold out a test set")
    if not _all_finite(X):
        raise UsageError(f"{path}: the features contain NaN or infinity")
    if y.dtype.kind in "biu":
        y = y.astype(np.float64)
    return X, y, layout


def load_user_data(path, label_column=None):
    """(X, y) from a .npy, .npz or .csv file; see ``--help`` for the formats."""
    X, y, _ = _load_file(path, label_column)
    return X, y


def load_data(name, label_column=None, task=None):
    """(X, y, task, layout) of an embedded dataset or a file (see ``_load_file``)."""
    if name in DATASETS:
        if label_column is not None:
            raise UsageError(f"--label-column does not apply to the embedded dataset "
                             f"{name!r}: its labels are fixed")
        load, fixed_task, _ = DATASETS[name]
        X, y = load()
        return X, y, fixed_task if task is None else infer_task(y, task), \
            (X.shape[1], None, None)
    X, y, layout = _load_file(name, label_column)
    return X, y, infer_task(y, task), layout


def _feature_columns(path, n_columns, n_features, label_column, header, layout):
    """The feature columns of a table to predict: all of them, or all but
    the label column when there is one more than the models' features."""
    if n_columns == n_features:
        if label_column is not None:
            raise UsageError(f"--label-column does not apply to {path}: it has {n_columns} "
                             f"columns, the models' {n_features} features and no label column")
        return list(range(n_columns))
    if n_columns == n_features + 1:
        index, name, _ = layout
        if label_column is not None:
            k = _label_index(label_column, n_columns, header)
        elif header is not None and name in header:
            k = header.index(name)
        else:
            k = index
        return [j for j in range(n_columns) if j != k]
    raise UsageError(f"{path}: {n_columns} columns, but the models were trained on "
                     f"{n_features} features (give {n_features} columns, or "
                     f"{n_features + 1} with a label column)")


def load_features(name, n_features, label_column=None, layout=(-1, None, None)):
    """X (n, n_features) to predict: an embedded dataset's features, an
    .npz file's array 'X', or a table (.csv, .npy, single-array .npz) of the
    features alone or with a label column (dropped; ``layout`` of the
    training data says which column it is unless ``label_column`` does)."""
    if name in DATASETS:
        if label_column is not None:
            raise UsageError(f"--label-column does not apply to the embedded dataset "
                             f"{name!r}: its labels are fixed")
        X, _ = DATASETS[name][0]()
    else:
        ext = _check_file(name)
        with _reading(name, ext):
            if ext == ".csv":
                header, rows = _csv_table(name)
                n_columns = len(header) if header is not None else len(rows[0][1])
                columns = _feature_columns(name, n_columns, n_features, label_column, header,
                                           layout)
                X = _csv_numbers(name, rows, n_columns, columns)
            else:
                arrays = ({"": np.load(name, allow_pickle=False)} if ext == ".npy"
                          else _npz_arrays(name))
                if _is_sparse_npz(arrays):
                    X = _load_sparse(name)
                elif "X" in arrays:
                    _npz_xy_label_error(name, label_column)
                    X = arrays["X"]
                    _check_table(X, f"{name}: X", need_columns=1)
                elif len(arrays) == 1:
                    (table,) = arrays.values()
                    _check_table(table, name, need_columns=1)
                    columns = _feature_columns(name, table.shape[1], n_features, label_column,
                                               None, layout)
                    X = table[:, columns]
                else:
                    raise UsageError(f"{name}: expected an array named 'X' (or a single "
                                     f"array), found {sorted(arrays)}")
        if not _all_finite(X):
            raise UsageError(f"{name}: the features contain NaN or infinity")
    if X.shape[1] != n_features:
        raise UsageError(f"{name}: {X.shape[1]} features, but the models were trained on "
                         f"{n_features}")
    return X.astype(np.float64)


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def prepare(X, y, task, dtype, seed):
    """Split 80/20 with ``seed``, standardise X (and a regression target) with
    the training statistics, cast X to ``dtype``; class labels given as
    integer-valued floats become integers.

    Returns ((X_train, X_test, y_train, y_test), scale): ``scale`` holds the
    training statistics, x_mean and x_scale (per column), y_mean and y_scale
    (None for class labels), so that new data can be treated alike.
    """
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 0.2, np.random.default_rng(seed))
    x_mean, x_scale = scaling(X_tr.astype(np.float64))
    X_tr = standardise(X_tr, x_mean, x_scale, dtype)
    X_te = standardise(X_te, x_mean, x_scale, dtype)
    y_mean = y_scale = None
    if task == "regression":
        # the target too (R² does not change under y -> (y − μ) / σ, and the
        # step size then suits any scale of y)
        y_mean, y_scale = (float(v[0]) for v in scaling(y_tr.astype(np.float64)[:, None]))
        y_tr = ((y_tr.astype(np.float64) - y_mean) / y_scale).astype(dtype)
        y_te = ((y_te.astype(np.float64) - y_mean) / y_scale).astype(dtype)
    elif y.dtype.kind == "f" and np.all(y == np.round(y)):
        y_tr, y_te = y_tr.astype(np.intp), y_te.astype(np.intp)
    scale = {"x_mean": x_mean, "x_scale": x_scale, "y_mean": y_mean, "y_scale": y_scale}
    return (X_tr.astype(dtype), X_te.astype(dtype), y_tr, y_te), scale


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


def run(models, data, backends, epochs=None, dtype=np.float64, seed=0, label_column=None,
        task=None):
    """Train ``models`` (CLI names) on ``data`` (None: each model's own
    embedded set; an embedded name; or a file path) with each backend.
    ``task`` ("classification", "regression" or None: guess) says what the
    labels of the data are.

    Returns (rows, notes): a row is a dict with model, data, metric, score,
    seconds per backend, and ``fitted``: the estimator (of the first backend
    whose fit succeeded, else None) with what ``save_models`` needs to use it
    on new data; notes are lines to print under the table.
    """
    if data is None and label_column is not None:
        raise UsageError("--label-column applies to a .csv, .npy or single-array .npz "
                         "file given with --data")
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
            X, y, data_task, layout = load_data(name, label_column, task)
            split, scale = prepare(X, y, data_task, dtype, seed)
            cache[name] = (data_task, split, dict(scale, layout=layout, task=data_task))
        return cache[name]

    rows, notes = [], []
    plan = []
    for model in models:
        label, needs, default_data, default_epochs, make = MODELS[model]
        data_name = data if data is not None else default_data
        data_task, split, info = dataset(data_name)
        shown = os.path.basename(data_name) if data_name not in DATASETS else data_name
        if needs == "regression" and data_task != "regression":
            notes.append(f"skipped {model}: it needs a regression target, {shown} has "
                         "class labels")
            continue
        if needs != "regression" and data_task == "regression":
            notes.append(f"skipped {model}: it needs class labels, {shown} has a continuous "
                         "target")
            continue
        if needs == "binary" and data_task != "binary":
            notes.append(f"skipped {model}: it needs exactly two classes, {shown} has more")
            continue
        plan.append((model, label, shown, split, info, epochs or default_epochs, make))
    if not plan:
        raise UsageError("none of the chosen models applies to the data: "
                         + "; ".join(n.replace("skipped ", "") for n in notes))

    for i, (model, label, shown, split, info, n_epochs, make) in enumerate(plan, 1):
        X_tr, X_te, y_tr, y_te = split
        row = {"model": model, "estimator": label, "data": shown, "epochs": n_epochs,
               "metric": "R^2" if MODELS[model][1] == "regression" else "accuracy",
               "score": {}, "seconds": {}, "fitted": None}
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
            if row["fitted"] is None:
                est.set_params(verbose=0)
                row["fitted"] = dict(info, estimator=est, data=shown,
                                     dtype=np.dtype(dtype).name, backend=backend)
        rows.append(row)
    return rows, notes


# --------------------------------------------------------------------------
# --save and --predict

#: what a file written by --save holds (a pickled dict); see the module docstring
MODEL_FILE_FORMAT = "fastlin-cli-models"
MODEL_FILE_VERSION = 1


def save_models(path, rows):
    """Pickle the fitted estimators of ``rows`` (see ``run``) into ``path``;
    returns the names of the models saved."""
    from . import __version__
    models = {r["model"]: r["fitted"] for r in rows if r["fitted"] is not None}
    bundle = {"format": MODEL_FILE_FORMAT, "version": MODEL_FILE_VERSION,
              "fastlin_version": __version__, "models": models}
    try:
        with open(path, "wb") as f:
            pickle.dump(bundle, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        raise UsageError(f"--save {path}: cannot write it: {_one_line(exc)}") from None
    return list(models)


def load_models(path):
    """The models of a file written by ``--save``: {CLI name: entry}."""
    if not os.path.isfile(path):
        raise UsageError(f"--predict {path}: no such file")
    try:
        with open(path, "rb") as f:
            bundle = pickle.load(f)
    except OSError as exc:
        raise UsageError(f"--predict {path}: cannot read it: {_one_line(exc)}") from None
    except Exception as exc:  # whatever a broken or foreign pickle raises
        raise UsageError(f"--predict {path}: not a model file written by --save "
                         f"({type(exc).__name__}: {_one_line(exc)})") from None
    if not (isinstance(bundle, dict) and bundle.get("format") == MODEL_FILE_FORMAT):
        raise UsageError(f"--predict {path}: not a model file written by --save")
    if bundle.get("version") != MODEL_FILE_VERSION:
        raise UsageError(f"--predict {path}: model file version {bundle.get('version')!r}, "
                         f"this fastlin reads version {MODEL_FILE_VERSION}")
    return bundle["models"]


def predict(models, data, label_column=None):
    """Predictions of the saved ``models`` (entries of ``load_models``) for
    the rows of ``data``: {CLI name: 1-D array}, in the file's row order."""
    shapes = {name: len(m["x_mean"]) for name, m in models.items()}
    layouts = {name: m["layout"] for name, m in models.items()}
    first = next(iter(models))
    if len(set(shapes.values())) > 1 or len(set(map(repr, layouts.values()))) > 1:
        trained = "; ".join(f"{name}: {m['data']}, {shapes[name]} features"
                            for name, m in models.items())
        raise UsageError(f"the models were trained on differently shaped data ({trained}); "
                         "choose the ones to use with --models")
    X = load_features(data, shapes[first], label_column, layouts[first])
    out = {}
    for name, m in models.items():
        Xs = standardise(X, m["x_mean"], m["x_scale"], m["dtype"])
        y = m["estimator"].predict(Xs)
        if m["task"] == "regression":
            y = y.astype(np.float64) * m["y_scale"] + m["y_mean"]
        out[name] = y
    return out


def _cell(value):
    """A prediction as CSV text: integers without a point, floats round-trip."""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def write_predictions(predictions, stream):
    """CSV: a header line of the model names, then one line per row."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(list(predictions))
    for values in zip(*predictions.values()):
        writer.writerow([_cell(v) for v in values])


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
            "repeated up to 5 times and the median time is shown. --save keeps the "
            "fitted models; --predict uses them on new data. 'python -m fastlin' "
            "is the same command."),
        epilog=(
            f"models (default: all):\n{models}\n\n"
            f"embedded data (default: each model's own, as above):\n{datasets}\n\n"
            "your own data (--data FILE):\n"
            "  .csv  comma-separated numbers, one sample per line, and an optional header\n"
            "        line (recognised by a word above a number). Fields follow the csv\n"
            "        module's rules: double quotes allowed, spaces after a comma skipped.\n"
            "        The label column is the LAST one unless --label-column says otherwise\n"
            "        (an index, 0-based, negative counts from the end, or a header name).\n"
            "        Labels may be numbers or words.\n"
            "  .npy  one 2-D numeric array: features and the label column (as for .csv).\n"
            "  .npz  arrays 'X' (n, m) and 'y' (n,); or a single 2-D array as for .npy;\n"
            "        or a sparse matrix saved by scipy.sparse.save_npz(FILE.npz, X), its\n"
            "        labels (n,) in FILE.labels.npy next to it (np.save). Sparse features\n"
            "        are divided by their root mean square, not centred (they stay sparse).\n"
            "  Labels that are words, or integers with at most "
            f"{MAX_CLASSES} distinct values, are classes\n"
            "  (the binary models need exactly two); other numbers are a regression\n"
            "  target (only linear-regression applies); --task overrides this guess.\n"
            "  Models that do not fit the data are skipped, with a note.\n\n"
            "saving and predicting:\n"
            "  --save FILE writes the models that trained (each fitted on the 80% training\n"
            "  split, the Cython one when both backends ran) with the training\n"
            "  statistics used to standardise, as a Python pickle. --predict FILE\n"
            "  --data DATA loads them and writes CSV to stdout (or --output): a header\n"
            "  line of the model names, then one line per row of DATA, in order. DATA\n"
            "  holds the features alone, or the features and a label column (the\n"
            "  training file's, unless --label-column says; it is dropped); an .npz\n"
            "  its array 'X'. Loading a pickle can run code from the file: only\n"
            "  --predict with files you trust.\n\n"
            "examples:\n"
            f"  {PROG}\n"
            f"  {PROG} --models softmax,mlp --dtype float32 --epochs 5\n"
            f"  {PROG} --data mydata.csv --label-column species --backend cython\n"
            f"  {PROG} --data train.csv --models softmax --save models.pkl\n"
            f"  {PROG} --predict models.pkl --data new.csv --output predictions.csv\n"))
    parser.add_argument(
        "--models", type=_model_list, default=None, metavar="NAMES",
        help="comma-separated model names (see below), or 'all' (the default); with "
             "--predict: which of the saved models (default: all of them)")
    parser.add_argument(
        "--data", default=None, metavar="NAME|FILE",
        help="an embedded dataset (digits, digits-binary, diabetes) or a .npy/.npz/.csv "
             "file; all chosen models train on it (default: each model on its own "
             "embedded set); with --predict: the rows to predict")
    parser.add_argument(
        "--label-column", default=None, metavar="K",
        help="for a .csv/.npy file (or an .npz of one array): the label column, an index "
             "(0-based, negative from the end) or a CSV header name (default: -1, the "
             "last column)")
    parser.add_argument(
        "--task", choices=TASKS, default=None,
        help="what the labels are: class labels or a regression target (default: "
             "guessed, see below)")
    parser.add_argument(
        "--backend", choices=("both", "cython", "numpy"), default=None,
        help="which implementation trains: the compiled Cython kernels, the pure-NumPy "
             "reference, or both (the default, and the only way to get a speed-up)")
    parser.add_argument(
        "--epochs", type=int, default=None, metavar="N",
        help="epochs (passes over the training set) for every model (default: per model, "
             "see below)")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default=None,
        help="floating-point type of the data and the weights (default float64)")
    parser.add_argument(
        "--seed", type=int, default=None,
        help="seed of the train/test split, the initial weights and the sample order "
             "(default 0)")
    parser.add_argument(
        "--save", default=None, metavar="FILE",
        help="write the fitted models to FILE (a pickle, see below)")
    parser.add_argument(
        "--predict", default=None, metavar="FILE",
        help="load the models saved in FILE and write their predictions for --data as CSV "
             "instead of training")
    parser.add_argument(
        "--output", default=None, metavar="FILE",
        help="with --predict: write the CSV to FILE (default: stdout)")
    return parser


#: options that only training uses (errors with --predict)
TRAINING_OPTIONS = ("task", "backend", "epochs", "dtype", "seed", "save")


def _option(dest):
    return "--" + dest.replace("_", "-")


def _predict_main(args):
    """--predict: returns the exit status."""
    given = [_option(d) for d in TRAINING_OPTIONS if getattr(args, d) is not None]
    if given:
        raise UsageError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not "
                         "apply with --predict (the models are trained already)")
    if args.data is None:
        raise UsageError("--predict needs --data NAME|FILE: the rows to predict")
    saved = load_models(args.predict)
    if args.models is not None:
        missing = [m for m in args.models if m not in saved]
        if missing:
            raise UsageError(f"--predict {args.predict} holds no model "
                             f"{', '.join(map(repr, missing))}; it holds {', '.join(saved)}")
        saved = {m: saved[m] for m in args.models}
    if not saved:
        raise UsageError(f"--predict {args.predict}: the file holds no models")
    predictions = predict(saved, args.data, args.label_column)
    if args.output is None:
        write_predictions(predictions, sys.stdout)
        return 0
    try:
        with open(args.output, "w", newline="") as f:
            write_predictions(predictions, f)
    except OSError as exc:
        raise UsageError(f"--output {args.output}: cannot write it: {_one_line(exc)}") from None
    n_rows = len(next(iter(predictions.values())))
    print(f"wrote {args.output}: predictions of {', '.join(predictions)} for {n_rows} rows")
    return 0


def main(argv=None):
    """Run the command; returns the exit status (0 ok, 1 a fit failed or the
    reader of stdout went away, 2 a usage or data error, 130 interrupted)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # e.g. `fastlin --predict ... | head`: stop quietly, and keep Python
        # from complaining when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.predict is not None:
            return _predict_main(args)
        if args.output is not None:
            raise UsageError("--output applies only with --predict (the table goes to "
                             "stdout)")
        epochs, seed = args.epochs, 0 if args.seed is None else args.seed
        if epochs is not None and epochs < 1:
            raise UsageError(f"--epochs must be >= 1, got {epochs}")
        if seed < 0:
            raise UsageError(f"--seed must be >= 0, got {seed}")
        if args.save is not None and not os.path.isdir(os.path.dirname(args.save) or "."):
            raise UsageError(f"--save {args.save}: no such directory")
        backend = args.backend or "both"
        backends = ["cython", "numpy"] if backend == "both" else [backend]
        dtype = np.dtype(args.dtype or "float64")
        rows, notes = run(args.models or list(MODELS), args.data, backends, epochs=epochs,
                          dtype=dtype, seed=seed, label_column=args.label_column,
                          task=args.task)
        if args.save is not None:
            saved = save_models(args.save, rows)
            notes.append(f"saved {', '.join(saved)} to {args.save}" if saved
                         else f"saved no models to {args.save}: every fit failed")
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130

    from . import __version__
    print(f"fastlin {__version__}, {dtype.name}, 80/20 train/test split, seed {seed}; "
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
