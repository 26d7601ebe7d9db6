"""Hostile documents: mutated seed texts never crash the parser, and a failed build changes nothing.

Hypothesis mutates the seed documents (truncation, shuffled/deleted/duplicated lines, other
encodings, BOM, CRLF and CR line ends, huge cells, binary noise, lost tabs, garbage amounts). For
each input the property is what a user relies on: ``budgetkg build`` either reads the document
(records that also convert to quads) or stops with :class:`SourceParseError` naming the file and a
line inside it — never another exception — and a build that stops leaves the store byte-identical.

Inputs that once failed are kept in ``tests/fuzz_corpus/`` and replayed by
:func:`test_corpus_inputs_that_once_failed`. ``BUDGETKG_FUZZ_EXAMPLES`` raises the number of
examples for the long run (docs/reliability.md).
"""

from __future__ import annotations

import dataclasses
import gc
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.errors import BudgetKGError, DocumentTooLarge, SourceParseError
from kg.iris import Iris
from kg.model import ParsedDocument, SourceEntry
from kg.parse import decode, parse_text
from kg.parse import line_count as editor_line_count
from kg.pipeline import build
from kg.rdf import document_quads
from kg.revisions import DuplicateProject
from kg.settings import Settings
from kg.sources import Manifest, load_manifest
from kg.store import EmbeddedStore, GraphStore

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
EXAMPLES = int(os.environ.get("BUDGETKG_FUZZ_EXAMPLES", "300"))
NAME = "fuzzed.txt"


def _seed_texts() -> list[str]:
    seeds = ROOT / "seeds"
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds.glob("00[0-3]_*.txt"))]
    big = (seeds / "004_5346273e88d8e34b.txt").read_text(encoding="utf-8").split("\n")
    texts.append("\n".join(big[:600]))  # standard tables with carried 一级指标, numbered goals
    texts.append("\n".join(big[9986:]))  # the special-bond table (项目性质 …, funding table)
    return texts


SEED_TEXTS = _seed_texts()


