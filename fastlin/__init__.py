"""fastlin: linear models and a one-hidden-layer network with Cython training loops."""
__version__ = "0.1.0"
