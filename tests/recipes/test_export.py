"""``vlmq export``: the checkpoint is the measured model, loadable where users serve it (no GPU, no vLLM needed).

Verification as issue 15 asks: compressed-tensors' own schema; transformers' compressed-tensors integration
loads the export and every decoder weight equals vlmq's dequantized weight; logits match vlmq's in-memory
model; no vision module carries a scheme; no missing or unexpected keys; the ignore list against vLLM's
Qwen2-VL prefix mapping (written down here, not imported).
"""

import json
import re

import pytest
import torch

from vlmq.errors import VlmqError
from vlmq.models import load_model
from vlmq.recipes import parse_recipe
from vlmq.recipes.export import ExportCalibration, export_checkpoint, export_refusal, quantize_for_export, write_export

pytest.importorskip("compressed_tensors")

CALIB = ExportCalibration(n=4, languages=("en", "de"))

# recipe -> (config-group formats, transformers load route, logits tolerance as a share of max |logit|).
# dequantize=True is transformers' route for one scheme; it decompresses every dense layer with the first group,
# so a mixed-precision export loads through the compressed route (dequantize=False). The compressed route of
# transformers 5.24 + compressed-tensors 0.20 mis-shapes packed zero points (asymmetric int4): dequantize=True there.
CT_CASES = {
    "int8_wo": (["pack-quantized"], True, 0.01),
    "int4_wo+group=32": (["pack-quantized"], True, 0.01),
    "int4_awq+group=32+sym": (["pack-quantized"], True, 0.01),
    "smoothquant": (["int-quantized"], True, 0.02),
    "fp8": (["float-quantized"], True, 0.05),
    "fp8+gran=tensor+kv_fp8": (["float-quantized"], True, 0.05),
    "bf16+kv_fp8_head": ([], True, 1e-6),
    # W4A4: the export's activation global scale is static (calibrated), vlmq's is dynamic per call (measured 11%)
    "nvfp4": (["nvfp4-pack-quantized"], False, 0.2),
    "int4_wo+group=32+sym+keep8=0": (["pack-quantized", "pack-quantized"], False, 0.01),
    "int8_wo+keep=1": (["pack-quantized"], True, 0.01),
}
KV_KEYS = re.compile(r".*self_attn\.(k|v)_scale$")

# vLLM's Qwen2VLForConditionalGeneration.hf_to_vllm_mapper (vllm/model_executor/models/qwen2_vl.py), prefix form
VLLM_QWEN2_VL_PREFIXES = {
    "model.language_model.": "language_model.model.",
    "model.visual.": "visual.",
    "lm_head.": "language_model.lm_head.",
    "model.": "language_model.model.",
}


def vllm_name(checkpoint_name: str) -> str:
    for old, new in VLLM_QWEN2_VL_PREFIXES.items():
        if checkpoint_name.startswith(old):
            return new + checkpoint_name[len(old) :]
    return checkpoint_name


