"""Load benchmark of ``aimodel serve`` on 127.0.0.1: dynamic batching versus ``--max-batch 1``.

For each server setting: cold start (process start to ``/readyz`` 200), the latency of
single requests on an idle server, then ``--clients`` concurrent clients posting one MNIST
PNG each to ``POST /predict`` for ``--seconds`` (requests/s, p50/p99 latency, errors, accuracy
of the answers, mean batch size from ``/metrics``). The model is ``configs/mnist_cnn.yaml``
trained on the benchmark's 8,000/2,000 MNIST split for ``--epochs`` epochs (throughput does
not depend on how well it is trained). Every loop is bounded in time; the servers listen on
127.0.0.1 only and are stopped with SIGTERM.

    python -m benchmarks.serve_load                 # writes benchmarks/serve_results.md/.json
    python -m benchmarks.serve_load --seconds 5 --epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks import data
from benchmarks.harness import AIMODEL, OUT, ROOT, load_average, machine

CONFIG = "configs/mnist_cnn.yaml"
SETTINGS = {"batching": ["--max-batch", "64", "--batch-timeout-ms", "5"], "max_batch_1": ["--max-batch", "1"]}
N_IMAGES = 512
#: 200×200 JPEG photos of digits (benchmarks/photos.py) posted in a second load on the batching server.
N_PHOTOS = 128
PHOTO_SIDE = 200
#: 12-megapixel phone photos (3000×4000 JPEGs) posted in a third load on the batching server (issue 31:
#: "report photos/s for serve"): fewer files and clients, each upload being a few MB.
N_PHONE, PHONE_CLIENTS = 16, 4


def train_model(npz: Path, epochs: int) -> Path:
    """configs/mnist_cnn.yaml trained on the benchmark npz, reused while its epochs and data match."""
    run = OUT / "runs" / f"serve-mnist_cnn-{epochs}ep"
    stamp = run / "serve_bench.json"
    want = {"npz": str(npz), "epochs": epochs}
    if stamp.is_file() and json.loads(stamp.read_text()) == want and (run / "best.keras").is_file():
        return run
    if run.exists():
        import shutil

        shutil.rmtree(run)
    run.parent.mkdir(parents=True, exist_ok=True)
    print(f"[serve] training {CONFIG} for {epochs} epoch(s) on {npz.name} ...", flush=True)
    subprocess.run([AIMODEL, "train", CONFIG, "--set", f"dataset.path={npz}", "--set", f"training.epochs={epochs}",
                    "--run-dir", str(run), "--quiet"], cwd=ROOT, check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    stamp.write_text(json.dumps(want))
    return run


def test_pngs(npz: Path, n: int) -> list[tuple[str, bytes, int]]:
    """The first ``n`` held-out images as (name, PNG bytes, label)."""
    from PIL import Image

    with np.load(npz) as d:
        x, y = d["x_test"][:n], d["y_test"][:n]
    out = []
    for i in range(len(x)):
        buf = io.BytesIO()
        Image.fromarray(x[i]).save(buf, format="PNG")
        out.append((f"{i:04d}.png", buf.getvalue(), int(y[i])))
    return out


def test_photos(npz: Path, n: int) -> list[tuple[str, bytes, int]]:
    """The first ``n`` held-out digits as PHOTO_SIDE-pixel square phone-style JPEG photos: (name, JPEG bytes, label)."""
    from dataclasses import replace

    from benchmarks import photos

    style = replace(photos.BASE, frame=(PHOTO_SIDE, PHOTO_SIDE), height=0.6)
    with np.load(npz) as d:
        x, y = d["x_test"][:n], d["y_test"][:n]
    return [(f"{i:04d}.jpg", photos.render(x[i], style=style, seed=i), int(y[i])) for i in range(len(x))]


def test_phone_photos(npz: Path, n: int) -> list[tuple[str, bytes, int]]:
    """The first ``n`` held-out digits as 12-megapixel phone photos (benchmarks/photos.py, ``phone=True``)."""
    from benchmarks import photos

    with np.load(npz) as d:
        x, y = d["x_test"][:n], d["y_test"][:n]
    return [(f"{i:04d}_12mp.jpg", photos.render(x[i], seed=i, phone=True), int(y[i])) for i in range(len(x))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """One ``aimodel serve`` process on a free 127.0.0.1 port."""

    def __init__(self, run: Path, args: list[str], log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w", encoding="utf-8")
        self.start = time.perf_counter()
        self.proc = subprocess.Popen([AIMODEL, "serve", str(run), "--port", str(self.port), *args], cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})

    def wait_ready(self, limit_s: float = 180) -> float:
        import httpx2 as httpx

        while time.perf_counter() - self.start < limit_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aimodel serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - self.start
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"aimodel serve not ready within {limit_s} s")

    def stop(self) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def _encoded(url: str, images) -> list[tuple[dict, bytes, int]]:
    """Each image as a ready multipart request (headers, body, label): the client spends no CPU encoding."""
    import httpx2 as httpx

    out = []
    for name, png, label in images:
        kind = "image/jpeg" if name.endswith(".jpg") else "image/png"
        request = httpx.Request("POST", url + "/predict", files={"file": (name, png, kind)})
        out.append(({"content-type": request.headers["content-type"]}, request.read(), label))
    return out


def idle_latency(url: str, images, n: int = 20) -> list[float]:
    """``n`` single requests, one at a time, 100 ms apart (the server is idle for each)."""
    import httpx2 as httpx

    times = []
    with httpx.Client(timeout=30) as client:
        for headers, body, _ in _encoded(url, images[:n]):
            time.sleep(0.1)
            t0 = time.perf_counter()
            r = client.post(url + "/predict", headers=headers, content=body)
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
    return times


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One request on a kept-alive HTTP/1.1 connection: (status, body); the answer has a Content-Length."""
    writer.write(request)
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _load(url: str, images, clients: int, seconds: float) -> dict:
    """``clients`` connections, each posting one PNG after another until ``seconds`` have passed.

    The client writes prepared request bytes and reads answers off kept-alive connections
    (asyncio streams), spending a fraction of the CPU an HTTP client library would: on a
    2-core machine every millisecond it spends is taken from the server it measures.
    """
    host, port = url.split("//")[1].split(":")
    raw = []
    for headers, body, label in _encoded(url, images):
        head = (f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {headers['content-type']}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        raw.append((head + body, label))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    correct = 0
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def worker(i: int) -> None:
        nonlocal correct
        k, conn = i, None
        while loop.time() < stop_at:
            request, label = raw[k % len(raw)]
            k += clients
            t0 = time.perf_counter()
            try:
                conn = conn or await asyncio.open_connection(host, int(port))
                status, body = await asyncio.wait_for(_exchange(*conn, request), 30)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if conn:
                    conn[1].close()
                conn = None
                continue
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
                continue
            latencies.append(time.perf_counter() - t0)
            correct += json.loads(body)["predictions"][0]["label"] == str(label)
        if conn:
            conn[1].close()

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(clients))), seconds + 60)
    elapsed = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
            "max_ms": round(float(lat.max()), 1) if len(lat) else None,
            "errors": sum(errors.values()), "error_kinds": errors,
            "accuracy": round(correct / len(latencies), 4) if latencies else None}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live child processes (the server's photo
    preparation workers; Linux /proc)."""
    total, parents = 0.0, {pid}
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # a process that ended meanwhile
                pass
    while parents:
        total += sum((int(stats[p][11]) + int(stats[p][12])) for p in parents if p in stats)
        parents = {p for p, f in stats.items() if int(f[1]) in parents}
    return total / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _batch_stats(url: str) -> dict:
    import httpx2 as httpx

    text = httpx.get(url + "/metrics", timeout=10).text

    def value(name):
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    calls, inputs = value("aimodel_batch_size_count"), value("aimodel_batch_size_sum")
    return {"model_calls": calls, "inputs": inputs,
            "mean_batch": round(inputs / calls, 2) if calls else None}


def model_alone(run: Path, seconds: float = 3.0) -> dict:
    """Images/s of the bare model call (``predict_proba`` of a stacked batch) at batch sizes 1 and 64, in a
    separate process: the ceiling that batching can reach before HTTP and preparation take their share."""
    script = (
        "import json, sys, time, numpy as np\n"
        "from aimodel.serving.model import ServedModel\n"
        "m = ServedModel(sys.argv[1]); x = m.example_sample(); out = {}\n"
        "for n in (1, 64):\n"
        "    m.probabilities([x] * n); m.probabilities([x] * n); k, t = 0, time.perf_counter()\n"
        "    while time.perf_counter() - t < float(sys.argv[2]):\n"
        "        m.probabilities([x] * n); k += 1\n"
        "    out[n] = round(n * k / (time.perf_counter() - t), 1)\n"
        "print('bench: ' + json.dumps(out))\n")
    p = subprocess.run([sys.executable, "-c", script, str(run), str(seconds)], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    line = next((x for x in p.stdout.splitlines() if x.startswith("bench: ")), None)
    if line is None:
        raise RuntimeError(f"model-alone measurement failed: {p.stderr[-500:]}")
    rates = json.loads(line[len("bench: "):])
    return {"batch_1_images_per_s": rates["1"], "batch_64_images_per_s": rates["64"],
            "ratio": round(rates["64"] / rates["1"], 2)}


def _timed_load(served: "Served", images, clients: int, seconds: float) -> dict:
    """One load of ``images`` on ``served``, with the server's and the client's CPU per request."""
    before = _batch_stats(served.url)
    cpu0, own0 = _cpu_seconds(served.proc.pid), _own_cpu_seconds()
    load = asyncio.run(_load(served.url, images, clients, seconds))
    cpu1, own1 = _cpu_seconds(served.proc.pid), _own_cpu_seconds()
    after = _batch_stats(served.url)
    calls = (after["model_calls"] or 0) - (before["model_calls"] or 0)
    inputs = (after["inputs"] or 0) - (before["inputs"] or 0)
    load.update(model_calls=calls, inputs=inputs, mean_batch=round(inputs / calls, 2) if calls else None)
    n = max(load["requests"], 1)
    load.update(server_cpu_ms_per_request=round((cpu1 - cpu0) * 1000 / n, 2),
                client_cpu_ms_per_request=round((own1 - own0) * 1000 / n, 2))
    return load


def measure(run: Path, images, clients: int, seconds: float, reps: int, log_dir: Path, photos=(),
            phone=()) -> dict:
    """Every server setting ``reps`` times, alternating which goes first; with ``photos`` (``phone``), the
    batching server also answers a load of photo (12-MP photo) uploads after its PNG load (results under
    ``batching_photos`` and ``batching_phone``)."""
    results: dict[str, list] = {k: [] for k in SETTINGS}
    photo_results: list[dict] = []
    phone_results: list[dict] = []
    for rep in range(reps):
        order = list(SETTINGS) if rep % 2 == 0 else list(SETTINGS)[::-1]
        for key in order:
            served = Served(run, SETTINGS[key], log_dir / f"serve-{key}-{rep}.log")
            try:
                cold = served.wait_ready()
                idle = idle_latency(served.url, images)
                print(f"[serve] {key} rep {rep}: ready in {cold:.1f} s, idle p50 "
                      f"{np.median(idle) * 1000:.1f} ms; {clients} clients for {seconds:g} s ...", flush=True)
                load = _timed_load(served, images, clients, seconds)
                if photos and key == "batching":  # the same server, right after its PNG load
                    print(f"[serve] {key} rep {rep}: {len(photos)} {PHOTO_SIDE}×{PHOTO_SIDE} JPEG photos ...", flush=True)
                    photo_results.append(_timed_load(served, photos, clients, seconds))
                if phone and key == "batching":
                    print(f"[serve] {key} rep {rep}: {len(phone)} 12-MP JPEG photos, {PHONE_CLIENTS} clients ...",
                          flush=True)
                    phone_results.append(_timed_load(served, phone, PHONE_CLIENTS, seconds))
            finally:
                rc = served.stop()
            entry = {"cold_start_s": round(cold, 2), "idle_p50_ms": round(float(np.median(idle)) * 1000, 1),
                     "idle_ms": [round(t * 1000, 1) for t in idle], **load, "exit_code": rc}
            print(f"[serve]   {entry['requests_per_s']} req/s, p50 {entry['p50_ms']} ms, p99 {entry['p99_ms']} ms, "
                  f"errors {entry['errors']}, mean batch {entry['mean_batch']}, CPU ms/request: server "
                  f"{entry['server_cpu_ms_per_request']}, client {entry['client_cpu_ms_per_request']}", flush=True)
            results[key].append(entry)
    if photo_results:
        results["batching_photos"] = photo_results
    if phone_results:
        results["batching_phone"] = phone_results
    return results


#: Issue 31's targets for preparing one photo (CPU, the recipe alone, in one process): a 200×200 upload, a 12-MP photo.
PREPARE_TARGET_MS = {"photo": 5.0, "phone": 150.0}


def preparation_cpu(run: Path, photos, phone, rounds: int = 3) -> dict:
    """CPU milliseconds to prepare one upload (decode + the strokes recipe, as ``serve`` does for each file),
    medians per photo over ``rounds`` passes of each set after one warm-up pass; no HTTP, no model."""
    from aimodel.data.spec import InputSpec
    from aimodel.inference.images import prepare_image

    spec = InputSpec.from_json(json.loads((run / "meta.json").read_text(encoding="utf-8"))["input"])
    out = {}
    for key, items in (("photo", photos), ("phone", phone)):
        if not items:
            continue
        per_photo = []
        for r in range(rounds + 1):
            for _, body, _ in items:
                t0 = time.process_time()
                prepare_image(io.BytesIO(body), spec)
                if r:  # the first pass warms caches and imports
                    per_photo.append((time.process_time() - t0) * 1000)
        ms = float(np.median(per_photo))
        out[key] = {"ms": round(ms, 2), "p90_ms": round(float(np.percentile(per_photo, 90)), 2),
                    "photos": len(items), "target_ms": PREPARE_TARGET_MS[key],
                    "met": ms <= PREPARE_TARGET_MS[key]}
    return out


def summarize(results: dict) -> dict:
    def med(key, field):
        vals = [r[field] for r in results[key] if r.get(field) is not None]
        return float(np.median(vals)) if vals else None

    fields = ("requests_per_s", "p50_ms", "p99_ms", "cold_start_s", "idle_p50_ms", "mean_batch", "accuracy",
              "server_cpu_ms_per_request", "client_cpu_ms_per_request")
    s = {k: {f: med(k, f) for f in fields} | {"errors": sum(r["errors"] for r in results[k])} for k in results}
    b, one = s["batching"], s["max_batch_1"]
    photo = s.get("batching_photos")
    if photo:  # target (issue 31): photo uploads at ≥ 0.25× the PNG rate of the same server
        s["photo_ratio"] = round(photo["requests_per_s"] / b["requests_per_s"], 3) if b["requests_per_s"] else None
        s["photo_target_met"] = bool(s["photo_ratio"] and s["photo_ratio"] >= 0.25 and photo["errors"] == 0)
    s["throughput_ratio"] = round(b["requests_per_s"] / one["requests_per_s"], 2) if one["requests_per_s"] else None
    s["target_met"] = bool(s["throughput_ratio"] and s["throughput_ratio"] >= 3 and b["p99_ms"] <= one["p99_ms"]
                           and b["errors"] == 0 and one["errors"] == 0)
    return s


def render(summary: dict, meta: dict) -> str:
    m = meta["machine"]
    b, one = summary["batching"], summary["max_batch_1"]
    rows = [("requests/s", "requests_per_s", "{:,.0f}"), ("p50 latency under load", "p50_ms", "{:.1f} ms"),
            ("p99 latency under load", "p99_ms", "{:.1f} ms"), ("errors", "errors", "{:d}"),
            ("mean batch (from /metrics)", "mean_batch", "{:.1f}"),
            ("server CPU per request", "server_cpu_ms_per_request", "{:.2f} ms"),
            ("load generator CPU per request", "client_cpu_ms_per_request", "{:.2f} ms"),
            ("accuracy of the answers", "accuracy", "{:.2%}"),
            ("cold start to ready", "cold_start_s", "{:.1f} s"),
            ("one request on an idle server (p50 of 20)", "idle_p50_ms", "{:.1f} ms")]
    lines = [
        "# aimodel serve: load benchmark",
        "",
        "Written by `python -m benchmarks.serve_load` (also `make bench`); do not edit by hand.",
        "",
        f"- Model: `{CONFIG}` trained {meta['epochs']} epoch(s) on {meta['data']}",
        f"- Load: {meta['clients']} concurrent clients, each posting one PNG per request to `POST /predict` "
        f"(multipart) for {meta['seconds']:g} s, against 127.0.0.1; {meta['reps']} repetition(s), medians",
        f"- Machine: {m['cpu_model']}, {m['cores_online']} cores, {m['memory_gb']} GB RAM, {m['os']}; the "
        "load generator runs on the same cores as the server",
        f"- Date: {meta['started']}; load average (1, 5, 15 min) at start {meta['load_start']}, "
        f"at end {meta['load_end']}",
    ]
    if meta["load_start"] and max(meta["load_start"][0], meta["load_end"][0]) > (m["cores_online"] or 1):
        lines.append(f"- **Busy machine**: the load average exceeded the {m['cores_online']} cores; other work "
                     "shared the CPUs, so absolute figures are low and noisy.")
    lines += ["", "| | batching (--max-batch 64, --batch-timeout-ms 5) | --max-batch 1 |", "|---|---|---|"]
    for label, key, fmt in rows:
        def fmt_(v, fmt=fmt):
            return "—" if v is None else fmt.format(int(v) if fmt == "{:d}" else v)
        lines.append(f"| {label} | {fmt_(b[key])} | {fmt_(one[key])} |")
    lines += _photo_lines(summary) + _phone_lines(summary) + _preparation_lines(summary)
    verdict = "met" if summary["target_met"] else "**not met**"
    alone = summary.get("model_alone") or {}
    lines += ["", f"Throughput ratio batching ÷ max-batch 1: **{summary['throughput_ratio']}×** "
                  f"(target ≥ 3× at equal or better p99, zero errors: {verdict})."]
    if alone:
        lines += ["", f"The bare model call, for comparison (no HTTP, no preparation): "
                      f"{alone['batch_1_images_per_s']:,.0f} images/s one at a time, "
                      f"{alone['batch_64_images_per_s']:,.0f} images/s in batches of 64 ({alone['ratio']}×)."]
    lines += ["", "The load generator writes prepared requests on kept-alive connections (asyncio streams) so that "
                  "it takes little of the CPU the server is measured on; its CPU per request is in the table.", ""]
    return "\n".join(lines)


def _phone_lines(summary: dict) -> list[str]:
    """The 12-MP photo load of the batching server."""
    phone = summary.get("batching_phone")
    if not phone:
        return []
    return ["", f"12-megapixel phone photos (3000×4000 JPEGs of the first {N_PHONE} digits, benchmarks/photos.py "
                f"`phone=True`, {PHONE_CLIENTS} clients), the same server after its photo load: "
                f"**{phone['requests_per_s']:,.1f} photos/s**, p50 / p99 {phone['p50_ms']:.0f} / {phone['p99_ms']:.0f} ms, "
                f"server CPU {phone['server_cpu_ms_per_request']:.1f} ms per photo, {phone['errors']} errors, "
                f"accuracy {phone['accuracy']:.2%}."]


def _preparation_lines(summary: dict) -> list[str]:
    """Preparing one photo alone (no server): issue 31's per-photo targets."""
    prep = summary.get("preparation") or {}
    what = {"photo": f"a {PHOTO_SIDE}×{PHOTO_SIDE} upload", "phone": "a 12-MP photo (3000×4000 JPEG)"}
    parts = [f"{what[k]} **{v['ms']:.1f} ms** (p90 {v['p90_ms']:.1f} ms, {v['photos']} photos; target ≤ "
             f"{v['target_ms']:g} ms: {'met' if v['met'] else '**not met**'})" for k, v in prep.items()]
    if not parts:
        return []
    return ["", "Preparing one photo alone (decode and the strokes recipe, `prepare_image`, CPU time in the benchmark's "
                "own process, median per photo over 3 passes): " + "; ".join(parts) + "."]


