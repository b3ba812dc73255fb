import json

import pytest
import torch
from PIL import Image

from vlmq.engine import Prompt
from vlmq.errors import VlmqError
from vlmq.recipes import load_calibration
from vlmq.recipes.calibration import builtin_languages, model_inputs


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_builtin_set_is_multimodal_and_records_its_composition():
    calib = load_calibration("builtin", n=6, seq_len=256, languages=("en", "zh"), seed=3)
    assert len(calib.prompts) == 6 and all(p.image is not None for p in calib.prompts)
    assert calib.summary == {
        "source": "builtin",
        "n": 6,
        "languages": ["en", "zh"],
        "image_share": 1.0,
        "seq_len": 256,
        "text_only": False,
        "seed": 3,
    }
    assert [_has_cjk(p.text) for p in calib.prompts] == [False, True] * 3  # the language mix is real
    json.dumps(calib.summary)  # recorded with every result, so it must be JSON-able


def test_language_option_controls_the_corpus():
    english = load_calibration("builtin", n=8, languages=("en",))
    assert not any(_has_cjk(p.text) for p in english.prompts)
    every = load_calibration("builtin", n=len(builtin_languages()), languages=builtin_languages())
    assert any(_has_cjk(p.text) for p in every.prompts) and any("ü" in p.text or "é" in p.text for p in every.prompts)


def test_text_only_drops_images_and_seed_changes_the_sample():
    text_only = load_calibration("builtin", n=4, text_only=True)
    assert text_only.summary["image_share"] == 0.0 and all(p.image is None for p in text_only.prompts)
    a, b = load_calibration("builtin", n=4, seed=0), load_calibration("builtin", n=4, seed=1)
    assert [p.text for p in a.prompts] != [p.text for p in b.prompts] or any(
        list(x.image.getdata()) != list(y.image.getdata()) for x, y in zip(a.prompts, b.prompts)
    )


def test_local_folder_of_images_and_text(tmp_path):
    for i in range(2):
        Image.new("RGB", (64, 48), (i * 100, 50, 50)).save(tmp_path / f"img{i}.png")
    (tmp_path / "texts.txt").write_text("Bonjour le monde\nHello world\n\nHola mundo\n", encoding="utf-8")
    calib = load_calibration(str(tmp_path), n=10)
    assert calib.summary["n"] == 5 and calib.summary["image_share"] == pytest.approx(0.4)
    assert calib.summary["source"] == str(tmp_path) and calib.summary["languages"] is None
    assert load_calibration(str(tmp_path), n=3).summary["n"] == 3


def test_text_file_source(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("one\ntwo\nthree\n", encoding="utf-8")
    calib = load_calibration(str(path), n=2)
    assert len(calib.prompts) == 2 and {p.text for p in calib.prompts} <= {"one", "two", "three"}


def test_imagefolder_with_metadata_and_language_column(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    data.mkdir()
    rows = [("a.png", "What colour?", "en"), ("b.png", "Welche Farbe?", "de"), ("c.png", "Quelle couleur ?", "fr")]
    with open(data / "metadata.jsonl", "w", encoding="utf-8") as f:
        for name, question, lang in rows:
            Image.new("RGB", (32, 32), (10, 200, 10)).save(data / name)
            f.write(json.dumps({"file_name": name, "question": question, "language": lang}) + "\n")
    calib = load_calibration(str(data), n=8, languages=("en", "de"))
    assert {p.text for p in calib.prompts} == {"What colour?", "Welche Farbe?"}  # "fr" filtered out
    assert calib.summary["image_share"] == 1.0 and calib.summary["languages"] == ["en", "de"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n > 0"),
        ({"languages": ("xx",)}, "no built-in calibration text for languages ['xx']"),
        ({"languages": ()}, "no built-in calibration text"),
    ],
)
def test_bad_builtin_requests(kwargs, message):
    with pytest.raises(VlmqError, match=message.replace("[", "\\[").replace("]", "\\]")):
        load_calibration("builtin", **kwargs)


def test_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(VlmqError, match="is empty"):
        load_calibration(str(tmp_path))
    with pytest.raises(VlmqError, match="cannot load calibration dataset 'nobody/no-such-set'"):
        load_calibration("nobody/no-such-set")


def test_model_inputs_cut_text_but_never_image_tokens():
    from vlmq.models import load_model

    processor = load_model("tiny").processor
    long_text = Prompt(" ".join(["word"] * 200))
    assert model_inputs(processor, long_text, 16, "cpu")["input_ids"].shape == (1, 16)
    image = Prompt("What is this? " * 50, Image.new("RGB", (112, 112), (0, 0, 255)))
    inputs = model_inputs(processor, image, 8, "cpu")
    n_visual = int((inputs["mm_token_type_ids"] == 1).sum())
    assert n_visual == int(inputs["image_grid_thw"].prod()) // 4 > 0  # every visual token kept
    assert 8 < inputs["input_ids"].shape[1] < model_inputs(processor, image, 4096, "cpu")["input_ids"].shape[1]
    assert torch.equal(inputs["attention_mask"], torch.ones_like(inputs["input_ids"]))
