"""The dynamic batcher (serving/batching.py) on a recording stand-in for the model: which requests
share a model call, what each gets back, and what happens on failure, overload and stopping.
Nothing here depends on timing: shedding is checked on a clock that the stand-in model advances."""
from __future__ import annotations

import asyncio
import contextlib
import threading

import numpy as np
import pytest

from mnistflow.serving import batching


class Recorder:
    """A 'model' that answers each image with its first pixel, and records its batch sizes."""

    def __init__(self, fail_on: int | None = None):
        self.batches: list[int] = []
        self.fail_on = fail_on

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(len(images))
        if self.fail_on is not None and len(self.batches) == self.fail_on:
            raise RuntimeError("model exploded")
        return images[:, :1].copy()


def requests(*sizes: int, start: int = 0) -> list[np.ndarray]:
    """One array per request, of `size` images numbered from `start` (an image's number is its answer)."""
    out, number = [], start
    for size in sizes:
        out.append(np.arange(number, number + size, dtype=np.float32)[:, np.newaxis])
        number += size
    return out


async def serve(model, config, images: list[np.ndarray]) -> tuple[list, batching.BatchStats]:
    batcher = batching.Batcher(model, config)
    await batcher.start()
    try:
        answers = await asyncio.gather(*(batcher.predict(batch) for batch in images), return_exceptions=True)
    finally:
        await batcher.stop()
    return answers, batcher.stats


def test_batcher_gathers_concurrent_requests_into_batches_of_at_most_max_batch_size():
    model = Recorder()
    images = requests(1, 1, 1, 1, 1)
    answers, stats = asyncio.run(serve(model, batching.BatchingConfig(max_batch_size=4, max_wait_ms=1), images))
    assert model.batches == [4, 1]
    assert [answer.tolist() for answer in answers] == [[[0.0]], [[1.0]], [[2.0]], [[3.0]], [[4.0]]]
    assert {key: value for key, value in stats.as_dict().items() if key != "images_per_second"} == {
        "requests": 5, "images": 5, "batches": 2, "largest_batch": 4, "refused": 0, "queued_images": 0}


def test_batcher_never_splits_a_request_and_runs_one_larger_than_the_batch_alone():
    model = Recorder()
    images = requests(2, 6, 1, 3)
    answers, stats = asyncio.run(serve(model, batching.BatchingConfig(max_batch_size=4, max_wait_ms=1), images))
    assert model.batches == [2, 6, 4]
    for request, answer in zip(images, answers):
        np.testing.assert_array_equal(answer, request)
    assert stats.largest_batch == 6 and stats.requests == 4


def test_batcher_fails_only_the_batch_whose_model_call_failed():
    model = Recorder(fail_on=1)
    answers, stats = asyncio.run(serve(model, batching.BatchingConfig(max_batch_size=2, max_wait_ms=1), requests(1, 1, 1)))
    assert [str(answer) for answer in answers[:2]] == ["model exploded", "model exploded"]
    assert answers[2].tolist() == [[2.0]]
    assert (stats.requests, stats.images, stats.batches, stats.largest_batch) == (1, 1, 1, 1)


class Gate:
    """A 'model' whose calls wait until the test opens the gate (in another thread), so requests can queue behind it."""

    def __init__(self):
        self.batches: list[int] = []
        self.open = threading.Event()
        self.entered = threading.Event()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(len(images))
        self.entered.set()
        assert self.open.wait(30), "the test never opened the gate"
        return images[:, :1].copy()


async def until(predicate) -> None:
    """Let the event loop run until predicate() holds (bounded: the batcher and a thread must get there)."""
    for _ in range(100_000):
        if predicate():
            return
        await asyncio.sleep(0)  # yield to the loop, no timing
    raise AssertionError("never happened")


