"""The table files kept beside an on-disk store (kg.tablefile): memory-mapped, and ignored when unreadable."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from kg import answers, facets, queries, tablefile
from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore
from server import results
from server.jobs import Answer, Context, QueryJob

THRESHOLD = queries.load_all(Settings.from_env(env={}).queries_dir)["projects_by_threshold"]


def _arrays() -> dict[str, np.ndarray]:
    return {"a": np.arange(10, dtype=np.int32), "text.blob": np.frombuffer("满意度<x>".encode(), dtype=np.uint8),
            "grid": np.arange(12, dtype=np.int64).reshape(3, 4), "flags": np.array([True, False, True]),
            "none": np.zeros(0, dtype=np.int64), "score": np.array([0.5, np.nan])}


def test_a_file_round_trips_its_arrays_as_read_only_views_of_the_mapped_file(tmp_path: Path) -> None:
    arrays = _arrays()
    tablefile.save(tmp_path / "t-3.npz", "t-", 7, 3, arrays)
    version, generation, loaded = tablefile.load(tmp_path / "t-3.npz")
    assert (version, generation) == (7, 3) and loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
        assert not loaded[name].flags.writeable
        if array.size:
            assert tablefile.mapped(loaded[name]), f"{name} was read into memory, not mapped"
            assert loaded[name].ctypes.data % tablefile.ALIGN == 0
    assert not tablefile.mapped(np.arange(3))
    with np.load(tmp_path / "t-3.npz") as z:  # still an npz any numpy reads
        np.testing.assert_array_equal(z["grid"], arrays["grid"])


def test_writing_a_generation_removes_the_others_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    tablefile.save(tmp_path / "t-1.npz", "t-", 1, 1, _arrays())
    kept = tablefile.load(tmp_path / "t-1.npz")[2]
    tablefile.save(tmp_path / "t-2.npz", "t-", 1, 2, _arrays())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-2.npz"]
    np.testing.assert_array_equal(kept["a"], np.arange(10))  # a mapping outlives its removed file


class _Table:
    def __init__(self, generation: int) -> None:
        self.generation = generation


def _load(path: Path) -> _Table:
    return _Table(tablefile.load(path)[1])


@pytest.mark.parametrize("keep", [0, 21, 100, 1000, -22, -1])
def test_a_truncated_file_is_not_used(tmp_path: Path, keep: int) -> None:
    tablefile.save(tmp_path / "t-5.npz", "t-", 1, 5, _arrays())
    whole = (tmp_path / "t-5.npz").read_bytes()
    assert tablefile.stored(tmp_path / "t-5.npz", 5, _load) is not None
    (tmp_path / "t-5.npz").write_bytes(whole[:keep])
    assert tablefile.stored(tmp_path / "t-5.npz", 5, _load) is None


def test_a_member_cut_short_inside_a_whole_directory_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "t-5.npz"
    with zipfile.ZipFile(path, "w") as z:  # a directory that promises more than the member holds
        z.writestr("version.npy", b"")
    assert tablefile.stored(path, 5, _load) is None


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory, settings: Settings, manifest: Manifest) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path_factory.mktemp("tablefile") / "store")
    build(store, manifest.entries, settings, manifest=manifest)
    return store


def _threshold_csv(store: EmbeddedStore, settings: Settings) -> bytes:
    """The server's CSV answer of projects_by_threshold (from the table when it answers, else from a text)."""
    bindings = THRESHOLD.bindings({"indicator": "", "category": "满意度指标", "min_value": "95"})
    job = QueryJob(THRESHOLD.sparql, THRESHOLD.name, tuple(bindings.items()), results_format="csv", verify=False,
                   lookups=tuple(THRESHOLD.lookups(bindings)), fast=THRESHOLD.fast_forms)
    found = job.run(Context(store, settings))
    assert isinstance(found, Answer | results.Streamed)
    return found.body() if isinstance(found, results.Streamed) else found.body


def test_a_built_table_is_mapped_and_decodes_terms_only_when_read(disk: EmbeddedStore) -> None:
    table = answers.stored(disk)
    assert table is not None
    assert all(tablefile.mapped(c.codes) for c in table.targets.values() if len(c.codes))
    assert isinstance(table.targets["project"].terms, facets.Strings)
    assert tablefile.mapped(table.targets["project"].terms.blob)
    counted = facets.stored(disk)
    assert counted is not None and isinstance(counted.values["unit"], facets.Strings)
    assert tablefile.mapped(counted.project_facets["unit"].owner) and isinstance(counted.labels, facets.Labels)
    iri = next(iter(counted.labels))
    assert counted.labels[iri] == counted.labels.get(iri) and iri in counted.labels and "<none>" not in counted.labels


def test_a_file_of_an_older_layout_is_ignored_and_the_text_answers(disk: EmbeddedStore, settings: Settings) -> None:
    want = _threshold_csv(disk, settings)
    assert want.count(b"\n") > 2
    path = answers.file_for(disk, disk.generation)
    assert path is not None and answers.stored(disk) is not None
    saved = path.read_bytes()
    try:
        version, generation, arrays = tablefile.load(path)
        tablefile.save(path, answers.FILE_PREFIX, version - 1, generation, arrays)
        assert answers.stored(disk) is None
        assert _threshold_csv(disk, settings) == want  # the text answers
        with np.load(path) as z:  # a file as numpy writes one (compressed, unaligned) is not read either
            older = {k: z[k] for k in z.files}
        older["version"] = np.array([answers.VERSION, generation], dtype=np.int64)
        np.savez_compressed(path, **older)
        assert answers.stored(disk) is None
        assert _threshold_csv(disk, settings) == want
    finally:
        path.write_bytes(saved)
    assert answers.stored(disk) is not None
