"""What a run records about the machine that produced it (provenance.py)."""

import os

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


def test_runs_record_the_vlmq_knobs_they_ran_under(monkeypatch, tmp_path):
    """A VLMQ_* variable (a kernel knob such as the PDL trigger) is in the run's provenance and on every record of
    the run, so a figure measured under a non-default knob cannot pass for a default one; none set, none recorded."""
    from vlmq.pipeline import collect_records
    from vlmq.spec import RunSpec
    from vlmq.store import Store

    for name in [n for n in os.environ if n.startswith("VLMQ_")]:
        monkeypatch.delenv(name)
    assert provenance(torch.device("cpu"))["vlmq_env"] == {}
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "qkv")
    monkeypatch.setenv("OTHER_KNOB", "1")
    meta = provenance(torch.device("cpu"))
    assert meta["vlmq_env"] == {"VLMQ_PDL_TRIGGER": "qkv"}
    spec = RunSpec(out=str(tmp_path), tasks=("speed",), recipes=("bf16",))
    store = Store(tmp_path)
    store.set_meta("provenance", meta)
    store.set_outcome("bf16", "ok", kernel="real")
    store.put_measurements(
        "bf16",
        [{"task": "speed", "metric": "decode_ms_per_token", "value": 1.3, "ci_low": 1.3, "ci_high": 1.3, "n": 2}],
    )
    records = collect_records(store, spec)
    assert records and all(r["vlmq_env"] == {"VLMQ_PDL_TRIGGER": "qkv"} for r in records)
    store.set_meta("provenance", {**meta, "vlmq_env": {}})
    assert all("vlmq_env" not in r for r in collect_records(store, spec))
