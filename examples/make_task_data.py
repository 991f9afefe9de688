"""Write the example tables for the regression and multilabel tasks from scikit-learn's bundled data.

    .venv/bin/python examples/make_task_data.py

- ``diabetes.csv``: scikit-learn's diabetes table (442 patients, 10 standardized measurements; ``progression``:
  a quantitative measure of disease progression one year after baseline). For ``configs/diabetes_regression.yaml``.
- ``digit_tags.csv``: scikit-learn's 8×8 handwritten digits (1,797 images, 64 pixel columns, 0..16) with tags
  derived from each digit instead of its class: ``even``, ``prime``, ``round`` (has a closed loop: 0, 6, 8, 9)
  and ``big`` (5 or more), separated by ``;``. For ``configs/digit_tags_multilabel.yaml``.

``co2_weekly.csv`` is not written here: it is the Mauna Loa weekly CO2 series that statsmodels ships
(``statsmodels.datasets.co2``, public domain; 2,284 weeks from 1958-03-29, 59 of them without a measurement),
with its dates written as YYYY-MM-DD.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
TAGS = {"even": {0, 2, 4, 6, 8}, "prime": {2, 3, 5, 7}, "round": {0, 6, 8, 9}, "big": {5, 6, 7, 8, 9}}


def diabetes(path: Path) -> None:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(d.feature_names) + ["progression"])
        for row, target in zip(d.data, d.target):
            w.writerow([f"{v:.6g}" for v in row] + [f"{target:g}"])


def digit_tags(path: Path) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"p{i}" for i in range(64)] + ["tags"])
        for row, digit in zip(d.data, d.target):
            tags = [name for name, digits in TAGS.items() if int(digit) in digits]
            w.writerow([int(v) for v in row] + [";".join(tags)])


if __name__ == "__main__":
    diabetes(HERE / "diabetes.csv")
    digit_tags(HERE / "digit_tags.csv")
