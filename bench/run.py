"""fastlin's benchmark runner: one epoch / one gradient per model, per
competitor, on the workloads of ``bench/problems.py``.

    python bench/run.py                     # everything, 1 thread, 5 repeats
    python bench/run.py --quick             # n = 10,000 and 3 repeats, sweep n <= 10^4;
                                            # writes nothing
    python bench/run.py --problems W1,W2 --models 'perceptron/*' --threads 2

For each (problem, model) the competitors that support it (``bench/adapters``)
and a plain read of X (``X @ ones``, the memory floor of any method that must
touch all of X) are timed together by ``bench.common.interleaved_medians``, so
their ratios come from the same conditions. The runner prints the machine,
every median and the ratios, checks the targets below (at the problems' full
size; a reduced n shows their ratios unchecked), and writes a markdown
section per problem ``section`` into ``bench/RESULTS.md`` between
``<!-- bench:<section>:begin -->`` and ``<!-- bench:<section>:end -->``, leaving
the rest of the file alone. Record runs under ``flock /tmp/fastlin-bench.lock``.

The sweep over n (10^3 ... 10^6 at m = 100) and m (10 ... 1000 at n = 10^4)
of every model's epoch (``bench/sweep.py``) runs with the W problems (select
it alone with ``--problems 'sweep-*'``); it writes its own section and the
PNG plots of ``bench/plots.py`` beside the results file (``--results``).
"""
import argparse
import contextlib
import fnmatch
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):     # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import adapters as adapters_pkg  # noqa: E402
from bench.common import (interleaved_medians, limited_threads, machine_info,  # noqa: E402
                          provenance_lines, read_bandwidth_seconds, write_section)
from bench.problems import MODELS, PROBLEMS  # noqa: E402
from bench import sweep as sweep_mod  # noqa: E402

READ = "read X"     # the pseudo-competitor: one streaming read of X
OURS = "fastlin-cython"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Target:
    """time(num) / time(den) <= limit, each a (problem, model, competitor).

    A target holds for its problems at their full size (``Problem.n``): at
    the reduced n of ``--quick`` or ``--rows`` the data fits in the caches
    and fixed costs weigh more, so the ratio is shown but not checked."""
    what: str
    num: tuple
    den: tuple
    limit: float


def _targets():
    t = [
        Target("perceptron epoch <= 0.2 x sklearn Perceptron(max_iter=1)",
               ("W1", "perceptron/epoch", OURS), ("W1", "perceptron/epoch", "sklearn"), 0.2),
        Target("multi-class perceptron epoch <= 0.05 x sklearn Perceptron (one-vs-rest)",
               ("W2", "multiclass_perceptron/epoch", OURS),
               ("W2", "multiclass_perceptron/epoch", "sklearn"), 0.05),
        Target('cross-entropy SGD epoch <= 0.2 x SGDClassifier(loss="log_loss")',
               ("W1", "log_loss/epoch", OURS), ("W1", "log_loss/epoch", "sklearn"), 0.2),
        Target('softmax SGD epoch <= 0.05 x SGDClassifier(loss="log_loss") (one-vs-rest)',
               ("W2", "softmax/epoch", OURS), ("W2", "softmax/epoch", "sklearn"), 0.05),
        Target("linear-regression gradient <= 0.6 x NumPy X.T @ (X @ w - y)",
               ("W1", "squared_error/gradient", OURS),
               ("W1", "squared_error/gradient", "numpy-blas"), 0.6),
        Target("softmax gradient <= 0.3 x the NumPy reference's",
               ("W2", "softmax/gradient", OURS), ("W2", "softmax/gradient", "fastlin-numpy"), 0.3),
    ]
    for model in MODELS:
        if model.shape != "epoch":
            continue
        for p in PROBLEMS:
            if p.kind == model.kind and p.dtype == np.float64:
                t.append(Target(f"{model.name} on {p.name} <= 2.5 x one read of X",
                                (p.name, model.name, OURS), (p.name, model.name, READ), 2.5))
    # float32 vs float64 in the same rotation: the float64 problem's data, and
    # a float32 copy of it (the fastlin-cython-f32 adapter)
    for model in MODELS:
        if model.shape != "gradient":
            continue
        for p in PROBLEMS:
            if p.kind == model.kind and p.dtype == np.float64:
                t.append(Target(f"{model.name} on {p.name}: float32 >= 1.6 x faster than float64",
                                (p.name, model.name, "fastlin-cython-f32"),
                                (p.name, model.name, OURS), 1 / 1.6))
    # the network: one epoch of W3 against PyTorch, scikit-learn and
    # its own matrix products alone (bare cython_blas, the BLAS the kernel calls)
    net = "mlp128/epoch"
    for p in ("W3", "W3-f32"):
        t.append(Target(f"network epoch on {p} <= 0.8 x PyTorch",
                        (p, net, OURS), (p, net, "torch"), 0.8))
        t.append(Target(f"network epoch on {p} <= 1.3 x its matrix products alone (scipy-blas)",
                        (p, net, OURS), (p, net, "scipy-blas"), 1.3))
    t.append(Target("network epoch on W3 <= 0.5 x sklearn MLPClassifier",
                    ("W3", net, OURS), ("W3", net, "sklearn"), 0.5))
    return t


