"""Failure-mode diagnosis: why a recipe fails, measured.

- probes: K/V absmax and percentiles per layer, head and token type (visual / text / generated);
  per-channel absmax of linear inputs (outlier channels).
- saturation: FP8 KV saturated / underflowed fractions and SQNR under a recipe's own scales.
- sensitivity: KL vs BF16 with one layer (or linear type) quantized or kept BF16; a ``+keep=`` proposal.
- ablations: run each recipe and itself minus one switch (the paired deltas: ``vlmq.pipeline``).
- findings: threshold rules over all of it; ``run_diagnosis`` writes tables, heatmaps and section.md.
"""

from .ablations import ablation_recipes, run_ablations
from .findings import kv_findings, outlier_findings, remedy_findings, sensitivity_findings, significant_losses
from .memory import kv_cache_bytes, kv_memory_rows
from .probes import TOKEN_TYPES, ActivationProbe, KVRangeProbe
from .run import run_diagnosis
from .saturation import KVSaturationProbe, kv_scale_tables
from .sensitivity import SensitivityProbe, kl_divergence, propose_mixed_recipe

__all__ = [
    "ActivationProbe",
    "KVRangeProbe",
    "KVSaturationProbe",
    "SensitivityProbe",
    "TOKEN_TYPES",
    "ablation_recipes",
    "kl_divergence",
    "kv_cache_bytes",
    "kv_findings",
    "kv_memory_rows",
    "kv_scale_tables",
    "outlier_findings",
    "propose_mixed_recipe",
    "remedy_findings",
    "run_ablations",
    "run_diagnosis",
    "sensitivity_findings",
    "significant_losses",
]
