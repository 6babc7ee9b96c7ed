"""The benchmark runner (bench/run.py) at tiny sizes, in-process, so that it
cannot rot: every problem, model and installed competitor runs once, the
RESULTS file and the plots are written to a temporary directory, and a
competitor whose library is missing (PyTorch here, made unimportable) is
skipped with a note. No timing is asserted."""
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TINY = ["--rows", "200", "--repeats", "1",
        "--sweep-n", "200,400", "--sweep-m", "4,8", "--sweep-m-at", "200"]


# A fresh interpreter in which `import torch` fails as if it were not
# installed, running bench/run.py as a script.
NO_TORCH = """
import runpy, sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoTorch())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture
def runner(monkeypatch):
    """bench.run imported from the checkout (freshly, for each test)."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in list(sys.modules):
        if name == "bench" or name.startswith("bench."):
            monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("bench.run")


def test_runner_without_torch_writes_results_and_plots(tmp_path):
    results = tmp_path / "out" / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "bench/run.py", *TINY, "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]

    # the machine, versions, BLAS and threads are printed; torch is skipped and said so
    assert re.search(r"cpu: .*\(\d+ cores\), threads: 1", out)
    assert "versions:" in out and "blas:" in out
    assert "'torch'" not in re.search(r"^versions: .*$", out, flags=re.M).group(0)
    assert "(competitor torch skipped: No module named 'torch')" in out

    # every problem ran, with fastlin's kernel and the read floor timed
    problems = set(re.findall(r"^## (\S+): n=", out, flags=re.M))
    for name in ("W1", "W2", "W1-f32", "W2-f32", "W3", "W3-f32"):
        assert name in problems, name
    sweep = {p for p in problems if p.startswith("sweep-")}
    assert len(sweep) == 2 * 3 + 2 * 3          # (2 n + 2 m) x (binary, multiclass, network)
    timed = re.findall(r"^   (\S+/\S+) +(.*)$", out, flags=re.M)
    assert timed and all("fastlin-cython" in line and "read X" in line for _, line in timed)
    assert not any("torch " in line for _, line in timed)

    text = results.read_text()
    for section in ("linear", "network", "sweep"):
        assert f"<!-- bench:{section}:begin -->" in text
        assert f"<!-- bench:{section}:end -->" in text
    assert "### Epoch time vs n" in text and "### Epoch time vs m" in text
    assert "python bench/run.py --rows 200" in text
    sweep_text = text.split("<!-- bench:sweep:begin -->")[1]
    for model in ("perceptron", "log_loss", "logistic_squared_error", "squared_error",
                  "multiclass_perceptron", "softmax", "mlp128"):
        assert f"| `{model}/epoch` | 200 |" in sweep_text, model

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "plots skipped: matplotlib is not installed" in out
    else:
        for name in ("epoch_time_vs_n.png", "epoch_time_vs_m.png", "speedup.png"):
            png = results.parent / name
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
            assert f"]({name})" in text


