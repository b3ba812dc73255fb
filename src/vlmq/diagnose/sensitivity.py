"""Per-layer sensitivity: quantize one decoder layer (or one linear type) at a time, or keep one in
BF16, and measure the KL divergence of next-token distributions against BF16; rank; propose a
mixed-precision recipe (``+keep=``) from the ranking and measure it the same way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch

from vlmq.engine import Engine
from vlmq.metrics.fidelity import full_kl
from vlmq.recipes import apply_recipe, parse_recipe, weight_recipe_name
from vlmq.recipes.registry import LINEAR_TYPES, keep_option


def model_copy(loaded):
    """A LoadedModel sharing the processor with its own copy of the weights (recipes quantize in place)."""
    clone = copy.copy(loaded)
    clone.model = copy.deepcopy(loaded.model)
    return clone


def kl_divergence(ref_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(P_ref ‖ P) per row, in nats, of next-token distributions given as logits [B, vocab]."""
    return full_kl(torch.log_softmax(ref_logits.float(), dim=-1), torch.log_softmax(logits.float(), dim=-1)).float()


@dataclass
class SensitivityProbe:
    """Measures KL against BF16 for variants of one weight recipe on a fixed prompt set."""

    loaded: object  # the BF16 LoadedModel (never modified: variants work on copies)
    prompts: list
    calibration: Callable | None = None  # RecipeSpec -> its CalibrationSet (recipes that need one)
    _calib_sets: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.num_layers = self.loaded.model.config.get_text_config().num_hidden_layers
        self.ref_logits = self._logits(self.loaded)

    def _logits(self, loaded) -> torch.Tensor:
        return Engine(loaded).next_token_logits(self.prompts)

    def _calibration_of(self, spec):
        """The recipe's calibration set (built once per language set), or None if it needs none."""
        if not spec.recipe.needs_calibration or self.calibration is None:
            return None
        key = spec.calib_languages
        if key not in self._calib_sets:
            self._calib_sets[key] = self.calibration(spec)
        return self._calib_sets[key]

    def kl(self, recipe_name: str) -> float:
        """Mean KL over the prompts of ``recipe_name`` (applied to a copy of the BF16 model)."""
        loaded = model_copy(self.loaded)
        spec = parse_recipe(recipe_name)
        apply_recipe(loaded, spec, self._calibration_of(spec))
        return float(kl_divergence(self.ref_logits, self._logits(loaded)).mean())

    def variants(self, weight_recipe: str) -> list[dict]:
        """One row per variant: mode quantize_only (one layer / one type) or keep_bf16 (all but one layer)."""
        layers = range(self.num_layers)
        rows = [{"mode": "full", "layer": "", "layer_type": "all", "name": weight_recipe}]
        for i in layers:
            others = [j for j in layers if j != i]
            only = f"{weight_recipe}+{keep_option(others)}" if others else weight_recipe
            rows.append({"mode": "quantize_only", "layer": i, "layer_type": "all", "name": only})
            rows.append(
                {"mode": "keep_bf16", "layer": i, "layer_type": "all", "name": f"{weight_recipe}+{keep_option([i])}"}
            )
        for kind in LINEAR_TYPES:
            others = [t for t in LINEAR_TYPES if t != kind]
            rows.append(
                {
                    "mode": "quantize_only",
                    "layer": "",
                    "layer_type": kind,
                    "name": f"{weight_recipe}+{keep_option([], others)}",
                }
            )
        return rows

    def measure(self, recipe: str) -> list[dict]:
        """``sensitivity.csv`` rows of one recipe: kl_mean per variant and its rank within its mode/scope."""
        weight_recipe = weight_recipe_name(recipe)
        rows = [{"recipe": recipe, "variant": v.pop("name"), **v} for v in self.variants(weight_recipe)]
        for row in rows:
            row["kl_mean"] = self.kl(row["variant"])
        return rank_rows(rows)


def rank_rows(rows: list[dict]) -> list[dict]:
    """Rank 1 = most sensitive, within each (mode, layer-or-type) group: the highest KL when only it is
    quantized; the lowest remaining KL when only it stays BF16 (keeping it removes the most error)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        scope = "layer" if row["layer"] != "" else "type"
        groups.setdefault((row["mode"], scope), []).append(row)
    for (mode, _), group in groups.items():
        ordered = sorted(group, key=lambda r: r["kl_mean"], reverse=mode != "keep_bf16")
        for rank, row in enumerate(ordered, start=1):
            row["rank"] = rank
    return rows


def propose_mixed_recipe(rows: list[dict], max_share: float = 0.25, mass: float = 0.5) -> dict | None:
    """Keep the fewest most-sensitive layers (by quantize-only KL) that hold ``mass`` of the summed KL,
    at most ``max_share`` of the layers (at least one). Returns {"name", "layers", "kl_share"} or None."""
    layer_rows = sorted(
        (r for r in rows if r["mode"] == "quantize_only" and r["layer"] != ""), key=lambda r: r["kl_mean"], reverse=True
    )
    total = sum(max(r["kl_mean"], 0.0) for r in layer_rows)
    if not layer_rows or total <= 0:
        return None
    limit = max(1, int(len(layer_rows) * max_share))
    chosen, share = [], 0.0
    for row in layer_rows[:limit]:
        chosen.append(row["layer"])
        share += max(row["kl_mean"], 0.0) / total
        if share >= mass:
            break
    weight_recipe = weight_recipe_name(layer_rows[0]["recipe"])
    return {
        "recipe": layer_rows[0]["recipe"],
        "name": f"{weight_recipe}+{keep_option(chosen)}",
        "layers": sorted(chosen),
        "kl_share": share,
    }
