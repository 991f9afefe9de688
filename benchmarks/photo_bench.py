"""Figure 12 (issue 11): held-out MNIST digits photographed under every condition of
:mod:`benchmarks.photos`, predicted by ``aimodel predict`` with its default preparation.

The model is ``configs/mnist_cnn.yaml`` trained on the benchmark split (figure 3's run, or a new
one). The first ``n`` held-out test digits are rendered under each condition and saved as JPEG
files, and the same digits as 28×28 PNGs ("clean"); one ``aimodel predict --json`` call predicts
them all, with no flags. A condition meets its target when its accuracy is within 3 points of
the clean PNGs'. The first PHONE_N digits of each condition are also rendered as 12-megapixel phone
photos (``<condition>_12mp``, issue 31); those meet theirs within 3 points of the same digits' photos at
the condition's usual size.

Standalone (writes ``benchmarks/photo_results.md``, not results.md; ``--model RUN`` skips the training)::

    AIMODEL_MNIST_DIR=../shared/data/mnist .venv/bin/python -m benchmarks.photo_bench [--model RUN] [-n 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks import photos as renderer
from benchmarks.figure_base import Context, Figure, cnn_run
from benchmarks.harness import AIMODEL, OUT, Runner

#: allowed drop from the clean accuracy, in points
TOLERANCE = 3.0
#: digits per condition also rendered as 12-megapixel phone photos (``<condition>_12mp``; issue 31)
PHONE_N = 20


def render_set(npz: Path, n: int, folder: Path) -> Path:
    """``folder/<condition>/<index>_<label>.jpg`` for every condition and ``folder/clean/*.png``.

    Rendered again only when ``n`` or the renderer's source changed.
    """
    from PIL import Image

    stamp = {"n": n, "phone_n": PHONE_N, "renderer": hashlib.sha256(Path(renderer.__file__).read_bytes()).hexdigest()[:16]}
    done = folder.with_name(folder.name + ".json")
    if done.is_file() and json.loads(done.read_text()) == stamp:
        return folder
    with np.load(npz) as d:
        x, y = d["x_test"][:n], d["y_test"][:n]
    for condition in ["clean", *renderer.CONDITIONS, *(f"{c}_12mp" for c in renderer.CONDITIONS)]:
        sub = folder / condition
        sub.mkdir(parents=True, exist_ok=True)
        for old in sub.iterdir():
            old.unlink()
        phone = condition.endswith("_12mp")
        for i in range(min(len(x), PHONE_N) if phone else len(x)):
            name = f"{i:04d}_{int(y[i])}"
            if condition == "clean":
                Image.fromarray(x[i]).save(sub / f"{name}.png")
            else:
                (sub / f"{name}.jpg").write_bytes(renderer.render(x[i], condition.removesuffix("_12mp"), seed=i,
                                                                  phone=phone))
    done.write_text(json.dumps(stamp))
    return folder


def score(predict_json: str) -> dict[str, dict]:
    """Per condition: accuracy and the indices predicted wrongly, from ``aimodel predict --json`` output."""
    out = json.loads(predict_json[predict_json.index("{"):])
    results: dict[str, dict] = {}
    for p in out["predictions"]:
        path = Path(p["input"])
        condition, (index, label) = path.parent.name, path.stem.split("_")
        r = results.setdefault(condition, {"n": 0, "right": 0, "wrong": [], "errors": 0})
        r["n"] += 1
        if p.get("error"):
            r["errors"] += 1
        elif str(p["label"]) == label:
            r["right"] += 1
        else:
            r["wrong"].append(int(index))
    for r in results.values():
        r["accuracy"] = round(r["right"] / r["n"], 4)
        r["wrong"].sort()
    return results


def measure(runner: Runner, run: Path, npz: Path, n: int) -> tuple[dict, float]:
    """Render (if needed) and predict every photo with ``run``; (per-condition results, predict seconds)."""
    folder = render_set(npz, n, OUT / "photos")
    p = runner.run([AIMODEL, "predict", str(folder), "--model", str(run), "--json"], "photos-predict").check()
    return score(p.output), p.wall


def figures(results: dict, wall: float, clean_test: float | None = None) -> list[Figure]:
    clean = results["clean"]["accuracy"]
    n = results["clean"]["n"]
    photos = sum(r["n"] for c, r in results.items() if c != "clean")
    note = (f"The same {n} held-out digits per condition, as phone-style JPEGs (benchmarks/photos.py); the "
            f"'peer' column of 12a-12k is those digits as 28×28 PNGs (row 12). One `aimodel predict --json` "
            f"of all {photos + n} files, default preparation, took {wall:.0f} s (process start included).")
    if clean_test is not None:
        note += f" The model's accuracy on all 2,000 held-out images (aimodel evaluate): {clean_test:.2%}."
    rows = [Figure("12", f"Photos of digits: the {n} clean 28×28 PNGs through `aimodel predict`", "report",
                   clean, clean_test, "accuracy", note=note, status="measured")]
    target = f"≥ clean − {TOLERANCE:g} points"
    for k, condition in enumerate(renderer.CONDITIONS):
        r = results[condition]
        rows.append(Figure(f"12{chr(ord('a') + k)}", f"Photos of digits: {condition.replace('_', ' ')}", target,
                           r["accuracy"], clean, "accuracy",
                           met=r["errors"] == 0 and (clean - r["accuracy"]) * 100 <= TOLERANCE + 1e-9,
                           details={"wrong": r["wrong"], "errors": r["errors"]}))
    rows += _phone_rows(results)
    return rows


def _phone_rows(results: dict) -> list[Figure]:
    """Each condition at 12 MP against the same condition's photos of the same digits at their usual size."""
    rows = []
    for k, condition in enumerate(renderer.CONDITIONS):
        r = results.get(f"{condition}_12mp")
        if not r:
            continue
        n, base = r["n"], results[condition]
        peer = (n - sum(1 for i in base["wrong"] if i < n)) / n  # the usual-size photos of the same n digits
        rows.append(Figure(f"12{chr(ord('a') + k)}-12mp", f"Photos of digits: {condition.replace('_', ' ')} at 12 MP",
                           f"≥ usual size − {TOLERANCE:g} points", r["accuracy"], round(peer, 4), "accuracy",
                           met=r["errors"] == 0 and (peer - r["accuracy"]) * 100 <= TOLERANCE + 1e-9,
                           details={"wrong": r["wrong"], "errors": r["errors"], "n": n}))
    return rows


def figure(ctx: Context) -> list[Figure]:
    """Figure 12's rows, with figure 3's model (or a new run of configs/mnist_cnn.yaml), and 12's phone rate."""
    run = cnn_run(ctx)
    results, wall = measure(ctx.runner, run, ctx.npz, ctx.photos)
    return [*figures(results, wall, ctx.test_accuracy(run)), phone_rate(ctx.runner, run)]


#: 12-megapixel photos in the phone-rate figure (issue 31: "photos/s for aimodel predict on 100 such files")
RATE_N = 100


def phone_rate(runner: Runner, run: Path) -> Figure:
    """Figure 12-rate: ``aimodel predict`` on RATE_N 12-MP JPEGs of the photo set, one process, against the
    same command on one of them: photos/s once started = (RATE_N - 1) ÷ the difference of the wall times."""
    folder = OUT / "photos"
    files = sorted(str(f) for f in folder.glob("*_12mp/*.jpg"))[:RATE_N]
    if len(files) < RATE_N:
        return Figure("12-rate", "`aimodel predict` on 12-MP phone photos", "report", status="skipped",
                      note=f"only {len(files)} 12-MP photos in {folder}")
    many = runner.run([AIMODEL, "predict", *files, "--model", str(run), "--json"], "photos-12mp-predict").check()
    one = runner.run([AIMODEL, "predict", files[0], "--model", str(run), "--json"], "photos-12mp-predict-one").check()
    rate = (RATE_N - 1) / (many.wall - one.wall) if many.wall > one.wall else None
    return Figure("12-rate", f"`aimodel predict` on {RATE_N} 12-MP phone photos (3000×4000 JPEGs), once started",
                  "report (≤ 0.15 s per photo prepared: issue 31)", round(rate, 2) if rate else None,
                  None, "photos/s", status="measured",
                  details={"wall_s": {"many": round(many.wall, 2), "one": round(one.wall, 2)},
                           "whole_process_photos_per_s": round(RATE_N / many.wall, 2)},
                  note=f"({RATE_N} − 1) ÷ (wall of {RATE_N} files − wall of 1): the rate once TensorFlow and the "
                       f"model are loaded; whole_process_photos_per_s is {RATE_N} ÷ the whole command's wall time, "
                       "start-up included. Preparation and the model's call together, one process on 2 cores.")


def table(rows: list[Figure]) -> str:
    """The figure's rows as a Markdown table: condition, accuracy, points from clean, target met."""
    clean = rows[0]
    lines = ["| condition | accuracy | points vs clean (12 MP: vs usual size) | within 3 points |",
             "|---|---|---|---|", f"| clean 28×28 PNGs | {clean.aimodel:.1%} | — | — |"]
    for r in rows[1:]:
        lines.append(f"| {r.title.split(': ', 1)[1]} | {r.aimodel:.1%} | {(r.aimodel - r.peer) * 100:+.1f} | "
                     f"{'yes' if r.met else '**no**'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    import time

    from benchmarks import data
    from benchmarks.harness import ROOT

    parser = argparse.ArgumentParser(prog="python -m benchmarks.photo_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a run directory trained on 28×28 digits (default: train "
                                        "configs/mnist_cnn.yaml on the benchmark split first)")
    parser.add_argument("-n", type=int, default=200, help="digits per condition (default 200)")
    parser.add_argument("--cnn-epochs", type=int, default=None, help="override configs/mnist_cnn.yaml's epochs")
    parser.add_argument("--cores", type=int, default=2, help="pin to this many CPUs (0 = all; default 2)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "photo_results.md"), help="the table's file")
    args = parser.parse_args(argv)
    npz, described = data.prepare()
    ctx = Context(Runner(args.cores), npz, 1, 1, args.cnn_epochs, args.n)
    if args.model:
        ctx.state["cnn_run"] = Path(args.model)
    rows = figure(ctx)
    text = (f"# Photos of handwritten digits (figure 12)\n\nWritten by `python -m benchmarks.photo_bench` "
            f"({time.strftime('%Y-%m-%d %H:%M %Z')}); data: {described}; model: {cnn_run(ctx)}.\n\n"
            f"{table(rows)}\n\n{rows[0].note}\n")
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
