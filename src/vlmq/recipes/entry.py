"""What a recipe is, as data: ``Recipe`` (the description records carry) and ``RecipeEntry`` (the registry's
unit: the recipe's options as its own frozen dataclass, its ``+key=value`` switches, its description and
its apply function). Each recipe module (weight_only.py, smoothquant.py, awq.py, fp8.py, nvfp4.py)
defines its entries; registry.py collects them and owns the name grammar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vlmq.engine.qformat import DEVICE_CLASSES, LinearFormat
from vlmq.errors import VlmqError

_BITS = {"bf16": 16, "int8": 8, "fp8_e4m3": 8, "int4": 4, "nvfp4": 4}


@dataclass(frozen=True)
class Recipe:
    """One quantization scheme for the text decoder's linear layers, as records and tables describe it."""

    name: str
    weight: str  # storage format of decoder linear weights
    activation: str  # format the activations reach the matmul in
    granularity: str
    needs_calibration: bool
    real_on: tuple[str, ...]  # device classes where real low-precision kernels run it
    description: str
    emulated_elsewhere: bool = False  # True: runs with the same numerics, labelled emulated, where no kernel exists

    @property
    def wxa(self) -> str:
        return f"W{_BITS[self.weight]}A{_BITS[self.activation]}"


@dataclass(frozen=True)
class NoOptions:
    """A recipe without options of its own."""


@dataclass(frozen=True)
class Option:
    """One ``+key=value`` switch of a recipe (``flag``: the switch is just ``+key`` and sets ``flag``)."""

    key: str
    field: str  # the options dataclass field it sets
    help: str
    parse: Callable[[str], Any] | None = None  # value -> field value; raises VlmqError naming the fix
    flag: Any = None

    @property
    def is_flag(self) -> bool:
        return self.parse is None

    @property
    def switch(self) -> str:
        return self.key if self.is_flag else f"{self.key}=<value>"


@dataclass(frozen=True)
class RecipeEntry:
    """A registered recipe: everything about it in one place."""

    name: str
    description: str
    options: type = NoOptions  # frozen dataclass; its defaults are the recipe's defaults
    switches: tuple[Option, ...] = ()
    linear_format: Callable[[Any], LinearFormat | None] = lambda options: None  # None: decoder stays float
    granularity: Callable[[Any], str] = lambda options: "-"
    # (ApplyContext) -> None: quantizes ctx.model in place; None: every target linear becomes vlmq's quantized
    # linear in linear_format(options) (nothing for a float recipe)
    apply: Callable[[Any], None] | None = None
    needs_calibration: bool = False

    def describe(self, options) -> Recipe:
        """Pure: the ``Recipe`` these options make (formats and where they run come from the linear format)."""
        fmt = self.linear_format(options)
        weight, activation = (fmt.weight, fmt.activation) if fmt is not None else ("bf16", "bf16")
        real_on = fmt.real_on if fmt is not None else DEVICE_CLASSES
        return Recipe(
            self.name,
            weight,
            activation,
            self.granularity(options),
            self.needs_calibration,
            real_on,
            self.description,
            emulated_elsewhere=real_on != DEVICE_CLASSES,
        )


def parse_number(key: str, kind, valid, help_: str):
    """``+key=value`` parser for a number ``kind`` that must satisfy ``valid``."""

    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or not valid(number):
            raise VlmqError(f"bad value {key}={value!r}; {help_}")
        return number

    return parse


def parse_choice(key: str, choices: tuple[str, ...]):
    def parse(value: str) -> str:
        if value not in choices:
            raise VlmqError(f"bad value {key}={value!r}; choose from: {', '.join(choices)}")
        return value

    return parse


def choice_option(key: str, field: str, help_: str, choices: tuple[str, ...]) -> Option:
    """A ``+key=value`` switch whose value must be one of ``choices``."""
    return Option(key, field, help_, parse_choice(key, choices))
