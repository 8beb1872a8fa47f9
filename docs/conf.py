"""Sphinx configuration of the skfashion documentation.

Builds offline: no intersphinx, no remote images, no theme option that fetches
anything. Pages that other work produces later (the study report and its
figures in ``study/``, the benchmark results, ``dask.md``, ``accuracy.md``)
appear when their files exist and are left out quietly when they do not; see
``_ext/optional_content.py``.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (the test
``tests/test_docs.py`` builds with ``-W --keep-going``).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import skfashion  # noqa: E402

project = "skfashion"
author = "skfashion developers"
copyright = "skfashion developers"  # noqa: A001
release = skfashion.__version__
version = ".".join(release.split(".")[:2])
language = "en"

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "optional_content",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path = []

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# -- autodoc and numpydoc ------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types
# numpydoc would list every method and attribute of FashionMLP's scikeras base
# class (dozens of undocumented scikeras internals) in an autosummary table;
# api.rst names the members worth reading instead.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skfashion {release}"
html_show_sourcelink = False
html_theme_options = {
    # Everything the theme shows is local: no icon links, version switcher,
    # analytics or announcement fetched from elsewhere.
    "icon_links": [],
    "navbar_end": ["theme-switcher"],
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
