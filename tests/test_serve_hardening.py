"""Regression tests for the serving items of issue 30 (hardening, round three): each reproduces the failure."""

from __future__ import annotations

import json
import logging
import os

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from aimodel.cli import main
from aimodel.serving.app import create_app
from aimodel.serving.model import ServedModel
from aimodel.serving.settings import ServeSettings

pytestmark = pytest.mark.serve


def _client(model: ServedModel, **settings) -> TestClient:
    return TestClient(create_app(model, ServeSettings(model=str(model.checkpoint.model_path), **settings)))


@pytest.fixture(scope="module")
def tabular(tabular_run):
    with _client(ServedModel(tabular_run, name="sizes"), max_inputs=50) as c:
        yield c


def _tf(client, body, name="sizes"):
    return client.post(f"/v1/models/{name}:predict", content=body if isinstance(body, (bytes, str)) else
                       json.dumps(body), headers={"content-type": "application/json"})


# --- 3. non-finite model outputs ----------------------------------------------------------------------


def test_a_non_finite_model_output_is_a_422_per_input_never_invalid_json(tabular):
    for size in (1e308, 1e40):
        r = _tf(tabular, {"instances": [{"size": size, "colour": "red"}]})
        assert r.status_code == 422, r.text
        assert "instances[0]" in r.json()["error"] and "not finite" in r.json()["error"]
    csv = b"size,colour\n1e308,red\n2,blue\n"
    up = tabular.post("/predict", files={"file": ("t.csv", csv, "text/csv")})
    assert up.status_code == 422, up.text
    body = up.json()
    assert body["failed"] == 1 and "not finite" in body["predictions"][0]["error"]
    assert body["predictions"][1]["label"] == "big"


def test_predict_reports_a_non_finite_output_as_that_inputs_error(tabular_run, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("size,colour\n1e308,red\n2,blue\n")
    result = CliRunner().invoke(main, ["predict", str(table), "--model", str(tabular_run), "--format", "json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON output"))
    assert body["failed"] == 1 and "not finite" in body["predictions"][0]["error"]
    assert body["predictions"][1]["label"] == "big"
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["predict", str(table), "--model", str(tabular_run), "--output", str(out)])
    assert result.exit_code == 1
    rows = out.read_text().splitlines()
    assert "not finite" in rows[1] and "nan," not in rows[1].lower()


# --- 4. JSON that parses badly without a syntax error ---------------------------------------------------


@pytest.mark.parametrize("body, words", [
    ("[" * 5000, "nested"),
    ('{"instances": [' * 3000 + "]}" * 3000, "nested"),
    ('{"instances": [{"size": ' + "9" * 5000 + ', "colour": "red"}]}', "digits"),
])
def test_deep_nesting_and_huge_integers_are_400_with_one_line(tabular, body, words):
    r = _tf(tabular, body)
    assert r.status_code == 400, r.text[:300]
    message = r.json()["error"]
    assert words in message and "\n" not in message and "Traceback" not in message


# --- 6. input counts are checked while parsing ------------------------------------------------------------


def test_too_many_columnar_rows_or_csv_rows_stop_at_the_limit(tabular, monkeypatch):
    from aimodel.inference import collect

    built = []
    real = collect.Item.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(collect.Item, "__init__", counting)
    rows = 200_000
    cols = _tf(tabular, {"inputs": {"size": [1] * rows, "colour": ["red"] * rows}})
    assert cols.status_code == 413 and "more than 50 inputs" in cols.json()["error"]
    assert len(built) <= 51  # refused before a row was built per input
    csv = b"size,colour\n" + b"1,red\n" * rows
    up = tabular.post("/predict", files={"file": ("t.csv", csv, "text/csv")})
    assert up.status_code == 413 and "more than 50 rows" in up.json()["error"]
    assert len(built) <= 102


# --- 7. a client that leaves mid-body --------------------------------------------------------------------


