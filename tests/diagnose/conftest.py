import pytest


@pytest.fixture(scope="session")
def prompts():
    """Three shapes-VQA prompts (images) and one text-only prompt."""
    from vlmq.engine import Prompt
    from vlmq.tasks import TaskOptions, get_task

    samples = get_task("shapes-vqa").load(TaskOptions(limit=3))
    return [s.prompt for s in samples] + [Prompt("Describe a red circle next to a blue square.")]


@pytest.fixture
def tiny():
    from vlmq.models import load_model

    return load_model("tiny")


class Tee:
    """Observer that keeps copies of what the engine shows and forwards it to another observer."""

    def __init__(self, inner=None):
        self.inner, self.seen = inner, []

    def __call__(self, layer, k, v, token_type):
        self.seen.append((layer, k.detach().clone(), v.detach().clone(), token_type.clone()))
        if self.inner is not None:
            self.inner(layer, k, v, token_type)


@pytest.fixture
def tee():
    return Tee
