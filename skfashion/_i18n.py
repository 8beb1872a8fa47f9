"""The words skfashion shows people, one catalog file per language.

Each language is one TOML file in ``skfashion/_locales/`` (``en.toml``,
``ja.toml``…): adding a language means adding one file with the same keys as
``en.toml``. Keys are dotted paths (``"diagnosis.verdict.overfitting"``) and
values are :meth:`str.format` templates filled from data, never copies of it.
"""

import functools
import tomllib
from importlib import resources

DEFAULT_LANGUAGE = "en"


def _catalog_files():
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in resources.files("skfashion").joinpath("_locales").iterdir()
        if entry.name.endswith(".toml")
    }


LANGUAGES = tuple(
    sorted(_catalog_files(), key=lambda language: (language != DEFAULT_LANGUAGE, language))
)
"""Every language with a catalog, English first."""


def check_language(language):
    """Return ``language`` if it has a catalog, else raise a ValueError naming the choices."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {list(LANGUAGES)}, got {language!r}.")
    return language


@functools.cache
def catalog(language):
    """The whole catalog of ``language`` as a nested dict (read once)."""
    check_language(language)
    with _catalog_files()[language].open("rb") as file:
        return tomllib.load(file)


def words(language, key):
    """The raw entry under a dotted ``key`` (a string, list or table)."""
    node = catalog(language)
    for part in key.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError):
            raise KeyError(f"The {language!r} catalog has no entry {key!r}.") from None
    return node


def text(language, key, /, **fields):
    """The sentence under ``key`` in ``language``, filled with ``fields``."""
    return words(language, key).format(**fields)
