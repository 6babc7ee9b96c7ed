"""What every fastlin estimator shares: parameters, validation, the epoch loop.

One place for each thing:

* ``Estimator``: ``get_params``/``set_params``/``repr`` (so that
  ``sklearn.base.clone``, ``Pipeline`` and ``GridSearchCV`` work) and the
  scikit-learn tags, without importing scikit-learn at run time.
* ``check_X``, ``check_sample_weight``, ``check_regression_target``,
  ``encode_labels``: input validation and the dtype policy. Everything a
  kernel receives has been checked here first (the kernels run without
  bounds checks).
* ``feature_names``, ``dataframe_to_array``, ``check_feature_names``,
  ``class_weights``: pandas DataFrames (their column names, as
  ``feature_names_in_``) and the classifiers' ``class_weight``. pandas is
  never imported: a DataFrame is recognised only once the caller has
  imported pandas.
* ``SGDEstimator``: hyper-parameter checks, the epoch loop (shuffling,
  stopping rule, early stopping on held-out rows, verbose output,
  divergence check, the convergence verdict) and ``fit`` /
  ``partial_fit`` for both the linear models and the network. A dask X goes
  to ``fastlin._dask``, which runs the same loop (``_train``) on the
  workers' chunks; ``dask_aware`` does the same for the prediction methods.

dtype policy: float32 X trains in float32 and keeps float32 parameters; any
other numeric X (float64, float16, ints, bools, numeric objects) becomes
float64. A C-contiguous, aligned float32/float64 X (including read-only arrays
and memory maps) is used as it is, never copied; any other layout (Fortran
order, strided views) is copied once into a C-contiguous array.
"""
import cmath
import copy
import functools
import math
import numbers
import sys
import time
import warnings

import numpy as np

from ._backend import BACKENDS, get_backend, has_sparse
from ._parallel import blas_threads_for, kernel_threads, resolve_n_jobs

FLOAT_DTYPES = (np.float32, np.float64)
from ._numeric import SCHEDULES


# --------------------------------------------------------------------------
# errors and warnings
#
# scikit-learn has a NotFittedError, a ConvergenceWarning and a
# DataConversionWarning, and code written for it (its estimator checks, its
# warning filters, users' handlers) catches those. fastlin never imports
# scikit-learn, so its classes cannot derive from scikit-learn's; instead,
# once scikit-learn is imported (whether before or after fastlin), creating
# one of these makes an instance of a subclass of both fastlin's class and
# scikit-learn's of the same name. Both ``except fastlin.NotFittedError`` and
# ``except sklearn.exceptions.NotFittedError`` catch it, both libraries'
# warning filters match it, and it pickles as fastlin's class (unpickled, it
# is what that process would create).

_COMBINED = {}


def _compatible(cls):
    """``cls``, or, when scikit-learn is imported and has a class of the same
    name in ``sklearn.exceptions``, the subclass of both (made once). A
    warning's category is given as ``_compatible(ConvergenceWarning)``."""
    sk_cls = getattr(sys.modules.get("sklearn.exceptions"), cls.__name__, None)
    if not isinstance(sk_cls, type) or issubclass(cls, sk_cls):
        return cls
    combined = _COMBINED.get(cls)
    if combined is None:
        combined = type(cls.__name__, (cls, sk_cls),
                        {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                         "__doc__": cls.__doc__, "_fastlin_class": cls})
        combined = _COMBINED.setdefault(cls, combined)   # one class, even across threads
    return combined


class _SklearnCompatible:
    """Base of the errors and warnings scikit-learn also defines: see above."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_fastlin_class" not in cls.__dict__:
            cls._fastlin_class = cls

    def __new__(cls, *args, **kwargs):
        return super().__new__(_compatible(cls), *args, **kwargs)

    def __reduce__(self):
        return self._fastlin_class, self.args, self.__dict__ or None


class NotFittedError(_SklearnCompatible, ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before
    ``fit``. Subclasses ``ValueError`` and ``AttributeError``, as
    scikit-learn's does (and, once scikit-learn is imported, is an instance of
    ``sklearn.exceptions.NotFittedError`` too)."""


class ConvergenceWarning(_SklearnCompatible, UserWarning):
    """``max_iter`` epochs ended the fit before the stopping rule did, or the
    fit ended no better than a constant prediction or well above its best
    loss (the message names the likely causes); once scikit-learn is
    imported, also a ``sklearn.exceptions.ConvergenceWarning``."""


class DivergenceError(ValueError):
    """The training loss or a parameter became non-finite (inf or NaN), or the
    loss grew by a factor over 1000 in the last epochs."""


class DataConversionWarning(_SklearnCompatible, UserWarning):
    """The input was converted to another shape or type (e.g. a column y);
    once scikit-learn is imported, also its ``DataConversionWarning``."""


# --------------------------------------------------------------------------
# parameters

class Estimator:
    """``get_params``/``set_params`` read the parameters from ``__init__``'s
    signature; ``__init__`` only stores them (validation happens in ``fit``).
    """

    @classmethod
    def _param_names(cls):
        import inspect

        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """The estimator's parameters, ``{name: value}``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set parameters by name; returns ``self``. Values are checked in
        ``fit``, not here."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        import inspect

        sig = inspect.signature(type(self).__init__)
        changed = []
        for name in self._param_names():
            default = sig.parameters[name].default
            value = getattr(self, name)
            same = value is default
            if not same:
                try:
                    same = bool(value == default) and type(value) is type(default)
                except Exception:
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here adds no run-time
        # dependency.
        from sklearn.utils import (ClassifierTags, InputTags, RegressorTags,
                                   Tags, TargetTags)

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=self._multiclass) if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
            input_tags=InputTags(sparse=has_sparse(self.backend, self._kind)),
        )


# --------------------------------------------------------------------------
# input validation

def _is_dask_array(X):
    """True for a dask array, checked without importing dask (a dask array
    exists only once ``dask.array`` has been imported)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


def dask_aware(method):
    """Decorator of a prediction method ``method(self, X)``: for a dask
    array X, the result is a dask array computed block by block on the
    workers (``fastlin._dask.predict_blocks``)."""
    @functools.wraps(method)
    def dispatch(self, X):
        if _is_dask_array(X):
            from ._dask import predict_blocks
            return predict_blocks(self, method, X)
        return method(self, X)
    return dispatch


def _is_sparse(X):
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(X)


def _all_finite(A):
    """True when A has no NaN or inf, without an n-sized temporary: the sum
    is finite exactly when the entries are (unless the finite entries overflow
    it, which the chunked check then settles)."""
    if A.dtype.kind not in "fc":
        return True
    # the ndarray method and math.isfinite: a few µs less than np.sum and
    # np.isfinite, which counts once per epoch on a small model
    if A.dtype.kind == "f" and math.isfinite(A.sum(dtype=np.float64)):
        return True
    if A.dtype.kind == "c" and cmath.isfinite(A.sum(dtype=np.complex128)):
        return True
    flat = A.reshape(-1) if A.flags.c_contiguous else A.ravel(order="K")
    step = 1 << 16
    return all(np.isfinite(flat[i:i + step]).all() for i in range(0, flat.size, step))


def _to_numeric(A, what):
    """A as an ndarray of a real numeric dtype, or a TypeError/ValueError
    naming the problem."""
    if _is_sparse(A):
        raise TypeError(f"sparse input is not supported for {what}; pass a dense "
                        "array (e.g. A.toarray()).")
    if A is None:
        raise ValueError(f"{what} is None; expected an array-like of numbers.")
    try:
        A = np.asarray(A)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} cannot be converted to an array: {exc}") from None
    kind = A.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {A.dtype}.")
    if kind in "USV":
        raise TypeError(f"{what} has dtype {A.dtype}; expected numbers, not "
                        "strings or bytes.")
    if kind in "mM":
        raise TypeError(f"{what} has dtype {A.dtype}; expected numbers, not dates/times.")
    if kind == "O":
        try:
            A = A.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} has dtype object with a non-numeric entry: {exc}") from None
    return A


def _check_finite_values(values, given, dtype, name):
    """A ValueError when ``values`` (X, or a sparse X's data, in ``dtype``)
    holds NaN or inf; one that says so when the cast from the caller's
    ``given`` values overflowed ``dtype``."""
    if _all_finite(values):
        return
    if given is not values and _all_finite(given):
        big = np.finfo(dtype).max
        raise ValueError(
            f"Input X has values that overflow {dtype.name}, the dtype of {name}'s "
            f"parameters (largest finite value {big:.4g}); rescale X.")
    raise ValueError("Input X contains NaN or infinity; remove or impute those "
                     "values first.")


def check_sizes(shape, n_features=None, name="the estimator"):
    """(n, m) of a 2-D X's ``shape``: at least one sample and one feature,
    and ``n_features`` features when given (dense, sparse and dask X alike)."""
    n, m = shape
    if n == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={shape}) while a "
                         "minimum of 1 is required.")
    if m == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={shape}) while a "
                         "minimum of 1 is required.")
    if n_features is not None and m != n_features:
        raise ValueError(f"X has {m} features, but {name} is expecting {n_features} "
                         "features as input.")
    return n, m


