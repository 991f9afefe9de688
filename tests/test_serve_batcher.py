"""The dynamic batcher on its own: batch sizes, order, timeouts, isolation of a bad input, back-pressure.

The tests wait on events, bounded by a generous LIMIT_S, never on how long something took: a batch that
should go at once is proven to by a batching timeout of an hour, and a held batch by what it holds.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from aimodel.errors import CheckpointError
from aimodel.serving.batcher import Batcher, InputFailed, Overloaded

LIMIT_S = 30  # for anything that should happen at once; only a broken batcher comes near it
HOUR = 3600.0  # a batching timeout that no test waits for


class FakeModel:
    """Probabilities that encode each sample (its value in column 0), recording every call's size and thread."""

    def __init__(self, delay: float = 0.0, bad=None, gate: threading.Event | None = None):
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.delay = delay
        self.bad = bad
        self.gate = gate  # when given, every call waits for it to be set

    def __call__(self, samples):
        self.calls.append(len(samples))
        self.threads.add(threading.current_thread().name)
        if self.bad is not None and self.bad in samples:
            raise ValueError("cannot take this one")
        time.sleep(self.delay)
        if self.gate is not None:
            assert self.gate.wait(LIMIT_S)
        return np.asarray([[s, 1.0 - s] for s in samples], np.float32)


def _run(coro):
    return asyncio.run(coro)


async def _with(batcher, coro):
    batcher.start()
    try:
        return await asyncio.wait_for(coro, LIMIT_S)
    finally:
        await asyncio.wait_for(batcher.stop(), LIMIT_S)  # a batch held by a bug would keep stop() waiting


def test_concurrent_requests_share_calls_up_to_max_batch_and_keep_order():
    model = FakeModel(delay=0.01)
    batcher = Batcher(model, max_batch=4, timeout=0.05, max_queue=100)

    async def go():
        requests = [batcher.submit([i / 100, i / 100 + 0.001]) for i in range(5)]  # 10 samples
        return await asyncio.gather(*requests)

    results = _run(_with(batcher, go()))
    for i, rows in enumerate(results):
        assert [round(float(r[0]), 3) for r in rows] == [round(i / 100, 3), round(i / 100 + 0.001, 3)]
    assert sum(model.calls) == 10 and max(model.calls) == 4 and len(model.calls) == 3
    assert model.threads == {"aimodel-model_0"}  # off the event loop, in the one model thread


def test_max_batch_one_calls_the_model_per_input():
    model = FakeModel()
    batcher = Batcher(model, max_batch=1, timeout=0.05, max_queue=100)

    async def go():
        return await asyncio.gather(*(batcher.submit([0.5]) for _ in range(6)))

    _run(_with(batcher, go()))
    assert model.calls == [1] * 6


def test_a_lone_input_goes_at_once_but_waits_for_announced_requests_up_to_the_timeout():
    model = FakeModel()
    batcher = Batcher(model, max_batch=64, timeout=HOUR, max_queue=100)

    async def go():
        await batcher.submit([0.5])  # nobody else on the way: answered without the hour's batching delay
        assert model.calls == [1]
        with batcher.expect():  # a request announced (reading its body)...
            held = asyncio.ensure_future(batcher.submit([0.5]))
            for _ in range(20):  # the gathering loop has had its turns: it holds the batch open for it
                await asyncio.sleep(0.001)
            assert not held.done() and model.calls == [1] and batcher.waiting == 1
        await held  # ...that gave up: the open batch goes at once
        assert model.calls == [1, 1]

    _run(_with(batcher, go()))

    model = FakeModel()
    batcher = Batcher(model, max_batch=64, timeout=0.2, max_queue=100)

    async def announced_but_never_submits():
        loop = asyncio.get_running_loop()
        with batcher.expect():
            start = loop.time()
            await batcher.submit([0.5])
            return loop.time() - start

    assert _run(_with(batcher, announced_but_never_submits())) >= 0.2  # it waited the timeout, then went
    assert model.calls == [1]


def test_an_announced_request_joins_the_open_batch():
    model = FakeModel()
    batcher = Batcher(model, max_batch=8, timeout=HOUR, max_queue=100)
    announced, first_queued = asyncio.Event(), asyncio.Event()

    async def late():
        with batcher.expect():
            announced.set()
            await first_queued.wait()  # still preparing its input while the first request's input waits
        return await batcher.submit([0.2])

    async def go():
        second = asyncio.ensure_future(late())
        await announced.wait()
        first = asyncio.ensure_future(batcher.submit([0.1]))
        await asyncio.sleep(0)  # the first input is queued
        assert batcher.waiting == 1
        first_queued.set()
        return await first, await second

    _run(_with(batcher, go()))  # not after the hour: the batch closed when the announced request arrived
    assert model.calls == [2]  # one call for both


def test_a_failing_input_fails_alone():
    model = FakeModel(bad=0.3)
    batcher = Batcher(model, max_batch=8, timeout=0.05, max_queue=100)
    results = _run(_with(batcher, batcher.submit([0.1, 0.3, 0.5])))
    assert isinstance(results[1], InputFailed) and "cannot take this one" in str(results[1])
    assert float(results[0][0]) == pytest.approx(0.1) and float(results[2][0]) == pytest.approx(0.5)
    assert model.calls[0] == 3 and sorted(model.calls[1:]) == [1, 1, 1]


def test_a_model_that_cannot_answer_at_all_raises_its_error():
    def broken(samples):
        raise CheckpointError("the model outputs 3 classes but its meta.json names 2")

    batcher = Batcher(broken, max_batch=8, timeout=0.0, max_queue=100)
    with pytest.raises(CheckpointError, match="3 classes"):
        _run(_with(batcher, batcher.submit([0.1, 0.2])))


def test_a_full_queue_refuses_and_a_stopped_batcher_refuses():
    gate = threading.Event()
    batcher = Batcher(FakeModel(gate=gate), max_batch=2, timeout=0.0, max_queue=4)

    async def go():
        first = asyncio.ensure_future(batcher.submit([0.1, 0.2, 0.3]))
        await asyncio.sleep(0)  # queued; the model holds its first two until the gate opens
        assert batcher.waiting == 3
        with pytest.raises(Overloaded, match="limit is 4"):
            await batcher.submit([0.4, 0.5])
        gate.set()
        return await first

    try:
        assert len(_run(_with(batcher, go()))) == 3
    finally:
        gate.set()
    with pytest.raises(Overloaded, match="not running"):
        _run(Batcher(FakeModel(), 2, 0.0, 4).submit([0.1]))


def test_inputs_of_a_cancelled_request_are_skipped():
    model = FakeModel()
    batcher = Batcher(model, max_batch=8, timeout=HOUR, max_queue=100)

    async def go():
        with batcher.expect():  # keeps the batch open while the request is cancelled
            cancelled = asyncio.ensure_future(batcher.submit([0.1, 0.2]))
            await asyncio.sleep(0)  # its two inputs are queued
            assert batcher.waiting == 2
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        return await batcher.submit([0.7])

    rows = _run(_with(batcher, go()))
    assert float(rows[0][0]) == pytest.approx(0.7)
    assert sum(model.calls) == 1  # the cancelled request's two inputs never reached the model
    assert batcher.waiting == 0
