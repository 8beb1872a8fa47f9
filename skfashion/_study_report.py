"""The study report: figures, CSV tables, Markdown and self-contained HTML, English or Japanese.

Everything is written into the (temporary) folder :func:`skfashion.study.run_study`
hands over; the folder as a whole is moved into place afterwards.
"""

import base64
import html
import json
import math
import re

import numpy as np
import pandas as pd

from ._datasets import CLASS_NAMES
from ._plot import HistoryDisplay, PredictionGridDisplay
from ._plot._base import text_style
from .report import save_table
from .study import FULL_DATA_MODELS, N_TRAIN_IMAGES, REFERENCES

N_PREDICTION_IMAGES = 15
FIGURE_DPI = 100

# One colour per model in every figure ("C7", grey, is left for the legend's line styles).
COLORS = {
    "tutorial": "C0",
    "smaller": "C1",
    "baseline": "C2",
    "bigger": "C3",
    "bigger+dropout": "C4",
    "bigger+l2": "C5",
    "bigger+dropout+l2": "C6",
    "bigger+augment": "C8",
    "bigger+early_stopping": "C9",
}

FILES = {
    "report_md": "report.md",
    "report_html": "report.html",
    "study_json": "study.json",
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

CLASS_NAMES_JA = (
    "Tシャツ/トップス",
    "ズボン",
    "プルオーバー",
    "ドレス",
    "コート",
    "サンダル",
    "シャツ",
    "スニーカー",
    "バッグ",
    "アンクルブーツ",
)

TEXT = {
    "en": {
        "title": "Fashion-MNIST with Keras MLPs: training vs validation, network size and "
        "overfitting",
        "intro": "This report runs the course's exercise on the real Fashion-MNIST data (28×28 "
        "grayscale images of clothing, 10 classes). It trains multilayer perceptrons, records "
        "loss and accuracy on the training data and on held-out validation data after every "
        "epoch, reads off whether each network overfits, compares network sizes and tries "
        "remedies for overfitting. Every model holds out a stratified {val:.0%} of its "
        "training images for validation, and is finally scored on the {n_test:,} test images, "
        "which it never saw while training.",
        "quick": "This was a quick run (`--quick`): few images and epochs, so the numbers are "
        "only rough; run without `--quick` for the full study.",
        "run_line": "Run time {run_time}, random_state {random_state}, {cpus} CPU cores.",
        "summary": "Summary",
        "summary_caption": "Every model: its network, its training images, the three answers "
        "(best number of epochs, validation accuracy there, verdict) and its test accuracy.",
        "best_test": "Highest test accuracy: **{model}** ({accuracy:.3f}).",
        "overfitting_models": "Overfitting: {models}.",
        "no_overfitting": "No model overfits.",
        "underfitting_models": "Underfitting (cannot even fit its training data): {models}.",
        "cured": "Remedies that keep bigger from overfitting: {models}.",
        "not_cured": "Remedies that still overfit: {models}.",
        "tutorial_heading": "1. The tutorial network",
        "tutorial_intro": "The network of the course's program and of TensorFlow's basic "
        "classification tutorial: Flatten → Dense(128, relu) → Dense(10, softmax), Adam, "
        "batches of 32, {epochs} epochs.",
        "tutorial_caption": "Accuracy and loss of the tutorial network per epoch: solid "
        "training, dashed validation; the dot marks the best epoch (lowest validation loss).",
        "predictions_heading": "What the tutorial network predicts",
        "predictions_caption": "The first {n} test images with the predicted class, its "
        "probability and, in brackets, the true class: blue when right, red when wrong. The "
        "bars show the predicted probability of each class (labels 0–9; the true class in "
        "blue, a wrong prediction in red).",
        "confusion_caption": "Confusion matrix of the tutorial network on the {n:,} test "
        "images: rows are the true classes, columns the predicted ones; the diagonal counts the "
        "right predictions.",
        "per_class_caption": "Test accuracy of the tutorial network per class, and the class "
        "each one is most often mistaken for.",
        "size_heading": "2. Network size: smaller, baseline, bigger",
        "size_intro": "Two hidden layers of 4+4 (smaller), 16+16 (baseline) and 512+512 "
        "(bigger) units. A network with more units can fit its training data more closely and "
        "overfits sooner: its validation loss turns upwards while its training loss keeps "
        "falling.",
        "size_caption": "Accuracy and loss per epoch, one colour per network: solid training, "
        "dashed validation; the dot marks each network's best epoch (lowest validation loss).",
        "remedies_heading": "3. Curing the overfitting of bigger",
        "remedies_intro": "The bigger network again, with one remedy each:",
        "remedies_caption": "bigger and its remedies: accuracy and loss per epoch (solid "
        "training, dashed validation, dot at the best epoch).",
        "remedy:bigger+dropout": "**bigger+dropout**: dropout 0.5 after each hidden layer "
        "(half of the units are switched off at random in every training step).",
        "remedy:bigger+l2": "**bigger+l2**: an L2 penalty of 0.001 on the weights.",
        "remedy:bigger+dropout+l2": "**bigger+dropout+l2**: dropout 0.5 and the L2 penalty "
        "together.",
        "remedy:bigger+augment": "**bigger+augment**: data augmentation, random flips, "
        "shifts, small rotations and zooms of the training images (more varied training data).",
        "remedy:bigger+early_stopping": "**bigger+early_stopping**: early stopping, which "
        "ends training when the validation loss has not improved for {patience} epochs and "
        "keeps the weights of the best epoch. With the same seed it follows bigger's curves "
        "exactly until it stops.",
        "strong_heading": "4. The strong recipe",
        "strong_intro": 'skfashion\'s most accurate MLP, `RECIPES["strong"]`: two hidden '
        "layers of 1024 units, each with batch normalization and dropout 0.5, Adam with a "
        "cosine learning-rate schedule, batches of 256. Chosen on validation data, the recipe "
        "reached {accuracy} test accuracy trained on all {n_all:,} training images, none held "
        "out. Here, like every model of this study, it holds out {val:.0%} of its {n:,} "
        "training images for validation so that the three questions can be answered: it "
        "trains on {n_train:,} images for {epochs} epochs, so its test accuracy need not "
        "match the recipe's.",
        "references_heading": "How these results compare",
        "references_intro": "Test accuracies on the same {n_test:,} test images: published "
        "results and this run's, in bold, with the images this run's models trained on "
        "({val:.0%} of each model's training images were held out for validation).",
        "references_none": "This run trained neither tutorial nor strong, so only the "
        "published results are listed; add `tutorial` or `strong` to the models to see "
        "where this run lands.",
        "references_caption": "Test accuracy on the {n_test:,} test images, highest first.",
        "this_run_model": "**{name}** (this run)",
        "this_run_source": "this run: {n_train:,} training + {n_val:,} validation images, "
        "{epochs} epochs, seed {seed}",
        "col:source": "Source",
        "network": "Network",
        "best_epochs": "Best number of epochs",
        "best_epochs_value": "**{best}** of {epochs}",
        "val_accuracy": "Validation accuracy there",
        "overfitting": "Overfitting",
        "yes": "yes",
        "no": "no",
        "verdict": "verdict",
        "test_accuracy": "Test accuracy ({n:,} test images)",
        "fit_time": "Training time",
        "units": "{units} units",
        "dropout": "dropout {value:g}",
        "l2": "L2 {value:g}",
        "augment": "data augmentation",
        "early_stopping": "early stopping (patience {patience})",
        "batch_norm": "batch normalization",
        "lr_schedule:cosine": "cosine learning-rate schedule",
        "batch_size": "batches of {n}",
        "images": "{n_train:,} training and {n_val:,} validation images (the first {n:,} of "
        "the training set), {epochs} epochs",
        "images_all": "{n_train:,} training and {n_val:,} validation images (all {n:,} of the "
        "training set), {epochs} epochs",
        "colon": ": ",
        "clause_sep": "; ",
        "paren": " ({})",
        "true": "yes",
        "false": "no",
        "seed_value": "{random_state} (seed {seed})",
        "serial": "None (one model after another)",
        "files_heading": "Files",
        "file:report.md": "this report in Markdown",
        "file:report.html": "this report as one self-contained web page",
        "file:study.json": "settings, environment, run time and test accuracies",
        "file:comparison.csv": "one row per model: network, diagnosis, test accuracy",
        "file:history.csv": "loss and accuracy of every model after every epoch",
        "file:confusion_matrix.csv": "the tutorial network's test-set confusion matrix",
        "file:references.csv": "this run's test accuracies next to published ones",
        "file:tutorial_history.png": "curves of the tutorial network",
        "file:size_comparison.png": "curves of smaller, baseline and bigger",
        "file:remedies.png": "curves of bigger and its remedies",
        "file:tutorial_predictions.png": "test images with the tutorial network's predictions",
        "file:tutorial_confusion_matrix.png": "the tutorial network's confusion matrix",
        "settings_heading": "Settings and environment",
        "settings_caption": "How this report was made.",
        "setting": "Setting",
        "value": "Value",
        "s:run_time": "Run time",
        "s:date": "Date",
        "s:machine": "Machine",
        "s:machine_value": "{cpus} CPU cores, {platform}, Python {python}",
        "s:versions": "Versions",
        "s:random_state": "random_state (seed of every model)",
        "s:quick": "Quick run",
        "s:epochs": "Epochs (size comparison and remedies)",
        "s:tutorial_epochs": "Epochs (tutorial network)",
        "s:subset_size": "Training images (size comparison and remedies)",
        "s:tutorial_size": "Training images (tutorial network)",
        "s:strong_epochs": "Epochs (strong)",
        "s:strong_size": "Training images (strong)",
        "s:validation_fraction": "Validation fraction",
        "s:test_images": "Test images",
        "s:training": "Optimizer, learning rate, batch size",
        "s:n_jobs": "n_jobs (models trained in parallel)",
        "s:models": "Models",
        "seconds": "{seconds:.1f} s",
        "minutes": "{minutes:d} min {seconds:.0f} s",
        "col:model": "Model",
        "col:hidden_layer_sizes": "Hidden units",
        "col:train_images": "Training images",
        "col:epochs_run": "Epochs run",
        "col:best_epoch": "Best epoch",
        "col:best_val_accuracy": "Validation accuracy at best epoch",
        "col:final_train_accuracy": "Final training accuracy",
        "col:final_val_accuracy": "Final validation accuracy",
        "col:verdict": "Verdict",
        "col:test_accuracy": "Test accuracy",
        "col:label": "Label",
        "col:class": "Class",
        "col:mistaken_for": "Most often mistaken for",
        "col:times": "Times",
        "verdict:overfitting": "overfitting",
        "verdict:good fit": "good fit",
        "verdict:underfitting": "underfitting",
        "verdict:diverged": "diverged",
        "fig:tutorial": "The tutorial network",
        "fig:size": "Network size",
        "fig:remedies": "Remedies for overfitting",
        "fig:predicted": "Predicted class",
        "fig:true": "True class",
        "list_sep": ", ",
        "none": "none",
    },
    "ja": {
        "title": "Fashion-MNIST と Keras の MLP：訓練と検証、ネットワークの大きさと過学習",
        "intro": "このレポートは、講義の演習を本物の Fashion-MNIST（衣類の 28×28 "
        "グレースケール画像、10 クラス）で実行した結果です。多層パーセプトロンを学習させ、"
        "エポックごとに訓練データと検証データの損失と精度を記録して、各ネットワークが過学習"
        "しているかを判定します。さらにネットワークの大きさを比べ、過学習への対策を試します。"
        "どのモデルも訓練画像の {val:.0%} をクラスの比率を保って検証用に取り分け、最後に、"
        "学習中に一度も見ていない {n_test:,} 枚のテスト画像で精度を測ります。",
        "quick": "これは `--quick` による簡易実行です。画像数もエポック数も少ないため、"
        "数値はおおまかな目安にすぎません。本来の結果は `--quick` を付けずに実行して"
        "確かめてください。",
        "run_line": "実行時間 {run_time}、random_state {random_state}、CPU コア数 {cpus}。",
        "summary": "まとめ",
        "summary_caption": "全モデルの一覧：ネットワーク、訓練画像数、3 つの問い"
        "（最適なエポック数、そのときの検証精度、判定）への答えとテスト精度。",
        "best_test": "テスト精度が最も高いのは **{model}**（{accuracy:.3f}）です。",
        "overfitting_models": "過学習しているモデル：{models}。",
        "no_overfitting": "過学習しているモデルはありません。",
        "underfitting_models": "学習不足のモデル（訓練データにさえ合わせきれていない）：{models}。",
        "cured": "bigger の過学習を防げた対策：{models}。",
        "not_cured": "それでも過学習した対策：{models}。",
        "tutorial_heading": "1. チュートリアルのネットワーク",
        "tutorial_intro": "講義のプログラム（TensorFlow の基本的な画像分類チュートリアルと"
        "同じ）のネットワークです。Flatten → Dense(128, relu) → Dense(10, softmax)、"
        "最適化手法は Adam、バッチサイズ 32 で {epochs} エポック学習します。",
        "tutorial_caption": "チュートリアルのネットワークのエポックごとの精度と損失"
        "（実線：訓練、破線：検証）。点は最適エポック（検証損失が最小）。",
        "predictions_heading": "チュートリアルのネットワークの予測",
        "predictions_caption": "最初の {n} 枚のテスト画像と、予測したクラス・その確率・"
        "括弧内に正解のクラス。予測が正しければ青、誤っていれば赤で示します。棒グラフは"
        "各クラス（ラベル 0〜9）の予測確率で、正解のクラスが青、誤った予測が赤です。",
        "confusion_caption": "チュートリアルのネットワークの、{n:,} 枚のテスト画像での混同"
        "行列。行が正解のクラス、列が予測したクラスで、対角線上の数が正しく予測できた枚数"
        "です。",
        "per_class_caption": "チュートリアルのネットワークのクラスごとのテスト精度と、"
        "最も多く間違えた相手のクラス。",
        "size_heading": "2. ネットワークの大きさ：smaller・baseline・bigger",
        "size_intro": "隠れ層 2 層のネットワークを、ユニット数 4+4（smaller）、16+16"
        "（baseline）、512+512（bigger）で比べます。ユニット数の多いネットワークほど訓練"
        "データに細かく合わせられるため早く過学習し、訓練損失が下がり続けるのに検証損失が"
        "上がり始めます。",
        "size_caption": "エポックごとの精度と損失。色がネットワーク、実線が訓練、破線が検証"
        "です。点はそれぞれの最適エポック（検証損失が最小）。",
        "remedies_heading": "3. bigger の過学習への対策",
        "remedies_intro": "bigger に対策を 1 つずつ加えて学習し直します。",
        "remedies_caption": "bigger と各対策のエポックごとの精度と損失（実線：訓練、"
        "破線：検証、点：最適エポック）。",
        "remedy:bigger+dropout": "**bigger+dropout**：各隠れ層の後にドロップアウト 0.5"
        "（学習の各ステップでユニットの半分をランダムに無効にする）。",
        "remedy:bigger+l2": "**bigger+l2**：重みに L2 正則化 0.001 をかける。",
        "remedy:bigger+dropout+l2": "**bigger+dropout+l2**：ドロップアウト 0.5 と L2 正則化"
        "の両方。",
        "remedy:bigger+augment": "**bigger+augment**：データ拡張。訓練画像をランダムに反転・"
        "平行移動・少し回転・拡大縮小して、訓練データに変化を持たせる。",
        "remedy:bigger+early_stopping": "**bigger+early_stopping**：早期終了。検証損失が "
        "{patience} エポック続けて改善しなければ学習を止め、最適エポックの重みに戻す。"
        "乱数シードが同じなので、止まるまでは bigger とまったく同じ曲線になる。",
        "strong_heading": "4. strong レシピ",
        "strong_intro": 'skfashion で最も精度の高い MLP、`RECIPES["strong"]` です。'
        "ユニット数 1024 の隠れ層 2 層のそれぞれにバッチ正規化とドロップアウト 0.5 を入れ、"
        "Adam の学習率をコサイン減衰させながら、バッチサイズ 256 で学習します。検証データで"
        "選んだこのレシピは、訓練画像 {n_all:,} 枚すべてで（検証用に取り分けずに）学習して、"
        "テスト精度 {accuracy} でした。ここではほかのモデルと同じく、3 つの問いに答えられる"
        "よう訓練画像 {n:,} 枚の {val:.0%} を検証用に取り分けるため、学習に使うのは "
        "{n_train:,} 枚、{epochs} エポックです。そのためテスト精度はレシピの値と同じになる"
        "とは限りません。",
        "references_heading": "公表されている結果との比較",
        "references_intro": "同じ {n_test:,} 枚のテスト画像でのテスト精度を、公表されている"
        "結果とこの実行の結果（太字）で比べます。この実行のモデルには学習に使った画像数を"
        "添えました（どのモデルも訓練画像の {val:.0%} を検証用に取り分けています）。",
        "references_none": "この実行では tutorial も strong も学習していないため、公表されて"
        "いる結果だけを示します。この実行の位置づけを見るには、モデルに `tutorial` か "
        "`strong` を加えてください。",
        "references_caption": "テスト画像 {n_test:,} 枚でのテスト精度（高い順）。",
        "this_run_model": "**{name}**（この実行）",
        "this_run_source": "この実行：学習用 {n_train:,} 枚・検証用 {n_val:,} 枚、"
        "{epochs} エポック、シード {seed}",
        "col:source": "出典",
        "ref:paper_mlp": "scikit-learn の MLPClassifier（relu、(100,)）",
        "ref:tf_tutorial": "TensorFlow のチュートリアル：Dense(128)、10 エポック",
        "ref:paper_svc": "scikit-learn の SVC(C=10, kernel='rbf')",
        "ref:strong": 'skfashion の RECIPES["strong"]、訓練画像 60,000 枚すべて',
        "source:paper_mlp": "Xiao, Rasul & Vollgraf 2017、Fashion-MNIST の論文"
        "（arXiv:1708.07747）の表 3",
        "source:readme_mlp": "Fashion-MNIST の README のベンチマーク表"
        "（github.com/zalandoresearch/fashion-mnist）",
        "source:tf_tutorial": "TensorFlow のチュートリアル「Basic classification: Classify "
        "images of clothing」",
        "source:paper_svc": "Xiao, Rasul & Vollgraf 2017、Fashion-MNIST の論文"
        "（arXiv:1708.07747）の表 3（古典的な手法で最良）",
        "source:strong": "実測：3 つのシードでの平均 ± 標準偏差、benchmarks/results/accuracy.md",
        "network": "ネットワーク",
        "best_epochs": "最適なエポック数",
        "best_epochs_value": "**{best}**（{epochs} エポック中）",
        "val_accuracy": "そのときの検証精度",
        "overfitting": "過学習",
        "yes": "あり",
        "no": "なし",
        "verdict": "判定",
        "test_accuracy": "テスト精度（テスト画像 {n:,} 枚）",
        "fit_time": "学習時間",
        "units": "ユニット数 {units}",
        "dropout": "ドロップアウト {value:g}",
        "l2": "L2 正則化 {value:g}",
        "augment": "データ拡張",
        "early_stopping": "早期終了（patience {patience}）",
        "batch_norm": "バッチ正規化",
        "lr_schedule:cosine": "学習率のコサイン減衰",
        "batch_size": "バッチサイズ {n}",
        "images": "学習用 {n_train:,} 枚・検証用 {n_val:,} 枚（訓練データの先頭 {n:,} 枚）、"
        "{epochs} エポック",
        "images_all": "学習用 {n_train:,} 枚・検証用 {n_val:,} 枚（訓練データ {n:,} 枚すべて）、"
        "{epochs} エポック",
        "colon": "：",
        "clause_sep": "。",
        "paren": "（{}）",
        "true": "はい",
        "false": "いいえ",
        "seed_value": "{random_state}（シード {seed}）",
        "serial": "None（1 モデルずつ順に学習）",
        "files_heading": "ファイル",
        "file:report.md": "このレポート（Markdown）",
        "file:report.html": "このレポート（1 ファイルで完結する Web ページ）",
        "file:study.json": "設定、実行環境、実行時間、テスト精度",
        "file:comparison.csv": "モデルごとに 1 行：ネットワーク、診断、テスト精度",
        "file:history.csv": "全モデルのエポックごとの損失と精度",
        "file:confusion_matrix.csv": "チュートリアルのネットワークのテストデータでの混同行列",
        "file:references.csv": "この実行と公表されている結果のテスト精度",
        "file:tutorial_history.png": "チュートリアルのネットワークの学習曲線",
        "file:size_comparison.png": "smaller・baseline・bigger の学習曲線",
        "file:remedies.png": "bigger と各対策の学習曲線",
        "file:tutorial_predictions.png": "テスト画像とチュートリアルのネットワークの予測",
        "file:tutorial_confusion_matrix.png": "チュートリアルのネットワークの混同行列",
        "settings_heading": "設定と実行環境",
        "settings_caption": "このレポートを作ったときの設定。",
        "setting": "項目",
        "value": "値",
        "s:run_time": "実行時間",
        "s:date": "実行日時",
        "s:machine": "マシン",
        "s:machine_value": "CPU コア数 {cpus}、{platform}、Python {python}",
        "s:versions": "バージョン",
        "s:random_state": "random_state（全モデル共通の乱数シード）",
        "s:quick": "簡易実行",
        "s:epochs": "エポック数（大きさの比較と対策）",
        "s:tutorial_epochs": "エポック数（チュートリアルのネットワーク）",
        "s:subset_size": "訓練画像数（大きさの比較と対策）",
        "s:tutorial_size": "訓練画像数（チュートリアルのネットワーク）",
        "s:strong_epochs": "エポック数（strong）",
        "s:strong_size": "訓練画像数（strong）",
        "s:validation_fraction": "検証用に取り分ける割合",
        "s:test_images": "テスト画像数",
        "s:training": "最適化手法、学習率、バッチサイズ",
        "s:n_jobs": "n_jobs（並列に学習するモデル数）",
        "s:models": "モデル",
        "seconds": "{seconds:.1f} 秒",
        "minutes": "{minutes:d} 分 {seconds:.0f} 秒",
        "col:model": "モデル",
        "col:hidden_layer_sizes": "隠れ層のユニット数",
        "col:train_images": "訓練画像数",
        "col:epochs_run": "実行エポック数",
        "col:best_epoch": "最適エポック",
        "col:best_val_accuracy": "最適エポックの検証精度",
        "col:final_train_accuracy": "最終の訓練精度",
        "col:final_val_accuracy": "最終の検証精度",
        "col:verdict": "判定",
        "col:test_accuracy": "テスト精度",
        "col:label": "ラベル",
        "col:class": "クラス",
        "col:mistaken_for": "最も多い誤り先",
        "col:times": "件数",
        "verdict:overfitting": "過学習",
        "verdict:good fit": "良好",
        "verdict:underfitting": "学習不足",
        "verdict:diverged": "発散",
        "fig:tutorial": "チュートリアルのネットワーク",
        "fig:size": "ネットワークの大きさ",
        "fig:remedies": "過学習への対策",
        "fig:predicted": "予測したクラス",
        "fig:true": "正解のクラス",
        "list_sep": "、",
        "none": "なし",
    },
}


# ---------------------------------------------------------------------- figures and tables
def write_figures_and_tables(folder, result, X_test, y_test):
    """Write the PNG figures and the CSV tables of ``result`` into ``folder``.

    ``X_test`` and ``y_test`` are the test images and labels the models were
    scored on, for the grid of predictions.

    Returns
    -------
    files : list of str
        Names of the files written, relative to ``folder``.
    """
    lang = result.settings["lang"]
    names = result.models
    files = []
    save_table(result.comparison, folder / FILES["comparison_csv"])
    save_table(result.history, folder / FILES["history_csv"])
    save_table(_references_frame(result), folder / FILES["references_csv"])
    files += [FILES["comparison_csv"], FILES["history_csv"], FILES["references_csv"]]
    if result.confusion_matrix is not None:
        matrix = pd.DataFrame(
            result.confusion_matrix,
            index=pd.Index(CLASS_NAMES, name="true_class"),
            columns=list(CLASS_NAMES),
        )
        save_table(matrix, folder / FILES["confusion_csv"])
        files.append(FILES["confusion_csv"])

    groups = [
        ("tutorial_png", "fig:tutorial", [n for n in names if n == "tutorial"]),
        ("size_png", "fig:size", [n for n in names if n in ("smaller", "baseline", "bigger")]),
        ("remedies_png", "fig:remedies", [n for n in names if n.startswith("bigger")]),
    ]
    for key, title, group in groups:
        if key == "remedies_png" and not any(n.startswith("bigger+") for n in group):
            continue
        if group:
            estimators = {name: result.estimators[name] for name in group}
            _history_figure(estimators, _figure_text(title, lang), lang, folder / FILES[key])
            files.append(FILES[key])
    if "tutorial" in names:
        _predictions_figure(result, X_test, y_test, folder / FILES["predictions_png"])
        _confusion_figure(result, lang, folder / FILES["confusion_png"])
        files += [FILES["predictions_png"], FILES["confusion_png"]]
    return files


def _figure_text(key, lang):
    """The figure text in ``lang`` if a Japanese font is there, else in English."""
    _, font = text_style(lang)
    return TEXT[lang if font or lang == "en" else "en"][key]


def _history_figure(estimators, title, lang, path):
    from matplotlib.figure import Figure

    from ._plot._base import legend_prop

    _, font = text_style(lang)
    figure = Figure(figsize=(13, 4.6), layout="constrained")
    ax_accuracy, ax_loss = figure.subplots(1, 2)
    colors = {name: COLORS[name] for name in estimators}
    legend = "full" if len(estimators) == 1 else "compact"
    for metric, ax in (("accuracy", ax_accuracy), ("loss", ax_loss)):
        display = HistoryDisplay.from_estimator(
            estimators,
            metric=metric,
            ax=ax,
            lang=lang,
            legend=legend if metric == "loss" else None,
            colors=colors,
        )
        ax.grid(alpha=0.3)
    if len(estimators) > 1:  # one legend beside both panels, where it hides no curve
        handles = display.legend_.legend_handles
        labels = [text.get_text() for text in display.legend_.get_texts()]
        display.legend_.remove()
        figure.legend(handles, labels, loc="outside right upper", prop=legend_prop(font))
    figure.suptitle(title, **font)
    display.save(path, dpi=FIGURE_DPI)


def _predictions_figure(result, X_test, y_test, path):
    from matplotlib.figure import Figure

    n_cols, n_rows = 3, math.ceil(N_PREDICTION_IMAGES / 3)
    figure = Figure(figsize=(4 * n_cols, 2.2 * n_rows), layout="constrained")
    display = PredictionGridDisplay.from_predictions(
        X_test,
        y_test,
        result.test_proba["tutorial"],
        classes=result.estimators["tutorial"].classes_,
        n_images=N_PREDICTION_IMAGES,
        ax=figure.add_subplot(),
        n_cols=n_cols,
    )
    display.save(path, dpi=FIGURE_DPI)


def _confusion_figure(result, lang, path):
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    _, font = text_style(lang)
    figure = Figure(figsize=(8, 7.5), layout="constrained")
    ax = figure.add_subplot()
    display = ConfusionMatrixDisplay(result.confusion_matrix, display_labels=CLASS_NAMES)
    display.plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation="vertical", values_format="d")
    ax.set_xlabel(_figure_text("fig:predicted", lang), **font)
    ax.set_ylabel(_figure_text("fig:true", lang), **font)
    ax.set_title(_figure_text("fig:tutorial", lang), **font)
    figure.savefig(path, format="png", dpi=FIGURE_DPI)


