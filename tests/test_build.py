"""The compiled kernels are built as their build mode says: the release build
runs without Cython's bounds checks (the kernels' speed depends on it), the
debug build (FASTLIN_CYTHON_DEBUG=1, see setup.py) with them."""
import pytest

from fastlin import _linear_fast, _mlp_fast


@pytest.mark.parametrize("module", [_linear_fast, _mlp_fast], ids=lambda m: m.__name__)
def test_bounds_checks_follow_the_build_mode(module):
    assert module._bounds_checked() is module._DEBUG_BUILD


def test_both_kernels_come_from_one_build_mode():
    """Both modules come from one build: the same mode."""
    assert _linear_fast._DEBUG_BUILD is _mlp_fast._DEBUG_BUILD
