"""Keras built-ins read from local copies in Keras' own layouts, and CSV tables."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from aimodel.config import load_config
from aimodel.data import load_data
from aimodel.errors import ConfigError, DataError
from tests._data_fixtures import cifar10_tar, cifar100_dir, fashion_files, sequences_npz, word_index
from tests.conftest import TINY, write_config


def _bundle(tmp_path, dataset: dict, seed: int = 7):
    cfg = load_config(write_config(tmp_path / "c.yaml", dict(TINY, seed=seed, dataset=dataset)))
    return load_data(cfg.dataset, cfg.seed)


def test_fashion_mnist_from_the_four_idx_files(tmp_path):
    folder = fashion_files(tmp_path / "fashion-mnist")
    b = _bundle(tmp_path, {"name": "fashion_mnist", "path": str(folder), "validation_split": 0.2})
    assert b.train.x.shape[1:] == (28, 28, 1) and len(b.train) + len(b.val) == 60 and len(b.test) == 20
    assert b.spec.class_names[0] == "T-shirt/top" and len(b.spec.class_names) == 10
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"fashion-mnist: missing t10k-labels-idx1-ubyte\.gz"):
        _bundle(tmp_path, {"name": "fashion_mnist", "path": str(folder)})


def test_cifar10_from_the_tar_gz_with_names_from_meta(tmp_path):
    path = cifar10_tar(tmp_path / "cifar-10-python.tar.gz")
    b = _bundle(tmp_path, {"name": "cifar10", "path": str(path), "validation_split": 0.2})
    assert b.train.x.shape[1:] == (32, 32, 3) and len(b.train) + len(b.val) == 40 and len(b.test) == 16
    assert b.spec.class_names == ["plane", "car", "bird", "cat"]
    # class k is a bright band at columns 8k..8k+8: pixels came out in (H, W, C) order
    k = int(b.test.y[0])
    assert b.test.x[0, :, 8 * k : 8 * k + 8].mean() > 200


def test_cifar100_from_an_extracted_folder_fine_and_coarse(tmp_path):
    folder = cifar100_dir(tmp_path / "c100")
    fine = _bundle(tmp_path, {"name": "cifar100", "path": str(folder), "validation_split": 0.2})
    assert fine.spec.class_names == ["apple", "bee", "cup", "dog"]
    coarse = _bundle(tmp_path, {"name": "cifar100", "path": str(folder), "label_mode": "coarse",
                                "validation_split": 0.2})
    assert coarse.spec.class_names == ["food", "things"]


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    folder = cifar100_dir(tmp_path / "c100")
    (folder / "cifar-100-python" / "train").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match=r"train: refusing to load `(posix|os)\.system`"):
        _bundle(tmp_path, {"name": "cifar100", "path": str(folder)})
    assert not (tmp_path / "pwned").exists()


def test_imdb_sequences_become_text_through_the_word_index(tmp_path):
    x = [[1, 2, 3, 4], [1, 6, 3, 5], [2, 3, 4], [6, 3, 5]] * 3
    y = [1, 0, 1, 0] * 3
    path = sequences_npz(tmp_path / "imdb.npz", {"x_train": x, "y_train": y, "x_test": x[:4], "y_test": y[:4]})
    index = word_index(tmp_path / "imdb_word_index.json")
    b = _bundle(tmp_path, {"name": "imdb", "path": str(path), "word_index": str(index), "validation_split": 0.34,
                           "sequence_length": 50})
    assert b.spec.kind == "text" and b.spec.class_names == ["negative", "positive"]
    assert b.spec.sequence_length == 50 and b.spec.max_tokens == 20000
    assert list(b.test.x) == ["the movie was great", "the plot was awful", "movie was great", "plot was awful"]


def test_reuters_split_by_test_split_with_topic_names(tmp_path):
    x = [[1, 2], [3, 4], [5, 6], [2, 3]] * 5
    y = [0, 1, 2, 3] * 5
    path = sequences_npz(tmp_path / "reuters.npz", {"x": x, "y": y})
    index = word_index(tmp_path / "reuters_word_index.json")
    b = _bundle(tmp_path, {"name": "reuters", "path": str(path), "word_index": str(index), "test_split": 0.2,
                           "validation_split": 0})
    assert len(b.train) == 16 and len(b.test) == 4
    assert b.spec.class_names == ["cocoa", "grain", "veg-oil", "earn"]
    wrong = sequences_npz(tmp_path / "bad.npz", {"x_train": x, "y": y})
    with pytest.raises(DataError, match=r"bad\.npz: missing array\(s\) x; found x_train, y"):
        _bundle(tmp_path, {"name": "reuters", "path": str(wrong), "word_index": str(index)})


@pytest.mark.parametrize("name, hint", [
    ("fashion_mnist", "dataset.path: /path/to/fashion-mnist/"),
    ("cifar10", "dataset.path: /path/to/cifar-10-python.tar.gz"),
    ("imdb", "dataset.path: /path/to/imdb.npz"),
])
def test_offline_without_a_copy_names_the_cache_and_the_key(tmp_path, monkeypatch, name, hint):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", offline)
    with pytest.raises(DataError) as err:
        _bundle(tmp_path, {"name": name})
    text = str(err.value)
    assert f"cannot download the files of dataset '{name}'" in text and "Name or service not known" in text
    assert str(tmp_path / "kh" / "datasets") in text and hint in text


# --- csv --------------------------------------------------------------------------------------


def _csv(path, rows, header="size,color,species"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _iris_like(n=30):
    rows = []
    for i in range(n):
        k = i % 3
        rows.append(f"{k * 2 + (i % 5) * 0.1:.2f},{['red', 'green', 'blue'][k]},{['setosa', 'versicolor', 'virginica'][k]}")
    return rows


def test_csv_numeric_and_categorical_columns(tmp_path):
    path = _csv(tmp_path / "iris.csv", _iris_like())
    b = _bundle(tmp_path, {"name": "csv", "path": str(path), "label": "species", "validation_split": 0.2})
    assert b.spec.kind == "tabular" and b.spec.class_names == ["setosa", "versicolor", "virginica"]
    assert b.spec.columns == [{"name": "size", "type": "numeric"}, {"name": "color", "type": "categorical"}]
    assert b.spec.shape == (2,)
    assert b.train.x["size"].dtype == np.float32 and b.train.x["color"].dtype == object
    assert len(b.train) + len(b.val) + len(b.test) == 30 and len(b.test) == 6
    forced = _bundle(tmp_path, {"name": "csv", "path": str(path), "label": "species", "categorical": ["size"],
                                "features": ["size"], "validation_split": 0.2})
    assert forced.spec.columns == [{"name": "size", "type": "categorical"}]


def test_csv_text_column_gives_text_kind(tmp_path):
    rows = [f"{i},\"{'great fun' if i % 2 else 'dull, boring'} film\",{'pos' if i % 2 else 'neg'}" for i in range(20)]
    path = _csv(tmp_path / "t.csv", rows, header="id,review,label")
    b = _bundle(tmp_path, {"name": "csv", "path": str(path), "label": "label", "text_column": "review",
                           "validation_split": 0.2, "max_tokens": 100})
    assert b.spec.kind == "text" and b.spec.max_tokens == 100
    assert set(b.train.x) <= {"great fun film", "dull, boring film"}


def test_csv_missing_label_column_is_named(tmp_path):
    path = _csv(tmp_path / "iris.csv", _iris_like())
    with pytest.raises(DataError, match=r"iris\.csv: no column 'specie' \(dataset\.label\) \(did you mean 'species'\?\)"):
        _bundle(tmp_path, {"name": "csv", "path": str(path), "label": "specie"})


def test_csv_test_file_with_labels_training_never_saw(tmp_path):
    train = _csv(tmp_path / "train.csv", _iris_like())
    test = _csv(tmp_path / "test.csv", _iris_like(6)[:5] + ["1.0,red,unicorn"])
    with pytest.raises(DataError, match=r"test\.csv: column 'species' has label\(s\) 'unicorn' that never occur"):
        _bundle(tmp_path, {"name": "csv", "train_path": str(train), "test_path": str(test), "label": "species"})


def test_csv_non_number_in_numeric_column_names_row_and_column(tmp_path):
    rows = _iris_like()
    rows[4] = "abc,red,setosa"  # (an empty cell is a missing value, filled by the model)
    train, test = _csv(tmp_path / "train.csv", _iris_like()), _csv(tmp_path / "test.csv", rows)
    with pytest.raises(DataError, match=r"test\.csv: line 6, column 'size': 'abc' is not a number"):
        _bundle(tmp_path, {"name": "csv", "train_path": str(train), "test_path": str(test), "label": "species"})


def test_csv_needs_exactly_one_source(tmp_path):
    with pytest.raises(ConfigError, match="either dataset.path"):
        _bundle(tmp_path, {"name": "csv", "label": "y"})