TARGETS = _targets()


def _select(items, patterns, key):
    """The items whose key matches one of the comma-separated glob patterns."""
    if not patterns:
        return list(items)
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    return [it for it in items if any(fnmatch.fnmatch(key(it), p) for p in pats)]


def expects_overflow(problem, model):
    """True where the design lets an epoch diverge: every problem uses one
    step size η per loss whatever m is, so that the epochs time the same
    work, and the per-sample least-squares step is stable only while
    η ‖x‖² ≈ η m < 2 (x ~ N(0, 1)); beyond (m >= 300 at η = 0.01) the
    weights grow until they overflow, and the NumPy reference's overflow
    warnings are expected, not news. The timed arithmetic is the same."""
    if model.shape != "epoch" or model.loss != "squared_error":
        return False
    return adapters_pkg.ETA0.get(model.loss, adapters_pkg.DEFAULT_ETA0) * problem.m >= 2


def run(problems, models, competitors, repeats, n_rows=None, log=print, pause=0.0):
    """Time every (problem, model) pair; returns a list of result rows
    {problem, model, competitor, seconds, n (the rows timed)} and
    {problem: read floor (s)}.
    ``pause``: untimed sleep after each call (see ``interleaved_medians``)."""
    rows, floors = [], {}
    for problem in problems:
        # sweep problems: only some model shapes, some competitors, fewer repeats
        shapes = getattr(problem, "shapes", None)
        skip = getattr(problem, "skip", ())
        reps = min(repeats, getattr(problem, "max_repeats", repeats))
        mine = [m for m in models if m.kind == problem.kind
                and (not shapes or m.shape in shapes)]
        if not mine:
            continue
        t0 = time.perf_counter()
        data = problem.data(n=None if shapes else n_rows)
        X = data["X"]
        log(f"\n## {problem.name}: n={X.shape[0]:,} m={X.shape[1]} c={problem.c} "
            f"{np.dtype(problem.dtype).name}  ({problem.description}; data in "
            f"{time.perf_counter() - t0:.1f} s)")
        floors[problem.name] = read_bandwidth_seconds(X, repeats=max(repeats, 5))
        log(f"   one read of X ({X.nbytes / 1e6:.0f} MB): {floors[problem.name] * 1e3:.2f} ms "
            f"= {X.nbytes / floors[problem.name] / 1e9:.1f} GB/s")
        ones = np.ones(X.shape[1], X.dtype)
        for model in mine:
            candidates = {}
            for name, module in competitors.items():
                if name in skip:
                    continue
                fn = module.prepare(model, data)
                if fn is not None:
                    candidates[name] = fn
            if not candidates:
                continue
            candidates[READ] = lambda X=X, ones=ones: X @ ones
            quiet = (np.errstate(over="ignore", invalid="ignore")
                     if expects_overflow(problem, model) else contextlib.nullcontext())
            with quiet:
                medians, _ = interleaved_medians(candidates, repeats=reps, pause=pause)
            ours = medians.get(OURS)
            parts = []
            for name, sec in medians.items():
                rows.append(dict(problem=problem.name, model=model.name, competitor=name,
                                 seconds=sec, n=X.shape[0]))
                ratio = f" ({ours / sec:.3f}x)" if ours and name != OURS else ""
                parts.append(f"{name} {sec * 1e3:.2f} ms{ratio}")
            log(f"   {model.name:32s} " + " | ".join(parts))
    return rows, floors


FULL_SIZE = {p.name: p.n for p in PROBLEMS}


