"""Dynamic batching: inputs of concurrent requests share one model call, made off the event loop.

The first input to arrive opens a batch; the batch closes when it holds
``max_batch`` inputs, ``timeout`` seconds after that first input, or when no other
request is on its way, whichever is first, and goes to the model in a dedicated
thread while the next batch gathers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from aimodel.errors import AimodelError
from aimodel.inference.predict import NOT_FINITE, model_failure

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """More inputs are waiting than the server's queue holds; the client should retry later."""


class InputFailed(Exception):
    """The model itself failed on this one input (the others of its batch were predicted)."""


@dataclass
class _Pending:
    sample: Any
    future: asyncio.Future
    arrived: float


class Batcher:
    """Gathers samples into model calls.

    A batch closes when it holds ``max_batch`` samples, when ``timeout`` has passed
    since its first sample arrived, or as soon as no announced request is still on
    its way (see :meth:`expect`): waiting then could only add latency.

    Args:
        infer: prepared samples -> ``(N, n_outputs)`` model outputs (one model call); runs in a thread.
        max_batch: most samples per call.
        timeout: seconds the first sample of a batch waits for company.
        max_queue: most samples waiting; :meth:`submit` raises :class:`Overloaded` beyond it.
        observe: called with (batch size, seconds of the model call) after every call.
    """

    def __init__(self, infer: Callable[[list], np.ndarray], max_batch: int, timeout: float, max_queue: int,
                 observe: Optional[Callable[[int, float], None]] = None):
        self.infer = infer
        self.max_batch = max_batch
        self.timeout = timeout
        self.max_queue = max_queue
        self.observe = observe or (lambda n, s: None)
        self._queue: deque[_Pending] = deque()
        self._task: Optional[asyncio.Task] = None
        self._wake: Optional[asyncio.Future] = None
        self._busy = 0  # samples queued or in the model call
        self._gathering = False  # a batch is open and waiting for company
        self._expected = 0  # requests announced with expect() that have not submitted yet
        self._executor: Optional[ThreadPoolExecutor] = None

    @property
    def waiting(self) -> int:
        """Samples submitted and not yet answered."""
        return self._busy

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start gathering on the running event loop."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aimodel-model")
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="aimodel-batcher")

    async def stop(self) -> None:
        """Answer what is queued, then stop; the model thread is released."""
        if self._task is not None:
            while self._busy and not self._task.done():
                await asyncio.sleep(0.005)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @contextmanager
    def expect(self):
        """Announce a request that will submit soon (its body is still being read or prepared).

        While announced requests are on their way, an open batch waits for them (up to
        the timeout); with none on the way it goes to the model at once, so an idle
        server answers a lone request without the batching delay.
        """
        self._expected += 1
        try:
            yield
        finally:
            self._expected -= 1
            self._poke()

    async def submit(self, samples: list) -> list:
        """Probabilities (a row per sample) or an :class:`InputFailed` in its place, in order.

        Raises:
            Overloaded: the queue is full.
            AimodelError: the model cannot be used at all (its outputs do not match its classes).
        """
        if not self.running:
            raise Overloaded("the model is not running (the server is starting or stopping)")
        if self._busy + len(samples) > self.max_queue:
            raise Overloaded(f"{self._busy} inputs are waiting for the model (the limit is {self.max_queue})")
        loop = asyncio.get_running_loop()
        now = loop.time()
        pending = [_Pending(s, loop.create_future(), now) for s in samples]
        self._busy += len(pending)
        self._queue.extend(pending)
        self._poke()
        if len(pending) == 1:
            try:
                results = [await pending[0].future]
            except InputFailed as exc:
                results = [exc]
        else:
            results = await asyncio.gather(*(p.future for p in pending), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, InputFailed):
                raise r  # the model cannot answer at all (or the request was cancelled)
        return results

    def _poke(self) -> None:
        """Wake the gathering loop: for a first sample, or when the open batch is complete."""
        wake = self._wake
        if wake is None or wake.done() or not self._queue:
            return
        if not self._gathering or len(self._queue) >= self.max_batch or self._expected <= 0:
            wake.set_result(None)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake = loop.create_future()
                await self._wake  # the first sample of the next batch
            self._gathering = True
            remaining = self._queue[0].arrived + self.timeout - loop.time()
            if len(self._queue) < self.max_batch and self._expected > 0 and remaining > 0:
                self._wake = loop.create_future()
                timer = loop.call_later(remaining, lambda f=self._wake: f.done() or f.set_result(None))
                await self._wake
                timer.cancel()
            self._gathering = False
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            live = [p for p in batch if not p.future.done()]  # a timed-out request's inputs are skipped
            self._busy -= len(batch) - len(live)
            if not live:
                continue
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._call, [p.sample for p in live])
            except Exception as exc:  # a bug in the batch's own bookkeeping: fail its requests, keep serving
                log.exception("model call failed")
                results = [exc] * len(live)
            self.observe(len(live), time.perf_counter() - start)
            self._busy -= len(live)
            for p, r in zip(live, results):
                if p.future.done():
                    continue
                if isinstance(r, BaseException):
                    p.future.set_exception(r)
                else:
                    p.future.set_result(r)

    def _call(self, samples: list) -> list:
        """One model call; if it fails, each sample alone, so one bad input fails only itself."""
        try:
            rows = list(self.infer(samples))
        except AimodelError as exc:
            return [exc] * len(samples)
        except Exception as exc:
            if len(samples) == 1:
                return [InputFailed(model_failure(exc))]
            return [r for s in samples for r in self._call([s])]
        # NaN is not JSON: a non-finite answer is that input's failure, never a 500 for the request
        return [r if np.isfinite(r).all() else InputFailed(NOT_FINITE) for r in rows]
