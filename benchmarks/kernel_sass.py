"""What the GPU compiler makes of a Triton kernel, on a machine without a GPU: a kernel launched with CPU tensors
against a ``Recorder`` (nothing runs), then compiled for sm_90 with that launch's arguments and options, its SASS
disassembled and its resource usage read (Triton bundles ptxas, nvdisasm and cuobjdump). Shared by
tests/engine/test_kernels_sass.py (what the machine code does) and gemv_registers.py (registers and residency)."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import subprocess
import tempfile
from typing import NamedTuple

import torch

# launch options compiled with the kernel (``maxnreg``: a register cap, for what-if compiles)
OPTIONS = (
    "num_warps", "num_stages", "num_ctas", "enable_fp_fusion", "launch_pdl", "launch_cooperative_grid", "maxnreg",
)  # fmt: skip
# an H100 / H200 SM: registers, warps and blocks it holds at once; registers are allocated 256 a warp
SM_REGISTERS, SM_WARPS, SM_BLOCKS, REGISTER_UNIT = 65536, 64, 32, 256
# sm_90's shared memory an SM holds for blocks, and what the driver keeps of it a block (CUDA guide, compute 9.0)
SM_SHARED, BLOCK_SHARED_RESERVED = 228 * 1024, 1024
SMS = 132  # the H200's SMs


class Recorder:
    """Stands in for a JIT kernel: ``kernel[grid](*args, **kwargs)`` records the call instead of running it."""

    def __init__(self, kernel):
        self.kernel, self.calls, self.grids = kernel, [], []  # grids[i]: the launch grid of calls[i]

    def __getitem__(self, grid):
        def record(*args, **kwargs):
            self.calls.append((args, kwargs))
            self.grids.append(tuple(grid))

        return record


@contextlib.contextmanager
def recording(module, *names: str):
    """Inside, each kernel ``names`` of ``module`` is a ``Recorder`` (the launchers read the module's names at call
    time), yielded in that order; after, the kernels are back."""
    real = [getattr(module, name) for name in names]
    recorders = [Recorder(kernel) for kernel in real]
    for name, recorder in zip(names, recorders):
        setattr(module, name, recorder)
    try:
        yield recorders
    finally:
        for name, kernel in zip(names, real):
            setattr(module, name, kernel)


class Compiled(NamedTuple):
    ptx: str
    sass: str
    registers: int  # a thread's, as the cubin declares them
    local_bytes: int  # a thread's local memory: its stack (register spills) and local arrays
    shared_bytes: int = 0  # a block's shared memory (Triton's, dynamic), as the compile reports it


def divisible_by_16(value) -> bool:
    """What a launch specializes on (Triton's JIT): pointers aligned to 16 bytes and integers divisible by 16 are
    marked so, which lets the compiler vectorize loads (without it the SASS is not what the GPU runs)."""
    if isinstance(value, torch.Tensor):
        return value.data_ptr() % 16 == 0
    return isinstance(value, int) and not isinstance(value, bool) and value % 16 == 0


def compile_kernel(kernel, args, kwargs) -> Compiled:
    """``kernel`` compiled for sm_90, specialised for one recorded launch (``Recorder.calls``)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import mangle_type

    bound = dict(zip(kernel.arg_names, args)) | {k: v for k, v in kwargs.items() if k not in OPTIONS}
    if "CUDA" in bound:  # recorded with CPU tensors: compile what a launch on the GPU compiles
        bound["CUDA"] = True
    signature, constants, attrs = {}, {}, {}
    for i, param in enumerate(kernel.params):
        value = bound[param.name] if param.name in bound or not param.has_default else param.default
        if param.is_constexpr:
            signature[param.name], constants[(i,)] = "constexpr", value
        else:
            signature[param.name] = mangle_type(value)
            if isinstance(value, tuple):  # a tuple's 1s are constexprs, as the JIT specializes them: give their values
                constants |= {
                    (i, j): v for j, (t, v) in enumerate(zip(signature[param.name], value)) if t == "constexpr"
                }
            if param.do_not_specialize:
                continue
            if divisible_by_16(value):
                attrs[(i,)] = [["tt.divisibility", 16]]
            elif isinstance(value, tuple):  # the JIT specializes a tuple's elements one by one (path (i, j))
                attrs |= {(i, j): [["tt.divisibility", 16]] for j, v in enumerate(value) if divisible_by_16(v)}
    options = {k: v for k, v in kwargs.items() if k in OPTIONS and not k.startswith("launch_")}
    compiled = triton.compile(
        ASTSource(kernel, signature, constants, attrs), target=GPUTarget("cuda", 90, 32), options=options
    )
    tools = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(compiled.asm["cubin"])
        sass = subprocess.run(
            [os.path.join(tools, "nvdisasm"), "-c", path], capture_output=True, text=True, check=True
        ).stdout
        usage = subprocess.run(
            [os.path.join(tools, "cuobjdump"), "-res-usage", path], capture_output=True, text=True, check=True
        ).stdout
    registers, stack, local = (int(re.search(rf"{key}:(\d+)", usage).group(1)) for key in ("REG", "STACK", "LOCAL"))
    shared = compiled.metadata.shared
    return Compiled(compiled.asm["ptx"], sass, registers, stack + local, shared)  # spills land on the stack


def compile_for_h200(kernel, args, kwargs) -> tuple[str, str]:
    """(PTX, SASS) for sm_90 of ``kernel`` specialised for one recorded launch."""
    compiled = compile_kernel(kernel, args, kwargs)
    return compiled.ptx, compiled.sass


def opcodes(sass: str) -> list[str]:
    """Each instruction's opcode, a predicated one's too (``@P0 LDG.E.U16 ...`` gives ``LDG.E.U16``)."""
    out = []
    for line in sass.splitlines():
        if not (line.strip().startswith("/*") and "*/" in line):
            continue
        tokens = line.split("*/", 1)[1].strip().rstrip(";").split()
        if tokens and tokens[0].startswith("@"):
            tokens = tokens[1:]
        if tokens:
            out.append(tokens[0].rstrip(";"))
    return out


def instruction_lines(sass: str) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """[(opcode with modifiers, operands)] in order, and each label's index into that list."""
    instructions, labels = [], {}
    for line in sass.splitlines():
        label = re.match(r"\s*(\.L_x_\d+):", line)
        if label:
            labels[label.group(1)] = len(instructions)
        found = re.match(r"\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)\s*(.*)", line)
        if found:
            instructions.append((found.group(1), found.group(2)))
    return instructions, labels


def loop_body(sass: str) -> collections.Counter:
    """Opcodes of the kernel's longest loop (from a label to the branch back to it): the K loop of the GEMV, whose
    count times the iterations is most of what a program issues (7b int4 gate/up: 4.87 instructions a value-lane
    counted so, 4.85 by Nsight Compute). Empty where the kernel has no loop."""
    instructions, labels = instruction_lines(sass)
    loops = loop_spans(instructions, labels)
    if not loops:
        return collections.Counter()
    start, end = max(loops, key=lambda loop: loop[1] - loop[0])
    return collections.Counter(opcode for opcode, _ in instructions[start : end + 1])


def loop_spans(instructions: list[tuple[str, str]], labels: dict[str, int]) -> list[tuple[int, int]]:
    """(first, last) instruction index of every loop (``instruction_lines``' output): from a label to a branch back
    to it."""
    loops = []
    for end, (opcode, operands) in enumerate(instructions):
        target = re.search(r"(\.L_x_\d+)", operands) if opcode.startswith("BRA") else None
        if target and labels.get(target.group(1), end + 1) <= end:
            loops.append((labels[target.group(1)], end))
    return loops


def issued_per_program(sass: str, iterations: int) -> int:
    """Instructions one program issues, counted statically: the loop body ``iterations`` times and the rest of
    the kernel once (branches around code not taken are ignored)."""
    body = sum(loop_body(sass).values())
    return body * iterations + len(instruction_lines(sass)[0]) - body


def resident_warps(registers: int, warps_per_block: int, shared_bytes: int = 0) -> int:
    """Warps of a kernel one SM holds at once, as registers, the warp limit, the block limit and a block's shared
    memory (``shared_bytes``; 0 for the one-stage CUDA-core GEMVs, which use next to none) allow."""
    per_warp = -(-registers * 32 // REGISTER_UNIT) * REGISTER_UNIT
    by_shared = SM_SHARED // (shared_bytes + BLOCK_SHARED_RESERVED) if shared_bytes else SM_BLOCKS
    blocks = min(SM_BLOCKS, SM_WARPS // warps_per_block, SM_REGISTERS // (per_warp * warps_per_block), by_shared)
    return blocks * warps_per_block
