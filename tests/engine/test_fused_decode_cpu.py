"""The fused decoder (``vlmq.engine.compiled.FusedRunner``) against the eager engine, on the CPU.

On a CPU every fused op runs its pure-torch reference, so these tests hold the *composition* of the fused
decode step -- packs (q/k/v concatenated, gate/up interleaved), norms in prologues, SiLU·mul and residual
epilogues, RoPE + cache write + attention in one op, the final norm in the lm_head's prologue -- and the
composed prefill to the eager engine (the model's own modules), for every recipe and KV cache format.
The kernels themselves are held to the same references on the GPU (tests/engine/test_gpu.py,
tests/engine/test_kernels_gpu.py).

Tolerance: the prefill logits agree to 0.1% (the same ops on concatenated tensors; bit-identical on the
machines tried); decode logits
within 1.5% of the row's largest |logit| with BF16 activations and 6% with W8A8 ones. The decode
attention reference (``grouped_attention``: bf16 products over the whole cache with a key mask, as the
kernel computes them) rounds differently from the eager SDPA over the prompt's slots, and per-token
int8 / FP8 activation quantization turns a one-ulp difference of an input into one quantization step
of the output (1/127 of the row's range for int8, 1/16 relative for e4m3). Greedy tokens are identical on
the trained toy model's own questions (shapes-vqa), whose margins exceed those errors.
"""

import copy

import pytest
import torch

from vlmq.engine import Engine, KVConfig, Prompt
from vlmq.engine.compiled import FusedRunner
from vlmq.engine.projections import ROW_MAX_LABEL

LOGIT_TOL = {"bf16": 0.015, "w8a8": 0.06}  # max |eager - fused| / max |eager| per row
FP32_TOL = 1e-4  # float32 models: the same arithmetic up to float32 rounding (0 on the machines tried)
PREFILL_TOL = 1e-3  # the same ops on concatenated tensors (0 on the machines tried)
STEPS = 4


@pytest.fixture(scope="module")
def toy():
    from vlmq.models import load_model

    return load_model("toy")


@pytest.fixture(scope="module")
def calibration():
    from vlmq.recipes import load_calibration

    return load_calibration("builtin", n=4, languages=("en",), seed=0)


@pytest.fixture(scope="module")
def prompts():
    """Three of the toy's questions with different lengths (left padding in a batch of 3)."""
    from vlmq.tasks import TaskOptions, get_task

    items = get_task("shapes-vqa").load(TaskOptions(limit=6, seed=0))
    chosen = [items[i].prompt for i in (0, 1, 5)]
    assert len({len(p.text) for p in chosen}) == 3
    return chosen


@pytest.fixture(scope="module")
def quantized(toy, calibration):
    """recipe -> the toy quantized by it (once per module; engines only re-point its tensors into packs)."""
    from vlmq.recipes import apply_recipe, parse_recipe

    done = {}

    def get(recipe: str):
        if recipe not in done:
            done[recipe] = copy.deepcopy(toy)
            if recipe != "bf16":
                apply_recipe(done[recipe], parse_recipe(recipe), calibration)
        return done[recipe]

    return get


def recorded_logits(engine, prompts, steps: int, ignore_eos: bool):
    """(greedy tokens per row, logits of the prefill and of every decode step)."""
    seen = []

    def record(fn):
        def wrapped(*args):
            out = fn(*args)
            seen.append(out.float().clone())
            return out

        return wrapped

    engine.decoder.logits = record(engine.decoder.logits)  # prefill (both) and eager decode steps
    if engine.compiled is not None:
        engine.compiled.decode = record(engine.compiled.decode)
    tokens = [g.token_ids for g in engine.generate(prompts, steps, ignore_eos=ignore_eos)]
    return tokens, seen


def compare(
    loaded, kv, prompts, tol: float, *, bf16_kernel="fused", steps=STEPS, ignore_eos=False, fp8_attention=False
) -> str:
    """Eager and fused engines on the same weights: identical greedy tokens, and logits within ``tol`` of the
    row's largest |logit| for every token a row generates (up to its EOS unless ``ignore_eos``)."""
    eager = Engine(loaded, kv=kv, max_batch_size=len(prompts), fp8_attention=fp8_attention)
    fused = Engine(loaded, kv=kv, max_batch_size=len(prompts), bf16_kernel=bf16_kernel, fp8_attention=fp8_attention)
    fused.compiled = FusedRunner(fused, compile=False)
    with torch.no_grad():
        fused_tokens, fused_logits = recorded_logits(fused, prompts, steps, ignore_eos)
        eager_tokens, eager_logits = recorded_logits(eager, prompts, steps, ignore_eos)
    assert fused_tokens == eager_tokens
    assert len(fused_logits) == len(eager_logits) == max(len(t) for t in eager_tokens)
    for step, (e, f) in enumerate(zip(eager_logits, fused_logits, strict=True)):
        rows = [r for r, t in enumerate(eager_tokens) if len(t) > step]  # rows still answering
        err = ((e - f).abs().amax(-1) / e.abs().amax(-1))[rows].max().item()
        limit = PREFILL_TOL if step == 0 else tol
        assert err <= limit, f"step {step}: logits differ by {err:.3g} of their range (limit {limit})"
    return fused.compiled.label


