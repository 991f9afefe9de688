"""Forecasting (dataset.name: timeseries): the chronological split and its windows, train → resume → evaluate
(beside persistence and seasonal naive) → predict the next steps, cv folds in time order, and every refusal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.config import load_config
from aimodel.data import load_data
from aimodel.errors import ConfigError, DataError
from tests.conftest import write_config

START = dt.date(2023, 1, 1)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write_series(path: Path, n: int = 300, seed: int = 0, values=None, rows=None) -> Path:
    """``n`` daily rows of ``date,load,temp``: a weekly sine plus a trend and noise (or ``values``)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    load = values if values is not None else 10 + 0.01 * t + 2 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.1, n)
    lines = rows if rows is not None else [f"{START + dt.timedelta(days=i)},{load[i]:.4f},{np.cos(i / 5):.3f}"
                                           for i in range(n)]
    path.write_text("date,load,temp\n" + "\n".join(lines) + "\n")
    return path


def config(tmp: Path, data: Path, name: str = "s", **dataset) -> dict:
    return {"name": name, "seed": 3,
            "dataset": {"name": "timeseries", "path": str(data), "time_column": "date", "target": "load",
                        "features": ["temp"], "window": 14, "horizon": 3, "season": 7, **dataset},
            "model": {"architecture": "mlp", "units": [32]},
            "training": {"epochs": 20, "batch_size": 16, "learning_rate": 0.005, "tensorboard": False}}


def load(tmp_path: Path, data: Path, **dataset):
    cfg = load_config(write_config(tmp_path / "c.yaml", config(tmp_path, data, **dataset)))
    return load_data(cfg.dataset, cfg.seed, cfg.task)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("series")
    data = write_series(tmp / "load.csv")
    result = _invoke("train", write_config(tmp / "s.yaml", config(tmp, data)), "--run-dir", tmp / "run", "--quiet")
    assert result.exit_code == 0, result.output
    return tmp / "run"


# --- the split and the windows -------------------------------------------------------------------------------


def test_no_task_means_regression_and_classification_is_refused(tmp_path):
    data = write_series(tmp_path / "s.csv")
    cfg = load_config(write_config(tmp_path / "c.yaml", config(tmp_path, data)))
    assert cfg.task == "regression" and cfg.training.monitor == "val_loss"
    with pytest.raises(ConfigError, match=r"task: classification: dataset.name timeseries gives regression"):
        load_config(write_config(tmp_path / "d.yaml", {**config(tmp_path, data), "task": "classification"}))


def test_chronological_split_keeps_test_rows_out_of_training_windows(tmp_path):
    """The target is the row number, so every value in a window names its row."""
    n = 200
    b = load(tmp_path, write_series(tmp_path / "s.csv", n, values=np.arange(n, dtype=float)), features=[],
             test_split=0.2, validation_split=0.1, window=10, horizon=4, season=None)
    first_val, first_test = 140, 160  # 70% / 10% / 20% of 200 rows
    train_rows = np.concatenate([b.train.x.ravel(), b.train.y.ravel()])
    assert train_rows.max() < first_val  # no validation or test row in any training window
    assert np.concatenate([b.val.x.ravel(), b.val.y.ravel()]).max() < first_test
    assert b.val.y.min() >= first_val and b.test.y.min() >= first_test  # targets stay in their part
    assert b.test.y.max() == n - 1 and b.test.x.min() < first_test  # test inputs may reach back (the known past)
    assert len(b.train) == first_val - 10 - 4 + 1 and len(b.val) == 20 - 4 + 1 and len(b.test) == 40 - 4 + 1
    assert b.notes["parts"]["test"] == {"rows": 40, "from": "2023-06-10", "to": "2023-07-19"}
    assert b.spec.class_names == ["t+1", "t+2", "t+3", "t+4"] and b.train.y.dtype == np.float32


def test_windows_are_keras_timeseries_windows(tmp_path):
    import keras

    b = load(tmp_path, write_series(tmp_path / "s.csv", 80), validation_split=0.0)
    values = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1, usecols=(1, 2), dtype=np.float32)
    starts = keras.utils.timeseries_dataset_from_array(values, None, sequence_length=14, batch_size=1000)
    every = next(iter(starts)).numpy()  # every window of 14 rows, by first row
    ends = keras.utils.timeseries_dataset_from_array(values[:, 0], None, sequence_length=3, batch_size=1000)
    after = next(iter(ends)).numpy()
    assert b.spec.shape == (14, 2) and len(b.train) == 64 - 14 - 3 + 1
    np.testing.assert_array_equal(b.train.x, every[:len(b.train)])
    np.testing.assert_array_equal(b.train.y, after[14:14 + len(b.train)])


