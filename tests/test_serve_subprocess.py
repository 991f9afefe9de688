"""A real `aimodel serve` process on a free 127.0.0.1 port: batched answers, metrics, a graceful SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests._serve_support import digit_pngs, free_port

pytestmark = [pytest.mark.serve, pytest.mark.subprocess]

AIMODEL = str(Path(sys.executable).parent / "aimodel")


def _wait_ready(proc: subprocess.Popen, url: str, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"aimodel serve exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"aimodel serve was not ready within {limit_s} s")


def _start_upload(port: int, name: str, data: bytes) -> tuple[socket.socket, bytes]:
    """Send a POST /predict upload's headers and the first 100 bytes of its body; return the socket and the rest."""
    request = httpx.Request("POST", f"http://127.0.0.1:{port}/predict", files={"file": (name, data, "image/png")})
    body = request.read()
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Type: {request.headers['content-type']}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(head + body[:100])
    return conn, body[100:]


def _read_answer(conn: socket.socket) -> tuple[bytes, bytes]:
    """(status line and headers, body) of the answer on a ``Connection: close`` socket, which is closed."""
    answer = b""
    with conn:
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return head, payload


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def test_serve_process_batches_concurrent_requests_and_stops_gracefully(trained_run):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([AIMODEL, "serve", str(trained_run), "--port", str(port), "--max-batch", "16",
                             "--batch-timeout-ms", "300"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        _wait_ready(proc, url)
        images = list(digit_pngs(6).items())  # labels 0..5: a mixed-up answer would show

        def post(item):
            name, data = item
            r = httpx.post(url + "/predict", files={"file": (name, data, "image/png")}, timeout=30)
            assert r.status_code == 200, r.text
            return r.json()["predictions"][0]

        # Concurrent: every request's headers and the start of its body first, so all are in flight together.
        started = [_start_upload(port, name, data) for name, data in images]
        time.sleep(0.5)
        for conn, rest in started:
            conn.sendall(rest)
        together = []
        for conn, _ in started:
            status, payload = _read_answer(conn)
            assert status.startswith(b"HTTP/1.1 200"), payload[:300]
            together.append(json.loads(payload)["predictions"][0])
        alone = [post(item) for item in images]
        for a, b in zip(together, alone):
            assert a["input"] == b["input"] and a["label"] == b["label"]
            assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-5)
        metrics = httpx.get(url + "/metrics", timeout=5).text
        calls, inputs = _metric(metrics, "aimodel_batch_size_count"), _metric(metrics, "aimodel_batch_size_sum")
        assert inputs == 2 * len(images) and calls < inputs  # some model calls answered several requests

        # SIGTERM while a request is in flight (part of its body sent): it is answered, then the process exits 0.
        conn, rest = _start_upload(port, *images[0])
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.sendall(rest)
        status, payload = _read_answer(conn)
        assert status.startswith(b"HTTP/1.1 200"), payload[:300]
        assert json.loads(payload)["predictions"][0]["label"] == alone[0]["label"]
        assert proc.wait(timeout=60) == 0
        assert "stopped (SIGTERM)" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_cli_fails_cleanly_on_a_bad_model_or_a_busy_port(trained_run, tmp_path):
    missing = CliRunner().invoke(main, ["serve", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such run directory or model file" in missing.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = CliRunner().invoke(main, ["serve", str(trained_run), "--port", str(taken.getsockname()[1])])
    assert busy.exit_code == 1 and "cannot listen on 127.0.0.1" in busy.output
    bad = CliRunner().invoke(main, ["serve", str(trained_run), "--name", "a b"])
    assert bad.exit_code == 1 and "--name 'a b'" in bad.output
    # A model whose outputs do not match its classes fails at the warm-up, before the server starts.
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    meta = json.loads((broken / "meta.json").read_text())
    meta["input"]["class_names"] = ["a", "b", "c"]
    (broken / "meta.json").write_text(json.dumps(meta))
    mismatch = CliRunner().invoke(main, ["serve", str(broken), "--port", "0"])
    assert mismatch.exit_code == 1 and "outputs 10 values but its meta.json names 3 classes" in mismatch.output
    assert "Traceback" not in mismatch.output


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_stops(trained_run):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([AIMODEL, "serve", str(trained_run), "--port", str(port), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        _wait_ready(proc, url)
        name, data = next(iter(digit_pngs(1).items()))
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: httpx.post(url + "/predict", files={"file": (name, data)}, timeout=60),
                                    range(8)))
        assert {r.status_code for r in answers} == {200}
        assert len({r.json()["predictions"][0]["label"] for r in answers}) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        output = proc.stdout.read()
        assert output.count("Application startup complete") == 2 and "stopped;" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
