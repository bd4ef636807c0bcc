"""Dynamic batching with load shedding: concurrent requests share model calls, and a request that
would wait longer than the latency budget is refused at once.

    batcher = batching.Batcher(classifier.predict, batching.BatchingConfig(max_batch_size=64))
    await batcher.start()
    with batcher.admitted():                       # Overloaded at once if the wait would exceed the budget
        probabilities = await batcher.predict(images)   # from any number of concurrent request handlers
    batcher.drain()                                # on SIGTERM: refuse new requests, run what waits now
    await batcher.stop()

**Batches.** The worker runs a batch as soon as the model is free: everything queued, oldest
first, up to `max_batch_size` images. A lone request never waits for company; under load, the
requests that arrived while the model ran form the next batch (adaptive batching). `max_wait_ms`
(default 0) makes a batch wait that long for more images first, as TF Serving's
`batch_timeout_micros` does; worth it only where a model call has a large fixed cost. A request is
never split: one with more images than `max_batch_size` runs as a batch of its own. The model runs
in one worker thread (onnxruntime releases the GIL), so the event loop keeps reading requests.

**Shedding.** The batcher measures its throughput (images per second, from each batch's images
and the time since the previous batch ended or its oldest request arrived, whichever is later: so
it counts the event loop's time between batches too) and estimates a new request's wait as the
work ahead of it (images queued and running, plus admitted requests not yet parsed, one image
each) over that throughput, plus the event loop's lag (how late the worker resumes after a model
call: what every step of a request waits for when the loop is busy, reading or answering; a busy
event loop is where a single-process server's latency hides). Over `latency_budget_ms`, `admitted()` raises `Overloaded` at once
with a `retry_after` in seconds: the queue is bounded by the wait it implies, not by a count, so
latency stays near the budget however many clients come (TF Serving bounds its queue in batches,
`max_enqueued_batches`, for the same reason). Until the first batch has run, nothing is refused.

`stats` counts what was served (requests, images, batches, the largest batch, refusals); the
server shows them at `GET /v1/models/mnist`, and the tests check batching through them.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator

import numpy as np

logger = logging.getLogger(__name__)

SMOOTHING = 0.1  # weight of the newest batch in the throughput estimate: ~10 batches of memory


class Overloaded(RuntimeError):
    """The request would wait past the latency budget (or the server is stopping): answer 503 with Retry-After."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int = 64  # images per model call: the model's per-image cost stops falling well before this
    max_wait_ms: float = 0.0  # how long a batch waits for more images; 0: it runs as soon as the model is free
    latency_budget_ms: float = 100.0  # refuse a request whose estimated wait is longer (503, Retry-After)

    def __post_init__(self) -> None:
        if isinstance(self.max_batch_size, bool) or not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be a positive integer; got {self.max_batch_size!r}")
        if isinstance(self.max_wait_ms, bool) or not isinstance(self.max_wait_ms, (int, float)) or not 0 <= self.max_wait_ms <= 60_000:
            raise ValueError(f"max_wait_ms must be a number of milliseconds from 0 to 60000; got {self.max_wait_ms!r}")
        budget = self.latency_budget_ms
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 1 <= budget <= 600_000:
            raise ValueError(f"latency_budget_ms must be a number of milliseconds from 1 to 600000; got {budget!r}")


@dataclasses.dataclass
class BatchStats:
    requests: int = 0
    images: int = 0
    batches: int = 0
    largest_batch: int = 0  # images
    refused: int = 0  # requests refused with Overloaded
    queued_images: int = 0  # waiting now, not yet in a batch
    images_per_second: float | None = None  # the throughput estimate shedding uses (None until a batch ran)

    def as_dict(self) -> dict[str, int | float | None]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Request:
    images: np.ndarray
    future: asyncio.Future[np.ndarray]
    arrived: float  # loop.time(), for max_wait_ms
    measured_from: float  # the batcher's clock, for the throughput


