"""Procurement import (kg/contracts/): OCDS and CSV, vendor dedup, project linking, atomic re-import.

Uses the FICTIONAL example files of ``examples/contracts/`` (invented suppliers and credit codes,
real seed projects).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from pyoxigraph import QueryResultsFormat
from typer.testing import CliRunner

from budgetkg.commands.analytics import register
from kg import queries
from kg.contracts import (
    ContractsInputError,
    dedupe_vendors,
    import_files,
    is_valid_uscc,
    normalize_supplier,
    read_file,
    remove_imports,
    uscc_check_char,
)
from kg.iris import Iris
from kg.pipeline import build
from kg.settings import QUERIES_DIR, Settings
from kg.store import STAGING_PREFIX, EmbeddedStore, GraphStore

from .helpers import GOLDEN, ROOT, canonical_csv, read_golden

EXAMPLES = ROOT / "examples" / "contracts"
CSV_FILE = EXAMPLES / "example_contracts.csv"
OCDS_FILE = EXAMPLES / "example_ocds.json"
PREFIXES = "PREFIX bk: <https://budgetkg.example.org/def/>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n" \
           "PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\nPREFIX dcterms: <http://purl.org/dc/terms/>\n"


@pytest.fixture(scope="module")
def seeds(settings: Settings, manifest) -> GraphStore:
    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    return store


@pytest.fixture(scope="module")
def imported(seeds: GraphStore, settings: Settings):
    report = import_files(seeds, [CSV_FILE, OCDS_FILE], settings)
    return seeds, report


def rows(store: GraphStore, sparql: str) -> list[tuple[str, ...]]:
    return [tuple("" if t is None else t.value for t in s) for s in store.query(PREFIXES + sparql)]


def test_example_files_say_they_are_fictional() -> None:
    assert "FICTIONAL" in CSV_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert "FICTIONAL" in json.loads(OCDS_FILE.read_text(encoding="utf-8"))["publisher"]["name"]
    assert "FICTIONAL" in (EXAMPLES / "README.md").read_text(encoding="utf-8")


def test_import_report(imported) -> None:
    _, report = imported
    assert [(f.file, f.format, f.contracts, f.linked) for f in report.files] == [
        ("example_contracts.csv", "csv", 12, 8), ("example_ocds.json", "ocds", 4, 3)]
    reasons = {u.contract_id: u.reason for u in report.unlinked}
    assert set(reasons) == {"EX-2024-009", "EX-2024-010", "EX-2024-011", "EX-2024-012", "ocds-example-0003/C-0003"}
    assert reasons["EX-2024-010"] == "no buyer code or name; no project in the store is named 警用无人机采购"
    assert reasons["EX-2024-011"].startswith("ambiguous")
    assert "326999" in reasons["EX-2024-012"]
    assert report.unlinked[0].where == "example_contracts.csv:16"  # file and line of the row
    assert report.vendors == 6
    assert any("91120000EXAMPLE041" in w for w in report.warnings)  # wrong check character, reported


def test_contracts_are_linked_by_identifier_code_or_name(imported) -> None:
    store, _ = imported
    got = {cid: (rule, float(conf), name) for cid, rule, conf, name in rows(store, """
        SELECT ?id ?rule ?conf ?name WHERE { ?c a bk:Contract ; dcterms:identifier ?id ; bk:rule ?rule ;
          bk:linkConfidence ?conf ; bk:forProject/rdfs:label ?name }""")}
    assert got["EX-2024-007"] == ("contract/identifier", 1.0, "执法办案管理中心和案管室装备建设（尾款）-2024中央")
    assert got["EX-2024-006"] == ("contract/project-code", 1.0, "天津公安警官职业学院安保实训基地项目-2023年专项债券")
    assert got["EX-2024-001"] == ("contract/agency+name", 0.99, "督审总队信息化运维项目-2024中央")
    _, conf, name = got["EX-2024-002"]  # 信息系统 for 信息化: a fuzzy match, lower confidence
    assert name == "出入境管理总队信息化运维项目-2024中央" and 0.6 <= conf < 0.95
    assert got["ocds-example-0001/C-0001"][2] == "监管总队信息化运维经费-2023中央"
    assert got["ocds-example-0004/A-0004"][2] == "特警总队业务经费-2024中央"  # an award without contract


def test_vendors_are_deduplicated(imported) -> None:
    store, _ = imported
    vendors = {label: (code, rule, alts.split("|") if alts else [])
               for label, code, rule, alts in rows(store, """
        SELECT ?label ?code ?rule (GROUP_CONCAT(?alt; separator="|") AS ?alts) WHERE {
          ?v a bk:Vendor ; rdfs:label ?label ; bk:rule ?rule . OPTIONAL { ?v bk:creditCode ?code }
          OPTIONAL { ?v skos:altLabel ?alt } } GROUP BY ?label ?code ?rule""")}
    assert len(vendors) == 6
    # legal form: 有限责任公司 joins the vendor with the credit code
    assert vendors["示例科技有限公司"][:2] == ("91120000EXAMPLE01N", "vendor/credit-code")
    assert "示例科技有限责任公司" in vendors["示例科技有限公司"][2]
    # brackets and legal form, no credit code: one vendor by normalised name, across the two files
    name_only = [v for v in vendors.values() if v[1] == "vendor/normalised-name"]
    assert len(name_only) == 1 and name_only[0][0] == ""
    # full-width credit code, and a space in the name
    assert vendors["虚构建设工程有限公司"][0] == "91120000EXAMPLE02R"
    assert "虚构设备制造 有限公司" in vendors["虚构设备制造有限公司"][2]


def test_reimport_replaces_and_leaves_no_staging(imported, settings: Settings) -> None:
    store, _ = imported
    before = store.dump_sorted_nquads()
    report = import_files(store, [CSV_FILE], settings)
    assert report.files[0].replaced
    assert store.dump_sorted_nquads() == before
    assert not [g for g in store.raw.named_graphs() if g.value.startswith(STAGING_PREFIX)]


def test_shared_vendors_golden(imported) -> None:
    store, _ = imported
    q = queries.load_all(QUERIES_DIR)["shared_vendors"]
    got = q.run(store).serialize(format=QueryResultsFormat.CSV).decode("utf-8")
    path = GOLDEN / "analytics" / "shared_vendors.csv"
    if os.environ.get("BUDGETKG_WRITE_GOLDEN"):
        comments = read_golden(path)[0] if path.exists() else ["# hand-checked rows: (write which)"]
        path.write_text("\n".join(comments) + "\n" + got.replace("\r\n", "\n"), encoding="utf-8")
    comments, want = read_golden(path)

    assert comments and canonical_csv(got) == want
    assert len(list(q.run(store, {"agency": "326"}))) == 3
    assert len(list(q.run(store, {"min_score": "0.95"}))) < len(list(q.run(store)))


# -- malformed input -------------------------------------------------------------------------

HEADER = "contract_id,project_ref,project_name,agency_code,supplier_name,supplier_credit_code,amount_yuan,date,title\n"


@pytest.mark.parametrize(("body", "line", "what"), [
    ("X1,,督审总队信息化运维项目,341101,某公司,,abc,2024-01-01,\n", 3, "amount_yuan"),
    ("X1,,督审总队信息化运维项目,341101,某公司,,100,2024-13-01,\n", 3, "date"),
    ("X1,,督审总队信息化运维项目,341101,,,100,2024-01-01,\n", 3, "supplier_name"),
    ("X1,,督审总队信息化运维项目,341101,某公司,123,100,2024-01-01,\n", 3, "credit_code"),
    ("X1,,督审总队信息化运维项目,34110,某公司,,100,2024-01-01,\n", 3, "agency_code"),
    ("X1,,a,341101,某公司,,1,2024-01-01,\nX1,,b,341101,某公司,,1,2024-01-01,\n", 4, "repeats"),
    ("X1,,a,341101,某公司,,1,2024-01-01\n", 3, "fields"),
    (",,,341101,某公司,,1,2024-01-01,\n", 3, "project_ref"),
])
def test_malformed_csv_names_file_and_line(tmp_path: Path, body: str, line: int, what: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("# a comment line\n" + HEADER + body, encoding="utf-8")
    with pytest.raises(ContractsInputError) as exc:
        read_file(f)
    assert exc.value.line == line and what in exc.value.message and exc.value.path == "bad.csv"


def test_malformed_header_and_json(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("contract,supplier\n", encoding="utf-8")
    with pytest.raises(ContractsInputError, match=r"h\.csv:1: header"):
        read_file(f)
    j = tmp_path / "bad.json"
    j.write_text('{\n "releases": [\n  {"ocid": "x",,}\n ]\n}\n', encoding="utf-8")
    with pytest.raises(ContractsInputError, match=r"bad\.json:3: not valid JSON"):
        read_file(j)
    k = tmp_path / "noaward.json"
    k.write_text(json.dumps({"releases": [{"ocid": "o-1", "contracts": [{"id": "c", "awardID": "a"}]}]}),
                 encoding="utf-8")
    with pytest.raises(ContractsInputError, match="no supplier"):
        read_file(k)


def test_a_malformed_file_leaves_the_store_unchanged(seeds: GraphStore, settings: Settings, tmp_path: Path) -> None:
    before = seeds.dump_sorted_nquads()
    bad = tmp_path / "later.csv"
    bad.write_text(HEADER + "X1,,a,341101,某公司,,lots,2024-01-01,\n", encoding="utf-8")
    with pytest.raises(ContractsInputError):
        import_files(seeds, [tmp_path / "missing.csv"], settings)
    with pytest.raises(ContractsInputError, match=r"later\.csv:2"):
        import_files(seeds, [CSV_FILE, bad], settings)  # the good file is not imported either
    assert seeds.dump_sorted_nquads() == before


def test_cli_import_exit_codes(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    store = str(tmp_path / "store")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "X1,,a,341101,某公司,,1,2024-02-30,\n", encoding="utf-8")
    result = runner.invoke(app, ["contracts", "import", str(bad), "--store", store])
    assert result.exit_code == 2 and "bad.csv:2" in result.output
    ok = runner.invoke(app, ["contracts", "import", str(CSV_FILE), "--store", store, "--report", "json"])
    assert ok.exit_code == 0, ok.output
    unlinked = json.loads(ok.stdout[ok.stdout.index("["):])
    assert len(unlinked) == 12  # an empty store: no project to link to
    linked = runner.invoke(app, ["link", "--store", store, "--format", "json"])
    assert linked.exit_code == 0 and json.loads(linked.stdout)["projects"] == 0
    removed = runner.invoke(app, ["contracts", "remove", "example_contracts.csv", "--store", store])
    assert removed.exit_code == 0 and "removed 1" in removed.output


# -- OCDS forms ------------------------------------------------------------------------------


def test_releases_of_one_ocid_are_compiled() -> None:
    records = {r.contract_id: r for r in read_file(OCDS_FILE)}
    r = records["ocds-example-0001/C-0001"]  # tender, award and contract releases merged
    assert (r.agency_code, r.project_name, str(r.amount), r.date.isoformat()) == (
        "341107", "监管总队信息化运维经费", "298000", "2024-02-20")
    assert [(s.name, s.credit_code) for s in r.suppliers] == [("示例科技有限公司", "91120000EXAMPLE01N")]


def test_record_package_and_bare_release(tmp_path: Path) -> None:
    release = json.loads(OCDS_FILE.read_text(encoding="utf-8"))["releases"][3]
    rec = tmp_path / "records.json"
    rec.write_text(json.dumps({"records": [{"ocid": release["ocid"], "compiledRelease": release}]}), encoding="utf-8")
    bare = tmp_path / "release.txt"
    bare.write_text(json.dumps(release), encoding="utf-8")
    assert [r.contract_id for r in read_file(rec)] == [r.contract_id for r in read_file(bare)] == [
        "ocds-example-0002/C-0002"]


def test_remove_imports(settings: Settings, manifest, tmp_path: Path) -> None:
    store = EmbeddedStore(None)
    import_files(store, [OCDS_FILE], settings)
    assert store.has_graph(Iris(settings.base_iri).vendors_graph)
    assert remove_imports(store, ["example_ocds.json"], settings) == 1
    assert list(store.quads()) == []


# -- credit codes and names ------------------------------------------------------------------


def test_credit_code_check_character() -> None:
    assert is_valid_uscc("91120000EXAMPLE01N")
    assert not is_valid_uscc("91120000EXAMPLE01M")
    assert not is_valid_uscc("91120000EXAMPLE0IN")  # I is not in the alphabet
    assert uscc_check_char("91120000EXAMPLE04") == "0"


_base = st.text(alphabet=st.sampled_from("示例样例科技信息网络服务设备制造天津"), min_size=2, max_size=8)


@given(_base, st.sampled_from(["有限公司", "有限责任公司", "股份有限公司", "公司"]), st.booleans(), st.booleans())
def test_supplier_names_differing_in_legal_form_width_or_brackets_are_one(base, form, brackets, wide) -> None:
    name = f"{base}（天津）{form}" if brackets else f"{base}(天津){form}"
    if wide:
        name = name.replace("(", "（").replace(")", "）")
    assert normalize_supplier(name) == normalize_supplier(f"{base}(天津)有限公司")
    assert normalize_supplier(f"{base}有限公司") != normalize_supplier(f"{base}(天津)有限公司")


def test_a_name_shared_by_two_credit_codes_is_not_merged() -> None:
    groups = dedupe_vendors([("c1", "示例科技有限公司", "91120000EXAMPLE01N"),
                             ("c2", "示例科技有限公司", "91120000EXAMPLE02R"), ("c3", "示例科技有限公司", None)])
    assert sorted(g.key for g in groups) == ["name:示例科技", "uscc:91120000EXAMPLE01N", "uscc:91120000EXAMPLE02R"]


# -- buyers as procurement data names them ---------------------------------------------------
# Suppliers, ocids and amounts below are FICTIONAL; buyers and projects are those of the seeds.

SECOND_UNIT = "341199"  # a second budget unit published under 特警总队's name (a FICTIONAL code)


@pytest.fixture(scope="module")
def buyers_store(settings: Settings, manifest) -> GraphStore:
    """The seeds, plus a second unit whose published name is 天津市公安局特警总队's (as two years' tables may)."""
    from pyoxigraph import Literal, Quad

    from kg.iris import Iris
    from kg.namespaces import BK, RDFS

    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    iris = Iris(settings.base_iri)
    graph, unit = iris.graph("second_unit.txt"), iris.agency(SECOND_UNIT)
    store.write_new(graph, [Quad(unit, BK.agencyCode, Literal(SECOND_UNIT), graph),
                            Quad(unit, RDFS.label, Literal("天津市公安局 特警总队", language="zh"), graph)])
    return store


def ocds_release(ocid: str, buyer: dict | None, project: str, date: str = "2024-06-01") -> dict:
    """A FICTIONAL award-and-contract release; ``buyer`` is the buyer's party (without roles)."""
    parties = [{"id": "SUP-X", "name": "虚构测试供应商有限公司", "roles": ["supplier"]}]
    release = {"ocid": ocid, "id": f"{ocid}-1", "date": f"{date}T00:00:00Z", "tag": ["award", "contract"],
               "parties": parties, "planning": {"budget": {"project": project}},
               "awards": [{"id": "A", "status": "active", "suppliers": [{"id": "SUP-X"}]}],
               "contracts": [{"id": "C", "awardID": "A", "value": {"amount": 1000, "currency": "CNY"},
                              "dateSigned": f"{date}T00:00:00Z"}]}
    if buyer is not None:
        parties.append({**buyer, "roles": ["buyer"]})
        release["buyer"] = {"id": buyer["id"]}
    return release


