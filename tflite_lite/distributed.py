"""Training on several devices or machines with `tf.distribute`.

    strategy = make_strategy("multi_worker")   # reads TF_CONFIG
    with strategy.scope():
        model = create_model(...)
        model.compile(...)
    model.fit(shard_per_worker(data.train), ...)

"mirrored" uses every local GPU (one replica on a CPU-only machine); "multi_worker" is
`MultiWorkerMirroredStrategy`: each machine runs the same command with its own TF_CONFIG,
gradients are all-reduced every step, so every worker ends with the same weights. The batch
size stays global; each worker reads its own shard of every epoch.
"""

import dataclasses
import json
import os


from tflite_lite._keras import keras, tf
from tflite_lite.errors import UserError
from tflite_lite.training.config import STRATEGIES



@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's place in the cluster: `index` of `count` workers; index 0 is the chief."""

    index: int = 0
    count: int = 1

    @property
    def is_chief(self):
        return self.index == 0


def cluster_from_env():
    """The `Worker` TF_CONFIG describes; raises `UserError` when it is missing or malformed."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("strategy multi_worker needs TF_CONFIG, e.g. {\"cluster\": {\"worker\": "
                        "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", "
                        "\"index\": 0}}")
    try:
        spec = json.loads(raw)
        workers = spec["cluster"]["worker"]
        chiefs = spec["cluster"].get("chief", [])
        task_type, index = spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise UserError("TF_CONFIG must be JSON with cluster.worker (a list of host:port) and "
                        "task.type / task.index") from None
    if not isinstance(workers, list) or not workers or not all(
            isinstance(w, str) and ":" in w for w in workers + list(chiefs)):
        raise UserError(f"TF_CONFIG cluster.worker must list host:port addresses, got {workers!r}")
    members = {"chief": len(chiefs), "worker": len(workers)}
    if task_type not in members or not 0 <= index < members[task_type]:
        raise UserError(f"TF_CONFIG task {task_type}:{index} is not in the cluster {members}")
    position = index if task_type == "chief" else len(chiefs) + index
    return Worker(index=position, count=len(chiefs) + len(workers))


def make_strategy(name):
    """The `tf.distribute` strategy called `name` and this process's `Worker`.

    Create it before any other TensorFlow work in the process (a multi-worker strategy
    configures the runtime's collective ops). None returns the default strategy.
    """
    if name is None:
        return tf.distribute.get_strategy(), Worker()
    if name not in STRATEGIES:
        raise UserError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), Worker()
    worker = cluster_from_env()
    try:
        communication = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=communication)
    except (RuntimeError, ValueError, tf.errors.OpError) as error:
        raise UserError(f"cannot join the TF_CONFIG cluster: "
                        f"{str(error).strip().splitlines()[0]}") from None
    return strategy, worker


def shard_per_worker(dataset):
    """`dataset` (batched with the global batch size) split between the workers element by
    element: every worker reads the same shuffled order and keeps its own share."""
    if dataset is None:
        return None
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class SyncWorkerState(keras.callbacks.Callback):
    """Makes the state layers assign themselves the same on every worker after each epoch.

    The strategy all-reduces gradients, so trainable weights agree; tfmot's quantization ranges
    are assigned from each worker's own batches and would drift apart. This callback gives every
    worker the union of the ranges (the smallest `*min`, the largest `*max`; the mean of any
    other such float variable). Batch-norm statistics are synchronized by Keras already.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self._sync = None

    def _unsynchronized(self):
        return [v for v in self.model.non_trainable_weights
                if v.dtype.is_floating and v.aggregation == tf.VariableAggregation.NONE]

    def on_train_begin(self, logs=None):
        variables = self._unsynchronized()
        if not variables:
            return
        reducers = [tf.reduce_min if v.name.split("/")[-1].split(":")[0].endswith("min")
                    else tf.reduce_max if v.name.split("/")[-1].split(":")[0].endswith("max")
                    else tf.reduce_mean for v in variables]

        def per_replica():
            context = tf.distribute.get_replica_context()
            return [reduce(context.all_gather(v.read_value()[None], axis=0), axis=0)
                    for v, reduce in zip(variables, reducers)]

        @tf.function
        def sync():
            results = self.strategy.run(per_replica)
            for variable, result in zip(variables, results):
                variable.assign(self.strategy.experimental_local_results(result)[0])

        self._sync = sync

    def on_epoch_end(self, epoch, logs=None):
        if self._sync is not None:
            self._sync()
