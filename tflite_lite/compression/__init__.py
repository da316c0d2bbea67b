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

For tf_keras (Keras 2) models, QAT, pruning and clustering run on tfmot; for Keras 3 models,
`quantize_model`, `prune_model` and `strip_pruning` run this package's own Keras 3 versions
(`compression.keras3`: 8-bit QAT with batch norm folded, magnitude and m:n pruning), with the
same calls. Clustering, low-bit QAT and the other stages need tf_keras models.
"""

# First: TensorFlow loads quietly and with Keras 2 before tfmot imports it.
from tflite_lite import _lazy

# The configs and option names load without TensorFlow (`compression.config`); the rest loads
# tfmot and TensorFlow on first use.
__getattr__, __dir__, __all__ = _lazy.attach(__name__, {
    "config": ["CRITERIA", "INITIALIZATIONS", "PRESERVE", "PTQ_STEPS", "SCHEDULES",
               "WEIGHT_QUANTIZERS", "parse_ptq_steps",
               "ChannelPruningConfig", "ClusteringConfig", "DistillationConfig", "LowRankConfig",
               "PruningConfig", "QATConfig", "effective_bits"],
    "low_bit": ["LowBitWeightQuantizer", "LowBitWeightsQuantizeConfig"],
    "qat": ["check_quantizable", "deploy_qat_model", "is_quantized", "load_model",
            "quantize_model", "quantize_scope", "with_default_scheme"],
    "pruning": ["is_pruned", "m_by_n_fraction", "prunable_layers", "prune_model",
                "pruning_callbacks", "strip_pruning", "weight_sparsity"],
    "channel_pruning": ["free_channel_groups", "prune_channels"],
    "clustering": ["cluster_model", "distinct_weights", "is_clustered", "strip_clustering"],
    "low_rank": ["factorize", "plan_factorization"],
    "distillation": ["DistillationSchedule", "Distiller", "check_compatible", "distillation_loss",
                     "logits_and_probabilities", "teacher_logits_fn"],
}, submodules=("ptq", "keras3"))
