"""``aimodel serve`` on a forecasting run: a CSV upload (file or text) answers what ``aimodel predict SERIES.csv``
answers, a bad series is its own one-line error, /metadata gives the series contract, TF Serving REST and
KServe V2 take raw windows, and the page offers the series upload."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests.conftest import write_config

pytestmark = pytest.mark.serve

START = dt.date(2023, 1, 1)


def write_series(path: Path, n: int = 200, skip: tuple[int, ...] = ()) -> Path:
    """``n`` daily rows of ``date,load,temp`` (a weekly sine plus a trend), without the rows in ``skip``."""
    t = np.arange(n)
    load = 10 + 0.01 * t + 2 * np.sin(2 * np.pi * t / 7)
    lines = [f"{START + dt.timedelta(days=i)},{load[i]:.4f},{np.cos(i / 5):.3f}" for i in range(n) if i not in skip]
    path.write_text("date,load,temp\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("serve_series")
    cfg = {"name": "s", "seed": 3,
           "dataset": {"name": "timeseries", "path": str(write_series(tmp / "load.csv")), "time_column": "date",
                       "target": "load", "features": ["temp"], "window": 14, "horizon": 3},
           "model": {"architecture": "mlp", "units": [16]},
           "training": {"epochs": 2, "batch_size": 16, "tensorboard": False}}
    result = CliRunner().invoke(main, ["train", str(write_config(tmp / "s.yaml", cfg)), "--run-dir",
                                       str(tmp / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    return tmp / "run"


@pytest.fixture(scope="module")
def client(run):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    with TestClient(create_app(ServedModel(run, name="m"), ServeSettings(model=str(run), name="m"))) as c:
        yield c


def _upload(client, path: Path, name: str | None = None):
    return client.post("/predict", files={"f": (name or path.name, path.read_bytes(), "text/csv")})


def test_csv_upload_forecasts_as_predict_does(run, client, tmp_path):
    import aimodel

    series = write_series(tmp_path / "new.csv", 60)
    expected = aimodel.predict([series], model=run).to_json()["forecasts"][0]
    got = _upload(client, series)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["failed"] == 0 and body["task"] == "regression"
    (forecast,) = body["predictions"]
    assert forecast["input"] == "new.csv" and forecast["last_time"] == expected["last_time"] == "2023-03-01"
    assert [s["step"] for s in forecast["forecast"]] == ["t+1", "t+2", "t+3"]
    assert [s["time"] for s in forecast["forecast"]] == ["2023-03-02", "2023-03-03", "2023-03-04"]
    np.testing.assert_allclose([s["value"] for s in forecast["forecast"]],
                               [s["value"] for s in expected["forecast"]], rtol=1e-5)
    # the same series as CSV text in a form field
    text = client.post("/predict", data={"text": series.read_text()})
    assert text.status_code == 200, text.text
    assert text.json()["predictions"][0]["forecast"] == forecast["forecast"]


def test_bad_series_is_its_own_error(client, tmp_path):
    good = write_series(tmp_path / "good.csv", 40)
    gap = write_series(tmp_path / "gap.csv", 40, skip=(30,))
    short = write_series(tmp_path / "short.csv", 10)
    got = client.post("/predict", files=[("f", (p.name, p.read_bytes(), "text/csv")) for p in (good, gap, short)])
    assert got.status_code == 422
    body = got.json()
    assert body["failed"] == 2 and body["error"].startswith("2 of 3 input(s) could not be predicted")
    ok, bad_gap, bad_short = body["predictions"]
    assert len(ok["forecast"]) == 3
    assert bad_gap["error"].startswith("gap.csv: ") and "a gap between 2023-01-30" in bad_gap["error"] and "\n" not in bad_gap["error"]
    assert bad_short["error"].startswith("short.csv: 10 row(s)") and "at least 14 rows" in bad_short["error"]
    unparsable = client.post("/predict", data={"text": "date,load,temp\nyesterday,1,2\n"}).json()
    assert unparsable["predictions"][0]["error"].startswith("text: ") and "date" in unparsable["predictions"][0]["error"]
    npy = client.post("/predict", files={"f": ("w.npy", b"\x93NUMPY", "application/octet-stream")}).json()
    assert "a forecasting model takes CSV files of the series" in npy["predictions"][0]["error"]


def test_metadata_gives_the_series_contract(client):
    meta = client.get("/metadata").json()
    series = meta["input"]["series"]
    assert {k: series[k] for k in ("time_column", "target", "features", "window", "horizon", "step", "fill")} == {
        "time_column": "date", "target": "load", "features": ["temp"], "window": 14, "horizon": 3,
        "step": "1 day", "fill": "none"}
    assert series["anchor"] == "last"
    assert series["raw_windows"]["shape"] == [14, 2] and series["raw_windows"]["columns"] == ["load", "temp"]
    assert "/v1/models/m:predict" in series["raw_windows"]["tf_serving"]
    assert meta["outputs"] == ["t+1", "t+2", "t+3"]


def test_json_apis_take_raw_windows(run, client, tmp_path):
    from aimodel.inference.predict import Predictor

    rows = np.loadtxt(write_series(tmp_path / "w.csv", 30), delimiter=",", skiprows=1, usecols=(1, 2))
    windows = np.stack([rows[-14:], rows[-15:-1]]).astype(np.float32)
    direct = Predictor(run).outputs(list(windows))
    tf_rest = client.post("/v1/models/m:predict", json={"instances": windows.tolist()})
    assert tf_rest.status_code == 200, tf_rest.text
    np.testing.assert_allclose(tf_rest.json()["predictions"], direct, rtol=1e-5)
    name = client.get("/v2/models/m").json()["inputs"][0]["name"]
    v2 = client.post("/v2/models/m/infer", json={"inputs": [{"name": name, "datatype": "FP32", "shape": [2, 14, 2],
                                                             "data": windows.ravel().tolist()}]})
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["shape"] == [2, 3]
    np.testing.assert_allclose(np.reshape(v2.json()["outputs"][0]["data"], (2, 3)), direct, rtol=1e-5)


def test_page_offers_the_series_upload(client):
    page = client.get("/").text
    assert 'id="series-hint"' in page and "CSV of the series" in page
    script = client.get("/static/app.js").text
    assert "input.series" in script and "p.forecast" in script
