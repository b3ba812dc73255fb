import numpy as np
import pytest
from PIL import Image


def random_image(seed: int, width: int, height: int) -> Image.Image:
    pixels = np.random.RandomState(seed).rand(height, width, 3) * 255
    return Image.fromarray(pixels.astype("uint8"))


@pytest.fixture(scope="session")
def images():
    return [random_image(0, 140, 112), random_image(1, 90, 56), random_image(2, 224, 224)]
