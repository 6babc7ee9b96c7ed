"""Threads and interrupts.

* The kernels release the GIL for the whole epoch: while one thread is inside
  a fit, another thread runs Python code (checked deterministically, with the
  interpreter's switch interval set so high that only a released GIL lets the
  other thread in).
* Concurrent fits in threads give exactly the parameters of serial fits.
* Ctrl-C (SIGINT) during a long fit raises KeyboardInterrupt once the epoch
  in progress ends (no later epoch starts), leaves the estimator as it was,
  and the estimator can be fitted again: in-process, counting kernel calls,
  and with a real SIGINT sent to a child process.
* None of this depends on how the test process was started: a process
  launched in the background by a non-interactive shell inherits SIGINT
  ignored (and Python then keeps it ignored), so every Ctrl-C test installs
  Python's default handler itself, and one test runs them all under an
  inherited SIG_IGN. A fit that is not interrupted fails within seconds
  instead of running its 10⁴ (or 10⁹) epochs.
"""
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastlin._base
from conftest import child_env
from estimator_cases import BACKENDS, NAMES, fitted_arrays, make, make_data, quiet_fit
from fastlin import NotFittedError, _linear_fast, _mlp_fast


# --------------------------------------------------------------------------
# the GIL is released during a kernel call

def _runs_beside(call, tries=3):
    """True when the main thread gets to run Python code while ``call()``
    runs in another thread. With a switch interval of 1000 s the interpreter
    never takes the GIL from a thread that holds it, so the main thread, once
    woken, can only run before ``call()`` returns if ``call`` released it.
    On a busy machine the main thread may not be woken before a short call
    ends, so up to ``tries`` attempts are made: a call that keeps the GIL
    fails every one."""
    return any(_runs_beside_once(call) for _ in range(tries))


def _runs_beside_once(call):
    started = threading.Event()
    done = []

    def worker():
        started.set()
        call()
        done.append(True)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        during = not done       # read as soon as the main thread holds the GIL
        thread.join()
    finally:
        sys.setswitchinterval(old)
    assert done
    return during


def _big(dtype=np.float64, n=20000, m=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 16])
def test_linear_kernel_releases_the_gil(batch_size, dtype):
    X = _big(dtype)
    y = (X[:, 0] > 0).astype(dtype)
    W, b = np.zeros((X.shape[1], 1), dtype), np.zeros(1, dtype)
    # 20 passes over X in one call (an order may repeat indices): ~10-100 ms
    order = np.tile(np.arange(len(X), dtype=np.intp), 20)
    assert _runs_beside(lambda: _linear_fast.sgd_epoch(
        X, y, W, b, order, "log_loss", eta0=0.01, batch_size=batch_size))
    assert _runs_beside(lambda: _linear_fast.gradient(X, y, W, b, "log_loss", 0.0, None))


