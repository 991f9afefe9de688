"""Classical baselines beside every table and text result: the majority class and a logistic regression.

Both are fitted on the run's own training split and scored on the same samples as the model, so
a user sees at once when a one-line classical model does as well as the network. Tables: the
logistic regression sees the columns the model sees (missing numeric cells filled as the model
fills them, plus a was-missing column where the training split had any; numbers standardized;
categories one-hot). Texts: TF-IDF of words and word pairs.

``train`` writes ``baseline.json`` into the run; ``evaluate`` adds ``baselines`` to its report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from aimodel.data.spec import InputSpec

BASELINE_FILE = "baseline.json"
#: data kinds that get baselines
KINDS = ("tabular", "text")
#: "the classical model is better" only above this margin (accuracy), so a tie is not news
MARGIN = 0.005


def wanted(dataset_cfg: Any, spec: Optional[InputSpec]) -> bool:
    """Whether a run's data gets baselines: a table or text kind, and ``dataset.baseline`` not false."""
    return (spec is not None and spec.kind in KINDS and getattr(dataset_cfg, "baseline", True) is not False
            and not spec.task)  # TODO(task): baselines for regression and multilabel


class _TableFeatures:
    """Table columns -> one float matrix, with the statistics of the training split."""

    def __init__(self, x_train: dict, spec: InputSpec):
        from aimodel.data.missing import fill, fill_value
        from aimodel.models.inputs import table_columns

        class _B:  # table_columns reads bundle.train.x and bundle.spec
            pass

        b = _B()
        b.train, b.spec = _B(), spec
        b.train.x = x_train
        self.columns = table_columns(b)
        self.impute = spec.impute or "median"
        self.stats = {}
        self._fill = fill
        for name, kind in self.columns:
            values = np.asarray(x_train[name])
            if kind == "numeric":
                col = values.astype(np.float32)
                value = fill_value(col, self.impute)
                indicator = bool(np.isnan(col).any())
                filled = fill(col, value)
                self.stats[name] = (value, indicator, float(filled.mean()), float(filled.std()) or 1.0)
            else:
                self.stats[name] = sorted(set(values.astype(str)))

    def __call__(self, x: dict) -> np.ndarray:
        parts = []
        for name, kind in self.columns:
            values = np.asarray(x[name])
            if kind == "numeric":
                value, indicator, mean, std = self.stats[name]
                col = values.astype(np.float32)
                parts.append(((self._fill(col, value) - mean) / std)[:, None])
                if indicator:
                    parts.append(np.isnan(col).astype(np.float32)[:, None])
            else:
                vocab = self.stats[name]
                index = {v: i for i, v in enumerate(vocab)}
                onehot = np.zeros((len(values), len(vocab) + 1), np.float32)  # the last slot: unseen values
                onehot[np.arange(len(values)), [index.get(str(v), len(vocab)) for v in values]] = 1.0
                parts.append(onehot)
        return np.concatenate(parts, axis=1)


def _logistic_regression(x_train, y_train, spec: InputSpec, seed: int):
    """A fitted ``predict(x) -> class ids`` for the kind, and what it is in words."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, random_state=seed)
    if spec.kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=spec.max_tokens or 20000,
                                     sublinear_tf=True)
        model.fit(vectorizer.fit_transform(np.asarray(x_train).astype(str)), y_train)
        return (lambda x: model.predict(vectorizer.transform(np.asarray(x).astype(str)))), \
            "TF-IDF of words and word pairs + logistic regression (scikit-learn)"
    features = _TableFeatures(x_train, spec)
    model.fit(features(x_train), y_train)
    return (lambda x: model.predict(features(x))), \
        "logistic regression on the model's preprocessed columns (scikit-learn)"


def fit_and_score(x_train, y_train, x_eval, y_eval, spec: InputSpec, seed: int = 0) -> dict:
    """``{name: {"accuracy": ..., "what": ...}}`` for the majority class and the logistic regression.

    Args:
        x_train, y_train: the run's training split (``Split`` layout for ``spec.kind``).
        x_eval, y_eval: the samples the model is scored on.
    """
    y_train, y_eval = np.asarray(y_train), np.asarray(y_eval)
    majority = int(np.bincount(y_train, minlength=len(spec.class_names)).argmax())
    out = {"majority": {"accuracy": round(float(np.mean(y_eval == majority)), 6),
                        "what": f"always '{spec.class_names[majority]}', the most frequent training class"}}
    if len(np.unique(y_train)) > 1:
        predict, what = _logistic_regression(x_train, y_train, spec, seed)
        out["logistic_regression"] = {"accuracy": round(float(np.mean(predict(x_eval) == y_eval)), 6),
                                      "what": what}
    return out


def better(baselines: dict, accuracy: float) -> Optional[str]:
    """One line when a baseline beats the model's ``accuracy``; None otherwise."""
    best = max(baselines.items(), key=lambda kv: kv[1]["accuracy"], default=None)
    if best is None or best[1]["accuracy"] <= accuracy + MARGIN:
        return None
    name, figures = best
    return (f"the {name.replace('_', ' ')} baseline is better than the model on these samples: accuracy "
            f"{figures['accuracy']:.4f} against {accuracy:.4f}")


def model_accuracy(model, x, y, spec: InputSpec, batch_size: int = 256) -> float:
    """The Keras model's accuracy on a split (``Split.x`` layout)."""
    from aimodel.data.base import Split
    from aimodel.data.pipeline import make_dataset

    probs = model.predict(make_dataset(Split(x, np.asarray(y)), batch_size), verbose=0)
    return float(np.mean(np.asarray(probs).argmax(axis=1) == np.asarray(y)))


def record_run_baselines(bundle, model, run_dir: Path, seed: int) -> dict:
    """After training: score the model and the baselines on the test split and write ``baseline.json``."""
    from aimodel.fileio import atomic_write_json

    test = bundle.test
    accuracy = model_accuracy(model, test.x, test.y, bundle.spec)
    record = {"split": "test", "samples": len(test), "model": {"accuracy": round(accuracy, 6)},
              "baselines": fit_and_score(bundle.train.x, bundle.train.y, test.x, test.y, bundle.spec, seed)}
    record["note"] = better(record["baselines"], accuracy)
    atomic_write_json(Path(run_dir) / BASELINE_FILE, record)
    return record
