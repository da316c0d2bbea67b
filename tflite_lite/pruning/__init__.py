"""Pruning and structure: magnitude and m:n sparsity, channel pruning, clustering, low rank."""

# First: TensorFlow loads quietly and with Keras 2 before tfmot imports it.
from tflite_lite import _keras  # noqa: F401,I001

from tflite_lite.pruning.channel import (
    CRITERIA,
    ChannelPruningConfig,
    free_channel_groups,
    prune_channels,
)
from tflite_lite.pruning.magnitude import (
    SCHEDULES,
    PruningConfig,
    is_pruned,
    m_by_n_fraction,
    prunable_layers,
    prune_model,
    pruning_callbacks,
    strip_pruning,
    weight_sparsity,
)
from tflite_lite.pruning.clustering import (
    INITIALIZATIONS,
    ClusteringConfig,
    cluster_model,
    distinct_weights,
    is_clustered,
    strip_clustering,
)
from tflite_lite.pruning.low_rank import LowRankConfig, factorize, plan_factorization
