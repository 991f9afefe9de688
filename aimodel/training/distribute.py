"""Where training runs: one device, every local GPU, or several worker processes.

``training.distribute`` picks a :mod:`tf.distribute` strategy:

- ``none``: the default device, Keras ``fit``.
- ``mirrored``: every local GPU (or the logical devices given), Keras ``fit``
  under :class:`tf.distribute.MirroredStrategy`.
- ``multi_worker``: several processes, on one host or many, under
  :class:`tf.distribute.MultiWorkerMirroredStrategy`. Keras 3 ``fit`` cannot
  run under it (keras issue 20585), so :mod:`aimodel.training.loop` drives
  Keras' own ``train_step``/``test_step`` instead.
- ``auto``: ``multi_worker`` when a cluster is configured, ``mirrored`` when
  more than one GPU is visible, otherwise ``none``.

A cluster is described by ``TF_CONFIG`` (what Kubeflow's TFJob and Ray set) or by
``aimodel train --workers HOST:PORT,... --rank N``, which writes ``TF_CONFIG``
before TensorFlow starts. Rank 0 is the chief: it alone writes the run directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional

from aimodel.errors import ConfigError, DistributeError

TF_CONFIG = "TF_CONFIG"


@dataclass(frozen=True)
class Cluster:
    """The worker addresses and this process's place among them (rank 0 is the chief)."""

    workers: tuple[str, ...]
    rank: int
    #: the TF_CONFIG job names, in rank order ("chief" first when TF_CONFIG has one)
    jobs: tuple[tuple[str, int], ...] = ()

    @property
    def world_size(self) -> int:
        return len(self.workers)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def address(self) -> str:
        return self.workers[self.rank]

    def tf_config(self) -> str:
        return json.dumps({"cluster": {"worker": list(self.workers)}, "task": {"type": "worker", "index": self.rank}})


_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def parse_workers(text: str, rank: Optional[int]) -> Cluster:
    """``--workers HOST:PORT,HOST:PORT --rank N`` as a :class:`Cluster`."""
    workers = tuple(w.strip() for w in text.split(",") if w.strip())
    if len(workers) < 2:
        raise ConfigError(f"--workers {text!r}: list at least two HOST:PORT addresses, comma-separated "
                          "(the same list, in the same order, on every worker)")
    for w in workers:
        m = _ADDRESS.match(w)
        if not m or not 0 < int(m.group(2)) < 65536:
            raise ConfigError(f"--workers: {w!r} is not HOST:PORT (for example 10.0.0.2:12345)")
    if len(set(workers)) != len(workers):
        raise ConfigError(f"--workers: an address appears twice in {text!r}")
    if rank is None:
        raise ConfigError("--workers needs --rank N: this worker's position in the list (0 = the chief)")
    if not 0 <= rank < len(workers):
        raise ConfigError(f"--rank {rank} is outside the cluster: {len(workers)} workers have ranks "
                          f"0 to {len(workers) - 1}")
    return Cluster(workers, rank)


def cluster_from_env(environ: Mapping[str, str] = os.environ) -> Optional[Cluster]:
    """The cluster ``TF_CONFIG`` describes, or None when it is unset or names one task."""
    raw = environ.get(TF_CONFIG)
    if not raw:
        return None
    try:
        conf = json.loads(raw)
        cluster, task = conf.get("cluster") or {}, conf.get("task") or {}
        kind, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON with 'cluster' and 'task' ({exc})") from None
    unknown = set(cluster) - {"chief", "worker"}
    if unknown:
        raise ConfigError(f"TF_CONFIG: jobs {sorted(unknown)} are not supported (aimodel trains with "
                          "'chief' and 'worker' tasks only; parameter servers and evaluators are not used)")
    order = [("chief", a) for a in cluster.get("chief", [])] + [("worker", a) for a in cluster.get("worker", [])]
    if len(order) < 2:
        return None
    names = [(job, i) for job in ("chief", "worker") for i in range(len(cluster.get(job, [])))]
    if (kind, index) not in names:
        raise ConfigError(f"TF_CONFIG: task {kind}:{index} is not in the cluster ({len(order)} tasks)")
    return Cluster(tuple(a for _, a in order), names.index((kind, index)), tuple(names))


def resolve(setting: str, cluster: Optional[Cluster], gpus: int) -> str:
    """The mode ``training.distribute`` means on this machine: none, mirrored or multi_worker."""
    if setting == "auto":
        return "multi_worker" if cluster else ("mirrored" if gpus > 1 else "none")
    if setting == "multi_worker" and cluster is None:
        raise ConfigError("training.distribute: multi_worker needs a cluster: set TF_CONFIG, or pass "
                          "`aimodel train CONFIG --workers HOST:PORT,HOST:PORT --rank N` on every worker")
    return setting


