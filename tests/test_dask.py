"""Training on dask arrays where they live (fastlin._dask, docs/distributed.md).

Marked ``dask``: the README's plain ``pytest`` deselects them (it must not
need dask); CI installs the ``dask`` extra and runs ``pytest -m dask``. They
run on a ``distributed.LocalCluster`` of 2 worker processes with 1 thread
each, and check:

* full batch (map-reduce): the model equals the in-memory fit to rounding,
  on uneven chunks, with sample weights, string labels and partial_fit;
* per-sample and minibatch SGD (parameter mixing): the held-out accuracy on
  real data (breast cancer, digits) is no more than 0.01 below the
  in-memory fit's, and the mixed model does not depend on chunk placement;
* predict / decision_function / predict_proba on a dask X return dask arrays
  equal to the in-memory results;
* the client's memory: fitting a dask X of ~300 MB created on the workers
  grows the client process by less than 10% of X (a control sees the growth
  of gathering X);
* bad input gets the estimators' own errors; importing and using fastlin on
  NumPy data never imports dask.
"""
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from estimator_cases import NAMES, fitted_arrays, kind, make, make_data

pytestmark = pytest.mark.dask

CHUNKS = (300, 170, 0, 530, 250, 250)      # uneven, one empty chunk: 1500 rows


@pytest.fixture(scope="module")
def client():
    import distributed

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _dask(a, chunks=CHUNKS):
    import dask.array as da

    return da.from_array(a, chunks=(chunks,) + a.shape[1:])


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


# --------------------------------------------------------------------------
# full batch: map-reduce, equal to the in-memory fit

@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", NAMES)
def test_full_batch_equals_in_memory(client, name, backend):
    X, y = make_data(name, n=sum(CHUNKS), m=12, c=4)
    w = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y))
    params = dict(batch_size=None, max_iter=12, backend=backend, alpha=0.01)
    if name != "MLPClassifier":
        params["average"] = True
    here = make(name, **params).fit(X, y, sample_weight=w)
    there = make(name, **params).fit(_dask(X), _dask(y), sample_weight=_dask(w))
    for a, b in zip(fitted_arrays(there), fitted_arrays(here)):
        assert _rel(a, b) < 1e-10
    assert _rel(there.loss_curve_, here.loss_curve_) < 1e-10
    assert (there.n_iter_, there.t_) == (here.n_iter_, here.t_)
    if kind(name) != "reg":
        np.testing.assert_array_equal(there.classes_, here.classes_)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 2: 0.5}])
@pytest.mark.parametrize("name", ["LogisticRegression-log", "SoftmaxRegression"])
def test_full_batch_class_weight_equals_in_memory(client, name, class_weight):
    # the class weights multiply the training weights on the workers, so the
    # standardization statistics and the gradients see them as in memory
    X, y = make_data(name, n=sum(CHUNKS), m=8, c=3)
    if kind(name) == "bin":     # about one positive in five: "balanced" matters
        y = X.sum(axis=1) > 2.5
        if isinstance(class_weight, dict):
            class_weight = {0: 3.0, 1: 0.5}
    y = y.astype(np.intp)
    w = np.random.default_rng(2).uniform(0.2, 2.0, size=len(y))
    params = dict(batch_size=None, max_iter=8, standardize=True)
    here = make(name, class_weight=class_weight, **params).fit(X, y, sample_weight=w)
    there = make(name, class_weight=class_weight, **params).fit(_dask(X), _dask(y),
                                                                sample_weight=_dask(w))
    plain = make(name, **params).fit(X, y, sample_weight=w)
    assert _rel(there.coef_, here.coef_) < 1e-10
    assert _rel(there.scale_mean_, here.scale_mean_) < 1e-10
    assert _rel(plain.coef_, here.coef_) > 1e-3     # the weights changed the model


@pytest.mark.parametrize("name", ["LinearRegression", "LogisticRegression-squared",
                                  "SoftmaxRegression"])
def test_full_batch_stopping_rule_with_weights_stops_at_the_same_epoch(client, name):
    """The rule's scale, the constant prediction's loss, comes from the
    workers' summaries (weighted class totals, y's weighted moments): the
    same as in memory, so both fits stop at the same epoch."""
    X, y = make_data(name, n=sum(CHUNKS), m=12, c=4)
    w = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y))
    params = dict(batch_size=None, max_iter=400, tol=1e-2, n_iter_no_change=3,
                  learning_rate=0.2)
    here = _quiet(make(name, **params).fit, X, y, sample_weight=w)
    there = _quiet(make(name, **params).fit, _dask(X), _dask(y), sample_weight=_dask(w))
    assert 3 < here.n_iter_ < 400 and there.n_iter_ == here.n_iter_
    assert _rel(there.loss_curve_, here.loss_curve_) < 1e-10


