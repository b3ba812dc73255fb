"""Every real recipe gives the same greedy answers through the eager and the compiled engine (GPU).

Why: on the H200, ``fp8`` through the eager engine answered empty strings for half the prompts while the
compiled engine was right (issue 13). Both paths now run vlmq's own ops (``vlmq::w8_linear``,
``vlmq::w4a16_linear``) on the same stored tensors: eager through each module, compiled through fused
packs, five kernels a decoder layer at decode (vlmq::fused_linear, vlmq::rope_kv_decode_attention). Run on the GPU
machine:
``python -m pytest -q tests/recipes/test_gpu_engines.py``.
"""

import pytest
import torch

from vlmq.engine.projections import ROW_MAX_LABEL

pytestmark = pytest.mark.gpu

# recipes with real kernels on Hopper and later (nvfp4 is emulated before sm100: accuracy only)
# recipes with real kernels on Hopper and later (nvfp4 is emulated before sm100: accuracy only), plus one mixed
# precision recipe (int8 and int4 packs in one engine); each compiles its own decode step (about a minute)
REAL_RECIPES = ["bf16", "int8_wo", "int4_wo", "int4_awq", "smoothquant", "fp8", "int4_wo+keep8=0"]
# the fused decode path's label (vlmq.engine.projections.build_packs): every group through vlmq::fused_linear
HEAD = ", lm_head fused-bf16"
PACK_LABELS = {
    "bf16": "fused-bf16",
    "int8_wo": "fused-w8a16-int8" + HEAD,
    "int4_wo": "fused-w4a16-asym" + HEAD,
    "int4_awq": "fused-w4a16-asym" + HEAD,
    # int8 W8A8's measured row-maximum mode is forward (fused.ROW_MAX_MEASURED): the toy's one-row q/k/v and gate/up
    # CUDA-core tiles quantize their rows with the maxima the GEMV before gathers
    "smoothquant": "fused-w8a8-int8" + HEAD + ", down_proj, gate/up, q/k/v rows by forwarded maxima (RMSNorm deferred)",
    "fp8": "fused-w8a8-fp8" + HEAD + ROW_MAX_LABEL,
    "int4_wo+keep8=0": "fused-w8a16-int8+fused-w4a16-asym" + HEAD,
}
N_PROMPTS = 12
# batch sizes: 1 and 4 decode through the CUDA-core GEMVs, 6 through the tensor-core ones (more than 4 rows), each
# with its own PDL triggers (pdl.MEASURED_EARLY)
BATCHES = (1, 4, 6)


@pytest.fixture(scope="module")
def samples():
    from vlmq.tasks import TaskOptions, get_task

    task = get_task("shapes-vqa")
    return task, task.load(TaskOptions(limit=N_PROMPTS, seed=0))[:N_PROMPTS]


@pytest.fixture(scope="module")
def calib():
    from vlmq.recipes import load_calibration

    return load_calibration("builtin", n=8, languages=("en",), seed=0)


def answers(engine, prompts, batch: int, max_new_tokens: int) -> list[str]:
    out = []
    for start in range(0, len(prompts), batch):
        out += [g.text for g in engine.generate(prompts[start : start + batch], max_new_tokens)]
    return out


# VLMQ_ATTENTION_COMBINE=o_proj (vlmq::rope_kv_attention_o_proj: o_proj's GEMV combines the attention's splits) on
# recipes whose o_proj takes float rows: float and int4 weights (int8's words share int4's path through the GEMV;
# the op is off by default, measured slower, and each case costs 20-30 s of device time)
O_PROJ_COMBINE = ["bf16", "int4_wo"]
# "mma": every int4 decode GEMV through the tensor-core kernel (cutlass/w4_gemv.cu) whatever the tile table says
# ($VLMQ_W4_MMA: a configuration the library builds), where it is built
MMA = ["int4_wo", "int4_awq"]
CASES = [(r, "attention") for r in REAL_RECIPES] + [(r, "o_proj") for r in O_PROJ_COMBINE] + [(r, "mma") for r in MMA]


@pytest.mark.parametrize("recipe, combine", CASES)
def test_eager_and_compiled_engines_answer_the_same(recipe, combine, samples, calib, monkeypatch):
    from vlmq.engine import Engine
    from vlmq.models import load_model
    from vlmq.recipes import apply_recipe, engine_options, kernel_label, parse_recipe, prepare_engine
    from vlmq.tasks import TaskOptions

    device = torch.device("cuda")
    monkeypatch.setenv("VLMQ_ATTENTION_COMBINE", "attention" if combine == "mma" else combine)  # read at build
    if combine == "mma":
        from vlmq.engine.kernels.cutlass_gemm import w4_gemv_configs
        from vlmq.engine.kernels.gemv import MMA_ENV, mma_runs

        if not mma_runs(device):
            pytest.skip("the int4 tensor-core GEMV is not built here (python -m vlmq.engine.kernels.cutlass_build)")
        tile = min(t for t in w4_gemv_configs() if not t.post)  # the toy's groups are under 128 columns
        monkeypatch.setenv(MMA_ENV, ",".join(str(int(v)) for v in tile))
    spec = parse_recipe(recipe)
    loaded = load_model("toy", device="cuda")
    apply_recipe(loaded, spec, calib)
    assert kernel_label(spec, device) == "real"
    task, items = samples
    prompts = [s.prompt for s in items]
    results = {}
    for compiled in (False, True):
        engine = Engine(loaded, **engine_options(spec), compile=compiled, max_batch_size=max(BATCHES))
        prepare_engine(engine, spec, calib)
        if compiled:
            label = PACK_LABELS[recipe] + (", attention combined in o_proj" if combine == "o_proj" else "")
            assert engine.compiled.label == label
            assert engine.compiled.path_notes()["decode_path"] == f"cuda-graph, {label}"
        for batch in BATCHES:
            results[(compiled, batch)] = answers(engine, prompts, batch, task.max_new_tokens)
    for batch in BATCHES:
        eager, fast = results[(False, batch)], results[(True, batch)]
        differ = [(i, e, c) for i, (e, c) in enumerate(zip(eager, fast)) if e != c]
        assert not differ, f"{recipe} batch {batch}: eager vs compiled differ on {differ}"
        assert all(a.strip() for a in eager), f"{recipe} batch {batch}: empty answers {eager}"
    opts = TaskOptions(limit=N_PROMPTS, seed=0)
    correct = sum(task.score(s, a, opts)["score"] or 0 for s, a in zip(items, results[(True, 1)]))
    assert correct >= 0.75 * len(items), f"{recipe}: {correct}/{len(items)} correct"
