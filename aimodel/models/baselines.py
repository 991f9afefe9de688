"""Classical baselines beside every table and text result, per task (:mod:`aimodel.tasks`).

Classification: the majority class and a logistic regression. Regression: the training mean, ridge
regression (``RidgeCV``) and, for tables, gradient boosting (``HistGradientBoostingRegressor``), scored
with MAE, RMSE and R². Multilabel: the per-label majority (each label predicted when most training rows
have it, so usually no label at all) and one-vs-rest logistic regression, scored with micro and macro F1
and subset accuracy. All are fitted on the run's own training split and scored on the same samples as
the model, so a user sees at once when a classical model does as well as the network. Tables: the
linear models see the columns the model sees (missing numeric cells filled as the model fills them,
plus a was-missing column where the training split had any; numbers standardized; categories
one-hot). Texts: TF-IDF of words and word pairs.

``train`` writes ``baseline.json`` into the run; ``evaluate`` adds ``baselines`` to its report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from aimodel.data.spec import InputSpec
from aimodel.tasks import direction, task_of, thresholds_of

BASELINE_FILE = "baseline.json"
#: data kinds that get baselines
KINDS = ("tabular", "text")
#: "the classical model is better" only above this margin (accuracy, F1), so a tie is not news
MARGIN = 0.005
#: the same for errors (MAE): the baseline's must be this share lower than the model's
RELATIVE_MARGIN = 0.01


def wanted(dataset_cfg: Any, spec: Optional[InputSpec]) -> bool:
    """Whether a run's data gets baselines: a table or text kind, and ``dataset.baseline`` not false."""
    return spec is not None and spec.kind in KINDS and getattr(dataset_cfg, "baseline", True) is not False


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


def _features(x_train, spec: InputSpec):
    """``(transform, fitted on x_train, in words)``: TF-IDF for texts, the preprocessed columns for tables."""
    if spec.kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=spec.max_tokens or 20000,
                                     sublinear_tf=True)
        vectorizer.fit(np.asarray(x_train).astype(str))
        return (lambda x: vectorizer.transform(np.asarray(x).astype(str))), "TF-IDF of words and word pairs"
    return _TableFeatures(x_train, spec), "the model's preprocessed columns"


def _logistic_regression(x_train, y_train, spec: InputSpec, seed: int):
    """A fitted ``predict(x) -> class ids`` (0/1 per label for multilabel), and what it is in words."""
    from sklearn.linear_model import LogisticRegression

    features, on = _features(x_train, spec)
    model = LogisticRegression(max_iter=2000, random_state=seed)
    what = "logistic regression"
    if task_of(spec).name == "multilabel":
        from sklearn.multiclass import OneVsRestClassifier

        model, what = OneVsRestClassifier(model), "one-vs-rest logistic regression"
    model.fit(features(x_train), y_train)
    if spec.kind == "text":
        what = f"{on} + {what}"
    else:
        what = f"{what} on {on}"
    return (lambda x: model.predict(features(x))), what + " (scikit-learn)"


def _classification(x_train, y_train, x_eval, y_eval, spec: InputSpec, seed: int) -> dict:
    majority = int(np.bincount(y_train, minlength=len(spec.class_names)).argmax())
    out = {"majority": {"accuracy": round(float(np.mean(y_eval == majority)), 6),
                        "what": f"always '{spec.class_names[majority]}', the most frequent training class"}}
    if len(np.unique(y_train)) > 1:
        predict, what = _logistic_regression(x_train, y_train, spec, seed)
        out["logistic_regression"] = {"accuracy": round(float(np.mean(predict(x_eval) == y_eval)), 6),
                                      "what": what}
    return out


