"""What a run records about the machine that produced it (provenance.py)."""

import torch

from vlmq.provenance import cpu_model, host_op_us, provenance


def test_runs_record_the_host_cpu_and_its_per_op_cost():
    meta = provenance(torch.device("cpu"))
    assert meta["host_cpu"].startswith(cpu_model()) and meta["host_cpu"].endswith("CPUs)")
    assert cpu_model()  # never empty: /proc/cpuinfo, else platform
    assert 0 < meta["host_op_us"] < 1000  # µs per tiny in-place op: a few on any machine


def test_host_op_cost_is_per_op_not_per_loop():
    """The probe divides by the op count: 10x the ops must not give ~10x the figure."""
    few, many = host_op_us(200), host_op_us(2000)
    assert many < 5 * few
