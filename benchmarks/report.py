"""Write the results: ``benchmarks/results.json`` (everything) and ``benchmarks/results.md`` (the table)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from benchmarks.figure_base import Figure

#: What was tried for a target that is not met; shown under the table, keyed by figure id.
TRIED = {
    "1": "aimodel trains from tf.data (in-memory batches without tf.data's autotuner) with steps_per_execution "
         "16, Adam as one fused kernel per variable, the epoch checkpoints written in the background and, through "
         "configs/mnist_seed.yaml, one thread per operation with operations side by side on both cores "
         "(threads: parallel_ops, 1.33×) in mixed_bfloat16 on a CPU with bf16 instructions (precision: auto, "
         "1.22×); the peer feeds NumPy arrays one step per call on TensorFlow's default threads. "
         "Also tried (docs/speed.md): XLA (0.5×), oneDNN off (0.4×), steps_per_execution 225 (no gain).",
    "10": "configs/quickstart.yaml runs with training.threads: 1 (1.6–2× the samples/s of TensorFlow's default "
          "pools), fused Adam and background checkpoints; the target is for an idle machine, and on a busy one "
          "the figure follows the load (docs/speed.md).",
    "2": "TensorFlow's import (3–4 s) is the same on both sides; aimodel also saves best.keras and "
         "last.keras atomically after every epoch (about 0.06 s each) and loads pydantic, rich and "
         "scikit-learn. Its faster epochs (figure 1) have to pay for that.",
    "3": "configs/mnist_cnn.yaml: 2 × (2 convs + batch norm) blocks of 32 and 64, block dropout 0.25, dense 256, "
         "dropout 0.5, Adam 2e-3 with a cosine schedule, label smoothing 0.1, batch 64, 30 epochs. Tried before: "
         "the same network with Adam 1e-3 constant, 15 epochs: 99.05% in the bench, 99.40% in one other run; "
         "[16, 32] or [24, 48] blocks without augmentation: 98.90–98.95%; [24, 48] with augmentation "
         "(rotation 0.03, zoom 0.1, shift 0.1), cosine, AdamW 2e-3, 24 epochs: 99.15% in 137 s; [32, 64] with "
         "augmentation (rotation 0.04, zoom 0.08, shift 0.08), cosine, Adam 2e-3, 26 epochs: 99.00% / 99.10% "
         "(best / last) in 114 s; cosine + label smoothing 0.1 at Adam 1e-3: 99.25% (26 and 30 epochs).",
    "4b": "aimodel predict loads the same file with the same call; its extra cost is its CLI import, "
          "reading meta.json and preparing the image (polarity, crop).",
}


def _fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "accuracy":
        return f"{value * 100:.2f}%"
    if unit == "share":  # a fraction of a limit (figure 1c)
        return f"{value * 100:.1f}% of limit"
    if unit == "s":
        return f"{value:.2f} s"
    if abs(value) < 100:  # errors and F1 scores (figures 14a-14c): 4 significant digits, not a rounded count
        return f"{value:.4g} {unit}"
    return f"{value:,.0f} {unit}"


def _verdict(fig: Figure) -> str:
    if fig.met is None:
        return fig.status
    return "met" if fig.met else "**not met**"


def _onednn_note(onednn: dict | None) -> str:
    """Whether TensorFlow's oneDNN kernels ran on each side (aimodel turns them on where TensorFlow would not)."""
    if not onednn:
        return ""
    word = {True: "on", False: "off", None: "?"}
    note = f"; TensorFlow's oneDNN kernels: aimodel {word[onednn.get('aimodel')]}, peer scripts {word[onednn.get('peer')]}"
    if onednn.get("aimodel") and onednn.get("peer") is False:
        note += " (TensorFlow's default on this CPU; aimodel sets TF_ENABLE_ONEDNN_OPTS=1, docs/speed.md)"
    return note


