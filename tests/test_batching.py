"""The dynamic batcher (serving/batching.py) on a recording stand-in for the model: which requests
share a model call, what each gets back, and what happens on failure and overload."""
from __future__ import annotations

import asyncio

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
    assert stats.as_dict() == {"requests": 5, "images": 5, "batches": 2, "largest_batch": 4}


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
    assert stats.as_dict() == {"requests": 1, "images": 1, "batches": 1, "largest_batch": 1}


def test_batcher_refuses_a_request_that_would_overfill_the_queue():
    model = Recorder()
    config = batching.BatchingConfig(max_batch_size=2, max_wait_ms=1, max_queued_images=3)
    answers, _ = asyncio.run(serve(model, config, requests(2, 1, 1)))
    assert isinstance(answers[2], batching.Overloaded)
    assert str(answers[2]) == "server busy: 3 images already waiting; retry shortly"
    assert [answer.tolist() for answer in answers[:2]] == [[[0.0], [1.0]], [[2.0]]]


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
        ({"max_batch_size": 8, "max_queued_images": 4}, r"max_queued_images must be an integer >= max_batch_size \(8\); got 4"),
    ],
)
def test_batching_config_names_the_bad_setting(settings, message):
    with pytest.raises(ValueError, match=message):
        batching.BatchingConfig(**settings)
