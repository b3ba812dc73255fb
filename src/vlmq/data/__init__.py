"""Built-in data: the procedural "shapes" benchmarks (``vlmq.data.shapes``)."""

from vlmq.data.shapes import make_dataset, training_stream

__all__ = ["make_dataset", "training_stream"]