def render(figures: list[Figure], meta: dict) -> str:
    m = meta["machine"]
    lines = [
        "# Benchmarks: aimodel versus plain Keras",
        "",
        "Written by `make bench` (`python -m benchmarks`); do not edit by hand. "
        "Both sides of each comparison run in the same invocation, alternating (ABBA), "
        f"{meta['settings']['reps']} repetitions; figures are medians, ratios are aimodel ÷ peer.",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores_used']} of {m['cores_online']} cores used "
        f"(pinned to CPUs {m['pinned_cpus']}; {m.get('physical_cores_used', '?')} physical), {m['memory_gb']} GB RAM, {m['os']}",
        f"- Instruction sets: {', '.join(m.get('instruction_sets') or ['?'])}"
        + (f"; oneDNN capped at ONEDNN_MAX_CPU_ISA={m['onednn_max_cpu_isa']}" if m.get("onednn_max_cpu_isa") else "")
        + f"; bf16 in hardware: {'yes' if m.get('bf16') else 'no'} (what `precision: auto` follows)"
        + _onednn_note(m.get("onednn")),
        f"- Software: Python {m['python']}, TensorFlow {m.get('tensorflow', '?')}, Keras {m.get('keras', '?')}, "
        f"aimodel {m.get('aimodel', '?')}",
        f"- Data: {meta['data']}",
        f"- Date: {meta['started']}; total {meta['seconds']:.0f} s; load average (1, 5, 15 min) "
        f"at start {meta['load_start']}, at end {meta['load_end']}",
    ]
    if meta["load_start"] and max(meta["load_start"][0], (meta["load_end"] or [0])[0]) > m["cores_used"]:
        lines.append(f"- **Busy machine**: the load average exceeded the {m['cores_used']} cores used, so other "
                     "work shared the CPUs; alternation spreads it over both sides, but single figures are "
                     "noisy. Rerun on an idle machine for stable numbers.")
    lines += [
        "",
        "| # | figure | aimodel | peer | ratio | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "—"
        lines.append(f"| {f.id} | {f.title} | {_fmt(f.aimodel, f.unit)} | {_fmt(f.peer, f.unit)} | {ratio} | "
                     f"{f.target} | {_verdict(f)} |")
    lines += ["", "## Notes", ""]
    for f in figures:
        text = [f.note] if f.note else []
        if f.met is False and f.id in TRIED:
            text.append(f"Tried: {TRIED[f.id]}")
        if f.details:
            text.append("Details: `" + json.dumps(_short(f.details)) + "`")
        if text:
            lines.append(f"- **{f.id}.** " + " ".join(text))
    lines += _tables(figures)
    lines += ["", "Peers: `benchmarks/peer_seed_script.py` (the classic Keras MNIST example), "
              "`benchmarks/peer_predict_one.py`, `benchmarks/peer_predict_loop.py`. "
              "Per-run figures are in `benchmarks/results.json`; logs of every command in `benchmarks/out/logs/`.", ""]
    return "\n".join(lines)


def _tables(figures: list[Figure]) -> list[str]:
    """A section per figure whose details hold ``table: {"columns": [...], "rows": [[...], ...]}``."""
    lines = []
    for f in figures:
        table = f.details.get("table") if f.details else None
        if not _is_table(table):
            continue
        lines += ["", f"## {f.id}. {f.title}", "", "| " + " | ".join(table["columns"]) + " |",
                  "|" + "---|" * len(table["columns"])]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table["rows"]]
    return lines


def _is_table(value) -> bool:
    """A table :func:`_tables` renders (figure 1c's); other figures' ``table`` details (7a's list) are data."""
    return isinstance(value, dict) and "columns" in value and "rows" in value


def _short(details: dict) -> dict:
    """Details without the per-run lists (those are in the JSON) and without a table shown as one."""
    return {k: v for k, v in details.items() if k != "runs" and not (k == "table" and _is_table(v))}


def write(figures: list[Figure], meta: dict, folder: Path) -> tuple[Path, Path]:
    data = {**meta, "figures": [asdict(f) for f in figures]}
    js, md = folder / "results.json", folder / "results.md"
    js.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md.write_text(render(figures, meta), encoding="utf-8")
    return md, js
