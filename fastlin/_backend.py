"""Backend name -> the modules that train the models.

``"numpy"`` is the pure-NumPy reference (``fastlin.reference``); ``"cython"``
the compiled kernels (``fastlin._linear_fast``, ``fastlin._mlp_fast``), which
have the same functions with the same signatures. The compiled modules are
imported on first use, so that the reference works even where the extensions
are not built.
"""
import importlib

#: backend -> {model kind -> module}
MODULES = {
    "cython": {"linear": "fastlin._linear_fast", "network": "fastlin._mlp_fast"},
    "numpy": {"linear": "fastlin.reference.linear", "network": "fastlin.reference.network"},
}
BACKENDS = tuple(MODULES)


def get_backend(name, kind):
    """The module implementing ``kind`` ("linear" or "network") for ``name``."""
    if not isinstance(name, str) or name not in MODULES:
        raise ValueError(f"unknown backend {name!r}; expected one of {list(BACKENDS)}.")
    module = MODULES[name][kind]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if name != "cython":
            raise
        raise ImportError(
            f"backend='cython' needs the compiled extension {module}, which cannot be "
            f"imported ({exc}). Build it with `pip install -e .` (or `python setup.py "
            "build_ext --inplace`), or pass backend='numpy' to use the pure-NumPy "
            "reference.") from exc