def test_a_client_disconnect_mid_body_is_counted_as_such_not_as_an_error(tabular, caplog):
    messages = iter([{"type": "http.request", "body": b'{"instances": [', "more_body": True},
                     {"type": "http.disconnect"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/models/sizes:predict", "raw_path": b"/v1/models/sizes:predict", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": tabular.app}
    with caplog.at_level(logging.ERROR):
        tabular.portal.call(tabular.app, scope, receive, send)  # raises if the app lets the disconnect out
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    metrics = tabular.get("/metrics").text
    assert 'handler="/v1/models/{name}:predict",method="POST",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics


# --- 8. status codes ----------------------------------------------------------------------------------------


def test_too_many_files_is_413_and_get_on_predict_is_405(tabular):
    files = [("file", (f"{i}.csv", b"size,colour\n1,red\n", "text/csv")) for i in range(51)]
    r = tabular.post("/predict", files=files)
    assert r.status_code == 413, r.text
    assert "more than 50" in r.json()["error"]
    get = tabular.get("/v1/models/sizes:predict")
    assert get.status_code == 405, get.text
    assert get.headers["allow"] == "POST" and "POST" in get.json()["error"]
    assert tabular.get("/v1/models/other:predict").status_code == 405
    assert tabular.get("/v1/models/sizes").status_code == 200


# --- 2. slow clients ---------------------------------------------------------------------------------------

FILE_LIMIT = 160


def _limit_open_files():
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def _first_bytes(sock) -> bytes:
    """What the server sent on ``sock`` before closing it (b"" for nothing, or a reset)."""
    try:
        return sock.recv(200)
    except TimeoutError:  # nothing within the socket's timeout: still open
        return b"(open)"
    except OSError:
        return b""


@pytest.mark.subprocess
def test_slow_clients_cannot_lock_health_checks_out(trained_run):
    """More half-sent requests than the server has file descriptors: /healthz still answers, the log stays short."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx2 as httpx

    from tests._serve_support import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    aimodel = str(Path(sys.executable).parent / "aimodel")
    proc = subprocess.Popen([aimodel, "serve", str(trained_run), "--port", str(port), "--header-timeout", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_limit_open_files, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    slow: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read()
        for _ in range(FILE_LIMIT + 40):  # headers that never end, on more sockets than the server can hold
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        trickle = socket.create_connection(("127.0.0.1", port), timeout=5)  # a body nobody reads, byte by byte
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        statuses = []
        deadline = time.monotonic() + 30  # the header timeout is 2 s: plenty to free the slow ones' places
        while time.monotonic() < deadline and 200 not in statuses:
            try:
                statuses.append(httpx.get(url + "/healthz", timeout=5).status_code)
            except httpx.TransportError as exc:
                statuses.append(type(exc).__name__)
                time.sleep(0.2)
        assert 200 in statuses, statuses[-5:]
        assert set(statuses) <= {200, 503}, statuses  # beyond the cap: a 503 answer, never a hang
        # Those past the cap get a 503; which ones depends on timing (once the refused ones, lingering a second
        # each, use up the file descriptors, accept() pauses, and the last ones may arrive after the first
        # ones' header timeout freed their places: accepted, then closed too), so every socket is read.
        answers = [_first_bytes(s) for s in slow]
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert refused, "connections beyond the cap get 503"
        assert set(answers) - set(refused) <= {b""}, "the rest are closed by the header timeout"
        closed, deadline = False, time.monotonic() + 30
        while not closed and time.monotonic() < deadline:
            try:
                trickle.sendall(b"x")
                time.sleep(0.3)
            except OSError:  # reset or broken pipe: the server closed it
                closed = True
        assert closed, "a connection still sending a body after its answer is closed"
    finally:
        for s in slow:
            s.close()
        if "trickle" in locals():
            trickle.close()
        proc.terminate()
        try:
            out = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0]
    assert out.count("Too many open files") + out.count("out of system resource") <= 3, out[-2000:]


def test_accept_errors_are_logged_once_per_interval_with_a_count():
    from aimodel.serving.connections import ACCEPT_ERROR, AcceptErrorFilter

    now = [0.0]
    flt = AcceptErrorFilter(interval_s=10, clock=lambda: now[0])
    error = OSError(24, "Too many open files")

    def record(msg):
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, (OSError, error, None))

    passed = [r for r in (record(ACCEPT_ERROR) for _ in range(5000)) if flt.filter(r)]
    assert len(passed) == 1 and "Too many open files" in passed[0].getMessage() and passed[0].exc_info is None
    now[0] = 11.0
    later = record(ACCEPT_ERROR)
    assert flt.filter(later) and "4999 more like it" in later.getMessage()
    assert flt.filter(record("something else")) and flt.filter(record("something else"))


# --- 5. cheap images that are expensive to decode ----------------------------------------------------------


def test_the_pixel_limit_follows_the_model_and_bounds_a_whole_request(trained_run):
    from tests._serve_support import digit_pngs, png_header

    model = ServedModel(trained_run)
    with _client(model) as c:  # no --max-pixels: a digit model takes up to 16 MP, not 40
        assert c.get("/metadata").json()["server"]["max_pixels"] == 16_000_000
        big = c.post("/predict", files={"file": ("big.png", png_header(6000, 6000), "image/png")})
        assert big.status_code == 413 and "16,000,000 pixels" in big.json()["error"], big.text
    photo = next(iter(digit_pngs(1, photo=True).values()))  # 64×64 = 4,096 pixels
    with _client(model, max_pixels=5000) as c:
        assert c.post("/predict", files=[("file", ("p.png", photo))] * 4).status_code == 200
        five = c.post("/predict", files=[("file", (f"p{i}.png", photo)) for i in range(5)])
        assert five.status_code == 413 and "p4.png" in five.json()["error"] and "together" in five.json()["error"]


DECODE_PROBE = """
import io, json, sys
from aimodel.data.spec import InputSpec
from aimodel.inference.images import prepare_image

def peak_kb():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over fork and exec)
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])