def check_X(X, *, n_features=None, dtype=None, estimator=None):
    """Validate X and return it as a C-contiguous float32/float64 array (a
    scipy.sparse X as a CSR, by ``check_sparse_X``).

    ``dtype=None`` applies the dtype policy (float32 stays float32, anything
    else numeric becomes float64); a given ``dtype`` forces that one (used
    after the first ``partial_fit`` and in prediction). ``n_features`` is the
    count seen in fit, if any.
    """
    name = type(estimator).__name__ if estimator is not None else "the estimator"
    if _is_sparse(X):
        return check_sparse_X(X, n_features=n_features, dtype=dtype, name=name)
    X = _to_numeric(X, "X")
    if X.ndim != 2:
        hint = (" Reshape your data either using X.reshape(-1, 1) if it has a single "
                "feature or X.reshape(1, -1) if it contains a single sample."
                if X.ndim < 2 else "")
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead (X has shape "
                         f"{X.shape}).{hint}")
    n, m = check_sizes(X.shape, n_features, name)
    if dtype is None:
        dtype = X.dtype if X.dtype in FLOAT_DTYPES else np.float64
    dtype = np.dtype(dtype)
    given = X
    if X.dtype != dtype or not (X.flags.c_contiguous and X.flags.aligned):
        # the one copy: a dtype conversion or a layout change
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=dtype)
    _check_finite_values(X, given, dtype, name)
    return X


def _check_compressed(indptr, indices, n_major, n_minor, nnz, fmt):
    """ValueError unless indptr/indices describe a CSR (CSC: fmt "csc") of
    n_major rows (columns) over n_minor columns (rows) with nnz entries:
    indptr of n_major + 1 entries from 0 to nnz, never decreasing, indices in
    0..n_minor−1. No temporary larger than a chunk of indptr."""
    if indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
        raise ValueError(f"Invalid sparse X ({fmt}): indptr has {indptr.shape[0]} entries, "
                         f"{n_major + 1} expected for shape {n_major, n_minor}.")
    if indices.shape[0] != nnz:
        raise ValueError(f"Invalid sparse X ({fmt}): {indices.shape[0]} indices for "
                         f"{nnz} data entries.")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"Invalid sparse X ({fmt}): indptr must run from 0 to the data "
                         f"length {nnz}, got {indptr[0]}..{indptr[-1]}.")
    step = 1 << 16
    for start in range(0, n_major, step):
        if np.any(np.diff(indptr[start:start + step + 1]) < 0):
            raise ValueError(f"Invalid sparse X ({fmt}): indptr is not monotone "
                             "(non-decreasing).")
    if nnz and (indices.min() < 0 or indices.max() >= n_minor):
        what = "column" if fmt == "csr" else "row"
        raise ValueError(f"Invalid sparse X ({fmt}): a {what} index is outside "
                         f"0..{n_minor - 1} (found {indices.min()}..{indices.max()}).")


def check_sparse_X(X, *, n_features=None, dtype=None, name="the estimator"):
    """Validate a scipy.sparse X (matrix or array) and return it as CSR with
    float32/float64 data (the dtype policy of ``check_X``) and int32/int64
    indices, never densified.

    A CSR X whose data already has the dtype is returned as it is (its
    indices may be unsorted, explicit zeros and repeated indices are kept);
    another format is converted to CSR once (its structure checked first,
    so that the conversion cannot read out of bounds), another data dtype
    converts the data. A structure that is not a valid CSR (indptr not
    monotone or not matching the data, indices out of range) and NaN or
    infinity in the data raise a ValueError naming the problem."""
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D sparse array instead (X has "
                         f"shape {X.shape}).")
    n, m = check_sizes(X.shape, n_features, name)
    kind = X.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: X has dtype {X.dtype}.")
    if kind not in "biuf":
        raise TypeError(f"sparse X has dtype {X.dtype}; expected numbers.")
    if X.format == "csc":
        _check_compressed(X.indptr, X.indices, m, n, X.data.shape[0], "csc")
    elif X.format == "coo":
        row, col = X.coords if hasattr(X, "coords") else (X.row, X.col)
        if row.shape[0] != X.data.shape[0] or col.shape[0] != X.data.shape[0]:
            raise ValueError("Invalid sparse X (coo): row, col and data differ in length.")
        if X.data.shape[0] and (row.min() < 0 or row.max() >= n or col.min() < 0
                                or col.max() >= m):
            raise ValueError("Invalid sparse X (coo): a row or column index is outside "
                             f"the shape {X.shape}.")
    if X.format != "csr":
        X = X.tocsr()                      # the one conversion
    _check_compressed(X.indptr, X.indices, n, m, X.data.shape[0], "csr")
    if X.indices.dtype not in (np.int32, np.int64) or X.indptr.dtype != X.indices.dtype:
        index = np.int64 if max(X.indices.dtype.itemsize, X.indptr.dtype.itemsize) > 4 else np.int32
        X = type(X)((X.data, X.indices.astype(index), X.indptr.astype(index)), shape=X.shape)
    if dtype is None:
        dtype = X.dtype if X.dtype in FLOAT_DTYPES else np.float64
    dtype = np.dtype(dtype)
    given = X.data
    if X.data.dtype != dtype:
        with np.errstate(over="ignore"):
            data = given.astype(dtype)
        # the same indices (no copy of the structure), the data converted
        X = type(X)((data, X.indices, X.indptr), shape=X.shape, copy=False)
    _check_finite_values(X.data, given, dtype, name)
    return X


def _column_or_1d(y, what="y"):
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(f"A column-vector {what} was passed when a 1d array was expected. "
                      "Please change the shape of y to (n_samples,), for example "
                      "using ravel().", _compatible(DataConversionWarning), stacklevel=4)
        return y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{what} should be a 1d array, got an array of shape {y.shape} instead.")
    return y


def _check_target_length(y, n_samples):
    if y.shape[0] != n_samples:
        raise ValueError(f"X and y have inconsistent numbers of samples: X has "
                         f"{n_samples}, y has {y.shape[0]}.")


def check_regression_target(y, n_samples, dtype, estimator):
    """y (n,) real and finite, in ``dtype``."""
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the "
                         "target y is None.")
    y = _column_or_1d(_to_numeric(y, "y"))
    _check_target_length(y, n_samples)
    y = np.ascontiguousarray(y, dtype=dtype)
    if not _all_finite(y):
        raise ValueError("Input y contains NaN or infinity.")
    return y


def _as_labels(y, estimator):
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the "
                         "target y is None.")
    if _is_sparse(y):
        raise TypeError("sparse y is not supported; pass a dense 1d array of labels.")
    y = _column_or_1d(np.asarray(y))
    if y.dtype.kind == "O":
        # numbers stored as objects are judged as numbers
        try:
            y_num = y.astype(np.float64)
        except (TypeError, ValueError):
            y_num = None
        if y_num is not None and all(isinstance(v, numbers.Number) and not isinstance(v, bool)
                                     for v in y[:64]):
            _check_discrete(y_num)
    elif y.dtype.kind == "c":
        raise ValueError(f"Unknown label type: complex labels (dtype {y.dtype}).")
    elif y.dtype.kind == "f":
        _check_discrete(y)
    return y


def _check_discrete(y):
    if not _all_finite(y):
        raise ValueError("Input y contains NaN or infinity.")
    if np.any(y != np.round(y)):
        raise ValueError("Unknown label type: continuous. A classifier needs discrete "
                         "class labels (ints, strings, or floats with integral values); "
                         "use a regressor for a continuous target.")


def unique_labels(y, estimator):
    """The sorted distinct labels of y (validated as class labels)."""
    y = _as_labels(y, estimator)
    try:
        return np.unique(y)
    except TypeError as exc:
        raise TypeError(f"Unknown label type: labels of mixed types cannot be sorted ({exc}).") from None


def encode_labels(y, classes, n_samples, estimator):
    """Map labels to their indices in ``classes`` (sorted), as intp (n,)."""
    y = _as_labels(y, estimator)
    _check_target_length(y, n_samples)
    try:
        idx = np.searchsorted(classes, y)
    except TypeError as exc:
        raise TypeError(f"Unknown label type: labels cannot be compared with classes_ ({exc}).") from None
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        unseen = np.unique(y[bad])[:5]
        raise ValueError(f"y contains labels not in classes {classes.tolist()}: {unseen.tolist()}")
    return idx.astype(np.intp, copy=False)


