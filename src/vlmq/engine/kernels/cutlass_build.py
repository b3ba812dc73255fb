"""Build (``--build``) or check the CUTLASS prefill library of ``cutlass_gemm`` (weight-only and W8A8 GEMMs).

    python -m vlmq.engine.kernels.cutlass_build            # where it is looked for, and whether it can run here
    python -m vlmq.engine.kernels.cutlass_build --build    # compile it (nvcc + `pip install --no-deps nvidia-cutlass`)

A module of its own so that ``python -m`` runs it after the kernels package has imported ``cutlass_gemm``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vlmq.engine.kernels.cutlass_gemm import build_library, library_path, unavailable_reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlmq.engine.kernels.cutlass_build", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--build", action="store_true", help="compile the library (nvcc + nvidia-cutlass headers)")
    parser.add_argument("--out", type=Path, default=None, help=f"where to write it (default {library_path()})")
    args = parser.parse_args(argv)
    if args.build:
        try:
            print(build_library(args.out))
        except RuntimeError as err:
            print(f"error: {err}")
            return 2
        return 0
    print(unavailable_reason() or f"available: {library_path()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