@pytest.mark.parametrize(
    "recipe, label",
    [
        ("bf16", "fused-bf16"),
        ("int8_wo", "fused-w8a16-int8, lm_head fused-bf16"),
        ("int4_wo", "fused-w4a16-asym, lm_head fused-bf16"),
        ("int4_wo+sym", "fused-w4a16-sym, lm_head fused-bf16"),
        ("int4_awq", "fused-w4a16-asym, lm_head fused-bf16"),
        # int8 W8A8's measured row-maximum mode is forward (fused.ROW_MAX_MEASURED); the toy's one-row tiles all
        # quantize their rows in their prologue, so q/k/v and gate/up both take forwarded maxima
        (
            "smoothquant",
            "fused-w8a8-int8, lm_head fused-bf16, down_proj, gate/up, q/k/v rows by forwarded maxima "
            "(RMSNorm deferred)",
        ),
        ("fp8", "fused-w8a8-fp8, lm_head fused-bf16" + ROW_MAX_LABEL),
    ],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_decoder_gives_eager_logits_and_tokens(quantized, prompts, recipe, label, batch):
    loaded = quantized(recipe)
    tol = LOGIT_TOL["w8a8" if recipe in ("smoothquant", "fp8") else "bf16"]
    assert compare(loaded, KVConfig(), prompts[-batch:], tol) == label


@pytest.mark.parametrize(
    "kv_dtype, strategy",
    [
        ("bf16", "static"),
        ("fp8", "static"),
        ("fp8", "static_text_only"),
        ("fp8", "per_head"),
        ("fp8", "dynamic"),
        ("fp8", "visual_aware"),
    ],
)
def test_fused_decoder_follows_eager_over_many_steps_for_every_kv_cache(
    tiny_fp32, images, calibration, kv_dtype, strategy
):
    """float32 weights: no bf16 rounding to hide behind, so eager and fused agree to float32 precision over
    eight steps past EOS (each step reads every K/V the earlier ones wrote, in every FP8 scale policy)."""
    from vlmq.recipes import calibrate_kv_scales

    loaded = copy.deepcopy(tiny_fp32)
    scales = calibrate_kv_scales(Engine(loaded), calibration, strategy) if kv_dtype == "fp8" else None
    prompts = [
        Prompt("What is in the image?", images[0]),
        Prompt("Hi", None),
        Prompt("Describe this picture in detail, please.", images[1]),
    ]
    compare(loaded, KVConfig(kv_dtype, strategy, scales), prompts, FP32_TOL, steps=8, ignore_eos=True)


def test_cublas_bf16_kernel_composes_the_same_arithmetic(quantized, prompts):
    assert compare(quantized("bf16"), KVConfig(), prompts, LOGIT_TOL["bf16"], bf16_kernel="cublas") == "cublas-bf16"


def test_emulated_fp8_attention_path(tiny_fp32, images):
    """``fp8_attention`` (the emulated study path) keeps dense attention after the fused RoPE + cache write."""
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Hi", None)]
    label = compare(
        copy.deepcopy(tiny_fp32), KVConfig(), prompts, FP32_TOL, steps=6, ignore_eos=True, fp8_attention=True
    )
    assert label == "fused-bf16, fp8-attention-emulated"


def test_greedy_advance_feeds_the_next_step_on_the_device():
    """The device-side advance a captured step ends with: argmax becomes the next input token and goes to the
    history at the step's slot, EOS marks its row, position and slot move on, the next slot becomes
    attendable; at the last slot (warm-up's scratch slot) the slot stays inside the cache."""
    from vlmq.engine.compiled import static_inputs
    from vlmq.engine.kernels.greedy import greedy_advance

    s = static_inputs(2, 8, torch.device("cpu"))
    s.slot.fill_(3)
    s.pos.copy_(torch.tensor([10, 20]))
    logits = torch.zeros(2, 5)
    logits[0, 4], logits[1, 2] = 1.0, 1.0
    greedy_advance(logits, s.token, s.pos, s.slot, s.key_valid, s.history, s.finished, torch.tensor([2]))
    assert s.token.tolist() == [4, 2]
    assert s.history[:, 3].tolist() == [4, 2] and s.history[:, :3].eq(0).all()
    assert s.finished.tolist() == [False, True]
    assert s.pos.tolist() == [11, 21] and s.slot.item() == 4
    assert s.key_valid[:, 4].all() and not s.key_valid[:, 5].any()
    s.slot.fill_(7)  # the scratch slot
    greedy_advance(logits, s.token, s.pos, s.slot, s.key_valid, s.history, s.finished, torch.tensor([4]))
    assert s.slot.item() == 7 and s.finished.all() and s.history[:, 7].tolist() == [4, 2]


@pytest.mark.parametrize("vocab", [151936, 1000, 997])
def test_greedy_choice_is_the_first_index_of_the_maximum(vocab):
    """The two-stage argmax equals torch.argmax, ties across and within pieces included (the first index wins)."""
    from vlmq.engine.kernels.greedy import greedy_choice

    g = torch.Generator().manual_seed(vocab)
    logits = torch.randint(-3, 3, (6, vocab), generator=g).float()  # many ties at the maximum
    logits[1, vocab - 1] = 9.0  # in the last piece
    logits[2, [0, vocab // 2]] = 9.0  # tied across pieces: index 0
    logits[3, [vocab // 2, vocab // 2 + 1]] = 9.0  # tied within a piece
    logits[4] = 0.0
    assert torch.equal(greedy_choice(logits), logits.argmax(dim=-1))
    assert greedy_choice(logits)[:5].tolist() == [int(logits[0].argmax()), vocab - 1, 0, vocab // 2, 0]


def test_fused_decode_steps_follow_eager_when_tokens_are_forced(quantized):
    """decode_step through a runner: the step's own token passed back copies nothing; a different (forced) token
    replaces it; a new state rebinds the runner's buffers. Both engines fed the same tokens give the same
    positions, slots and key masks, and logits within the decode tolerance, at every step."""
    loaded = quantized("bf16")
    eager, fused = (Engine(loaded, max_batch_size=2, max_seq_len=64) for _ in range(2))
    fused.compiled = runner = FusedRunner(fused, compile=False)
    ref, got = [], []
    eager.decoder.logits = lambda h, f=eager.decoder.logits: ref.append(f(h).float()) or ref[-1]
    runner.decode = lambda state, token, f=runner.decode: got.append(f(state, token).clone()) or got[-1]
    for context in (12, 9):  # the second context rebinds the runner's buffers
        states = [e.synthetic_context(2, context, seed=context) for e in (eager, fused)]
        token = torch.tensor([5, 7])
        for step in range(5):
            token = torch.tensor([3, 11]) if step % 2 else token  # forced every other step, else the step's own
            eager.decode_step(states[0], token.clone())
            out = fused.decode_step(states[1], token)
            assert out is runner.next_token(2)
            token = out
            assert states[1].next_slot == states[0].next_slot == context + step + 1
            assert torch.equal(states[1].next_pos, states[0].next_pos)
            n = states[0].next_slot  # the runner has also marked the next step's slot
            assert torch.equal(states[1].key_valid[:, :n], states[0].key_valid[:, :n])
            assert states[1].key_valid[:, n].all() and not states[1].key_valid[:, n + 1 :].any()
    assert len(ref) == len(got) == 10
    for e, f in zip(ref, got, strict=True):
        assert ((e - f).abs().amax(-1) / e.abs().amax(-1)).max() <= LOGIT_TOL["bf16"]


@pytest.mark.parametrize("new_tokens", [1, 2])
def test_fused_generation_of_one_or_two_tokens(quantized, prompts, new_tokens):
    """The shortest generations through a runner (no decode step, then one): the eager engine's tokens."""
    loaded = quantized("bf16")
    eager, fused = (Engine(loaded, max_batch_size=3) for _ in range(2))
    fused.compiled = FusedRunner(fused, compile=False)
    with torch.no_grad():
        want, got = ([g.token_ids for g in e.generate(prompts, new_tokens, ignore_eos=True)] for e in (eager, fused))
    assert got == want and {len(t) for t in got} == {new_tokens}


def tensors_in(obj) -> list[torch.Tensor]:
    """Every tensor in nested tuples / lists / named tuples (the compiled pieces' arguments)."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in tensors_in(item)]
    return []


@pytest.mark.parametrize("strategy", ["bf16", "static", "per_head", "visual_aware", "dynamic"])
def test_every_tensor_the_compiled_pieces_take_is_16_byte_aligned(tiny_bf16, images, strategy):
    """Inductor copies a CUDA input that is not 16-byte aligned before every call of the compiled function (on
    the H200 the FP8 scale tables, rows of a [layers, 2 heads] tensor, cost 4 copy kernels a layer on every odd
    layer of qwen2-vl-2b). The tiny model has 2 KV heads, as the 2b: the fused runner's layers, prologue, head
    and greedy advance, through a prefill and decode steps, get aligned tensors only."""
    from vlmq.engine import KVScales

    layers, heads = 2, 2
    scales = KVScales(*(torch.rand(layers, heads) * 0.01 + 0.01 for _ in range(4)))
    kv = KVConfig() if strategy == "bf16" else KVConfig.for_kind(strategy, scales)
    engine = Engine(tiny_bf16, kv=kv, max_batch_size=2)
    runner = engine.compiled = FusedRunner(engine, compile=False)
    misaligned = []

    def checked(fn, name):
        def wrapped(*args):
            misaligned.extend((name, tuple(t.shape)) for t in tensors_in(args) if t.numel() and t.data_ptr() % 16)
            return fn(*args)

        return wrapped

    for name in ("decode_layer", "prefill_layer", "prologue", "head", "advance"):
        setattr(runner, name, checked(getattr(runner, name), name))
    with torch.no_grad():
        engine.generate([Prompt("What is in the image?", images[0]), Prompt("Hi", None)], 3, ignore_eos=True)
    assert not misaligned, misaligned