def check_sample_weight(sample_weight, n_samples, dtype):
    """None, or a finite non-negative (n,) array in ``dtype`` with a positive sum."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, sample_weight)
    sw = _to_numeric(sample_weight, "sample_weight")
    if sw.ndim != 1:
        raise ValueError(f"sample_weight must be 1d, got shape {sw.shape}.")
    if sw.shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == ({sw.shape[0]},), expected ({n_samples},) "
                         "(one weight per sample).")
    sw = np.ascontiguousarray(sw, dtype=dtype)
    if not _all_finite(sw):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(sw < 0):
        raise ValueError("Negative values in sample_weight are not allowed.")
    if not sw.sum() > 0:
        raise ValueError("sample_weight sums to zero; at least one sample needs a "
                         "positive weight.")
    return sw


# --------------------------------------------------------------------------
# standardization statistics and the change of space

def weighted_moments(A, sw=None, n_threads=1):
    """(Σ w, mean, M2) of the rows of A ((n, m), or (n,) for a target), in
    float64: mean = Σ w_i a_i / Σ w, M2 = Σ w_i (a_i − mean)², w = 1 when
    ``sw`` is None. One pass over A in blocks of rows (each a float64 block
    of at most ~1/128 of A, at least 4096 entries; the compiled
    ``fastlin._linear_fast.block_moments`` where it applies, 16 blocks a
    call, shared among up to ``n_threads`` threads), each call's blocks
    combined at once (``combine_moments``) and the calls' results merged in
    order (Chan et al.'s pairwise update): no copy of A, and the same
    result for any ``n_threads``."""
    if _is_sparse(A):
        return _sparse_weighted_moments(A, sw)
    A2 = A.reshape(A.shape[0], -1)
    n, m = A2.shape
    rows = max(1, max(1 << 12, min(1 << 20, A2.size // 128)) // m)

    compiled = _compiled_pass("block_moments", A2)
    # the compiled pass takes a slab of 16 blocks a call (at most 16
    # threads), whose moments are combined at once (their (16, m) arrays
    # stay small); the slabs' are merged in order
    slab = rows * (16 if compiled is not None else 1)
    total, mean, M2 = 0.0, np.zeros(m), np.zeros(m)
    for start in range(0, n, slab):
        w = None if sw is None else sw[start:start + slab].astype(np.float64)
        if compiled is not None:
            part = combine_moments(*compiled(A2[start:start + slab], w, rows, n_threads))
        else:
            block = A2[start:start + rows].astype(np.float64)
            w_c = float(block.shape[0]) if w is None else float(w.sum())
            if not w_c > 0:
                continue
            mean_c = (block.sum(axis=0) if w is None else w @ block) / w_c
            block -= mean_c
            np.square(block, out=block)
            part = (w_c, mean_c, block.sum(axis=0) if w is None else w @ block)
        total, mean, M2 = merge_moments((total, mean, M2), part)
    return total, mean, M2


def combine_moments(totals, means, M2s):
    """The (Σ w, mean, M2) of the union of k blocks from theirs ((k,), (k,
    m), (k, m)): Σ w, the weighted mean of the means, and the within-block
    M2s plus the blocks' weighted squared deviations from the overall mean
    (the between-block part, from deviations, so nothing cancels). Blocks
    of weight 0 are left out."""
    if not (totals > 0).all():
        keep = totals > 0
        totals, means, M2s = totals[keep], means[keep], M2s[keep]
        if totals.shape[0] == 0:
            return 0.0, np.zeros(means.shape[1]), np.zeros(means.shape[1])
    if totals.shape[0] == 1:
        return float(totals[0]), means[0], M2s[0]
    total = float(totals.sum())
    mean = (totals @ means) / total
    deviation = means - mean
    return total, mean, M2s.sum(axis=0) + totals @ (deviation * deviation)


def _compiled_pass(name, A):
    """``fastlin._linear_fast``'s pass ``name`` over blocks of rows of A
    (compiled, without the GIL), or None where it does not apply: A not a
    C-contiguous float32/float64 array, or no compiled module."""
    if (not isinstance(A, np.ndarray) or A.dtype not in (np.float32, np.float64)
            or not A.flags.c_contiguous):
        return None
    try:
        from . import _linear_fast
    except ImportError:
        return None
    return getattr(_linear_fast, name)


def _sparse_weighted_moments(A, sw=None):
    """``weighted_moments`` of a CSR A without densifying it: mean = Σ w x / Σ w
    and M2 = Σ w x² − Σ w · mean² from the nonzeros (the implicit zeros count
    as values 0), in one pass by the compiled ``fastlin._sparse_fast.column_moments``;
    without the compiled module, per chunk of rows (at most ~1/128 of the
    nonzeros, at least 4096) merged pairwise across chunks."""
    try:
        from ._sparse_fast import column_moments
    except ImportError:
        pass
    else:
        return column_moments(A, sw)
    n, m = A.shape
    nnz = max(int(A.nnz), 1)
    rows = max(1, n * max(1 << 12, nnz // 128) // nnz)
    total, mean, M2 = 0.0, np.zeros(m), np.zeros(m)
    for start in range(0, n, rows):
        block = A[start:start + rows].astype(np.float64)
        if sw is None:
            w = np.ones(block.shape[0])
        else:
            w = sw[start:start + rows].astype(np.float64)
        w_c = float(w.sum())
        if not w_c > 0:
            continue
        mean_c = np.asarray(block.T @ w).reshape(-1) / w_c
        second = np.asarray(block.multiply(block).T @ w).reshape(-1)
        M2_c = np.maximum(second - w_c * mean_c * mean_c, 0.0)
        total, mean, M2 = merge_moments((total, mean, M2), (w_c, mean_c, M2_c))
    return total, mean, M2


def merge_moments(a, b):
    """The (Σ w, mean, M2) of two parts' union from theirs."""
    (wa, ma, Ma), (wb, mb, Mb) = a, b
    if wa == 0:
        return wb, mb, Mb
    if wb == 0:
        return wa, ma, Ma
    w = wa + wb
    delta = mb - ma
    return w, ma + delta * (wb / w), Ma + Mb + delta * delta * (wa * wb / w)


def location_and_scale(moments):
    """(μ, σ) from (Σ w, mean, M2): σ = sqrt(M2 / Σ w), with σ = 1 where it
    is 0 or not finite (a constant feature is only centred) and μ = 0 where
    the mean is not finite."""
    total, mean, M2 = moments
    mean = np.array(mean, dtype=np.float64).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale = np.sqrt(np.asarray(M2, dtype=np.float64).reshape(-1) / total)
    bad = ~np.isfinite(mean)
    mean[bad] = 0.0
    scale[bad | ~np.isfinite(scale) | (scale == 0)] = 1.0
    return mean, scale


def to_original_space(W, b, stats):
    """A model (W (m, c), b (c,)) of the standardized space z = (x − μ) / σ
    (and, with ``y_mean``/``y_scale`` in ``stats``, of the target
    (y − μ_y) / σ_y) as one of the raw x and y, float64:

        W_raw = σ_y W / σ,   b_raw = σ_y (b − (μ / σ) · W) + μ_y

    ``stats`` None: (W, b) unchanged."""
    if stats is None:
        return W, b
    W_raw = np.asarray(W, dtype=np.float64) / stats["scale"][:, None]
    b_raw = np.asarray(b, dtype=np.float64) - stats["mean"] @ W_raw
    if "y_scale" in stats:
        W_raw = W_raw * stats["y_scale"]
        b_raw = b_raw * stats["y_scale"] + stats["y_mean"]
    return W_raw, b_raw


def to_standardized_space(W_raw, b_raw, stats):
    """The inverse of ``to_original_space``: W = σ W_raw / σ_y,
    b = (b_raw − μ_y + μ · W_raw) / σ_y."""
    if stats is None:
        return W_raw, b_raw
    W_raw = np.asarray(W_raw, dtype=np.float64)
    b_raw = np.asarray(b_raw, dtype=np.float64)
    if "y_scale" in stats:
        W_raw = W_raw / stats["y_scale"]
        b_raw = (b_raw - stats["y_mean"]) / stats["y_scale"]
    return W_raw * stats["scale"][:, None], b_raw + stats["mean"] @ W_raw


def change_space(W, b, old, new):
    """(W, b) in place, from the standardized space of ``old`` statistics to
    that of ``new`` (either None: the raw space)."""
    if old is None and new is None:
        return
    W_new, b_new = to_standardized_space(*to_original_space(W, b, old), new)
    W[...] = W_new
    b[...] = b_new


# --------------------------------------------------------------------------
# pandas DataFrames and feature names

def _is_dataframe(X):
    """True for a pandas DataFrame (pandas imported by the caller, not us)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(X, pd.DataFrame)


def feature_names(X):
    """The column names of a DataFrame X whose names are all strings, as an
    object array; None for any other X (an ndarray, or names that are not
    strings, e.g. a DataFrame's default 0..m−1). Mixed string and
    non-string names raise a TypeError."""
    if not _is_dataframe(X):
        return None
    names = np.asarray(X.columns, dtype=object)
    is_str = [isinstance(name, str) for name in names]
    if all(is_str) and len(names):
        return names
    if any(is_str):
        kinds = sorted({type(name).__name__ for name in names})
        raise TypeError("Feature names are only supported if all input features have "
                        f"string names, but the columns' names have types {kinds}; "
                        "convert them all to strings (X.columns = X.columns.astype(str)).")
    return None


def dataframe_to_array(X):
    """A DataFrame's values as an ndarray (float32 if every column is
    float32, else float64), or X itself when it is not a DataFrame.

    A column that is not numeric (text, dates, categories of text) raises a
    ValueError naming it; missing values (``pd.NA``, ``None``, NaN) become
    NaN, which ``check_X`` then rejects with a ValueError.
    """
    if not _is_dataframe(X):
        return X
    for j, dtype in enumerate(X.dtypes):
        if getattr(dtype, "kind", "O") in "biuf":
            continue
        try:
            X.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X's column {X.columns[j]!r} (dtype {dtype}) is not numeric: "
                             f"{exc}. Encode it as numbers first.") from None
    dtype = (np.float32 if len(X.dtypes) and all(d == np.float32 for d in X.dtypes)
             else np.float64)
    try:
        return X.to_numpy(dtype=dtype, na_value=np.nan)
    except (TypeError, ValueError):
        # pandas does not replace pd.NA in some blocks of objects at once: one
        # column at a time (each converts, as checked above)
        values = np.empty(X.shape, dtype=dtype)
        for j in range(X.shape[1]):
            values[:, j] = X.iloc[:, j].to_numpy(dtype=dtype, na_value=np.nan)
        return values


def _name_list(names):
    return "".join(f"- {name}\n" for name in names[:5]) + ("- ...\n" if len(names) > 5 else "")


def check_feature_names(estimator, X):
    """Compare X's feature names with the fitted ``feature_names_in_``:
    a UserWarning when only one of them has names, a ValueError when the
    names differ (missing, unseen or reordered columns)."""
    fitted = getattr(estimator, "feature_names_in_", None)
    names = feature_names(X)
    cls = type(estimator).__name__
    if names is None and fitted is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names",
                      UserWarning, stacklevel=4)
        return
    if names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with "
                      "feature names", UserWarning, stacklevel=4)
        return
    if len(names) == len(fitted) and np.all(names == fitted):
        return
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    message = "The feature names should match those that were passed during fit.\n"
    if unseen:
        message += "Feature names unseen at fit time:\n" + _name_list(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + _name_list(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


# --------------------------------------------------------------------------
# class weights

def check_class_weight(class_weight):
    """None, "balanced" or a dict {label: weight >= 0}; else a ValueError."""
    if class_weight is None or (isinstance(class_weight, str) and class_weight == "balanced"):
        return
    if not isinstance(class_weight, dict):
        raise ValueError(f'class_weight must be None, "balanced" or a dict {{label: weight}}, '
                         f"got {class_weight!r}.")
    for label, weight in class_weight.items():
        if not _is_real(weight) or weight < 0:
            raise ValueError(f"class_weight[{label!r}] must be a finite number >= 0, "
                             f"got {weight!r}.")


def class_weights(class_weight, classes, counts):
    """The weight of each class, (n_classes,) float64: ones for None; for
    "balanced" n / (n_classes · count_j) with count_j = ``counts[j]`` the
    number of samples of class j in ``fit``'s y (every class occurs); for a
    dict its value for each label it names and 1 for the others (a label
    that is not a class is a ValueError)."""
    k = len(classes)
    if class_weight is None:
        return np.ones(k)
    if isinstance(class_weight, str):
        counts = np.asarray(counts, dtype=np.float64)
        return counts.sum() / (k * counts)
    weights = np.ones(k)
    unknown = []
    for label, weight in class_weight.items():
        try:
            j = np.flatnonzero(classes == label)
        except (TypeError, ValueError):
            j = []
        if len(j) == 0:
            unknown.append(label)
        else:
            weights[j[0]] = weight
    if unknown:
        raise ValueError(f"class_weight names labels that are not classes: {unknown} "
                         f"(classes_ is {classes.tolist()}).")
    return weights


# --------------------------------------------------------------------------
# hyper-parameter checks (read, never modified)

def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)


def check_param(name, value, kind, *, low=None, low_open=False, high=None, high_open=False,
                options=None):
    """Check one hyper-parameter; raise a ValueError/TypeError naming it."""
    if kind == "options":
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"{name}={value!r} is not valid; expected one of {list(options)}.")
        return
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {value!r}.")
        return
    ok = _is_int(value) if kind == "int" else _is_real(value)
    if not ok:
        what = "an integer" if kind == "int" else "a finite real number"
        raise TypeError(f"{name} must be {what}, got {value!r}.")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}.")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}.")


def make_rng(random_state):
    """A ``np.random.Generator`` from None, an int, a Generator or a RandomState."""
    if random_state is None or _is_int(random_state):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state!r}.")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise ValueError(f"random_state must be None, an int, a numpy Generator or a "
                     f"RandomState, got {random_state!r}.")


# --------------------------------------------------------------------------
# the stopping rule, early stopping's split and scores

#: the smallest |best loss| the relative ``tol`` scales with when there is
#: no baseline (a best loss of 0 then needs a negative loss to improve: it
#: cannot)
_TINY = np.finfo(np.float64).tiny


#: the most entries of the (k, n) orders of one call of several epochs
#: (16 KB): such calls save the per-call set-up, which counts where an
#: epoch is short (n up to about a thousand rows)
CHUNK_ORDER_ENTRIES = 2048


def improves(loss, best, tol, baseline=None):
    """Whether an epoch's training loss improves on the best so far by the
    relative ``tol``: loss < best − tol · L₀, with L₀ the ``baseline`` (the
    loss of the best constant prediction), or max(|best|, tiny) where there
    is none (the perceptrons). The first epoch, best = inf, always
    improves."""
    if not np.isfinite(best):
        return True
    scale = baseline if baseline is not None and baseline > 0 else max(abs(best), _TINY)
    return loss < best - tol * scale


def _snapshot(state):
    """Copies of a fit's working parameters (everything in ``state`` but the
    statistics, the step size and α), to restore with ``state.update``."""
    return {key: copy.deepcopy(value) for key, value in state.items()
            if key not in ("stats", "eta0", "alpha")}


def validation_split(y, fraction, rng, stratify, name="the estimator"):
    """(training rows, validation rows) of n = len(y) samples, each sorted
    (intp), from one permutation drawn from ``rng``: ceil(fraction · n)
    validation rows, the first of the permutation; with ``stratify``, each
    class's share of them its share of y (largest remainders, at least one
    row of each class left for training), the rows of each class the first
    of the permutation that are of that class."""
    n = len(y)
    n_val = int(np.ceil(fraction * n))
    if n_val < 2 or n - n_val < 1:
        raise ValueError(f"{name}: early_stopping with validation_fraction={fraction!r} "
                         f"splits the {n} samples into {n - n_val} training and {n_val} "
                         "validation samples; it needs at least 1 and 2. Change "
                         "validation_fraction, use more samples, or set early_stopping=False.")
    perm = rng.permutation(n).astype(np.intp, copy=False)
    held = np.zeros(n, dtype=bool)
    if not stratify:
        held[perm[:n_val]] = True
    else:
        classes, labels = np.unique(y, return_inverse=True)
        counts = np.bincount(labels)
        if counts.min() < 2:
            raise ValueError(f"{name}: early_stopping's stratified split needs at least 2 "
                             f"samples of each class; class {classes[counts.argmin()]!r} "
                             "has 1. Set early_stopping=False.")
        if n_val < len(classes) or n - n_val < len(classes):
            raise ValueError(f"{name}: early_stopping with validation_fraction={fraction!r} "
                             f"holds out {n_val} of {n} samples; the stratified split "
                             f"needs at least one per class ({len(classes)}) on each side. "
                             "Change validation_fraction, or set early_stopping=False.")
        exact = counts * (n_val / n)
        take = np.minimum(np.floor(exact).astype(np.intp), counts - 1)
        # the rows still to place go to the largest remainders (then the
        # larger classes, then the lower class index)
        for k in np.lexsort((np.arange(len(counts)), -counts, -(exact - take))):
            if take.sum() == n_val:
                break
            if take[k] < counts[k] - 1:
                take[k] += 1
        by_class = perm[np.argsort(labels[perm], kind="stable")]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for first, k in zip(starts, take):
            held[by_class[first:first + k]] = True
    return np.flatnonzero(~held).astype(np.intp), np.flatnonzero(held).astype(np.intp)


def prediction_score(y_pred, y, w, classifier):
    """Accuracy (``classifier``) or R² = 1 − Σ w (y − ŷ)² / Σ w (y − ȳ)² of
    predictions against y, weighted by w (None: 1); R² is 1 for a perfect
    prediction of a constant y and 0 for any other."""
    if classifier:
        return float(np.average(y_pred == y, weights=w))
    y = np.asarray(y, dtype=np.float64)
    ss_res = np.average((y - y_pred) ** 2, weights=w)
    ss_tot = np.average((y - np.average(y, weights=w)) ** 2, weights=w)
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return float(1 - ss_res / ss_tot)


def majority_share(labels, w):
    """The (weighted) share of the most frequent class among ``labels``, the
    class indices the kernels train on: intp 0..c−1, or a binary model's
    0/1 floats. Counted in place (no sorted or converted copy of the
    labels, which for a float32 X of 100 columns would be 5-8% of X)."""
    if labels.dtype.kind == "f":
        if w is None:
            total = float(labels.shape[0])
            ones = float(np.add.reduce(labels, dtype=np.float64))
        else:
            total = float(np.add.reduce(w, dtype=np.float64))
            ones = float(np.einsum("i,i->", w, labels, dtype=np.float64))
        return max(ones, total - ones) / total
    totals = np.bincount(labels, weights=None if w is None else np.asarray(w, dtype=np.float64))
    return float(totals.max() / totals.sum())


def prior_loss(labels, w, n_classes, n):
    """(1/n) Σ w_i · H(p), p the (weighted) class shares of ``labels``
    (0 .. n_classes − 1) and H the entropy: the cross-entropy of predicting
    the class prior for every sample."""
    totals = np.bincount(np.asarray(labels, dtype=np.intp), minlength=n_classes,
                         weights=None if w is None else np.asarray(w, dtype=np.float64))
    total = totals.sum()
    p = totals[totals > 0] / total
    return float(total * -(p * np.log(p)).sum() / n)


def row_block(X, start, stop):
    """Rows start..stop of X without copying its entries: a view of a dense
    X; for a CSR, a matrix of the same class over slices of X's own data
    and indices (only the block's indptr is new). (scipy's slicing, and its
    constructor given slices, copy the nonzeros.)"""
    if not _is_sparse(X):
        return X[start:stop]
    lo, hi = X.indptr[start], X.indptr[stop]
    block = type(X)((stop - start, X.shape[1]), dtype=X.dtype)
    block.indptr = X.indptr[start:stop + 1] - lo
    block.indices = X.indices[lo:hi]
    block.data = X.data[lo:hi]
    return block


def row_blocks(X):
    """(start, stop, the rows start..stop of X as ``row_block`` gives them),
    covering X in order: 8192 rows of a dense X a block, of a CSR as many as
    hold about 1/128 of its nonzeros (a block's results stay small beside X)."""
    n = X.shape[0]
    step = 1 << 13
    if _is_sparse(X):
        nnz = max(int(X.nnz), 1)
        step = max(1, n * max(1 << 12, nnz // 128) // nnz)
    for start in range(0, n, step):
        stop = min(start + step, n)
        yield start, stop, row_block(X, start, stop)


def blockwise_accuracy(predict, X, y, w):
    """The (weighted) accuracy of ``predict`` over X's rows, a block of
    ``row_blocks`` at a time."""
    hits = 0.0
    for start, stop, block in row_blocks(X):
        right = predict(block) == y[start:stop]
        hits += right.sum() if w is None else float(w[start:stop] @ right)
    return float(hits / (X.shape[0] if w is None else np.sum(w, dtype=np.float64)))


# --------------------------------------------------------------------------
# the epoch loop

class SGDEstimator(Estimator):
    """Base of every fastlin estimator: ``fit``/``partial_fit`` around an
    epoch loop, over the backend chosen by ``backend``.

    Subclasses define ``_kind`` ("linear" or "network"), ``_estimator_type``,
    ``_multiclass`` and the hooks

    * ``_check_model_params()``: their own hyper-parameters;
    * ``_n_outputs(classes)``: the number of outputs;
    * ``_init_state(n_features, n_outputs, dtype, rng, continue_from)``: the
      working parameters (a dict), fresh or continued;
    * ``_epoch(module, X, y, sw, state, order, batch, t)``: one epoch, all
      of it in ``module.sgd_epoch`` (a full batch is batch = n over the
      identity order); returns (data loss, t);
    * ``_state_arrays(state)``: the arrays the divergence check looks at;
    * ``_publish(state)``: the fitted attributes (``coef_`` ...);
    * ``_state_predictor(state)``: a function of X giving what ``predict``
      would give (class indices) with the parameters in ``state`` (early
      stopping's score, the perceptrons' training accuracy);
    * ``_baseline_loss(y, sw, n_outputs)``: the loss of the best constant
      prediction, or None (the convergence verdict);
    * ``_set_initial_params(state, **init)``: when their ``fit`` takes initial
      parameters.

    The linear models also name their ``_loss`` (a key of ``fastlin._losses``).
    The classifiers also have a ``class_weight`` parameter, folded into the
    sample weights here.

    A fit keeps its working parameters private and publishes them (``coef_``
    ...) only when it succeeds: a call that raises (bad input, divergence)
    leaves the estimator exactly as it was.
    """

    _estimator_type = None
    _multiclass = False
    # whether warm_start's fit continues the step count t_ (else it restarts)
    _warm_start_continues_schedule = False
    # alpha="auto": a function of the training rows' count giving α, or None
    # (the model takes a number only)
    _auto_alpha = None

    # ---- hyper-parameters

    def _check_params(self):
        if not (isinstance(self.learning_rate, str) and self.learning_rate == "auto"):
            if isinstance(self.learning_rate, str):
                raise TypeError('learning_rate must be a finite real number > 0 or "auto", '
                                f"got {self.learning_rate!r}.")
            check_param("learning_rate", self.learning_rate, "real", low=0, low_open=True)
        check_param("learning_rate_schedule", self.learning_rate_schedule, "options",
                    options=SCHEDULES)
        check_param("power_t", self.power_t, "real", low=0)
        check_param("max_iter", self.max_iter, "int", low=1)
        if self.tol is not None:
            check_param("tol", self.tol, "real", low=0)
        check_param("n_iter_no_change", self.n_iter_no_change, "int", low=1)
        check_param("early_stopping", self.early_stopping, "bool")
        check_param("validation_fraction", self.validation_fraction, "real", low=0,
                    low_open=True, high=1, high_open=True)
        if self.batch_size is not None:
            check_param("batch_size", self.batch_size, "int", low=1)
        auto_alpha = (self._auto_alpha is not None and isinstance(self.alpha, str)
                      and self.alpha == "auto")
        if not auto_alpha:
            if isinstance(self.alpha, str) and self._auto_alpha is not None:
                raise TypeError('alpha must be a finite real number >= 0 or "auto", '
                                f"got {self.alpha!r}.")
            check_param("alpha", self.alpha, "real", low=0)
        if self.learning_rate_schedule == "optimal" and not (auto_alpha or self.alpha > 0):
            raise ValueError('learning_rate_schedule="optimal" (η_t = 1 / (α (t₀ + t − 1))) '
                             f"needs alpha > 0, got alpha={self.alpha!r}.")
        if self._estimator_type == "classifier":
            check_class_weight(self.class_weight)
        check_param("shuffle", self.shuffle, "bool")
        check_param("warm_start", self.warm_start, "bool")
        check_param("standardize", self.standardize, "bool")
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_param("verbose", self.verbose, "int", low=0)
        check_param("backend", self.backend, "options", options=BACKENDS)
        resolve_n_jobs(self.n_jobs)
        rs = self.random_state
        if not (rs is None or _is_int(rs) and rs >= 0
                or isinstance(rs, (np.random.Generator, np.random.RandomState))):
            raise ValueError("random_state must be None, an int >= 0, a numpy Generator "
                             f"or a RandomState, got {rs!r}.")
        self._check_model_params()

    def _check_model_params(self):
        pass

    # ---- targets

    def _prepare_targets(self, y, n_samples, dtype, sample_weight, classes, first):
        """(targets for the kernel, fitted-state updates such as classes_)."""
        if self._estimator_type == "regressor":
            return check_regression_target(y, n_samples, dtype, self), {}
        name = type(self).__name__
        if first:
            if classes is not None:
                classes_ = unique_labels(classes, self)
            else:
                classes_ = unique_labels(y, self)
        else:
            classes_ = self.classes_
            if classes is not None and not np.array_equal(unique_labels(classes, self), classes_):
                raise ValueError(f"classes={classes!r} differs from the classes_ of the first "
                                 f"partial_fit call, {classes_.tolist()}.")
        if len(classes_) < 2:
            raise ValueError(f"{name} needs samples of at least 2 classes; got 1 class "
                             f"({classes_.tolist()}).")
        if not self._multiclass and len(classes_) > 2:
            raise ValueError(f"Only binary classification is supported. {name} got "
                             f"{len(classes_)} classes; use SoftmaxRegression, "
                             "MulticlassPerceptron or MLPClassifier for more.")
        idx = encode_labels(y, classes_, n_samples, self)
        if classes is None and sample_weight is not None:
            if len(np.unique(idx[sample_weight > 0])) < 2:
                raise ValueError(f"{name} needs samples of at least 2 classes with a "
                                 "positive sample_weight; only 1 class has one.")
        target = idx if self._multiclass else idx.astype(dtype)
        return target, {"classes_": classes_}

    # ---- fit / partial_fit

    def fit(self, X, y, sample_weight=None):
        """Fit the model with up to ``max_iter`` epochs of (minibatch) SGD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. float32 trains in float32; other numbers in float64.
            A C-contiguous float32/float64 array is used without a copy. A
            dask array trains on the workers of the current dask.distributed
            client, where its chunks live (docs/distributed.md).
        y : array-like of shape (n_samples,)
            Targets (any labels for a classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights w_i of the objective's terms (a classifier
            multiplies them by ``class_weight``'s weight of each sample's
            class).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, classes=None, partial=False)

    # The subclasses' public partial_fit(X, y[, classes], sample_weight) call
    # this: one epoch, continuing the step count, averages/velocities, the
    # shuffling generator and loss_curve_. After the first call X is
    # converted to the dtype the parameters have (a copy if it differs).
    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        return self._fit(X, y, sample_weight, classes=classes, partial=True)

    def _is_fitted(self):
        return hasattr(self, "n_features_in_")

    def _fit(self, X, y, sample_weight, classes, partial, init=None):
        self._check_params()
        module = get_backend(self.backend, self._kind)
        first = not (partial and self._is_fitted())
        if partial and first and self._estimator_type == "classifier" and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit "
                             "(all the labels the estimator will ever see).")
        if partial and getattr(self, "class_weight", None) == "balanced":
            raise ValueError('class_weight="balanced" is not supported by partial_fit (one '
                             "call sees a part of the data); pass a dict of weights, e.g. "
                             "n / (n_classes · counts) from the whole training set.")
        if partial and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True (one call is "
                             "one epoch, with no held-out rows); set early_stopping=False.")
        continuing = self._is_fitted() and (not first or self.warm_start)
        if _is_dask_array(X) and self.early_stopping:
            raise ValueError("early_stopping=True is not supported for a dask X (its held-out "
                             "rows would have to be gathered); hold out a validation set "
                             "yourself, or set early_stopping=False.")
        if _is_dask_array(X):       # trained on the workers of the dask client
            from ._dask import fit as dask_fit
            return dask_fit(self, module, X, y, sample_weight, classes, partial, first, continuing,
                            init=init)
        if first:
            names = feature_names(X)
        else:
            check_feature_names(self, X)
            names = getattr(self, "feature_names_in_", None)
        X = dataframe_to_array(X)
        X = check_X(X, dtype=None if first else self._dtype,
                    n_features=None if first else self.n_features_in_, estimator=self)
        if _is_sparse(X):           # a CSR X: the backend's sparse kernels
            module = get_backend(self.backend, self._kind, sparse=True)
        n_samples, n_features = X.shape
        if continuing and n_features != self.n_features_in_:
            raise ValueError(f"X has {n_features} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input "
                             "(warm_start continues the previous fit).")
        sw = check_sample_weight(sample_weight, n_samples, X.dtype)
        y, fitted = self._prepare_targets(y, n_samples, X.dtype, sw, classes, first)
        score_weight = sw
        if getattr(self, "class_weight", None) is not None:
            classes_ = fitted["classes_"]
            idx = y if self._multiclass else y.astype(np.intp)
            counts = np.bincount(idx, minlength=len(classes_))
            cw = class_weights(self.class_weight, classes_, counts).astype(X.dtype)[idx]
            sw = cw if sw is None else sw * cw
        if continuing and "classes_" in fitted and not np.array_equal(fitted["classes_"],
                                                                      self.classes_):
            raise ValueError("warm_start: y's classes differ from the previous fit's "
                             f"{self.classes_.tolist()}.")
        n_outputs = self._n_outputs(fitted.get("classes_"))
        return self._train(module, X, y, sw, fitted, n_outputs, partial, first, continuing,
                           init=init, names=names, score_weight=score_weight)

    def _train(self, module, X, y, sw, fitted, n_outputs, partial, first, continuing,
               init=None, names=None, score_weight=None):
        """The epoch loop on validated data (``fastlin._dask`` calls it with
        its stand-ins for X and the backend module); ``init`` holds the
        initial parameters ``fit`` was given, ``names`` X's feature names,
        ``score_weight`` the caller's sample weights (without
        ``class_weight``: the validation score's weights)."""
        n_samples, n_features = X.shape
        # the generator: seeded once per fit; partial_fit keeps drawing from it
        if partial and not first:
            rng = copy.deepcopy(self._rng)   # published only if the call succeeds
        else:
            rng = make_rng(self.random_state)
        # early stopping: the held-out rows, drawn first from the generator;
        # the fit trains on the others through the kernels' ``order``
        rows = held_out = None
        if self.early_stopping and not partial:
            rows, held_out = self._validation_split(y, sw, rng)
            validation = (X[held_out], y[held_out],
                          None if score_weight is None else score_weight[held_out])
        n_train = n_samples if rows is None else len(rows)
        moment_weight = sw
        if rows is not None:        # the statistics of the training rows only
            moment_weight = np.zeros(n_samples, dtype=X.dtype)
            moment_weight[rows] = 1 if sw is None else sw[rows]
        n_threads = kernel_threads(self.n_jobs, module)
        # the one-off passes over X (statistics, the automatic step's norms)
        # take the fit's threads with the compiled kernels only: the NumPy
        # reference runs on one thread
        pass_threads = n_threads if hasattr(module, "_OPENMP") else 1
        stats = self._standardization(X, y, moment_weight, partial, first, pass_threads)
        if partial:
            baseline = None
        elif hasattr(X, "baseline_sample"):   # dask: from the workers' summaries
            baseline = self._baseline_loss(*X.baseline_sample(
                self._estimator_type == "regressor", max(n_outputs, 2)), n_outputs)
        else:
            baseline = self._baseline_loss(
                y if rows is None else y[rows],
                None if sw is None else (sw if rows is None else sw[rows]), n_outputs)
        y = self._kernel_targets(X, y, stats)
        state = self._init_state(n_features, n_outputs, X.dtype, rng,
                                 continue_from=self if continuing else None)
        state["alpha"] = alpha = self._penalty(n_train, partial, first)
        if continuing:
            # the previous fit's parameters, in the space of these statistics
            self._change_space(state, getattr(self, "_stats", None), stats)
        state["stats"] = stats
        state["n_threads"], state["pass_threads"] = n_threads, pass_threads
        if init is not None:
            self._set_initial_params(state, **init)
        batch = n_train if self.batch_size is None else min(self.batch_size, n_train)
        # the automatic step sees the training rows only (moment_weight)
        learning_rate = self._initial_learning_rate(X, moment_weight, state, batch, partial,
                                                    first)
        state["eta0"] = eta0 = learning_rate    # "adaptive" divides it between epochs
        if partial and not first:
            t, curve, n_iter = self.t_, list(self.loss_curve_), self.n_iter_
        else:
            t, curve, n_iter = 0, [], 0
            if continuing and self._warm_start_continues_schedule:
                t = self.t_

        epochs = 1 if partial else self.max_iter
        n_iter_start = n_iter        # the epochs of this call are n_iter − n_iter_start
        best, stale, converged = np.inf, 0, False
        scores, best_score, best_state = [], -np.inf, None
        start = time.perf_counter()
        # several epochs per kernel call (``_epochs``) when nothing runs between
        # them (no validation score, no printing, no dask): a call is at most as
        # many epochs as the stopping rule needs before it can stop, so it can
        # only stop at a call's last epoch, and the fit is the same as with one
        # call per epoch (each epoch's order drawn in turn from the generator)
        chunked = (not partial and rows is None and not self.verbose
                   and not hasattr(X, "chunk_seeds") and self._epochs_in_one_call(module))
        stop = False
        # BLAS calls between the epochs (the validation score, the raw-space
        # model) run on one thread while the kernels run more
        with blas_threads_for(state["n_threads"]):
            while n_iter - n_iter_start < epochs and not stop:
                k = 1
                if chunked:
                    k = min(epochs - (n_iter - n_iter_start),
                            max(1, CHUNK_ORDER_ENTRIES // max(n_train, 1)))
                    if self.tol is not None:
                        k = min(k, self.n_iter_no_change - stale)
                if k == 1:
                    order = self._epoch_order(X, rng, rows, n_samples, n_train)
                    loss, t = self._epoch(module, X, y, sw, state, order, batch, t)
                    losses = [loss]
                else:
                    orders = np.empty((k, n_train), dtype=np.intp)
                    for i in range(k):
                        orders[i] = self._epoch_order(X, rng, rows, n_samples, n_train)
                    losses, t = self._epochs(module, X, y, sw, state, orders, batch, t)
                for i, loss in enumerate(losses):
                    # the kernels divide by len(X): the mean over the training rows
                    loss = float(loss) if rows is None else float(loss) * (n_samples / n_train)
                    n_iter += 1
                    if i == len(losses) - 1:
                        # (a call of several epochs stops after the first one whose
                        # loss or parameters are not finite: only its last can be)
                        self._check_finite(loss, state, n_iter)
                    curve.append(loss)
                    if self.verbose:
                        print(f"epoch {n_iter}, loss {loss:.6g}, elapsed "
                              f"{time.perf_counter() - start:.2f} s", flush=True)
                    if partial:
                        continue
                    if rows is not None:
                        # scikit-learn's rule on the validation score: an epoch
                        # improves when it reaches the best score so far + tol
                        score = self._validation_score(state, *validation)
                        scores.append(score)
                        if self.verbose:
                            print(f"validation score {score:.6g}", flush=True)
                        if self.tol is None:
                            pass
                        elif score < best_score + self.tol:
                            stale += 1
                        else:
                            stale = 0
                        if score > best_score:
                            best_score, best_state = score, _snapshot(state)
                    elif self.tol is not None:
                        stale = 0 if improves(loss, best, self.tol, baseline) else stale + 1
                        best = min(best, loss)
                    if self.tol is not None and stale >= self.n_iter_no_change:
                        if self.learning_rate_schedule == "adaptive" and state["eta0"] > 1e-6:
                            state["eta0"] /= 5
                            stale = 0
                            continue
                        converged = stop = True
                        break
        if not partial:
            self._check_blow_up(curve, learning_rate)
        if rows is not None:
            state.update(best_state)        # the best validation score's parameters
        finding = None
        if not partial:
            finding = self._failure(curve, baseline, state, X, y, sw, scores,
                                    validation if rows is not None else None)
        if finding is None and not partial and self._steps_zero_the_weights(state):
            finding = ("alpha·learning_rate >= 1, so every step's L2 shrink "
                       "max(0, 1 − ηα) sets the weights to zero and the model is the last "
                       "steps' gradients, not the penalized minimum"), True
        if finding is not None:
            self._warn_not_converged(finding, eta0, alpha, restored=rows is not None)
        elif not partial and self.tol is not None and not converged:
            what = ("validation score" if rows is not None else "training loss")
            warnings.warn(f"{type(self).__name__}: max_iter={self.max_iter} epochs reached "
                          f"before the {what} stopped improving by tol; consider "
                          "increasing max_iter.", _compatible(ConvergenceWarning), stacklevel=4)

        # success: publish everything at once
        for name, value in fitted.items():
            setattr(self, name, value)
        self._publish(state)
        self.n_features_in_ = n_features
        if names is None:
            self.__dict__.pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = names
        self.n_iter_ = n_iter
        self.t_ = t
        self.learning_rate_ = learning_rate
        self.alpha_ = alpha
        self.loss_curve_ = curve
        if rows is None:
            self.validation_scores_ = self.best_validation_score_ = None
        else:
            self.validation_scores_, self.best_validation_score_ = scores, float(best_score)
        self._dtype = X.dtype
        self._rng = rng
        self._stats = stats
        if stats is None:
            for name in ("scale_mean_", "scale_std_"):
                self.__dict__.pop(name, None)
        else:
            self.scale_mean_, self.scale_std_ = stats["mean"], stats["scale"]
        return self

    def _epoch_order(self, X, rng, rows, n_samples, n_train):
        """The next epoch's order: a permutation of the training rows drawn
        from ``rng`` (``shuffle`` and minibatches), else the rows in storage
        order (no shuffling, or the full batch: its one step sums every row
        whatever the order, and draws nothing); for a dask X, the chunks'
        seeds (each chunk shuffled on its worker)."""
        if hasattr(X, "chunk_seeds"):
            shuffled = self.shuffle and self.batch_size is not None
            return X.chunk_seeds(rng if shuffled else None)
        if self.shuffle and self.batch_size is not None:
            order = rng.permutation(n_train).astype(np.intp, copy=False)
            return order if rows is None else rows[order]
        return np.arange(n_samples, dtype=np.intp) if rows is None else rows

    def _epochs_in_one_call(self, module):
        """Whether ``_epochs`` can run several epochs in one call of ``module``."""
        return False

    def _epochs(self, module, X, y, sw, state, orders, batch, t):
        """Epochs over the rows of ``orders`` (k, n_order) in one kernel call:
        (their losses, t), as k calls of ``_epoch`` would give, stopping after
        one whose loss or parameters are not finite."""
        raise NotImplementedError

    # ---- the penalty and the step size

    def _penalty(self, n_train, partial, first):
        """α of this call: ``alpha`` when it is a number; "auto" is
        ``_auto_alpha(n_train)`` of the rows the kernel trains on, computed
        by ``fit`` and the first ``partial_fit`` and kept by later
        ``partial_fit`` calls."""
        if partial and not first:
            return self.alpha_
        if isinstance(self.alpha, str):       # "auto" (checked)
            return float(self._auto_alpha(n_train))
        return float(self.alpha)


    def _initial_learning_rate(self, X, sw, state, batch, partial, first):
        """η₀ of this call: ``learning_rate`` when it is a number; for "auto"
        the model's ``_auto_learning_rate`` from the rows the kernel trains
        on (``fastlin._auto_step``), computed by ``fit`` and the first
        ``partial_fit`` and kept by the later calls."""
        if not isinstance(self.learning_rate, str):
            return float(self.learning_rate)
        if partial and not first and hasattr(self, "learning_rate_"):
            return self.learning_rate_
        return float(self._auto_learning_rate(X, sw, state, batch))

    def _describe_learning_rate(self, eta0=None):
        """The learning rate for an error message: the parameter, and the
        step "auto" chose."""
        if isinstance(self.learning_rate, str) and eta0 is not None:
            return f"now {self.learning_rate!r}, η₀ = {eta0:.3g}"
        return f"now {self.learning_rate!r}"

    # ---- early stopping and the convergence verdict

    def _validation_split(self, y, sw, rng):
        """(training rows, validation rows) for ``early_stopping``, each
        sorted (intp): ``validation_split`` of the targets, stratified by
        class for a classifier, with its errors in the estimator's words."""
        name = type(self).__name__
        classifier = self._estimator_type == "classifier"
        rows, held_out = validation_split(y, self.validation_fraction, rng,
                                          stratify=classifier, name=name)
        for part, what in ((rows, "training"), (held_out, "validation")):
            if sw is not None and not np.sum(sw[part], dtype=np.float64) > 0:
                raise ValueError(f"{name}: the sample weights of the {what} rows of "
                                 "early_stopping's split are all zero; use another "
                                 "random_state or validation_fraction.")
        return rows, held_out

    def _validation_score(self, state, X_val, y_val, w_val):
        """The score of the parameters in ``state`` on the held-out rows:
        accuracy (classifiers) or R² (regressors), weighted by ``w_val``."""
        return prediction_score(self._state_predictor(state)(X_val), y_val, w_val,
                                self._estimator_type == "classifier")

    def _baseline_loss(self, y, sw, n_outputs):
        """The training loss (as ``loss_curve_`` reports it) of the best
        constant prediction the model can make, or None where the loss has no
        such baseline (the perceptrons)."""
        return None

    def _failure(self, curve, baseline, state, X, y, sw, scores, validation):
        """Why a finished fit is not a converged one, or None: (what was
        found, in words; True when the loss climbed or sits far above the
        baseline, i.e. the steps are unstable, False when the model is stuck
        near chance, None for a perceptron at chance). The rules:

        * with early stopping, a best validation score no better than chance
          (R² <= 0; or an accuracy no higher than the validation rows' most
          frequent class's share);
        * a final training loss at or above ``baseline``, the loss of the best
          constant prediction (the class prior, or y's mean);
        * a final loss that gave back over a quarter of the best epoch's gain
          over the baseline: final > best + (baseline − best) / 4;
        * where the last epoch's loss fails either and the fitted model is an
          average of the iterates, the average's own training loss
          (``_published_loss``) takes its place: a fit is judged
          by the model it returns;
        * for the perceptrons (no baseline), a training accuracy no higher
          than the most frequent class's (weighted) share.
        """
        classifier = self._estimator_type == "classifier"
        if validation is not None:
            best = max(scores)
            chance = 0.0 if not classifier else majority_share(validation[1], validation[2])
            if best <= chance:
                what = "accuracy" if classifier else "R²"
                return (f"its best validation {what}, {best:.4g}, is no better than chance "
                        f"({chance:.4g})"), False
            return None
        final, low = curve[-1], min(curve)
        if baseline is not None and baseline > 0:
            constant = "the class prior" if classifier else "y's mean"
            subject = "the final training loss"
            if final >= baseline or final > low + (baseline - low) / 4:
                # the curve holds the running weights' losses; an averaged
                # model (the mean of noisy iterates) can be far better than
                # they are: judge the model the fit returns
                published = self._published_loss(state, X, y, sw)
                if published is not None:
                    final = published
                    subject = "the training loss of the averaged weights (the fitted model)"
            if final >= baseline:
                # unstable steps: a loss far above the constant's, or one that
                # gave back its gain over it; a loss that never left the
                # constant's is a model stuck there (a penalty shrinking it
                # to a constant, or steps too small to move it)
                gave_back = low < baseline and final > low + (baseline - low) / 4
                return (f"{subject}, {final:.4g}, is no better than that of "
                        f"predicting {constant} ({baseline:.4g})",
                        final > 2 * baseline or gave_back)
            if final > low + (baseline - low) / 4:
                return (f"{subject}, {final:.4g}, is well above the best epoch's "
                        f"{low:.4g} (epoch {curve.index(low) + 1}; predicting {constant} "
                        f"gives {baseline:.4g})"), True
            return None
        if baseline is None and classifier and not hasattr(X, "chunk_seeds"):
            accuracy = blockwise_accuracy(self._state_predictor(state), X, y, sw)
            chance = majority_share(y, sw)
            if accuracy <= chance:
                return (f"its training accuracy {accuracy:.4g} is no better than always "
                        f"predicting the most frequent class ({chance:.4g})"), None
        return None

    def _published_loss(self, state, X, y, sw):
        """The training loss, as ``loss_curve_`` reports it, of the model the
        fit publishes, where that is not the running weights the curve
        follows (an average of them); None otherwise."""
        return None

    def _steps_zero_the_weights(self, state):
        """Whether the last step size η of a constant (or "adaptive") schedule
        has ηα >= 1: the clipped L2 factor max(0, 1 − ηα) is then 0."""
        if self.learning_rate_schedule not in ("constant", "adaptive"):
            return False
        return state["alpha"] * state["eta0"] >= 1

    def _warn_not_converged(self, finding, eta0, alpha, restored):
        """The ConvergenceWarning of a fit that ``_failure`` judged, naming
        the likely causes and their remedies: the steps (feature scale,
        learning_rate, alpha · learning_rate) for an unstable fit, the
        penalty and the features for one stuck near chance."""
        finding, unstable = finding
        causes = []
        if not self.standardize:
            causes.append("unscaled features (standardize=False trains on X as given, so a "
                          "feature with a large range makes every step too large): set "
                          "standardize=True, the default, or scale X")
        step = alpha * eta0
        if self.learning_rate_schedule != "optimal" and step > 1:
            causes.append(f"alpha·learning_rate = {step:.3g} > 1, so every step's L2 "
                          "shrink takes the weights to zero or past it: lower alpha or "
                          "learning_rate")
        if unstable and self.learning_rate_schedule != "optimal":
            causes.append(f"a learning_rate ({eta0:.3g}) too large for this data: try a "
                          "tenth of it, or learning_rate_schedule=\"adaptive\"")
        if unstable is None:        # a perceptron: its step size only scales W
            if alpha > 0:
                causes.append(f"alpha={alpha:.3g} too large: try a smaller alpha")
            causes.append("classes that no hyperplane of these features separates well: "
                          "try class_weight, or LogisticRegression/SoftmaxRegression")
        elif not unstable:
            # (against standardized features, whose curvature per direction
            # is up to the loss's L <= 1, an alpha from about 0.1 up shrinks
            # the model visibly; a smaller one is not what holds it at chance)
            if alpha >= 0.1:
                causes.append(f"alpha={alpha:.3g} too large, shrinking the model to a "
                              "constant: try a smaller alpha")
            causes.append("a learning_rate too large or too small for this data (try a "
                          "tenth, or ten times, of it), or features that say little "
                          "about y")
        kept = ("the fitted parameters are those of the best validation score" if restored
                else "the fitted parameters are the last epoch's, not the best epoch's")
        warnings.warn(f"{type(self).__name__} did not converge: {finding}. Likely causes: "
                      f"{'; '.join(causes)}. The fit returned normally; {kept}.",
                      _compatible(ConvergenceWarning), stacklevel=5)

    # ---- standardization

    def _standardization(self, X, y, sw, partial, first, n_threads=1):
        """The statistics the fit trains with, {"mean", "scale"} (float64
        (m,)), "z_square_sum" and "total_weight" (Σ_i w_i ‖z_i‖² and Σ_i w_i,
        floats, for the automatic step) and for a regressor {"y_mean",
        "y_scale"} (floats), or None
        (``standardize=False``): from one pass over X weighted by the
        training weights (on ``n_threads`` threads); a ``partial_fit`` after
        the first keeps the first call's."""
        if partial and not first:
            return self._stats
        if not self.standardize:
            return None
        regressor = self._estimator_type == "regressor"
        if hasattr(X, "moments"):       # dask: reduced on the workers
            x_moments, y_moments = X.moments(regressor)
        else:
            x_moments = weighted_moments(X, sw, n_threads)
            y_moments = weighted_moments(y, sw) if regressor else None
        mean, scale = location_and_scale(x_moments)
        stats = {"mean": mean, "scale": scale}
        # Σ_i w_i ‖z_i‖² = Σ_k M2_k / σ_k² (each standardized feature's
        # weighted sum of squares; Σ w for a varying one), and Σ_i w_i: the
        # automatic step's mean row norm needs no pass of its own (a CSR's
        # M2 = Σ w x² − Σ w · mean² can round below 0: counted as 0)
        total, _, M2 = x_moments
        M2 = np.maximum(np.asarray(M2, dtype=np.float64).reshape(-1), 0.0)
        stats["z_square_sum"] = float(np.sum(M2 / (scale * scale)))
        stats["total_weight"] = float(total)
        if regressor:
            y_mean, y_scale = location_and_scale(y_moments)
            stats["y_mean"], stats["y_scale"] = float(y_mean[0]), float(y_scale[0])
        return stats

    def _kernel_targets(self, X, y, stats):
        """The targets the kernels train on: a regressor's standardized
        (y − μ_y) / σ_y (for dask, transformed on the workers), else y."""
        if stats is None or "y_scale" not in stats:
            return y
        if hasattr(X, "standardize_targets"):
            X.standardize_targets(stats["y_mean"], stats["y_scale"])
            return y
        return ((y - stats["y_mean"]) / stats["y_scale"]).astype(y.dtype, copy=False)

    def _kernel_standardization(self, state):
        """The ``mean``/``scale`` keyword arguments of the kernels."""
        stats = state["stats"]
        if stats is None:
            return {}
        return {"mean": stats["mean"], "scale": stats["scale"]}

    def _check_finite(self, loss, state, epoch):
        bad = not math.isfinite(loss)
        if not bad:
            bad = not all(_all_finite(a) for a in self._state_arrays(state))
        if bad:
            raise DivergenceError(
                f"{type(self).__name__} diverged at epoch {epoch}: the training loss or "
                "a parameter became inf or NaN. Scale the features (e.g. StandardScaler) "
                f"or use a smaller learning_rate ({self._describe_learning_rate(state['eta0'])}). "
                "The estimator was left as it was before this call.")

    def _check_blow_up(self, curve, eta0=None):
        """A loss that grows at every one of the last epochs (up to
        n_iter_no_change of them, at least 2) by a factor over 1000 in all is
        a divergence that has not reached inf yet (the stopping rule would
        otherwise call it converged)."""
        k = min(self.n_iter_no_change, len(curve) - 1)
        if k < 2:
            return
        tail = curve[-(k + 1):]
        if tail[0] > 0 and tail[-1] > 1e3 * tail[0] and all(b > a for a, b in zip(tail, tail[1:])):
            raise DivergenceError(
                f"{type(self).__name__} diverged: the training loss grew at every epoch "
                f"from {tail[0]:.3g} to {tail[-1]:.3g} (epochs {len(curve) - k} to "
                f"{len(curve)}). Scale the features (e.g. StandardScaler) or use a smaller "
                f"learning_rate ({self._describe_learning_rate(eta0)}). The estimator was "
                "left as it was before this call.")

    # ---- prediction helpers

    def _check_fitted(self):
        if not self._is_fitted():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. "
                                 "Call 'fit' with appropriate arguments before using this "
                                 "estimator.")

    def _validate_for_predict(self, X):
        self._check_fitted()
        check_feature_names(self, X)
        X = dataframe_to_array(X)
        return check_X(X, dtype=self._dtype, n_features=self.n_features_in_, estimator=self)

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R² = 1 − Σ w (y − ŷ)² / Σ w (y − ȳ)²
        (regressors) of ``predict(X)`` against y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        y_pred = self.predict(X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
        _check_target_length(y, len(y_pred))
        w = None if sample_weight is None else check_sample_weight(
            sample_weight, len(y), np.float64)
        return prediction_score(y_pred, y, w, self._estimator_type == "classifier")
