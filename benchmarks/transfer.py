"""configs/image_folder.yaml on real image folders, and transfer from an earlier run (docs/architectures.md).

Folders (written under benchmarks/out/folders, never into the repository):
  digits32   scikit-learn's bundled load_digits (1,797 real 8×8 scans), upscaled to 32×32 PNGs, 10 classes
  photos     load_sample_images' two photos cut into 48×48 crops, 4 classes (which quarter of which photo)
  mnist      the real MNIST test set from ../shared/data/mnist (IDX gz): first 8,000 train, last 2,000 test

Transfer: a CNN trained on MNIST digits 0–4 (the source run), then (a) digits 0–4 and (b) digits 5–9 with
20 images per class, each started from the source run (model.architecture: pretrained) and from scratch.

    python -m benchmarks.transfer folders [--epochs N]      # the template on the three folders
    python -m benchmarks.transfer transfer [--seed S]       # (a) and (b); S: every run's seed (default 1),
                                                            # the 20 images per class drawn with S + 6
    python -m benchmarks.transfer example                   # examples/photos (the template's placeholder)
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
MNIST = ROOT.parent / "shared" / "data" / "mnist"
if not MNIST.is_dir():
    MNIST = Path("/work/shared/data/mnist")


def _write(folder: Path, images, labels, names) -> Path:
    for i, (img, y) in enumerate(zip(images, labels)):
        d = folder / names[int(y)]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:05d}.png")
    return folder


def digits_folder(out: Path) -> Path:
    from sklearn.datasets import load_digits

    if out.is_dir():
        return out
    d = load_digits()
    images = [np.asarray(Image.fromarray((x * 255 / 16).astype(np.uint8)).resize((32, 32), Image.BILINEAR))
              for x in d.images]
    return _write(out, images, d.target, [str(k) for k in range(10)])


def photo_crops(size: int = 48, step: int = 24):
    """Crops of load_sample_images' china.jpg and flower.jpg; class = photo × left/right half."""
    from sklearn.datasets import load_sample_images

    images, labels = [], []
    for p, photo in enumerate(load_sample_images().images):
        h, w, _ = photo.shape
        for top in range(0, h - size * 2 + 1, step):
            for left in range(0, w - size * 2 + 1, step):
                crop = photo[top:top + size * 2, left:left + size * 2]
                images.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR)))
                labels.append(p * 2 + int(left + size >= w // 2))
    return images, np.array(labels)


def photos_folder(out: Path) -> Path:
    if out.is_dir():
        return out
    images, labels = photo_crops()
    return _write(out, images, labels, ["china_left", "china_right", "flower_left", "flower_right"])


def mnist_arrays():
    def read(name, offset):
        with gzip.open(MNIST / name) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    x = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    y = read("t10k-labels-idx1-ubyte.gz", 8)
    return x, y


def mnist_folder(out: Path) -> Path:
    """Train/ and test/ folders: the first 8,000 and the last 2,000 of the MNIST test set."""
    if out.is_dir():
        return out
    x, y = mnist_arrays()
    _write(out / "train", x[:8000], y[:8000], [str(k) for k in range(10)])
    _write(out / "test", x[8000:], y[8000:], [str(k) for k in range(10)])
    return out


def train(config: Path, run: Path, *overrides: str) -> dict:
    """``aimodel train`` in a subprocess; its summary and wall time."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "aimodel", "train", str(config), "--run-dir", str(run), "--quiet"]
    for o in overrides:
        cmd += ["--set", o]
    subprocess.run(cmd, check=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    out = subprocess.run([sys.executable, "-m", "aimodel", "evaluate", str(run), "--json"], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    report = json.loads(out[out.index("{"):])
    return {"run": str(run), "accuracy": report.get("accuracy"), "seconds": round(seconds, 1)}


def folders(args) -> list[dict]:
    cfg = ROOT / "configs" / "image_folder.yaml"
    made = {"digits32": digits_folder(OUT / "folders" / "digits32"),
            "photos": photos_folder(OUT / "folders" / "photos"),
            "mnist": mnist_folder(OUT / "folders" / "mnist")}
    rows = []
    for name in args.only or made:
        extra = [f"training.epochs={args.epochs}"] if args.epochs else []
        row = train(cfg, OUT / "runs" / f"folder-{name}-{int(time.time())}", f"dataset.path={made[name]}", *extra)
        rows.append({"folder": name, **row})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _subset_npz(path: Path, digits, per_class: int, seed: int = 0) -> Path:
    """MNIST digits ``digits`` as an .npz: ``per_class`` training images each (None: all of the first 8,000),
    the test set from the last 2,000; labels renumbered 0..len(digits)-1."""
    x, y = mnist_arrays()
    rng = np.random.default_rng(seed)
    train_idx = []
    for k in digits:
        idx = np.flatnonzero(y[:8000] == k)
        train_idx += list(rng.choice(idx, per_class, replace=False) if per_class else idx)
    train_idx = np.array(sorted(train_idx))
    test_idx = 8000 + np.flatnonzero(np.isin(y[8000:], digits))
    remap = {k: i for i, k in enumerate(digits)}
    np.savez(path, x_train=x[train_idx], y_train=np.array([remap[v] for v in y[train_idx]]),
             x_test=x[test_idx], y_test=np.array([remap[v] for v in y[test_idx]]))
    return path


SCRATCH = {"architecture": "cnn", "filters": [32, 64], "dense": [128], "dropout": 0.3}


def _config(path: Path, name: str, npz: Path, model: dict, epochs: int, lr: float = 0.001, seed: int = 1) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "name": name, "seed": seed,
        "dataset": {"name": "npz", "path": str(npz), "validation_split": 0.0},
        "model": model, "training": {"epochs": epochs, "batch_size": 16, "learning_rate": lr},
    }, sort_keys=False))
    return path


def transfer(args) -> list[dict]:
    seed = args.seed
    work = OUT / "transfer" if seed == 1 else OUT / f"transfer-seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    source = work / "source"
    if not (source / "best.keras").is_file():
        npz = _subset_npz(work / "source.npz", [0, 1, 2, 3, 4], None)
        train(_config(work / "source.yaml", "source", npz, SCRATCH, args.source_epochs, seed=seed), source)
    rows = []
    recipes = {
        "scratch": (SCRATCH, 30, 0.001),
        "frozen": ({"architecture": "pretrained", "backbone": str(source), "head_epochs": 30,
                    "fine_tune_layers": 0, "dropout": 0.0}, 30, 0.001),
        "two_phase": ({"architecture": "pretrained", "backbone": str(source), "head_epochs": 15,
                       "fine_tune_layers": "all", "fine_tune_lr_scale": 0.1, "dropout": 0.0}, 30, 0.001),
    }
    for case, digits in (("a", [0, 1, 2, 3, 4]), ("b", [5, 6, 7, 8, 9])):
        npz = _subset_npz(work / f"{case}.npz", digits, args.per_class, seed=seed + 6)
        for recipe in args.recipes or recipes:
            model, epochs, lr = recipes[recipe]
            config = _config(work / f"{case}-{recipe}.yaml", f"{case}-{recipe}", npz, model, epochs, lr, seed)
            row = train(config, work / f"{case}-{recipe}-{int(time.time())}")
            rows.append({"case": case, "recipe": recipe, "seed": seed, **row})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def example() -> None:
    """examples/photos: 8 crops per class of the sample photos, the template's placeholder folder."""
    images, labels = photo_crops(size=32, step=48)
    names = ["china_left", "china_right", "flower_left", "flower_right"]
    out = ROOT / "examples" / "photos"
    for k, name in enumerate(names):
        for j, i in enumerate(np.flatnonzero(labels == k)[::3][:8]):
            (out / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(out / name / f"{j}.jpg", quality=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["folders", "transfer", "example"])
    parser.add_argument("--epochs", type=int, default=None, help="folders: override training.epochs")
    parser.add_argument("--only", nargs="*", help="folders: digits32, photos, mnist")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--source-epochs", type=int, default=3)
    parser.add_argument("--recipes", nargs="*", help="transfer: scratch, frozen, two_phase")
    parser.add_argument("--seed", type=int, default=1,
                        help="transfer: every run's seed; the training images are drawn with seed + 6")
    args = parser.parse_args()
    if args.what == "example":
        example()
        return
    rows = folders(args) if args.what == "folders" else transfer(args)
    suffix = f"_seed{args.seed}" if args.what == "transfer" and args.seed != 1 else ""
    (OUT / f"transfer_{args.what}{suffix}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
