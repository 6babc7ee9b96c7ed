"""``n_jobs``: the number of threads one fit runs its kernels on.

Every estimator takes ``n_jobs`` (default 1): 1 is one thread, exactly the
serial algorithm; ``None`` or -1 every core this process may run on; k > 1
that many threads. ``resolve_n_jobs`` turns it into the thread count the
kernels take as their keyword ``n_threads``; ``kernel_threads`` also checks
that the compiled module has OpenMP (``module._OPENMP``), and when it has
not, warns once per process (:class:`SerialFallbackWarning`) and returns 1.
What the threads do is the kernels' business (docs/math.md, "Threads").
``blas_threads_for`` holds BLAS to one thread while such threads run.
"""
import contextlib
import os
import threading
import warnings

import numpy as np


class SerialFallbackWarning(UserWarning):
    """``n_jobs`` > 1 was asked for, but the compiled kernels were built
    without OpenMP: the fit runs on one thread (warned once per process)."""


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def available_cores():
    """The number of cores this process may run on (its CPU affinity where
    the platform reports one, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def resolve_n_jobs(n_jobs):
    """The thread count of ``n_jobs``: 1 → 1, None or -1 → every available
    core, k > 0 → k. Anything else (0, other negatives, non-integers) is a
    ValueError."""
    if n_jobs is None or _is_int(n_jobs) and n_jobs == -1:
        return available_cores()
    if not _is_int(n_jobs) or n_jobs < 1:
        raise ValueError(f"n_jobs must be None, -1 (every core) or an integer >= 1, "
                         f"got {n_jobs!r}.")
    return int(n_jobs)


def check_n_threads(n_threads):
    """The kernels' ``n_threads`` as an int, or a ValueError unless it is an
    integer >= 1."""
    if not _is_int(n_threads) or n_threads < 1:
        raise ValueError(f"n_threads must be an integer >= 1, got {n_threads!r}")
    return int(n_threads)


_warned = False
_warn_lock = threading.Lock()


def kernel_threads(n_jobs, module):
    """The ``n_threads`` to pass to ``module``'s kernels for ``n_jobs``:
    ``resolve_n_jobs(n_jobs)``, or 1 when the module was compiled without
    OpenMP (with one :class:`SerialFallbackWarning` per process the first
    time more than one thread is asked for). A module with no ``_OPENMP``
    (the NumPy reference) gets the resolved count; it does not use it."""
    global _warned
    n_threads = resolve_n_jobs(n_jobs)
    if n_threads > 1 and getattr(module, "_OPENMP", True) is False:
        with _warn_lock:
            first, _warned = not _warned, True
        if first:
            warnings.warn(f"n_jobs={n_jobs!r} asks for {n_threads} threads, but fastlin's "
                          "compiled kernels were built without OpenMP: training runs on one "
                          "thread (rebuild with a compiler that supports -fopenmp).",
                          SerialFallbackWarning, stacklevel=5)
        return 1
    return n_threads


def blas_threads_for(n_threads):
    """The context a fit or kernel call on ``n_threads`` threads runs in.
    With more than one, BLAS must run one thread per call: fastlin's threads
    call BLAS on their own blocks, and a multi-threaded BLAS call made
    between two kernel calls (a matrix product in the estimator) leaves its
    threads spinning on the cores the kernel's threads need. So, where
    threadpoolctl is installed, the loaded BLAS is limited to 1 thread while
    any such context is open (the setting is process-wide: other threads'
    BLAS calls meanwhile are limited too; nested and concurrent contexts
    share one limit, lifted when the last closes). One thread leaves BLAS
    as it is."""
    if n_threads == 1 or _blas_controller() is None:
        return contextlib.nullcontext()
    return _one_blas_thread()


_blas = {"controller": None, "users": 0, "limiter": None}
_blas_lock = threading.Lock()


def _blas_controller():
    """A threadpoolctl.ThreadpoolController (made once), None without
    threadpoolctl."""
    if _blas["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas["controller"] = False
        else:
            _blas["controller"] = ThreadpoolController()
    return _blas["controller"] or None


@contextlib.contextmanager
def _one_blas_thread():
    with _blas_lock:
        if _blas["users"] == 0:
            _blas["limiter"] = _blas["controller"].limit(limits=1, user_api="blas")
        _blas["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas["users"] -= 1
            if _blas["users"] == 0:
                _blas["limiter"].restore_original_limits()
                _blas["limiter"] = None