def test_full_batch_stopping_rule_labels_float32_partial_fit(client):
    from fastlin import MLPClassifier, SoftmaxRegression

    X, y = make_data("SoftmaxRegression", n=sum(CHUNKS), m=10, c=3)
    labels = np.array(["ant", "bee", "cat"])[y]
    # the stopping rule ends both fits at the same epoch
    params = dict(batch_size=None, max_iter=500, tol=1e-3, n_iter_no_change=3,
                  learning_rate=0.5)
    here = SoftmaxRegression(**params).fit(X, labels)
    there = SoftmaxRegression(**params).fit(_dask(X), _dask(labels))
    assert 3 < here.n_iter_ < 500 and there.n_iter_ == here.n_iter_
    assert _rel(there.coef_, here.coef_) < 1e-10
    np.testing.assert_array_equal(there.predict(_dask(X)).compute(), here.predict(X))
    # float32 trains in float32
    X32 = X.astype(np.float32)
    here = _quiet(SoftmaxRegression(batch_size=None, max_iter=10).fit, X32, y)
    there = _quiet(SoftmaxRegression(batch_size=None, max_iter=10).fit, _dask(X32), _dask(y))
    assert there.coef_.dtype == np.float32 and _rel(there.coef_, here.coef_) < 1e-4
    # partial_fit continues the step count and the state
    here, there = (MLPClassifier(hidden_size=6, batch_size=None, random_state=0)
                   for _ in range(2))
    for _ in range(3):
        here.partial_fit(X, y, classes=[0, 1, 2])
        there.partial_fit(_dask(X), _dask(y), classes=[0, 1, 2])
    assert there.t_ == here.t_ == 3
    for a, b in zip(fitted_arrays(there), fitted_arrays(here)):
        assert _rel(a, b) < 1e-10


# --------------------------------------------------------------------------
# per-sample and minibatch SGD: parameter mixing

def _real_data(binary):
    """Standardised, split 60/40: scikit-learn's breast cancer data (binary,
    569 rows) or the digits (10 classes, 1797 rows)."""
    if binary:
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
    else:
        from fastlin.datasets import load_digits

        X, y = load_digits()
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:int(0.6 * len(y))], order[int(0.6 * len(y)):]
    return X[train], y[train], X[test], y[test]


MIXED = [
    ("Perceptron", {}),
    ("LogisticRegression-log", {"learning_rate": 0.05}),
    ("MulticlassPerceptron", {}),
    ("SoftmaxRegression", {"learning_rate": 0.05}),
    ("SoftmaxRegression", {"learning_rate": 0.05, "batch_size": 1}),
    ("MLPClassifier", {"learning_rate": 0.05}),
]


@pytest.mark.parametrize("name, params", MIXED,
                         ids=[f"{n}-{'-'.join(f'{k}{v}' for k, v in p.items())}"
                              for n, p in MIXED])
def test_mixing_accuracy(client, name, params):
    import dask.array as da

    X, y, X_test, y_test = _real_data(binary=kind(name) == "bin")
    from fastlin import MLPClassifier

    # both fits run to the stopping rule (mixing needs a few more epochs)
    params = dict(params, max_iter=100, tol=1e-4, random_state=0)
    factory = ((lambda **kw: MLPClassifier(hidden_size=32, **kw)) if name == "MLPClassifier"
               else lambda **kw: make(name, **kw))
    here = _quiet(factory(**params).fit, X, y)
    rows = len(y) // 6 + 1                   # 6 chunks, 3 on each worker
    there = _quiet(factory(**params).fit, da.from_array(X, chunks=(rows, -1)),
                   da.from_array(y, chunks=rows))
    acc_here, acc_there = here.score(X_test, y_test), there.score(X_test, y_test)
    assert acc_here > 0.9
    assert acc_there >= acc_here - 0.01, (acc_here, acc_there)   # mixing costs <= 0.01
    assert there.t_ >= here.t_ * there.n_iter_ / here.n_iter_   # every row stepped on