def import_releases(store: GraphStore, settings: Settings, tmp_path: Path, name: str, releases: list[dict]):
    """Import a FICTIONAL release package; (project label, rule, buyer code, reason) per contract id."""
    f = tmp_path / name
    f.write_text(json.dumps({"publisher": {"name": "FICTIONAL test data"}, "releases": releases},
                            ensure_ascii=False), encoding="utf-8")
    report = import_files(store, [f], settings)
    graph = Iris(settings.base_iri).contracts_graph(f.name).value
    got = {cid: (label, rule, buyer.rsplit("/", 1)[-1] if buyer else "", reason)
           for cid, label, rule, buyer, reason in rows(store, f"""
        SELECT ?id ?label ?rule ?buyer ?reason WHERE {{
          GRAPH <{graph}> {{ ?c a bk:Contract ; dcterms:identifier ?id }}
          OPTIONAL {{ ?c bk:forProject/rdfs:label ?label ; bk:rule ?rule }} OPTIONAL {{ ?c bk:buyer ?buyer }}
          OPTIONAL {{ ?c bk:unlinkedReason ?reason }} }}""")}
    assert {u.contract_id: u.reason for u in report.unlinked} == {k: v[3] for k, v in got.items() if v[3]}
    return got


def test_buyer_by_a_code_in_any_identifier_scheme(buyers_store: GraphStore, settings: Settings, tmp_path: Path) -> None:
    got = import_releases(buyers_store, settings, tmp_path, "by_code.json", [
        # the budget unit code as an additional identifier; the main identifier is the buyer's credit code
        ocds_release("o-code-1", {"id": "B1", "name": "某采购单位", "identifier": {"scheme": "CN-USCC",
                                                                            "id": "11120000MB0000000X"},
                                  "additionalIdentifiers": [{"scheme": "CN-TJ-BUDGET-UNIT", "id": "341107"}]},
                     "监管总队信息化运维项目"),
        # a code inside the buyer's id, no identifier at all
        ocds_release("o-code-2", {"id": "CN-TJ-341110"}, "特警总队业务经费"),
        # a department code in full-width digits
        ocds_release("o-code-3", {"id": "B3", "identifier": {"scheme": "CN-TJ-DEPT", "id": "３４１"}},
                     "沿海安全保卫总队业务装备经费"),
    ])
    assert got["o-code-1/C"][:3] == ("监管总队信息化运维项目-2024中央", "contract/agency+name", "341107")
    assert got["o-code-2/C"][:3] == ("特警总队业务经费-2024中央", "contract/agency+name", "341110")
    assert got["o-code-3/C"][:3] == ("沿海安全保卫总队业务装备经费-2024中央", "contract/agency+name", "341")