def fingerprint(text: str) -> int:
    """A 52-bit hash (exact in float64) that workers compare to find a different config."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 12


@dataclass
class Distribution:
    """The strategy a run trains under; ``none`` is TensorFlow's default strategy."""

    mode: str = "none"
    strategy: object = None
    cluster: Optional[Cluster] = None
    #: training.worker_timeout (multi_worker)
    timeout: float = 60.0

    @property
    def world_size(self) -> int:
        return self.cluster.world_size if self.mode == "multi_worker" else 1

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync) if self.strategy is not None else 1

    @property
    def rank(self) -> int:
        return self.cluster.rank if self.mode == "multi_worker" else 0

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> str:
        if self.mode == "multi_worker":
            return f"{self.world_size} workers (this is rank {self.rank}, {self.cluster.address})"
        if self.mode == "mirrored":
            return f"{self.replicas} local devices (mirrored)"
        return "one device"


_STARTED: dict = {}


def start(setting: str, timeout: float, config_text: str = "") -> Distribution:
    """Create the strategy for ``training.distribute`` (TensorFlow must not have run any op yet for
    ``multi_worker``). One multi-worker strategy per process: a second call returns the first.

    ``config_text``: what every worker must agree on (the config, and whether it resumes).
    """
    import tensorflow as tf

    cluster = cluster_from_env()
    mode = resolve(setting, cluster, len(tf.config.list_physical_devices("GPU")))
    if mode == "none":
        return Distribution()
    if mode == "mirrored":
        # Every GPU; without GPUs, the CPU devices TensorFlow was configured with (one unless split into
        # logical devices, as the tests do).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return Distribution("mirrored", tf.distribute.MirroredStrategy([d.name for d in devices]))
    key = (cluster.workers, cluster.rank)
    if key in _STARTED:
        return _STARTED[key]
    rendezvous(cluster, config_text, timeout)
    dist = Distribution("multi_worker", _multi_worker(cluster, timeout), cluster, timeout)
    if dist.replicas != cluster.world_size:
        raise DistributeError(
            f"this worker sees {dist.replicas // cluster.world_size} devices; multi_worker trains one replica "
            "per process: start one worker per GPU (CUDA_VISIBLE_DEVICES=i) and list each in --workers/TF_CONFIG"
        )
    _STARTED[key] = dist
    return dist


def _multi_worker(cluster: Cluster, timeout: float):
    import tensorflow as tf

    from aimodel.compat import configure_coordination_service

    os.environ[TF_CONFIG] = os.environ.get(TF_CONFIG) or cluster.tf_config()
    # TensorFlow's coordination service (which MultiWorkerMirroredStrategy starts) waits for every
    # worker forever and notices a dead one only through collective timeouts; configured here first,
    # both are bounded: `timeout` to join, `timeout` without a heartbeat from a peer (a private API, in compat).
    jobs = {}
    for job, _ in cluster.jobs or (("worker", i) for i in range(cluster.world_size)):
        jobs[job] = jobs.get(job, 0) + 1
    leader = "/job:chief/replica:0/task:0" if "chief" in jobs else "/job:worker/replica:0/task:0"
    configure_coordination_service(leader, jobs, int(timeout * 1000))
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=None)
    try:
        with _watchdog(timeout * 2 + 30):
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (tf.errors.OpError, RuntimeError, ValueError) as exc:
        raise cluster_error(exc, cluster, timeout) from None


@contextlib.contextmanager
def _watchdog(seconds: float):
    """The last-resort bound on TensorFlow's cluster start (after :func:`rendezvous` saw every worker).

    That start waits inside C++ holding the GIL, where no Python timer, Ctrl-C or SIGTERM reaches
    it, and a peer that vanished in between makes it wait forever; faulthandler's C thread ends the
    process (exit 1) instead, writing the stack to a file in the temp directory rather than the screen.
    """
    import faulthandler
    import tempfile

    with tempfile.TemporaryFile("w+") as sink:
        faulthandler.dump_traceback_later(seconds, exit=True, file=sink)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def rendezvous(cluster: Cluster, config_text: str, timeout: float) -> None:
    """Meet every worker before TensorFlow starts, on the chief's port, with bounded waits.

    Each worker sends the chief its rank and a fingerprint of its config and cluster list; the
    chief answers "go" when all have arrived with the same fingerprint. So a missing worker, an
    unreachable chief, a port in use and different configs are clear errors within ``timeout``
    seconds, where TensorFlow's own start-up would wait forever.
    """
    import socket
    import time

    mine = fingerprint(config_text + "\n" + ",".join(cluster.workers))
    end = time.monotonic() + timeout
    if not cluster.is_chief:  # the port TensorFlow will listen on must be free (the chief's is checked below)
        _bound(cluster.address).close()
        _join(cluster, mine, end, timeout)
        return
    with _bound(cluster.address) as server:
        server.listen(cluster.world_size)
        peers: dict[int, tuple[socket.socket, int]] = {}
        try:
            while len(peers) < cluster.world_size - 1:
                server.settimeout(max(0.01, end - time.monotonic()))
                try:
                    conn, _ = server.accept()
                except socket.timeout:
                    absent = sorted(set(range(1, cluster.world_size)) - set(peers))
                    raise DistributeError(
                        f"not every worker joined within {timeout:g} s: rank(s) {absent} "
                        f"({', '.join(cluster.workers[r] for r in absent)}) did not arrive; start all "
                        f"{cluster.world_size} workers with the same --workers list, check that {cluster.address} "
                        "is reachable from them, or raise training.worker_timeout") from None
                conn.settimeout(max(0.01, end - time.monotonic()))
                try:
                    rank, fp = (int(v) for v in conn.makefile("r").readline().split())
                except (OSError, ValueError):
                    conn.close()
                    continue  # not one of ours (a port scanner, a dead worker): keep waiting
                peers[rank] = (conn, fp)
            differ = sorted(r for r, (_, fp) in peers.items() if fp != mine)
            answer = "go" if not differ else "differ " + ",".join(map(str, differ))
            for conn, _ in peers.values():
                conn.sendall((answer + "\n").encode())
            for conn, _ in peers.values():  # the workers close first (their side keeps TIME_WAIT, not this port)
                with contextlib.suppress(OSError):
                    conn.settimeout(5)
                    conn.recv(1)
        finally:
            for conn, _ in peers.values():
                conn.close()
    if differ:
        raise ConfigError(f"the workers were started with different configs or --workers lists: rank(s) {differ} "
                          "differ from the chief's; start every worker with the same CONFIG, --set options and "
                          "--workers list")