def test_fill_previous_and_interpolate_fill_gaps_and_missing_cells(tmp_path):
    rows = [f"{START + dt.timedelta(days=i)},{float(i)},1" for i in range(60)]
    del rows[10:12]  # days 10 and 11 missing
    rows[20] = rows[20].replace(",22.0,", ",NA,")
    data = write_series(tmp_path / "s.csv", rows=rows)
    for fill, want in (("previous", [9, 9, 9, 21, 21]), ("interpolate", [9, 10, 11, 21, 22])):
        b = load(tmp_path, data, fill=fill, features=[], validation_split=0.0, window=5, horizon=1, season=None,
                 test_split=0.5)
        series = np.concatenate([b.train.x[0, :, 0], b.train.y[:, 0]])
        assert series[[9, 10, 11, 21, 22]].tolist() == want, fill
        assert b.notes["filled_steps"] == 2


# --- refusals --------------------------------------------------------------------------------------------------


def _rows(n: int = 60):
    return [f"{START + dt.timedelta(days=i)},{float(i)},1" for i in range(n)]


@pytest.mark.parametrize("change, message", [
    (lambda r: r.__setitem__(7, "2023-01-08x,1,1"),
     r"line 9, column 'date': '2023-01-08x' is not a time \(expected a date or time"),
    (lambda r: r.__delitem__(slice(30, 33)),
     r"a gap between 2023-01-30 \(line 31\) and 2023-02-03 \(line 32\): 3 step\(s\) of 1 day missing; set "
     r"dataset.fill: previous or interpolate"),
    (lambda r: r.__setitem__(5, r[4]),
     r"column 'date': 2023-01-05 occurs twice \(lines 6 and 7\)"),
    (lambda r: r.__setitem__(12, "2023-01-13,n/a?,1"),
     r"line 14, column 'load': 'n/a\?' is not a number"),
    (lambda r: r.__setitem__(12, "2023-01-13,,1"),
     r"line 14, column 'load': the value is missing; set dataset.fill"),
])
def test_bad_series_are_one_line_errors(tmp_path, change, message):
    rows = _rows()
    change(rows)
    with pytest.raises(DataError, match=message) as err:
        load(tmp_path, write_series(tmp_path / "s.csv", rows=rows))
    assert "\n" not in str(err.value)


def test_duplicates_stay_an_error_with_fill(tmp_path):
    rows = _rows()
    rows[5] = rows[4]
    with pytest.raises(DataError, match="occurs twice"):
        load(tmp_path, write_series(tmp_path / "s.csv", rows=rows), fill="interpolate")


def test_a_short_series_says_how_many_rows_it_needs(tmp_path):
    with pytest.raises(DataError, match=r"the series has 15 rows; dataset.window 14 \+ dataset.horizon 3 need at "
                                        r"least 17 rows for one window, and \d+ with test_split"):
        load(tmp_path, write_series(tmp_path / "s.csv", rows=_rows(15)))
    with pytest.raises(DataError, match=r"the series has 24 rows.* and 26 with test_split 0.2 and "
                                        r"validation_split 0.1"):
        load(tmp_path, write_series(tmp_path / "s.csv", rows=_rows(24)))  # 2 validation rows: fewer than horizon
    b = load(tmp_path, write_series(tmp_path / "s.csv", rows=_rows(26)))
    assert (len(b.train), len(b.val), len(b.test)) == (2, 1, 3)  # 18, 3 and 5 rows


def test_config_refusals(tmp_path):
    data = write_series(tmp_path / "s.csv", 40)
    for dataset, message in (({"season": 30}, "dataset.season 30 is longer than dataset.window 14"),
                             ({"features": ["load"]}, "load named twice")):
        with pytest.raises(ConfigError, match=message):
            load(tmp_path, data, **dataset)


