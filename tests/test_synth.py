"""The synthetic-corpus generator (bench/synth.py): output the parser reads, deterministic, seed-like."""

from __future__ import annotations

import importlib
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from kg.model import ProjectRecord
from kg.parse import SEEDS, parse_file, parse_text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))
synth = importlib.import_module("bench.synth")

N_TABLES = 300
PER_DOC = 40


def _parse_corpus(out: Path) -> tuple[list[dict], dict[str, list[ProjectRecord]], Counter[str]]:
    manifest = tomllib.loads((out / "manifest.toml").read_text(encoding="utf-8"))
    docs = manifest["document"]
    records: dict[str, list[ProjectRecord]] = {}
    warnings: Counter[str] = Counter()
    for doc in docs:
        recs, warns = parse_file(out / doc["file"], doc["budget_year"])
        records[doc["file"]] = recs
        warnings.update(w.code for w in warns)
    return docs, records, warnings


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("synth")
    return out, synth.generate(N_TABLES, out, seed=0, tables_per_doc=PER_DOC)


@pytest.fixture(scope="module")
def parsed(corpus: tuple[Path, list[Path]]) -> tuple[list[dict], dict[str, list[ProjectRecord]], Counter[str]]:
    return _parse_corpus(corpus[0])


def _seed_records() -> list[ProjectRecord]:
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        out.extend(parse_file(path, synth.SEED_YEARS[path.name[:3]])[0])
    return out


def test_every_document_parses_with_the_requested_table_count(corpus, parsed) -> None:
    out, paths = corpus
    docs, records, _ = parsed
    assert [p.name for p in paths] == [d["file"] for d in docs]
    assert len(paths) == -(-N_TABLES // PER_DOC)
    assert sum(len(r) for r in records.values()) == N_TABLES
    assert sorted(p.name for p in out.glob("*.txt")) == [p.name for p in paths]


def test_manifest_entries_and_units(parsed) -> None:
    docs, records, _ = parsed
    for doc in docs:
        assert set(doc) == {"file", "budget_year", "department", "units", "publisher", "description"}
        assert doc["budget_year"] in (2024, 2025)
        assert "not real data" in doc["description"] and "seed 0" in doc["description"]
        recs = records[doc["file"]]
        assert {r.unit_code for r in recs} == set(doc["units"])
        assert all(u.startswith(doc["department"]) and len(u) == 6 for u in doc["units"])
    units = [u for d in docs for u in d["units"]]
    assert len(units) == len(set(units))
    assert N_TABLES / 15 <= len(units) <= N_TABLES / 6  # about one unit per ten tables
    pairs = [(r.unit_code, r.name) for recs in records.values() for r in recs]
    assert len(pairs) == len(set(pairs))


def test_deterministic_for_a_seed(tmp_path: Path, corpus) -> None:
    out, paths = corpus
    again = synth.generate(N_TABLES, tmp_path / "again", seed=0, tables_per_doc=PER_DOC)
    other = synth.generate(N_TABLES, tmp_path / "other", seed=1, tables_per_doc=PER_DOC)
    for a, b in zip(paths, again, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert (out / "manifest.toml").read_bytes() == (tmp_path / "again" / "manifest.toml").read_bytes()
    assert b"".join(p.read_bytes() for p in paths) != b"".join(p.read_bytes() for p in other)


def test_level1_categories_match_the_seeds(parsed) -> None:
    _, records, _ = parsed
    seed_l1 = Counter(i.level1 for r in _seed_records() for i in r.indicators)
    out_l1 = Counter(i.level1 for recs in records.values() for r in recs for i in r.indicators)
    assert set(seed_l1) <= set(out_l1)
    seed_total, out_total = sum(seed_l1.values()), sum(out_l1.values())
    for level1 in ("产出指标", "效益指标", "满意度指标"):
        assert abs(seed_l1[level1] / seed_total - out_l1[level1] / out_total) < 0.08, level1


def test_special_bond_table(parsed) -> None:
    _, records, warnings = parsed
    bonds = [r for recs in records.values() for r in recs if r.layout == "special-bond"]
    assert bonds, "one special-bond table per ~500 tables: the 300-table corpus has one"
    for r in bonds:
        assert r.bond is not None and r.bond.supervising_name == "天津市公安局"
        assert r.bond.nature in ("续建项目", "新建项目")  # swapped back by the parser
        assert r.bond.total == sum(f.amount for f in r.bond.funding if f.amount is not None)
        assert {g.kind for g in r.goals} == {"overall", "annual"}
        assert "偿债指标" in {i.level1 for i in r.indicators}
        assert all(i.description is None for i in r.indicators)
    assert warnings["swapped-fields"] == len(bonds)


def test_amounts_mostly_add_up(parsed) -> None:
    _, records, _ = parsed
    standard = [r for recs in records.values() for r in recs if r.layout == "standard"]
    ok = sum((r.fiscal or 0) + (r.other or 0) == r.budget for r in standard)
    assert ok >= 0.95 * len(standard)


def test_layout_quirks_of_all_three_seed_styles() -> None:
    """Small documents so that the rarer departments (325, 326) and their export styles turn up."""
    docs = list(synth.iter_documents(400, seed=3, tables_per_doc=8))
    text = "".join(d.text for d in docs)
    assert "\t其中：财政    资金\n" in text and "\t其中：财政资金\n" in text
    assert "[bookmark: _Toc_4_4_" in text and re.search(r"\[bookmark: _Toc\d{9}\]", text)
    assert re.search(r"\n \t\d{6}", text), "untitled tables whose unit line starts with ' \\t'"
    assert re.search(r"\n[1-9][.、][^\n]+\n", text), "goal continuation lines without a tab"
    assert re.search(r"\n\t\n\t(?:数量|质量|时效|成本)指标\n", text), "empty level-1 cells"
    tables = 0
    for d in docs:
        records, _ = parse_text(d.text, d.file, d.budget_year)
        tables += len(records)
        assert {r.unit_code for r in records} == set(d.units)
    assert tables == 400
    assert {d.department for d in docs} >= {"325", "326", "341"}
