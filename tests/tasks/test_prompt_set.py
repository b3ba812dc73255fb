"""The label-free task's prompt sets: a JSONL, a folder of images, LLaVA-Bench; one-line errors naming file and line."""

import json

import numpy as np
import pytest
from PIL import Image

from vlmq.errors import VlmqError
from vlmq.tasks import TaskOptions, get_task
from vlmq.tasks.prompt_set import DEFAULT_PROMPT


def save_image(path, seed=0, size=(40, 30)):
    pixels = (np.random.RandomState(seed).rand(size[1], size[0], 3) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    return path


def load(source, **kwargs):
    return get_task("fidelity").load(TaskOptions(prompts=str(source), **kwargs))


def write_jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_jsonl_with_relative_images_ids_and_text_only_lines(tmp_path):
    (tmp_path / "imgs").mkdir()
    save_image(tmp_path / "imgs" / "a.png", 0)
    save_image(tmp_path / "b.jpg", 1)
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            {"image": "imgs/a.png", "prompt": "What is this?"},
            "",
            {"image": "b.jpg", "prompt": "Count them.", "id": "mine"},
            {"prompt": "No image here."},
        ],
    )
    samples = load(path)
    assert [s.id for s in samples] == ["1", "mine", "4"]  # line numbers count blank lines
    assert samples[0].prompt.text == "What is this?" and samples[0].prompt.image.size == (40, 30)
    assert samples[2].prompt.image is None
    assert all(s.target is None and not s.failed for s in samples)
    assert [s.id for s in load(path, limit=2)] == ["1", "mine"]


def test_jsonl_lines_without_prompt_take_the_prompt_flag(tmp_path):
    save_image(tmp_path / "a.png")
    path = write_jsonl(tmp_path / "set.jsonl", [{"image": "a.png"}])
    assert load(path, prompt="Say it.")[0].prompt.text == "Say it."
    with pytest.raises(VlmqError, match=r"set\.jsonl:1: no \"prompt\""):
        load(path)


def test_folder_of_images_with_default_or_given_prompt(tmp_path):
    for i, name in enumerate(["b.png", "a.jpg", "c.bmp"]):
        save_image(tmp_path / name, i)
    (tmp_path / ".hidden").write_text("ignored")
    samples = load(tmp_path)
    assert [s.id for s in samples] == ["a.jpg", "b.png", "c.bmp"]
    assert {s.prompt.text for s in samples} == {DEFAULT_PROMPT}
    assert load(tmp_path, prompt="Any cats?")[0].prompt.text == "Any cats?"


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"image": "a.png", "prompt": "ok"}', "{not json"], r"set\.jsonl:2: not valid JSON"),
        (['["a list"]'], r"set\.jsonl:1: expected a JSON object"),
        (['{"image": "missing.png", "prompt": "x"}'], r"set\.jsonl:1: image .*missing\.png not found"),
        (['{"image": "notes.txt", "prompt": "x"}'], r"set\.jsonl:1: unreadable image.*notes\.txt"),
        (['{"image": 3, "prompt": "x"}'], r"set\.jsonl:1: \"image\" must be a path"),
        (["", "  "], r"set\.jsonl holds no prompt"),
        (['{"prompt": "a", "id": 1}', '{"prompt": "b", "id": 1}'], r"two samples with id '1'"),
    ],
)
def test_bad_jsonl_gets_one_line_naming_file_and_line(tmp_path, lines, message):
    save_image(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(VlmqError, match=message) as err:
        load(write_jsonl(tmp_path / "set.jsonl", lines))
    assert "\n" not in str(err.value)


def test_bad_folders_and_paths(tmp_path):
    with pytest.raises(VlmqError, match="holds no image"):
        load(tmp_path)
    save_image(tmp_path / "ok.png")
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(VlmqError, match=r"readme\.txt: unreadable image.*remove or replace readme\.txt"):
        load(tmp_path)
    with pytest.raises(VlmqError, match="no such file or folder"):
        load(tmp_path / "nope")
    with pytest.raises(VlmqError, match="needs --prompts"):
        get_task("fidelity").load(TaskOptions())


def test_llava_bench_is_a_ready_prompt_set(dataset_dir):
    samples = get_task("fidelity").load(TaskOptions(prompts="llava_bench", dataset_dir=str(dataset_dir), limit=6))
    assert len(samples) == 6 and all(s.target is None and s.prompt.image is not None for s in samples)
    assert {s.meta["category"] for s in samples} == {"conv", "detail", "complex"}


def test_label_free_task_scores_nothing_but_keeps_failures():
    task = get_task("fidelity")
    assert task.sharded and task.headline is None
    from vlmq.engine import Prompt
    from vlmq.tasks import Sample

    ok = Sample("1", Prompt("x"), None, {})
    broken = Sample("2", Prompt("x"), None, {"error": "unreadable image: bad"})
    opts = TaskOptions()
    assert task.score(ok, "anything", opts) == {"parsed": None, "score": None}
    assert task.score(broken, "", opts)["failed"] is True
