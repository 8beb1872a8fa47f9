"""skfashion: Fashion-MNIST with Keras MLPs as scikit-learn classifiers.

Heavy dependencies load on first use: ``import skfashion`` is quick, TensorFlow
is imported when :class:`FashionMLP` is first touched, matplotlib when
something is drawn.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> private module that defines it
_LAZY = {
    "fetch_fashion_mnist": "._datasets",
    "CLASS_NAMES": "._datasets",
    "verify_fashion_mnist": "._datasets",
    "DataNotFoundError": "._datasets",
    "DataIntegrityError": "._datasets",
    "FashionMLP": "._estimator",
    "compute_backend": "._parallel",
    "PRESETS": "._network",
    "RECIPES": "._estimator",
    "build_network": "._network",
    "report": ".report",
    "study": ".study",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'skfashion' has no attribute {name!r}")
    module = import_module(_LAZY[name], __name__)
    value = module if name in ("report", "study") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
