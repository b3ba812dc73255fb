"""Why `fp8` through the eager engine answered empty strings on the H200 (#13): probe torchao's FP8 W8A8
linear (Float8DynamicActivationFloat8WeightConfig, PerRow, the recipe's previous eager path) with an
activation row of zeros, next to vlmq's own op. Prints one line per path: finite or not.

    PYTHONPATH=src python benchmarks/fp8_zero_row_probe.py
"""

import torch
from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

from vlmq.engine.kernels import quantize_activation, w8_linear

torch.manual_seed(0)
linear = torch.nn.Linear(1536, 2048, bias=False, dtype=torch.bfloat16, device="cuda")
x = torch.randn(4, 1536, dtype=torch.bfloat16, device="cuda")
x[1] = 0  # a row of zeros (e.g. a padded or masked position)
ref = linear(x)
quantize_(linear, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))
for rows in (x, x[:1], x[1:2]):
    y = linear(rows)
    print(
        f"torchao PerRow, rows={rows.shape[0]}: finite={bool(torch.isfinite(y).all())}, "
        f"rows with NaN={torch.isnan(y).any(dim=-1).nonzero().flatten().tolist()}"
    )
w = linear.weight
xq, xs = quantize_activation(x, "fp8")
y = w8_linear(xq, w.qdata, w.scale.float().reshape(-1), xs, None, torch.bfloat16)
print(
    f"vlmq w8_linear fp8: finite={bool(torch.isfinite(y).all())}, "
    f"rel err vs bf16={float((y.float() - ref.float()).norm() / ref.float().norm()):.4f}"
)
