"""The documentation cannot rot: the README's Python snippets run, its
set-up commands are the agreed ones, and every ``file:function`` that
docs/formulas.md names exists."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FORMULAS = (ROOT / "docs" / "formulas.md").read_text()


def test_readme_python_blocks_run(capsys):
    """Every ```python block, in order, in one namespace (as a reader would
    paste them one after the other); their asserts must hold."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 4
    namespace = {"__name__": "__readme__"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {k + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "(10, 64) (10,)" in out


def test_readme_setup_commands():
    assert "    pip install -e . && python -m fastlin\n" in README
    assert '    pip install -e ".[test]" && pytest\n' in README


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target


def _anchors(markdown):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces -> '-'."""
    anchors = set()
    for heading in re.findall(r"^#+ (.*)$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_readme_links_to_formula_sections_resolve():
    anchors = _anchors(FORMULAS)
    links = re.findall(r"\(docs/formulas\.md#([^)]+)\)", README)
    assert len(links) == 7
    for anchor in links:
        assert anchor in anchors, anchor


REFERENCE = re.compile(r"`(fastlin/[\w/]+\.(?:py|pyx|pxd|h)):(\w+)`")


def _defines(text, name):
    """True when ``text`` defines ``name``: a def/cdef/class, a C function or
    macro, or a struct/enum."""
    patterns = [
        rf"^#define\s+{name}\(",
        rf"^\s*(?:async\s+)?def\s+{name}\s*\(",
        rf"^\s*cp?def\b[^\n(]*\b{name}\s*\(",
        rf"^\s*class\s+{name}\b",
        rf"^\s*cdef\s+(?:struct|enum)\s+{name}\b",
        rf"^[^\n]*static[^\n(]*\b{name}\s*\(",
    ]
    return any(re.search(p, text, flags=re.M) for p in patterns)


@pytest.mark.parametrize("path, name", sorted(set(REFERENCE.findall(FORMULAS))))
def test_formulas_page_names_real_functions(path, name):
    source = ROOT / path
    assert source.exists(), path
    assert _defines(source.read_text(), name), f"{path} does not define {name}"


def test_formulas_page_covers_every_model():
    for heading in ("## 1. Linear regression", "## 2. Logistic regression, squared loss",
                    "## 3. Logistic regression, cross-entropy", "## 4. Perceptron",
                    "## 5. Multi-class perceptron", "## 6. Softmax regression",
                    "## 7. One-hidden-layer network"):
        assert heading in FORMULAS
    assert len(REFERENCE.findall(FORMULAS)) > 50


MATH = (ROOT / "docs" / "math.md").read_text()


def test_math_page_covers_every_model_and_readme_links_resolve():
    """docs/math.md keeps one numbered section per model, in the order the
    docstrings' § references assume, and the README's links into it land on
    real headings."""
    headings = ["## 1. Linear regression", "## 2. Logistic regression, squared loss",
                "## 3. Logistic regression, cross-entropy", "## 4. Perceptron",
                "## 5. Multi-class perceptron", "## 6. Softmax regression",
                "## 7. One-hidden-layer network"]
    positions = [MATH.find(h + "\n") for h in headings]
    assert all(p >= 0 for p in positions), positions
    assert positions == sorted(positions)
    anchors = _anchors(MATH)
    links = re.findall(r"\(docs/math\.md#([^)]+)\)", README)
    assert len(links) >= 7
    for anchor in links:
        assert anchor in anchors, anchor
