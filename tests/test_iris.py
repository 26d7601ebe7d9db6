"""One home for IRIs: vocabulary IRIs are spelled in kg/namespaces.py, instance IRIs minted by kg/iris.py.

The checks read kg/ and server/ with ``ast``, so a comment may say anything and a docstring (hence a
doctest) may show an IRI; every other string constant, f-strings included, is code that would spell
an IRI a second time. Loopback URLs (``http://127.0.0.1:7878``) name a local server, not data, and
pass. The tests after the checks pin the IRIs of kg.namespaces and kg.iris byte for byte: the store's
dumps and the golden files hold them.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from pyoxigraph import NamedNode

from kg.iris import JOURNAL, Iris, is_staging, normalise_base, slug, staging_graph
from kg.namespaces import (
    BKUNIT,
    CUR,
    DEFAULT_BASE_IRI,
    FORMATS,
    ISO639_1,
    MEDIA_TYPE,
    PREFIXES,
    SD,
    SPARQL_PROTOCOL,
    SPARQL_RESULTS,
    SPDX,
    UNIT,
    XSD,
)
from kg.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("kg", "server")
#: The two modules where IRIs are spelled.
HOMES = {"kg/namespaces.py", "kg/iris.py"}

#: An IRI in a string: a scheme and at least one character after it (``"http://"`` alone is a scheme
#: test, not an IRI). ``{}`` stands for an f-string's replacement field.
_IRI = re.compile(r"(?<![A-Za-z0-9+.-])(?:https?://|urn:)(?:[^\s<>\"'{}|\\^`]|\{\})+")
_LOOPBACK = re.compile(r"^https?://(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/]|$)")
#: The vocabulary namespaces without their scheme (a namespace spelled as ``"//" + ...`` is still spelled).
_NAMESPACES = tuple(sorted({ns.split("://", 1)[1] for ns in PREFIXES.values()}))
#: The first path segment of every kind of instance IRI that kg.iris mints.
SEGMENTS = ("agency", "document", "graph", "project", "vendor", "contract", "procurement", "indicator-concept",
            "indicator-term", "link", "served-unit", "dataset")
_SEGMENT = re.compile(rf"^(?:{'|'.join(map(re.escape, SEGMENTS))})(?:/|$)")
#: A segment after a ``str.format`` or ``%`` placeholder: ``"{}agency/{}"``, ``"%sagency/%s"``.
_SEGMENT_AFTER_PLACEHOLDER = re.compile(rf"(?:\}}|%s)(?:{'|'.join(map(re.escape, SEGMENTS))})(?:/|$)")


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring constants of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.add(id(first.value))
    return found


def _strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of every string constant that is not a docstring; an f-string as one text.

    A replacement field of an f-string reads ``{}``, so ``f"https://x.org/{path}"`` is seen whole.
    """
    skip = _docstrings(tree)
    parts: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts.update(id(v) for v in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                           for v in node.values)
            yield node.lineno, text
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                and id(node) not in parts):
            yield node.lineno, node.value


def iri_literals(path: Path) -> list[tuple[int, str]]:
    """The IRIs spelled in the code of ``path`` (not in its docstrings), loopback URLs left out."""
    found = []
    for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
        iris = [m.group() for m in _IRI.finditer(text) if not _LOOPBACK.match(m.group())]
        iris += [ns for ns in _NAMESPACES if ns in text and not any(ns in i for i in iris)]
        found += [(line, i) for i in iris]
    return sorted(set(found))