def _bound(address: str):
    """A socket bound to the port of ``address`` (HOST:PORT) on every interface."""
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("", _split(address)[1]))
    except OSError:
        sock.close()
        raise DistributeError(f"cannot listen on {address}: the port is in use or not this machine's; "
                              "pick a free port in --workers/TF_CONFIG") from None
    return sock


def _join(cluster: Cluster, mine: int, end: float, timeout: float) -> None:
    import socket
    import time

    host, port = _split(cluster.workers[0])
    conn = None
    while conn is None:
        try:
            conn = socket.create_connection((host, port), timeout=max(0.05, min(2.0, end - time.monotonic())))
        except OSError:
            if time.monotonic() >= end:
                raise DistributeError(
                    f"the chief ({cluster.workers[0]}) did not answer within {timeout:g} s (this is rank "
                    f"{cluster.rank}): start rank 0 too, check that the address is reachable, or raise "
                    "training.worker_timeout") from None
            time.sleep(0.2)
    with conn:
        conn.settimeout(max(0.05, end - time.monotonic()) + 5)
        try:
            conn.sendall(f"{cluster.rank} {mine}\n".encode())
            answer = conn.makefile("r").readline().split()
        except OSError:
            answer = []
    if not answer:
        raise DistributeError(f"the chief ({cluster.workers[0]}) gave up before every worker joined (this is rank "
                              f"{cluster.rank}); see its message, start all workers, or raise training.worker_timeout")
    if answer[0] != "go":
        raise ConfigError(f"the workers were started with different configs or --workers lists (rank(s) "
                          f"{answer[1] if len(answer) > 1 else '?'} differ from the chief's); start every worker "
                          "with the same CONFIG, --set options and --workers list")


def cluster_error(exc: BaseException, cluster: Optional[Cluster], timeout: float = 0,
                  training: bool = False) -> DistributeError:
    """The one-line message for a TensorFlow error raised by a cluster that failed.

    ``training``: raised by a step, where a lost connection means a worker stopped.
    """
    error = _cluster_error(exc, cluster, timeout, training)
    error.runtime_started = True
    return error


def _cluster_error(exc: BaseException, cluster: Optional[Cluster], timeout: float, training: bool) -> DistributeError:
    import tensorflow as tf

    text = getattr(exc, "message", None) or str(exc)
    where = f" (rank {cluster.rank}, {cluster.address})" if cluster else ""
    low = text.lower()
    if "address already in use" in low or "could not start grpc server" in low or "failed to bind" in low:
        return DistributeError(f"cannot listen on {cluster.address if cluster else 'the worker port'}: the port "
                               "is in use or not this machine's; pick a free port in --workers/TF_CONFIG")
    lost = isinstance(exc, (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
                            tf.errors.DeadlineExceededError))
    if "stopped sending heartbeats" in low or "unhealthy" in low or (training and lost):
        return DistributeError(f"another worker stopped{where}; training stops here. Restart every worker with "
                               "`aimodel train --resume RUN ...` to continue from the last completed epoch")
    if "barrier timed out" in low or "register" in low or "deadline" in low or "timed out" in low:
        return DistributeError(f"not every worker joined within {timeout:g} s{where}: start all "
                               f"{cluster.world_size if cluster else ''} workers, check that each address in "
                               "--workers/TF_CONFIG is reachable, or raise training.worker_timeout")
    # TensorFlow's message: a header, the Python stack of the op, then the cause; keep the cause.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("File ", "Detected"))]
    cause = next((ln for ln in reversed(lines) if not ln.startswith(("[[", "The error could be"))), type(exc).__name__)
    return DistributeError(f"the cluster failed{where}: {cause[:300]}")