def matches(name: str, entries: list[str]) -> bool:
    """compressed-tensors' and vLLM's rule for ignore/targets entries: ``re:`` = re.match, else the exact name."""
    return any(re.match(e[3:], name) if e.startswith("re:") else e == name for e in entries)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Each case exported once: (the quantized in-memory model, the export folder)."""
    made = {}

    def make(recipe: str, fmt: str = "compressed-tensors"):
        if (recipe, fmt) not in made:
            loaded = load_model("tiny")
            spec = parse_recipe(recipe)
            quantized = quantize_for_export(loaded, spec, CALIB)
            reference = {
                fqn: m.dequantize(torch.bfloat16) for fqn, m in loaded.model.named_modules() if hasattr(m, "format")
            }
            ids = torch.randint(7, 500, (2, 16), generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                logits = loaded.model(input_ids=ids).logits.float()
            out = write_export(loaded, spec, quantized, tmp_path_factory.mktemp("export") / "ckpt", fmt=fmt)
            made[(recipe, fmt)] = (reference, ids, logits, out, quantized)
        return made[(recipe, fmt)]

    return make


def load_export(out, dequantize: bool | None):
    from transformers import Qwen2VLForConditionalGeneration
    from transformers.utils.quantization_config import CompressedTensorsConfig

    kwargs = {} if dequantize is None else {"quantization_config": CompressedTensorsConfig(dequantize=dequantize)}
    return Qwen2VLForConditionalGeneration.from_pretrained(
        out, dtype=torch.bfloat16, output_loading_info=True, **kwargs
    )


@pytest.mark.parametrize("recipe", list(CT_CASES))
def test_config_validates_with_compressed_tensors_schema(exports, recipe):
    from compressed_tensors.quantization import QuantizationConfig

    _, _, _, out, _ = exports(recipe)
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    parsed = QuantizationConfig.model_validate(config)
    assert config["quant_method"] == "compressed-tensors" and config["quantization_status"] == "compressed"
    assert [g.format for g in parsed.config_groups.values()] == CT_CASES[recipe][0]
    assert {"re:.*visual.*", "re:.*lm_head"} <= set(parsed.ignore)
    spec = parse_recipe(recipe)
    assert (parsed.kv_cache_scheme is not None) == (spec.kv.dtype == "fp8")
    if spec.kv.dtype == "fp8":
        expected = "attn_head" if spec.kv.strategy == "per_head" else "tensor"
        assert (parsed.kv_cache_scheme.strategy, parsed.kv_cache_scheme.dynamic) == (expected, False)
    if recipe.startswith("int4_wo+group=32") and "sym" not in recipe:
        assert config["config_groups"]["group_0"]["weights"]["symmetric"] is False


@pytest.mark.parametrize("recipe", list(CT_CASES))
def test_transformers_loads_the_measured_weights_and_logits(exports, recipe):
    reference, ids, logits, out, _ = exports(recipe)
    _, dequantize, tolerance = CT_CASES[recipe]
    model, info = load_export(out, dequantize)
    assert not info["missing_keys"] and not info["mismatched_keys"]
    # transformers 5.24 drops k_scale / v_scale as unexpected (compressed-tensors looks for a renamed argument)
    assert all(KV_KEYS.match(k) for k in info["unexpected_keys"]), info["unexpected_keys"]
    with torch.no_grad():  # (the compressed route decompresses the weights on the first forward)
        got = model(input_ids=ids).logits.float()
    assert (got - logits).abs().max() <= tolerance * logits.abs().max(), (got - logits).abs().max()
    for fqn, weight in reference.items():
        loaded = model.get_submodule(fqn).weight.float()
        if recipe.startswith("nvfp4"):  # scale / global vs torchao's scale * (1 / global): at most one BF16 ulp
            assert ((loaded - weight.float()).abs() <= weight.float().abs() * 2**-7 + 1e-12).all(), fqn
        else:
            assert torch.equal(loaded, weight.float()), fqn


@pytest.mark.parametrize("recipe", list(CT_CASES))
def test_no_vision_module_and_no_kept_linear_carries_a_scheme(exports, recipe):
    from compressed_tensors.quantization import QuantizationConfig, apply_quantization_config

    _, _, _, out, _ = exports(recipe)
    config = QuantizationConfig.model_validate(json.loads((out / "config.json").read_text())["quantization_config"])
    model = load_model("tiny").model
    apply_quantization_config(model, config)
    spec = parse_recipe(recipe)
    for fqn, module in model.named_modules():
        scheme = getattr(module, "quantization_scheme", None)
        if "visual" in fqn or fqn == "lm_head":
            assert scheme is None, fqn
        elif isinstance(module, torch.nn.Linear):
            kept = spec.keep_layers and f"layers.{spec.keep_layers[0]}." in fqn and not spec.keep_8bit
            assert (scheme is not None) == (spec.linear_format is not None and not kept), fqn


def test_ignore_list_keeps_vision_and_lm_head_out_under_every_naming(exports):
    """In-memory transformers names, checkpoint names and vLLM's names (after its Qwen2-VL prefix mapping)."""
    from safetensors import safe_open

    _, _, _, out, _ = exports("int8_wo")
    ignore = json.loads((out / "config.json").read_text())["quantization_config"]["ignore"]
    with safe_open(out / "model.safetensors", "pt") as f:
        checkpoint = sorted({k.rsplit(".", 1)[0] for k in f.keys()})
    memory = [fqn for fqn, _ in load_model("tiny").model.named_modules() if fqn]
    for names in (checkpoint, memory, [vllm_name(n) for n in checkpoint]):
        vision = [n for n in names if "visual" in n]
        decoder = [n for n in names if re.search(r"layers\.\d+\.(self_attn|mlp)\.\w+_proj$", n)]
        heads = [n for n in names if n.endswith("lm_head")]
        assert vision and decoder and heads
        assert all(matches(n, ignore) for n in vision + heads)
        assert not any(matches(n, ignore) for n in decoder)
    assert vllm_name("model.layers.0.self_attn.q_proj") == "language_model.model.layers.0.self_attn.q_proj"


def test_kv_scales_are_written_under_self_attn(exports):
    from safetensors import safe_open

    _, _, _, out, quantized = exports("fp8+gran=tensor+kv_fp8")
    with safe_open(out / "model.safetensors", "pt") as f:
        k0 = f.get_tensor("model.layers.0.self_attn.k_scale")
        assert "model.layers.1.self_attn.v_scale" in f.keys()
    assert k0.dtype == torch.float32 and k0.shape == (1,)
    assert torch.equal(k0, quantized["kv"].scales.k[0, :1])


@pytest.mark.parametrize("recipe", ["int8_wo", "int4_wo+group=32", "int4_wo+group=32+sym", "smoothquant", "fp8"])
def test_torchao_export_holds_the_measured_weights(exports, recipe):
    reference, ids, logits, out, _ = exports(recipe, "torchao")
    model, info = load_export(out, None)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert json.loads((out / "config.json").read_text())["quantization_config"]["quant_method"] == "torchao"
    for fqn, weight in reference.items():
        assert torch.equal(model.get_submodule(fqn).weight.dequantize().float(), weight.float()), fqn
    with torch.no_grad():
        got = model(input_ids=ids).logits.float()
    assert (got - logits).abs().max() <= 0.05 * logits.abs().max()