def test_control_the_gil_check_fails_for_a_call_that_keeps_the_gil():
    """The check above can fail: a long computation that holds the GIL
    (a pure-Python loop) is not seen to run beside the main thread."""
    assert not _runs_beside(lambda: sum(i * i for i in range(2_000_000)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_network_kernel_releases_the_gil(dtype):
    X = _big(dtype)
    y = (X[:, 0] > 0).astype(np.intp)
    rng = np.random.default_rng(0)
    params = [a.astype(dtype) for a in (rng.normal(size=(X.shape[1], 8)), np.zeros(8),
                                        rng.normal(size=(8, 2)), np.zeros(2))]
    order = np.tile(np.arange(len(X), dtype=np.intp), 5)
    assert _runs_beside(lambda: _mlp_fast.sgd_epoch(X, y, params, order, eta0=0.01,
                                                    batch_size=32))


@pytest.mark.parametrize("name", NAMES)
def test_fit_releases_the_gil(name):
    """A whole fit (the Python loop around the kernel) lets the main thread run."""
    X, y = make_data(name, n=20000, m=40)
    est = make(name, max_iter=5, batch_size=32)
    assert _runs_beside(lambda: quiet_fit(est, X, y))


# --------------------------------------------------------------------------
# concurrent fits are exactly serial fits

@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_fits_equal_serial_fits(backend):
    jobs = []
    for name in NAMES:
        for seed in range(2):
            for dtype in (np.float64, np.float32):
                X, y = make_data(name, n=3000, m=20, seed=seed, dtype=dtype)
                jobs.append((name, seed, X, y))

    def fit(job):
        name, seed, X, y = job
        est = quiet_fit(make(name, backend=backend, random_state=seed, max_iter=3,
                             batch_size=8), X, y)
        return [a.copy() for a in fitted_arrays(est)]

    serial = [fit(job) for job in jobs]
    barrier = threading.Barrier(4)

    def fit_together(k):
        if k < 4:
            barrier.wait(timeout=60)     # the first four start at once
        return fit(jobs[k])

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(fit_together, range(len(jobs))))
    for (name, seed, X, _), got, want in zip(jobs, concurrent, serial):
        for a, b in zip(got, want):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b, err_msg=f"{name} seed {seed} {X.dtype}")


