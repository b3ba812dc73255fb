"""The trained toy VLM: training (``vlmq.toy.train``, ``vlmq toy train``) and its held-out evaluation
(``vlmq.toy.evaluate``).

The shipped weights live in ``vlmq/models/toy/`` (see its MODEL_CARD.md).
"""

from vlmq.toy.train import ToyTrainSettings, train_toy

__all__ = ["ToyTrainSettings", "train_toy"]
