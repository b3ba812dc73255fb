"""Dataset adapters: the lmms-lab datasets from the hub, from a local folder, or generated (shapes).

Hub. ``lmms-lab/<name>`` as lmms-eval releases up to v0.7.2 use it, then ``lmms-lab-encoder/<name>``
(the name at lmms-eval HEAD); a cached copy of either loads offline. When neither loads (offline,
not cached) the error names the fix: ``--dataset-dir``.

Local folder (``TaskOptions.dataset_dir = DIR``). One subfolder per dataset, named after the task
(``vqav2``, ``pope``, ``mme``, ``llava_bench``) or after the hub repository (``VQAv2``, ``POPE``,
``MME``, ``llava-bench-in-the-wild``, optionally below ``lmms-lab/`` or ``lmms-lab-encoder/``).
A dataset config other than the default (POPE's ``Full``) is a further subfolder. Inside, any of:

    DIR/vqav2/validation-00000-of-00001.parquet     parquet files named after the split (any depth,
    DIR/vqav2/data/validation-00000-of-00002.parquet  so a hub snapshot works as it is)
    DIR/pope/Full/random/0000.parquet                 a folder named after the split (hub ``Full`` layout)
    DIR/mme/          a ``save_to_disk`` DatasetDict (``dataset_dict.json``, one folder per split)
    DIR/mme/test/     a ``save_to_disk`` Dataset of that split
    DIR/llava_bench/  a ``save_to_disk`` Dataset (``state.json``), taken as the requested split

Splits used: VQAv2 ``validation``; POPE ``test`` (default config, 9000 pooled rows) and ``Full``
``adversarial``/``popular``/``random``; MME ``test``; llava-bench-in-the-wild ``train``.
"""

from __future__ import annotations

import math
import pathlib
import re
from dataclasses import dataclass

import datasets

from vlmq.errors import VlmqError

HUB_ORGS = ("lmms-lab", "lmms-lab-encoder")


class MissingDataError(VlmqError):
    """The requested dataset, config or split is not present (callers may fall back to another)."""


@dataclass(frozen=True)
class HubSource:
    """An lmms-lab dataset: ``folder`` is the local subfolder name, ``repo`` the hub repository name."""

    folder: str  # "vqav2"
    repo: str  # "VQAv2"
    split: str  # "validation"
    columns: tuple[str, ...]  # the lmms-lab schema, checked on load
    config: str | None = None  # "Full" for POPE's per-split config
    expected_rows: int | None = None  # asserted on the full split (llava-bench: 60)

    def describe(self) -> str:
        config = f" config {self.config}" if self.config else ""
        return f"lmms-lab/{self.repo}{config} split {self.split}"


@dataclass(frozen=True)
class ShapesSource:
    """Generated data in the lmms-lab schema of one task (`vlmq.data.shapes.make_dataset`)."""

    kind: str  # "vqa" | "pope" | "mme"
    default_n: int  # make_dataset's n when no larger limit is asked for
    rows_per_n: int  # rows per unit of n: vqa 1, pope 3 (splits), mme 12 (6 subtasks x 2)
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"shapes {self.kind}"


SHAPES_SEED_OFFSET = 10_000  # held out from the seeds the tiny model is trained on


def load_table(source: HubSource | ShapesSource, opts) -> datasets.Dataset:
    """The full split as a `datasets.Dataset`, columns checked, images left undecoded."""
    if isinstance(source, ShapesSource):
        table, where = _load_shapes(source, opts), "vlmq.data.shapes"
    elif opts.dataset_dir is not None:
        table, where = _load_local(source, pathlib.Path(opts.dataset_dir)), opts.dataset_dir
    else:
        table, where = _load_hub(source), "the Hugging Face hub"
    check_columns(table, source, where)
    if isinstance(source, HubSource) and source.expected_rows not in (None, len(table)):
        raise VlmqError(
            f"{source.describe()} from {where} has {len(table)} rows, expected "
            f"{source.expected_rows}; use the unmodified dataset"
        )
    return undecoded_images(table)


def check_columns(table: datasets.Dataset, source, where: str) -> None:
    missing = [column for column in source.columns if column not in table.column_names]
    if missing:
        raise VlmqError(
            f"{source.describe()} from {where} lacks column(s) {', '.join(missing)}; "
            f"provide the lmms-lab schema: {', '.join(source.columns)}"
        )


