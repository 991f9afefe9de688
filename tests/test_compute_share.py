"""The FLOP counter behind figure 1c (benchmarks/compute_share.py) against analytic counts."""

import pytest

from benchmarks.compute_share import count_forward_flops

# The profiler counts a MatMul as 2·in·out per sample (one multiply, one add per weight) and a bias add as
# `out`; allow 1% for the few elementwise ops around them.
TOLERANCE = 0.01


def _dense(units_in: int, units_out: int, bias: bool):
    import keras

    inputs = keras.Input((units_in,))
    return keras.Model(inputs, keras.layers.Dense(units_out, use_bias=bias)(inputs))


@pytest.mark.parametrize("units_in,units_out", [(64, 32), (784, 128)])
def test_dense_layer_counts_two_flops_per_weight(units_in, units_out):
    counted = count_forward_flops(_dense(units_in, units_out, bias=False), (units_in,))
    assert counted["forward_flops"] == 2 * units_in * units_out
    with_bias = count_forward_flops(_dense(units_in, units_out, bias=True), (units_in,))["forward_flops"]
    assert with_bias == pytest.approx(2 * units_in * units_out + units_out, rel=TOLERANCE)


def test_recurrent_layer_is_counted_at_every_step():
    import keras

    steps, features, units = 12, 8, 16
    inputs = keras.Input((steps, features))
    model = keras.Model(inputs, keras.layers.LSTM(units)(inputs))
    counted = count_forward_flops(model, (steps, features))["forward_flops"]
    # four gates, each a matmul over [input, state] per step; the gate nonlinearities add a little
    matmuls = steps * 4 * 2 * units * (features + units)
    assert matmuls <= counted <= matmuls * 1.1


