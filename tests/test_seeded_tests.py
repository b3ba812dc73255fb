"""tests/conftest.py's ``seeded_torch``: every test starts from torch's generator at one seed, whatever ran before it
in its process (the first two tests run in this order within the file), and that seed is none a test gives its own
generator."""

import torch

OWN_SEEDS = range(64)  # the seeds tests give their own generators (make_pack's 0-4, manual_seed(m), ...)


def test_a_test_starts_seeded_and_may_move_the_generator():
    assert torch.initial_seed() not in OWN_SEEDS
    torch.rand(1000)  # as any test drawing random inputs does


def test_the_next_test_draws_what_the_shared_seed_draws():
    first = torch.rand(4)
    torch.manual_seed(torch.initial_seed())
    assert torch.equal(first, torch.rand(4))


def test_the_shared_draw_repeats_no_generator_a_test_seeds_itself():
    """A test that makes weights from ``torch.Generator().manual_seed(s)`` and activations from the shared generator
    must not get the same numbers twice (at seed 0 the GPU suite's FP8 activations equalled its weights' rows)."""
    shared = torch.randn(16)
    for seed in OWN_SEEDS:
        assert not torch.equal(shared, torch.randn(16, generator=torch.Generator().manual_seed(seed))), seed