def test_model_card_and_processing_files(exports):
    from vlmq import __version__

    _, _, _, out, _ = exports("smoothquant")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert "`smoothquant`" in card and f"vlmq {__version__}" in card and "4 prompts from builtin" in card
    assert json.loads((out / "vlmq_export.json").read_text())["summary"]["calibration"]["n"] == 4


def test_model_card_quotes_the_runs_headline_figures():
    from vlmq.recipes.export import model_card

    summary = {
        "wxa": "W8A16",
        "granularity": "per-channel",
        "formats": {"int8/channel": {}},
        "calibration": None,
        "kv": {"dtype": "bf16", "strategy": "static"},
        "kernel": "real",
        "device_class": "sm90",
    }
    records = [
        {
            "recipe": "int8_wo",
            "task": "vqav2",
            "metric": "accuracy",
            "value": 0.781,
            "ci_low": 0.77,
            "ci_high": 0.79,
            "kernel": "real",
            "device": "H200",
        },
        {"recipe": "bf16", "task": "vqav2", "metric": "accuracy", "value": 0.79},
        {"recipe": "int8_wo", "task": "pope/random", "metric": "f1", "value": 0.5},
    ]
    card = model_card(
        {
            "model": "m",
            "recipe": "int8_wo",
            "format": "compressed-tensors",
            "vlmq_version": "0",
            "summary": summary,
            "kv_calibration": None,
        },
        records,
    )
    assert "| vqav2 | accuracy | 0.781 | [0.77, 0.79] | real | H200 |" in card
    assert card.count("| vqav2 |") == 1 and "pope/random" not in card  # another recipe's row; a sub-split


@pytest.mark.parametrize(
    "recipe, fragment",
    [
        ("fp8+kv_fp8_vis", "separate K/V scales for visual tokens"),
        ("fp8+kv_fp8_dyn", "per token at run time"),
        ("fp8+fp8_attention", "emulated study path"),
        ("nvfp4+act=fp8", "no compressed-tensors scheme"),
        ("int4_wo+keep=k_proj", "vLLM fuses into one linear"),
        ("int8_wo+keep=gate_proj:3", "gate_proj/up_proj"),
        ("int8_wo+lm_head", "keeps lm_head in BF16"),
        ("bf16", "quantizes nothing"),
    ],
)
def test_inexpressible_recipes_are_refused_with_one_line(recipe, fragment):
    reason = export_refusal(parse_recipe(recipe), "compressed-tensors")
    assert reason and fragment in reason and "\n" not in reason
    with pytest.raises(VlmqError, match=f"cannot export '{re.escape(recipe)}' as compressed-tensors"):
        export_checkpoint("tiny", recipe, "/nonexistent/never-written")


def test_allowed_recipes_are_not_refused():
    for name in ("int4_wo+keep=q_proj:k_proj:v_proj", "int8_wo+keep=0", "fp8+kv_fp8_text", "bf16+kv_fp8"):
        assert export_refusal(parse_recipe(name), "compressed-tensors") is None, name
    assert "KV-cache scales" in export_refusal(parse_recipe("fp8+kv_fp8"), "torchao")
    assert "mixed precision" in export_refusal(parse_recipe("int8_wo+keep=0"), "torchao")


def test_bad_inputs_fail_before_anything_is_written(tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "x").write_text("keep me")
    with pytest.raises(VlmqError, match="is not empty; pass --force"):
        export_checkpoint("tiny", "int8_wo", occupied)
    assert (occupied / "x").read_text() == "keep me"
    with pytest.raises(VlmqError, match="unknown export format 'gguf'; choose from: compressed-tensors, torchao"):
        export_checkpoint("tiny", "int8_wo", tmp_path / "a", fmt="gguf")
    with pytest.raises(VlmqError, match="unknown recipe 'int3'"):
        export_checkpoint("tiny", "int3", tmp_path / "b")
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(VlmqError, match="model family 'llama' is not supported"):
        export_checkpoint(str(llama), "int8_wo", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llama", "occupied"]


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from transformers import PreTrainedModel

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", broken)
    with pytest.raises(OSError, match="disk full"):
        export_checkpoint("tiny", "int8_wo", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_an_earlier_export(tmp_path):
    out = tmp_path / "out"
    export_checkpoint("tiny", "int8_wo", out)
    export_checkpoint("tiny", "int4_wo+group=32", out, force=True)
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert config["config_groups"]["group_0"]["weights"]["num_bits"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_cli_export(tmp_path, capsys):
    from vlmq.cli import main

    out = tmp_path / "cli"
    assert main(["export", "--model", "tiny", "--recipe", "int8_wo", "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and f"export: {out}" in capsys.readouterr().out
    assert main(["export", "--model", "tiny", "--recipe", "int8_wo", "--out", str(out)]) == 2
    assert "is not empty; pass --force" in capsys.readouterr().err
