"""vlmq: quantize the language decoder of a Qwen2-VL-family model and measure what each scheme costs and buys."""

__version__ = "0.1.0"
