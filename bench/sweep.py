"""The sweep over n and m: one epoch of each of the seven models as the data
grows, for every competitor, in the runner's interleaved rotation.

* over n: n in ``SWEEP_N`` (10^3 ... 10^6) at m = 100;
* over m: m in ``SWEEP_M`` (10 ... 1000) at n = 10^4.

The models are the epoch models of ``bench/problems.py`` (per-sample SGD for
the six linear models, minibatch 128 for the network). Two caps keep a full
run sane, both said in the output: the NumPy reference's per-sample epoch is
a Python loop (about 20 µs a sample), so it is timed only for n <= 10^4; its
network epoch (vectorised per batch) is timed at every n. The bare-BLAS floors
of the network (numpy-blas, scipy-blas) belong to W3 and are not swept.
Sweeps at n >= 10^5 use at most 3 repeats.
"""
from dataclasses import dataclass

import numpy as np

from bench.common import provenance_lines
from bench.problems import Problem, _binary, _multiclass

SWEEP_N = (1_000, 10_000, 100_000, 1_000_000)
SWEEP_M = (10, 30, 100, 300, 1000)
M_FIXED = 100          # m of the sweep over n
N_FIXED = 10_000       # n of the sweep over m

#: largest n at which the NumPy reference is timed, per problem kind
REFERENCE_MAX_N = {"binary": 10_000, "multiclass": 10_000, "network": 1_000_000}
FLOORS = ("numpy-blas", "scipy-blas")
KINDS = (("binary", 1, _binary), ("multiclass", 10, _multiclass),
         ("network", 10, _multiclass))
SECTION = "sweep"
READ = "read X"


@dataclass(frozen=True)
class SweepProblem(Problem):
    """A Problem of the sweep: ``axis`` ("n" or "m") says which sweep it is on;
    only models whose shape is in ``shapes`` run on it; the competitors in
    ``skip`` are not timed on it; at most ``max_repeats`` repeats."""
    axis: str = "n"
    shapes: tuple = ("epoch", "network-epoch")
    skip: tuple = FLOORS
    max_repeats: int = 5


def _problem(axis, kind, c, make, n, m):
    skip = FLOORS
    if n > REFERENCE_MAX_N[kind]:
        skip = skip + ("fastlin-numpy",)
    name = f"sweep-{axis}-{kind}-n{n}-m{m}"
    return SweepProblem(name, kind, n, m, c, np.float64, make, section=SECTION,
                        description=f"sweep over {axis}: {kind}", axis=axis, skip=skip,
                        max_repeats=3 if n >= 100_000 else 5)


def sweep_problems(ns=SWEEP_N, ms=SWEEP_M, m_fixed=M_FIXED, n_fixed=N_FIXED):
    """The sweep's problems: every kind at each n (m = m_fixed), then at each
    m (n = n_fixed); the point (n_fixed, m_fixed) appears once per axis."""
    out = []
    for n in ns:
        out += [_problem("n", kind, c, make, n, m_fixed) for kind, c, make in KINDS]
    for m in ms:
        out += [_problem("m", kind, c, make, n_fixed, m) for kind, c, make in KINDS]
    return out


def records(rows, problems):
    """The runner's result rows of the sweep problems as plot records."""
    by_name = {p.name: p for p in problems if isinstance(p, SweepProblem)}
    out = []
    for r in rows:
        p = by_name.get(r["problem"])
        if p is None or r["competitor"] == READ:
            continue
        out.append(dict(model=r["model"], competitor=r["competitor"], n=p.n, m=p.m,
                        seconds=r["seconds"], axis=p.axis))
    return out


def _fmt(sec):
    """Milliseconds, three significant digits, no exponent (0.0768, 11.3, 3490)."""
    ms = sec * 1e3
    return f"{ms:.3g}" if ms < 1000 else f"{ms:.0f}"


def caps_note(problems):
    """One sentence on what was not timed where, from the problems run."""
    capped = sorted({(p.kind, REFERENCE_MAX_N[p.kind]) for p in problems
                     if isinstance(p, SweepProblem) and "fastlin-numpy" in p.skip})
    if not capped:
        return ""
    parts = ", ".join(f"{kind} n <= {cap:,}" for kind, cap in capped)
    return ("fastlin-numpy is timed only where its epoch stays short "
            f"({parts}): the linear models' reference epoch runs a Python step per "
            "sample, the network's a Python step per batch.")


