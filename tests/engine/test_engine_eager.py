"""Eager engine vs Hugging Face's own forward and generate on the tiny model (CPU)."""

import pytest
import torch

from vlmq.engine import Engine, Prompt
from vlmq.engine.inputs import encode_prompts
from vlmq.errors import VlmqError


def hf_inputs(loaded, prompts):
    b = encode_prompts(loaded.processor, prompts, torch.device("cpu"))
    return b, b.hf_inputs()


@pytest.mark.parametrize("dtype_fixture, atol", [("tiny_fp32", 1e-4), ("tiny_bf16", 0.05)])
def test_next_token_logits_match_hf_forward(request, images, dtype_fixture, atol):
    loaded = request.getfixturevalue(dtype_fixture)
    prompts = [Prompt("What is in the image?", images[0])]
    _, inputs = hf_inputs(loaded, prompts)
    with torch.no_grad():
        ref = loaded.model(**inputs).logits[:, -1].float()
    mine = Engine(loaded).next_token_logits(prompts)
    assert mine.dtype == torch.float32 and mine.shape == ref.shape
    torch.testing.assert_close(mine, ref, atol=atol, rtol=0)
    assert mine.argmax(-1).tolist() == ref.argmax(-1).tolist()


def test_greedy_tokens_match_hf_generate(tiny_fp32, images):
    prompts = [Prompt("Describe the picture.", images[2])]
    b, inputs = hf_inputs(tiny_fp32, prompts)
    loaded_model = tiny_fp32.model
    loaded_model.model.rope_deltas = None  # HF caches M-RoPE deltas between calls
    with torch.no_grad():
        ref = loaded_model.generate(**inputs, max_new_tokens=12, do_sample=False)[0, b.input_ids.shape[1] :]
    gen = Engine(tiny_fp32).generate(prompts, 12)[0]
    eos = set(Engine(tiny_fp32).eos_ids)
    ref_ids = ref.tolist()
    cut = next((i + 1 for i, t in enumerate(ref_ids) if t in eos), len(ref_ids))
    assert gen.token_ids == ref_ids[:cut]
    assert gen.n_visual_tokens == int((b.input_ids == loaded_model.config.image_token_id).sum())
    assert gen.n_prompt_tokens == b.input_ids.shape[1]
    assert gen.text == tiny_fp32.processor.tokenizer.decode(gen.token_ids, skip_special_tokens=True)


@pytest.mark.parametrize("dtype_fixture", ["tiny_fp32", "tiny_bf16"])
def test_mixed_batch_equals_batch_of_one(request, images, dtype_fixture):
    loaded = request.getfixturevalue(dtype_fixture)
    prompts = [
        Prompt("What is in the image?", images[0]),
        Prompt("Hi", None),
        Prompt("Describe this picture in detail, please.", images[1]),
    ]
    engine = Engine(loaded, max_batch_size=4)
    batched = engine.generate(prompts, 8, ignore_eos=True)
    assert len({g.n_prompt_tokens for g in batched}) == 3  # really mixed lengths (left padding used)
    for prompt, gen in zip(prompts, batched):
        single = engine.generate([prompt], 8, ignore_eos=True)[0]
        assert gen.token_ids == single.token_ids
        assert gen.n_visual_tokens == single.n_visual_tokens


def test_more_prompts_than_max_batch_are_chunked(tiny_fp32, images):
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Hi", None), Prompt("Is it red?", images[1])]
    small = Engine(tiny_fp32, max_batch_size=2).generate(prompts, 4, ignore_eos=True)
    large = Engine(tiny_fp32, max_batch_size=3).generate(prompts, 4, ignore_eos=True)
    assert [g.token_ids for g in small] == [g.token_ids for g in large]


def test_ignore_eos_gives_fixed_length_and_timings(tiny_bf16, images):
    gens = Engine(tiny_bf16).generate([Prompt("What is it?", images[0])], 6, ignore_eos=True)
    t = gens[0].timings
    assert len(gens[0].token_ids) <= 6  # EOS (if any) truncates the returned ids, not the work done
    assert t["decode_steps"] == 5
    for key in ("vision_ms", "prefill_ms", "ttft_ms", "decode_ms_per_token", "total_ms"):
        assert t[key] > 0, key
    assert t["ttft_ms"] == pytest.approx(t["vision_ms"] + t["prefill_ms"])
    assert t["total_ms"] >= t["ttft_ms"]


def test_text_only_prompt_has_no_vision_time_cost(tiny_bf16):
    gen = Engine(tiny_bf16).generate([Prompt("Hello there", None)], 3)[0]
    assert gen.n_visual_tokens == 0 and gen.timings["vision_ms"] < gen.timings["prefill_ms"] + 50