def test_buyer_by_name_whatever_its_width_spaces_or_brackets(buyers_store: GraphStore, settings: Settings,
                                                             tmp_path: Path) -> None:
    got = import_releases(buyers_store, settings, tmp_path, "by_name.json", [
        # half-width brackets where the table has （特）
        ocds_release("o-name-1", {"id": "B1", "name": "天津市公安局后勤保障部(特)"}, "指挥中心信息化运维经费"),
        # an ideographic space, and no 天津市
        ocds_release("o-name-2", {"id": "B2", "name": "公安局　出入境管理总队"}, "出入境管理总队信息化运维项目"),
        # the unit's second name, 天津市公安局强制治疗管理总队（天津市公安局安康医院）
        ocds_release("o-name-3", {"id": "B3", "name": "天津市公安局安康医院"}, "强制隔离戒毒经费"),
        # the legal name of the identifier when the party has no name; a code the store does not know
        ocds_release("o-name-4", {"id": "B4", "identifier": {"scheme": "CN-TJ-X", "id": "999999",
                                                             "legalName": "天津市数字化城市管理考核中心"}},
                     "考核中心2024年委视频会议及城市管理指挥调度系统运维项目"),
    ])
    assert got["o-name-1/C"][:3] == ("指挥中心信息化运维经费-2023中央", "contract/agency+name", "341122")
    assert got["o-name-2/C"][:3] == ("出入境管理总队信息化运维项目-2024中央", "contract/agency+name", "341105")
    assert got["o-name-3/C"][:3] == ("强制隔离戒毒经费（2024）", "contract/agency+name", "341144")
    assert got["o-name-4/C"][2] == "326206" and got["o-name-4/C"][1] == "contract/agency+name"


