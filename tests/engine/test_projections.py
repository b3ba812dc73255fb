"""The compiled path's packs (one per projection group: fused, composed, or module calls) compute what the modules
compute.

On CPU ``vlmq::fused_linear``, ``vlmq::w8_linear`` and ``vlmq::w4a16_linear`` run their pure-torch references, so
these tests check packing, labels and activation quantization; the Triton kernels are checked on the GPU.
"""

import copy

import pytest
import torch

from vlmq.engine import Engine, Prompt
from vlmq.engine.compiled import FusedRunner
from vlmq.engine.kernels import quantize_activation
from vlmq.engine.projections import ROW_MAX_LABEL, build_packs, fuse_group, run_linear
from vlmq.errors import VlmqError
from vlmq.recipes import apply_recipe, parse_recipe


def fused_engine(loaded, bf16_kernel="fused"):
    """An engine whose prefill and decode run through the packs (uncompiled; the ops' references on CPU)."""
    engine = Engine(loaded, bf16_kernel=bf16_kernel)
    engine.compiled = FusedRunner(engine, compile=False)
    return engine, engine.compiled.label


def quantized_copy(loaded, recipe: str | None):
    clone = copy.deepcopy(loaded)
    if recipe is not None:
        apply_recipe(clone, parse_recipe(recipe), None)
    return clone


def w8a8_int8_copy(loaded):
    """SmoothQuant's stored format (int8 weights, dynamic per-token int8 activations) without its calibration."""
    from vlmq.engine.qformat import LinearFormat
    from vlmq.models import is_decoder_linear
    from vlmq.recipes.quantize import swap_linears, w8_module

    clone = copy.deepcopy(loaded)
    names = [fqn for fqn, m in clone.model.named_modules() if is_decoder_linear(m, fqn)]
    swap_linears(clone.model, names, lambda linear: w8_module(linear, LinearFormat("int8", "channel", "int8", "token")))
    return clone


HEAD = ", lm_head fused-bf16"
# int8 W8A8's measured row-maximum mode (fused.ROW_MAX_MEASURED): on the tiny model every one-row q/k/v and gate/up
# tile quantizes its rows in its prologue, so both take maxima the GEMV before gathers
FORWARD_NOTE = ", down_proj, gate/up, q/k/v rows by forwarded maxima (RMSNorm deferred)"


@pytest.mark.parametrize(
    "recipe, label",
    [
        (None, "fused-bf16"),
        ("int8_wo", "fused-w8a16-int8" + HEAD),
        ("fp8", "fused-w8a8-fp8" + HEAD + ROW_MAX_LABEL),
        ("fp8+gran=tensor", "w8a8-fp8-per-tensor" + HEAD),
        ("int4_wo+group=32", "fused-w4a16-asym" + HEAD),
        ("int4_wo+group=32+sym", "fused-w4a16-sym" + HEAD),
        ("nvfp4", "modules-emulated" + HEAD),
        ("int4_wo+group=32+keep8=0", "fused-w8a16-int8+fused-w4a16-asym" + HEAD),
        ("int4_wo+group=32+keep=k_proj", "modules+fused-w4a16-asym" + HEAD),
        ("int8_wo+keep=1", "fused-w8a16-int8+fused-bf16"),
        ("int8_wo+lm_head", "fused-w8a16-int8"),
        ("w8a8-int8", "fused-w8a8-int8" + HEAD + FORWARD_NOTE),
    ],
)
def test_packs_compute_what_the_modules_compute(tiny_fp32, images, recipe, label):
    loaded = w8a8_int8_copy(tiny_fp32) if recipe == "w8a8-int8" else quantized_copy(tiny_fp32, recipe)
    prompts = [Prompt("What is in the image?", images[0])]
    reference = Engine(loaded)
    ref_tokens = reference.generate(prompts, 6, ignore_eos=True)[0].token_ids
    ref_logits = reference.next_token_logits(prompts)
    engine, got_label = fused_engine(loaded)
    assert got_label == label
    # prefill (composed around the modules' ops) and decode steps (vlmq::fused_linear) both go through the packs
    assert engine.generate(prompts, 6, ignore_eos=True)[0].token_ids == ref_tokens
    torch.testing.assert_close(engine.next_token_logits(prompts), ref_logits, atol=2e-3, rtol=0)
    # the modules still compute the same after their tensors became views of the packs' buffers
    torch.testing.assert_close(Engine(loaded).next_token_logits(prompts), ref_logits, atol=2e-3, rtol=0)


