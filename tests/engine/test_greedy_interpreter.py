"""The greedy-advance kernel (``vlmq::greedy_advance``'s CUDA path) against its PyTorch reference, on a CPU through
Triton's interpreter (TRITON_INTERPRET=1).

Logits full of ties (the first index must win, within a piece and across pieces), NaN (torch.argmax takes it as the
maximum), -0 beside +0 (equal: the first wins), rows of -inf, vocabularies that end in a part piece or are one
piece; several rows; EOS hits; the slot at the scratch slot (it stays); three launches in a row (the kernel's
counters must come back to 0 for the next launch, as a CUDA graph's replay needs). Runs in a subprocess (the
interpreter must be chosen before Triton loads); this file is that subprocess's script too. Skipped where Triton is
not installed.
"""

import json
import os
import sys

import pytest
import torch

# (vocabulary, rows, dtype, slot, cache length)
CASES = [
    (151936, 3, "bfloat16", 5, 16),
    (3000, 5, "float32", 2, 8),
    (2048, 2, "bfloat16", 7, 8),  # the scratch slot: it stays
    (997, 1, "float16", 0, 4),
    (1, 2, "float32", 1, 4),
]
LAUNCHES = 3


def special_logits(vocab: int, rows: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Small integers (ties everywhere), then per row: a maximum in the last column, two tied maxima across pieces,
    a NaN after a tie, -0 before +0 in a row of zeros, a row of -inf."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randint(-3, 3, (rows, vocab), generator=g).to(dtype)
    if vocab < 4:
        return logits
    specials = [
        lambda r: r.__setitem__(vocab - 1, 9.0),
        lambda r: r.__setitem__([1, vocab - 2], 9.0),
        lambda r: (r.__setitem__([0, vocab // 2], 9.0), r.__setitem__(vocab // 2 + 1, float("nan"))),
        lambda r: (r.fill_(-0.0), r.__setitem__(vocab // 3, 0.0)),
        lambda r: r.fill_(float("-inf")),
    ]
    for i in range(min(rows, len(specials))):
        specials[(i + seed) % len(specials)](logits[i])
    return logits


def check_case(vocab, rows, dtype, slot, length, seed) -> dict:
    from vlmq.engine.compiled import static_inputs
    from vlmq.engine.kernels.greedy import greedy_advance_reference, launch_greedy_advance

    logits = special_logits(vocab, rows, getattr(torch, dtype), seed)
    eos = torch.tensor([int(logits[0].float().argmax()), 10**9])
    states = []
    for fn in (greedy_advance_reference, launch_greedy_advance):
        s = static_inputs(rows, length, torch.device("cpu"))
        s.slot.fill_(slot)
        s.pos.copy_(torch.arange(rows) * 7)
        tokens = []
        for _ in range(LAUNCHES):
            fn(logits, s.token, s.pos, s.slot, s.key_valid, s.history, s.finished, eos)
            tokens.append(s.token.tolist())
        states.append((tokens, [t.clone() for t in (s.pos, s.slot, s.key_valid, s.history, s.finished)]))
    (ref_tokens, ref), (got_tokens, got) = states
    return {
        "argmax": logits.float().argmax(-1).tolist(),
        "ref_tokens": ref_tokens,
        "tokens": got_tokens,
        "buffers_equal": all(torch.equal(a, b) for a, b in zip(ref, got, strict=True)),
        "finished": got[4].tolist(),
        "slot": int(got[1]),
    }


def main():
    out = {f"{v}x{r} {d} slot {s}": check_case(v, r, d, s, n, seed) for seed, (v, r, d, s, n) in enumerate(CASES)}
    print(json.dumps(out))


@pytest.fixture(scope="module")
def results():
    pytest.importorskip("triton")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from gpu_like_interpreter import interpreter_run

    return interpreter_run(__file__, timeout=600)


@pytest.mark.parametrize("case", [f"{v}x{r} {d} slot {s}" for v, r, d, s, _ in CASES])
def test_greedy_advance_kernel_equals_the_reference(results, case):
    """Every launch chooses torch.argmax's token (the reference's too) and leaves the same buffers."""
    r = results[case]
    assert r["tokens"] == r["ref_tokens"] == [r["argmax"]] * LAUNCHES
    assert r["buffers_equal"]
    assert r["finished"][0]  # row 0's token is an EOS id


def test_the_slot_moves_on_once_a_launch_and_stays_at_the_scratch_slot(results):
    assert results["151936x3 bfloat16 slot 5"]["slot"] == 5 + LAUNCHES
    assert results["2048x2 bfloat16 slot 7"]["slot"] == 7


def test_bad_advance_inputs_are_refused_in_one_line():
    from vlmq.engine.compiled import static_inputs
    from vlmq.engine.kernels.greedy import MAX_ROWS, check_advance_inputs

    s = static_inputs(2, 8, torch.device("cpu"))
    eos = torch.tensor([1])
    good = (torch.zeros(2, 10), s.token, s.pos, s.slot, s.key_valid, s.history, s.finished, eos)
    check_advance_inputs(*good)
    bad = [  # (argument, value)
        (0, torch.zeros(2, 10, dtype=torch.long)),
        (0, torch.zeros(MAX_ROWS + 1, 10)),
        (1, s.token.int()),
        (4, s.key_valid.long()),
        (5, s.history[:1]),
        (6, s.finished[:1]),
    ]
    for where, value in bad:
        args = list(good)
        args[where] = value
        with pytest.raises(ValueError, match="^greedy_advance: [^\n]+$"):
            check_advance_inputs(*args)


def test_the_advance_setting_is_read_and_a_bad_one_refused_in_one_line(monkeypatch):
    from vlmq.engine.kernels.greedy import GREEDY_ADVANCE_ENV, greedy_advance_mode
    from vlmq.errors import VlmqError

    monkeypatch.delenv(GREEDY_ADVANCE_ENV, raising=False)
    assert greedy_advance_mode() == "kernel"
    monkeypatch.setenv(GREEDY_ADVANCE_ENV, "inductor")
    assert greedy_advance_mode() == "inductor"
    monkeypatch.setenv(GREEDY_ADVANCE_ENV, "triton")
    with pytest.raises(VlmqError, match="^VLMQ_GREEDY_ADVANCE='triton': use kernel or inductor$"):
        greedy_advance_mode()


if __name__ == "__main__":
    main()
