"""Weight clustering through tfmot: each kernel keeps only k distinct values (centroids).

    clustered = cluster_model(model, ClusteringConfig(number_of_clusters=16))
    clustered.fit(...)                   # centroids train; assignments follow the weights
    model = strip_clustering(clustered)  # plain layers whose kernels hold k values

The flatbuffer stays the same size (TFLite stores each weight), but it compresses: the gain
shows in gzip size. `QATConfig(preserve="clusters")` keeps the clusters through QAT to int8.
"""


import numpy as np
from tflite_lite import _keras  # noqa: F401,I001  (Keras 2 for tfmot, first)
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.clustering.keras.cluster_wrapper import (
    ClusterWeights,
)

from tflite_lite._keras import keras, require_tf_keras
from tflite_lite.compression.pruning import copy_model, kernel_values
from tflite_lite.errors import UserError

_clustering = tfmot.clustering.keras
# tfmot leaves depthwise kernels unclustered ("big unrecoverable accuracy loss").
_CLUSTERABLE = (keras.layers.Conv2D, keras.layers.Dense)


def _init(name):
    return getattr(_clustering.CentroidInitialization, name.upper())


def cluster_model(model, config):
    """Wraps the Conv2D and Dense layers of `model` for clustering.

    Raises:
      UserError: the model has no clusterable layer, or `per_layer` names a layer it lacks.
    """
    require_tf_keras(model, "clustering")
    config.validate()
    names = {layer.name for layer in model.layers if isinstance(layer, _CLUSTERABLE)}
    if not names:
        raise UserError(f"model {model.name!r} has no clusterable layer (Conv2D or Dense)")
    unknown = sorted(set(config.per_layer) - names)
    if unknown:
        raise UserError(f"per_layer names {unknown[0]!r}, which is not a clusterable layer of "
                        f"{model.name!r}")

    def wrap(layer):
        clusters = config.per_layer.get(layer.name, config.number_of_clusters)
        if layer.name not in names or clusters == 0:
            return layer
        return _clustering.cluster_weights(layer, number_of_clusters=clusters,
                                           cluster_centroids_init=_init(config.init),
                                           preserve_sparsity=config.preserve_sparsity)

    # On a copy: tfmot's wrappers share the layers they wrap, so `model` keeps its weights.
    with _clustering.cluster_scope():
        return keras.models.clone_model(copy_model(model), clone_function=wrap)


def is_clustered(model):
    return any(isinstance(layer, ClusterWeights) for layer in model.layers)


def strip_clustering(model):
    """Removes the clustering wrappers; the kernels keep their clustered values."""
    return _clustering.strip_clustering(model) if is_clustered(model) else model


def distinct_weights(model):
    """{layer name: number of distinct kernel values} for the clusterable layers."""
    counts = {}
    for layer in model.layers:
        kernel = kernel_values(layer)
        if kernel is not None and isinstance(getattr(layer, "layer", layer), _CLUSTERABLE):
            counts[layer.name] = int(np.unique(kernel).size)
    return counts
