"""Shared benchmark machinery: interleaved timing, thread limits, machine facts.

Every benchmark in bench/ times its competitors with ``interleaved_medians``
in one process, so that ratios compare runs made under the same load.
"""
import os
import platform
import time
from contextlib import contextmanager

import numpy as np


def interleaved_medians(candidates, repeats=5, warmup=1, pause=0.0):
    """Median wall time (s) of each callable in ``candidates`` (name -> fn).

    Rounds run every candidate once, in a rotated order, ``repeats`` times
    (after ``warmup`` untimed rounds), so that slow drifts of the machine hit
    all candidates alike. ``pause`` seconds of sleep (untimed) follow each
    call: with more than one thread, the worker threads a BLAS or OpenMP
    runtime leaves spinning after a call (OpenBLAS: up to ~0.1 s) would
    otherwise compete with the next candidate's threads when that one uses
    another library. Returns ``{name: median_seconds}`` and the raw times.
    """
    names = list(candidates)
    times = {name: [] for name in names}
    for r in range(warmup + repeats):
        rotated = names[r % len(names):] + names[:r % len(names)]
        for name in rotated:
            t0 = time.perf_counter()
            candidates[name]()
            elapsed = time.perf_counter() - t0
            if r >= warmup:
                times[name].append(elapsed)
            if pause:
                time.sleep(pause)
    return {name: float(np.median(ts)) for name, ts in times.items()}, times


@contextmanager
def limited_threads(n_threads):
    """Limit BLAS/OpenMP (threadpoolctl) and PyTorch to ``n_threads``."""
    from threadpoolctl import threadpool_limits

    torch_threads = None
    try:
        import torch
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(n_threads)
    except ImportError:
        torch = None
    with threadpool_limits(limits=n_threads):
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(torch_threads)


def machine_info():
    """CPU model, core count, library versions and the BLAS kernels in use."""
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("fastlin", "sklearn", "scipy", "torch"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpool_info()
    ]
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions, "blas": blas, "env": env}


def read_bandwidth_seconds(X, repeats=5):
    """Median time of one streaming read of X (``X @ ones``): the memory floor
    for any algorithm that must touch every element of X once."""
    ones = np.ones(X.shape[1], dtype=X.dtype)
    medians, _ = interleaved_medians({"read": lambda: X @ ones}, repeats=repeats)
    return medians["read"]


def provenance_lines(command, info, threads):
    """The lines that open a RESULTS.md section: when and how it was run, on
    what machine, with which libraries and BLAS kernel."""
    return [
        f"Command (run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}):",
        "", "```", command, "```", "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {threads} thread(s); "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        "BLAS: " + "; ".join(
            f"{b['internal_api']} {b.get('version') or ''} {b.get('architecture') or ''}".strip()
            for b in info["blas"]) + ".",
        f"OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {info['env']}.",
    ]


def write_section(section, body, path):
    """Replace (or append) the section ``section`` of the markdown file
    ``path``: the text between ``<!-- bench:SECTION:begin/end -->`` markers,
    so that the other sections survive."""
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
