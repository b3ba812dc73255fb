import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """One tiny model folder shared by the read-only tests of this package."""
    from vlmq.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", preset="tiny", seed=0)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point vlmq's model cache at a fresh folder so tests never touch ~/.cache."""
    monkeypatch.setenv("VLMQ_CACHE", str(tmp_path / "vlmq-cache"))
    return tmp_path / "vlmq-cache"