def test_a_time_between_two_steps_is_refused(tmp_path):
    rows = ["2023-01-01 00:00,1,1", "2023-01-01 01:00,2,1", "2023-01-01 02:30,3,1"]
    with pytest.raises(DataError, match=r"line 4, column 'date': 2023-01-01 02:30:00 is not a whole number of steps "
                                        r"\(1 hour\) after 2023-01-01 00:00:00"):
        load(tmp_path, write_series(tmp_path / "s.csv", rows=rows), window=1, horizon=1, season=None)


def test_cli_refusal_exits_1_and_writes_no_run(tmp_path):
    rows = _rows()
    del rows[30]
    cfg = write_config(tmp_path / "c.yaml", config(tmp_path, write_series(tmp_path / "s.csv", rows=rows)))
    result = _invoke("train", cfg, "--run-dir", tmp_path / "run")
    assert result.exit_code == 1 and "a gap between 2023-01-30 (line 31) and 2023-02-01 (line 32)" in result.output
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


# --- times ----------------------------------------------------------------------------------------------------


def test_time_axis_units_and_formats():
    from aimodel.data.timeaxis import parse_times, step_text

    lines = [2, 3, 4]
    monthly = parse_times(["2024-01-31", "2024-02-29", "2024-03-31"], lines, "f", "t")
    assert monthly.unit == "month" and monthly.day is None and monthly.text(monthly.values[-1] + 1) == "2024-04-30"
    mid = parse_times(["2024-01-15", "2024-02-15", "2024-04-15"], lines, "f", "t")
    assert mid.text(mid.values[-1] + 1) == "2024-05-15" and step_text(1, "month") == "1 month"
    hourly = parse_times(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01T02:00"], lines, "f", "t")
    assert hourly.unit == "second" and hourly.text(hourly.values[-1] + 3600) == "2024-01-01 03:00:00"
    utc = parse_times(["2024-01-01T00:00Z", "2024-01-01T00:15+00:00", "2024-01-01T00:30Z"], lines, "f", "t")
    assert utc.format == "datetime_utc" and step_text(900.0, "second") == "15 minutes"
    numbers = parse_times(["1", "2", "3"], lines, "f", "t")
    assert numbers.unit == "number" and numbers.text(4.0) == "4"
    with pytest.raises(DataError, match=r"line 3, column 't': .* has a time zone"):
        parse_times(["2024-01-01 00:00", "2024-01-01T01:00Z", "2024-01-01 02:00"], lines, "f", "t")


def test_time_axis_reads_year_months_day_first_and_slashed_dates():
    from aimodel.data.timeaxis import parse_times

    lines = [2, 3, 4]
    months = parse_times(["1949-01", "1949-02", "1949-03"], lines, "f", "t")  # the airline passengers layout
    assert months.unit == "month" and months.format == "month" and months.text(months.values[-1] + 1) == "1949-04"
    dotted = parse_times(["30.12.2023", "31.12.2023", "01.01.2024 06:30"], lines, "f", "t")
    assert dotted.text(dotted.values[-1]) == "2024-01-01 06:30:00" and dotted.dayfirst is None
    us = parse_times(["12/30/2023", "12/31/2023", "1/1/2024"], lines, "f", "t")
    assert us.dayfirst is False and us.text(us.values[0]) == "2023-12-30"
    uk = parse_times(["30/12/2023", "31/12/2023", "1/1/2024"], lines, "f", "t")
    assert uk.dayfirst is True and list(uk.values) == list(us.values)
    given = parse_times(["1/2/2024", "2/2/2024"], lines[:2], "f", "t", dayfirst=True)  # dataset.dayfirst
    assert [given.text(v) for v in given.values] == ["2024-02-01", "2024-02-02"]
    with pytest.raises(DataError, match=r"column 't': dates such as '1/2/2024' read as day/month and as month/day; "
                                        r"set dataset\.dayfirst: true \(31/12/2024\) or false \(12/31/2024\)"):
        parse_times(["1/2/2024", "2/2/2024", "3/2/2024"], lines, "f", "t")
    with pytest.raises(DataError, match=r"line 3, column 't': '31\.02\.2024' is not a time"):
        parse_times(["30.01.2024", "31.02.2024"], lines[:2], "f", "t")


def test_a_european_series_file_trains_and_predict_reads_it_alike(tmp_path):
    from aimodel.data.series import SeriesFormat, read_series

    def euro(path, days):
        lines = [f"{START + dt.timedelta(days=i):%m/%d/%Y};{10 + np.sin(i):.3f};{np.cos(i / 5):.2f}".replace(".", ",")
                 for i in range(days)]
        path.write_text("date;load;temp\n" + "\n".join(lines) + "\n")
        return path

    b = load(tmp_path, euro(tmp_path / "e.csv", 120), delimiter=";", decimal=",")
    assert (b.spec.delimiter, b.spec.decimal, b.spec.dayfirst) == (";", ",", False)  # 01/13/2023: month first
    recent = read_series(euro(tmp_path / "recent.csv", 12), SeriesFormat.of(b.spec))  # days 1-12 only: ambiguous
    assert recent.times.text(recent.times.values[-1]) == "2023-01-12"
    assert np.allclose(recent.values[:2, 0], [10.0, 10 + np.sin(1)], atol=1e-3)
    with pytest.raises(ConfigError, match=r"dataset\.decimal ',' needs another field separator"):
        load(tmp_path, tmp_path / "e.csv", decimal=",")


def test_a_series_in_a_spreadsheet_reads_as_its_csv(tmp_path):
    from aimodel.data.series import SeriesFormat, read_series
    from tests.test_tables_missing import write_sheet

    csv_file = write_series(tmp_path / "s.csv", n=40)
    lines = csv_file.read_text().splitlines()
    rows = [lines[0].split(",")] + [[dt.date.fromisoformat(d), float(a), float(b)]
                                    for d, a, b in (line.split(",") for line in lines[1:])]
    fmt = SeriesFormat("date", "load", ["temp"])
    from_csv, from_sheet = read_series(csv_file, fmt), read_series(write_sheet(tmp_path / "s.xlsx", rows), fmt)
    assert np.array_equal(from_sheet.values, from_csv.values)
    assert np.array_equal(from_sheet.times.values, from_csv.times.values) and from_sheet.times.format == "date"


# --- baselines --------------------------------------------------------------------------------------------------


def test_naive_forecasts_by_hand():
    from aimodel.evaluation.forecast import persistence, seasonal_naive

    x = np.arange(10, dtype=np.float32).reshape(1, 10, 1)  # rows 0..9 of a window
    assert persistence(x, 3).tolist() == [[9, 9, 9]]
    assert seasonal_naive(x, 5, 3).tolist() == [[7, 8, 9, 7, 8]]  # rows 10..14 take 7, 8, 9, 7, 8


# --- train, resume, evaluate, predict ------------------------------------------------------------------------


def test_meta_and_data_records(run):
    from aimodel.data.spec import InputSpec

    meta = json.loads((run / "meta.json").read_text())["input"]
    spec = InputSpec.from_json(meta)
    assert (spec.time_column, spec.label_column, spec.features, spec.window, spec.horizon) == \
           ("date", "load", ["temp"], 14, 3)
    assert (spec.time_step, spec.time_unit, spec.time_format, spec.season) == (86400.0, "second", "date", 7)
    with pytest.raises(ValueError, match="a forecast of horizon 3 names 3 outputs"):
        InputSpec.from_json({**meta, "class_names": ["t+1"]})
    data = json.loads((run / "data.json").read_text())
    assert data["parts"]["test"]["to"] == str(START + dt.timedelta(days=299)) and data["time_step"] == "1 day"


def test_evaluate_beats_persistence_and_reports_each_baseline(run):
    result = _invoke("evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["baselines"]) == {"persistence", "seasonal_naive"}
    assert [s["step"] for s in report["per_step"]] == ["t+1", "t+2", "t+3"]
    for figures in [report, *report["baselines"].values()]:
        assert figures["mae"] <= figures["rmse"] and len(figures["per_step"]) == 3
    assert report["mae"] < 0.5 * report["baselines"]["persistence"]["mae"]  # a weekly cycle: persistence lags
    assert (run / "per_step.csv").read_text().splitlines()[0] == \
        "step,model_mae,model_rmse,persistence_mae,persistence_rmse,seasonal_naive_mae,seasonal_naive_rmse"
    assert (run / "forecast.png").is_file()
    printed = _invoke("evaluate", run)
    assert printed.exit_code == 0 and "persistence MAE" in printed.output


def test_predict_forecasts_the_steps_after_the_file(run, tmp_path):
    rows = (run.parent / "load.csv").read_text().splitlines()
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join([rows[0]] + rows[-20:]) + "\n")  # the header and the last 20 days
    result = _invoke("predict", recent, "--model", run, "--json")
    assert result.exit_code == 0, result.output
    (got,) = json.loads(result.output)["forecasts"]
    assert got["last_time"] == "2023-10-27"
    assert [f["time"] for f in got["forecast"]] == ["2023-10-28", "2023-10-29", "2023-10-30"]
    from aimodel.inference.checkpoint import load_model

    x = np.loadtxt(recent, delimiter=",", skiprows=1, usecols=(1, 2), dtype=np.float32)[None, -14:]
    want = load_model(run / "best.keras").predict_on_batch(x)[0]
    assert np.allclose([f["value"] for f in got["forecast"]], want, atol=1e-5)  # in the target's unit
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows[:6]) + "\n")
    bad = _invoke("predict", short, recent, "--model", run, "--format", "csv")
    assert bad.exit_code == 1 and "5 row(s); the model forecasts from the last 14" in bad.output
    assert bad.output.count("recent.csv,t+") == 3