def test_fused_weights_share_storage_with_modules(tiny_fp32):
    loaded = copy.deepcopy(tiny_fp32)
    layer = loaded.model.model.language_model.layers[0]
    engine, label = fused_engine(loaded)
    assert label == "fused-bf16"
    q, k = layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight
    assert q.untyped_storage().data_ptr() == k.untyped_storage().data_ptr()
    gate_up = engine.compiled.packs[0].gate_up.packed.weight
    gate, up = layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight
    assert gate.untyped_storage().data_ptr() == up.untyped_storage().data_ptr() == gate_up.untyped_storage().data_ptr()
    assert torch.equal(gate_up[0::2], gate) and torch.equal(gate_up[1::2], up)  # interleaved rows


def test_fused_int4_tensors_share_storage_with_modules(tiny_fp32):
    loaded = quantized_copy(tiny_fp32, "int4_wo+group=32")
    mlp = loaded.model.model.language_model.layers[1].mlp
    fused_engine(loaded)
    for name in ("qweight", "weight_scale", "weight_zero_point"):
        gate, up = getattr(mlp.gate_proj, name), getattr(mlp.up_proj, name)
        assert gate.untyped_storage().data_ptr() == up.untyped_storage().data_ptr(), name


def test_bf16_kernel_is_configuration_not_a_global(tiny_fp32, images):
    loaded = copy.deepcopy(tiny_fp32)
    engine, label = fused_engine(loaded, bf16_kernel="cublas")
    assert label == "cublas-bf16" and Engine(loaded).bf16_kernel == "fused"
    assert not engine.compiled.packs[0].qkv.decode_kernel
    reference = Engine(loaded).next_token_logits([Prompt("Hi", images[1])])
    torch.testing.assert_close(engine.next_token_logits([Prompt("Hi", images[1])]), reference, atol=2e-3, rtol=0)
    with pytest.raises(VlmqError, match="unknown bf16 kernel 'cutlass'; choose from: fused, cublas"):
        Engine(loaded, bf16_kernel="cutlass")
    with pytest.raises(VlmqError, match="unknown bf16 kernel"):
        build_packs(engine.decoder, bf16_kernel="triton")


def test_emulated_fp8_group_composes_the_reference_arithmetic(tiny_fp32):
    """FP8 weights on a GPU without FP8 hardware: no fused kernel; the group composes the op's reference
    arithmetic at decode too, labelled emulated, and equals the modules."""
    loaded = quantized_copy(tiny_fp32, "fp8")
    attn = loaded.model.model.language_model.layers[0].self_attn
    modules = (attn.q_proj, attn.k_proj, attn.v_proj)
    assert all(m.reference for m in modules)  # FP8 on this CPU: no hardware
    torch.manual_seed(0)
    x = torch.randn(3, 1, modules[0].in_features)
    expected = torch.cat([m(x) for m in modules], dim=-1)
    pack = fuse_group(modules, "qkv", torch.device("cuda"))
    assert (pack.label, pack.decode_kernel, pack.reference) == ("w8a8-fp8-emulated", False, True)
    torch.testing.assert_close(run_linear(pack, x, decode=True), expected, atol=0, rtol=0)