def _operands(node: ast.expr) -> list[ast.expr]:
    """The operands of a chain of ``+``: ``a + "x/" + b`` → ``[a, "x/", b]``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _operands(node.left) + _operands(node.right)
    return [node]


def _str(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def minted_iris(path: Path) -> list[tuple[int, str]]:
    """Where ``path`` appends an instance IRI's segment (``agency/``, ``graph/``…) to a base.

    Caught: ``f"{base}agency/{code}"``, ``base + "agency/" + code``, ``"{}agency/{}".format(base, code)``
    and ``"%sagency/%s" % (base, code)``. A segment that opens a string (``"contract/agency+name"``, a
    rule's name) or a route (``"/graph/…"``) appends nothing and passes.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    found = set()
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for before, part in zip(node.values, node.values[1:], strict=False):
                text = _str(part)
                if isinstance(before, ast.FormattedValue) and text is not None and _SEGMENT.match(text):
                    found.add((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and id(node) not in nested:
            ops = _operands(node)
            nested.update(id(n) for n in ast.walk(node) if isinstance(n, ast.BinOp))
            if any(text is not None and _SEGMENT.match(text) for text in map(_str, ops[1:])):
                found.add((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
              and _SEGMENT_AFTER_PLACEHOLDER.search(node.value)):
            found.add((node.lineno, node.value))
    return sorted(found)


def _scanned() -> Iterator[tuple[str, Path]]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name not in HOMES:
                yield name, path


def _report(found: dict[str, list[tuple[int, str]]]) -> str:
    return "\n".join(f"{name}:{line}: {text!r}" for name, hits in sorted(found.items()) for line, text in hits)


# -- the checks --------------------------------------------------------------------------------------
def test_no_iri_is_spelled_outside_namespaces_and_iris() -> None:
    found = {name: hits for name, path in _scanned() if (hits := iri_literals(path))}
    assert not found, ("IRIs spelled outside kg/namespaces.py and kg/iris.py (bind vocabulary in "
                       "kg.namespaces, mint instance IRIs with kg.iris.Iris):\n" + _report(found))


def test_no_instance_iri_is_minted_outside_iris() -> None:
    found = {name: hits for name, path in _scanned() if (hits := minted_iris(path))}
    assert not found, "instance IRIs minted outside kg/iris.py (use kg.iris.Iris):\n" + _report(found)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('"""Docstrings may show <http://ex.org/doc> and doctests."""\n'
                   "import os\n"
                   'SH = "http://www.w3.org/ns/shacl#"\n'
                   'URL = f"https://ex.org/{os.sep}"\n'
                   'LOCAL = "http://127.0.0.1:7878/query"\n'
                   'STAGE = "urn:budgetkg:staging:"\n'
                   'XSD = "//www.w3.org/2001/XMLSchema#"\n'
                   "def unit(base, code):\n"
                   '    """The unit <https://ex.org/agency/1>."""\n'
                   '    return f"{base}agency/{code}", base + "graph/" + code, "{}vendor/{}".format(base, code)\n'
                   'RULE = "contract/agency+name"\n'
                   'ROUTE = f"/graph/{RULE}"\n'
                   'WORD = "return:x"\n',
                   encoding="utf-8")
    assert iri_literals(bad) == [(3, "http://www.w3.org/ns/shacl#"), (4, "https://ex.org/{}"),
                                 (6, "urn:budgetkg:staging:"), (7, "www.w3.org/2001/XMLSchema#")]
    assert minted_iris(bad) == [(10, "base + 'graph/' + code"), (10, "f'{base}agency/{code}'"),
                                (10, "{}vendor/{}")]
    assert "bad.py:3: 'http://www.w3.org/ns/shacl#'" in _report({"bad.py": iri_literals(bad)})


# -- the IRIs themselves, byte for byte -----------------------------------------------------------------
def test_vocabularies_of_the_server_keep_their_iris() -> None:
    """The service description and VoID/DCAT description spell these (formerly in server/dataset.py)."""
    assert str(SD) == "http://www.w3.org/ns/sparql-service-description#"
    assert FORMATS["SPARQL_Results_JSON"].value == "http://www.w3.org/ns/formats/SPARQL_Results_JSON"
    assert SPDX.MIT.value == "https://spdx.org/licenses/MIT"
    assert ISO639_1.zh.value == "http://id.loc.gov/vocabulary/iso639-1/zh"
    assert MEDIA_TYPE["application/gzip"].value == "https://www.iana.org/assignments/media-types/application/gzip"
    assert SPARQL_PROTOCOL.value == "https://www.w3.org/TR/sparql11-protocol/"
    assert str(SPARQL_RESULTS) == "http://www.w3.org/2005/sparql-results#"
    assert XSD.string.value == "http://www.w3.org/2001/XMLSchema#string"


def test_units_keep_their_iris() -> None:
    from kg.values import UNITS

    assert UNITS["%"].iri == UNIT.PERCENT.value == "http://qudt.org/vocab/unit/PERCENT"
    assert UNITS["元"].iri == CUR.CNY.value == "http://qudt.org/vocab/currency/CNY"
    assert UNITS["万元"].iri == BKUNIT.TenThousandCNY.value == "https://budgetkg.example.org/def/unit/TenThousandCNY"


def test_iris_under_the_default_base() -> None:
    iris = Iris(DEFAULT_BASE_IRI)
    base = "https://budgetkg.example.org/id/"
    assert iris.dataset == NamedNode(base + "dataset")
    assert iris.agency("341101") == NamedNode(base + "agency/341101")
    assert iris.document("004_5346273e88d8e34b.txt") == NamedNode(base + "document/004_5346273e88d8e34b")
    assert iris.graph("004_5346273e88d8e34b.txt") == NamedNode(base + "graph/004_5346273e88d8e34b")
    assert iris.agencies_graph == NamedNode(base + "graph/agencies")
    assert iris.links_graph == NamedNode(base + "graph/links")
    assert iris.contracts_graph("2024.json") == NamedNode(base + "graph/contracts/2024")
    assert iris.vendor("uscc:91120000MA05") == NamedNode(base + "vendor/91120000MA05")
    assert iris.vendor("name:某公司").value.startswith(base + "vendor/name-")
    assert iris.concept("x").startswith(base + "indicator-concept/")
    project = base + "project/2024/341101/abc"
    key = hashlib.sha1(project.encode()).hexdigest()[:16]
    assert iris.served_unit_link(project) == base + "link/served-unit/" + key


def test_a_base_gets_its_slash_once() -> None:
    assert normalise_base("http://x.org/data") == "http://x.org/data/"
    assert normalise_base("http://x.org/data/") == "http://x.org/data/"
    assert normalise_base("urn:x:data#") == "urn:x:data#"
    assert Settings(base_iri="http://x.org/data").base_iri == Iris("http://x.org/data").base == "http://x.org/data/"


def test_bookkeeping_graphs_are_not_published_content() -> None:
    assert staging_graph(2).value == "urn:budgetkg:staging:2"
    assert JOURNAL.value == "urn:budgetkg:staging:journal"
    assert is_staging(staging_graph(0)) and is_staging(JOURNAL)
    assert not is_staging(Iris(DEFAULT_BASE_IRI).links_graph)


def test_slugs_are_safe_segments() -> None:
    assert slug("contracts-2024_v1.2") == "contracts-2024_v1.2"
    assert slug("合同/../x") == slug("合同/../x") != "合同/../x"
    assert re.fullmatch(r"[0-9a-f]{16}", slug("a b"))