def summary(rows, problems, comps_order):
    """A markdown table: per model, fastlin-cython's epoch time at the largest
    n of the sweep over n, and each competitor's speed-up (its time / ours)
    at the largest n where it was timed."""
    sweep = [p for p in problems if isinstance(p, SweepProblem) and p.axis == "n"]
    t = {(r["problem"], r["model"], r["competitor"]): r["seconds"] for r in rows}
    names = {p.name for p in sweep}
    models = []
    for r in rows:
        if r["problem"] in names and r["model"] not in models:
            models.append(r["model"])
    comps = [c for c in comps_order if c != "fastlin-cython"
             and any(k[2] == c and k[0] in names for k in t)]
    if not models:
        return ""
    head = ["model", "fastlin-cython epoch"] + [f"{c}: speed-up" for c in comps]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in models:
        ps = sorted((p for p in sweep if (p.name, model, "fastlin-cython") in t),
                    key=lambda p: p.n)
        if not ps:
            continue
        top = ps[-1]
        cells = [f"`{model}`", f"{_fmt(t[(top.name, model, 'fastlin-cython')])} ms "
                 f"(n = {top.n:,})"]
        for c in comps:
            timed = [p for p in ps if (p.name, model, c) in t]
            if not timed:
                cells.append("")
                continue
            p = timed[-1]
            ratio = t[(p.name, model, c)] / t[(p.name, model, "fastlin-cython")]
            cells.append(f"{ratio:.3g}x" + ("" if p.n == top.n else f" (n = {p.n:,})"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(rows, problems, plots, info, command, repeats, threads, comps_order):
    """The RESULTS.md section of the sweep: two tables (over n, over m) of
    epoch times in ms with fastlin's speed-up, and the plots."""
    sweep = [p for p in problems if isinstance(p, SweepProblem)]
    t = {(r["problem"], r["model"], r["competitor"]): r["seconds"] for r in rows}
    models = []
    for r in rows:
        if r["problem"] in {p.name for p in sweep} and r["model"] not in models:
            models.append(r["model"])
    comps = [c for c in comps_order if any(k[2] == c and k[0] in {p.name for p in sweep}
                                           for k in t)]
    lines = [
        *provenance_lines(command, info, threads),
        "",
        f"One epoch of each model, float64, in ms: the median of up to {repeats} "
        "interleaved repeats (3 for n >= 100,000) after one warm-up. In brackets, "
        "fastlin's speed-up: that competitor's time divided by fastlin-cython's "
        "(above 1: fastlin is faster). The linear models' epoch is per-sample SGD "
        "(sklearn: `Perceptron`/`SGDClassifier`/`SGDRegressor` with `max_iter=1`, "
        "one-vs-rest for 10 classes); the network's is minibatch SGD, batch 128, "
        "128 sigmoid units (sklearn `MLPClassifier`, PyTorch `nn.Sequential`). "
        "PyTorch is timed on the network only: a per-sample linear SGD in PyTorch "
        "is a Python loop, like the NumPy reference. " + caps_note(sweep),
        "",
    ]
    table = summary(rows, problems, comps)
    if table:
        lines += ["### Summary: fastlin's speed-up at the largest n (m = 100)", "",
                  "Each competitor's epoch time divided by fastlin-cython's, at the "
                  "largest n where both were timed.", "", table, ""]
    for axis, fixed in (("n", "m"), ("m", "n")):
        ps = [p for p in sweep if p.axis == axis]
        if not ps:
            continue
        fixed_values = sorted({getattr(p, fixed) for p in ps})
        lines += [f"### Epoch time vs {axis} ({fixed} = "
                  + ", ".join(f"{v:,}" for v in fixed_values) + ")", ""]
        head = ["model", axis] + comps + [READ]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for model in models:
            for p in sorted((p for p in ps), key=lambda p: getattr(p, axis)):
                if (p.name, model, "fastlin-cython") not in t and not any(
                        (p.name, model, c) in t for c in comps):
                    continue
                ours = t.get((p.name, model, "fastlin-cython"))
                cells = [f"`{model}`", f"{getattr(p, axis):,}"]
                for c in comps:
                    sec = t.get((p.name, model, c))
                    if sec is None:
                        cells.append("")
                    elif c == "fastlin-cython" or ours is None:
                        cells.append(_fmt(sec))
                    else:
                        cells.append(f"{_fmt(sec)} ({sec / ours:.3g}x)")
                read = t.get((p.name, model, READ))
                cells.append(_fmt(read) if read is not None else "")
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if plots:
        lines += ["### Plots", ""]
        for path in plots:
            name = path.rsplit("/", 1)[-1]
            lines += [f"![{name}]({name})", ""]
    return "\n".join(lines)
