"""Multi-device training with TensorFlow's own strategies (`train.distribution`).

    strategy = distribute.make_strategy(params.distribution, tf_config=os.environ.get("TF_CONFIG"))
    with strategy.scope():
        model = build_and_compile(...)       # variables are created per replica
        model.fit(dataset_batched_by_the_GLOBAL_batch_size, ...)
    if distribute.writes_outputs(strategy):  # only the chief saves the model, metrics, plots
        model.save(path)

- `none`: TensorFlow's default strategy (one device; its scope does nothing).
- `mirrored`: `tf.distribute.MirroredStrategy`, one replica per visible GPU (or the CPU if none).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, one process per host, the cluster
  described by `TF_CONFIG` (JSON: `{"cluster": {"worker": ["host:port", ...]}, "task": {"type":
  "worker", "index": 0}}`). The stage passes the variable's text in: library code reads no env vars.

Keras splits every batch of the input across the replicas (and, for `multi_worker`, shards the
input by worker), so the batch size a trainer batches its data with is the GLOBAL one: the same
`train.batch_size` gives the same gradient steps on one device or many.

Create the strategy first thing in the process: `multi_worker` configures TensorFlow's runtime
(collective ops over gRPC), which is only possible before TensorFlow has run anything. TensorFlow
is imported on first use, so `parse_tf_config` can check TF_CONFIG before paying for it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger(__name__)

Distribution = Literal["none", "mirrored", "multi_worker"]  # the type of train.distribution
KINDS: tuple[str, ...] = ("none", "mirrored", "multi_worker")
TASK_TYPES = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The parts of TF_CONFIG a multi-worker run needs: every task's address, and which one we are."""

    tasks: dict[str, tuple[str, ...]]  # task type ("chief", "worker") -> "host:port" addresses
    task_type: str
    task_index: int


def parse_tf_config(text: str | None) -> Cluster:
    """Check the TF_CONFIG text (JSON) and return the cluster it describes."""
    where = "the TF_CONFIG environment variable (docs/scaling.md)"
    if text is None or not text.strip():
        raise ValueError(f"train.distribution is 'multi_worker' but TF_CONFIG is not set; set {where}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); fix {where}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ValueError(f'TF_CONFIG must be a JSON object with a "cluster" mapping; got {text!r}; fix {where}')
    tasks: dict[str, tuple[str, ...]] = {}
    for task_type, addresses in config["cluster"].items():
        if task_type not in TASK_TYPES:
            raise ValueError(f"TF_CONFIG cluster has task type {task_type!r}; expected only chief, worker; fix {where}")
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise ValueError(
                f'TF_CONFIG cluster.{task_type} must be a non-empty list of "host:port"; got {addresses!r}'
            )
        tasks[task_type] = tuple(addresses)
    if len(tasks.get("chief", ())) > 1:
        raise ValueError(f"TF_CONFIG cluster.chief must list one address; got {list(tasks['chief'])!r}")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in tasks:
        raise ValueError(
            f'TF_CONFIG task.type must name one of the cluster\'s task types ({", ".join(tasks)}); '
            f"got {task!r}; fix {where}"
        )
    index = task.get("index")
    count = len(tasks[task["type"]])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise ValueError(f"TF_CONFIG task.index must be an integer in [0, {count - 1}]; got {index!r}; fix {where}")
    return Cluster(tasks=tasks, task_type=task["type"], task_index=index)


def make_strategy(
    kind: str, *, tf_config: str | None = None, devices: Sequence[str] | None = None
) -> tf.distribute.Strategy:
    """The strategy for `train.distribution`; `devices` (mirrored only) defaults to all visible GPUs."""
    if kind not in KINDS:
        raise ValueError(f"train.distribution must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    import tensorflow as tf

    if kind == "none":
        strategy = tf.distribute.get_strategy()
    elif kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    else:
        cluster = parse_tf_config(tf_config)
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({name: list(addresses) for name, addresses in cluster.tasks.items()}),
            task_type=cluster.task_type,
            task_id=cluster.task_index,
            rpc_layer="grpc",
        )
        strategy = _multi_worker_strategy(resolver)
    log.info("distribution %s: %d replica(s) in sync, writes outputs: %s",
             kind, replicas(strategy), writes_outputs(strategy))
    return strategy


def _multi_worker_strategy(resolver: Any) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3's `fit` passes it.

    Keras 3 (3.15) `fit` under two or more workers calls `strategy.reduce` in two ways TensorFlow's
    `reduce` rejects (keras-team/keras#20585, open):
    - before the first step, with the first (x, y) batch, a nest of per-replica values, only to
      build the model from its shapes and dtypes; `reduce` takes one value (a TODO in
      distribute_lib). A nest gets each value's local part: the right shapes and dtypes, no
      communication.
    - after each step, `reduce("MEAN", metric, axis=0)` on scalar metrics, which have no axis 0.
      A scalar is averaged across replicas (axis=None), which is what the call means.
    Every other call is TensorFlow's own.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):  # same contract as tf.distribute.Strategy.reduce
            if not (isinstance(value, tf.distribute.DistributedValues) or tf.is_tensor(value)):
                return tf.nest.map_structure(lambda one: self.experimental_local_results(one)[0], value)
            if axis is not None and all(one.shape.rank == 0 for one in self.experimental_local_results(value)):
                axis = None
            return super().reduce(reduce_op, value, axis)

    return MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def replicas(strategy: tf.distribute.Strategy) -> int:
    """How many replicas share each global batch."""
    return int(strategy.num_replicas_in_sync)


def writes_outputs(strategy: tf.distribute.Strategy) -> bool:
    """True in the one process that may save the model, metrics and plots (the chief).

    TensorFlow's own answer: the chief (task "chief", or worker 0 when there is none) under
    `multi_worker`; always True for `none` and `mirrored` (one process).
    """
    return bool(strategy.extended.should_checkpoint)


def worker_path(path: str | os.PathLike[str], strategy: tf.distribute.Strategy) -> str:
    """`path` for the chief; for any other worker a path of its own beside it (`x.worker-1.npz`).

    For files every worker keeps for itself (a resume checkpoint) when workers share a disk.
    """
    if writes_outputs(strategy):
        return str(path)
    resolver = strategy.cluster_resolver
    path = pathlib.Path(path)
    return str(path.with_name(f"{path.stem}.{resolver.task_type}-{resolver.task_id}{path.suffix}"))