def _photo_lines(summary: dict) -> list[str]:
    """The photo-upload load of the batching server, beside its PNG load."""
    photo, b = summary.get("batching_photos"), summary["batching"]
    if not photo:
        return []
    verdict = "met" if summary["photo_target_met"] else "**not met**"
    return ["", f"Photo uploads ({PHOTO_SIDE}×{PHOTO_SIDE} phone-style JPEGs of the digits, benchmarks/photos.py, "
                "prepared by the default recipe), the same batching server right after its PNG load:", "",
            "| | 28×28 PNG | photo |", "|---|---|---|",
            f"| requests/s | {b['requests_per_s']:,.0f} | {photo['requests_per_s']:,.0f} |",
            f"| p50 / p99 latency | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms | "
            f"{photo['p50_ms']:.1f} / {photo['p99_ms']:.1f} ms |",
            f"| server CPU per request | {b['server_cpu_ms_per_request']:.2f} ms | "
            f"{photo['server_cpu_ms_per_request']:.2f} ms |",
            f"| mean batch | {b['mean_batch'] or 0:.1f} | {photo['mean_batch'] or 0:.1f} |",
            f"| errors | {b['errors']} | {photo['errors']} |",
            f"| accuracy of the answers | {b['accuracy']:.2%} | {photo['accuracy']:.2%} |",
            "", f"Photo ÷ PNG requests/s: **{summary['photo_ratio']}×** (target ≥ 0.25×: {verdict})."]


