"""The documentation: it builds offline without warnings, documents the public API, and its
code runs against the real API on real data, in English and in Japanese alike."""

import ast
import html
import importlib.util
import inspect
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import skfashion
from skfashion import _i18n, report

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 300
WALKTHROUGHS = {"en": DOCS / "walkthrough.md", "ja": DOCS / "ja" / "walkthrough.md"}
ACCURACY_RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"


def _build(source, out):
    """Build the HTML documentation as the test command of the docs does; return the process."""
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    return subprocess.run(
        [*command, str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    return _build(DOCS, out), out


def _page(built, name):
    process, out = built
    assert process.returncode == 0, f"the docs build failed:\n{process.stderr}"
    return (out / name).read_text(encoding="utf-8")


def _text(page):
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _section(page, anchor, next_anchor):
    start = page.index(f'id="{anchor}"')
    return page[start : page.index(f'id="{next_anchor}"', start)]


def _python_blocks(path):
    """The ```python blocks of a page: the code a reader runs (```{code-block} is illustration)."""
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(encoding="utf-8"), re.M | re.S)


def _load_optional_content():
    spec = importlib.util.spec_from_file_location(
        "optional_content", DOCS / "_ext" / "optional_content.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------ the build
@pytest.mark.slow  # the Sphinx build
def test_docs_build_without_warnings(built):
    process, out = built
    assert process.returncode == 0, f"sphinx -W failed:\n{process.stderr}"
    assert process.stderr.strip() == ""
    for page in ("index", "quickstart", "walkthrough", "ja/walkthrough", "api", "benchmarks"):
        assert (out / f"{page}.html").is_file(), page


@pytest.mark.slow  # the Sphinx build
def test_api_page_documents_fashionmlp_parameters(built):
    page = _page(built, "api.html")
    section = _section(page, "skfashion.FashionMLP", "skfashion.PRESETS")
    params = skfashion.FashionMLP().get_params()
    documented = set(re.findall(r"<strong>(\w+)</strong>", section))
    assert set(params) <= documented, set(params) - documented
    for attribute in ("model_", "classes_", "history_", "n_iter_", "best_epoch_", "fit_time_"):
        assert f"<strong>{attribute}</strong>" in section, attribute
    for method in ("fit", "predict_proba", "predict", "score"):
        assert f'id="skfashion.FashionMLP.{method}"' in section, method


@pytest.mark.slow  # the Sphinx build
@pytest.mark.parametrize(
    "module, skipped",
    [(skfashion, {"report", "study", "__version__"}), (report, set()), (skfashion.study, set())],
    ids=["skfashion", "report", "study"],
)
def test_api_page_documents_every_public_name(built, module, skipped):
    page = _page(built, "api.html")
    missing = [
        name
        for name in module.__all__
        if name not in skipped and f'id="{module.__name__}.{name}"' not in page
    ]
    assert not missing, f"{module.__name__} names not in docs/api.rst: {missing}"


@pytest.mark.slow  # the Sphinx build
def test_api_page_states_the_presets_and_class_names_of_the_code(built):
    text = _text(_page(built, "api.html"))
    rows = re.findall(r'"(\w+)"\s+(\((?:\d+, )*\d+,?\))', text)
    presets = {name: ast.literal_eval(units) for name, units in rows}
    presets = {name: units for name, units in presets.items() if isinstance(units, tuple)}
    assert presets == dict(skfashion.PRESETS)
    listed = re.findall(r'"([^"]+)" \((\d)\)', text)
    assert [name for name, _ in listed] == list(skfashion.CLASS_NAMES)
    assert [int(label) for _, label in listed] == list(range(10))


@pytest.mark.slow  # the Sphinx build
def test_japanese_walkthrough_is_built_with_the_courses_terms(built):
    """The page names things as the Japanese figures do: one word for one thing."""
    japanese = _page(built, "ja/walkthrough.html")
    english = _page(built, "walkthrough.html")
    text = _text(japanese)
    for key in ("epoch", "loss", "accuracy", "Training", "Validation"):
        assert _i18n.text("ja", f"plot.{key}") in text, key
    # the same sections, in both languages
    assert japanese.count("<section") == english.count("<section") >= 10
    assert "ja/walkthrough.html" in _page(built, "index.html")


@pytest.mark.slow  # the Sphinx build
def test_missing_study_figures_leave_a_note_not_a_broken_image(built):
    page = _page(built, "walkthrough.html")
    figures = re.findall(r"^```\{figure\} (\S+)", WALKTHROUGHS["en"].read_text(), re.M)
    assert len(figures) >= 5
    for figure in figures:
        name = Path(figure).name
        if (DOCS / figure).is_file():
            assert re.search(rf'<img [^>]*src="_images/{re.escape(name)}"', page), name
        else:
            assert f"{figure}</span></code> appears here once it exists" in page, name


def test_study_figures_are_the_files_run_study_writes():
    from skfashion._study_report import FILES

    written = {name for name in FILES.values() if name.endswith(".png")}
    for path in WALKTHROUGHS.values():
        figures = re.findall(r"^```\{figure\} (?:\.\./)?study/(\S+)", path.read_text(), re.M)
        assert set(figures) == written, path


# ------------------------------------------------------------------------------ the pages' code
def test_walkthrough_runs_the_same_code_in_both_languages():
    """Comments differ, code does not: the ASTs of the ```python blocks are identical."""
    english, japanese = (_python_blocks(path) for path in WALKTHROUGHS.values())
    assert len(english) == len(japanese) >= 10
    for en, ja in zip(english, japanese, strict=True):
        ja = re.sub(r'^LANG = "\w+"', 'LANG = "en"', ja, flags=re.M)  # the parameters cell
        assert ast.dump(ast.parse(en)) == ast.dump(ast.parse(ja)), en


class _ApiUse(ast.NodeVisitor):
    """Names and keywords a page's code uses from skfashion."""

    def __init__(self):
        self.imports, self.chains, self.keywords = [], [], []

    def visit_ImportFrom(self, node):
        if node.module and node.module.startswith("skfashion"):
            self.imports += [(node.module, alias.name) for alias in node.names]

    def visit_Attribute(self, node):
        chain, value = [node.attr], node.value
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in ("report", "skfashion"):
            self.chains.append((value.id, chain))
        else:
            self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "FashionMLP":
            self.keywords += [k.arg for k in node.keywords if k.arg]
        self.generic_visit(node)


@pytest.mark.parametrize(
    "path",
    [DOCS / "index.md", DOCS / "quickstart.md", *WALKTHROUGHS.values()],
    ids=lambda path: str(path.relative_to(DOCS)),
)
def test_page_code_uses_the_real_api(path):
    use = _ApiUse()
    blocks = _python_blocks(path)
    assert blocks
    for code in blocks:
        use.visit(ast.parse(code))
    for module, name in use.imports:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
    roots = {"report": report, "skfashion": skfashion}
    for root, chain in use.chains:
        obj = roots[root]
        for attribute in chain[:2]:  # a public name and its method; deeper is data
            assert hasattr(obj, attribute), f"{root}.{'.'.join(chain)}"
            obj = getattr(obj, attribute)
    params = set(inspect.signature(skfashion.FashionMLP).parameters)
    assert set(use.keywords) <= params, set(use.keywords) - params
    assert use.keywords, "the page trains no FashionMLP"


class _ShortFashionMLP(skfashion.FashionMLP):
    """FashionMLP capped at 2 epochs: the walkthrough's code, in a test's time."""

    def fit(self, X, y, **fit_params):
        epochs = self.epochs
        self.epochs = min(epochs, 2)
        try:
            return super().fit(X, y, **fit_params)
        finally:
            self.epochs = epochs


@pytest.mark.slow
def test_english_walkthrough_code_runs_on_real_data(
    fashion_train, fashion_test, monkeypatch, tmp_path
):
    """Every ```python block of the walkthrough, in order, on 1,200 real images and 2 epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def fetch(*, subset="train", return_X_y=False, **_):
        bunch = fashion_train if subset == "train" else fashion_test
        assert return_X_y
        return bunch.data[:1200], bunch.target[:1200]

    monkeypatch.setattr(skfashion, "fetch_fashion_mnist", fetch)
    monkeypatch.setattr(skfashion, "FashionMLP", _ShortFashionMLP)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    try:
        for code in _python_blocks(WALKTHROUGHS["en"]):
            exec(compile(code, str(WALKTHROUGHS["en"]), "exec"), namespace)
    finally:
        plt.close("all")

    assert namespace["X"].shape == (1200, 784)
    assert sorted(namespace["clf"].history_) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert list(namespace["models"]) == ["smaller", "baseline", "bigger"]
    remedies = namespace["remedies"]
    assert set(remedies) == {
        "bigger",
        "bigger+dropout",
        "bigger+augment",
        "bigger+l2",
        "bigger+dropout+l2",
        "bigger+early_stopping",
    }
    assert [remedies[name].dropout for name in ("bigger", "bigger+dropout")] == [0.0, 0.5]
    assert remedies["bigger+l2"].l2 == 0.001 and remedies["bigger+augment"].augment
    table = namespace["table"]
    assert list(table.index) == list(remedies)
    assert table["best_val_accuracy"].between(0.1, 1).all()
    stopped = namespace["stopped"]
    assert 1 <= stopped.best_epoch_ <= stopped.n_iter_
    assert len(namespace["search"].cv_results_["params"]) == 4
    assert list(namespace["curve"]["n_folds"]) == [3, 3]
    for name in ("tutorial_predictions", "tutorial_history", "size_comparison", "remedies"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (tmp_path / "bigger_cv.png").stat().st_size > 1000
    saved = pd.read_csv(tmp_path / "remedies.csv")
    assert len(saved) == len(remedies)


# --------------------------------------------------------------------- optional content
@pytest.fixture
def optional_content():
    return _load_optional_content()


def _figure(path, *options):
    return "\n".join([f"```{{figure}} {path}", ":optional:", *options, "", "Caption.", "```"])


def test_optional_figure_is_kept_without_its_option_when_the_file_exists(
    optional_content, tmp_path
):
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "a.png").write_bytes(b"png")
    text = "# Page\n\n" + _figure("study/a.png", ":alt: A") + "\n\nAfter.\n"
    result = optional_content.rewrite(text, folder=tmp_path, srcdir=tmp_path)
    assert result == "# Page\n\n```{figure} study/a.png\n:alt: A\n\nCaption.\n```\n\nAfter.\n"


@pytest.mark.parametrize(
    "language, words", [("en", "Not generated yet"), ("ja", "まだ生成されていません")]
)
def test_optional_figure_becomes_a_note_when_the_file_is_missing(
    optional_content, tmp_path, language, words
):
    result = optional_content.rewrite(
        _figure("study/b.png"), folder=tmp_path, srcdir=tmp_path, language=language
    )
    assert "{figure}" not in result and "Caption." not in result
    assert result.startswith("```{admonition} ") and ":class: note" in result
    assert words in result and "`study/b.png`" in result


def test_missing_option_replaces_or_removes_the_note(optional_content, tmp_path):
    custom = optional_content.rewrite(
        _figure("b.png", ":missing: Run `make` for {path}."), folder=tmp_path, srcdir=tmp_path
    )
    assert "Run `make` for b.png." in custom
    none = optional_content.rewrite(
        "Before.\n" + _figure("b.png", ":missing: none") + "\nAfter.",
        folder=tmp_path,
        srcdir=tmp_path,
    )
    assert none == "Before.\nAfter."


def test_if_exists_guards_any_directive(optional_content, tmp_path):
    note = "```{note}\n:if-exists: ../report.md\n:missing: none\n\nSee [it](../report.md).\n```"
    page = tmp_path / "docs" / "ja"
    page.mkdir(parents=True)
    assert optional_content.rewrite(note, folder=page, srcdir=tmp_path / "docs") == ""
    (tmp_path / "docs" / "report.md").write_text("# Report\n")
    kept = optional_content.rewrite(note, folder=page, srcdir=tmp_path / "docs")
    assert kept == "```{note}\n\nSee [it](../report.md).\n```"


def test_optional_toctree_keeps_existing_documents_only(optional_content, tmp_path):
    (tmp_path / "dask.md").write_text("# Dask\n")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "report.md").write_text("# Report\n")
    toctree = (
        "```{toctree}\n:caption: Topics\n:optional:\n\naccuracy\ndask\nReport <study/report>\n```"
    )
    result = optional_content.rewrite(toctree, folder=tmp_path, srcdir=tmp_path)
    assert result == "```{toctree}\n:caption: Topics\n\ndask\nReport <study/report>\n```"
    (tmp_path / "dask.md").unlink()
    (tmp_path / "study" / "report.md").unlink()
    assert optional_content.rewrite(toctree, folder=tmp_path, srcdir=tmp_path) == ""


def test_nested_and_unclosed_blocks(optional_content, tmp_path):
    nested = "````{tab} A\n" + _figure("b.png") + "\n````"
    result = optional_content.rewrite(nested, folder=tmp_path, srcdir=tmp_path)
    assert result.startswith("````{tab} A\n```{admonition} Note\n") and result.endswith("```\n````")
    unclosed = "```{figure} b.png\n:optional:\n\nno closing fence"
    assert optional_content.rewrite(unclosed, folder=tmp_path, srcdir=tmp_path) == unclosed
    plain = "```{figure} b.png\n\nCaption.\n```"
    assert optional_content.rewrite(plain, folder=tmp_path, srcdir=tmp_path) == plain


@pytest.mark.slow
def test_docs_build_without_warnings_once_study_and_benchmark_results_exist(tmp_path):
    """The figures, report and results that come later: shown, in the toctree, no warnings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = tmp_path / "docs"
    # without the accuracy page: a page that does not exist drops out of the toctree
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("_build", "study", "accuracy.md"))
    study = docs / "study"
    study.mkdir()
    source = WALKTHROUGHS["en"].read_text()
    figures = {Path(f).name for f in re.findall(r"\{figure\} (\S+)", source)}
    for name in figures:
        figure = plt.figure(figsize=(1, 1))
        figure.savefig(study / name)
        plt.close(figure)
    (study / "report.md").write_text(
        "# Study report\n\n## Summary\n\n| model | test |\n|---|---|\n| bigger | 0.85 |\n\n"
        "![curves](size_comparison.png)\n"
    )
    # The Dask page without its results; its sections stay, as other pages link to them.
    sections = re.findall(r"^## .+$", (DOCS / "dask.md").read_text(), re.MULTILINE)
    (docs / "dask.md").write_text(
        "# Dask\n\nTraining on a cluster.\n\n" + "".join(f"{h}\n\nText.\n\n" for h in sections)
    )
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "performance.md").write_text("# skfashion performance\n\n## Fit\n\nFast.\n")
    (results / "dask.md").write_text("# Dask benchmark\n\nScales.\n")
    (results / "study.md").write_text("# Study benchmark\n\nUnder 150 s.\n")

    process = _build(docs, tmp_path / "html")
    assert process.returncode == 0, process.stderr
    built = (process, tmp_path / "html")
    walkthrough = _page(built, "walkthrough.html")
    assert all(f'src="_images/{name}"' in walkthrough for name in figures)
    assert "appears here once it exists" not in walkthrough
    assert 'href="study/report.html"' in walkthrough
    assert "../_images/size_comparison.png" in _page(built, "ja/walkthrough.html")
    index = _page(built, "index.html")
    assert 'href="dask.html"' in index and 'href="study/report.html"' in index
    assert 'href="accuracy.html"' not in index
    benchmarks = _text(_page(built, "benchmarks.html"))
    assert all(title in benchmarks for title in ("skfashion performance", "Dask benchmark",
                                                 "Study benchmark"))
    assert "No results yet" not in benchmarks