def test_an_averaged_fit_is_judged_by_its_average(client):
    """Overlapping classes at the defaults (per-sample steps, averaged): the
    running weights' epoch loss ends above the class prior's, the average's
    training loss (summed on the workers) is below it, and the fit does not
    warn, as in memory."""
    import dask.array as da
    from sklearn.datasets import make_classification
    from sklearn.metrics import log_loss

    from fastlin import ConvergenceWarning, LogisticRegression

    X, y = make_classification(n_samples=2000, n_features=40, n_informative=20,
                               n_redundant=10, flip_y=0.02, random_state=0)
    prior = log_loss(y, np.tile(np.bincount(y) / len(y), (len(y), 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = LogisticRegression(random_state=0).fit(da.from_array(X, chunks=(500, -1)),
                                                     da.from_array(y, chunks=500))
    assert est.loss_curve_[-1] > prior
    assert log_loss(y, est.predict_proba(X)) < prior


@pytest.mark.parametrize("name", ["SoftmaxRegression", "Perceptron"])
def test_mixed_model_does_not_depend_on_placement(client, name):
    """The six chunks all on one worker, then alternating between the two:
    the runs of chunks each worker trains, and so the mixed model, are the
    same."""
    import dask.array as da
    from distributed import wait

    X, y, _, _ = _real_data(binary=kind(name) == "bin")
    rows = len(y) // 6 + 1
    workers = sorted(client.scheduler_info()["workers"])
    fits = []
    for place in (lambda i: workers[0], lambda i: workers[i % 2]):
        # each chunk persisted on its worker (name=False: new keys each time)
        blocks = [client.persist([da.from_array(X[i * rows:(i + 1) * rows], name=False),
                                  da.from_array(y[i * rows:(i + 1) * rows], name=False)],
                                 workers=[place(i)]) for i in range(6)]
        wait([b for pair in blocks for b in pair])
        for i, (xb, _) in enumerate(blocks):
            assert set(*client.who_has(xb).values()) == {place(i)}
        Xd = da.concatenate([b[0] for b in blocks])
        yd = da.concatenate([b[1] for b in blocks])
        fits.append(_quiet(make(name, max_iter=5, tol=None, random_state=0).fit, Xd, yd))
    for a, b in zip(fitted_arrays(fits[0]), fitted_arrays(fits[1])):
        np.testing.assert_array_equal(a, b)


def test_chunk_runs_are_contiguous_and_follow_the_data():
    from fastlin._dask import _chunk_groups

    rows = np.array([10, 10, 10, 10, 10])
    keys = list("abcde")
    # the last three chunks on worker "x", so the second run goes there
    holders = {"a": ("y",), "b": ("y",), "c": ("x",), "d": ("x",), "e": ("x",)}
    groups = _chunk_groups(holders, keys, rows, ["x", "y"])
    assert groups == [("y", [0, 1, 2]), ("x", [3, 4])]
    # with nothing known of placement the runs are the same, in worker order
    assert _chunk_groups({}, keys, rows, ["x", "y"]) == [("x", [0, 1, 2]), ("y", [3, 4])]
    # more workers than chunks: one chunk a worker, the rest idle
    assert _chunk_groups({}, keys[:2], rows[:2], ["x", "y", "z"]) == [("x", [0]), ("y", [1])]


# --------------------------------------------------------------------------
# prediction

@pytest.mark.parametrize("name", NAMES)
def test_predict_returns_dask_arrays(client, name):
    import dask.array as da

    X, y = make_data(name, n=sum(CHUNKS), m=7, c=4)
    est = make(name, max_iter=3).fit(X, y)
    Xd = _dask(X)
    for method in ("predict", "decision_function", "predict_proba"):
        if not hasattr(est, method):
            continue
        out = getattr(est, method)(Xd)
        assert isinstance(out, da.Array)
        expected = getattr(est, method)(X)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        np.testing.assert_allclose(out.compute(), expected, rtol=1e-12, atol=1e-12)
    # rows of unknown count (a boolean selection) predict too
    keep = X[:, 0] > 0
    out = est.predict(Xd[_dask(keep)])
    assert np.isnan(out.shape[0])
    np.testing.assert_array_equal(out.compute(), est.predict(X[keep]))


# --------------------------------------------------------------------------
# memory: X stays on the workers

def _peak_rss_growth(fn):
    """Peak growth of this process's resident set (bytes) while ``fn()``
    runs, sampled every 5 ms."""
    import psutil

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return peak[0] - base


def test_client_memory_stays_below_a_tenth_of_X(client):
    import dask.array as da

    from fastlin import LinearRegression, Perceptron

    n, m = 400_000, 100                            # 320 MB of float64
    X = da.random.default_rng(0).standard_normal((n, m), chunks=(25_000, m))
    w_true = np.linspace(-1, 1, m)
    y = X @ w_true + 0.1
    y_bin = (X[:, 0] + X[:, 1] > 0).astype(np.float64)
    X, y, y_bin = client.persist([X, y, y_bin])    # created on the workers, kept there
    nbytes = n * m * 8
    # warm up: imports and first calls happen outside the measurement
    LinearRegression(batch_size=None, max_iter=1, tol=None).fit(X[:1000], y[:1000])
    _quiet(Perceptron(max_iter=1).fit, X[:1000], y_bin[:1000])

    full = LinearRegression(batch_size=None, learning_rate=0.5, max_iter=8, tol=None)
    mixed = Perceptron(max_iter=2, random_state=0)
    growth = _peak_rss_growth(lambda: (full.fit(X, y), _quiet(mixed.fit, X, y_bin)))
    assert growth < 0.1 * nbytes, f"client grew by {growth / 1e6:.1f} MB for a {nbytes / 1e6:.0f} MB X"
    # the fits happened: full-batch GD found the weights, the perceptron the rule
    assert np.abs(full.coef_ - w_true).max() < 0.05 and abs(full.intercept_[0] - 0.1) < 0.05
    assert mixed.coef_[0, 0] > 0 and mixed.coef_[0, 1] > 0
    # control: the measurement sees X gathered to the client
    assert _peak_rss_growth(lambda: X[:100_000].compute()) > 0.2 * nbytes


# --------------------------------------------------------------------------
# errors and imports

def test_bad_input_gets_the_estimators_errors(client):
    from fastlin import LinearRegression, Perceptron, SoftmaxRegression

    X, y = make_data("SoftmaxRegression", n=sum(CHUNKS), m=5, c=3)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SoftmaxRegression().fit(_dask(X), _dask(y[:-1], (300, 170, 530, 499)))
    X_nan = X.copy()
    X_nan[1200, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        SoftmaxRegression(batch_size=None).fit(_dask(X_nan), _dask(y))
    with pytest.raises(ValueError, match="Expected 2D array"):
        SoftmaxRegression().fit(_dask(X[:, 0]), _dask(y))
    with pytest.raises(ValueError, match="at least 2 classes"):
        SoftmaxRegression().fit(_dask(X), _dask(np.zeros(len(y), dtype=int)))
    with pytest.raises(ValueError, match="Only binary classification"):
        Perceptron().fit(_dask(X), _dask(y))
    with pytest.raises(ValueError, match="continuous"):
        SoftmaxRegression().fit(_dask(X), _dask(y + 0.5))
    with pytest.raises(ValueError, match="sums to zero"):
        SoftmaxRegression().fit(_dask(X), _dask(y), sample_weight=_dask(np.zeros(len(y))))
    with pytest.raises(ValueError, match="Negative values in sample_weight"):
        SoftmaxRegression().fit(_dask(X), _dask(y), sample_weight=_dask(-np.ones(len(y))))
    est = LinearRegression(max_iter=2, tol=None).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="features"):
        est.predict(_dask(X[:, :3]))
    # a chunk whose weights are all zero is fine: only the total must be positive
    w = np.ones(len(y))
    w[:300] = 0
    here = LinearRegression(batch_size=None, max_iter=3, tol=None).fit(X, y, sample_weight=w)
    there = LinearRegression(batch_size=None, max_iter=3, tol=None).fit(
        _dask(X), _dask(y), sample_weight=_dask(w))
    assert _rel(there.coef_, here.coef_) < 1e-10


def _run(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def test_fastlin_never_imports_dask():
    code = (
        "import sys, numpy as np, fastlin\n"
        "from fastlin import SoftmaxRegression, MLPClassifier\n"
        "X = np.random.default_rng(0).normal(size=(50, 3)); y = np.arange(50) % 3\n"
        "for est in (SoftmaxRegression(max_iter=2, tol=None), MLPClassifier(max_iter=2, tol=None)):\n"
        "    est.fit(X, y).predict(X); est.predict_proba(X); est.partial_fit(X, y)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(bad)\n"
        "assert not bad, bad\n")
    result = _run(code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fit_without_a_client_says_so():
    code = (
        "import numpy as np, dask.array as da\n"
        "from fastlin import SoftmaxRegression\n"
        "X = da.zeros((10, 2), chunks=5); y = da.from_array(np.arange(10) % 2, chunks=5)\n"
        "try:\n"
        "    SoftmaxRegression().fit(X, y)\n"
        "except ValueError as exc:\n"
        "    print(exc)\n")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "dask.distributed Client" in result.stdout


def test_the_docs_example_runs(client):
    """docs/distributed.md's example, on this module's cluster."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "distributed.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    assert "client = Client()" in block
    block = block.replace("client = Client()", "client = the_client")
    exec(compile(block, "docs/distributed.md", "exec"), {"the_client": client})


def test_bench_script_runs(client, capsys):
    """bench/dask_scaling.py at tiny sizes, in-process (it writes nothing
    with --quick); no timing is asserted."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "dask_scaling.py"
    module = runpy.run_path(str(script))
    assert module["main"](["--quick", "--workers", "1", "--rows", "1000"]) == 0
    out = capsys.readouterr().out
    assert "### Per-iteration overhead" in out and "### Scaling: W2" in out
    assert "| full-batch step |" in out and "| SGD epoch (per-sample) |" in out