def test_unknown_buyer_links_by_a_project_name_no_other_project_has(buyers_store: GraphStore, settings: Settings,
                                                                     tmp_path: Path) -> None:
    got = import_releases(buyers_store, settings, tmp_path, "unknown_buyer.json", [
        ocds_release("o-u-1", {"id": "B1", "name": "天津市某某政府采购中心"},
                     "天津公安警官职业学院图书采购项目(非财政拨款)"),
        ocds_release("o-u-2", None, "公交分局信息化运维项目"),  # no buyer at all; the base name of one project
        ocds_release("o-u-3", None, "警用无人机采购"),
        ocds_release("o-u-4", {"id": "B4", "name": "天津市某某政府采购中心",
                               "identifier": {"scheme": "X-BUDGETKG-AGENCY", "id": "341999"}}, "警用无人机采购"),
    ])
    assert got["o-u-1/C"] == ("天津公安警官职业学院图书采购项目（非财政拨款）", "contract/unique-name", "", "")
    assert got["o-u-2/C"] == ("公交分局信息化运维项目-2024中央", "contract/unique-name", "", "")
    assert got["o-u-3/C"][3] == "no buyer code or name; no project in the store is named 警用无人机采购"
    assert got["o-u-4/C"][3] == ("buyer not found: no budget unit has code 341999 or name 天津市某某政府采购中心; "
                                 "no project in the store is named 警用无人机采购")
    conf = rows(buyers_store, 'SELECT ?c WHERE { ?x bk:ocid "o-u-1" ; bk:linkConfidence ?c }')
    assert conf == [("0.95",)]


