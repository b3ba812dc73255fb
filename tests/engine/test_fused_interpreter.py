"""The fused decoder with its real Triton kernels, on a CPU through Triton's interpreter (TRITON_INTERPRET=1).

The other CPU tests run each op's pure-torch reference; this one swaps the ops for the launchers their CUDA
branches call (``gemv``, ``launch_decode_attention`` with the fused RoPE + write, ``launch_rope_kv``,
``launch_greedy_advance``), so the engine's real layouts reach the kernels: q/k/v as split views of one projection,
gate/up rows interleaved, the norm and residual fused, the static cache with a key mask, the step's logits and
buffers -- and, on the eager side, the modules' gate/up tensors as row-strided views of the interleaved buffer.
Prefill through the engine and decode through the kernels must give the eager engine's tokens (float32 model; the
interpreter's fp32 -> fp8 casts rounded to nearest even as on the GPU, by
``gpu_like_interpreter.gpu_like_interpreter``).

Runs in a subprocess (the interpreter must be chosen before Triton loads); this file is that subprocess's
script too. Skipped where Triton is not installed.
"""

import json
import os
import sys

import pytest

# (recipe, KV cache): every weight format and both cache formats, each at least once
CASES = [("bf16", "bf16"), ("int8_wo", "fp8"), ("int4_wo+group=32", "bf16"), ("smoothquant", "fp8"), ("fp8", "bf16")]
# with VLMQ_ATTENTION_COMBINE=o_proj: o_proj's GEMV combines the attention's partials (vlmq::rope_kv_attention_o_proj)
O_PROJ_CASES = [("bf16", "bf16"), ("int4_wo+group=32", "fp8"), ("int8_wo", "bf16")]
# with VLMQ_ATTENTION_PLAN (read as the fused attention launches): another plan, the same tokens
PLAN_CASES = [("bf16", "fp8", "prefetch=2,warps=4,splits=2")]
# with VLMQ_W8A8_ROW_MAX=gate_up: each W8A8 MLP as vlmq::fused_mlp (down_proj's rows quantized with gate/up's maxima
# where it runs on the CUDA cores: int8 at the tiny model's 2 rows; FP8 takes a tensor-core tile there: normalize_rows)
ROW_MAX_CASES = [("smoothquant", "bf16", True), ("fp8", "fp8", False)]
# with VLMQ_W8A8_ROW_MAX=forward: o_proj's and down_proj's epilogues gather the maxima gate/up's and the next layer's
# q/k/v's rows are quantized with, their RMSNorms deferred (where their tiles would otherwise quantize the rows in
# their prologue: at the tiny model's 2 rows smoothquant's CUDA-core int8 tiles; FP8 takes tensor-core tiles there)
FORWARD_CASES = [("smoothquant", "bf16", 2), ("fp8", "fp8", 2), ("fp8", "bf16", 1)]  # (recipe, KV cache, batch)
# with VLMQ_NORM_DEFER (read as each GEMV launches): q/k/v's, gate/up's and the lm_head's RMSNorm deferred in the
# CUDA-core GEMV (the multiplier on the sums), the eager engine's tokens still (a float32 model: nothing rounds)
NORM_DEFER_CASES = [("bf16", "bf16"), ("int8_wo", "fp8"), ("int4_wo+group=32", "bf16")]
TOKENS = 3  # prefill + 2 decode steps


