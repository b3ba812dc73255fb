"""vlmq's quantized linear: the deployable tensors of one decoder linear, computed by the engine's ops.

A recipe replaces a decoder ``nn.Linear`` by one of these modules; each holds exactly the tensors a
serving engine loads (compressed-tensors' layouts) and a frozen ``LinearFormat`` the engine reads:

- ``W8Linear``: int8 or FP8 E4M3 weights ``[N, K]`` with one float32 scale per output row
  (``weight_scale [N]``; a per-tensor scale is stored repeated), activations in BF16 (W8A16) or
  quantized per token / per tensor, dynamically, to int8 or FP8 (W8A8). Computed by
  ``vlmq::w8_linear`` after ``quantize_activation``.
- ``W4Linear``: int4 group-wise, packed eight to an int32 along K (``engine/kernels/w4.py``), with
  ``weight_scale [N, K // group]`` in the model dtype and integer ``weight_zero_point`` (asymmetric) or
  none (symmetric). Computed by ``vlmq::w4a16_linear``.
- ``NVFP4Linear``: torchao's ``NVFP4Tensor`` (real only on sm100), the "module" path: the engine calls
  the module as it is.

The compiled engine's fused projections (``engine/projections.py``) call the same functions
(``w8_matmul`` / ``w4a16_linear``) on concatenated tensors, so eager and compiled paths run one arithmetic.
Where a format's hardware is missing (FP8 on a CPU or an A100) the op's pure-torch reference runs the
same numerics, and the recipe is labelled ``emulated``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vlmq.engine.kernels import dequantize_int4, quantize_activation, w4a16_linear, w8_linear, w8_linear_reference
from vlmq.engine.qformat import W8_ACTIVATION_MODES, LinearFormat, runs_real_on
from vlmq.models.layout import decoder_layers, tensor_bytes


# ----- the arithmetic (shared with the fused projections) -------------------------------------------
def quantize_input(
    x2d: torch.Tensor, activation: str, granularity: str | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[M, K] activations as an 8-bit matmul reads them: (values, per-row scale or None).

    Per-tensor: one dynamic scale for the whole [M, K] block (quantized as a single row), repeated per row.
    """
    mode = W8_ACTIVATION_MODES[activation]
    if granularity != "tensor":
        return quantize_activation(x2d, mode)
    q, scale = quantize_activation(x2d.reshape(1, -1), mode)
    return q.view(x2d.shape), scale.expand(x2d.shape[0]).contiguous()