def test_known_buyer_falls_back_to_a_unique_name_in_its_department(buyers_store: GraphStore, settings: Settings,
                                                                     tmp_path: Path) -> None:
    got = import_releases(buyers_store, settings, tmp_path, "department.json", [
        # 警务保障部 buys what 财务管理处 (341101, same department) budgets
        ocds_release("o-d-1", {"id": "CN-TJ-341118"}, "督审总队信息化运维项目-2024中央"),
        # a project of another department is not taken for a buyer of 326
        ocds_release("o-d-2", {"id": "CN-TJ-326206"}, "公交分局信息化运维项目"),
    ])
    assert got["o-d-1/C"][:3] == ("督审总队信息化运维项目-2024中央", "contract/unique-name", "341118")
    assert got["o-d-2/C"][:3] == ("", "", "326206")
    assert got["o-d-2/C"][3].startswith("no project of agency 326206 has a similar name")
    assert got["o-d-2/C"][3].endswith("; no project of department 326 is named 公交分局信息化运维项目")


def test_a_project_name_of_two_projects_is_ambiguous(buyers_store: GraphStore, settings: Settings,
                                                     tmp_path: Path) -> None:
    got = import_releases(buyers_store, settings, tmp_path, "ambiguous_project.json", [
        ocds_release("o-p-1", None, "市级政府投资项目(公安)"),
    ])
    assert got["o-p-1/C"][3] == (
        "no buyer code or name; project name 市级政府投资项目(公安) matches 2 projects in the store: "
        "市级政府投资项目（公安）-2024债券利息 (341118)、市级政府投资项目（公安）地方政府一般债券利息 (341118)")


