"""The vision tower's forward: merged visual tokens for a batch of images (HF's own modules)."""

from __future__ import annotations

import torch


def image_features(model, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
    """Merged visual tokens [N_visual, hidden] for all images of a batch, in order."""
    out = model.model.get_image_features(pixel_values, image_grid_thw=image_grid_thw)
    feats = getattr(out, "pooler_output", out)     # transformers 5.x returns an output object
    if isinstance(feats, (list, tuple)):
        feats = torch.cat(list(feats), dim=0)
    return feats