def _kernel_ops():
    """Replace the ops by their kernels (CPU tensors run in the interpreter); return the launch counter."""
    from vlmq.engine import compiled, qlinear
    from vlmq.engine.kernels import attention, attention_o, fused, greedy, rope_kv
    from vlmq.engine.kernels.gemv import GEMV_MAX_M, gemv

    launches = {
        "gemv": 0,
        "attention": 0,
        "rope_kv": 0,
        "attention_o_proj": 0,
        "partials": 0,
        "prefetch2": 0,
        "greedy": 0,
        "fused_mlp": 0,
        "deferred_norm": 0,
        "deferred_w8a8_norm": 0,
        "gather": 0,
    }
    linear_ref, w8_ref, w4_ref = fused.fused_linear_reference, qlinear.w8_linear, qlinear.w4a16_linear

    def fused_linear(*args):  # the op's CUDA launch at decode; its reference at prefill (no GPU GEMM here)
        if args[0].shape[0] > GEMV_MAX_M:
            return linear_ref(*args)
        launches["gemv"] += 1
        return fused.launch_fused_linear(*args)

    def fused_linear_gather(*args):  # decode only (its rings: ``projections.ForwardedMaxima``)
        launches["gemv"] += 1
        launches["gather"] += 1
        return fused.fused_linear_gather_kernel(*args)

    def w8_linear(x, qweight, wscale, xscale, bias, out_dtype):  # the eager modules' decode GEMV
        if x.shape[0] > GEMV_MAX_M:
            return w8_ref(x, qweight, wscale, xscale, bias, out_dtype)
        launches["gemv"] += 1
        return gemv(x, qweight, wscale, None, 0, bias, x_scale=xscale, out_dtype=out_dtype)

    def w4a16_linear(x, packed, scale, zero, group_size, bias, out_dtype):
        if x.shape[0] > GEMV_MAX_M:
            return w4_ref(x, packed, scale, zero, group_size, bias, out_dtype)
        launches["gemv"] += 1
        return gemv(x, packed, scale, zero, group_size, bias, out_dtype=out_dtype)

    def rope_kv_decode_attention(*args):  # the op's CUDA launch, $VLMQ_ATTENTION_PLAN read there
        launches["attention"] += 1
        return attention.launch_fused_attention(*args)

    launch_plain = attention.launch_decode_attention

    def planned_attention(*args, **kwargs):
        launches["prefetch2"] += kwargs.get("prefetch_blocks") == 2
        return launch_plain(*args, **kwargs)

    def rope_kv_write(*args):
        launches["rope_kv"] += 1
        return rope_kv.launch_rope_kv(*args)

    def rope_kv_attention_o_proj(*args):
        launches["attention_o_proj"] += 1
        return attention_o.launch_attention_o_proj(*args)

    launch_attention = attention_o.launch_decode_attention

    def counted_attention(*args, **kwargs):  # the op's attention: partials for o_proj, or the combined output
        launches["partials"] += bool(kwargs.get("partials_out"))
        return launch_attention(*args, **kwargs)

    def greedy_advance(*args):  # the op's CUDA launch; a runner takes it as it is built
        launches["greedy"] += 1
        return greedy.launch_greedy_advance(*args)

    def fused_mlp(*args):
        launches["fused_mlp"] += 1
        return fused.fused_mlp_kernels(*args)

    import vlmq.engine.kernels.gemv_triton as gemv_triton

    class CountedGemv:  # gemv_kernel[grid](...), counting the launches whose RMSNorm is deferred (NORM 2)
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                launches["deferred_norm"] += kwargs.get("NORM") == 2
                launches["deferred_w8a8_norm"] += kwargs.get("NORM") == 2 and kwargs.get("A_MODE") != 0
                return self.kernel[grid](*args, **kwargs)

            return launch

    gemv_triton.gemv_kernel = CountedGemv(gemv_triton.gemv_kernel)
    compiled.greedy_advance = greedy_advance
    fused.fused_linear = fused_linear
    fused.fused_mlp = fused_mlp
    fused.fused_linear_gather = fused_linear_gather
    qlinear.w8_linear, qlinear.w4a16_linear = w8_linear, w4a16_linear
    attention.rope_kv_decode_attention = rope_kv_decode_attention
    attention.launch_decode_attention = planned_attention
    rope_kv.rope_kv_write = rope_kv_write
    attention_o.rope_kv_attention_o_proj = rope_kv_attention_o_proj
    attention_o.launch_decode_attention = counted_attention
    return launches


def _run_case(
    loaded, recipe, kv_dtype, prompts, calibration, launches, combine="attention", plan="", row_max="kernel",
    norm_defer="none",
):  # fmt: skip
    import copy

    import torch

    from vlmq.engine import Engine, KVConfig
    from vlmq.engine.compiled import FusedRunner
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import row_max_on_cuda_cores
    from vlmq.recipes import apply_recipe, parse_recipe

    model = copy.deepcopy(loaded)
    if recipe != "bf16":
        apply_recipe(model, parse_recipe(recipe), calibration)
    kv = KVConfig(kv_dtype, "dynamic")
    fused = Engine(model, kv=kv, max_batch_size=len(prompts))
    os.environ["VLMQ_ATTENTION_COMBINE"] = combine  # read as the runner is built
    os.environ["VLMQ_W8A8_ROW_MAX"] = row_max
    fused.compiled = FusedRunner(fused, compile=False)  # packs first: the eager modules then hold views
    os.environ.pop("VLMQ_ATTENTION_COMBINE")
    os.environ.pop("VLMQ_W8A8_ROW_MAX")
    eager = Engine(model, kv=kv, max_batch_size=len(prompts))
    before = dict(launches)
    os.environ["VLMQ_ATTENTION_PLAN"] = plan  # read as the attention launches
    with torch.no_grad():
        os.environ["VLMQ_NORM_DEFER"] = norm_defer  # read as each GEMV launches: the fused engine's alone
        got = [g.token_ids for g in fused.generate(prompts, TOKENS, ignore_eos=True)]
        os.environ.pop("VLMQ_NORM_DEFER")
        want = [g.token_ids for g in eager.generate(prompts, TOKENS, ignore_eos=True)]
    os.environ.pop("VLMQ_ATTENTION_PLAN")
    ran = {k: launches[k] - before[k] for k in launches}
    slots = [bool(p.row_max[0].any()) for p in fused.compiled.packs if p.row_max is not None]  # which hold maxima
    forwarded = [[bool(s.any()) for s in p.forward.slots()] for p in fused.compiled.packs if p.forward is not None]
    result = {"same_tokens": got == want, "tokens": [got, want], "launches": ran, "label": fused.compiled.label}
    down = fused.compiled.packs[0].down.packed
    on_cuda_cores = down.a_mode in A_MODE_CODES and row_max_on_cuda_cores(
        down.weight, len(prompts), A_MODE_CODES[down.a_mode], down.pre_scale is not None
    )
    return result | {"slots_holding_maxima": slots, "down_on_cuda_cores": on_cuda_cores, "forwarded": forwarded}