def regression_scores(y: np.ndarray, pred: np.ndarray) -> dict:
    """MAE, RMSE and R² (scikit-learn's, each the mean over the targets), rounded as reports show them."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y, pred = np.asarray(y, np.float64).reshape(len(y), -1), np.asarray(pred, np.float64).reshape(len(y), -1)
    r2 = float(r2_score(y, pred)) if len(y) > 1 and float(y.var(axis=0).min()) > 0 else None
    return {"mae": round(float(mean_absolute_error(y, pred)), 6),
            "rmse": round(float(np.mean(np.sqrt(mean_squared_error(y, pred, multioutput="raw_values")))), 6),
            "r2": None if r2 is None else round(r2, 6)}


def multilabel_scores(y: np.ndarray, decided: np.ndarray) -> dict:
    """Micro and macro F1 (scikit-learn's, zero_division=0) and subset accuracy of 0/1 decisions."""
    from sklearn.metrics import f1_score

    y, decided = (np.asarray(y) > 0.5).astype(int), np.asarray(decided).astype(int)
    return {"micro_f1": round(float(f1_score(y, decided, average="micro", zero_division=0)), 6),
            "macro_f1": round(float(f1_score(y, decided, average="macro", zero_division=0)), 6),
            "subset_accuracy": round(float((y == decided).all(axis=1).mean()), 6)}


def _regression(x_train, y_train, x_eval, y_eval, spec: InputSpec, seed: int) -> dict:
    from sklearn.linear_model import RidgeCV

    y_train = np.asarray(y_train, np.float64).reshape(len(y_train), -1)
    mean = y_train.mean(axis=0)
    out = {"mean": {**regression_scores(y_eval, np.tile(mean, (len(y_eval), 1))),
                    "what": "always the training mean of each target"}}
    features, on = _features(x_train, spec)
    train_x, eval_x = features(x_train), features(x_eval)
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(train_x, y_train)
    out["ridge"] = {**regression_scores(y_eval, ridge.predict(eval_x)),
                    "what": f"ridge regression (RidgeCV) on {on} (scikit-learn)"}
    if spec.kind == "tabular":  # gradient boosting takes dense columns, not a text's TF-IDF
        from sklearn.ensemble import HistGradientBoostingRegressor

        pred = np.stack([HistGradientBoostingRegressor(random_state=seed).fit(train_x, y_train[:, j])
                         .predict(eval_x) for j in range(y_train.shape[1])], axis=1)
        out["gradient_boosting"] = {**regression_scores(y_eval, pred), "what": "gradient boosting "
                                    f"(HistGradientBoostingRegressor) on {on} (scikit-learn)"}
    return out


def _multilabel(x_train, y_train, x_eval, y_eval, spec: InputSpec, seed: int) -> dict:
    y_train = (np.asarray(y_train) > 0.5).astype(int)
    common = y_train.mean(axis=0) > 0.5
    shown = ", ".join(n for n, on in zip(spec.class_names, common) if on)
    out = {"majority": {**multilabel_scores(y_eval, np.tile(common, (len(y_eval), 1))),
                        "what": (f"always {{{shown}}}: each label that most training rows have" if shown else
                                 "never any label: no label is on most training rows")}}
    if y_train.any() and not y_train.all():
        import warnings

        with warnings.catch_warnings():  # a label that every (or no) training row has: predicted constant
            warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
            predict, what = _logistic_regression(x_train, y_train, spec, seed)
        out["logistic_regression"] = {**multilabel_scores(y_eval, predict(x_eval)), "what": what}
    return out


#: task -> the baselines of that task, fitted and scored
_BASELINES = {"classification": _classification, "regression": _regression, "multilabel": _multilabel}


def fit_and_score(x_train, y_train, x_eval, y_eval, spec: InputSpec, seed: int = 0) -> dict:
    """``{name: {<the task's figures>, "what": ...}}``: each baseline of the task, scored on ``x_eval``.

    Classification: ``majority`` and ``logistic_regression`` (``accuracy``). Regression: ``mean``,
    ``ridge`` and ``gradient_boosting`` (tables) (``mae``, ``rmse``, ``r2``). Multilabel: ``majority``
    and ``logistic_regression`` (``micro_f1``, ``macro_f1``, ``subset_accuracy``).

    Args:
        x_train, y_train: the run's training split (``Split`` layout for ``spec.kind``).
        x_eval, y_eval: the samples the model is scored on.
    """
    fit = _BASELINES[task_of(spec).name]
    return fit(x_train, np.asarray(y_train), x_eval, np.asarray(y_eval), spec, seed)


def headline(task: str) -> str:
    """The figure the "a baseline is better" note compares: accuracy, mae or micro_f1."""
    return task_of(task).report_keys[0]


def better(baselines: dict, figures, task: str = "classification") -> Optional[str]:
    """One line when a baseline beats the model on the task's headline figure; None otherwise.

    Args:
        figures: the model's figures (a report, or ``baseline.json``'s ``model``); a number is its accuracy.
    """
    key = headline(task)
    value = figures if isinstance(figures, (int, float)) else figures.get(key)
    scored = [(name, f[key]) for name, f in baselines.items() if f.get(key) is not None]
    if value is None or not scored:
        return None
    if direction(key) == "min":
        name, best = min(scored, key=lambda kv: kv[1])
        beaten = best < value * (1 - RELATIVE_MARGIN)
    else:
        name, best = max(scored, key=lambda kv: kv[1])
        beaten = best > value + MARGIN
    if not beaten:
        return None
    label = key.replace("_", " ").upper() if key == "mae" else key.replace("_", " ")
    return (f"the {name.replace('_', ' ')} baseline is better than the model on these samples: {label} "
            f"{best:.4f} against {value:.4f}")


def model_figures(model, x, y, spec: InputSpec, batch_size: int = 256) -> dict:
    """The Keras model's figures on a split (``Split.x`` layout), as its baselines are scored."""
    from aimodel.data.base import Split
    from aimodel.data.pipeline import make_dataset

    out = np.asarray(model.predict(make_dataset(Split(x, np.asarray(y)), batch_size), verbose=0))
    task = task_of(spec).name
    if task == "regression":
        return regression_scores(y, out.reshape(len(out), -1))
    if task == "multilabel":
        return multilabel_scores(y, out >= np.asarray(thresholds_of(spec), np.float32)[None, :])
    return {"accuracy": round(float(np.mean(out.argmax(axis=1) == np.asarray(y))), 6)}


def record_run_baselines(bundle, model, run_dir: Path, seed: int) -> dict:
    """After training: score the model and the baselines on the test split and write ``baseline.json``."""
    from aimodel.fileio import atomic_write_json

    test = bundle.test
    figures = model_figures(model, test.x, test.y, bundle.spec)
    record = {"split": "test", "samples": len(test), "model": figures,
              "baselines": fit_and_score(bundle.train.x, bundle.train.y, test.x, test.y, bundle.spec, seed)}
    task = task_of(bundle.spec).name
    if task != "classification":
        record["task"] = task
    record["note"] = better(record["baselines"], figures, task)
    atomic_write_json(Path(run_dir) / BASELINE_FILE, record)
    return record
