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