def line_count(data: bytes) -> int:
    """Lines as the parser counts them (CRLF and CR folded to LF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


def check_document(data: bytes, year: int = 2025) -> str:
    """Parse ``data`` as ``budgetkg build`` does; return "ok" or "error", fail on anything else."""
    try:
        text = decode(data, NAME)
        records, warnings = parse_text(text, NAME, year)
    except SourceParseError as exc:
        assert exc.path == NAME
        assert 1 <= exc.line <= line_count(data), f"line {exc.line} outside 1…{line_count(data)}: {exc}"
        assert str(exc).startswith(f"{NAME}:{exc.line}: expected ")
        return "error"
    entry = SourceEntry(NAME, NAME, year, records[0].department_code if records else "000", [], "fuzz")
    parsed = ParsedDocument(entry, records, warnings, editor_line_count(text))
    quads = document_quads(parsed, Iris(Settings().base_iri))
    assert quads
    last = line_count(data)  # once: a mutated document can warn thousands of times
    for w in warnings:
        assert 1 <= w.line <= last, w
    return "ok"


# -- mutations ---------------------------------------------------------------------------------
@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(SEED_TEXTS)).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "swap", "shuffle", "delete", "duplicate", "replace", "huge",
                                   "untab", "amount", "insert"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "truncate":
            lines = lines[:i]
            if lines and draw(st.booleans()):
                lines[-1] = lines[-1][:draw(st.integers(0, len(lines[-1])))]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "shuffle":
            window = lines[i:i + draw(st.integers(2, 30))]
            lines[i:i + len(window)] = draw(st.permutations(window))
        elif op == "delete":
            del lines[i:i + draw(st.integers(1, 5))]
        elif op == "duplicate":
            lines[i:i] = lines[i:i + draw(st.integers(1, 10))]
        elif op == "replace":
            lines[i] = draw(st.sampled_from(["\t", "", "\t预算数", "\t一级指标", "\t项目性质", "\t单位：万元",
                                             "1.某某绩效目标表", "\t341101天津市公安局", "\t\t\t", " \t\u3000"])) \
                + draw(st.text(max_size=20))
        elif op == "huge":
            piece = draw(st.sampled_from(["x", "预", "9", "\t", "\n\t"]))
            size = draw(st.sampled_from([1000, 100_000, 1_000_000]))
            lines[i] = lines[i] + piece * (size if "\n" not in piece else size // 40)  # ≤ 3 MB: under the 4 MB limit
        elif op == "untab":
            lines[i] = lines[i].lstrip("\t")
        elif op == "amount":
            lines[i] = "\t" + draw(st.sampled_from(["-1", "1e9999", "NaN", "Infinity", "1,,0", "０.５", "9" * 400,
                                                    "0x10", "1_000", ".5", "5.", "--1", "١٢"]))
        elif op == "insert":
            lines.insert(i, draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)))
    text = "\n".join(lines)
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "gbk", "utf-16", "gb18030", "latin-1"]))
    newline = draw(st.sampled_from(["\n"] * 4 + ["\r\n", "\r"]))
    data = text.replace("\n", newline).encode(encoding, errors="replace")
    if draw(st.booleans()) and draw(st.booleans()):  # binary noise somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    return data


def test_mutated_documents_parse_or_fail_with_file_and_line() -> None:
    outcomes = {"ok": 0, "error": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(mutated())
    def prop(data: bytes) -> None:
        outcomes[check_document(data)] += 1

    # a document of a million cells makes millions of objects: without this, each collection would also walk
    # everything the session's fixtures hold (after the other test modules, that made this test 100× slower)
    gc.collect()
    gc.freeze()
    try:
        prop()
    finally:
        gc.unfreeze()
    print(f"\nfuzz: {sum(outcomes.values())} mutated documents: {outcomes['ok']} read, {outcomes['error']} refused "
          "with file and line, 0 other exceptions")
    assert outcomes["ok"] and outcomes["error"]


@pytest.mark.parametrize("text", SEED_TEXTS[:4], ids=["000", "001", "002", "003"])
@pytest.mark.parametrize("form", ["bom", "crlf", "cr", "bom+crlf"])
def test_bom_and_line_endings_read_like_the_original(text: str, form: str) -> None:
    data = text.encode("utf-8")
    if "crlf" in form:
        data = data.replace(b"\n", b"\r\n")
    if form == "cr":
        data = data.replace(b"\n", b"\r")
    if "bom" in form:
        data = b"\xef\xbb\xbf" + data
    assert parse_text(decode(data, NAME), NAME, 2025)[0] == parse_text(text, NAME, 2025)[0]


@pytest.mark.parametrize("encoding", ["gbk", "utf-16", "gb18030"])
def test_documents_in_other_encodings_fail_with_a_line(encoding: str) -> None:
    data = SEED_TEXTS[0].encode(encoding)
    with pytest.raises(SourceParseError) as err:
        decode(data, NAME)
    assert err.value.expected in ("UTF-8 text", "text") and 1 <= err.value.line <= line_count(data)


# -- the store is unchanged when a build stops --------------------------------------------------
@pytest.fixture(scope="module")
def small_store(settings: Settings) -> tuple[GraphStore, Manifest, SourceEntry]:
    man = load_manifest(settings.manifest)
    entries = [e for e in man.entries if not e.file.startswith("004")]
    store = EmbeddedStore(None)
    build(store, entries, settings, manifest=man)
    return store, man, entries[0]


def test_a_failed_build_of_a_fuzzed_document_leaves_the_store_unchanged(
        small_store: tuple[GraphStore, Manifest, SourceEntry], settings: Settings, tmp_path: Path) -> None:
    store, man, original = small_store
    outcomes = {"ok": 0, "error": 0}

    @settings_(max_examples=max(20, EXAMPLES // 10), deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example, HealthCheck.function_scoped_fixture])
    @given(mutated())
    def prop(data: bytes) -> None:
        path = tmp_path / original.file
        path.write_bytes(data)
        entry = dataclasses.replace(original, path=str(path), sha256=None)
        before = store.dump_sorted_nquads()
        graphs = [g.value for g in store.raw.named_graphs()]
        try:
            build(store, [entry], settings, manifest=man, with_ontology=False)
        except BudgetKGError as exc:
            # a mutation can splice in another seed's table: that project is refused as a duplicate; a "huge"
            # mutation can pass BUDGETKG_MAX_DOCUMENT_MB: that document is refused before it is read
            assert isinstance(exc, SourceParseError | DuplicateProject | DocumentTooLarge), exc
            assert store.dump_sorted_nquads() == before
            assert sorted(g.value for g in store.raw.named_graphs()) == sorted(graphs)  # no staging left
            outcomes["error"] += 1
        else:
            outcomes["ok"] += 1
            build(store, [dataclasses.replace(original, sha256=None)], settings, manifest=man, with_ontology=False)
            assert store.dump_sorted_nquads() == before

    prop()
    print(f"\nfuzz: {sum(outcomes.values())} builds of mutated documents: {outcomes['error']} stopped with the store "
          f"unchanged, {outcomes['ok']} built")
    assert outcomes["error"] > 0


settings_ = settings  # the hypothesis decorator, under a name the fixture ``settings`` does not shadow


# -- the corpus ---------------------------------------------------------------------------------
CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.is_file() and p.suffix in (".txt", ".bin"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_inputs_that_once_failed(path: Path) -> None:
    check_document(path.read_bytes())
