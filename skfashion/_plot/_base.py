"""What every skfashion Display shares: label words, the Japanese font, saving."""

import os
from pathlib import Path

from .. import _i18n
from .._files import atomic_write

# Families that hold Japanese glyphs, most common on Linux first
# (Debian: fonts-noto-cjk, fonts-ipaexfont-gothic, fonts-ipafont-gothic).
JAPANESE_FONT_FAMILIES = (
    "Noto Sans CJK JP",
    "IPAexGothic",
    "IPAGothic",
    "IPAPGothic",
    "Noto Sans JP",
    "Source Han Sans JP",
    "TakaoGothic",
    "VL Gothic",
    "Hiragino Sans",
    "Yu Gothic",
    "Meiryo",
    "MS Gothic",
)


# Their files, to find fonts installed after matplotlib cached its font list.
JAPANESE_FONT_FILES = (
    "NotoSansCJK-Regular.ttc",
    "ipaexg.ttf",
    "ipag.ttf",
    "ipagp.ttf",
    "NotoSansJP-Regular.otf",
    "TakaoGothic.ttf",
    "VL-Gothic-Regular.ttf",
)


def japanese_font_family():
    """Name of an installed font family with Japanese glyphs, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    family = next((name for name in JAPANESE_FONT_FAMILIES if name in installed), None)
    if family is not None:
        return family
    for path in font_manager.findSystemFonts():
        if os.path.basename(path) in JAPANESE_FONT_FILES:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def text_style(lang):
    """Label words (the ``[plot]`` catalog section) and font keywords for ``lang``.

    Japanese labels need a font with Japanese glyphs; without one, matplotlib
    would draw empty boxes and warn for every glyph, so the English words are
    used instead.

    Returns
    -------
    words : dict of str to str
    font : dict
        Keywords for ``Axes.set_xlabel`` and friends (``{"fontfamily": ...}``
        or empty).
    """
    check_option("lang", lang, _i18n.LANGUAGES)
    if lang == "ja":
        family = japanese_font_family()
        if family is not None:
            return _words(lang), {"fontfamily": family}
        lang = _i18n.DEFAULT_LANGUAGE
    return _words(lang), {}


def _words(lang):
    return dict(_i18n.words(lang, "plot"))


def legend_prop(font):
    """``Axes.legend(prop=...)`` for the font keywords of :func:`text_style`."""
    return {"family": font["fontfamily"]} if font else None


def check_option(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")


class SaveMixin:
    """``save`` for Displays whose ``plot`` sets ``figure_``."""

    def save(self, path, *, dpi=100, **savefig_kw):
        """Write the drawn figure to ``path`` atomically.

        The figure is written to a temporary file next to ``path`` and moved
        into place, so a reader never sees a half-written image.

        Parameters
        ----------
        path : str or path-like
            Destination; its suffix (``.png``, ``.svg``, ``.pdf``) chooses the
            format, PNG when it has none.
        dpi : float, default=100
            Resolution in dots per inch.
        **savefig_kw : dict
            Further keywords for :meth:`matplotlib.figure.Figure.savefig`.

        Returns
        -------
        path : pathlib.Path
            The written file.
        """
        figure = getattr(self, "figure_", None)
        if figure is None:
            raise ValueError(f"Nothing drawn yet: call {type(self).__name__}.plot() first.")
        path = Path(path)
        fmt = path.suffix[1:].lower() or "png"
        with atomic_write(path, "wb") as file:
            figure.savefig(file, format=fmt, dpi=dpi, **savefig_kw)
        return path
