"""What the study trains, with which settings, and which published results it compares with.

The study's data, apart from its logic (:mod:`skfashion.study`) and its report
(:mod:`skfashion._study_report`), which both read it; this module imports
neither, so the arrows point one way.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from ._datasets import N_IMAGES


class _Recipe(Mapping):
    """A recipe of :data:`skfashion.RECIPES`, read when first used.

    The recipes live next to FashionMLP, which loads TensorFlow; reading them
    lazily keeps ``import skfashion.study`` (and ``skfashion study --help``) quick.
    """

    def __init__(self, name):
        self.name = name

    def _settings(self):
        from ._estimator import RECIPES

        return RECIPES[self.name]

    def __getitem__(self, key):
        return self._settings()[key]

    def __iter__(self):
        return iter(self._settings())

    def __len__(self):
        return len(self._settings())

    def __repr__(self):
        return repr(dict(self._settings()))


# One name for one network everywhere: code, command line, tables, figures and report.
MODELS = MappingProxyType(
    {
        name: MappingProxyType(params)
        for name, params in {
            "tutorial": {"hidden_layer_sizes": "tutorial"},
            "smaller": {"hidden_layer_sizes": "smaller"},
            "baseline": {"hidden_layer_sizes": "baseline"},
            "bigger": {"hidden_layer_sizes": "bigger"},
            "bigger+dropout": {"hidden_layer_sizes": "bigger", "dropout": 0.5},
            "bigger+l2": {"hidden_layer_sizes": "bigger", "l2": 0.001},
            "bigger+dropout+l2": {"hidden_layer_sizes": "bigger", "dropout": 0.5, "l2": 0.001},
            "bigger+augment": {"hidden_layer_sizes": "bigger", "augment": True},
            "bigger+early_stopping": {
                "hidden_layer_sizes": "bigger",
                "early_stopping": True,
                "patience": 3,
            },
            "strong": _Recipe("strong"),  # skfashion's most accurate MLP, about 3 min
        }.items()
    }
)
MODEL_NAMES = tuple(MODELS)
DEFAULT_MODELS = tuple(name for name in MODEL_NAMES if name != "strong")
TUTORIAL_MODELS = ("tutorial",)
SIZE_MODELS = ("smaller", "baseline", "bigger")
OVERFITTING_MODEL = "bigger"  # the one the remedies are tried on
REMEDY_MODELS = tuple(name for name in MODEL_NAMES if name.startswith(f"{OVERFITTING_MODEL}+"))
FULL_DATA_MODELS = ("tutorial", "strong")  # trained on all training images, not a subset

VALIDATION_FRACTION = 0.2
TUTORIAL_EPOCHS = 5  # the course's program
TRAINING = MappingProxyType({"batch_size": 32, "optimizer": "adam", "learning_rate": 0.001})
MIN_SUBSET = 100  # a stratified 20 % validation split needs every class on both sides
# seeds: runs of every model, so that each verdict comes with its agreement and each number
# with its spread.
FULL = MappingProxyType(
    {"epochs": 20, "subset_size": 6_000, "tutorial_size": N_IMAGES["train"], "seeds": 3}
)
QUICK = MappingProxyType({"epochs": 8, "subset_size": 2_000, "tutorial_size": 3_000, "seeds": 1})


class Reference(NamedTuple):
    """A published Fashion-MNIST test accuracy the study's report compares with.

    Its model and source are words: ``study.reference.<key>`` in each catalog.
    """

    test_accuracy: float
    std: float = None  # spread over seeds, where the source measured several
    decimals: int = 3  # as published
    approximate: bool = False  # the source gives a range or a rounded value

    def shown(self):
        """The accuracy as published: ``0.9068 ± 0.0008``, ``≈ 0.885``."""
        value = f"{self.test_accuracy:.{self.decimals}f}"
        if self.std is not None:
            value += f" ± {self.std:.{self.decimals}f}"
        return f"≈ {value}" if self.approximate else value


# The only copy of these numbers in skfashion: the report's "How these results compare" reads them.
REFERENCES = MappingProxyType(
    {
        # Xiao, Rasul & Vollgraf 2017, Table 3
        "paper_mlp": Reference(0.871),
        "readme_mlp": Reference(0.8833, decimals=4),
        "tf_tutorial": Reference(0.885, approximate=True),  # 0.884-0.886 from run to run
        "paper_svc": Reference(0.897),
        # mean ± standard deviation over 3 seeds, benchmarks/results/accuracy.md
        "strong": Reference(0.9068, std=0.0008, decimals=4),
    }
)

# The report folder's files, by role.
FILES = MappingProxyType(
    {
        "report_md": "report.md",
        "report_html": "report.html",
        "study_json": "study.json",
        "summary_csv": "summary.csv",
        "comparison_csv": "comparison.csv",
        "history_csv": "history.csv",
        "confusion_csv": "confusion_matrix.csv",
        "references_csv": "references.csv",
        "tutorial_png": "tutorial_history.png",
        "size_png": "size_comparison.png",
        "remedies_png": "remedies.png",
        "predictions_png": "tutorial_predictions.png",
        "confusion_png": "tutorial_confusion_matrix.png",
    }
)
MARKER = FILES["study_json"]  # a folder with it holds a study report and may be replaced
