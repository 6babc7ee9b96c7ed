"""PNG plots of the sweep over n and m (written beside bench/RESULTS.md).

Input: sweep records, dicts with keys ``model``, ``competitor``, ``n``, ``m``,
``seconds`` (median epoch time) and ``axis`` ("n" for the sweep over n at
fixed m, "m" for the sweep over m at fixed n). matplotlib is optional: without
it ``make_plots`` returns no files and says why.
"""
import math
import os

# one colour and marker per competitor, the same in every figure
STYLES = {
    "fastlin-cython": ("tab:blue", "o"),
    "fastlin-numpy": ("tab:orange", "s"),
    "sklearn": ("tab:green", "^"),
    "torch": ("tab:red", "D"),
}


#: the estimator each benchmark model key times, for the panel titles: the
#: loss key (the part of "<loss>/<shape>" before the slash) -> estimator
ESTIMATORS = {
    "squared_error": "LinearRegression",
    "logistic_squared_error": "LogisticRegression(loss='squared_error')",
    "log_loss": "LogisticRegression(loss='log_loss')",
    "perceptron": "Perceptron",
    "multiclass_perceptron": "MulticlassPerceptron",
    "softmax": "SoftmaxRegression",
    "softmax_cross_entropy": "SoftmaxRegression",
    "mlp128": "MLPClassifier(hidden_size=128)",
}


def panel_title(model):
    """The estimator a model key ("softmax/epoch") times; the key itself
    when the table does not know it."""
    return ESTIMATORS.get(model.split("/", 1)[0], model)


def _style(competitor):
    return STYLES.get(competitor, ("tab:gray", "x"))


def _grid(k):
    cols = min(k, 4)
    return math.ceil(k / cols), cols


def _by(records, *keys):
    out = {}
    for r in records:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _epoch_time_figure(plt, records, axis, fixed_label, path):
    models = sorted({r["model"] for r in records}, key=_model_order(records))
    rows, cols = _grid(len(models))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, model in zip(axes.flat, models):
        mine = [r for r in records if r["model"] == model]
        for (competitor,), rs in sorted(_by(mine, "competitor").items(),
                                        key=lambda kv: list(STYLES).index(kv[0][0])
                                        if kv[0][0] in STYLES else 99):
            rs = sorted(rs, key=lambda r: r[axis])
            color, marker = _style(competitor)
            ax.loglog([r[axis] for r in rs], [r["seconds"] for r in rs], marker=marker,
                      color=color, label=competitor, lw=1.5, ms=4)
        ax.set_title(panel_title(model), fontsize=8)
        ax.set_xlabel(axis)
        ax.grid(True, which="both", alpha=0.3)
    _same_x(axes.flat[:len(models)], [r[axis] for r in records])
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("epoch time (s)")
    handles, labels = _legend(axes)
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(f"one epoch vs {axis} ({fixed_label}), median of repeats", fontsize=10)
    _layout(fig, rows, cols)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _layout(fig, rows, cols):
    """Fixed margins (tight_layout costs seconds with many tick labels)."""
    height = 3.0 * rows
    fig.subplots_adjust(left=0.55 / (3.6 * cols) * 1.6, right=0.98, wspace=0.35,
                        hspace=0.55, top=1 - 0.55 / height, bottom=0.85 / height)


def _same_x(axes, values):
    """One x range for every panel (log scale), with room for the end labels."""
    lo, hi = min(values), max(values)
    for ax in axes:
        ax.set_xlim(lo / 1.6, hi * 3.0)


def _legend(axes):
    seen = {}
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(l, h)
    order = [c for c in STYLES if c in seen] + [c for c in seen if c not in STYLES]
    return [seen[c] for c in order], order


def _model_order(records):
    first = {}
    for i, r in enumerate(records):
        first.setdefault(r["model"], i)
    return lambda model: first[model]


def _speedup_figure(plt, records, path):
    """One panel per model: each competitor's epoch time divided by
    fastlin-cython's at the same n (> 1: fastlin is faster), log-log."""
    models = sorted({r["model"] for r in records}, key=_model_order(records))
    models = [mo for mo in models
              if any(r["model"] == mo and r["competitor"] == "fastlin-cython" for r in records)]
    if not models or all(r["competitor"] == "fastlin-cython" for r in records):
        return False
    rows, cols = _grid(len(models))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, model in zip(axes.flat, models):
        mine = [r for r in records if r["model"] == model]
        cy = {r["n"]: r["seconds"] for r in mine if r["competitor"] == "fastlin-cython"}
        for competitor in [c for c in STYLES if c != "fastlin-cython"] + sorted(
                {r["competitor"] for r in mine} - set(STYLES)):
            pts = sorted((r["n"], r["seconds"] / cy[r["n"]]) for r in mine
                         if r["competitor"] == competitor and r["n"] in cy)
            if not pts:
                continue
            color, marker = _style(competitor)
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color,
                      label=competitor, lw=1.5, ms=4)
            ax.annotate(f"{pts[-1][1]:.3g}x", pts[-1], textcoords="offset points",
                        xytext=(3, 0), fontsize=7, color=color, va="center")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_title(panel_title(model), fontsize=8)
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
    _same_x(axes.flat[:len(models)], [r["n"] for r in records])
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("time / fastlin-cython time")
    handles, labels = _legend(axes)
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle("speed-up of fastlin (Cython) per model: competitor epoch time / "
                 "fastlin's, same run (> 1: fastlin is faster)", fontsize=10)
    _layout(fig, rows, cols)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def make_plots(records, outdir, suffix="", log=print):
    """Write the PNGs into ``outdir`` (``suffix`` before ``.png``, e.g. for a run
    at 2 threads); returns the paths written."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("plots skipped: matplotlib is not installed (pip install matplotlib)")
        return []
    written = []
    for axis in ("n", "m"):
        rs = [r for r in records if r.get("axis") == axis]
        if not rs:
            continue
        other = "m" if axis == "n" else "n"
        fixed = sorted({r[other] for r in rs})
        fixed_label = f"{other} = " + ", ".join(f"{v:,}" for v in fixed)
        path = os.path.join(outdir, f"epoch_time_vs_{axis}{suffix}.png")
        _epoch_time_figure(plt, rs, axis, fixed_label, path)
        written.append(path)
    rs = [r for r in records if r.get("axis") == "n"]
    path = os.path.join(outdir, f"speedup{suffix}.png")
    if rs and _speedup_figure(plt, rs, path):
        written.append(path)
    return written