spec = InputSpec.from_json(json.load(open(sys.argv[1]))["input"])
data = open(sys.argv[2], "rb").read()
before = peak_kb()
out = prepare_image(io.BytesIO(data), spec)
print(json.dumps({"shape": list(out.shape), "grown_kb": peak_kb() - before}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="measures the peak with Linux's VmHWM")
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_huge_image_is_decoded_reduced_for_a_small_model(trained_run, tmp_path, fmt):
    """A 6000×6000 image for an 8×8 model: full-size decoding grew the process by ~730 MB; reduced, by tens."""
    import subprocess
    import sys

    from PIL import Image

    path = tmp_path / f"big.{fmt.lower()}"
    Image.new("L", (6000, 6000), 255).save(path, format=fmt)
    probe = subprocess.run([sys.executable, "-c", DECODE_PROBE, str(trained_run / "meta.json"), str(path)],
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["shape"] == [8, 8, 1]
    assert result["grown_kb"] < 250 * 1024, result  # a full-size float copy alone is 36 M × 4 × 3 bytes


def test_reduced_decoding_keeps_the_shorter_side_and_small_images_exact(tmp_path):
    import numpy as np
    from PIL import Image

    from aimodel.data.images import read_image

    Image.new("RGB", (3000, 1000), (200, 10, 10)).save(tmp_path / "wide.png")
    reduced = read_image(tmp_path / "wide.png", 3, min_side=300)
    assert reduced.shape == (334, 1000, 3) and np.allclose(reduced[0, 0], [200, 10, 10])
    Image.new("L", (40, 30), 7).save(tmp_path / "small.png")
    assert read_image(tmp_path / "small.png", 1, min_side=300).shape == (30, 40, 1)
