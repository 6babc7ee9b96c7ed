"""Backend name -> the modules that train the models.

``"numpy"`` is the pure-NumPy reference (``fastlin.reference``); ``"cython"``
the compiled kernels (``fastlin._linear_fast``, ``fastlin._mlp_fast``), which
have the same functions with the same signatures. The compiled modules are
imported on first use, so that the reference works even where the extensions
are not built.

A sparse X (a scipy CSR matrix or array) has its own compiled linear module,
``fastlin._sparse_fast``, with the same functions again: ``get_backend(name,
kind, sparse=True)`` picks it. The network's kernel ``fastlin._mlp_fast``
takes CSR rows itself. The reference's modules take CSR input as they are
(scipy's sparse products).
"""
import importlib

#: backend -> {model kind -> module}
MODULES = {
    "cython": {"linear": "fastlin._linear_fast", "network": "fastlin._mlp_fast"},
    "numpy": {"linear": "fastlin.reference.linear", "network": "fastlin.reference.network"},
}
BACKENDS = tuple(MODULES)

#: backend -> {model kind -> module} for a sparse (CSR) X; None: not available
SPARSE_MODULES = {
    "cython": {"linear": "fastlin._sparse_fast", "network": "fastlin._mlp_fast"},
    "numpy": MODULES["numpy"],
}


def has_sparse(name, kind):
    """True when backend ``name`` trains model ``kind`` on a sparse X."""
    return SPARSE_MODULES.get(name, {}).get(kind) is not None


def get_backend(name, kind, sparse=False):
    """The module implementing ``kind`` ("linear" or "network") for ``name``,
    for a dense X or, with ``sparse=True``, for a CSR X."""
    if not isinstance(name, str) or name not in MODULES:
        raise ValueError(f"unknown backend {name!r}; expected one of {list(BACKENDS)}.")
    module = (SPARSE_MODULES if sparse else MODULES)[name][kind]
    if module is None:
        raise ValueError(
            f"backend={name!r} has no {kind} kernel for sparse X; pass backend='numpy' "
            "(the NumPy reference, which trains on scipy.sparse input) or a dense X.")
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
