"""Training on dask arrays where they live, and prediction block by block.

``fit(X, y)`` with X a ``dask.array.Array`` trains on the workers of the
current ``dask.distributed`` client; X is never gathered to the client. The
estimator's own epoch loop (``SGDEstimator._train``: state, stopping rule,
divergence checks, publishing) runs on the client with two stand-ins:

* ``DaskData`` for X: the validated chunks, kept on the workers as futures
  and split into one contiguous run of chunks a worker (``_chunk_groups``).
  It has X's ``shape`` and ``dtype`` and draws one shuffling seed per chunk
  and epoch (``chunk_seeds``).
* ``DaskKernels`` for the backend module: the ``sgd_epoch`` calls the
  estimator's ``_epoch`` makes, with the same arguments, carried out on the
  workers by the backend's own kernels.

How each model trains (docs/distributed.md):

* Full batch (``batch_size=None``), equal to the in-memory fit up to
  rounding: every chunk takes the one full-batch step (``sgd_epoch`` with a
  batch of all its rows) from the same parameters, and the row-weighted mean
  of the results is exactly the step on all rows, since the step is linear
  in the mean gradient (the L2 term, averaging and momentum included). Each
  worker returns its row-weighted parameters; the client adds them and
  divides by n.
* Per-sample and minibatch SGD, iterative parameter mixing (McDonald, Hall &
  Mann 2010): each worker runs one epoch over its chunks (in index order,
  each chunk's rows shuffled from its seed), starting from the broadcast
  parameters; the client averages the parameters (and velocities) weighted
  by rows and repeats. The step count t advances by the steps of all
  workers, so the learning-rate schedule and ``t_`` count as in memory. With
  ``average=True`` the published average is the mean of the weights after
  every step of every worker.

Importing this module imports dask; ``fastlin`` imports it only when it is
handed a dask array.
"""
import copy
import functools
import importlib
import numbers

import numpy as np

import dask
import dask.array as da

from . import _auto_step
from ._base import (FLOAT_DTYPES, _check_target_length, _column_or_1d, _is_dask_array,
                    check_regression_target, check_sample_weight, check_sizes, check_X,
                    class_weights, encode_labels, merge_moments, unique_labels, weighted_moments)


def _client():
    try:
        from distributed import get_client
    except ImportError as exc:
        raise ImportError("fitting a dask array needs dask.distributed; install the extra "
                          "with `pip install fastlin[dask]`.") from exc
    try:
        return get_client()
    except ValueError:
        raise ValueError("fitting a dask array trains on the workers of a dask.distributed "
                         "Client, and none is running: create one first (e.g. `from "
                         "distributed import Client; client = Client()`), or pass an "
                         "in-memory array.") from None


# --------------------------------------------------------------------------
# validation: shapes on the client, values on the workers (by the estimators'
# own checks, chunk by chunk)

def _check_shape(X, estimator, n_features=None, rows_known=True):
    """X's shape checked as ``check_X`` checks it (the row count may be
    unknown for prediction); X rechunked to whole rows."""
    name = type(estimator).__name__
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead (X has shape "
                         f"{X.shape}).")
    if np.isnan(X.shape[1]) or rows_known and np.isnan(X.shape[0]):
        raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() first.")
    check_sizes(X.shape, n_features, name)
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def _rows_like(a, X):
    """The 1-d (n,) array ``a`` as a dask array chunked like X's rows."""
    if _is_dask_array(a):
        return a.rechunk((X.chunks[0],))
    return da.from_array(a, chunks=(X.chunks[0],))


def _chunk_weights(sw, n, dtype):
    """``check_sample_weight`` on one chunk, where an all-zero chunk is
    valid (only the total must be positive, checked on the client)."""
    if sw is None:
        return None
    if isinstance(sw, numbers.Number):
        return np.full(n, sw, dtype=dtype)
    if isinstance(sw, np.ndarray) and sw.shape == (n,) and sw.dtype.kind in "fiub" \
            and not np.any(sw):
        return np.zeros(n, dtype=dtype)
    return check_sample_weight(sw, n, dtype)