def w8_matmul(
    x2d: torch.Tensor,
    qweight: torch.Tensor,
    wscale: torch.Tensor,
    bias: torch.Tensor | None,
    fmt: LinearFormat,
    reference: bool,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """y[M, N] of a ``w8`` format; ``reference`` runs the op's pure-torch arithmetic (no hardware for it)."""
    xq, xscale = quantize_input(x2d, fmt.activation, fmt.activation_granularity)
    op = w8_linear_reference if reference else w8_linear
    return op(xq, qweight, wscale, xscale, bias, out_dtype)


def fake_quantize_input(x: torch.Tensor, fmt: LinearFormat) -> torch.Tensor:
    """Activations rounded through ``fmt``'s activation format and back (the emulated module path)."""
    if fmt.activation == "nvfp4":
        return nvfp4_round_trip(x)
    if fmt.activation == "bf16":
        return x
    x2d = x.reshape(-1, x.shape[-1])
    q, scale = quantize_input(x2d, fmt.activation, fmt.activation_granularity)
    return (q.float() * scale[:, None]).to(x.dtype).view(x.shape)


def nvfp4_round_trip(x: torch.Tensor) -> torch.Tensor:
    """Emulated NVFP4 activations: torchao's E2M1 + per-16 E4M3 block scales + FP32 global scale, then back."""
    from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale

    flat = x.reshape(-1, x.shape[-1]).contiguous()
    global_scale = per_tensor_amax_to_scale(flat.abs().amax().float())
    return NVFP4Tensor.to_nvfp4(flat, per_tensor_scale=global_scale).dequantize(x.dtype).reshape(x.shape)


# ----- the modules -----------------------------------------------------------------------------------
class QuantizedLinear(nn.Module):
    """Base of vlmq's quantized linears: shapes, bias (a parameter, as in ``nn.Linear``) and the format."""

    format: LinearFormat
    stored_names: tuple[str, ...] = ()  # the deployable tensors (buffers) besides the bias

    def __init__(self, in_features: int, out_features: int, fmt: LinearFormat, bias: torch.Tensor | None):
        super().__init__()
        self.in_features, self.out_features, self.format = in_features, out_features, fmt
        self.bias = nn.Parameter(bias.detach(), requires_grad=False) if bias is not None else None

    def stored_tensors(self) -> dict[str, torch.Tensor]:
        return {n: t for n in self.stored_names if (t := getattr(self, n)) is not None}

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The [N, K] weight the stored tensors stand for (what a loader that dequantizes holds)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, format={self.format.name}"

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, self.in_features)

    def _unflat(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y.view(*x.shape[:-1], self.out_features)


class W8Linear(QuantizedLinear):
    """int8 / FP8 weights with float32 per-row scales; W8A16 or W8A8 with dynamic activations."""

    stored_names = ("qweight", "weight_scale")

    def __init__(self, qweight: torch.Tensor, weight_scale: torch.Tensor, bias: torch.Tensor | None, fmt: LinearFormat):
        """``weight_scale`` [N] or [1] in the dtype a checkpoint stores it in (``scale_dtype``); held as float32."""
        if fmt.op != "w8" or qweight.dtype not in (torch.int8, torch.float8_e4m3fn):
            raise ValueError(f"W8Linear holds 8-bit weights of a w8 format, not {fmt.name} / {qweight.dtype}")
        super().__init__(qweight.shape[1], qweight.shape[0], fmt, bias)
        self.register_buffer("qweight", qweight.contiguous())
        self.register_buffer("weight_scale", weight_scale.float().reshape(-1).expand(qweight.shape[0]).contiguous())
        self.scale_dtype = weight_scale.dtype
        self.reference = not runs_real_on(fmt, qweight.device)  # e.g. FP8 on an A100: the reference arithmetic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = w8_matmul(self._flat(x), self.qweight, self.weight_scale, self.bias, self.format, self.reference, x.dtype)
        return self._unflat(y, x)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return (self.qweight.float() * self.weight_scale[:, None]).to(dtype or self.scale_dtype)


class W4Linear(QuantizedLinear):
    """int4 group-wise weights, packed (compressed-tensors pack-quantized), integer zero points or symmetric."""

    stored_names = ("qweight", "weight_scale", "weight_zero_point")

    def __init__(
        self,
        qweight: torch.Tensor,
        weight_scale: torch.Tensor,
        weight_zero_point: torch.Tensor | None,
        bias: torch.Tensor | None,
        fmt: LinearFormat,
    ):
        if fmt.op != "w4" or qweight.dtype != torch.int32 or (weight_zero_point is None) != fmt.symmetric:
            raise ValueError(f"W4Linear holds packed int4 weights (zero points iff asymmetric), not {fmt.name}")
        super().__init__(qweight.shape[1] * 8, qweight.shape[0], fmt, bias)
        self.register_buffer("qweight", qweight.contiguous())
        self.register_buffer("weight_scale", weight_scale.contiguous())
        self.register_buffer("weight_zero_point", None if weight_zero_point is None else weight_zero_point.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = w4a16_linear(
            self._flat(x),
            self.qweight,
            self.weight_scale,
            self.weight_zero_point,
            self.format.group_size,
            self.bias,
            x.dtype,
        )
        return self._unflat(y, x)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return dequantize_int4(
            self.qweight,
            self.weight_scale,
            self.weight_zero_point,
            self.format.group_size,
            dtype or self.weight_scale.dtype,
        )


class NVFP4Linear(QuantizedLinear):
    """torchao NVFP4 weights (the module path). ``real``: torchao's W4A4 kernel (sm100; the weight carries
    its activation quantization); otherwise the activations are rounded through the format here."""

    stored_names = ("weight",)

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, fmt: LinearFormat, real: bool):
        if fmt.weight != "nvfp4":
            raise ValueError(f"NVFP4Linear holds NVFP4 weights, not {fmt.name}")
        super().__init__(weight.shape[1], weight.shape[0], fmt, bias)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.real = real

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x if self.real else fake_quantize_input(x, self.format), self.weight, self.bias)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return self.weight.dequantize(dtype or self.weight.dtype)


# ----- the protocol and the accounting ---------------------------------------------------------------
def linear_format(module: nn.Module) -> LinearFormat | None:
    """What the engine asks a linear: its ``LinearFormat``, or None for a plain float ``nn.Linear``."""
    return module.format if isinstance(module, QuantizedLinear) else None


def is_linear(module: nn.Module) -> bool:
    return isinstance(module, (nn.Linear, QuantizedLinear))


def linear_weight_bytes(module: nn.Module) -> int:
    """Bytes stored for a linear's weight: values plus scales and zero points (not the bias)."""
    if isinstance(module, QuantizedLinear):
        return sum(tensor_bytes(t) for t in module.stored_tensors().values())
    return tensor_bytes(module.weight)


def format_label(module: nn.Module) -> str:
    """The format name of a quantized linear, else the float dtype (``bfloat16``)."""
    fmt = linear_format(module)
    return fmt.name if fmt is not None else str(module.weight.dtype).removeprefix("torch.")


def decoder_linears(model: nn.Module, include_lm_head: bool = False) -> list[tuple[str, nn.Module]]:
    """(name, module) of every linear in the text decoder's layers (float or quantized), plus lm_head if asked."""
    inside = {id(m) for m in decoder_layers(model).modules()}
    found = [(fqn, m) for fqn, m in model.named_modules() if id(m) in inside and is_linear(m)]
    head = getattr(model, "lm_head", None)
    if include_lm_head and head is not None and is_linear(head):
        found.append(("lm_head", head))
    return found


def decoder_weight_bytes(model: nn.Module, include_lm_head: bool = False) -> int:
    """Real stored bytes of the decoder's linears (weights incl. scales, plus biases): the bandwidth bound."""
    return sum(linear_weight_bytes(m) + tensor_bytes(m.bias) for _, m in decoder_linears(model, include_lm_head))


def weight_formats(model: nn.Module, include_lm_head: bool = False) -> dict:
    """Per stored format: linears, parameters, bytes and bytes per parameter (to check against theory)."""
    formats: dict = {}
    for _, module in decoder_linears(model, include_lm_head):
        entry = formats.setdefault(format_label(module), {"linears": 0, "params": 0, "bytes": 0})
        entry["linears"] += 1
        entry["params"] += module.in_features * module.out_features
        entry["bytes"] += linear_weight_bytes(module)
    for entry in formats.values():
        entry["bytes_per_param"] = entry["bytes"] / entry["params"]
    return formats
