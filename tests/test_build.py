"""The compiled kernels are built as their build mode says: the release build
runs without Cython's bounds checks (the kernels' speed depends on it), the
debug build (FASTLIN_CYTHON_DEBUG=1, see setup.py) with them."""
import pytest

from fastlin import _linear_fast, _mlp_fast, _sparse_fast

KERNELS = [_linear_fast, _mlp_fast, _sparse_fast]


@pytest.mark.parametrize("module", KERNELS, ids=lambda m: m.__name__)
def test_bounds_checks_follow_the_build_mode(module):
    assert module._bounds_checked() is module._DEBUG_BUILD


def test_every_kernel_comes_from_one_build_mode():
    """The modules come from one build: the same mode."""
    assert len({module._DEBUG_BUILD for module in KERNELS}) == 1
