"""Searches that resume: each finished fit of a FashionMLP kept in the cache of finished fits.

scikit-learn's ``GridSearchCV`` keeps nothing of a search it did not finish.
:class:`CachingFashionMLP` is a :class:`~skfashion.FashionMLP` whose ``fit``
looks for its result in a :class:`~skfashion._cache.ResultCache` first and
keeps it there when it trained: the whole fitted classifier (the network as
the bytes of a ``.keras`` file, its fitted attributes and random streams),
under a key of its parameters, seed and training data. A search run again
after Ctrl-C, a crash or a lost cluster therefore trains only the fits that
had not finished, and scikit-learn scores the restored networks exactly as
it scored the trained ones: ``cv_results_`` equal an uninterrupted run's in
every column but the timings.

The fits look up and write the cache where they run: on a Dask cluster, on
the workers, so a cluster of several machines needs a folder they all share.
"""

import contextlib
import inspect
import os
import warnings

import numpy as np

from ._cache import fitted_state, open_cache, restore_fitted_state, search_fit_key
from ._estimator import FashionMLP


def _with_cache_parameter(signature):
    cache = inspect.Parameter("cache", inspect.Parameter.KEYWORD_ONLY, default=None)
    return signature.replace(parameters=[*signature.parameters.values(), cache])


class CachingFashionMLP(FashionMLP):
    """A FashionMLP whose fits are kept in, and taken from, a cache folder.

    Parameters
    ----------
    cache : str or os.PathLike, default=None
        The folder of the :class:`~skfashion._cache.ResultCache`; None keeps
        nothing (then it is a plain FashionMLP, but for Ctrl-C, see below).
    **params
        The parameters of :class:`~skfashion.FashionMLP`, unchanged.

    Notes
    -----
    A fit is taken from the cache or kept there only when it can be repeated
    exactly: ``random_state`` an int, ``X`` an array of numbers (a DataFrame's
    column names are part of the key), no ``validation_data``, no
    ``on_epoch_end``, and not a warm continuation. Ctrl-C during a fit ends
    the fit with :class:`KeyboardInterrupt` (a plain FashionMLP keeps the
    epochs done and returns), so that a search stops and keeps no
    half-trained fit.

    Examples
    --------
    >>> import tempfile
    >>> from skfashion import fetch_fashion_mnist
    >>> from skfashion._search_cache import CachingFashionMLP
    >>> X, y = fetch_fashion_mnist(return_X_y=True)
    >>> folder = tempfile.mkdtemp()
    >>> first = CachingFashionMLP(hidden_layer_sizes=(8,), epochs=1, random_state=0,
    ...                           cache=folder).fit(X[:300], y[:300])
    >>> again = CachingFashionMLP(hidden_layer_sizes=(8,), epochs=1, random_state=0,
    ...                           cache=folder).fit(X[:300], y[:300])  # from the cache
    >>> bool((again.predict_proba(X[:5]) == first.predict_proba(X[:5])).all())
    True
    """

    _parameter_constraints = {
        **FashionMLP._parameter_constraints,
        "cache": [str, os.PathLike, None],
    }

    def __init__(self, *, cache=None, **params):
        super().__init__(**params)
        self.cache = cache

    # scikit-learn reads the parameters off the signature of __init__: FashionMLP's and cache.
    __init__.__signature__ = _with_cache_parameter(inspect.signature(FashionMLP.__init__))

    def _validate_params(self):
        from sklearn.utils._param_validation import validate_parameter_constraints

        # Messages name the class the user knows: "The 'dropout' parameter of FashionMLP ...".
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), caller_name="FashionMLP"
        )

    def fit(self, X, y, sample_weight=None, *, validation_data=None, on_epoch_end=None):
        """Take the fit from the cache, or train as :meth:`FashionMLP.fit` does and keep it.

        Raises
        ------
        KeyboardInterrupt
            After Ctrl-C during training (nothing is kept).
        """
        self._validate_params()
        cache = open_cache(self.cache)
        key = None
        if cache is not None and self._repeatable(validation_data, on_epoch_end):
            key = search_fit_key(self, X, y, sample_weight)
            found = cache.get(key) if key is not None else None
            if found is not None:
                return restore_fitted_state(self, found)
        before = dict(vars(self))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Training interrupted")
            super().fit(
                X, y, sample_weight, validation_data=validation_data, on_epoch_end=on_epoch_end
            )
        if self.interrupted_:
            raise KeyboardInterrupt
        if key is not None:
            self._keep(cache, key, before)
        return self

    def _keep(self, cache, key, before):
        try:
            results = fitted_state(self, before)
        except TypeError as exc:  # something a later version set that JSON cannot hold
            warnings.warn(f"This fit is not kept in the cache: {exc}.", UserWarning, stacklevel=3)
            return
        cache.put(key, results)

    def _repeatable(self, validation_data, on_epoch_end):
        continuing = self.warm_start and self.__sklearn_is_fitted__()
        return validation_data is None and on_epoch_end is None and not continuing


def search_keys(search, X, y):
    """The cache key of every fit of the grid search ``search`` on ``X, y``, in its order.

    None for fits that cannot be cached. ``search`` is an unfitted
    ``GridSearchCV`` of a :class:`CachingFashionMLP` whose folds are
    ``search.cv``.
    """
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import ParameterGrid, check_cv

    folds = list(check_cv(search.cv, y, classifier=is_classifier(search.estimator)).split(X, y))
    X, y = np.asarray(X), np.asarray(y)
    keys = []
    for params in ParameterGrid(search.param_grid):
        estimator = clone(search.estimator).set_params(**params)
        keys += [search_fit_key(estimator, X[train], y[train]) for train, _ in folds]
    return keys


def n_kept(cache, keys):
    """How many of the fits of ``keys`` have an entry in ``cache`` (checked when read)."""
    return sum(key is not None and cache.path(key).is_file() for key in keys)


@contextlib.contextmanager
def naming_what_is_kept(cache, keys):
    """A lost Dask cluster's error says how many fits of the search the cache keeps."""
    from ._parallel import ClusterLostError

    try:
        yield
    except ClusterLostError as exc:
        kept = (
            f"{exc.n_finished} fit(s) of this search had finished; the cache {cache.folder} "
            f"keeps {n_kept(cache, keys)} of its {len(keys)} fits: run the search again to "
            "train only the others."
        )
        raise ClusterLostError(
            exc.what, address=exc.address, n_finished=exc.n_finished, kept=kept
        ) from exc


__all__ = ["CachingFashionMLP", "n_kept", "naming_what_is_kept", "search_keys"]