def test_int8_activation_quantization_matches_torchao(tiny_fp32):
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Linear(64, 32, bias=False))
    x = torch.randn(3, 64)
    quantize_(linear, Int8DynamicActivationInt8WeightConfig(set_inductor_config=False))
    w = linear[0].weight
    xq, xs = quantize_activation(x, "int8")
    mine = (xq.float() @ w.qdata.float().t()) * xs[:, None] * w.scale.float().view(1, -1)
    torch.testing.assert_close(mine, linear(x).float(), atol=1e-4, rtol=1e-4)


def test_fp8_activation_quantization_roundtrip():
    x = torch.tensor([[1.0, -2.0, 0.5, 448.0], [0.0, 0.0, 0.0, 0.0]])
    q, s = quantize_activation(x, "fp8")
    assert q.dtype == torch.float8_e4m3fn and s.shape == (2,)
    torch.testing.assert_close(q.float() * s[:, None], x)


@pytest.mark.parametrize("a_mode, wdtype", [("bf16", torch.int8), ("int8", torch.int8), ("fp8", torch.float8_e4m3fn)])
def test_large_m_dequant_mm_matches_reference(a_mode, wdtype):
    """The large-M path (prefill) widens 8-bit values to bf16 exactly: same result as the fp32 reference
    up to the bf16 rounding of the product."""
    from vlmq.engine.kernels import w8_linear_dequant_mm, w8_linear_reference

    torch.manual_seed(0)
    x = torch.randn(40, 96, dtype=torch.bfloat16)
    w = (
        torch.randint(-127, 128, (24, 96), dtype=torch.int8)
        if wdtype == torch.int8
        else (torch.randn(24, 96) * 50).clamp(-440, 440).to(wdtype)
    )
    ws, bias = torch.rand(24) * 0.01, torch.randn(24, dtype=torch.bfloat16)
    xq, xs = quantize_activation(x, a_mode)
    got = w8_linear_dequant_mm(xq, w, ws, xs, bias, torch.float32)
    ref = w8_linear_reference(xq, w, ws, xs, bias, torch.float32)
    assert ((got - ref).norm() / ref.norm()).item() < 5e-3


@pytest.mark.parametrize("recipe", ["fp8", "w8a8-int8"])
def test_row_max_slots_form_a_ring_over_the_layers(tiny_fp32, recipe, monkeypatch):
    """``$VLMQ_W8A8_ROW_MAX`` unset (``measured``: ``gate_up`` for fp8, ``forward`` for int8 activations): every W8A8
    layer gets (its slot, the next layer's), the last layer's next being the first's, each slot zeroed and its own
    tensor; the label says which form. ``kernel``: no slots, the label without it."""
    loaded = w8a8_int8_copy(tiny_fp32) if recipe == "w8a8-int8" else quantized_copy(tiny_fp32, recipe)
    decoder = Engine(loaded).decoder
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "kernel")
    _, _, plain_label = build_packs(decoder)
    assert "row maxima" not in plain_label and "forwarded" not in plain_label
    monkeypatch.delenv("VLMQ_W8A8_ROW_MAX")
    layers, _, label = build_packs(decoder)
    slots = [p.row_max for p in layers]
    assert len(layers) >= 2 and all(s is not None for s in slots)
    assert all(slots[i][1] is slots[(i + 1) % len(slots)][0] for i in range(len(slots)))
    assert len({id(s[0]) for s in slots}) == len(slots) and not any(s[0].any() for s in slots)
    forwarded = recipe == "w8a8-int8"
    assert all((p.forward is not None) == forwarded for p in layers)
    assert label == plain_label + (FORWARD_NOTE if forwarded else ROW_MAX_LABEL)
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "measured")
    assert build_packs(decoder)[2] == label
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "kernel")
    assert all(p.row_max is None for p in build_packs(decoder)[0])


