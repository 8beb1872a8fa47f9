"""Markdown directives that show a file's content only once that file exists.

Some pages show what other work produces later: the study's figures in
``study/``, the benchmark results in ``../benchmarks/results/``, pages written
separately. A MyST directive block with the option ``:optional:`` is kept when
its file exists and replaced by a short note (or by nothing) when it does not,
so the documentation builds without warnings either way::

    ```{figure} study/size_comparison.png
    :optional:
    :alt: Training and validation curves of smaller, baseline and bigger

    The caption.
    ```

The file is the directive's argument, or its ``:file:`` option (``csv-table``);
``:if-exists: path`` names it for any other directive (such as ``note``) and
makes the block optional by itself.
In a ``toctree`` block, ``:optional:`` applies to each entry: entries whose
document does not exist are dropped, and the whole block when none is left.
``:missing:`` sets the note shown in place of a missing file (``{path}`` is
replaced by the file's path; ``none`` shows nothing); by default the note of
``optional_content_missing`` for the page's language (``ja/`` pages: "ja").

Blocks are rewritten when Sphinx reads the source (``source-read``), before
MyST parses it; pages with optional blocks are read again on every build, so
a file that appeared since the last build shows up.
"""

import re
from pathlib import Path

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}(?P<argument>.*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):(?:\s+(?P<value>.*))?$")
_MARKER = re.compile(r"^:(?:optional:\s*|if-exists:.*)$", re.MULTILINE)
_OWN_OPTIONS = ("optional", "if-exists", "missing")

DEFAULT_MISSING = {
    "en": "Not generated yet: `{path}` appears here once it exists.",
    "ja": "まだ生成されていません。`{path}` ができるとここに表示されます。",
}
NOTE_TITLES = {"en": "Note", "ja": "注"}


def _split_block(lines, start):
    """Return (match, options, body, end) of the block opening at ``start``; None if unclosed."""
    match = _FENCE.match(lines[start])
    fence = match["fence"]
    end = start + 1
    while end < len(lines) and lines[end].rstrip() != fence:
        end += 1
    if end == len(lines):
        return None
    inner = lines[start + 1 : end]
    options = []
    while inner and _OPTION.match(inner[0]):
        options.append(inner.pop(0))
    return match, options, inner, end


def _option_values(options):
    return {m["key"]: (m["value"] or "").strip() for m in map(_OPTION.match, options)}


def _exists_as_document(entry, folder, suffixes):
    entry = entry.strip()
    if "<" in entry and entry.endswith(">"):  # "Title <docname>"
        entry = entry[entry.rindex("<") + 1 : -1]
    return any((folder / f"{entry}{suffix}").is_file() for suffix in suffixes)


def _resolve(path, folder, srcdir):
    return (srcdir / path.lstrip("/")) if path.startswith("/") else (folder / path)


def rewrite(text, *, folder, srcdir, language="en", missing=None, suffixes=(".md", ".rst")):
    """Rewrite the ``:optional:`` directive blocks of a MyST source text.

    Parameters
    ----------
    text : str
        The page's Markdown source.
    folder : path-like
        The folder of the page: relative paths are resolved from it.
    srcdir : path-like
        The documentation's source folder: paths starting with ``/`` are
        resolved from it, as Sphinx does.
    language : {"en", "ja"}, default="en"
        Language of the default note for a missing file.
    missing : dict of str to str, default=None
        Default notes by language; :data:`DEFAULT_MISSING` when None.
    suffixes : tuple of str, default=(".md", ".rst")
        Source suffixes of toctree documents.

    Returns
    -------
    text : str
        The source with each optional block kept (without its ``:optional:``,
        ``:if-exists:`` and ``:missing:`` options), reduced or replaced by a note.
    """
    if not _MARKER.search(text):
        return text
    context = {
        "folder": Path(folder),
        "srcdir": Path(srcdir),
        "note": {**DEFAULT_MISSING, **(missing or {})}.get(language, DEFAULT_MISSING["en"]),
        "title": NOTE_TITLES.get(language, NOTE_TITLES["en"]),
        "suffixes": suffixes,
    }
    return "\n".join(_rewrite_lines(text.split("\n"), context))


def _rewrite_lines(lines, context):
    out, i = [], 0
    while i < len(lines):
        block = _split_block(lines, i) if _FENCE.match(lines[i]) else None
        if block is None:
            out.append(lines[i])
            i += 1
            continue
        match, options, body, end = block
        out.extend(_rewrite_block(lines[i], match, options, body, lines[end], context))
        i = end + 1
    return out


def _rewrite_block(header, match, options, body, closing, context):
    values = _option_values(options)
    if "optional" not in values and "if-exists" not in values:
        return [header, *options, *_rewrite_lines(body, context), closing]
    kept = [option for option in options if _OPTION.match(option)["key"] not in _OWN_OPTIONS]
    if match["name"] == "toctree":
        entries = [
            line
            for line in body
            if not line.strip() or _exists_as_document(line, context["folder"], context["suffixes"])
        ]
        return [header, *kept, *entries, closing] if any(map(str.strip, entries)) else []
    path = values.get("if-exists") or values.get("file") or match["argument"].strip()
    if _resolve(path, context["folder"], context["srcdir"]).is_file():
        return [header, *kept, *_rewrite_lines(body, context), closing]
    note = values.get("missing") or context["note"]
    if note.lower() == "none":
        return []
    fence = match["fence"]
    title = context["title"]
    return [
        f"{fence}{{admonition}} {title}",
        ":class: note",
        "",
        note.replace("{path}", path),
        fence,
    ]


def _page_language(docname):
    return "ja" if docname.split("/", 1)[0] == "ja" else "en"


def _on_source_read(app, docname, source):
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".md":
        return
    source[0] = rewrite(
        source[0],
        folder=path.parent,
        srcdir=Path(app.srcdir),
        language=_page_language(docname),
        missing=app.config.optional_content_missing,
    )


def _on_env_get_outdated(app, env, added, changed, removed):
    """Read pages with optional blocks again: the files they wait for may have appeared."""
    pages = []
    for docname in env.found_docs - added - changed:
        path = Path(env.doc2path(docname))
        if path.suffix == ".md" and _MARKER.search(path.read_text(encoding="utf-8")):
            pages.append(docname)
    return pages


def setup(app):
    app.add_config_value("optional_content_missing", None, "env", types=[dict, type(None)])
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _on_env_get_outdated)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
