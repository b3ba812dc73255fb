"""Model fingerprints: change what a model load reads and the fingerprint names the file; cheap for huge files."""

import json
import struct
import time

import pytest
import torch
from safetensors.torch import save_file

from vlmq.errors import VlmqError
from vlmq.models import TOY_MODEL_DIR, folder_fingerprint, model_fingerprint
from vlmq.models import fingerprint as fp


def write_model(folder, weight: torch.Tensor, config: dict | None = None):
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or {"model_type": "qwen2_vl", "hidden_size": 8}))
    (folder / "tokenizer.json").write_text('{"vocab": {"a": 0}}')
    save_file({"w": weight}, str(folder / "model.safetensors"))


def changed_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def test_a_folder_fingerprint_names_exactly_the_file_that_changed(tmp_path):
    write_model(tmp_path, torch.ones(4, 4))
    base = folder_fingerprint(tmp_path)
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= set(base)
    (tmp_path / "README.md").write_text("docs do not change the model")
    (tmp_path / ".cache").mkdir()
    assert folder_fingerprint(tmp_path) == base
    save_file({"w": torch.full((4, 4), 2.0)}, str(tmp_path / "model.safetensors"))  # same shapes, new values
    assert changed_keys(base, folder_fingerprint(tmp_path)) == ["model.safetensors"]
    write_model(tmp_path, torch.ones(4, 4), {"model_type": "qwen2_vl", "hidden_size": 16})
    assert changed_keys(base, folder_fingerprint(tmp_path)) == ["config.json"]


def test_large_files_are_fingerprinted_by_header_and_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "FULL_HASH_LIMIT", 1 << 16)
    write_model(tmp_path, torch.zeros(256, 256))  # 256 KiB of data: above the (patched) limit
    base = fp.file_fingerprint(tmp_path / "model.safetensors")
    save_file({"w": torch.zeros(256, 256, dtype=torch.float32)}, str(tmp_path / "model.safetensors"))
    assert fp.file_fingerprint(tmp_path / "model.safetensors") == base
    save_file({"w": torch.ones(256, 256)}, str(tmp_path / "model.safetensors"))  # retrained values
    assert fp.file_fingerprint(tmp_path / "model.safetensors") != base
    save_file({"v": torch.zeros(256, 256)}, str(tmp_path / "model.safetensors"))  # renamed tensor
    assert fp.file_fingerprint(tmp_path / "model.safetensors") != base


def test_a_15_gb_checkpoint_is_fingerprinted_in_well_under_a_second(tmp_path):
    header = json.dumps({"w": {"dtype": "BF16", "shape": [15 << 29], "data_offsets": [0, 15 << 30]}}).encode()
    path = tmp_path / "model-00001-of-00001.safetensors"
    with open(path, "wb") as fh:  # sparse: 15 GiB long, nothing on disk
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + (15 << 30))
    start = time.perf_counter()
    value = fp.file_fingerprint(path)
    assert time.perf_counter() - start < 1.0
    assert value.startswith(f"{path.stat().st_size}:")


def test_model_names_resolve_like_load_model():
    toy = model_fingerprint("toy")
    if (TOY_MODEL_DIR / "config.json").is_file():
        assert toy == {"source": "toy", **folder_fingerprint(TOY_MODEL_DIR)} and "model.safetensors" in toy
    assert model_fingerprint("tiny")["preset"] == "tiny" and model_fingerprint("tiny-mid")["preset"] == "mid"
    assert model_fingerprint("qwen2-vl-2b")["config"] != model_fingerprint("qwen2-vl-7b")["config"]
    assert model_fingerprint("qwen2-vl-2b") == model_fingerprint("qwen2-vl-2b")
    with pytest.raises(VlmqError, match="unknown tiny model"):
        model_fingerprint("tiny-huge")
    with pytest.raises(VlmqError, match="does not exist"):
        model_fingerprint("/no/such/model")