@pytest.mark.parametrize("recipe", [None, "int8_wo", "int4_wo+group=32", "fp8+gran=tensor"])
def test_row_max_slots_only_for_w8a8_mlps_the_kernel_serves(tiny_fp32, recipe, monkeypatch):
    """BF16, weight-only and per-tensor W8A8 (composed, not the fused GEMV) keep gate/up and down as they were."""
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "gate_up")
    layers, _, label = build_packs(Engine(quantized_copy(tiny_fp32, recipe)).decoder)
    assert all(p.row_max is None for p in layers) and "row maxima" not in label


def test_row_max_setting_names_its_values(tiny_fp32, monkeypatch):
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "epilogue")
    with pytest.raises(
        VlmqError, match=r"VLMQ_W8A8_ROW_MAX='epilogue': use measured .*, gate_up .*, kernel .* or forward"
    ):
        build_packs(Engine(quantized_copy(tiny_fp32, "fp8")).decoder)


@pytest.mark.parametrize("mode, note", [("gate_up", "row maxima"), ("forward", "forwarded maxima")])
def test_w8a8_mlp_runs_as_fused_mlp_with_the_modules_tokens(tiny_fp32, images, mode, note, monkeypatch):
    """The fused runner (CPU: the ops' references, which leave the slots alone) through vlmq::fused_mlp -- or, with
    ``forward``, vlmq::fused_linear_gather and the maxima handed from GEMV to GEMV -- gives the modules' tokens: the
    packs and calls are wired as the arithmetic needs."""
    loaded = w8a8_int8_copy(tiny_fp32)
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Hi", None)]
    want = [g.token_ids for g in Engine(loaded, max_batch_size=2).generate(prompts, 4, ignore_eos=True)]
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", mode)
    engine, label = fused_engine(loaded)
    assert note in label
    with torch.no_grad():
        assert [g.token_ids for g in engine.generate(prompts, 4, ignore_eos=True)] == want


@pytest.mark.parametrize("mode, per_layer", [("gate_up", 1), ("forward", 3)])
def test_a_new_cache_zeroes_the_row_max_slots(tiny_fp32, mode, per_layer, monkeypatch):
    """``set_kv`` (the runner's reset) leaves every slot zero -- gate/up's, and with ``forward`` o_proj's and
    down_proj's too -- so a step cut off between two layers (an error) cannot hand its maxima to the next step."""
    from vlmq.engine import KVConfig
    from vlmq.engine.projections import row_max_slots

    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", mode)
    engine, _ = fused_engine(quantized_copy(tiny_fp32, "fp8"))
    slots = row_max_slots(engine.compiled.packs)
    assert len(slots) == per_layer * len(engine.compiled.packs)
    for slot in slots:
        slot.fill_(5.0)
    engine.set_kv(KVConfig("fp8", "dynamic"))
    assert not any(slot.any() for slot in slots)


def test_a_one_layer_model_gets_no_row_max_ring(tiny_fp32, monkeypatch):
    """A ring needs two slots (each layer zeroes the next one's): one layer is refused in one line, and
    ``with_row_max`` leaves such a model's packs as they were."""
    from vlmq.engine.kernels.gemv import row_max_buffers
    from vlmq.engine.projections import with_row_max

    with pytest.raises(VlmqError, match="at least two layers") as err:
        row_max_buffers(1, torch.device("cpu"))
    assert "\n" not in str(err.value)
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "gate_up")
    layers = build_packs(Engine(quantized_copy(tiny_fp32, "fp8")).decoder)[0]
    assert layers[0].row_max is not None  # the whole model takes a ring
    one = [layers[0]._replace(row_max=None)]
    assert with_row_max(one, torch.device("cpu")) is one


