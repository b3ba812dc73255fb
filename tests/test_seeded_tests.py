"""tests/conftest.py's ``seeded_torch``: every test starts from torch's generator at seed 0, whatever ran before it in
its process (the two tests run in this order within the file)."""

import torch


def test_a_test_starts_seeded_and_may_move_the_generator():
    assert torch.initial_seed() == 0
    torch.rand(1000)  # as any test drawing random inputs does


def test_the_next_test_draws_what_seed_zero_draws():
    first = torch.rand(4)
    torch.manual_seed(0)
    assert torch.equal(first, torch.rand(4))