def main():
    import torch

    from vlmq.engine import Prompt
    from vlmq.models import load_model
    from vlmq.recipes import load_calibration

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from gpu_like_interpreter import gpu_like_interpreter  # this directory is on sys.path (run as a script)

    torch.manual_seed(0)
    gpu_like_interpreter()  # fp32 -> fp8 / bf16 rounded to nearest even, as the GPU does
    launches = _kernel_ops()
    loaded = load_model("tiny", dtype=torch.float32)
    calibration = load_calibration("builtin", n=2, languages=("en",), seed=0)
    image = next(p.image for p in calibration.prompts if p.image is not None).resize((56, 56))  # 4 visual tokens
    prompts = [Prompt("What is in the image?", image), Prompt("Hi")]
    results = {f"{recipe}/{kv}": _run_case(loaded, recipe, kv, prompts, calibration, launches) for recipe, kv in CASES}
    for recipe, kv in O_PROJ_CASES:
        results[f"{recipe}/{kv}/o_proj"] = _run_case(loaded, recipe, kv, prompts, calibration, launches, "o_proj")
    for recipe, kv, plan in PLAN_CASES:
        results[f"{recipe}/{kv}/{plan}"] = _run_case(loaded, recipe, kv, prompts, calibration, launches, plan=plan)
    for recipe, kv in NORM_DEFER_CASES:
        key = f"{recipe}/{kv}/norm_defer"
        results[key] = _run_case(loaded, recipe, kv, prompts, calibration, launches, norm_defer="qkv,gate_up,lm_head")
    for recipe, kv, _ in ROW_MAX_CASES:
        key = f"{recipe}/{kv}/row_max"
        results[key] = _run_case(loaded, recipe, kv, prompts, calibration, launches, row_max="gate_up")
    for recipe, kv, batch in FORWARD_CASES:
        key = f"{recipe}/{kv}/forward/{batch}"
        results[key] = _run_case(loaded, recipe, kv, prompts[:batch], calibration, launches, row_max="forward")
    print(json.dumps(results))