@pytest.mark.parametrize("recipe", ["fp8", "w8a8-int8"])
def test_forwarded_maxima_form_rings_with_the_next_norms_pre_scales(tiny_fp32, recipe, monkeypatch):
    """``$VLMQ_W8A8_ROW_MAX=forward`` on the tiny model (whose one-row q/k/v and gate/up tiles quantize their rows in
    their prologue, so both take maxima): each W8A8 layer's gate/up gathers into its ``row_max`` slot (as
    ``gate_up`` does), its o_proj into a slot gate/up reads, times the post-attention norm's weight in fp32 (times
    gate/up's pre-scale where it has one), and its down_proj into the next layer's q/k/v slot (the last layer's into
    the first layer's, which its q/k/v does not read), times that layer's input norm weight; each gatherer clears
    its ring's next slot, every slot its own zeroed tensor; the label says so."""
    from vlmq.engine.projections import forward_label

    loaded = w8a8_int8_copy(tiny_fp32) if recipe == "w8a8-int8" else quantized_copy(tiny_fp32, recipe)
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "gate_up")
    _, _, gate_up_label = build_packs(Engine(loaded).decoder)
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "forward")
    layers, _, label = build_packs(Engine(loaded).decoder)
    count = len(layers)
    fwd = [p.forward for p in layers]
    assert count >= 2 and all(f is not None and f.o is not None and f.down is not None for f in fwd)
    assert fwd[0].qkv_rows is None and all(fwd[i].qkv_rows is fwd[i - 1].down.slot for i in range(1, count))

    def scaled(norm, pack):
        return norm.float() * pack.pre_scale.float() if pack.pre_scale is not None else norm.float()

    for i, (p, f) in enumerate(zip(layers, fwd)):
        nxt = layers[(i + 1) % count]
        assert f.gate_up.slot is p.row_max[0] and f.gate_up.clear is p.row_max[1]
        assert f.gate_up_rows is f.o.slot and f.o.clear is fwd[(i + 1) % count].o.slot
        assert f.down.clear is fwd[(i + 1) % count].down.slot
        assert torch.equal(f.o.pre_scale, scaled(p.post_norm, p.gate_up.packed))
        assert torch.equal(f.down.pre_scale, scaled(nxt.input_norm, nxt.qkv.packed))
        assert f.o.pre_scale.dtype == f.down.pre_scale.dtype == torch.float32
    slots = [s for f in fwd for s in f.slots()]
    assert len({id(s) for s in slots}) == 3 * count and not any(s.any() for s in slots)
    assert label == gate_up_label.replace(ROW_MAX_LABEL, forward_label(fwd[0]))
    assert label.endswith(FORWARD_NOTE)


def test_forwarded_maxima_only_where_every_qkv_is_w8a8(tiny_fp32, monkeypatch):
    """A model whose q/k/v is not W8A8 in every layer keeps ``gate_up``'s slots without forwarded maxima (a W8A8
    model with its q_proj kept in BF16: q/k/v then runs as modules); int8 weight-only MLPs have no slots at all."""
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "forward")
    layers = build_packs(Engine(quantized_copy(tiny_fp32, "int8_wo")).decoder)[0]
    assert all(p.row_max is None and p.forward is None for p in layers)
    layers = build_packs(Engine(quantized_copy(tiny_fp32, "fp8+keep=q_proj")).decoder)[0]
    assert all(p.row_max is not None and p.forward is None for p in layers)


def test_no_forwarded_maxima_where_no_tile_would_use_them(tiny_fp32, monkeypatch):
    """Where q/k/v's and gate/up's one-row tiles normalize their rows first (here: every W8A8 row, the prologue's
    work limit at 0 -- as on the 7b, the rule's ``normalize_rows``), ``forward`` is ``gate_up``'s form: no rings,
    no gathers, the label without the note."""
    import vlmq.engine.kernels.gemv as gemv_module

    loaded = quantized_copy(tiny_fp32, "fp8")
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "gate_up")
    _, _, gate_up_label = build_packs(Engine(loaded).decoder)
    monkeypatch.setattr(gemv_module, "ROW_PROLOGUE_MAX_WORK", 0)
    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", "forward")
    layers, _, label = build_packs(Engine(loaded).decoder)
    assert all(p.row_max is not None and p.forward is None for p in layers) and label == gate_up_label
