"""The one seed derivation of a fit: every random choice comes from one named stream."""

from numbers import Integral

import numpy as np

STREAMS = ("validation_split", "initializers", "dropout", "augmentation", "batch_order")
"""The independent random streams of a fit, in the order they are spawned."""


def fit_seed(random_state):
    """The one integer seed of a fit, from a ``random_state`` parameter.

    An int is used as it is; a ``RandomState`` instance gives one draw (so it
    advances, and two fits with the same instance differ); None draws fresh
    entropy from the operating system.

    Examples
    --------
    >>> fit_seed(7)
    7
    """
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return int(random_state.randint(np.iinfo(np.int32).max))


class Seeds:
    """Seeds for every random part of a fit, derived from one integer.

    ``numpy.random.SeedSequence(seed).spawn`` gives one independent child per
    name in :data:`STREAMS`, in that order:

    - ``validation_split``: the stratified hold-out of ``validation_fraction``;
    - ``initializers``: one seed per Dense layer's kernel initialiser;
    - ``dropout``: one seed per Dropout layer;
    - ``augmentation``: the seed of the one augmentation layer (flip, shift, rotation
      and zoom drawn together);
    - ``batch_order``: the generator that shuffles the batches of every epoch.

    Per-layer seeds are the child's ``generate_state`` words (32-bit
    integers), so adding a layer never changes the seeds of the layers before
    it, and no stream's values depend on another's.

    Parameters
    ----------
    seed : int
        The fit's seed (see :func:`fit_seed`).

    Examples
    --------
    >>> seeds = Seeds(0)
    >>> seeds.layer_seeds("dropout", 2) == Seeds(0).layer_seeds("dropout", 2)
    True
    >>> seeds.layer_seeds("dropout", 1) == seeds.layer_seeds("initializers", 1)
    False
    """

    def __init__(self, seed):
        self.seed = int(seed)
        children = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self._streams = dict(zip(STREAMS, children, strict=True))

    def layer_seeds(self, stream, n):
        """``n`` integer seeds (one per layer) from the named stream."""
        return [int(word) for word in self._streams[stream].generate_state(n)]

    def split_seed(self):
        """The integer ``random_state`` of the validation split."""
        return self.layer_seeds("validation_split", 1)[0]

    def batch_order(self):
        """A fresh generator of the batch order, at the start of its stream."""
        return np.random.default_rng(self._streams["batch_order"])