def run(npz: Path, described: str, epochs: int, clients: int, seconds: float, reps: int,
        model: Optional[Path] = None, out: Optional[Path] = None, with_photos: bool = True) -> dict:
    """Train (or reuse) the model, measure both settings, write ``serve_results.md/.json`` to ``out``."""
    started, load_start = time.strftime("%Y-%m-%d %H:%M %Z"), load_average()
    run_dir = model or train_model(npz, epochs)
    images = test_pngs(npz, N_IMAGES)
    photos = test_photos(npz, N_PHOTOS) if with_photos else ()
    phone = test_phone_photos(npz, N_PHONE) if with_photos else ()
    log_dir = OUT / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results = measure(run_dir, images, clients, seconds, reps, log_dir, photos, phone)
    summary = summarize(results)
    summary["model_alone"] = model_alone(run_dir)
    summary["preparation"] = preparation_cpu(run_dir, photos, phone)
    meta = {"started": started, "load_start": load_start, "load_end": load_average(), "epochs": epochs,
            "data": described, "clients": clients, "seconds": seconds, "reps": reps,
            "machine": machine(sorted(os.sched_getaffinity(0)))}
    report = {**meta, "summary": summary, "runs": results}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "serve_results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (out / "serve_results.md").write_text(render(summary, meta), encoding="utf-8")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration per setting (default 20)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--epochs", type=int, default=3, help=f"epochs of {CONFIG} (default 3)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of each setting (default 1)")
    parser.add_argument("--model", type=Path, help="serve this run instead of training one")
    parser.add_argument("--no-photos", action="store_true", help="skip the photo-upload load")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks", help="folder for serve_results.md/.json")
    args = parser.parse_args(argv)
    npz, described = data.prepare()
    report = run(npz, described, args.epochs, args.clients, args.seconds, args.reps, args.model, args.out,
                 with_photos=not args.no_photos)
    print(render(report["summary"], report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
