"""Dynamic batching: concurrent requests gathered into one model call, as TensorFlow Serving does it.

    batcher = batching.Batcher(classifier.predict, batching.BatchingConfig(max_batch_size=64, max_wait_ms=2))
    await batcher.start()
    probabilities = await batcher.predict(images)   # from any number of concurrent request handlers
    await batcher.stop()

A request waits in a queue. The worker takes the oldest one and runs a batch as soon as the queued
images fill `max_batch_size`, or when the oldest has waited `max_wait_ms` (TF Serving's
`max_batch_size` and `batch_timeout_micros`). While the model runs, new requests queue up, so
under load batches fill without waiting at all; a lone client pays at most `max_wait_ms`.
A request is never split: one with more images than `max_batch_size` runs as a batch of its own.
The model runs in one worker thread (onnxruntime releases the GIL), so the event loop keeps
reading and answering requests meanwhile. More than `max_queued_images` waiting makes `predict`
raise `Overloaded` at once, rather than letting the queue and every client's latency grow.

`stats` counts what was served (requests, images, batches, the largest batch): the server shows
them at `GET /v1/models/mnist`, and the tests check batching through them.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """The queue already holds `max_queued_images`; the caller should answer 503 and the client retry later."""


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int = 64  # images per model call: the model's per-image cost stops falling well before this
    max_wait_ms: float = 2.0  # what a lone request may wait for company; under load batches fill sooner
    max_queued_images: int = 4096  # beyond this, answer 503 at once (~64 full batches of waiting)

    def __post_init__(self) -> None:
        if isinstance(self.max_batch_size, bool) or not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be a positive integer; got {self.max_batch_size!r}")
        if isinstance(self.max_wait_ms, bool) or not isinstance(self.max_wait_ms, (int, float)) or not 0 <= self.max_wait_ms <= 60_000:
            raise ValueError(f"max_wait_ms must be a number of milliseconds from 0 to 60000; got {self.max_wait_ms!r}")
        if isinstance(self.max_queued_images, bool) or not isinstance(self.max_queued_images, int) or self.max_queued_images < self.max_batch_size:
            raise ValueError(f"max_queued_images must be an integer >= max_batch_size ({self.max_batch_size}); got {self.max_queued_images!r}")


@dataclasses.dataclass
class BatchStats:
    requests: int = 0
    images: int = 0
    batches: int = 0
    largest_batch: int = 0  # images

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Request:
    images: np.ndarray
    future: asyncio.Future[np.ndarray]
    arrived: float  # loop.time()


class Batcher:
    """Runs `predict(images (N, ...)) -> (N, ...)` on batches gathered from concurrent `await predict(...)` calls."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], config: BatchingConfig | None = None):
        self._predict = predict
        self.config = config or BatchingConfig()
        self.stats = BatchStats()
        self._pending: collections.deque[_Request] = collections.deque()
        self._queued_images = 0
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("the batcher is already running")
        self._arrived = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="batcher")

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
        self._queued_images = 0
        assert self._executor is not None
        self._executor.shutdown(wait=True)

    async def predict(self, images: np.ndarray) -> np.ndarray:
        """The model's answer for `images` (N, ...), computed in a batch with whatever else is waiting."""
        if self._worker is None or self._arrived is None:
            raise RuntimeError("the batcher is not running; call start() first")
        if len(images) == 0:
            raise ValueError("a request needs at least one image")
        if self._queued_images + len(images) > self.config.max_queued_images:
            raise Overloaded(f"server busy: {self._queued_images} images already waiting; retry shortly")
        loop = asyncio.get_running_loop()
        request = _Request(images, loop.create_future(), loop.time())
        self._pending.append(request)
        self._queued_images += len(images)
        self._arrived.set()
        return await request.future

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
            while self._queued_images < self.config.max_batch_size and (left := deadline - loop.time()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            batch = self._take_batch()
            images = batch[0].images if len(batch) == 1 else np.concatenate([request.images for request in batch])
            try:
                outputs = await loop.run_in_executor(self._executor, self._predict, images)
            except Exception as error:  # whatever the model raises belongs to this batch's requests; the worker goes on
                logger.exception("model call on a batch of %d images failed", len(images))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            self._count(batch, len(images))
            start = 0
            for request in batch:
                end = start + len(request.images)
                if not request.future.done():  # a client that went away cancels its future
                    request.future.set_result(outputs[start:end])
                start = end

    def _take_batch(self) -> list[_Request]:
        """The oldest requests, up to max_batch_size images (always at least one request)."""
        batch = [self._pending.popleft()]
        size = len(batch[0].images)
        while self._pending and size + len(self._pending[0].images) <= self.config.max_batch_size:
            request = self._pending.popleft()
            batch.append(request)
            size += len(request.images)
        self._queued_images -= size
        return batch

    def _count(self, batch: list[_Request], images: int) -> None:
        self.stats.requests += len(batch)
        self.stats.images += images
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, images)
