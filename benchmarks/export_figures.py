"""Figures 7a–7e (issue 12): exports of configs/mnist_cnn.yaml against its best.keras.

7a int8 TFLite size and accuracy against the float32 TFLite file; 7b a whole
``aimodel predict one.png`` from the int8 .tflite against the same from best.keras;
7c/7d batch throughput of the model alone (.tflite, .onnx vs .keras, measured by
``aimodel export``'s verification); 7e a whole ``aimodel predict`` of 1,000 PNGs.
The table of every format × quantization is in 7a's details (results.json) and
``benchmarks/out/export/report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.figure_base import Context, Figure, cnn_run, pngs, ratio, spread
from benchmarks.harness import OUT, ROOT, alternate, median

COLUMNS = ("file", "format", "quantization", "bytes", "size_ratio", "accuracy", "accuracy_diff_points",
           "max_prob_diff", "latency_ms", "throughput_per_s")


def exports(ctx: Context) -> list[Figure]:
    run = cnn_run(ctx)
    out = OUT / "export"
    p = ctx.aimodel("export", str(run), "--format", "all", "--quantize", "all", "--out", str(out), "--force",
                    "--json", name="aimodel-export-all")
    report = json.loads(p.output[p.output.index("{"):])
    rows = {r["file"]: r for r in report["exports"]}
    keras = report["keras"]
    table = [{k: r.get(k) for k in COLUMNS} for r in [keras] + report["exports"]]

    int8, float32 = rows["model_int8.tflite"], rows["model.tflite"]
    f7a = Figure("7a", "Export size: int8 .tflite vs float32 .tflite (accuracy lost vs best.keras in details)",
                 "≤ 0.30×, ≤ 0.3 points lost", int8["bytes"], float32["bytes"], "bytes",
                 ratio(int8["bytes"], float32["bytes"]),
                 details={"int8_accuracy": int8["accuracy"], "keras_accuracy": keras["accuracy"],
                          "points_lost": round(-int8["accuracy_diff_points"], 3) + 0.0, "export_wall_s": round(p.wall, 1),
                          "test_samples": report["test"]["samples"], "table": table})
    f7a.met = f7a.ratio <= 0.30 and int8["accuracy_diff_points"] >= -0.3

    image = str(sorted(pngs(ctx, 1000).glob("*.png"))[0])
    models = {"aimodel": str(out / "model_int8.tflite"), "peer": str(run / "best.keras")}

    def one(side, model, rep):
        return ctx.aimodel("predict", image, "--model", model, name=f"predict1-{Path(model).name}-{rep}").wall

    res = alternate(max(5, ctx.reps), models, one)
    a, k = median(res["aimodel"]), median(res["peer"])
    f7b = Figure("7b", "`aimodel predict one.png`, whole process: model_int8.tflite vs best.keras", "≤ 0.30×",
                 round(a, 3), round(k, 3), "s", ratio(a, k),
                 details={"runs_s": {s: [round(v, 3) for v in vals] for s, vals in res.items()}})
    f7b.met = f7b.ratio <= 0.30

    figures = [f7a, f7b]
    for fid, name in (("7c", "model.tflite"), ("7d", "model.onnx")):
        r = rows[name]
        figures.append(Figure(fid, f"Batch throughput of the model alone (batch 256): {name} vs best.keras",
                              "report (no target set)", r["throughput_per_s"], keras["throughput_per_s"],
                              "samples/s", ratio(r["throughput_per_s"], keras["throughput_per_s"]),
                              status="measured",
                              details={"int8": rows[name.replace("model.", "model_int8.")]["throughput_per_s"]}))

    folder = pngs(ctx, 1000)
    files = sorted(folder.glob("*.png"))

    def batch(side, model, rep):
        p = ctx.aimodel("predict", str(folder), "--model", model, "--json",
                        name=f"predict1000-{Path(model).name}-{rep}")
        return {**p.summary(), "images_per_s": round(len(files) / p.wall, 1)}

    res = alternate(min(ctx.reps, 2), models, batch)
    ips = {s: median(r["images_per_s"] for r in v) for s, v in res.items()}
    figures.append(Figure("7e", "`aimodel predict` of 1,000 PNGs, whole process: model_int8.tflite vs best.keras",
                          "report (no target set)", ips["aimodel"], ips["peer"], "images/s",
                          ratio(ips["aimodel"], ips["peer"]), status="measured",
                          details={"runs": res, "wall_s": {s: spread([r["wall_s"] for r in v])
                                                            for s, v in res.items()}}))
    (OUT / "export_table.md").write_text(markdown_table(report), encoding="utf-8")
    return figures


def markdown_table(report: dict) -> str:
    """The table of every exported file, as docs/export.md shows it."""
    lines = ["| file | size | × float | accuracy | Δ points | max Δp | latency (1 input) | throughput (batch 256) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in [report["keras"]] + report["exports"]:
        times = f"{r['size_ratio']:.2f}×" if "size_ratio" in r else "—"
        diff = f"{r['accuracy_diff_points']:+.2f}" if "accuracy_diff_points" in r else "—"
        maxp = f"{r['max_prob_diff']:.4f}" if "max_prob_diff" in r else "—"
        lines.append(f"| {r['file']} | {r['bytes'] / 1e6:.3f} MB | {times} | {r['accuracy'] * 100:.2f}% | {diff} | "
                     f"{maxp} | {r['latency_ms']:.2f} ms | {r['throughput_per_s']:,.0f}/s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # print the table of an existing report: python -m benchmarks.export_figures REPORT
    import sys

    print(markdown_table(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else
                                         ROOT / "benchmarks/out/export/report.json").read_text())))
