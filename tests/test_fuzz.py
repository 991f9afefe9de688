"""Property-based fuzzing (Hypothesis) of everything that reads user files.

Property: every reader returns a result or raises one of aimodel's own errors
(``AimodelError``), quickly; any other exception is a bug. The example count is
bounded and the search derandomized so ``make test`` stays fast and repeatable;
``AIMODEL_FUZZ_EXAMPLES=2000 make test`` (or ``pytest tests/test_fuzz.py``
with it set) runs a deeper search.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aimodel.errors import AimodelError

pytestmark = pytest.mark.timing

EXAMPLES = int(os.environ.get("AIMODEL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
#: each call must end within this many seconds (the billion-laughs hang took minutes)
BOUND_S = 5.0

VALID_YAML = """name: fuzz
seed: 3
dataset: {name: digits, test_split: 0.2}
model:
  architecture: cnn
  filters: [8, 16]
  dense: [16]
training: {epochs: 1, batch_size: 8, learning_rate: 0.01}
"""


def _own_errors_only(call) -> None:
    start = time.perf_counter()
    try:
        call()
    except AimodelError:
        pass
    assert time.perf_counter() - start < BOUND_S


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    return bytes(buf[: max(0, len(buf) - cut)])


edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=12)


def _tmp(suffix: str, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(name)


# --- configs ---------------------------------------------------------------------------------------

yaml_chars = st.sampled_from(list("abcdefgilmnoprstuyz_.:-[]{},&*!|>'\"#% \n\t0123456789") + ["\u2028", "\x85"])


@FUZZ
@given(st.text(yaml_chars, max_size=300))
def test_config_loader_on_random_yaml(text):
    from aimodel.config import load_config

    path = _tmp(".yaml", text.encode("utf-8"))
    try:
        _own_errors_only(lambda: load_config(path))
    finally:
        path.unlink()


@FUZZ
@given(edits, st.integers(0, 40))
def test_config_loader_on_mutated_valid_yaml(mutations, cut):
    from aimodel.config import load_config

    path = _tmp(".yaml", _mutate(VALID_YAML.encode(), mutations, cut))
    try:
        _own_errors_only(lambda: load_config(path))
    finally:
        path.unlink()


keys = st.sampled_from(["training.epochs", "model.filters", "dataset.name", "seed", "training", "model.0",
                        "training.lr_schedule.type", "", "x.y.z", "dataset.test_split"])


@FUZZ
@given(st.lists(st.tuples(keys, st.text(yaml_chars, max_size=40), st.booleans()), max_size=4))
def test_set_overrides(pairs):
    from aimodel.config import load_config

    path = _tmp(".yaml", VALID_YAML.encode())
    overrides = [f"{k}={v}" if eq else f"{k}{v}" for k, v, eq in pairs]
    try:
        _own_errors_only(lambda: load_config(path, overrides))
    finally:
        path.unlink()


# --- images -----------------------------------------------------------------------------------------


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8))
    if fmt == "GIF":
        img = img.convert("P")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP")}


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), edits, st.integers(0, 60), st.sampled_from([1, 3]))
def test_image_readers_on_mutated_files(fmt, mutations, cut, channels):
    from aimodel.data.images import check_image, decode_file, read_image

    path = _tmp("." + fmt.lower(), _mutate(SEEDS[fmt], mutations, cut))
    try:
        _own_errors_only(lambda: read_image(path, channels))  # predict, evaluate --data
        info, reason = check_image(path)  # the training folder scan never raises
        assert (info is None) != (reason is None)
        if info is not None:
            _own_errors_only(lambda: decode_file(path, 8, 8, channels))  # training-time decoding
    finally:
        path.unlink()


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), edits, st.integers(0, 60), st.integers(1, 4))
def test_reduced_image_decoding_on_mutated_files(fmt, mutations, cut, min_side):
    from aimodel.data.images import read_image

    path = _tmp("." + fmt.lower(), _mutate(SEEDS[fmt], mutations, cut))
    try:  # the serving and predict path: decoded reduced (draft, box reduction) before any float copy
        _own_errors_only(lambda: read_image(path, 3, min_side=min_side))
    finally:
        path.unlink()


@FUZZ
@given(st.binary(max_size=200))
def test_image_reader_on_random_bytes(data):
    from aimodel.data.images import read_image

    path = _tmp(".png", data)
    try:
        _own_errors_only(lambda: read_image(path, 1))
    finally:
        path.unlink()


# --- request bodies of aimodel serve ---------------------------------------------------------------------

json_chars = st.sampled_from(list('[]{}",:\\0123456789.eE-+ truefalsn') + ["\u00e9", "\x00"])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(json_chars, max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(json_chars, max_size=4),
                                                                                       inner, max_size=3),
                           max_leaves=20)


def _depth(value) -> int:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max((_depth(c) for c in children), default=0)


@FUZZ
@given(st.text(json_chars, max_size=300))
def test_request_json_parser_on_random_text(text):
    from aimodel.serving.limits import RequestError, parse_json

    try:
        parse_json(text.encode())
    except RequestError as exc:  # every unusable body is a one-line 400, never another exception
        assert exc.status == 400 and "\n" not in exc.message


@FUZZ
@given(json_values)
def test_request_json_depth_matches_the_parsed_value(value):
    from aimodel.serving.limits import json_depth

    raw = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth(raw) == _depth(json.loads(raw))


# --- tables -------------------------------------------------------------------------------------------

csv_chars = st.sampled_from(list("ab1.5,;\"\n\r\t -e") + ["\x00", "\ufeff", "é"])


@FUZZ
@given(st.text(csv_chars, max_size=200), st.sampled_from([".csv", ".tsv"]))
def test_csv_reader(text, suffix):
    from aimodel.data.files import read_csv

    path = _tmp(suffix, text.encode("utf-8", "surrogatepass"))
    try:
        _own_errors_only(lambda: read_csv(path))
    finally:
        path.unlink()


# --- run files -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_template(trained_run) -> dict[str, bytes]:
    return {name: (trained_run / name).read_bytes() for name in ("state.json", "meta.json", "best.keras")}


@FUZZ
@given(st.sampled_from(["state.json", "meta.json", "best.keras"]), edits, st.integers(0, 200), st.booleans())
def test_run_files_damaged(run_template, tmp_path_factory, name, mutations, cut, random_bytes):
    """A damaged state.json, meta.json or best.keras gives a clean error from resume, evaluate and predict."""
    from aimodel.inference.checkpoint import resolve_checkpoint
    from aimodel.inference.predict import Predictor
    from aimodel.training import checkpointing

    run = tmp_path_factory.mktemp("run")
    for file, data in run_template.items():
        (run / file).write_bytes(data)
    (run / "checkpoints").mkdir()
    original = run_template[name]
    damaged = os.urandom(min(len(original), 400)) if random_bytes else _mutate(original, mutations, cut)
    (run / name).write_bytes(damaged)
    if name == "state.json":
        _own_errors_only(lambda: checkpointing.read_state(run))
    elif name == "meta.json":
        _own_errors_only(lambda: resolve_checkpoint(run).spec)
    else:
        _own_errors_only(lambda: Predictor(run))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
SPEC_KEYS = ["kind", "shape", "class_names", "background", "content_fraction", "ink_coverage", "stroke_width", "ink_centre", "columns",
             "max_tokens", "sequence_length", "vocab_size", "text_column", "label_column"]
STATE_KEYS = ["epoch", "global_step", "steps_per_epoch", "checkpoint", "monitor", "mode", "best_value",
              "best_epoch", "best_checkpoint", "early_stopping", "plateau", "learning_rate", "format"]


@FUZZ
@given(st.dictionaries(st.sampled_from(SPEC_KEYS), json_values, max_size=8),
       st.dictionaries(st.sampled_from(STATE_KEYS), json_values, max_size=10))
def test_run_files_with_wrong_values(run_template, tmp_path_factory, spec, state):
    """Well-formed JSON with wrong keys, types or values in meta.json and state.json."""
    from aimodel.inference.checkpoint import resolve_checkpoint
    from aimodel.training import checkpointing

    run = tmp_path_factory.mktemp("run")
    (run / "best.keras").write_bytes(run_template["best.keras"])
    (run / "meta.json").write_text(json.dumps({"input": spec}))
    (run / "state.json").write_text(json.dumps(state))
    _own_errors_only(lambda: resolve_checkpoint(run).spec)
    _own_errors_only(lambda: checkpointing.read_state(run))
