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


def test_source_digest_names_the_package_files_that_ran(tmp_path):
    """A change of any byte, file name or file set changes the digest; compiled caches do not; the run's meta
    carries the installed package's digest."""
    from vlmq.provenance import source_digest

    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "kernel.py").write_text("x = 1\n")
    (tmp_path / "tiles.json").write_text("{}")
    first = source_digest(tmp_path)
    assert len(first) == 12 and source_digest(tmp_path) == first
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "kernel.cpython-311.pyc").write_bytes(b"\0\1")
    assert source_digest(tmp_path) == first
    (tmp_path / "tiles.json").write_text("{ }")
    edited = source_digest(tmp_path)
    assert edited != first
    (tmp_path / "engine" / "kernel.py").rename(tmp_path / "engine" / "kernel2.py")
    assert source_digest(tmp_path) not in (first, edited)
    meta = provenance(torch.device("cpu"))
    assert meta["source_digest"] == source_digest() and len(meta["source_digest"]) == 12