@pytest.fixture(scope="module")
def interpreter_results():
    pytest.importorskip("triton")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from gpu_like_interpreter import interpreter_run

    return interpreter_run(__file__, timeout=1200)


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv", CASES)
def test_fused_decoder_kernels_give_eager_tokens(interpreter_results, recipe, kv):
    result = interpreter_results[f"{recipe}/{kv}"]
    layers, steps = 2, TOKENS - 1  # tiny model
    # decode: 4 fused GEMVs a layer + the head (fused engine), 7 module GEMVs a layer (eager engine, bf16: none)
    assert result["launches"]["attention"] == layers * steps, result
    assert result["launches"]["gemv"] >= steps * (4 * layers + 1), result
    assert result["launches"]["rope_kv"] == layers, result  # the fused engine's prefill
    assert result["launches"]["attention_o_proj"] == 0, result
    assert result["launches"]["prefetch2"] == 0, result  # the default plan
    assert result["launches"]["greedy"] == steps, result  # each decode step advanced by the kernel
    assert result["launches"]["deferred_norm"] == 0, result  # off by default
    assert result["same_tokens"], result


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv", NORM_DEFER_CASES)
def test_rmsnorms_deferred_in_the_gemv_give_eager_tokens(interpreter_results, recipe, kv):
    """``$VLMQ_NORM_DEFER=qkv,gate_up,lm_head``: every decode step's q/k/v and gate/up of each layer and the lm_head
    run their RMSNorm deferred (``NORM`` 2: the multiplier on the sums), and the tokens are the eager engine's."""
    result = interpreter_results[f"{recipe}/{kv}/norm_defer"]
    layers, steps = 2, TOKENS - 1
    assert result["launches"]["deferred_norm"] == steps * (2 * layers + 1), result
    assert result["same_tokens"], result


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv, plan", PLAN_CASES)
def test_an_attention_plan_set_by_hand_gives_eager_tokens(interpreter_results, recipe, kv, plan):
    """``$VLMQ_ATTENTION_PLAN`` reaches the fused attention's launch (here: both blocks before the PDL wait, 4
    warps, at most 2 splits) and the tokens stay the eager engine's."""
    result = interpreter_results[f"{recipe}/{kv}/{plan}"]
    layers, steps = 2, TOKENS - 1
    assert result["launches"]["attention"] == layers * steps == result["launches"]["prefetch2"], result
    assert result["same_tokens"], result


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv", O_PROJ_CASES)
def test_o_proj_combining_the_attention_partials_gives_eager_tokens(interpreter_results, recipe, kv):
    """VLMQ_ATTENTION_COMBINE=o_proj: each layer's attention and o_proj run as vlmq::rope_kv_attention_o_proj (the
    attention leaves its partials, o_proj's GEMV combines them), and the tokens are the eager engine's."""
    result = interpreter_results[f"{recipe}/{kv}/o_proj"]
    layers, steps = 2, TOKENS - 1
    assert result["launches"]["attention_o_proj"] == layers * steps and result["launches"]["attention"] == 0, result
    assert result["launches"]["partials"] == layers * steps, result  # o_proj combined them: no fallback
    assert result["label"].endswith(", attention combined in o_proj"), result
    assert result["same_tokens"], result


if __name__ == "__main__":
    main()


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv, on_cuda_cores", ROW_MAX_CASES)
def test_w8a8_mlp_with_gate_up_row_maxima_gives_eager_tokens(interpreter_results, recipe, kv, on_cuda_cores):
    """VLMQ_W8A8_ROW_MAX=gate_up: every layer's MLP at decode runs as vlmq::fused_mlp (gate/up's epilogue gathers
    the row maxima down_proj quantizes its rows with, where down_proj runs on the CUDA cores; the slots a ring over
    the layers; else the two launches with normalize_rows, the slots untouched), and the tokens are the eager
    engine's either way."""
    result = interpreter_results[f"{recipe}/{kv}/row_max"]
    layers, steps = 2, TOKENS - 1
    assert result["launches"]["fused_mlp"] == layers * steps, result
    assert "gate/up's row maxima" in result["label"], result
    assert result["down_on_cuda_cores"] == on_cuda_cores, result
    # after a step the last layer's slot holds its maxima and the first's was zeroed by the last layer's gate/up
    assert result["slots_holding_maxima"] == ([False, True] if on_cuda_cores else [False, False]), result
    assert result["same_tokens"], result


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv, batch", FORWARD_CASES)
def test_w8a8_layers_with_forwarded_row_maxima_give_eager_tokens(interpreter_results, recipe, kv, batch):
    """VLMQ_W8A8_ROW_MAX=forward: each decode layer's o_proj, gate/up and down_proj gather the maxima of the next
    GEMV's rows (``vlmq::fused_linear_gather``; gate/up's as ``vlmq::fused_mlp`` does), and gate/up and q/k/v (past
    the first layer) quantize their rows with them, the RMSNorm deferred, where their tiles would quantize them in
    their prologue: at the tiny model's 2 rows smoothquant's CUDA-core int8 tiles, while FP8 takes tensor-core tiles
    there (several live rows), so it normalizes as without (the maxima unused); at one row FP8's CUDA-core tiles. The
    tokens are the eager engine's (a float32 model: the codes are of fp32 values either way)."""
    result = interpreter_results[f"{recipe}/{kv}/forward/{batch}"]
    layers, steps = 2, TOKENS - 1
    assert result["launches"]["gather"] == 3 * layers * steps and result["launches"]["fused_mlp"] == 0, result
    uses = recipe == "smoothquant" or batch == 1
    deferred = (layers - 1) + layers if uses else 0  # q/k/v past the first layer, gate/up
    assert result["launches"]["deferred_w8a8_norm"] == deferred * steps, result
    assert "forwarded maxima" in result["label"], result
    # each ring's last gatherer zeroed the first's slot (o_proj's, gate/up's, down_proj's): after a step the first
    # layer's slots are zero and the last layer's hold maxima
    assert result["forwarded"] == [[False, False, False], [True, True, True]], result
    assert result["same_tokens"], result
