"""Compression stage: everything that makes a trained Keras model smaller or cheaper to run.

- Quantization: `quantize_model` (tfmot QAT, 8-bit or low-bit weights), `QATConfig`,
  `load_model` (a `.keras` file, QAT-, pruning- or clustering-wrapped or not).
- Pruning: `prune_model` (magnitude or m:n sparsity on a schedule), `PruningConfig`;
  `prune_channels` (removes channels, so the network really shrinks), `ChannelPruningConfig`.
- Clustering: `cluster_model`, `ClusteringConfig`.
- Low rank: `factorize` (SVD of Dense / 1x1 Conv kernels), `LowRankConfig`.
- Distillation: `Distiller` (a Keras model that trains a student on a teacher's logits),
  `DistillationConfig`, `DistillationSchedule`.
- Post-training quantization steps: `ptq.prepare` (cross-layer equalization, bias
  correction), run by the int8 export (`export(..., ptq=...)`).

QAT, pruning and clustering run on tfmot, which needs tf_keras (Keras 2) models; the rest of
the project (export, evaluation, benchmarks) takes Keras 3 models too.
"""

# First: TensorFlow loads quietly and with Keras 2 before tfmot imports it.
from tflite_lite import _keras  # noqa: F401,I001

from tflite_lite.compression.low_bit import (
    WEIGHT_QUANTIZERS,
    LowBitWeightQuantizer,
    LowBitWeightsQuantizeConfig,
    effective_bits,
)
from tflite_lite.compression.qat import (
    PRESERVE,
    QATConfig,
    check_quantizable,
    deploy_qat_model,
    is_quantized,
    load_model,
    quantize_model,
    quantize_scope,
    with_default_scheme,
)
from tflite_lite.compression.pruning import (
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
from tflite_lite.compression.channel_pruning import (
    CRITERIA,
    ChannelPruningConfig,
    free_channel_groups,
    prune_channels,
)
from tflite_lite.compression.clustering import (
    INITIALIZATIONS,
    ClusteringConfig,
    cluster_model,
    distinct_weights,
    is_clustered,
    strip_clustering,
)
from tflite_lite.compression import ptq
from tflite_lite.compression.low_rank import LowRankConfig, factorize, plan_factorization
from tflite_lite.compression.distillation import (
    DistillationConfig,
    DistillationSchedule,
    Distiller,
    check_compatible,
    distillation_loss,
    logits_and_probabilities,
    teacher_logits_fn,
)