def check_targets(rows):
    """[(target, ratio, ok)] for the targets whose times were measured; ok
    is None (not checked) when a problem ran below its full size."""
    t = {(r["problem"], r["model"], r["competitor"]): r["seconds"] for r in rows}
    n = {r["problem"]: r.get("n") for r in rows}
    out = []
    for target in TARGETS:
        if target.num in t and target.den in t:
            ratio = t[target.num] / t[target.den]
            full = all(n[key[0]] == FULL_SIZE.get(key[0]) for key in (target.num, target.den))
            out.append((target, ratio, ratio <= target.limit if full else None))
    return out


def target_lines(checks):
    """The printed targets: [ok], [MISSED], or [--] for one not checked."""
    lines = []
    if any(ok is None for _, _, ok in checks):
        lines.append("  (the targets hold at the problems' full size; at a reduced n, as "
                     "with --quick or --rows, the ratios are shown as [--], not checked)")
    for target, ratio, ok in checks:
        mark = "--" if ok is None else "ok" if ok else "MISSED"
        lines.append(f"  [{mark}] {target.what}: {ratio:.3f} (limit {target.limit:.3f})")
    return lines


def _fmt_ms(sec):
    return f"{sec * 1e3:.2f}" if sec < 10 else f"{sec * 1e3:.0f}"


