"""Language catalogs: every language has the same entries and fills at least English's fields."""

import string

import pytest

from skfashion import _i18n


def _entries(node, prefix=""):
    """Dotted key -> the {fields} of its template (lists and tables walked)."""
    if isinstance(node, dict):
        entries = {}
        for key, value in node.items():
            entries.update(_entries(value, f"{prefix}{key}."))
        return entries
    if isinstance(node, list):
        return {f"{prefix}{i}": _fields(item) for i, item in enumerate(node)}
    return {prefix.rstrip("."): _fields(node)}


def _fields(value):
    if not isinstance(value, str):
        return type(value).__name__
    return sorted({name for _, name, _, _ in string.Formatter().parse(value) if name})


def test_english_comes_first_and_every_catalog_is_a_language():
    assert _i18n.LANGUAGES[0] == _i18n.DEFAULT_LANGUAGE
    assert {"en", "ja"} <= set(_i18n.LANGUAGES)


@pytest.mark.parametrize("language", _i18n.LANGUAGES[1:])
def test_catalogs_have_the_same_keys_and_fields_as_english(language):
    english = _entries(_i18n.catalog(_i18n.DEFAULT_LANGUAGE))
    other = _entries(_i18n.catalog(language))
    assert sorted(other) == sorted(english)
    # A translation shows at least what English shows; a field it adds (the English class name
    # beside the Japanese one) must be one the code passes, which rendering every language checks.
    differing = [
        key
        for key in english
        if isinstance(english[key], str) != isinstance(other[key], str)
        or (isinstance(english[key], str) and english[key] != other[key])
        or (isinstance(english[key], list) and not set(english[key]) <= set(other[key]))
    ]
    assert not differing, differing


def test_unknown_language_and_key_name_the_choices():
    with pytest.raises(ValueError, match=r"one of \['en'.*got 'xx'"):
        _i18n.text("xx", "plot.epoch")
    with pytest.raises(KeyError, match="plot.nothing"):
        _i18n.words("en", "plot.nothing")
    assert _i18n.text("ja", "plot.epoch") != _i18n.text("en", "plot.epoch")