def _check_chunk(x, y, sw, dtype, estimator, regressor):
    """One chunk validated for the kernels, and its summary for the client:
    (rows, distinct labels, labels with a positive weight, Σ w)."""
    x = check_X(x, dtype=dtype, estimator=estimator)
    n = x.shape[0]
    sw = _chunk_weights(sw, n, dtype)
    if regressor:
        y = check_regression_target(y, n, dtype, estimator)
        labels = positive = None
    else:
        y = np.asarray(y)
        _check_target_length(y, n)
        labels = unique_labels(y, estimator)
        if sw is None:
            positive = labels
        else:
            positive = unique_labels(y[sw > 0], estimator) if np.any(sw > 0) else labels[:0]
    total = None if sw is None else float(np.sum(sw, dtype=np.float64))
    return (x, y, sw), (n, labels, positive, total)


def _part(checked):
    return checked[0]


def _summary(checked):
    return checked[1]


def _encode_chunk(part, classes, estimator, multiclass, dtype):
    x, y, sw = part
    idx = encode_labels(y, classes, x.shape[0], estimator)
    return x, (idx if multiclass else idx.astype(dtype)), sw


def _class_counts(part, n_classes):
    return np.bincount(part[1].astype(np.intp), minlength=n_classes)


def _class_weighted_chunk(part, weights, dtype):
    """The chunk with its weights multiplied by its samples' class weights."""
    x, y, sw = part
    cw = weights.astype(dtype)[y.astype(np.intp)]
    return x, y, (cw if sw is None else sw * cw)


def fit(est, module, X, y, sample_weight, classes, partial, first, continuing, init=None):
    """``est._fit`` for a dask X: validate on the workers, then run the
    estimator's loop with ``DaskData`` and ``DaskKernels``."""
    client = _client()
    name = type(est).__name__
    X = _check_shape(X, est, None if first else est.n_features_in_)
    n, m = X.shape
    if continuing and m != est.n_features_in_:
        raise ValueError(f"X has {m} features, but {name} is expecting {est.n_features_in_} "
                         "features as input (warm_start continues the previous fit).")
    dtype = (X.dtype if X.dtype in FLOAT_DTYPES else np.dtype(np.float64)) if first \
        else est._dtype
    regressor = est._estimator_type == "regressor"
    if y is None:
        est._prepare_targets(None, n, dtype, None, classes, first)   # raises
    y = _column_or_1d(y if _is_dask_array(y) else np.asarray(y))
    _check_target_length(y, n)
    y = _rows_like(y, X)

    sw_chunks = [None] * len(X.chunks[0])
    if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, bool):
        check_sample_weight(sample_weight, 1, dtype)
        sw_chunks = [sample_weight] * len(X.chunks[0])
    elif sample_weight is not None:
        sw = sample_weight if _is_dask_array(sample_weight) else np.asarray(sample_weight)
        if sw.ndim != 1:
            raise ValueError(f"sample_weight must be 1d, got shape {sw.shape}.")
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight.shape == ({sw.shape[0]},), expected ({n},) "
                             "(one weight per sample).")
        sw_chunks = list(_rows_like(sw, X).to_delayed(optimize_graph=False).ravel())

    # a clean copy names the estimator in the workers' error messages
    stand_in = type(est)(**est.get_params())
    xs = X.to_delayed(optimize_graph=False).ravel()
    ys = y.to_delayed(optimize_graph=False).ravel()
    keep = [i for i, rows in enumerate(X.chunks[0]) if rows > 0]
    checked = client.compute([dask.delayed(_check_chunk, pure=False)(
        xs[i], ys[i], sw_chunks[i], dtype, stand_in, regressor) for i in keep])
    parts = client.map(_part, checked)
    summaries = client.gather(client.map(_summary, checked))
    del checked

    if sample_weight is not None and not sum(s[3] for s in summaries) > 0:
        raise ValueError("sample_weight sums to zero; at least one sample needs a "
                         "positive weight.")
    fitted = {}
    if not regressor:
        labels = np.concatenate([s[1] for s in summaries])
        positive = None if sample_weight is None else np.concatenate(
            [np.isin(s[1], s[2]) for s in summaries]).astype(np.float64)
        # the estimator's own checks (classes, their number, positive weights),
        # on the distinct labels of the chunks
        _, fitted = est._prepare_targets(labels, len(labels), dtype, positive, classes, first)
        if continuing and not np.array_equal(fitted["classes_"], est.classes_):
            raise ValueError("warm_start: y's classes differ from the previous fit's "
                             f"{est.classes_.tolist()}.")
        parts = client.map(_encode_chunk, parts, classes=fitted["classes_"],
                           estimator=stand_in, multiclass=est._multiclass, dtype=dtype)
        if getattr(est, "class_weight", None) is not None:    # folded into the weights
            k = len(fitted["classes_"])
            counts = sum(client.gather(client.map(_class_counts, parts, n_classes=k))) \
                if isinstance(est.class_weight, str) else None
            weights = class_weights(est.class_weight, fitted["classes_"], counts)
            parts = client.map(_class_weighted_chunk, parts, weights=weights, dtype=dtype)
    data = DaskData(client, parts, [s[0] for s in summaries], m, dtype)
    kernels = DaskKernels(data, module.__name__, est._kind, full_batch=est.batch_size is None)
    n_outputs = est._n_outputs(fitted.get("classes_"))
    try:
        return est._train(kernels, data, None, None, fitted, n_outputs, partial, first,
                          continuing, init=init)
    finally:
        data.release()


