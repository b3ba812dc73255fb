"""Engine.teacher_forced_logprobs against a plain Hugging Face forward over prompt + continuation, and
against the engine's own greedy decoding (FP8 KV cache included) on the tiny model (CPU)."""

import pytest
import torch

from vlmq.engine import Engine, KVConfig, Prompt
from vlmq.engine.inputs import encode_prompts
from vlmq.errors import VlmqError


def hf_logprobs(loaded, prompt: Prompt, continuation: list[int]) -> torch.Tensor:
    """log-softmax of HF's forward over the prompt followed by continuation[:-1], at the scored positions."""
    b = encode_prompts(loaded.processor, [prompt], torch.device("cpu"))
    fed = torch.tensor([continuation[:-1]], dtype=b.input_ids.dtype)
    ids = torch.cat([b.input_ids, fed], dim=1)
    mm = torch.cat([b.mm_token_type_ids, torch.zeros_like(fed, dtype=b.mm_token_type_ids.dtype)], dim=1)
    loaded.model.model.rope_deltas = None  # HF caches M-RoPE deltas between calls
    with torch.no_grad():
        logits = loaded.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values=b.pixel_values,
            image_grid_thw=b.image_grid_thw,
            mm_token_type_ids=mm,
        ).logits
    return torch.log_softmax(logits[0, b.input_ids.shape[1] - 1 :].float(), dim=-1)


def test_matches_hf_forward_in_a_mixed_batch(tiny_fp32, images):
    prompts = [
        Prompt("What is in the image?", images[0]),
        Prompt("Hi", None),
        Prompt("Describe this picture in detail, please.", images[1]),
    ]
    continuations = [[11, 42, 7, 300, 5], [9], [100, 3, 3]]  # different lengths: right padding used
    mine = Engine(tiny_fp32, max_batch_size=3).teacher_forced_logprobs(prompts, continuations)
    for prompt, tokens, rows in zip(prompts, continuations, mine):
        assert rows.dtype == torch.float32 and rows.shape[0] == len(tokens)
        torch.testing.assert_close(rows, hf_logprobs(tiny_fp32, prompt, tokens), atol=1e-4, rtol=0)


def test_first_row_is_the_prefill_distribution(tiny_fp32, images):
    engine = Engine(tiny_fp32)
    prompt = Prompt("What is in the image?", images[2])
    rows = engine.teacher_forced_logprobs([prompt], [[1, 2, 3]])[0]
    torch.testing.assert_close(rows[0], torch.log_softmax(engine.next_token_logits([prompt])[0], -1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kv", [KVConfig(), KVConfig("fp8", "dynamic")], ids=["bf16_cache", "fp8_dynamic_cache"])
def test_reproduces_the_engines_own_greedy_decoding(tiny_fp32, images, kv):
    """Each generated token is the most likely one under teacher forcing: the one-pass path computes what
    the decode steps computed (same positions, token types and KV-cache format)."""
    engine = Engine(tiny_fp32, kv=kv, max_batch_size=2)
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Describe the picture.", images[1])]
    generations = engine.generate(prompts, 8, ignore_eos=True)
    tokens = [g.token_ids for g in generations]
    for rows, ids in zip(engine.teacher_forced_logprobs(prompts, tokens), tokens):
        chosen = rows.gather(-1, torch.tensor(ids)[:, None])[:, 0]
        assert (chosen >= rows.max(dim=-1).values - 1e-4).all()


def test_chunking_by_max_batch_size_gives_the_same_rows(tiny_fp32, images):
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Hi", None), Prompt("Is it red?", images[1])]
    continuations = [[5, 6], [7, 8, 9], [10]]
    small = Engine(tiny_fp32, max_batch_size=1).teacher_forced_logprobs(prompts, continuations)
    large = Engine(tiny_fp32, max_batch_size=3).teacher_forced_logprobs(prompts, continuations)
    for a, b in zip(small, large):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "kwargs, prompts, continuations",
    [
        ({}, [Prompt("hi")], []),
        ({}, [Prompt("hi")], [[]]),
        ({}, [Prompt("hi")], [[10**9]]),
        ({}, [Prompt("hi")], [["a"]]),
        ({"max_seq_len": 24}, [Prompt("hi")], [list(range(40))]),
    ],
)
def test_bad_input_raises_vlmq_error(tiny_bf16, kwargs, prompts, continuations):
    with pytest.raises(VlmqError):
        Engine(tiny_bf16, **kwargs).teacher_forced_logprobs(prompts, continuations)


@pytest.mark.gpu
def test_teacher_forcing_inside_a_compiled_engine_matches_eager_and_its_greedy_tokens():
    """On CUDA the run's engine is compiled (weights fused, CUDA graphs); teacher forcing takes the eager path
    of that same engine and must agree with a plain eager engine and with the compiled greedy tokens."""
    import numpy as np
    from PIL import Image

    from vlmq.models import load_model

    loaded = load_model("tiny", device="cuda", dtype=torch.bfloat16)
    pictures = [Image.fromarray((np.random.RandomState(i).rand(112, 140, 3) * 255).astype("uint8")) for i in range(2)]
    prompts = [Prompt("What is in the image?", pictures[0]), Prompt("Describe the picture.", pictures[1])]
    compiled = Engine(loaded, compile=True, max_batch_size=2)
    tokens = [g.token_ids for g in compiled.generate(prompts, 8, ignore_eos=True)]
    forced = compiled.teacher_forced_logprobs(prompts, tokens)
    eager = Engine(loaded, max_batch_size=2).teacher_forced_logprobs(prompts, tokens)
    for rows, reference, ids in zip(forced, eager, tokens):
        torch.testing.assert_close(rows, reference, atol=0.05, rtol=0)
        chosen = rows.gather(-1, torch.tensor(ids, device=rows.device)[:, None])[:, 0]
        assert (chosen >= rows.max(dim=-1).values - 0.05).all()
