"""The serve load benchmark's own logic (the benchmark itself runs with `make bench`)."""

from __future__ import annotations

import asyncio

from benchmarks import serve_load


def _entry(rps, p99, errors=0, batch=1.0):
    return {"requests_per_s": rps, "p50_ms": p99 / 3, "p99_ms": p99, "cold_start_s": 5.0, "idle_p50_ms": 6.0,
            "mean_batch": batch, "accuracy": 0.97, "server_cpu_ms_per_request": 1.0,
            "client_cpu_ms_per_request": 0.1, "errors": errors}


def test_summary_takes_medians_and_judges_the_target():
    results = {"batching": [_entry(900, 100, batch=30), _entry(1100, 120, batch=30), _entry(1000, 110, batch=30)],
               "max_batch_1": [_entry(300, 200), _entry(320, 210), _entry(310, 190)]}
    s = serve_load.summarize(results)
    assert s["batching"]["requests_per_s"] == 1000 and s["max_batch_1"]["requests_per_s"] == 310
    assert s["throughput_ratio"] == round(1000 / 310, 2) and s["target_met"]
    results["batching"][0]["errors"] = 1
    assert not serve_load.summarize(results)["target_met"]  # errors fail the target
    slow_tail = {"batching": [_entry(1000, 300, batch=30)], "max_batch_1": [_entry(300, 200)]}
    assert not serve_load.summarize(slow_tail)["target_met"]  # a worse p99 fails it too


def test_render_names_the_settings_and_the_verdict():
    s = serve_load.summarize({"batching": [_entry(1000, 100, batch=30)], "max_batch_1": [_entry(250, 200)]})
    s["model_alone"] = {"batch_1_images_per_s": 900.0, "batch_64_images_per_s": 4500.0, "ratio": 5.0}
    meta = {"epochs": 3, "data": "MNIST", "clients": 64, "seconds": 20, "reps": 1, "started": "today",
            "load_start": [1.0, 1, 1], "load_end": [1.0, 1, 1],
            "machine": {"cpu_model": "cpu", "cores_online": 2, "memory_gb": 8, "os": "Linux"}}
    text = serve_load.render(s, meta)
    assert "| requests/s | 1,000 | 250 |" in text and "**4.0×**" in text and ": met)" in text
    assert "4,500 images/s in batches of 64" in text and "Busy machine" not in text


def test_render_reports_the_12mp_photo_load_when_measured():
    results = {"batching": [_entry(1000, 100, batch=30)], "max_batch_1": [_entry(250, 200)],
               "batching_phone": [_entry(20.0, 400, batch=2), _entry(24.0, 380, batch=2), _entry(22.0, 390, batch=2)]}
    s = serve_load.summarize(results)
    assert s["batching_phone"]["requests_per_s"] == 22.0  # the median of its repetitions
    meta = {"epochs": 3, "data": "MNIST", "clients": 64, "seconds": 20, "reps": 3, "started": "today",
            "load_start": [1.0, 1, 1], "load_end": [1.0, 1, 1],
            "machine": {"cpu_model": "cpu", "cores_online": 2, "memory_gb": 8, "os": "Linux"}}
    text = serve_load.render(s, meta)
    assert "**22.0 photos/s**" in text and "12-megapixel" in text
    del results["batching_phone"]
    assert "12-megapixel" not in serve_load.render(serve_load.summarize(results), meta)


def test_preparation_cpu_times_each_photo_and_judges_issue_31s_targets(tmp_path, monkeypatch):
    import json

    import numpy as np

    from aimodel.data.spec import InputSpec

    spec = InputSpec(kind="image", shape=(28, 28, 1), class_names=list("0123456789"), background="dark")
    (tmp_path / "meta.json").write_text(json.dumps({"input": spec.to_json()}))
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 8:20, 12:16] = 255
    np.savez(tmp_path / "d.npz", x_test=digits, y_test=np.array([1, 1]))
    photos = serve_load.test_photos(tmp_path / "d.npz", 2)
    prep = serve_load.preparation_cpu(tmp_path, photos, (), rounds=1)
    assert set(prep) == {"photo"} and prep["photo"]["photos"] == 2 and prep["photo"]["ms"] > 0
    assert prep["photo"]["met"] == (prep["photo"]["ms"] <= 5.0)
    s = serve_load.summarize({"batching": [_entry(1000, 100, batch=30)], "max_batch_1": [_entry(250, 200)]})
    s["preparation"] = {"photo": {"ms": 3.2, "p90_ms": 4.0, "photos": 2, "target_ms": 5.0, "met": True},
                        "phone": {"ms": 160.0, "p90_ms": 170.0, "photos": 2, "target_ms": 150.0, "met": False}}
    meta = {"epochs": 3, "data": "MNIST", "clients": 64, "seconds": 20, "reps": 1, "started": "today",
            "load_start": [1.0, 1, 1], "load_end": [1.0, 1, 1],
            "machine": {"cpu_model": "cpu", "cores_online": 2, "memory_gb": 8, "os": "Linux"}}
    text = serve_load.render(s, meta)
    assert "**3.2 ms**" in text and "target ≤ 5 ms: met" in text and "target ≤ 150 ms: **not met**" in text


def test_exchange_reads_one_answer_off_a_kept_alive_connection():
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n"
                         b'{"a":1}HTTP/1.1 503 X\r\n')

        class Writer:
            sent = b""

            def write(self, data):
                Writer.sent += data

        status, body = await serve_load._exchange(reader, Writer(), b"GET / HTTP/1.1\r\n\r\n")
        return status, body, Writer.sent

    status, body, sent = asyncio.run(go())
    assert (status, body, sent) == (200, b'{"a":1}', b"GET / HTTP/1.1\r\n\r\n")