# --------------------------------------------------------------------------
# the stand-ins

class DaskData:
    """The training data as futures of validated chunks (x, y, sw) on the
    workers, in one contiguous run of chunks a worker."""

    def __init__(self, client, parts, rows, n_features, dtype):
        from distributed import wait

        wait(parts)
        self.client = client
        self.parts = parts
        self.rows = np.asarray(rows, dtype=np.int64)
        self.shape = (int(self.rows.sum()), n_features)
        self.dtype = np.dtype(dtype)
        #: [(worker address, chunk indices)]: contiguous runs of chunks, one
        #: run a worker, so that the mixing (and with it the fit) depends on
        #: the chunks and the number of workers, never on where the scheduler
        #: happened to put each chunk
        self.groups = _chunk_groups(client.who_has(parts), [p.key for p in parts],
                                    self.rows, sorted(client.scheduler_info()["workers"]))

    def chunk_seeds(self, rng):
        """One seed per chunk for this epoch's shuffle (None: in order)."""
        if rng is None:
            return [None] * len(self.parts)
        return [int(s) for s in rng.integers(0, 2**63, size=len(self.parts))]

    def moments(self, regressor):
        """The weighted (Σ w, mean, M2) of X's columns (and of y for a
        regressor), each chunk's reduced on its worker and merged here."""
        per_chunk = self.client.gather(self.client.map(_chunk_moments, self.parts,
                                                       regressor=regressor, pure=False))
        x = functools.reduce(merge_moments, [p[0] for p in per_chunk])
        y = functools.reduce(merge_moments, [p[1] for p in per_chunk]) if regressor else None
        return x, y

    def row_summary(self, mean, scale, intercept, k, features=True):
        """``fastlin._auto_step.summarize`` of X's rows (with the chunks'
        weights), each chunk's on its worker, merged here."""
        per_chunk = self.client.gather(self.client.map(
            _chunk_row_summary, self.parts, mean=mean, scale=scale, intercept=intercept,
            k=k, features=features, pure=False))
        return functools.reduce(lambda a, b: _auto_step.merge(a, b, k), per_chunk)

    def baseline_sample(self, regressor, n_classes):
        """A small (y, w) whose ``_baseline_loss`` is that of the whole
        training data: (1/len(y)) Σ w carries Σ_i w_i / n, and the classes'
        weighted shares (or y's weighted mean and variance, as the two points
        mean ± sd) are the data's; each chunk's part reduced on its worker."""
        n = self.shape[0]
        parts = self.client.gather(self.client.map(_chunk_targets, self.parts,
                                                   regressor=regressor, n_classes=n_classes,
                                                   pure=False))
        if regressor:
            total, mean, M2 = functools.reduce(merge_moments, parts)
            sd = float(np.sqrt(M2[0] / total))
            return (np.array([mean[0] - sd, mean[0] + sd]),
                    np.full(2, total / n))
        totals = np.sum(parts, axis=0)
        return np.arange(n_classes, dtype=np.float64), totals * (n_classes / n)

    def data_loss(self, W, b, loss, mean=None, scale=None):
        """Σ_i w_i l(z_i W + b, y_i) of a linear model over the training rows
        (``fastlin.linear_model.summed_loss``), each chunk's on its worker."""
        return float(sum(self.client.gather(self.client.map(
            _chunk_data_loss, self.parts, W=W, b=b, loss=loss, mean=mean, scale=scale,
            pure=False))))

    def standardize_targets(self, y_mean, y_scale):
        """Replace each chunk's y by (y − y_mean) / y_scale, on its worker."""
        self.parts = self.client.map(_standardized_chunk, self.parts, y_mean=y_mean,
                                     y_scale=y_scale, pure=False)

    def release(self):
        self.parts = None