@pytest.mark.parametrize(
    "kwargs, call",
    [
        ({}, lambda e: e.generate([], 4)),
        ({}, lambda e: e.generate([Prompt("hi")], 0)),
        ({}, lambda e: e.generate(["plain string"], 4)),
        ({"max_seq_len": 16}, lambda e: e.generate([Prompt("a long prompt " * 10)], 4)),
    ],
)
def test_bad_input_raises_vlmq_error(tiny_bf16, kwargs, call):
    with pytest.raises(VlmqError):
        call(Engine(tiny_bf16, **kwargs))


def test_compile_on_cpu_is_unsupported(tiny_bf16):
    from vlmq.errors import UnsupportedOnDevice

    with pytest.raises(UnsupportedOnDevice):
        Engine(tiny_bf16, compile=True)


def test_grouped_attention_equals_sdpa():
    from vlmq.engine.decoder import sdpa_attention
    from vlmq.engine.kernels import grouped_attention

    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 3, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    mask = torch.rand(2, 1, 3, 5) > 0.3
    mask[..., 0] = True
    torch.testing.assert_close(grouped_attention(q, k, v, mask), sdpa_attention(q, k, v, mask), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_additive_mask_is_sdpa_conversion_with_aligned_rows(dtype):
    from vlmq.engine.decoder import SDPA_MASK_ALIGN, additive_mask, attention_mask, sdpa_attention

    key_valid = torch.ones(2, 37, dtype=torch.bool)
    key_valid[0, :5] = False  # a left-padded row
    slots = torch.arange(37)
    mask = attention_mask(key_valid, slots, 37)
    add = additive_mask(mask, dtype)
    assert add.dtype == dtype and add.shape == mask.shape
    assert all(s % SDPA_MASK_ALIGN == 0 for s in add.stride()[:-1]) and add.stride(-1) == 1
    assert torch.equal(add == 0, mask) and bool(torch.isneginf(add[~mask]).all())
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, h, 37, 16, dtype=dtype) for h in (4, 2, 2))
    assert torch.equal(sdpa_attention(q, k, v, add), sdpa_attention(q, k, v, mask))


def test_qwen2_5_vl_family_matches_hf(tiny_fp32, images):
    """The same engine runs a Qwen2.5-VL model (windowed vision tower, same decoder layout)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from vlmq.models import LoadedModel
    from vlmq.models.processor import Qwen2_5_VLImageOnlyProcessor

    base = tiny_fp32.model.config
    text = base.get_text_config().to_dict()
    text.pop("model_type", None)
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=text["hidden_size"],
            window_size=56,
            fullatt_block_indexes=[1],
        ),
        image_token_id=base.image_token_id,
        video_token_id=base.video_token_id,
        vision_start_token_id=base.vision_start_token_id,
        vision_end_token_id=base.vision_end_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    p = tiny_fp32.processor
    processor = Qwen2_5_VLImageOnlyProcessor(p.image_processor, p.tokenizer, chat_template=p.chat_template)
    loaded = LoadedModel(model, processor, "tiny-qwen2.5", "qwen2_5_vl", "test", True)
    prompts = [Prompt("What is in the image?", images[0])]
    _, inputs = hf_inputs(loaded, prompts)
    with torch.no_grad():
        ref_logits = model(**inputs).logits[:, -1]
        model.model.rope_deltas = None
        ref = model.generate(**inputs, max_new_tokens=6, do_sample=False)[0, inputs["input_ids"].shape[1] :]
    engine = Engine(loaded)
    torch.testing.assert_close(engine.next_token_logits(prompts), ref_logits, atol=1e-4, rtol=0)
    gen = engine.generate(prompts, 6)[0]
    assert gen.token_ids == ref.tolist()[: len(gen.token_ids)] and len(gen.token_ids) >= 1


def test_mrope_ids_come_from_the_host_copy_of_the_batch(tiny_bf16, images):
    """The engine computes M-RoPE ids from the batch's CPU tensors (no device syncs while the vision tower
    runs); they equal HF's ids from the batch as moved, padding and two image sizes included."""
    from vlmq.engine.rope import prompt_position_ids, prompt_position_ids_on

    prompts = [Prompt("What is it?", images[0]), Prompt("Describe the picture in detail.", images[1])]
    b = encode_prompts(tiny_bf16.processor, prompts, torch.device("cpu"))
    assert b.host is not None and b.host.host is None
    assert torch.equal(b.host.input_ids, b.input_ids) and b.host.n_prompt_tokens == b.n_prompt_tokens
    ref = prompt_position_ids(tiny_bf16.model, b.input_ids, b.mm_token_type_ids, b.image_grid_thw, b.attention_mask)
    mine = prompt_position_ids_on(tiny_bf16.model, b.host, torch.device("cpu"))
    assert torch.equal(mine, ref)
    row = min(range(2), key=lambda r: b.n_prompt_tokens[r])
    pad = b.input_ids.shape[1] - b.n_prompt_tokens[row]
    assert pad > 0 and (mine[:, row, :pad] == 0).all()  # the shorter row is left-padded
