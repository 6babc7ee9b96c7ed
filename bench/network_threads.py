"""The network's epoch on 1 and 2 threads: W3 (60,000 × 784, 10 classes).

One epoch of ``fastlin._mlp_fast.sgd_epoch`` from the same start each call,
in two settings:

* bench: the W3 workload of bench/adapters/_network.py (128 hidden units,
  batch 128, plain SGD, α = 1e-4), on raw X;
* default: MLPClassifier's defaults (100 hidden units, batch 32, Nesterov
  momentum 0.9, α = 1e-3) on standardized X (the kernel's mean/scale).

Timed (median of interleaved repeats): n_threads=1 with BLAS limited to one
thread (one core), n_threads=1 with BLAS as it is (its own threads in the
gemms), and n_threads=2. Goal: n_threads=2 / one core <= 0.7.

    python bench/network_threads.py            # W3, prints the table
    python bench/network_threads.py --quick    # 2,000 rows, a smoke test
"""
import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):     # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import interleaved_medians, limited_threads, machine_info  # noqa: E402
from bench.problems import PROBLEMS  # noqa: E402

SETTINGS = {
    "bench": dict(hidden=128, kw=dict(eta0=0.01, batch_size=128, alpha=1e-4)),
    "default": dict(hidden=100, standardize=True,
                    kw=dict(eta0=0.1, batch_size=32, alpha=1e-3, momentum=0.9, nesterov=True)),
}


def epoch_runner(data, setting, n_threads):
    """One epoch from the same initial weights every call."""
    from fastlin import _mlp_fast
    from fastlin.reference.network import init_params

    X, y, order = data["X"], data["y"], data["order"]
    kw = dict(setting["kw"])
    if setting.get("standardize"):
        kw.update(mean=X.mean(axis=0), scale=np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0))
    start = init_params(X.shape[1], setting["hidden"], data["c"], random_state=0, dtype=X.dtype)
    params = [p.copy() for p in start]
    velocities = [np.zeros_like(p) for p in start] if kw.get("momentum") else None

    def epoch():
        for p, p0 in zip(params, start):
            p[...] = p0
        if velocities is not None:
            for v in velocities:
                v[...] = 0
        return _mlp_fast.sgd_epoch(X, y, params, order, velocities=velocities,
                                   n_threads=n_threads, **kw)
    return epoch


def one_core(fn):
    def run():
        with limited_threads(1):
            return fn()
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    problem = next(p for p in PROBLEMS if p.name == "W3")
    data = problem.data(n=2000 if args.quick else None)
    repeats = 1 if args.quick else args.repeats
    info = machine_info()
    print(f"W3 {data['X'].shape}, {info['cpu']}, {info['cores']} cores; "
          f"BLAS {[b['internal_api'] + ' ' + str(b['num_threads']) for b in info['blas']]}")
    print("| setting | 1 thread, BLAS 1 (s) | 1 thread, BLAS as is (s) | 2 threads (s) "
          "| 2 threads / one core |")
    print("| --- | --- | --- | --- | --- |")
    ratios = {}
    for name, setting in SETTINGS.items():
        medians, _ = interleaved_medians({
            "one core": one_core(epoch_runner(data, setting, 1)),
            "blas": epoch_runner(data, setting, 1),
            "two": epoch_runner(data, setting, 2),
        }, repeats=repeats, warmup=1, pause=0.1)
        ratios[name] = medians["two"] / medians["one core"]
        print(f"| {name} | {medians['one core']:.3f} | {medians['blas']:.3f} "
              f"| {medians['two']:.3f} | {ratios[name]:.2f} |", flush=True)
    return ratios


if __name__ == "__main__":
    main()
