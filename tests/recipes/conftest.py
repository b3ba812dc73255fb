import pytest
import torch


@pytest.fixture(scope="session")
def calib():
    """Four built-in multimodal prompts in three languages (enough to calibrate the tiny model)."""
    from vlmq.recipes import load_calibration

    return load_calibration("builtin", n=4, languages=("en", "de", "zh"), seed=0)


@pytest.fixture(scope="session")
def probe_prompts(calib):
    """Prompts the logits are compared on: three with images, one text-only."""
    from vlmq.engine import Prompt

    return [
        Prompt("What is in the picture?", calib.prompts[0].image),
        Prompt("Translate to German: the cat sleeps on the mat."),
        Prompt("How many shapes are there?", calib.prompts[1].image),
        Prompt("Describe this image in detail.", calib.prompts[2].image),
    ]


def next_token_logits(loaded, prompts) -> torch.Tensor:
    """Logits through vlmq's engine, which calls the model's own (possibly quantized) linears."""
    from vlmq.engine import Engine

    return Engine(loaded).next_token_logits(prompts)


@pytest.fixture(scope="session")
def logits_of():
    return next_token_logits


@pytest.fixture(scope="session")
def bf16_logits(probe_prompts):
    from vlmq.models import load_model

    return next_token_logits(load_model("tiny"), probe_prompts)


@pytest.fixture
def tiny():
    """A fresh BF16 tiny Qwen2-VL (hidden 64, MLP 128): recipes quantize in place."""
    from vlmq.models import load_model

    return load_model("tiny")