def test_a_buyer_name_of_two_units_is_ambiguous_and_never_guessed(buyers_store: GraphStore, settings: Settings,
                                                                  tmp_path: Path) -> None:
    got = import_releases(buyers_store, settings, tmp_path, "ambiguous_buyer.json", [
        ocds_release("o-b-1", {"id": "B1", "name": "天津市公安局特警总队"}, "特警无人机反制系统"),
        ocds_release("o-b-2", {"id": "B2", "name": "天津市公安局特警总队"}, "特警总队信息化运维项目-2024中央"),
        ocds_release("o-b-3", {"id": "B3", "name": "天津市公安局特警总队",
                               "identifier": {"scheme": "X", "id": "341110"}}, "特警总队业务经费"),
        ocds_release("o-b-4", {"id": "CN-TJ-341110", "identifier": {"scheme": "X", "id": "326206"}},
                     "特警无人机反制系统"),
    ])
    assert got["o-b-1/C"][:3] == ("", "", "")
    assert got["o-b-1/C"][3] == (f"buyer name 天津市公安局特警总队 matches 2 budget units: "
                                 f"341110 天津市公安局特警总队、{SECOND_UNIT} 天津市公安局 特警总队; "
                                 f"no project in the store is named 特警无人机反制系统")
    # the project's own name decides; the buyer stays unresolved
    assert got["o-b-2/C"][:3] == ("特警总队信息化运维项目-2024中央", "contract/unique-name", "")
    assert got["o-b-3/C"][:3] == ("特警总队业务经费-2024中央", "contract/agency+name", "341110")  # a code decides
    assert got["o-b-4/C"][3] == ("buyer codes disagree: 326206, 341110; "
                                 "no project in the store is named 特警无人机反制系统")


