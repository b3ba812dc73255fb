"""What a quantized linear is: the small frozen descriptor the engine asks every weight for.

The engine never looks at a weight's class (torchao's or anyone's) to decide how to run it: it reads
the ``LinearFormat`` of a ``vlmq.engine.qlinear.QuantizedLinear`` (``linear_format(module)``), which
names the stored format, the activation format and the engine op that computes it. A plain float
``nn.Linear`` has no format (``None``).

Device classes (``cpu``, ``sm80`` A100, ``sm89`` Ada, ``sm90`` H100/H200, ``sm100`` Blackwell) say
where a format's arithmetic runs on real low-precision hardware; elsewhere the same arithmetic runs
through the ops' pure-torch references and is labelled ``emulated``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vlmq.device import device_class

DEVICE_CLASSES = ("cpu", "sm80", "sm89", "sm90", "sm100")
_FP8_CLASSES = ("sm89", "sm90", "sm100")

WEIGHT_FORMATS = ("int8", "fp8_e4m3", "int4", "nvfp4")
ACTIVATION_FORMATS = ("bf16", "int8", "fp8_e4m3", "nvfp4")
# activation format -> the mode of vlmq.engine.kernels.quantize_activation / w8_linear
W8_ACTIVATION_MODES = {"bf16": "bf16", "int8": "int8", "fp8_e4m3": "fp8"}


@dataclass(frozen=True)
class LinearFormat:
    """The stored weight format of one linear and how its activations reach the matmul.

    ``weight_granularity``: ``channel`` (one scale per output row), ``tensor``, ``group`` (``group_size``
    input columns per scale) or ``block16`` (NVFP4). Low-precision activations are always quantized
    dynamically, per ``token`` or per ``tensor`` (``activation_granularity``).
    """

    weight: str
    weight_granularity: str
    activation: str = "bf16"
    activation_granularity: str | None = None
    group_size: int | None = None
    symmetric: bool = True

    def __post_init__(self):
        if self.weight not in WEIGHT_FORMATS or self.activation not in ACTIVATION_FORMATS:
            raise ValueError(f"unknown linear format {self.weight}/{self.activation}")
        if (self.activation == "bf16") != (self.activation_granularity is None):
            raise ValueError("low-precision activations need a granularity (token|tensor); bf16 ones none")

    @property
    def op(self) -> str:
        """The engine op that computes it: ``w8`` (vlmq::w8_linear), ``w4`` (vlmq::w4a16_linear) or
        ``module`` (the module's own forward, e.g. torchao NVFP4)."""
        if self.weight in ("int8", "fp8_e4m3") and self.activation in W8_ACTIVATION_MODES:
            return "w8"
        if self.weight == "int4" and self.activation == "bf16":
            return "w4"
        return "module"

    @property
    def a_mode(self) -> str | None:
        """``quantize_activation`` mode of a ``w8`` format."""
        return W8_ACTIVATION_MODES.get(self.activation) if self.op == "w8" else None

    @property
    def real_on(self) -> tuple[str, ...]:
        """Device classes with hardware for this arithmetic; elsewhere it is emulated (same numerics)."""
        if self.weight == "nvfp4":
            return ("sm100",) if self.activation == "nvfp4" else ()
        if "fp8_e4m3" in (self.weight, self.activation):
            return _FP8_CLASSES
        return DEVICE_CLASSES

    @property
    def name(self) -> str:
        """Short stable text, e.g. ``int4/g128/asym``, ``int8/channel+int8/token`` (summaries key on it)."""
        weight = (
            f"{self.weight}/g{self.group_size}"
            if self.weight_granularity == "group"
            else f"{self.weight}/{self.weight_granularity}"
        )
        if not self.symmetric:
            weight += "/asym"
        return weight if self.activation == "bf16" else f"{weight}+{self.activation}/{self.activation_granularity}"

    @property
    def bits(self) -> tuple[int, int]:
        """(weight bits, activation bits): the WxA label."""
        width = {"bf16": 16, "int8": 8, "fp8_e4m3": 8, "int4": 4, "nvfp4": 4}
        return width[self.weight], width[self.activation]


def runs_real_on(fmt: LinearFormat | None, device: torch.device | str) -> bool:
    """True where ``fmt``'s arithmetic runs on real hardware on ``device`` (a float linear always does)."""
    return fmt is None or device_class(device) in fmt.real_on