def _chunk_groups(holders, keys, rows, workers):
    """Split the chunks 0..n-1 into min(n, len(workers)) contiguous runs, by
    index, and give each run the free worker holding most of its rows (one
    run a worker), so that most chunks are read where they lie. The runs
    depend only on the number of chunks and of workers; ``holders`` (from
    ``who_has``) decides only which worker trains which run."""
    runs = np.array_split(np.arange(len(keys)), min(len(keys), len(workers)))
    free = list(workers)
    groups = []
    for run in runs:
        def held(worker):
            return sum(int(rows[i]) for i in run if worker in holders.get(keys[i], ()))
        worker = max(free, key=held)          # first of the sorted workers on a tie
        free.remove(worker)
        groups.append((worker, [int(i) for i in run]))
    return groups


def _chunk_moments(part, regressor):
    x, y, sw = part
    return weighted_moments(x, sw), (weighted_moments(y, sw) if regressor else None)


def _chunk_row_summary(part, mean, scale, intercept, k, features):
    x, _, sw = part
    return _auto_step.summarize(x, sw, mean, scale, intercept, k, features)


def _chunk_targets(part, regressor, n_classes):
    """A chunk's weighted moments of y (regressor), or its weighted class totals."""
    _, y, sw = part
    if regressor:
        return weighted_moments(y, sw)
    return np.bincount(np.asarray(y, dtype=np.intp), minlength=n_classes,
                       weights=None if sw is None else np.asarray(sw, dtype=np.float64))


def _chunk_data_loss(part, W, b, loss, mean, scale):
    from .linear_model import summed_loss

    x, y, sw = part
    return summed_loss(x, y, sw, W, b, loss, mean, scale)


def _standardized_chunk(part, y_mean, y_scale):
    x, y, sw = part
    return x, ((y - y_mean) / y_scale).astype(y.dtype, copy=False), sw


def _state(kind, args, kw):
    """The arrays an epoch updates, flattened: linear [W, b, (W̄, b̄)],
    network [W, b1, V, b2, (velocities)]."""
    if kind == "linear":
        state = [args[0], args[1]]
        if kw.get("W_avg") is not None:
            state += [kw["W_avg"], kw["b_avg"]]
        return state
    state = list(args[0])
    if kw.get("velocities") is not None:
        state += list(kw["velocities"])
    return state


#: the position of ``order`` in sgd_epoch's arguments after (X, y)
_ORDER = {"linear": 2, "network": 1}


def _chunk_order(rows, seed):
    if seed is None:
        return np.arange(rows, dtype=np.intp)
    return np.random.default_rng(seed).permutation(rows).astype(np.intp, copy=False)


def _chunks_epoch(module_name, kind, args, kw, seeds, *parts):
    """One epoch over the worker's chunks, continuing from chunk to chunk:
    (the updated state, t after it, Σ loss × rows)."""
    module = importlib.import_module(module_name)
    # own, writeable copies (deserialised arrays may be read-only views)
    args, kw = copy.deepcopy(list(args)), copy.deepcopy(dict(kw))
    t, total = kw["t"], 0.0
    for (x, y, sw), seed in zip(parts, seeds):
        args[_ORDER[kind]] = _chunk_order(x.shape[0], seed)
        kw.update(t=t, sample_weight=sw)
        loss, t = module.sgd_epoch(x, y, *args, **kw)
        total += loss * x.shape[0]
    return _state(kind, args, kw), t, total