def test_attention_einsums_are_counted():
    import keras

    tokens, dim, heads = 10, 32, 4
    inputs = keras.Input((tokens, dim))
    model = keras.Model(inputs, keras.layers.MultiHeadAttention(heads, dim // heads)(inputs, inputs))
    counted = count_forward_flops(model, (tokens, dim))
    # scores and weighted values: two (tokens × tokens × key_dim) products per head
    assert counted["einsum_flops"] == 2 * heads * tokens * tokens * (dim // heads) * 2
    # plus the four projections (query, key, value, output) of dim × dim weights per token
    projections = 4 * tokens * 2 * dim * dim
    assert counted["forward_flops"] == pytest.approx(projections + counted["einsum_flops"], rel=0.05)


def test_results_md_shows_a_figures_table_and_keeps_it_out_of_the_notes():
    from benchmarks import report
    from benchmarks.figure_base import Figure

    table = {"columns": ["config", "share"], "rows": [["configs/a.yaml", "51.6%"], ["configs/b.yaml", "17.7%"]]}
    fig = Figure("1c", "Share of the compute limit", "report", 0.4, None, "share", status="measured",
                 details={"table": table, "spread": [0.177, 0.516]})
    lines = report._tables([fig])
    assert "## 1c. Share of the compute limit" in lines
    assert "| config | share |" in lines and "| configs/b.yaml | 17.7% |" in lines
    assert report._short(fig.details) == {"spread": [0.177, 0.516]}
    assert report._fmt(0.4, "share") == "40.0% of limit"


# --- the share of the measured compute limit (figures 1 and 1c) --------------------------------------------

#: a made-up measurement: 200 GFLOP/s fp32 matmul, two configs of 5 and 100 MFLOP per training sample
RATE = 200e9
MEASURED = {"configs": {"mnist_seed": {"train_flops": 5e6}, "mnist_cnn": {"train_flops": 100e6}},
            "matmul_flops_per_s": RATE}


def test_share_is_samples_per_s_times_training_flops_over_the_matmul_rate():
    from benchmarks.figure_base import limit_samples_per_s, share

    assert limit_samples_per_s(5e6, RATE) == 40_000.0
    assert share(20_000, 5e6, RATE) == 0.5
    assert share(3_000, 100e6, RATE) == 1.5  # above 100% is reported as it is (a bf16 config can get there)
    assert share(1_234, 5e6, RATE) == round(1_234 / 40_000, 3)
    assert share(None, 5e6, RATE) is None and share(0, 5e6, RATE) is None
    assert share(1_000, 5e6, None) is None and limit_samples_per_s(5e6, None) is None


class _Runner:
    """Stands in for the benchmark runner: "runs" compute_share by writing MEASURED to its --json file."""

    def __init__(self):
        self.calls = []

    def run(self, cmd, name):
        import json
        from pathlib import Path
        from types import SimpleNamespace

        self.calls.append(cmd)
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(MEASURED))
        return SimpleNamespace(check=lambda: None)


def _ctx(tmp_path, monkeypatch):
    from benchmarks import figure_base
    from benchmarks.figure_base import Context

    monkeypatch.setattr(figure_base, "OUT", tmp_path)
    return Context(_Runner(), tmp_path / "mnist.npz", reps=1, epochs=2, cnn_epochs=None)


def test_the_matmul_rate_is_measured_once_per_bench_run(tmp_path, monkeypatch):
    from benchmarks.figure_base import compute_limit

    ctx = _ctx(tmp_path, monkeypatch)
    assert compute_limit(ctx) == MEASURED and compute_limit(ctx) == MEASURED
    assert len(ctx.runner.calls) == 1
    assert ctx.runner.calls[0][-4:-2] == ["benchmarks.compute_share", "--matmul"]


def test_figure_1_divides_by_the_measured_rate_and_says_so(tmp_path, monkeypatch):
    from benchmarks.figures import seed_share

    ctx = _ctx(tmp_path, monkeypatch)
    details, note = seed_share(ctx, 10_000)
    assert details["share_of_compute_limit"] == 0.25
    assert details["compute_limit"] == {"matmul_gflops": 200.0, "train_mflop_per_sample": 5.0, "samples_per_s": 40_000}
    assert "40,000 samples/s" in note and "200 GFLOP/s" in note and "5.00 MFLOP" in note
    assert "190" not in note and "35,000" not in note
    seed_share(ctx, 10_000)
    assert len(ctx.runner.calls) == 1  # figure 1c would reuse it too


def test_figure_1_keeps_its_throughput_when_the_measurement_fails(tmp_path, monkeypatch):
    from benchmarks.figures import seed_share

    ctx = _ctx(tmp_path, monkeypatch)

    def broken(cmd, name):
        raise RuntimeError("command failed (exit 1): compute_share")

    ctx.runner.run = broken
    details, note = seed_share(ctx, 10_000)
    assert details["share_of_compute_limit"] is None and "not measured" in details["compute_limit"]
    assert "not measured" in note


def test_figure_1c_row_shows_the_limit_and_one_share():
    from benchmarks.compute_share import _config_result, _row

    counts = {"forward_flops": 1e6, "train_flops": 3e6, "input_shape": [28, 28, 1]}
    result = _config_result(counts, 33_333.3, RATE, [{"precision": "mixed_bfloat16"}])
    assert result["limit_samples_per_s"] == round(RATE / 3e6, 1) and result["share"] == 0.5
    assert _row("mnist_seed", result)[2:8] == ["1.00", "3.0", "66,667", "33,333", "50.0%", "mixed_bfloat16"]


def test_results_md_renders_a_figure_whose_table_detail_is_a_list():
    """Figure 7a keeps a list under details["table"]: it stays data in the notes, not a section (the full
    bench of 2026-12-02 stopped at this)."""
    from benchmarks.figure_base import Figure
    from benchmarks.report import _short, _tables

    f = Figure("7a", "export sizes", "report", details={"table": [{"format": "tflite", "bytes": 10}]})
    assert _tables([f]) == []
    assert _short(f.details) == {"table": [{"format": "tflite", "bytes": 10}]}