# ---------------------------------------------------------------------- the document
class _Document:
    """Blocks rendered both as Markdown and as HTML; ``**bold**`` and ```code``` inline."""

    def __init__(self):
        self.blocks = []

    def heading(self, level, text):
        self.blocks.append(("heading", level, text))

    def paragraph(self, text):
        self.blocks.append(("paragraph", text))

    def bullets(self, items):
        self.blocks.append(("bullets", list(items)))

    def table(self, frame, caption):
        self.blocks.append(("table", frame, caption))

    def figure(self, filename, caption):
        self.blocks.append(("figure", filename, caption))

    def to_markdown(self):
        parts = []
        for kind, *content in self.blocks:
            if kind == "heading":
                level, text = content
                parts.append(f"{'#' * level} {text}")
            elif kind == "paragraph":
                parts.append(content[0])
            elif kind == "bullets":
                parts.append("\n".join(f"- {item}" for item in content[0]))
            elif kind == "table":
                frame, caption = content
                table = frame.to_markdown(index=False, disable_numparse=True)
                parts.append(f"*{caption}*\n\n{table}")
            elif kind == "figure":
                filename, caption = content
                parts.append(f"![{caption}]({filename})\n\n*{caption}*")
        return "\n\n".join(parts) + "\n"

    def to_html(self, folder, title, lang):
        body = []
        for kind, *content in self.blocks:
            if kind == "heading":
                level, text = content
                body.append(f"<h{level}>{_inline(text)}</h{level}>")
            elif kind == "paragraph":
                body.append(f"<p>{_inline(content[0])}</p>")
            elif kind == "bullets":
                items = "".join(f"<li>{_inline(item)}</li>" for item in content[0])
                body.append(f"<ul>{items}</ul>")
            elif kind == "table":
                body.append(_html_table(*content))
            elif kind == "figure":
                filename, caption = content
                data = base64.b64encode((folder / filename).read_bytes()).decode("ascii")
                body.append(
                    f'<figure><img src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(caption)}"><figcaption>{_inline(caption)}</figcaption>'
                    "</figure>"
                )
        return (
            f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + "\n</body>\n</html>\n"
        )


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans CJK JP",
  "Yu Gothic", sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
  line-height: 1.55; color: #222; }