def test_rerun_replaces_its_sections_only(runner, tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nHand-written notes stay.\n")
    argv = TINY + ["--results", str(results), "--problems", "sweep-n-binary-*",
                   "--models", "perceptron/*", "--competitors", "fastlin_cython"]
    runner.main(argv)
    runner.main(argv)
    text = results.read_text()
    assert "Hand-written notes stay." in text
    assert text.count("<!-- bench:sweep:begin -->") == 1
    assert "bench:linear" not in text


def test_quick_writes_nothing(runner, tmp_path, capsys):
    """--quick prints only (checked on the sweep alone, with tiny sizes)."""
    results = tmp_path / "RESULTS.md"
    runner.main(["--quick", "--problems", "sweep-n-*", "--sweep-n", "200", "--models", "perceptron/*",
                 "--repeats", "1", "--results", str(results)])
    assert not results.exists()
    assert "sweep-n-binary-n200-m100" in capsys.readouterr().out


def test_targets_at_a_reduced_size_are_shown_not_missed(runner, capsys):
    """A run at n = 10,000 (as --quick) prints its target ratios as [--]:
    the targets hold at the problems' full size."""
    runner.main(["--quick", "--rows", "2000", "--repeats", "1", "--problems", "W1",
                 "--models", "perceptron/epoch", "--competitors", "fastlin_cython,sklearn"])
    out = capsys.readouterr().out
    targets = out.split("## Targets", 1)[1]
    assert "[--] perceptron epoch <= 0.2 x sklearn Perceptron(max_iter=1)" in targets
    assert "[--] perceptron/epoch on W1 <= 2.5 x one read of X" in targets
    assert "not checked" in targets
    assert "MISSED" not in targets and "[ok]" not in targets


def test_check_targets_judges_full_size_runs_only(runner):
    target = runner.TARGETS[0]       # perceptron on W1 against sklearn, limit 0.2
    (p_num, m_num, c_num), (p_den, m_den, c_den) = target.num, target.den

    def rows(n, ours, theirs):
        return [dict(problem=p_num, model=m_num, competitor=c_num, seconds=ours, n=n),
                dict(problem=p_den, model=m_den, competitor=c_den, seconds=theirs, n=n)]

    full = runner.FULL_SIZE[p_num]
    assert runner.check_targets(rows(full, 1.0, 10.0)) == [(target, 0.1, True)]
    assert runner.check_targets(rows(full, 1.0, 2.0)) == [(target, 0.5, False)]
    assert runner.check_targets(rows(10_000, 1.0, 2.0)) == [(target, 0.5, None)]
    assert runner.target_lines([(target, 0.5, False)]) == [
        f"  [MISSED] {target.what}: 0.500 (limit 0.200)"]


def test_expected_overflow_of_the_reference_is_silent(runner):
    """The least-squares epoch at m = 1000 (one step size for every m)
    diverges by design: timed by the runner, the NumPy reference's overflow
    warnings are not shown; called on its own, it does warn."""
    import warnings

    import numpy as np
    from bench import adapters
    from bench.problems import MODELS
    from bench.sweep import sweep_problems

    problem = next(p for p in sweep_problems(ns=(), ms=(1000,)) if p.kind == "binary")
    model = next(m for m in MODELS if m.name == "squared_error/epoch")
    assert runner.expects_overflow(problem, model)
    assert not any(runner.expects_overflow(problem, m) for m in MODELS
                   if m.name != "squared_error/epoch")
    small = next(p for p in sweep_problems(ns=(), ms=(100,)) if p.kind == "binary")
    assert not runner.expects_overflow(small, model)

    competitors, _ = adapters.load(["fastlin_numpy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows, _ = runner.run([problem], [model], competitors, repeats=1, log=lambda *a: None)
    assert [r["competitor"] for r in rows] == ["fastlin-numpy", "read X"]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]

    epoch = competitors["fastlin-numpy"].prepare(model, problem.data())
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn"):
        warnings.simplefilter("always")
        epoch()
    assert any(issubclass(w.category, RuntimeWarning) and "overflow" in str(w.message)
               for w in caught)


class _Recorder:
    """Stands in for matplotlib's pyplot, figures and axes: records every call."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.log.append((name, args))
            if name == "subplots":
                import numpy as np
                rows, cols = args[:2]
                axes = np.empty((rows, cols), dtype=object)
                for i in range(rows * cols):
                    axes.flat[i] = _Recorder(self.log)
                return _Recorder(self.log), axes
            if name == "get_legend_handles_labels":
                return [], []
            return None
        return call


def test_plot_panels_are_named_by_estimator(tmp_path):
    import fastlin
    from bench import plots
    from bench.problems import MODELS

    for model in MODELS:
        title = plots.panel_title(model.name)
        assert hasattr(fastlin, title.split("(")[0]), (model.name, title)
    assert plots.panel_title("softmax/epoch") == "SoftmaxRegression"
    assert plots.panel_title("softmax_cross_entropy/epoch") == "SoftmaxRegression"
    assert plots.panel_title("mlp128/epoch") == "MLPClassifier(hidden_size=128)"

    records = [dict(model=model, competitor=comp, n=n, m=100, seconds=n * 1e-6, axis="n")
               for model in ("squared_error/epoch", "softmax/epoch", "mlp128/epoch")
               for comp in ("fastlin-cython", "sklearn") for n in (1000, 10000)]
    log = []
    plt = _Recorder(log)
    plots._epoch_time_figure(plt, records, "n", "m = 100", str(tmp_path / "a.png"))
    assert plots._speedup_figure(plt, records, str(tmp_path / "b.png"))
    titles = [args[0] for name, args in log if name == "set_title"]
    assert titles == ["LinearRegression", "SoftmaxRegression",
                      "MLPClassifier(hidden_size=128)"] * 2


def test_readme_says_how_to_run_the_benchmarks():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[bench]"' in readme
    assert "python bench/run.py --quick" in readme


def test_time_to_accuracy_writes_its_section_and_plot(tmp_path, capsys, monkeypatch):
    """bench/time_to_accuracy.py at tiny sizes: every contender is fitted and
    scored, the section and the plot are written, other sections survive."""
    monkeypatch.syspath_prepend(str(ROOT))
    tta = importlib.import_module("bench.time_to_accuracy")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nHand-written notes stay.\n")
    assert tta.main(["--rows", "400", "--repeats", "1", "--sets", "iris,generated",
                     "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "## iris: n_train=120 m=4 classes=3" in out
    assert "## generated (400 rows): n_train=320 m=40 classes=2" in out
    text = results.read_text()
    assert "Hand-written notes stay." in text
    assert text.count("<!-- bench:time-to-accuracy:begin -->") == 1
    assert "python bench/time_to_accuracy.py --rows 400" in text
    table_rows = re.findall(r"^\| ((?:fastlin|sklearn) [^|]+) \| (linear|network) \| "
                            r"[^|]+ \| (\d\.\d{4}) \| (\d\.\d{4}) (reached|not reached) \|$",
                            text, flags=re.M)
    # iris: fastlin softmax + MLP and six scikit-learn fits; generated: also the logistic model
    assert len(table_rows) == 8 + 9
    for _, _, score, target, verdict in table_rows:
        assert (float(score) >= float(target)) == (verdict == "reached")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "plot skipped: matplotlib is not installed" in out
    else:
        assert (tmp_path / "time_to_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_time_to_accuracy_ratio_takes_the_fastest_that_reach(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    tta = importlib.import_module("bench.time_to_accuracy")

    def row(contender, library, seconds, reached):
        return dict(data="d", contender=contender, library=library, family="linear",
                    seconds=seconds, reached=reached)
    rows = [row("a", "fastlin", 0.5, False), row("b", "fastlin", 2.0, True),
            row("c", "sklearn", 1.0, False), row("e", "sklearn", 8.0, True),
            row("f", "sklearn", 4.0, True)]
    ours, theirs, ratio = tta.ratios(rows)[("d", "linear")]
    assert (ours["contender"], theirs["contender"], ratio) == ("b", "f", 0.5)
    assert tta.ratios(rows[:1] + rows[2:])[("d", "linear")] == (None, rows[4], None)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scipy_blas_floor_computes_the_epochs_products(runner, dtype):
    """The floor's five products, through scipy's column-major gemm on
    row-major buffers, are the products NumPy computes (checked on the last
    batch, shorter than the others)."""
    import numpy as np

    from bench.adapters import _network

    rng = np.random.default_rng(0)
    n, m, c = 300, 12, 3                      # batches of 128, 128 and 44
    data = {"X": rng.standard_normal((n, m)).astype(dtype), "c": c}
    W, _, V, _ = _network.initial_params(data)
    z, q, d, gV, gW = _network.prepare_scipy_blas_matmuls(data)()
    Xb = data["X"][256:]
    assert z.shape == (44, _network.HIDDEN)
    rtol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(z, Xb @ W, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(q, z @ V, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(d, q @ V.T, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gV, z.T @ q, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gW, Xb.T @ d, rtol=rtol, atol=rtol)


def test_thread_scaling_quick_mode_runs(runner, capsys):
    """bench/thread_scaling.py --quick at a few hundred rows, in-process:
    every workload runs with n_jobs=1 and 2 and its row is printed, with
    the held-out accuracies of the per-sample ones (nothing written, no
    timing asserted)."""
    module = importlib.import_module("bench.thread_scaling")
    assert module.main(["--quick", "--rows", "600", "--results", "/nonexistent/RESULTS.md"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (.+?) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| <= ([\d.]+) .*$", out,
                      flags=re.M)
    names = {name for name, _ in rows}
    assert len(rows) == 8 and len(names) == 8
    assert {goal for _, goal in rows} == {"0.6", "0.7", "0.75"}
    for name in names:
        if "per-sample" in name:
            assert re.search(re.escape(name) + r" \|.*\| 0\.\d{4} / [01]\.\d{4}", out), name


def test_network_alpha_quick_mode_runs(runner, capsys):
    from bench import network_alpha

    assert network_alpha.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert out.count("alpha=auto") == 2 and out.count("alpha=0.001") == 2