def test_batcher_runs_a_batch_as_soon_as_the_model_is_free_without_waiting_to_fill_it():
    async def scenario():
        model = Gate()
        batcher = batching.Batcher(model, batching.BatchingConfig(max_batch_size=64))
        await batcher.start()
        try:
            first = asyncio.ensure_future(batcher.predict(requests(1)[0]))
            await asyncio.to_thread(model.entered.wait, 30)  # the model is busy with the first request
            queued = [asyncio.ensure_future(batcher.predict(batch)) for batch in requests(1, 2, start=1)]
            await until(lambda: batcher.stats.queued_images == 3)
            model.open.set()
            answers = [await first] + [await request for request in queued]
            lone = await batcher.predict(requests(1, start=9)[0])  # alone, with 63 places left in its batch: runs at once
        finally:
            await batcher.stop()
        return model.batches, answers, lone

    assert batching.BatchingConfig().max_wait_ms == 0  # the default: no batch waits for company
    batches, answers, lone = asyncio.run(scenario())
    assert batches == [1, 3, 1]  # the two that queued behind the first shared the next call
    assert [answer.tolist() for answer in answers] == [[[0.0]], [[1.0]], [[2.0], [3.0]]] and lone.tolist() == [[9.0]]


class Clock:
    """Seconds that pass only when the stand-in model runs: each call takes `per_image` seconds per image."""

    def __init__(self, per_image: float):
        self.now, self.per_image = 0.0, per_image

    def __call__(self) -> float:
        return self.now

    def model(self, images: np.ndarray) -> np.ndarray:
        self.now += self.per_image * len(images)
        return images[:, :1].copy()


def test_batcher_refuses_at_once_a_request_whose_estimated_wait_is_over_the_latency_budget():
    async def scenario():
        clock = Clock(per_image=0.1)  # 10 images/s
        batcher = batching.Batcher(clock.model, batching.BatchingConfig(latency_budget_ms=250), clock=clock)
        await batcher.start()
        try:
            assert batcher.estimated_wait() is None  # nothing measured yet: nothing is refused
            await batcher.predict(requests(1)[0])
            outcomes = []
            with contextlib.ExitStack() as admitted:
                for _ in range(4):  # each admitted request counts as one image until it is parsed
                    try:
                        outcomes.append(round(batcher.estimated_wait(), 3))
                        admitted.enter_context(batcher.admitted())
                    except batching.Overloaded as error:
                        outcomes[-1] = (str(error), error.retry_after)
        finally:
            await batcher.stop()
        return outcomes, batcher.stats

    outcomes, stats = asyncio.run(scenario())
    assert outcomes == [0.1, 0.2, ("server busy: the estimated wait is 300 ms, over the latency budget of 250 ms; retry after 1 s", 1),
                        ("server busy: the estimated wait is 300 ms, over the latency budget of 250 ms; retry after 1 s", 1)]
    assert (stats.refused, stats.images_per_second) == (2, 10.0)


def test_batcher_draining_runs_what_waits_at_once_and_refuses_new_requests():
    async def scenario():
        model = Recorder()
        batcher = batching.Batcher(model, batching.BatchingConfig(max_batch_size=64, max_wait_ms=60_000))
        await batcher.start()
        try:
            waiting = [asyncio.ensure_future(batcher.predict(batch)) for batch in requests(1, 1)]
            await until(lambda: batcher.stats.queued_images == 2)
            batcher.drain()  # without it the batch would wait a minute for more images
            answers = await asyncio.gather(*waiting)
            with pytest.raises(batching.Overloaded, match=r"^the server is shutting down; retry"):
                with batcher.admitted():
                    pass
        finally:
            await batcher.stop()
        return model.batches, answers

    batches, answers = asyncio.run(scenario())
    assert batches == [2] and [answer.tolist() for answer in answers] == [[[0.0]], [[1.0]]]


def test_batcher_must_be_started_before_use():
    batcher = batching.Batcher(Recorder())
    with pytest.raises(RuntimeError, match=r"the batcher is not running; call start\(\) first"):
        asyncio.run(batcher.predict(np.zeros((1, 1), np.float32)))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_batch_size": 0}, r"max_batch_size must be a positive integer; got 0"),
        ({"max_batch_size": 2.5}, r"max_batch_size must be a positive integer; got 2.5"),
        ({"max_wait_ms": -1}, r"max_wait_ms must be a number of milliseconds from 0 to 60000; got -1"),
        ({"max_wait_ms": True}, r"max_wait_ms must be a number of milliseconds from 0 to 60000; got True"),
        ({"latency_budget_ms": 0}, r"latency_budget_ms must be a number of milliseconds from 1 to 600000; got 0"),
        ({"latency_budget_ms": "fast"}, r"latency_budget_ms must be a number of milliseconds from 1 to 600000; got 'fast'"),
    ],
)
def test_batching_config_names_the_bad_setting(settings, message):
    with pytest.raises(ValueError, match=message):
        batching.BatchingConfig(**settings)