def _chunks_full_step(module_name, kind, args, kw, *parts):
    """The full-batch step of each chunk from the same start: (Σ rows ×
    state after the step, Σ loss × rows, t after the step)."""
    module = importlib.import_module(module_name)
    sums, total, t = None, 0.0, kw["t"]
    for x, y, sw in parts:
        rows = x.shape[0]
        a, k = copy.deepcopy(list(args)), copy.deepcopy(dict(kw))
        a[_ORDER[kind]] = _chunk_order(rows, None)
        k.update(sample_weight=sw, batch_size=rows)
        loss, t = module.sgd_epoch(x, y, *a, **k)
        weighted = [rows * np.asarray(p, dtype=np.float64) for p in _state(kind, a, k)]
        sums = weighted if sums is None else [s + w for s, w in zip(sums, weighted)]
        total += loss * rows
    return sums, total, t


class DaskKernels:
    """The backend module's ``sgd_epoch``, with X a
    ``DaskData``: the same arguments and results, computed on the workers."""

    def __init__(self, data, module_name, kind, full_batch):
        self.data = data
        self.module_name = module_name
        self.kind = kind
        self.full_batch = full_batch

    def _submit(self, fn, args):
        data = self.data
        futures = [data.client.submit(fn, *args(chunks), *[data.parts[i] for i in chunks],
                                      workers=[worker], allow_other_workers=False,
                                      pure=False)
                   for worker, chunks in data.groups]
        return data.client.gather(futures)

    def sgd_epoch(self, X, y, *args, **kw):
        """One epoch of ``sgd_epoch`` over every chunk of X, in place on the
        state passed; ``order`` holds the chunks' seeds (``chunk_seeds``)."""
        n = X.shape[0]
        seeds = args[_ORDER[self.kind]]
        args = list(args)
        args[_ORDER[self.kind]] = None
        kw = {k: v for k, v in kw.items() if k != "sample_weight"}
        state = _state(self.kind, args, kw)
        t0 = kw["t"]
        if self.full_batch:
            results = self._submit(_chunks_full_step,
                                   lambda chunks: (self.module_name, self.kind, args, kw))
            for j, target in enumerate(state):
                target[...] = sum(r[0][j] for r in results) / n
            return sum(r[1] for r in results) / n, results[0][2]

        results = self._submit(_chunks_epoch, lambda chunks: (
            self.module_name, self.kind, args, kw, [seeds[i] for i in chunks]))
        rows = [int(X.rows[chunks].sum()) for _, chunks in X.groups]
        steps = [r[1] - t0 for r in results]
        t = t0 + sum(steps)
        averaged = range(2, 4) if self.kind == "linear" and len(state) == 4 else ()
        for j, target in enumerate(state):
            if j in averaged:
                # the mean of the weights after every step of every worker:
                # worker w's average covers the t0 earlier steps and its s_w
                total = sum((t0 + s) * np.asarray(r[0][j], dtype=np.float64)
                            for s, r in zip(steps, results))
                total -= (len(results) - 1) * t0 * np.asarray(target, dtype=np.float64)
                target[...] = total / t
            else:
                target[...] = sum(w * np.asarray(r[0][j], dtype=np.float64)
                                  for w, r in zip(rows, results)) / n
        return sum(r[2] for r in results) / n, t


# --------------------------------------------------------------------------
# prediction

def _apply(estimator, method, tail, dtype, block):
    if block.shape[0] == 0:
        return np.empty((0,) + tail, dtype=dtype)
    return getattr(estimator, method)(block)


def predict_blocks(est, method, X):
    """``method(est, X)`` for a dask X: a dask array with X's row chunks,
    each block computed by the in-memory method where the block lives."""
    est._check_fitted()
    X = _check_shape(X, est, est.n_features_in_, rows_known=False)
    probe = method(est, np.zeros((1, X.shape[1]), dtype=est._dtype))
    tail = probe.shape[1:]
    func = functools.partial(_apply, est, method.__name__, tail, probe.dtype)
    meta = np.empty((0,) + tail, dtype=probe.dtype)
    if not tail:
        return X.map_blocks(func, drop_axis=1, dtype=probe.dtype, meta=meta)
    return X.map_blocks(func, chunks=(X.chunks[0],) + tuple((k,) for k in tail),
                        dtype=probe.dtype, meta=meta)