def markdown(section, rows, floors, checks, info, command, repeats, threads):
    """The RESULTS.md section: machine, command, one table per problem, targets."""
    problems = [p for p in PROBLEMS if p.section == section and p.name in floors]
    lines = [
        *provenance_lines(command, info, threads),
        f"Each figure is the median of {repeats} interleaved repeats (after one warm-up) "
        "of one epoch or one gradient, in ms; `x ours` is fastlin-cython's time "
        "divided by that column's (below 1: fastlin-cython is faster). "
        f"`{READ}` is one streaming read of X (`X @ ones`), timed in the same rotation."
        + (" An untimed 0.3 s pause follows each call, so that the worker threads one "
           "library leaves spinning do not compete with the next competitor's."
           if threads > 1 else ""),
        "",
    ]
    by = {}
    for r in rows:
        by.setdefault(r["problem"], {}).setdefault(r["model"], {})[r["competitor"]] = r["seconds"]
    for p in problems:
        table = by.get(p.name, {})
        comps = [c for c in [OURS, "fastlin-numpy", "sklearn", "numpy-blas", "torch"]
                 if any(c in v for v in table.values())]
        comps += sorted({c for v in table.values() for c in v} - set(comps) - {READ})
        lines.append(f"### {p.name}: n = {p.n:,}, m = {p.m}, c = {p.c}, "
                     f"{np.dtype(p.dtype).name} ({p.description})")
        lines.append("")
        lines.append(f"One read of X: {_fmt_ms(floors[p.name])} ms "
                     f"(`read_bandwidth_seconds`, {p.n * p.m * np.dtype(p.dtype).itemsize / floors[p.name] / 1e9:.1f} GB/s).")
        lines.append("")
        head = ["model"] + comps + [READ, f"{OURS} / {READ}"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for model, times in table.items():
            ours = times.get(OURS)
            cells = [f"`{model}`"]
            for c in comps:
                if c not in times:
                    cells.append("")
                elif c == OURS or ours is None:
                    cells.append(_fmt_ms(times[c]))
                else:
                    cells.append(f"{_fmt_ms(times[c])} ({ours / times[c]:.3f}x ours)")
            cells.append(_fmt_ms(times[READ]) if READ in times else "")
            cells.append(f"{ours / times[READ]:.2f}" if ours and READ in times else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for model, times in table.items():
            if OURS in times and "scipy-blas" in times:
                share = 1 - times["scipy-blas"] / times[OURS]
                lines.append(f"`{model}`: elementwise share of the epoch "
                             f"(1 - scipy-blas / {OURS}) = {share:.1%}.")
                lines.append("")
    mine = [c for c in checks if c[0].num[0] in {p.name for p in problems}]
    if mine:
        lines += ["### Goals", "", "| goal | measured ratio | goal ratio | reached |",
                  "|---|---|---|---|"]
        for target, ratio, ok in mine:
            met = "not checked (reduced n)" if ok is None else "yes" if ok else "**no**"
            lines.append(f"| {target.what} | {ratio:.3f} | {target.limit:.3f} | {met} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="n = 10,000 rows and 3 repeats; does not write RESULTS.md")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (default 1)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5)")
    ap.add_argument("--problems", default="", help="comma-separated names/globs, e.g. W1,W2")
    ap.add_argument("--models", default="", help="comma-separated globs, e.g. 'softmax/*'")
    ap.add_argument("--competitors", default="",
                    help=f"comma-separated adapter modules (default: {','.join(adapters_pkg.ADAPTERS)})")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--results", default=str(RESULTS),
                    help="the markdown file to write (default bench/RESULTS.md); the "
                         "plots go beside it")
    ap.add_argument("--rows", type=int, default=None,
                    help="rows of the W problems (default: theirs; --quick: 10,000)")
    ap.add_argument("--sweep-n", default=None, metavar="N,N,...",
                    help="n of the sweep over n, at m = 100 (default "
                         f"{','.join(map(str, sweep_mod.SWEEP_N))}; --quick: 1000,10000)")
    ap.add_argument("--sweep-m", default=None, metavar="M,M,...",
                    help="m of the sweep over m (default "
                         f"{','.join(map(str, sweep_mod.SWEEP_M))}; --quick: 10,100,1000)")
    ap.add_argument("--sweep-m-at", type=int, default=sweep_mod.N_FIXED, metavar="N",
                    help=f"n of the sweep over m (default {sweep_mod.N_FIXED:,})")
    args = ap.parse_args(argv)

    repeats = args.repeats or (3 if args.quick else 5)
    n_rows = args.rows or (10_000 if args.quick else None)
    results = Path(args.results)

    def ints(text, default, quick):
        return [int(float(v)) for v in text.split(",") if v.strip()] if text else (
            quick if args.quick else default)
    sweep = sweep_mod.sweep_problems(
        ns=ints(args.sweep_n, sweep_mod.SWEEP_N, (1_000, 10_000)),
        ms=ints(args.sweep_m, sweep_mod.SWEEP_M, (10, 100, 1000)),
        n_fixed=args.sweep_m_at)
    problems = _select(PROBLEMS + sweep, args.problems, lambda p: p.name)
    models = _select(MODELS, args.models, lambda m: m.name)
    names = [c.strip() for c in args.competitors.split(",") if c.strip()] or None
    competitors, missing = adapters_pkg.load(names)
    command = "python " + shlex.join(
        [os.path.relpath(sys.argv[0]) if argv is None else "bench/run.py"]
        + (sys.argv[1:] if argv is None else list(argv)))

    with limited_threads(args.threads):
        info = machine_info()
        print(f"# fastlin benchmark: {command}")
        print(f"cpu: {info['cpu']} ({info['cores']} cores), threads: {args.threads}, "
              f"repeats: {repeats}")
        print("versions:", info["versions"])
        print("blas:", info["blas"])
        print("env:", info["env"])
        for name, why in missing.items():
            print(f"(competitor {name} skipped: {why})")
        note = sweep_mod.caps_note(problems)
        if note:
            print(f"(sweep: {note})")
        # with several threads, let each library's spinning workers go idle
        # between calls so that they do not slow the next competitor down
        rows, floors = run(problems, models, competitors, repeats, n_rows,
                           pause=0.3 if args.threads > 1 else 0.0)

    checks = check_targets(rows)
    if checks:
        print("\n## Targets")
        for line in target_lines(checks):
            print(line)
    if not (args.quick or args.no_write):
        results.parent.mkdir(parents=True, exist_ok=True)
        for section in sorted({p.section for p in problems if p.name in floors}):
            # a run at more than one thread gets its own section beside the 1-thread one
            key = section if args.threads == 1 else f"{section}-{args.threads}threads"
            if section == sweep_mod.SECTION:
                from bench.plots import make_plots
                plots = make_plots(sweep_mod.records(rows, problems), str(results.parent),
                                   suffix="" if args.threads == 1 else f"-{args.threads}threads")
                for path in plots:
                    print(f"wrote {path}")
                body = sweep_mod.markdown(rows, problems, plots, info, command, repeats,
                                          args.threads, [OURS] + [
                                              c for c in competitors if c != OURS])
            else:
                body = markdown(section, rows, floors, checks, info, command, repeats,
                                args.threads)
            write_section(key, body, path=results)
        print(f"\nwrote {results}")
    return rows, checks


if __name__ == "__main__":
    main()