def test_threads_share_one_estimator_class_not_state():
    """Two threads fitting two estimators of one class on different data do
    not see each other's data (results equal each one's serial fit)."""
    X1, y1 = make_data("SoftmaxRegression", n=4000, m=10, seed=1)
    X2, y2 = make_data("SoftmaxRegression", n=4000, m=10, seed=2)
    serial = [fitted_arrays(quiet_fit(make("SoftmaxRegression"), X, y)) for X, y in
              ((X1, y1), (X2, y2))]
    ests = [make("SoftmaxRegression"), make("SoftmaxRegression")]
    threads = [threading.Thread(target=quiet_fit, args=(e, X, y))
               for e, (X, y) in zip(ests, ((X1, y1), (X2, y2)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for est, want in zip(ests, serial):
        for a, b in zip(fitted_arrays(est), want):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Ctrl-C

@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt during the test (Python's default
    handler, installed whatever the process inherited), and the previous
    handler is back afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _NotInterrupted(AssertionError):
    """An epoch began after the one the interrupt was sent in."""


class _Interrupting:
    """Stands in for a backend module: forwards every call, counts the epochs
    started, and sends this process SIGINT from another thread while the
    ``at``-th epoch's kernel runs (the thread gets the GIL once the kernel
    releases it). That call does not return before the signal has been sent,
    so the interrupt always falls inside the estimator's call, never after.
    An epoch started after that one raises ``_NotInterrupted`` at once, so a
    fit that the signal did not stop fails instead of running on."""

    def __init__(self, module, at):
        self._module, self._at, self.started = module, at, 0

    def _call(self, fn, *args, **kw):
        self.started += 1
        if self.started > self._at:
            raise _NotInterrupted(f"epoch {self.started} began after SIGINT was sent "
                                  f"during epoch {self._at}")
        if self.started != self._at:
            return fn(*args, **kw)
        sent = threading.Event()

        def interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            sent.set()

        threading.Thread(target=interrupt).start()
        result = fn(*args, **kw)
        sent.wait(timeout=30)       # KeyboardInterrupt may surface in this wait
        return result

    def sgd_epoch(self, *args, **kw):
        return self._call(self._module.sgd_epoch, *args, **kw)

    def gradient(self, *args, **kw):
        return self._call(self._module.gradient, *args, **kw)


@pytest.mark.parametrize("batch_size", [1, None])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_stops_within_one_epoch_and_refit_works(name, backend, batch_size, monkeypatch,
                                                       sigint_raises):
    if name == "MLPClassifier" and batch_size is None:
        batch_size = 64
    X, y = make_data(name, n=3000, m=20)
    real_get_backend = fastlin._base.get_backend
    spies = []

    def get_backend(backend_name, kind):
        spies.append(_Interrupting(real_get_backend(backend_name, kind), at=3))
        return spies[-1]

    monkeypatch.setattr(fastlin._base, "get_backend", get_backend)
    est = make(name, backend=backend, max_iter=10_000, batch_size=batch_size)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    # the interrupt landed in epoch 3 or right after it: no later epoch began
    assert spies[0].started == 3
    # nothing was published
    with pytest.raises(NotFittedError):
        est.predict(X)
    # fitted again (no interrupt this time), it equals a fresh estimator's fit
    monkeypatch.setattr(fastlin._base, "get_backend", real_get_backend)
    est.set_params(max_iter=3)
    quiet_fit(est, X, y)
    fresh = quiet_fit(make(name, backend=backend, max_iter=3, batch_size=batch_size), X, y)
    for a, b in zip(fitted_arrays(est), fitted_arrays(fresh)):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_during_warm_start_leaves_the_previous_fit(monkeypatch, sigint_raises):
    X, y = make_data("LogisticRegression-log", n=3000, m=20)
    est = quiet_fit(make("LogisticRegression-log", warm_start=True), X, y)
    before = [a.copy() for a in fitted_arrays(est)]
    real_get_backend = fastlin._base.get_backend
    monkeypatch.setattr(fastlin._base, "get_backend",
                        lambda b, k: _Interrupting(real_get_backend(b, k), at=2))
    est.set_params(max_iter=10_000)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    for a, b in zip(fitted_arrays(est), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_during_partial_fit_leaves_the_estimator_unchanged(name, backend, monkeypatch,
                                                                  sigint_raises):
    """partial_fit runs one epoch: an interrupt during it publishes nothing
    (weights, step count, loss curve and the shuffling generator unchanged),
    and the next partial_fit continues exactly as if it had never happened."""
    X, y = make_data(name, n=3000, m=20)
    kw = {} if name == "LinearRegression" else {"classes": np.unique(y)}
    est = make(name, backend=backend).partial_fit(X, y, **kw)
    twin = make(name, backend=backend).partial_fit(X, y, **kw)
    before = [a.copy() for a in fitted_arrays(est)]
    real_get_backend = fastlin._base.get_backend
    monkeypatch.setattr(fastlin._base, "get_backend",
                        lambda b, k: _Interrupting(real_get_backend(b, k), at=1))
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X, y)
    monkeypatch.setattr(fastlin._base, "get_backend", real_get_backend)
    for a, b in zip(fitted_arrays(est), before):
        np.testing.assert_array_equal(a, b)
    assert (est.n_iter_, est.t_, est.loss_curve_) == (twin.n_iter_, twin.t_, twin.loss_curve_)
    est.partial_fit(X, y)
    twin.partial_fit(X, y)
    for a, b in zip(fitted_arrays(est), fitted_arrays(twin)):
        np.testing.assert_array_equal(a, b)


CHILD = textwrap.dedent("""
    import signal
    # a process that inherited SIGINT ignored keeps it ignored: ask for Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)

    import numpy as np
    from fastlin import {cls}

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 50))
    y = (X[:, 0] > 0).astype(int) if {classifier} else X[:, 0]
    est = {cls}(max_iter=10**9, tol=None, verbose=1, random_state=0, learning_rate=1e-3)
    try:
        est.fit(X, y)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    else:
        print("NOT INTERRUPTED", flush=True)
    print("FITTED BEFORE REFIT", hasattr(est, "coef_") or hasattr(est, "coefs_"), flush=True)
    est.set_params(max_iter=2, verbose=0)
    est.fit(X, y)
    print("REFIT OK", est.n_iter_, flush=True)
""")

# Bounds on a child process, in seconds: from its start to its second epoch
# (imports included, on a loaded machine), and from SIGINT to its exit (the
# epoch in progress, then a two-epoch refit). A child that ignores the
# signal fails the test when the second bound runs out.
CHILD_START_S = 60
CHILD_STOP_S = 30


class _Lines:
    """A pipe's lines, each read bounded in time (a thread drains the pipe)."""

    def __init__(self, stream):
        self._queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next(self, deadline):
        """The next line; None once the pipe is closed; queue.Empty when
        ``deadline`` (time.monotonic()) passes first."""
        return self._queue.get(timeout=max(0.0, deadline - time.monotonic()))


@pytest.mark.parametrize("cls,classifier", [("LinearRegression", False),
                                            ("SoftmaxRegression", True),
                                            ("MLPClassifier", True)])
def test_real_sigint_to_a_child_process(cls, classifier):
    """A real Ctrl-C: the child prints one line per epoch; after its second
    epoch the parent sends SIGINT; the child must report KeyboardInterrupt,
    an untouched estimator, and a working refit. The fit would otherwise run
    10⁹ epochs: a child still running CHILD_STOP_S seconds after the signal
    fails the test (and is killed)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(cls=cls, classifier=classifier)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=child_env())
    lines, out, stage = [], _Lines(child.stdout), "reach its second epoch"
    try:
        deadline = time.monotonic() + CHILD_START_S
        line = ""
        while line is not None and not line.startswith("epoch 2,"):
            line = out.next(deadline)
            lines.append(line)
        assert line is not None, f"the child ended before its second epoch: {lines[-10:]}"
        child.send_signal(signal.SIGINT)
        stage = "exit after SIGINT"
        deadline = time.monotonic() + CHILD_STOP_S
        while line is not None:
            line = out.next(deadline)
            lines.append(line)
        child.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (queue.Empty, subprocess.TimeoutExpired):
        pytest.fail(f"the child did not {stage} within "
                    f"{CHILD_START_S if stage.startswith('reach') else CHILD_STOP_S} s; "
                    f"its last lines: {lines[-5:]}")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines = lines[:-1]                       # the end-of-output marker
    assert child.returncode == 0, lines[-10:]
    assert "INTERRUPTED" in lines, lines[-5:]
    assert "FITTED BEFORE REFIT False" in lines
    assert "REFIT OK 2" in lines
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) >= 2


# Every Ctrl-C test of this module (a -k expression), and a program that runs
# the command in its arguments with SIGINT ignored from the start, as a
# background job of a non-interactive shell (``cmd &``, nohup, many CI
# runners) is started.
CTRL_C_TESTS = "ctrl_c or real_sigint"
WITH_SIGINT_IGNORED = [sys.executable, "-c",
                       "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                       "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"]


def test_interrupt_tests_pass_when_sigint_is_inherited_ignored():
    """The Ctrl-C tests above pass in a pytest process that inherited SIGINT
    ignored (their result must not depend on how the suite was started):
    each of them, in its compiled-backend cases (the signal's disposition is
    the process's, whichever backend runs; the NumPy ones would add 12 s)."""
    probe = subprocess.run(
        WITH_SIGINT_IGNORED + ["-c", "import signal; print(signal.getsignal(signal.SIGINT))"],
        capture_output=True, text=True, timeout=60, env=child_env())
    assert probe.stdout.strip() == str(signal.SIG_IGN), probe   # the set-up is what it says
    here = os.path.abspath(__file__)
    run = subprocess.run(
        WITH_SIGINT_IGNORED + ["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", here,
                               "-k", f"({CTRL_C_TESTS}) and not numpy"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        cwd=os.path.dirname(here), env=child_env())
    tail = run.stdout.split("short test summary")[0][-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    passed = {line.split("::")[1].split("[")[0] for line in run.stdout.splitlines()
              if line.startswith("PASSED ")}
    ctrl_c = {name for name in globals() if name.startswith("test_")
              and any(word in name for word in CTRL_C_TESTS.split(" or "))}
    assert ctrl_c and passed == ctrl_c, (passed, tail)
