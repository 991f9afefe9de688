"""Real sentences: the IMDB text configs against a TF-IDF bigram + logistic regression baseline.

The data is the UCI "Sentiment Labelled Sentences" set (Kotzias et al., KDD 2015): 3,000
review sentences from imdb.com, amazon.com and yelp.com, 1,500 positive and 1,500 negative,
as three ``<sentence>\\t<0|1>`` files. Several public repositories hold a copy (copies differ:
github.com/nthuandrew/DM2023-Lab1-Master, commit f4e4fcd, folder "sentiment labelled sentences",
has all 3,000 in UTF-8); it is never committed here. Point ``$AIMODEL_SENTIMENT_DIR`` (or ``--sentiment-dir``) at the folder
holding ``imdb_labelled.txt``, ``amazon_cells_labelled.txt`` and ``yelp_labelled.txt``.

The imdb file holds U+0085 (a Windows-1252 "…" decoded as Latin-1), the character that made
a trained model unloadable before issue 11; the sentences are used exactly as published.

Each config keeps its model and training sections; only its dataset becomes this CSV
(test_split 0.2: 2,400 train, 600 test; the config's own ``validation_split`` of the 2,400). The baseline is fitted on
the same 2,400 sentences (training and validation) and scored on the same 600.
Run alone: ``python -m benchmarks.text_real --data FOLDER [--seeds 5]``; without data it says so and
exits 2 (it is not part of ``make bench``). ``--set KEY=VALUE`` tries a variant of the configs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
FILES = ("imdb_labelled.txt", "amazon_cells_labelled.txt", "yelp_labelled.txt")
CONFIGS = ("configs/imdb_lstm.yaml", "configs/imdb_transformer.yaml")
SOURCE = ("UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015; 3,000 sentences from imdb, "
          "amazon and yelp reviews)")


def sentiment_dir() -> Optional[Path]:
    env = os.environ.get("AIMODEL_SENTIMENT_DIR")
    folder = Path(env).expanduser() if env else None
    return folder if folder and all((folder / f).is_file() for f in FILES) else None


def write_csv(folder: Path, out: Path) -> Path:
    """The three files as one ``text,label`` CSV (UTF-8). Lines split on "\\n" only: the sentences
    hold U+0085, which Python's ``splitlines`` would treat as a line end."""
    import csv

    from aimodel.data.files import read_text_file

    rows = []
    for name in FILES:
        # Copies of the set differ in encoding (UTF-8 or Windows-1252): read as aimodel reads text (auto).
        for line in read_text_file(folder / name, "auto").split("\n"):
            text, sep, label = line.rstrip("\r").rpartition("\t")
            if sep and label.strip() in ("0", "1"):
                rows.append([text.strip(), "positive" if label.strip() == "1" else "negative"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return out


def dataset_section(csv_path: Path, validation_split: float = 0.1) -> dict:
    return {"name": "csv", "path": str(csv_path), "label": "label", "text_column": "text",
            "test_split": 0.2, "validation_split": validation_split}


def config_for(config: str, csv_path: Path, seed: int, folder: Path) -> Path:
    """``config`` with its dataset replaced by the sentences (keeping its ``validation_split``) and its
    seed set."""
    data = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    data["dataset"] = dataset_section(csv_path, (data.get("dataset") or {}).get("validation_split", 0.1))
    data["seed"] = seed
    data["name"] = f"{data.get('name', Path(config).stem)}_sentences"
    path = folder / f"{Path(config).stem}_seed{seed}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def baseline(config: Path) -> dict:
    """TF-IDF of words and word pairs + logistic regression (C chosen by 5-fold CV, and C=1) on the config's split."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    from aimodel.config import load_config
    from aimodel.data import load_data

    cfg = load_config(config)
    bundle = load_data(cfg.dataset, cfg.seed)
    parts = [bundle.train] + ([bundle.val] if bundle.val is not None else [])
    x = np.concatenate([p.x for p in parts]).astype(str)
    y = np.concatenate([p.y for p in parts])
    test_x, test_y = bundle.test.x.astype(str), bundle.test.y

    def pipe():
        return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=2000))

    # The cross-validation picks the largest C of a shorter grid on these sentences: the grid goes to 100.
    search = GridSearchCV(pipe(), {"logisticregression__C": [0.3, 1, 3, 10, 30, 100]}, cv=5)
    search.fit(x, y)
    default = pipe().fit(x, y)  # scikit-learn's default C=1, reported beside it
    return {"accuracy": round(float((search.predict(test_x) == test_y).mean()), 4),
            "C": search.best_params_["logisticregression__C"],
            "accuracy_C1": round(float((default.predict(test_x) == test_y).mean()), 4),
            "train": int(len(y)), "test": int(len(test_y))}


def train_and_evaluate(config: Path, run: Path, aimodel: str, run_cmd=None, sets: tuple = (),
                       checkpoint: str = "best") -> dict:
    """Train with the aimodel CLI (``sets``: ``--set`` overrides), then evaluate ``checkpoint``.keras
    (best or last) on the test split."""
    import shutil

    shutil.rmtree(run, ignore_errors=True)
    run.parent.mkdir(parents=True, exist_ok=True)
    cmd = [aimodel, "train", str(config), "--run-dir", str(run), "--quiet"] + [a for s in sets for a in ("--set", s)]
    if run_cmd is not None:
        proc = run_cmd(cmd)
        wall = proc.wall
    else:
        import time

        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
        wall = time.perf_counter() - t0
    target = run if checkpoint == "best" else run / f"{checkpoint}.keras"
    out = subprocess.run([aimodel, "evaluate", str(target), "--json"], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    report = json.loads(out[out.index("{"):])
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return {"accuracy": round(float(report["accuracy"]), 4), "epochs": summary.get("epochs_completed"),
            "best_epoch": summary.get("best_epoch"), "train_wall_s": round(wall, 1)}


def measure(seeds: list[int], configs=CONFIGS, aimodel: Optional[str] = None, run_cmd=None, sets: tuple = (),
            with_baseline: bool = True, checkpoint: str = "best") -> dict:
    """``{"baseline": [per seed], config: [per seed], ...}`` on the sentences; raises if the data is absent."""
    folder = sentiment_dir()
    if folder is None:
        raise FileNotFoundError("set AIMODEL_SENTIMENT_DIR to the folder of the UCI 'sentiment labelled "
                                f"sentences' files ({', '.join(FILES)})")
    aimodel = aimodel or str(Path(sys.executable).parent / "aimodel")
    work = OUT / "text_real"
    csv_path = write_csv(folder, work / "sentences.csv")
    results: dict[str, list] = {**({"baseline": []} if with_baseline else {}), **{c: [] for c in configs}}
    for seed in seeds:
        if with_baseline:
            results["baseline"].append(baseline(config_for(CONFIGS[0], csv_path, seed, work)))
            print(f"seed {seed} baseline: {json.dumps(results['baseline'][-1])}", flush=True)
        for config in configs:
            cfg = config_for(config, csv_path, seed, work)
            results[config].append(train_and_evaluate(cfg, work / "runs" / f"{cfg.stem}", aimodel, run_cmd, sets,
                                                      checkpoint))
            print(f"seed {seed} {config}: {json.dumps(results[config][-1])}", flush=True)
    return results


def mean_accuracy(rows: list[dict]) -> float:
    return round(statistics.mean(r["accuracy"] for r in rows), 4)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.text_real", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds (splits and initialisations) to average")
    parser.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1: seeds 1..N)")
    parser.add_argument("--config", action="append", help="config(s) to measure (default: both IMDB text configs)")
    parser.add_argument("--sentiment-dir", "--data", help="folder of the UCI files (default: $AIMODEL_SENTIMENT_DIR)")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
                        help="override for every config measured, as aimodel train --set (to try variants)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which model of each run to score (default best.keras, as aimodel evaluate RUN does)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the TF-IDF baseline")
    args = parser.parse_args(argv)
    if args.sentiment_dir:
        os.environ["AIMODEL_SENTIMENT_DIR"] = args.sentiment_dir
    if sentiment_dir() is None:
        print(f"text_real: skipped, no data: set AIMODEL_SENTIMENT_DIR (or pass --data) to a folder holding "
              f"{', '.join(FILES)} (the UCI 'sentiment labelled sentences'; see this script's docstring)",
              file=sys.stderr)
        return 2
    res = measure(list(range(args.first_seed, args.first_seed + args.seeds)), tuple(args.config or CONFIGS), sets=tuple(args.sets),
                  with_baseline=not args.no_baseline, checkpoint=args.checkpoint)
    for name, rows in res.items():
        extra = f" (C=1: {mean_accuracy([{'accuracy': r['accuracy_C1']} for r in rows]):.4f})" if name == "baseline" else ""
        print(f"{name}: mean {mean_accuracy(rows):.4f}{extra}  " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