# ------------------------------------------------------------------ numbers from results files
def _table_rows(text, header_start):
    """The cells of a Markdown table whose header row starts with ``header_start``."""
    lines = text[text.index(f"| {header_start} |") :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip("|").split("|")])
    return rows


def test_accuracy_page_quotes_the_committed_results():
    """docs/accuracy.md's numbers are those of benchmarks/results/accuracy.json."""
    results = json.loads(ACCURACY_RESULTS.read_text())
    text = (DOCS / "accuracy.md").read_text(encoding="utf-8")
    final = results["final"]
    mean, std = f"{final['test_accuracy_mean']:.4f}", f"{final['test_accuracy_std']:.4f}"
    assert set(re.findall(r"\*\*(0\.\d{4}) ± (0\.\d{4})\*\*", text)) == {(mean, std)}
    assert re.search(r"Mean \*\*(0\.\d{4})\*\*, standard deviation (0\.\d{4})", text).groups() == (
        mean,
        std,
    )
    seeds = [
        (int(row[0]), float(row[1]), int(row[2]), round(float(row[3])))
        for row in _table_rows(text, "seed")
    ]
    assert seeds == [
        (run["seed"], run["test_accuracy"], run["epochs_run"], round(run["fit_time_s"]))
        for run in final["runs"]
    ]
    by_seed = {run["seed"]: run["test_accuracy"] for run in final["runs"]}
    quoted = re.findall(r"# (0\.\d{4}) with random_state=(\d+)", text)
    assert quoted and all(float(acc) == by_seed[int(seed)] for acc, seed in quoted)
    candidates = {c["name"]: c for c in results["search"]["candidates"]}
    rows = _table_rows(text, "candidate")
    assert sorted(row[0] for row in rows) == sorted(candidates)
    for row in rows:
        candidate = candidates[row[0]]
        assert float(row[4]) == round(candidate["val_accuracy"], 4), row[0]
        assert float(row[5]) == round(candidate["train_accuracy"], 4), row[0]
        assert round(float(row[8])) == round(candidate["fit_time_s"]), row[0]