def _run_series(tmp_path: Path, data: Path, name: str, epochs: int, **training) -> Path:
    cfg = config(tmp_path, data, name)
    cfg["training"] = {**cfg["training"], "epochs": epochs, "deterministic": True, **training}
    result = _invoke("train", write_config(tmp_path / f"{name}.yaml", cfg), "--run-dir", tmp_path / name, "--quiet")
    assert result.exit_code == 0, result.output
    return tmp_path / name


def test_resume_continues_exactly(tmp_path):
    from tests._resume_support import metrics_without_time, weights

    data = write_series(tmp_path / "s.csv", 120)
    whole = _run_series(tmp_path, data, "whole", 3)
    part = _run_series(tmp_path, data, "part", 2)
    result = _invoke("train", "--resume", part, "--set", "training.epochs=3", "--quiet")
    assert result.exit_code == 0, result.output
    assert metrics_without_time(part) == metrics_without_time(whole)
    for a, b in zip(weights(part / "last.keras"), weights(whole / "last.keras")):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model, horizon", [({"architecture": "rnn", "cell": "LSTM", "units": [8]}, 3),
                                            ({"architecture": "transformer", "num_layers": 1, "embed_dim": 8,
                                              "num_heads": 2, "ff_dim": 8}, 1)])
def test_rnn_and_transformer_run_over_the_windows(tmp_path, model, horizon):
    from aimodel.evaluation.evaluate import evaluate
    from aimodel.training.runner import train

    data = write_series(tmp_path / "s.csv", 80)
    cfg = config(tmp_path, data, "m", horizon=horizon)
    cfg.update(model=model, training={"epochs": 1, "batch_size": 16, "tensorboard": False})
    result = train(load_config(write_config(tmp_path / "m.yaml", cfg)), run_dir=tmp_path / "m")
    assert result.model.output_shape == (None, horizon)
    report = evaluate(tmp_path / "m")  # one output unit is a value, not a two-class probability
    assert len(report["per_step"]) == horizon and report["samples"] == 16 - horizon + 1


# --- cv ----------------------------------------------------------------------------------------------------------


def test_expanding_folds_train_on_the_past_only():
    from aimodel.data.series import expanding_folds

    folds = expanding_folds(40, 3, horizon=3)
    assert len(folds) == 3
    for k, (train, val) in enumerate(folds):
        assert train.max() + 3 <= val.min()  # horizon - 1 windows left out: no training target is a val target
        assert train.min() == 0 and (k == 0 or len(train) > len(folds[k - 1][0]))
    with pytest.raises(DataError, match="too few"):
        expanding_folds(5, 4, horizon=3)


def test_cv_cuts_a_series_in_time_order(tmp_path):
    data = write_series(tmp_path / "s.csv", 100)
    cfg = config(tmp_path, data, "cv")
    cfg["training"] = {"epochs": 1, "batch_size": 16, "tensorboard": False}
    result = _invoke("cv", write_config(tmp_path / "cv.yaml", cfg), "--folds", "2", "--run-dir", tmp_path / "cv")
    assert result.exit_code == 0, result.output
    layout = json.loads((tmp_path / "cv" / "folds.json").read_text())
    first, second = layout["validation"]
    assert first == sorted(first) and max(first) < min(second)
