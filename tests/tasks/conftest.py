"""Shared fixtures for the task tests: lmms-lab-format dataset folders built in code."""

import pytest

from vlmq.tasks import fixtures


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
    """Every task's fixture as parquet files named after the split (+ POPE's Full config)."""
    return fixtures.write_dataset_dir(tmp_path_factory.mktemp("parquet_data"), "parquet")


@pytest.fixture(scope="session")
def disk_dataset_dir(tmp_path_factory):
    """Every task's fixture as save_to_disk DatasetDict folders, without POPE's Full config."""
    return fixtures.write_dataset_dir(tmp_path_factory.mktemp("disk_data"), "save_to_disk", pope_full=False)


def score_rows(task, samples, outputs, opts):
    """The rows the runner stores: sample fields, the output and the task's score."""
    return [
        dict(
            sample_id=sample.id,
            meta=sample.meta,
            target=sample.target,
            output=output,
            **task.score(sample, output, opts),
        )
        for sample, output in zip(samples, outputs)
    ]