def test_csv_buyer_name_column(buyers_store: GraphStore, settings: Settings, tmp_path: Path) -> None:
    f = tmp_path / "buyers.csv"
    f.write_text("# FICTIONAL test data\ncontract_id,project_name,agency_code,buyer_name,supplier_name,amount_yuan,"
                 "date\nB-1,特警总队信息化运维项目,,天津市公安局特警总队(特警),虚构测试供应商有限公司,1,2024-06-01\n"
                 "B-2,出入境管理总队业务费,326999,天津市公安局出入境管理总队,虚构测试供应商有限公司,1,2024-06-01\n"
                 "B-3,城市照明设施维护,326999,天津市城市照明管理所,虚构测试供应商有限公司,1,2024-06-01\n",
                 encoding="utf-8")
    report = import_files(buyers_store, [f], settings)
    got = {cid: (label, buyer.rsplit("/", 1)[-1] if buyer else "") for cid, label, buyer in rows(buyers_store, """
        SELECT ?id ?label ?buyer WHERE { ?c bk:statedBuyerName ?n ; dcterms:identifier ?id .
          OPTIONAL { ?c bk:forProject/rdfs:label ?label } OPTIONAL { ?c bk:buyer ?buyer } }""")
           if cid.startswith("B-")}
    # 天津市公安局特警总队(特警) is no unit's name, but the project name is unique
    assert got["B-1"] == ("特警总队信息化运维项目-2024中央", "")
    assert got["B-2"] == ("出入境管理总队业务费-2023中央", "341105")  # an unknown code: the name decides
    assert [(u.contract_id, u.buyer_name, u.reason) for u in report.unlinked] == [
        ("B-3", "天津市城市照明管理所", "buyer not found: no budget unit has code 326999 or name 天津市城市照明管理所; "
                                  "no project in the store is named 城市照明设施维护")]


def test_regression_unlinked_contracts_conform_to_the_structure(imported, settings: Settings) -> None:
    """An unlinked contract has no project but says why: the structural shapes accept it (they once flagged all 4)."""
    from kg.shapes import load_shapes, validate

    store, report = imported
    assert report.unlinked  # the example has contracts no project could be found for
    result = validate(store, load_shapes(settings.shapes_dir, ["structure"]), engine="sparql")
    assert result.violations == [], [str(v) for v in result.violations[:3]]
