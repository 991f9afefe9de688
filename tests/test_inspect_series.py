"""`aimodel data inspect --series`: the series drawn with its parts; refused for other datasets."""

from __future__ import annotations

import json

import numpy as np
import yaml
from click.testing import CliRunner

from aimodel.cli import main


def _config(tmp_path, rows: int = 120):
    import datetime

    start = datetime.date(2024, 1, 1)
    lines = ["date,load"] + [f"{start + datetime.timedelta(days=d)},{10 + np.sin(d / 5):.4f}" for d in range(rows)]
    (tmp_path / "load.csv").write_text("\n".join(lines) + "\n")
    cfg = {"name": "s", "dataset": {"name": "timeseries", "path": str(tmp_path / "load.csv"), "time_column": "date",
                                    "target": "load", "window": 7, "horizon": 2},
           "model": {"architecture": "mlp", "units": [8]}, "training": {"epochs": 1}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_series_plot_draws_the_whole_series_with_its_parts(tmp_path):
    config = _config(tmp_path)
    png = tmp_path / "series.png"
    result = CliRunner().invoke(main, ["data", "inspect", str(config), "--series", str(png), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    plot = summary["series_plot"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot["rows"] == sum(plot["parts"].values()) and plot["parts"]["test"] > 0


def test_series_plot_is_refused_for_a_table(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n" + "\n".join(f"{i},{i % 2}" for i in range(40)) + "\n")
    cfg = {"name": "t", "dataset": {"name": "csv", "path": str(tmp_path / "t.csv"), "label": "y"},
           "model": {"architecture": "mlp"}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(main, ["data", "inspect", str(tmp_path / "t.yaml"), "--series", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "--series draws a time series" in result.output
    assert not (tmp_path / "x.png").exists()
