"""Memory: fit never copies a contiguous float32/float64 X, and repeated
fits do not grow.

tracemalloc sees every NumPy allocation (NumPy reports its data buffers to
it), so the peak traced memory during ``fit`` bounds what fit allocated,
whatever was freed before the end. The bound is 10% of X's size; the data
are wide enough (m = 200) that the O(n) arrays a fit needs (the shuffled
order, the encoded labels) stay well under it, while any copy of X (100%)
or of a column block of it would not. A control checks the measurement sees
the one copy a Fortran-ordered X needs.
"""
import os
import tracemalloc
import warnings

import numpy as np
import pytest

from estimator_cases import NAMES, make, make_data


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Import the kernels (scipy's BLAS for the network) before measuring."""
    for name in NAMES:
        for backend in ("cython", "numpy"):
            for dtype in (np.float32, np.float64):
                _fit(make(name, backend=backend), *make_data(name, n=8, m=3, dtype=dtype))


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def peak_growth(fn):
    """Peak traced memory (bytes) allocated while ``fn()`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _wide_data(name, dtype):
    return make_data(name, n=2000, m=200, dtype=dtype)


# (backend, batch_size): the cython backend (the default) in every batch
# mode; the reference for the stochastic modes. Not measured: the network's
# full batch (its activations are n × hidden by nature; that its kernel reads
# X in place is tested below) and the reference's full-batch gradient (X.T @ D
# with D float64 upcasts a float32 X).
MODES = [("cython", 1), ("cython", 32), ("cython", None), ("numpy", 1), ("numpy", 32)]
CASES = [pytest.param(name, backend, batch, id=f"{name}-{backend}-batch{batch}")
         for name in NAMES for backend, batch in MODES
         if not (name == "MLPClassifier" and batch is None)]


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,backend,batch_size", CASES)
def test_fit_does_not_copy_X(name, backend, batch_size, dtype, standardize):
    """Also with standardize=True: its statistics are one chunked pass, its
    kernels standardize through the algebra, never through a copy of X."""
    X, y = _wide_data(name, dtype)
    est = make(name, backend=backend, batch_size=batch_size, max_iter=2,
               standardize=standardize)
    grown = peak_growth(lambda: _fit(est, X, y))
    assert grown < 0.10 * X.nbytes, f"fit allocated {grown / X.nbytes:.1%} of X's size"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_full_batch_reads_X_in_place(dtype):
    """A batch of consecutive rows is read from X itself: the network kernel
    allocates no gather buffer (n × m) for it, only activations (n × hidden)."""
    from fastlin import _mlp_fast
    from fastlin.reference import network

    X, y = make_data("MLPClassifier", n=2000, m=400, dtype=dtype)
    y = (y == y[0]).astype(np.intp)
    params = network.init_params(X.shape[1], 2, 2, 0, dtype)
    order = np.arange(X.shape[0], dtype=np.intp)
    grown = peak_growth(lambda: _mlp_fast.sgd_epoch(X, y, params, order, eta0=0.1,
                                                    batch_size=X.shape[0]))
    assert grown < 0.10 * X.nbytes, f"the epoch allocated {grown / X.nbytes:.1%} of X's size"


@pytest.mark.parametrize("form", ["read-only", "memmap", "np.load-mmap"])
@pytest.mark.parametrize("name", NAMES)
def test_read_only_and_memory_mapped_X_are_not_copied(name, form, tmp_path):
    X, y = _wide_data(name, np.float32)
    if form == "read-only":
        X.flags.writeable = False
    elif form == "memmap":
        mm = np.memmap(tmp_path / "X.dat", dtype=X.dtype, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        del mm
        X = np.memmap(tmp_path / "X.dat", dtype=X.dtype, mode="r", shape=X.shape)
    else:
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
    est = make(name, max_iter=2)
    grown = peak_growth(lambda: _fit(est, X, y))
    assert grown < 0.10 * X.nbytes, f"fit allocated {grown / X.nbytes:.1%} of X's size"


@pytest.mark.parametrize("name", NAMES)
def test_control_the_measurement_sees_a_copy(name):
    """A Fortran-ordered X must be copied once into C order: the same
    measurement reports at least X's size, so the bound above can fail."""
    X, y = _wide_data(name, np.float64)
    X = np.asfortranarray(X)
    est = make(name, max_iter=2)
    assert peak_growth(lambda: _fit(est, X, y)) >= X.nbytes


def _resident_bytes():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("backend, n_fits", [("cython", 1000), ("numpy", 300)])
def test_no_growth_across_a_thousand_fits(backend, n_fits):
    """1,000 fits of every estimator (300 on the NumPy reference, which
    allocates through NumPy only, all of it traced): the traced memory still
    held afterwards (and the resident set) does not grow. A leak of one
    small X (16 KB) per fit would leave 16 MB (4.8 MB); the bounds are
    256 KB traced, 16 MB resident."""
    data = {name: make_data(name, n=200, m=10) for name in NAMES}
    # (the reference in full batch: one vectorised step per epoch, so fast)
    batch_size = 16 if backend == "cython" else None
    ests = {name: make(name, backend=backend, max_iter=2, batch_size=batch_size)
            for name in NAMES}

    def fits(k):
        for _ in range(k):
            for name in NAMES:
                ests[name].fit(*data[name])

    fits(20)                 # caches, first-call allocations
    rss_before = _resident_bytes()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fits(n_fits)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    rss_growth = _resident_bytes() - rss_before
    assert held < 256 * 1024, f"{held} bytes still held after {n_fits} fits of each"
    assert rss_growth < 16 * 2 ** 20, f"resident set grew by {rss_growth / 2**20:.1f} MB"


def test_the_averaged_verdict_pass_converts_no_block_of_a_float32_X():
    """Overlapping classes: the running weights' loss ends above the prior's,
    so the fit computes its average's training loss, a block of rows at a
    time, with scores from a float32 model (a float64 model would convert
    each 8192-row block of X to float64, 13 MB here, 82% of X); the fit
    stays within 10% of X."""
    from sklearn.datasets import make_classification
    from sklearn.metrics import log_loss

    from fastlin import LogisticRegression

    X, y = make_classification(n_samples=20000, n_features=200, n_informative=30,
                               n_redundant=20, flip_y=0.1, random_state=0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    prior = log_loss(y, np.tile(np.bincount(y) / len(y), (len(y), 1)))
    est = LogisticRegression(random_state=0)
    peak = peak_growth(lambda: _fit(est, X, y))
    assert est.loss_curve_[-1] > prior          # the verdict's pass ran
    assert peak < 0.10 * X.nbytes, f"fit allocated {peak / X.nbytes:.1%} of X"


@pytest.mark.parametrize("name", ["Perceptron", "MulticlassPerceptron"])
def test_the_perceptrons_chance_check_counts_the_labels_in_place(name):
    """After the epochs a perceptron's fit compares its training accuracy
    with the most frequent class's share: counting the classes must not
    sort or convert a copy of the labels (20-28 bytes a row, which with the
    fit's other O(n) arrays, its order and encoded labels, took a fit on a
    float32 X of 100 columns past 10% of X)."""
    X, y = make_data(name, n=20_000, m=100, dtype=np.float32)
    est = make(name, max_iter=1, tol=None)
    grown = peak_growth(lambda: _fit(est, X, y))
    assert grown < 0.10 * X.nbytes, f"fit allocated {grown / X.nbytes:.1%} of X's size"


@pytest.mark.parametrize("kind", ["binary floats", "class indices"])
@pytest.mark.parametrize("weighted", [False, True])
def test_majority_share_is_the_largest_class_share(kind, weighted):
    from fastlin._base import majority_share

    rng = np.random.default_rng(3)
    n = 501
    labels = (rng.random(n) < 0.3).astype(np.float32) if kind == "binary floats" \
        else rng.choice(4, size=n, p=[0.1, 0.2, 0.45, 0.25]).astype(np.intp)
    w = rng.uniform(0.5, 2.0, n).astype(np.float32) if weighted else None
    weights = np.ones(n) if w is None else w.astype(np.float64)
    shares = [weights[labels == c].sum() / weights.sum() for c in np.unique(labels)]
    assert majority_share(labels, w) == pytest.approx(max(shares), rel=1e-6)