class Batcher:
    """Runs `predict(images (N, ...)) -> (N, ...)` on batches gathered from concurrent `await predict(...)` calls."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], config: BatchingConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic):
        self._predict = predict
        self._clock = clock  # seconds; what the throughput is measured with
        self.config = config or BatchingConfig()
        self.stats = BatchStats()
        self._pending: collections.deque[_Request] = collections.deque()
        self._running_images = 0
        self._admitted = 0  # requests between admitted() and their answer
        self._in_batcher = 0  # requests between predict() and their answer
        self._draining = False
        self._smoothed: tuple[float, float] | None = None  # (images, seconds) per batch, smoothed
        self._lag = 0.0  # seconds from a model call's end to the worker resuming, smoothed
        self._last_end = 0.0
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("the batcher is already running")
        self._arrived = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    def drain(self) -> None:
        """From now on refuse new requests (Overloaded) and run what waits without waiting for more."""
        self._draining = True
        if self._arrived is not None:
            self._arrived.set()

    async def stop(self) -> None:
        """Stop the worker; requests still waiting fail with RuntimeError."""
        if self._worker is None:
            return
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        while self._pending:
            request = self._pending.popleft()
            if not request.future.done():
                request.future.set_exception(RuntimeError("the server is shutting down"))
        self.stats.queued_images = 0
        assert self._executor is not None
        self._executor.shutdown(wait=True)

    def estimated_wait(self) -> float | None:
        """Seconds a request arriving now would wait for its answer (None until a batch has run)."""
        if self._smoothed is None:
            return None
        images, seconds = self._smoothed
        unparsed = max(0, self._admitted - self._in_batcher)  # admitted, not yet at predict(): one image each
        work = self.stats.queued_images + self._running_images + unparsed + 1
        return work * seconds / images + self._lag

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Admit one request (raising Overloaded at once if it would wait past the budget) while it is parsed and answered."""
        if self._draining:
            raise self._refuse(Overloaded("the server is shutting down; retry on another replica or after it restarts"))
        wait = self.estimated_wait()
        if wait is not None and wait * 1000 > self.config.latency_budget_ms:
            retry_after = max(1, math.ceil(wait))
            raise self._refuse(Overloaded(
                f"server busy: the estimated wait is {wait * 1000:.0f} ms, over the latency budget of "
                f"{self.config.latency_budget_ms:g} ms; retry after {retry_after} s", retry_after))
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def predict(self, images: np.ndarray) -> np.ndarray:
        """The model's answer for `images` (N, ...), computed in a batch with whatever else is waiting."""
        if self._worker is None or self._arrived is None:
            raise RuntimeError("the batcher is not running; call start() first")
        if len(images) == 0:
            raise ValueError("a request needs at least one image")
        loop = asyncio.get_running_loop()
        request = _Request(images, loop.create_future(), loop.time(), self._clock())
        self._pending.append(request)
        self.stats.queued_images += len(images)
        self._in_batcher += 1
        try:
            self._arrived.set()
            return await request.future
        finally:
            self._in_batcher -= 1

    def _refuse(self, error: Overloaded) -> Overloaded:
        self.stats.refused += 1
        return error

    async def _run(self) -> None:
        assert self._arrived is not None and self._executor is not None
        loop = asyncio.get_running_loop()
        wait = self.config.max_wait_ms / 1000.0
        while True:
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            deadline = self._pending[0].arrived + wait
            while (not self._draining and self.stats.queued_images < self.config.max_batch_size
                   and (left := deadline - loop.time()) > 0):
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            batch = self._take_batch()
            images = batch[0].images if len(batch) == 1 else np.concatenate([request.images for request in batch])
            began = max(self._last_end, batch[0].measured_from)
            self._running_images = len(images)
            try:
                outputs, finished = await loop.run_in_executor(self._executor, self._timed_predict, images)
            except Exception as error:  # whatever the model raises belongs to this batch's requests; the worker goes on
                logger.exception("model call on a batch of %d images failed", len(images))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            finally:
                self._running_images = 0
            self._last_end = self._clock()
            self._lag += SMOOTHING * (self._last_end - finished - self._lag)
            self._count(batch, len(images), self._last_end - began)
            start = 0
            for request in batch:
                end = start + len(request.images)
                if not request.future.done():  # a client that went away cancels its future
                    request.future.set_result(outputs[start:end])
                start = end

    def _timed_predict(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        return self._predict(images), self._clock()

    def _take_batch(self) -> list[_Request]:
        """The oldest requests, up to max_batch_size images (always at least one request)."""
        batch = [self._pending.popleft()]
        size = len(batch[0].images)
        while self._pending and size + len(self._pending[0].images) <= self.config.max_batch_size:
            request = self._pending.popleft()
            batch.append(request)
            size += len(request.images)
        self.stats.queued_images -= size
        return batch

    def _count(self, batch: list[_Request], images: int, seconds: float) -> None:
        self.stats.requests += len(batch)
        self.stats.images += images
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, images)
        if self._smoothed is None:
            self._smoothed = (float(images), seconds)
        else:
            self._smoothed = tuple(old + SMOOTHING * (new - old) for old, new in zip(self._smoothed, (images, seconds)))
        self.stats.images_per_second = round(self._smoothed[0] / max(self._smoothed[1], 1e-9), 1)