h1 { font-size: 1.7em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0 2em; } img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: #444; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _inline(text):
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_table(frame, caption):
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline(str(value))}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return (
        f"<table><caption>{_inline(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def write_documents(folder, result, files):
    """Write ``report.md``, ``report.html`` and ``study.json``; return their names."""
    lang = result.settings["lang"]
    text = TEXT[lang]
    document = _build(result, files, text)
    (folder / FILES["report_md"]).write_text(document.to_markdown(), encoding="utf-8")
    page = document.to_html(folder, text["title"], lang)
    (folder / FILES["report_html"]).write_text(page, encoding="utf-8")
    written = [FILES["report_md"], FILES["report_html"], FILES["study_json"]]
    record = {
        "skfashion_study": result.environment["versions"]["skfashion"],
        "settings": result.settings,
        "environment": result.environment,
        "run_time_s": result.run_time,
        "test_accuracy": result.test_accuracy,
        "verdicts": {name: d.verdict for name, d in result.diagnoses.items()},
        "files": sorted(files + written),
    }
    (folder / FILES["study_json"]).write_text(
        json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return written


def _build(result, files, text):
    settings, names = result.settings, result.models
    document = _Document()
    document.heading(1, text["title"])
    document.paragraph(
        text["intro"].format(
            val=settings["validation_fraction"], n_test=len(result.test_proba[names[0]])
        )
    )
    if settings["quick"]:
        document.paragraph(text["quick"])
    document.paragraph(
        text["run_line"].format(
            run_time=_duration(result.run_time, text),
            random_state=settings["random_state"],
            cpus=result.environment["cpu_count"],
        )
    )

    document.heading(2, text["summary"])
    document.table(_summary_table(result, text), text["summary_caption"])
    document.bullets(_findings(result, text))

    if "tutorial" in names:
        document.heading(2, text["tutorial_heading"])
        document.paragraph(text["tutorial_intro"].format(epochs=settings["tutorial_epochs"]))
        document.figure(FILES["tutorial_png"], text["tutorial_caption"])
        _model_section(document, result, "tutorial", text)
        document.heading(3, text["predictions_heading"])
        document.figure(
            FILES["predictions_png"], text["predictions_caption"].format(n=N_PREDICTION_IMAGES)
        )
        n_test = int(result.confusion_matrix.sum())
        document.figure(FILES["confusion_png"], text["confusion_caption"].format(n=n_test))
        document.table(_per_class_table(result.confusion_matrix, text), text["per_class_caption"])

    sizes = [name for name in names if name in ("smaller", "baseline", "bigger")]
    if sizes:
        document.heading(2, text["size_heading"])
        document.paragraph(text["size_intro"])
        document.figure(FILES["size_png"], text["size_caption"])
        for name in sizes:
            _model_section(document, result, name, text)

    remedies = [name for name in names if name.startswith("bigger+")]
    if remedies:
        document.heading(2, text["remedies_heading"])
        document.paragraph(text["remedies_intro"])
        document.bullets(
            text[f"remedy:{name}"].format(patience=result.estimators[name].patience)
            for name in remedies
        )
        document.figure(FILES["remedies_png"], text["remedies_caption"])
        for name in remedies:
            _model_section(document, result, name, text)

    if "strong" in names:
        document.heading(2, text["strong_heading"])
        document.paragraph(_strong_intro(result, text))
        _model_section(document, result, "strong", text)

    n_test = len(result.test_proba[names[0]])
    document.heading(2, text["references_heading"])
    document.paragraph(
        text["references_intro"].format(n_test=n_test, val=settings["validation_fraction"])
    )
    if not any(name in FULL_DATA_MODELS for name in names):
        document.paragraph(text["references_none"])
    document.table(
        _references_table(result, text), text["references_caption"].format(n_test=n_test)
    )

    document.heading(2, text["settings_heading"])
    document.table(_settings_table(result, text), text["settings_caption"])
    document.heading(2, text["files_heading"])
    written = files + [FILES["report_md"], FILES["report_html"], FILES["study_json"]]
    document.bullets(f"`{name}`{text['colon']}{text['file:' + name]}" for name in written)
    return document


def _model_section(document, result, name, text):
    diagnosis, estimator = result.diagnoses[name], result.estimators[name]
    document.heading(3, name)
    best = "–" if diagnosis.best_epoch is None else diagnosis.best_epoch
    verdict = text[f"verdict:{diagnosis.verdict}"]
    answer = text["yes"] if diagnosis.overfitting else text["no"]
    n_test = len(result.test_proba[name])
    colon = text["colon"]
    document.bullets(
        [
            f"{text['network']}{colon}{_network(name, result, text)}",
            f"{text['best_epochs']}{colon}"
            + text["best_epochs_value"].format(best=best, epochs=diagnosis.epochs_run),
            f"{text['val_accuracy']}{colon}**{diagnosis.best_val_accuracy:.3f}**",
            f"{text['overfitting']}{colon}**{answer}**"
            + text["paren"].format(f"{text['verdict']}{colon}{verdict}"),
            f"{text['test_accuracy'].format(n=n_test)}{colon}**{result.test_accuracy[name]:.3f}**",
            f"{text['fit_time']}{colon}{_duration(estimator.fit_time_, text)}",
        ]
    )
    document.paragraph(diagnosis.summary(language=result.settings["lang"]))


def _network(name, result, text):
    estimator, row = result.estimators[name], result.comparison.loc[name]
    parts = [text["units"].format(units=row["hidden_layer_sizes"])]
    if estimator.batch_norm:
        parts.append(text["batch_norm"])
    if estimator.dropout:
        parts.append(text["dropout"].format(value=estimator.dropout))
    if estimator.l2:
        parts.append(text["l2"].format(value=estimator.l2))
    if estimator.augment:
        parts.append(text["augment"])
    if estimator.early_stopping:
        parts.append(text["early_stopping"].format(patience=estimator.patience))
    if estimator.lr_schedule != "constant":
        parts.append(text[f"lr_schedule:{estimator.lr_schedule}"])
    if estimator.batch_size != result.settings["batch_size"]:
        parts.append(text["batch_size"].format(n=estimator.batch_size))
    n_train, n_val = _split(name, result)
    n = n_train + n_val
    images = text["images_all" if n == N_TRAIN_IMAGES else "images"].format(
        n_train=n_train, n_val=n_val, n=n, epochs=estimator.epochs
    )
    return text["list_sep"].join(parts) + text["clause_sep"] + images


def _split(name, result):
    """Training and validation images of one model."""
    n = int(result.comparison.loc[name, "train_images"])
    n_val = math.ceil(result.estimators[name].validation_fraction * n)
    return n - n_val, n_val


def _strong_intro(result, text):
    reference = REFERENCES["strong"]
    n_train, n_val = _split("strong", result)
    return text["strong_intro"].format(
        accuracy=_accuracy(reference),
        n_all=N_TRAIN_IMAGES,
        val=result.settings["validation_fraction"],
        n=n_train + n_val,
        n_train=n_train,
        epochs=result.estimators["strong"].epochs,
    )


def _accuracy(reference):
    value = f"{reference.test_accuracy:.{reference.decimals}f}"
    if reference.std is not None:
        value += f" ± {reference.std:.{reference.decimals}f}"
    return f"≈ {value}" if reference.approximate else value


def _references_rows(result, text):
    """Published results and this run's full-data models, highest test accuracy first."""
    rows = [
        {
            "model": text.get(f"ref:{key}", reference.model),
            "test_accuracy": reference.test_accuracy,
            "std": reference.std,
            "shown": _accuracy(reference),
            "source": text.get(f"source:{key}", reference.source),
            "approximate": reference.approximate,
            "this_run": False,
        }
        for key, reference in REFERENCES.items()
    ]
    for name in (name for name in result.models if name in FULL_DATA_MODELS):
        n_train, n_val = _split(name, result)
        accuracy = result.test_accuracy[name]
        rows.append(
            {
                "model": text["this_run_model"].format(name=name),
                "test_accuracy": accuracy,
                "std": None,
                "shown": f"**{accuracy:.4f}**",  # k/10,000 test images: exact to 4 decimals
                "source": text["this_run_source"].format(
                    n_train=n_train,
                    n_val=n_val,
                    epochs=result.estimators[name].epochs,
                    seed=result.settings["seed"],
                ),
                "approximate": False,
                "this_run": True,
            }
        )
    return sorted(rows, key=lambda row: -row["test_accuracy"])


def _references_frame(result):
    """``references.csv``: the comparison with published results, in English."""
    rows = _references_rows(result, TEXT["en"])
    frame = pd.DataFrame(
        rows, columns=["model", "test_accuracy", "std", "approximate", "source", "this_run"]
    )
    frame["model"] = frame["model"].str.replace("**", "", regex=False)
    return frame.set_index("model")


def _references_table(result, text):
    rows = _references_rows(result, text)
    return pd.DataFrame(
        {
            text["col:model"]: [row["model"] for row in rows],
            text["col:test_accuracy"]: [row["shown"] for row in rows],
            text["col:source"]: [row["source"] for row in rows],
        }
    )


def _summary_table(result, text):
    frame = result.comparison
    columns = {
        "hidden_layer_sizes": str,
        "train_images": "{:,}".format,
        "epochs_run": str,
        "best_epoch": lambda v: "–" if pd.isna(v) else str(v),
        "best_val_accuracy": "{:.3f}".format,
        "final_train_accuracy": "{:.3f}".format,
        "final_val_accuracy": "{:.3f}".format,
        "verdict": lambda v: text[f"verdict:{v}"],
        "test_accuracy": "{:.3f}".format,
    }
    table = pd.DataFrame({text["col:model"]: list(frame.index)})
    for column, fmt in columns.items():
        table[text[f"col:{column}"]] = [fmt(value) for value in frame[column]]
    return table


def _findings(result, text):
    names, diagnoses = result.models, result.diagnoses
    sep = text["list_sep"]
    best = max(names, key=lambda name: result.test_accuracy[name])
    findings = [text["best_test"].format(model=best, accuracy=result.test_accuracy[best])]
    overfitting = [name for name in names if diagnoses[name].verdict == "overfitting"]
    if overfitting:
        findings.append(text["overfitting_models"].format(models=sep.join(overfitting)))
    else:
        findings.append(text["no_overfitting"])
    underfitting = [name for name in names if diagnoses[name].verdict == "underfitting"]
    if underfitting:
        findings.append(text["underfitting_models"].format(models=sep.join(underfitting)))
    remedies = [name for name in names if name.startswith("bigger+")]
    if remedies and "bigger" in overfitting:
        cured = [name for name in remedies if name not in overfitting]
        still = [name for name in remedies if name in overfitting]
        findings.append(text["cured"].format(models=sep.join(cured) or text["none"]))
        if still:
            findings.append(text["not_cured"].format(models=sep.join(still)))
    return findings


def _per_class_table(matrix, text):
    japanese = text is TEXT["ja"]
    pairs = zip(CLASS_NAMES, CLASS_NAMES_JA, strict=True)
    names = [f"{ja}（{en}）" if japanese else en for en, ja in pairs]
    totals = matrix.sum(axis=1)
    mistakes = matrix.copy()
    np.fill_diagonal(mistakes, 0)
    confused = mistakes.argmax(axis=1)
    return pd.DataFrame(
        {
            text["col:label"]: [str(i) for i in range(len(names))],
            text["col:class"]: names,
            text["col:test_accuracy"]: [
                f"{matrix[i, i] / totals[i]:.3f}" if totals[i] else "–" for i in range(len(names))
            ],
            text["col:mistaken_for"]: [
                names[confused[i]] if mistakes[i].any() else "–" for i in range(len(names))
            ],
            text["col:times"]: [str(mistakes[i, confused[i]]) for i in range(len(names))],
        }
    )


def _settings_table(result, text):
    settings, environment = result.settings, result.environment
    versions = ", ".join(f"{k} {v}" for k, v in environment["versions"].items() if v)
    rows = [
        ("s:run_time", _duration(result.run_time, text)),
        ("s:date", environment["date"]),
        (
            "s:machine",
            text["s:machine_value"].format(
                cpus=environment["cpu_count"],
                platform=environment["platform"],
                python=environment["python"],
            ),
        ),
        ("s:versions", versions),
        (
            "s:random_state",
            text["seed_value"].format(random_state=settings["random_state"], seed=settings["seed"]),
        ),
        ("s:quick", text["true"] if settings["quick"] else text["false"]),
        ("s:epochs", settings["epochs"]),
        ("s:tutorial_epochs", settings["tutorial_epochs"]),
        ("s:subset_size", f"{settings['subset_size']:,}"),
        ("s:tutorial_size", f"{settings['tutorial_size']:,}"),
        *(
            [
                ("s:strong_epochs", settings["strong_epochs"]),
                ("s:strong_size", f"{settings['strong_size']:,}"),
            ]
            if "strong" in settings["models"]
            else []
        ),
        ("s:validation_fraction", settings["validation_fraction"]),
        ("s:test_images", f"{len(next(iter(result.test_proba.values()))):,}"),
        (
            "s:training",
            f"{settings['optimizer']}, {settings['learning_rate']}, {settings['batch_size']}",
        ),
        ("s:n_jobs", text["serial"] if settings["n_jobs"] is None else settings["n_jobs"]),
        ("s:models", ", ".join(settings["models"])),
    ]
    return pd.DataFrame(
        {
            text["setting"]: [text[key] for key, _ in rows],
            text["value"]: [str(value) for _, value in rows],
        }
    )


def _duration(seconds, text):
    if seconds < 60:
        return text["seconds"].format(seconds=seconds)
    minutes = int(seconds // 60)
    return text["minutes"].format(minutes=minutes, seconds=seconds - 60 * minutes)
