import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(scope="session")
def tiny_fp32():
    """The built-in tiny Qwen2-VL in float32 (exact comparisons need no bf16 rounding noise)."""
    from vlmq.models import load_model

    return load_model("tiny", dtype=torch.float32)


@pytest.fixture(scope="session")
def tiny_bf16():
    from vlmq.models import load_model

    return load_model("tiny", dtype=torch.bfloat16)


def random_image(seed: int, width: int, height: int) -> Image.Image:
    pixels = np.random.RandomState(seed).rand(height, width, 3) * 255
    return Image.fromarray(pixels.astype("uint8"))


@pytest.fixture(scope="session")
def images():
    return [random_image(0, 140, 112), random_image(1, 90, 56), random_image(2, 224, 224)]
