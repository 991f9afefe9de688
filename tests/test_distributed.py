"""Training across processes (multi_worker) and local devices (mirrored), with real worker processes.

Every multi-worker test starts two ``aimodel train`` processes on 127.0.0.1 with free ports, each
bounded by a timeout; ``training.worker_timeout`` is short so that a failure ends within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from aimodel.errors import ConfigError, DistributeError
from aimodel.training.distribute import (Cluster, cluster_from_env, fingerprint, parse_workers, rendezvous,
                                        resolve)
from tests import conftest
from tests._resume_support import DRIVER, metrics_without_time, weights

#: conftest's tiny digits config without dropout (every worker would draw its own masks), 2 epochs
TINY = {
    **conftest.TINY,
    "model": {"architecture": "cnn", "filters": [4], "dense": [8], "dropout": 0.0},
    "training": {"epochs": 2, "batch_size": 32, "learning_rate": 0.003, "worker_timeout": 8,
                 # class weights and a schedule go through the multi-worker loop too
                 "class_weight": "balanced", "lr_schedule": {"type": "cosine"}},
}
TIMEOUT = 180  # seconds for any one process; the tests' own bound
#: weights of a 2-worker run against one process with the same global batch: equal up to float32 rounding
#: of the all-reduce (a sum of two half-batch gradients instead of one) and the last batch's split
#: (1293 = 40 × 32 + 13: the loss of that batch averages the two workers' means of 7 and 6 samples).
ATOL = 2e-3


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_config(tmp_path: Path, name: str = "tiny.yaml", **training) -> Path:
    return conftest.write_config(tmp_path / name, {**TINY, "training": {**TINY["training"], **training}})


def start(args: list[str], cwd: Path, fault: str = "", extra_env: dict | None = None) -> subprocess.Popen:
    driver = cwd / "driver.py"
    if not driver.exists():
        driver.write_text(DRIVER, encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "AIMODEL_TEST_FAULT": fault, "CUDA_VISIBLE_DEVICES": "",
           **(extra_env or {})}
    env = {k: v for k, v in env.items() if v is not None}  # None in extra_env: unset it
    env.pop("TF_CONFIG", None)
    return subprocess.Popen([sys.executable, str(driver), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(procs: list[subprocess.Popen], timeout: float = TIMEOUT) -> list[tuple[int, str]]:
    out = []
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            text, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError("a worker did not stop within the test's timeout") from None
        out.append((p.returncode, text))
    return out


def two_workers(tmp_path: Path, first: list[str], faults=("", ""), configs=None,
                extra_env: dict | None = None) -> list[tuple[int, str]]:
    """Run ``aimodel train ... --workers A,B --rank r`` for r = 0, 1 and wait for both."""
    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    procs = []
    for rank in (0, 1):
        args = list(first)
        if configs:
            args[1] = str(configs[rank])
        procs.append(start(args + ["--workers", workers, "--rank", str(rank)], tmp_path, fault=faults[rank],
                           extra_env=extra_env))
    return finish(procs)


# --- unit: cluster description ----------------------------------------------------------------


def test_workers_flag_is_parsed_and_checked():
    c = parse_workers("10.0.0.1:2222, 10.0.0.2:2222", 1)
    assert c.workers == ("10.0.0.1:2222", "10.0.0.2:2222") and c.rank == 1 and not c.is_chief
    assert json.loads(c.tf_config()) == {"cluster": {"worker": list(c.workers)}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ConfigError, match="outside the cluster: 2 workers have ranks 0 to 1"):
        parse_workers("a:1,b:2", 2)
    with pytest.raises(ConfigError, match="not HOST:PORT"):
        parse_workers("a:1,b", 0)
    with pytest.raises(ConfigError, match="appears twice"):
        parse_workers("a:1,a:1", 0)
    with pytest.raises(ConfigError, match="needs --rank"):
        parse_workers("a:1,b:1", None)


def test_tf_config_with_a_chief_ranks_it_first():
    conf = {"cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]}, "task": {"type": "worker", "index": 1}}
    c = cluster_from_env({"TF_CONFIG": json.dumps(conf)})
    assert c == Cluster(("c:1", "w:1", "w:2"), 2, (("chief", 0), ("worker", 0), ("worker", 1)))
    assert cluster_from_env({}) is None
    assert cluster_from_env({"TF_CONFIG": json.dumps({"cluster": {"worker": ["w:1"]}, "task": {}})}) is None
    with pytest.raises(ConfigError, match="parameter servers"):
        cluster_from_env({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {}})})
    with pytest.raises(ConfigError, match="not in the cluster"):
        cluster_from_env({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
                                                   "task": {"type": "worker", "index": 5}})})


def test_auto_picks_the_strategy():
    two = Cluster(("a:1", "b:1"), 0)
    assert resolve("auto", None, 0) == "none" and resolve("auto", None, 1) == "none"
    assert resolve("auto", None, 2) == "mirrored" and resolve("auto", two, 8) == "multi_worker"
    with pytest.raises(ConfigError, match="multi_worker needs a cluster"):
        resolve("multi_worker", None, 0)
    assert fingerprint("a: 1") == fingerprint("a: 1") != fingerprint("a: 2") < 2**52


def test_workers_flag_errors_are_one_line(tmp_path):
    from click.testing import CliRunner

    from aimodel.cli import main

    cfg = write_config(tmp_path)
    for args, message in (
        (["--workers", "127.0.0.1:1,127.0.0.1:2", "--rank", "2"], "--rank 2 is outside the cluster"),
        (["--rank", "1"], "--rank goes with --workers"),
        (["--workers", "127.0.0.1:1,127.0.0.1:2", "--rank", "0", "--set", "training.distribute=none"],
         "training.distribute is 'none'"),
    ):
        result = CliRunner().invoke(main, ["train", str(cfg), *args])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_workers_split_every_global_batch_of_the_single_process_order():
    import tensorflow as tf

    from aimodel.data.base import Split
    from aimodel.data.pipeline import EpochOrder, make_dataset, steps_per_epoch

    n, batch = 103, 8  # 12 full batches and one of 7; with 4 workers every one gets a share of it
    split = Split(np.arange(n, dtype="float32")[:, None], np.arange(n) % 3)
    for workers, last in ((2, 7), (4, 7), (8, None)):  # 7 samples cannot feed 8 workers: that batch is left out
        order = EpochOrder(n, seed=5)
        order.set_epoch(3)
        whole = [x.numpy()[:, 0] for x, _ in make_dataset(split, batch, order=order)]
        shards = [[x.numpy()[:, 0] for x, _ in make_dataset(split, batch, order=order, shard=(r, workers))]
                  for r in range(workers)]
        steps = steps_per_epoch(n, batch, workers)
        assert steps == (13 if last else 12) and all(len(s) == steps for s in shards)
        for k in range(steps):
            assert np.array_equal(np.concatenate([s[k] for s in shards]), whole[k])
        val = [np.concatenate([x.numpy()[:, 0] for x, _ in make_dataset(split, batch, shard=(r, workers))])
               for r in range(workers)]
        assert np.array_equal(np.concatenate(val), np.arange(n))  # validation: contiguous shares, all of it
        assert tf.data.experimental.cardinality(make_dataset(split, batch, order=order, shard=(0, workers))) == steps


# --- two real workers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """The same config trained in one process (the reference for the weights)."""
    tmp = tmp_path_factory.mktemp("single")
    cfg = write_config(tmp)
    code, out = finish([start(["train", str(cfg), "--run-dir", "run", "-q"], tmp)])[0]
    assert code == 0, out
    return tmp / "run"


@pytest.mark.distributed
@pytest.mark.subprocess
def test_two_workers_train_like_one_process(single, tmp_path):
    cfg = write_config(tmp_path)
    (c0, out0), (c1, out1) = two_workers(tmp_path, ["train", str(cfg), "--run-dir", "run", "-q"])
    assert c0 == 0 and c1 == 0, out0 + out1
    run = tmp_path / "run"
    assert out0.strip().splitlines()[-1] == "run"
    assert "worker 1 of 2: trained 2 epochs" in out1
    for name in ("config.yaml", "meta.json", "best.keras", "last.keras", "state.json", "metrics.csv",
                 "summary.json", "curves.png", "train.log", "tensorboard"):
        assert (run / name).exists(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch"] == 32
    assert summary["sessions"][0]["distribute"] == "multi_worker" and summary["global_step"] == 82
    got, want = metrics_without_time(run), metrics_without_time(single)
    assert [r["epoch"] for r in got] == ["1", "2"]
    for a, b in zip(got, want):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert abs(float(a[key]) - float(b[key])) < ATOL, (key, a, b)
    for a, b in zip(weights(run / "last.keras"), weights(single / "last.keras")):
        np.testing.assert_allclose(a, b, atol=ATOL)

    from aimodel.training.records import list_runs

    (info,) = list_runs(run)
    assert info.world_size == 2 and info.global_batch == 32


@pytest.mark.distributed
@pytest.mark.subprocess
@pytest.mark.timing
def test_kill9_of_a_worker_stops_the_other_then_resume_completes(single, tmp_path):
    cfg = write_config(tmp_path, epochs=3)
    t0 = time.monotonic()
    # rank 1 is killed by SIGKILL in epoch 2, after 16 of its 41 steps; TF_CPP_MIN_LOG_LEVEL is left to the
    # CLI, as for a user who never set it
    (c0, out0), (c1, _) = two_workers(tmp_path, ["train", str(cfg), "--run-dir", "run", "-q"],
                                      faults=("", "kill_batch:2,16"), extra_env={"TF_CPP_MIN_LOG_LEVEL": None})
    assert c1 == -signal.SIGKILL
    assert c0 == 1, out0
    # the survivor's whole output (stdout and stderr) is the one line: no interpreter-exit traceback
    # (Pool.__del__: Bad file descriptor), no C++ lines (cuInit, StartAbort, RingReduce)
    lines = out0.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: another worker stopped"), out0
    assert "aimodel train --resume" in lines[0]
    assert time.monotonic() - t0 < 120
    run = tmp_path / "run"
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"

    (c0, out0), (c1, out1) = two_workers(tmp_path, ["train", "--resume", str(run), "-q"])
    assert c0 == 0 and c1 == 0, out0 + out1
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 3 and state["global_step"] == 3 * 41
    # Same steps as without the kill: epoch 3 of an uninterrupted single-process run, within float rounding.
    uninterrupted = tmp_path / "ref"
    ref_cfg = write_config(tmp_path, "ref.yaml", epochs=3)
    code, out = finish([start(["train", str(ref_cfg), "--run-dir", "ref", "-q"], tmp_path)])[0]
    assert code == 0, out
    for a, b in zip(weights(run / "last.keras"), weights(uninterrupted / "last.keras")):
        np.testing.assert_allclose(a, b, atol=ATOL)


@pytest.mark.distributed
@pytest.mark.subprocess
def test_workers_with_different_configs_refuse_to_train(tmp_path):
    a = write_config(tmp_path, "a.yaml")
    b = write_config(tmp_path, "b.yaml", learning_rate=0.01)
    results = two_workers(tmp_path, ["train", "CONFIG", "--run-dir", "run", "-q"], configs=(a, b))
    for code, out in results:
        assert code == 1 and "different configs" in out and "Traceback" not in out, out
    assert not (tmp_path / "run").exists()


@pytest.mark.distributed
@pytest.mark.subprocess
@pytest.mark.timing
def test_a_missing_worker_is_a_timely_error(tmp_path):
    cfg = write_config(tmp_path, worker_timeout=3)
    ports = free_ports(4)
    lonely_chief, lonely_worker = (",".join(f"127.0.0.1:{p}" for p in pair) for pair in (ports[:2], ports[2:]))
    t0 = time.monotonic()
    # a chief whose worker never comes, and (beside it, on other ports) a worker whose chief never comes
    (code, out), (code1, out1) = finish([start(["train", str(cfg), "--workers", lonely_chief, "--rank", "0"], tmp_path),
                                         start(["train", str(cfg), "--workers", lonely_worker, "--rank", "1"], tmp_path)],
                                        timeout=90)
    assert code == 1 and "not every worker joined within 3 s: rank(s) [1]" in out and "Traceback" not in out, out
    assert time.monotonic() - t0 < 60
    assert code1 == 1 and "the chief (127.0.0.1:" in out1 and "did not answer within 3 s" in out1, out1
    assert not (tmp_path / "runs").exists()


@pytest.mark.distributed
@pytest.mark.subprocess
def test_a_port_in_use_is_a_one_line_error(tmp_path):
    cfg = write_config(tmp_path, worker_timeout=3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (other,) = free_ports(1)
        ((code, out),) = finish([start(["train", str(cfg), "--workers", f"127.0.0.1:{port},127.0.0.1:{other}",
                                        "--rank", "0"], tmp_path)], timeout=90)
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in out and "Traceback" not in out, out


@pytest.mark.parametrize("rank", [0, 1])
def test_a_port_in_use_is_refused_before_any_wait_by_the_chief_and_a_worker(rank):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (other,) = free_ports(1)
        ports = [port, other] if rank == 0 else [other, port]
        cluster = Cluster(tuple(f"127.0.0.1:{p}" for p in ports), rank)
        # the bind error, not the "did not join/answer" one that waiting for the peer would end in
        with pytest.raises(DistributeError, match=rf"^cannot listen on 127\.0\.0\.1:{port}: the port is in use"):
            rendezvous(cluster, "", timeout=30)


# --- mirrored: two logical CPU devices in one process -------------------------------------------

MIRRORED = r'''
import os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from aimodel.cli import run
sys.argv = ["aimodel"] + sys.argv[1:]
run()
'''


@pytest.mark.distributed
@pytest.mark.subprocess
def test_mirrored_on_two_devices_trains_like_one(single, tmp_path):
    cfg = write_config(tmp_path, distribute="mirrored")
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    done = subprocess.run([sys.executable, str(script), "train", str(cfg), "--run-dir", "run"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training on 2 local devices (mirrored)" in done.stdout
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["sessions"][0]["replicas"] == 2 and summary["global_step"] == 82
    for a, b in zip(weights(run / "last.keras"), weights(single / "last.keras")):
        np.testing.assert_allclose(a, b, atol=ATOL)