def undecoded_images(table: datasets.Dataset) -> datasets.Dataset:
    """Keep images as bytes so a corrupt one fails in its own sample, not while iterating."""
    feature = table.features.get("image")
    if isinstance(feature, datasets.Image) and feature.decode:
        return table.cast_column("image", datasets.Image(decode=False))
    return table


def _load_shapes(source: ShapesSource, opts) -> datasets.Dataset:
    try:
        from vlmq.data.shapes import make_dataset
    except ImportError as err:
        raise VlmqError(
            f"the shapes generator is unavailable ({err}); install vlmq completely "
            "or choose a task that reads real data"
        ) from err
    # A limit above the default grows the generated set instead of being silently capped.
    n = max(source.default_n, math.ceil((opts.limit or 0) / source.rows_per_n))
    return make_dataset(source.kind, n, SHAPES_SEED_OFFSET + opts.seed)


def _load_hub(source: HubSource) -> datasets.Dataset:
    errors = []
    for org in HUB_ORGS:
        try:
            return datasets.load_dataset(f"{org}/{source.repo}", source.config, split=source.split)
        except Exception as err:  # noqa: BLE001 -- every hub failure gets the same remedy below
            errors.append(f"{org}/{source.repo}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    raise MissingDataError(
        f"cannot load {source.describe()} from the Hugging Face hub ({'; '.join(errors)}); "
        f"download it where there is network and pass --dataset-dir DIR with DIR/{source.folder}/ "
        "holding its parquet files or save_to_disk folder"
    )


def _dataset_root(source: HubSource, base: pathlib.Path) -> pathlib.Path:
    if not base.is_dir():
        raise VlmqError(
            f"dataset directory {base} does not exist; pass --dataset-dir pointing at a "
            f"folder with {source.folder}/ inside"
        )
    names = [source.folder, source.repo] + [f"{org}/{source.repo}" for org in HUB_ORGS]
    for name in names:
        root = base / name
        if root.is_dir():
            return root / source.config if source.config else root
    raise MissingDataError(
        f"no {source.folder} data under {base}; put {source.describe()} in "
        f"{base / source.folder}/ (parquet named after the split, or save_to_disk)"
    )


def _load_local(source: HubSource, base: pathlib.Path) -> datasets.Dataset:
    root = _dataset_root(source, base)
    try:
        return _read_local(source, root)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VlmqError(
            f"cannot read {source.describe()} in {root}: {message}; replace the damaged "
            "files with a fresh download (parquet or save_to_disk)"
        ) from err


def _read_local(source: HubSource, root: pathlib.Path) -> datasets.Dataset:
    if not root.is_dir():
        raise MissingDataError(f"no {source.describe()} under {root.parent}; add the {root.name}/ folder")
    if (root / "dataset_dict.json").is_file():
        splits = datasets.load_from_disk(str(root))
        if source.split not in splits:
            raise _unknown_split(source, root, list(splits))
        return splits[source.split]
    if (root / "state.json").is_file():
        return datasets.load_from_disk(str(root))
    if (root / source.split / "state.json").is_file():
        return datasets.load_from_disk(str(root / source.split))
    files = _split_parquet_files(root, source.split)
    if files:
        return datasets.Dataset.from_parquet([str(path) for path in files])
    found = _local_splits(root)
    if found:
        raise _unknown_split(source, root, found)
    raise MissingDataError(
        f"no {source.describe()} in {root}; add {source.split}-00000-of-00001.parquet or a save_to_disk folder"
    )


def _split_parquet_files(root: pathlib.Path, split: str) -> list[pathlib.Path]:
    named = re.compile(rf"^{re.escape(split)}(-.*)?\.parquet$")
    files = [path for path in root.rglob("*.parquet") if named.match(path.name) or path.parent.name == split]
    return sorted(files)


def _local_splits(root: pathlib.Path) -> list[str]:
    names = {path.name.split("-")[0].removesuffix(".parquet") for path in root.rglob("*.parquet")}
    names |= {path.parent.name for path in root.glob("*/state.json")}
    return sorted(names)


def _unknown_split(source: HubSource, root: pathlib.Path, found: list[str]) -> VlmqError:
    return VlmqError(
        f"split {source.split!r} of {source.folder} not found in {root}; it has: "
        f"{', '.join(found)}; name the files after the lmms-lab split ({source.split})"
    )
