"""Procurement data: import contracts (OCDS or CSV), deduplicate vendors, link contracts to projects.

``import_files`` reads every file first and stops with :class:`ContractsInputError` (file, line,
what was wrong) before touching the store. Each file then becomes one named graph,
``<base>graph/contracts/<file stem>``, written to a staging graph and swapped in, so importing a
file again replaces what it imported before. After that the vendors graph ``<base>graph/vendors``
is recomputed from every imported contract (like the agencies graph after a build), because
deduplication looks across files.

Two input forms:

- **OCDS** (Open Contracting Data Standard) release packages, record packages, a single release
  or a JSON list of releases. Releases of one ``ocid`` are merged into a compiled release with
  ``ocdsmerge`` (merge rules given, so no schema is fetched). Each contract (or, without
  contracts, each active award) is one ``bk:Contract``; its suppliers come from its award, the
  buyer is its party (name, ``identifier``, ``additionalIdentifiers``, id), and
  ``planning.budget.projectID`` / ``planning.budget.project`` name the project.
- **CSV** in the budgetkg contract format (UTF-8, ``#`` comment lines, then one header row, wrapped here)::

      contract_id,project_ref,project_name,agency_code,buyer_name,supplier_name,supplier_credit_code,
      amount_yuan,date,title

  ``supplier_name``, ``amount_yuan`` (元) and ``date`` (YYYY-MM-DD) are required, and
  ``project_ref`` or ``project_name``; the other columns may be empty.

Each contract is linked to a project by identifier (a project IRI, its ``year/unit/hash`` path or a
项目编号; confidence 1), else among the projects of its buyer by name (exact, else similarity), else
by a project name no other project has (in the buyer's department when the buyer is known); the buyer
is resolved by any 3- or 6-digit code the store knows, else by its name (:func:`name_key`). Rows that
cannot be linked are reported with the reason; an ambiguous buyer or project name is never guessed.
Vendors are deduplicated by unified social credit code (统一社会信用代码), else by
:func:`normalize_supplier` (legal-form suffixes, full/half width, brackets).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pyoxigraph import Literal, NamedNode, Quad

from . import integrity, search
from . import similarity as sim
from .errors import BudgetKGError
from .iris import Iris
from .namespaces import BK, CUR, DCTERMS, PROV, QUDT, RDF, RDFS, SKOS, XSD, sparql_prefixes
from .settings import Settings
from .store import GraphStore, one_generation

CSV_COLUMNS = ("contract_id", "project_ref", "project_name", "agency_code", "buyer_name", "supplier_name",
               "supplier_credit_code", "amount_yuan", "date", "title")
CSV_REQUIRED = ("supplier_name", "amount_yuan", "date")
FORMATS = ("auto", "ocds", "csv")


class ContractsInputError(BudgetKGError):
    """An imported procurement file is malformed; nothing was imported.

    >>> print(ContractsInputError("a.csv", 4, "amount_yuan must be a number, not 'abc'"))
    a.csv:4: amount_yuan must be a number, not 'abc'
    """

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


@dataclass(frozen=True)
class ContractSettings:
    """How contracts are matched to projects by name (see ``docs/analytics.md``)."""

    #: Least name similarity for a contract to be linked to a project by agency plus name.
    min_confidence: float = 0.6
    #: The best name must beat the second best by this much, else the row is ambiguous.
    ambiguity_margin: float = 0.05
    #: Confidence of a link by a project name that no other project (of the buyer's department) has.
    unique_name_confidence: float = 0.95


# -- credit codes and supplier names ---------------------------------------------------------

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC = re.compile(f"^[{USCC_CHARS}]{{18}}$")


def normalize_credit_code(code: str) -> str:
    """Upper case, half width, no spaces or dashes.

    >>> normalize_credit_code("９１１２ 0000-examPLE01x")
    '91120000EXAMPLE01X'
    """
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", code)).upper()


def uscc_check_char(first17: str) -> str:
    """The check character (18th) of a unified social credit code (GB 32100-2015).

    >>> uscc_check_char("91350100M000100Y4")
    '3'
    """
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Whether ``code`` is 18 characters of the USCC alphabet with the right check character.

    >>> is_valid_uscc("91350100M000100Y43"), is_valid_uscc("91350100M000100Y44")
    (True, False)
    """
    return bool(_USCC.match(code)) and uscc_check_char(code[:17]) == code[17]


#: Legal-form endings, longest first (a name loses at most one).
LEGAL_FORMS = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "股份公司", "普通合伙", "有限合伙",
               "合伙企业", "个人独资企业", "公司", "co.,ltd.", "co.,ltd", "co.ltd", "ltd.", "ltd", "limited",
               "inc.", "inc", "corp.", "corp")
_NAME_DROP = re.compile(r"[\s()\[\]{}<>·.,，。、'\"“”‘’-]")


def normalize_supplier(name: str) -> str:
    """A supplier name without legal form, spaces, punctuation and brackets, width and case folded.

    Brackets go but what they hold stays, so 示例科技（天津）有限公司 and 示例科技(天津)有限责任公司
    are one supplier while 示例科技有限公司 (no 天津) stays another.

    >>> normalize_supplier("示例科技（天津）有限公司") == normalize_supplier("示例科技(天津)有限责任公司")
    True
    >>> normalize_supplier("示例科技有限公司"), normalize_supplier("Ｅｘａｍｐｌｅ Tech Co., Ltd.")
    ('示例科技', 'exampletech')
    """
    t = unicodedata.normalize("NFKC", name).lower().strip()
    for form in LEGAL_FORMS:
        f = form.replace(" ", "")
        squeezed = re.sub(r"\s+", "", t)
        if squeezed.endswith(f) and len(squeezed) > len(f):
            t = squeezed[:-len(f)]
            break
    return _NAME_DROP.sub("", t)


# -- records read from files -----------------------------------------------------------------


@dataclass
class Supplier:
    name: str
    credit_code: str | None = None


@dataclass
class ContractRecord:
    """One contract as an imported file states it (before linking)."""

    file: str
    contract_id: str
    suppliers: list[Supplier]
    amount: Decimal | None
    currency: str
    date: dt.date | None
    project_ref: str = ""
    project_name: str = ""
    agency_code: str = ""
    title: str = ""
    line: int | None = None
    #: The buyer (采购单位) as named, and the identifiers the buyer is given (OCDS).
    buyer_name: str = ""
    buyer_ids: tuple[str, ...] = ()
    pointer: str | None = None
    ocid: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else f"{self.file}#{self.pointer}"


def _decimal(raw: str, path: str, line: int, column: str) -> Decimal:
    try:
        value = Decimal(raw.replace(",", "").replace("，", "").strip())
    except InvalidOperation:
        raise ContractsInputError(path, line, f"{column} must be a number, not {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ContractsInputError(path, line, f"{column} must be a non-negative number, not {raw!r}")
    return value


def _date(raw: str, path: str, line: int, column: str) -> dt.date:
    text = raw.strip()[:10]
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ContractsInputError(path, line, f"{column} must be a date YYYY-MM-DD, not {raw!r}") from None


def _credit_code(raw: str | None, path: str, line: int) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = normalize_credit_code(raw)
    if not _USCC.match(code):
        raise ContractsInputError(path, line, f"supplier_credit_code must be 18 characters of "
                                              f"0-9 and A-Y without I, O, S, V, Z; found {raw!r}")
    return code


def read_csv(path: Path, text: str | None = None) -> list[ContractRecord]:
    """Contracts of a CSV file in the budgetkg contract format (see the module docstring)."""
    name = path.name
    if text is None:
        text = _read_text(path)
    lines = text.splitlines()
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].lstrip().startswith("#")):
        start += 1
    if start == len(lines):
        raise ContractsInputError(name, start or 1, f"no header row; expected {','.join(CSV_COLUMNS)}")
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = [h for h in CSV_REQUIRED if h not in header]
    if unknown or missing or not ({"project_ref", "project_name"} & set(header)):
        what = "; ".join(x for x in (f"unknown columns {unknown}" if unknown else "",
                                     f"missing columns {missing}" if missing else "",
                                     "needs project_ref or project_name" if not
                                     ({"project_ref", "project_name"} & set(header)) else "") if x)
        raise ContractsInputError(name, start + 1, f"header: {what} (columns: {', '.join(CSV_COLUMNS)})")
    out: list[ContractRecord] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = start + reader.line_num
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) != len(header):
            raise ContractsInputError(name, line, f"expected {len(header)} fields, found {len(row)}")
        r = {h: v.strip() for h, v in zip(header, row, strict=True)}
        for col in CSV_REQUIRED:
            if not r.get(col):
                raise ContractsInputError(name, line, f"{col} is empty")
        if not r.get("project_ref") and not r.get("project_name"):
            raise ContractsInputError(name, line, "project_ref and project_name are both empty: give one")
        agency = r.get("agency_code", "")
        if agency and not re.fullmatch(r"\d{3}|\d{6}", agency):
            raise ContractsInputError(name, line, f"agency_code must be 3 or 6 digits, not {agency!r}")
        cid = r.get("contract_id") or f"row-{line}"
        if cid in seen:
            raise ContractsInputError(name, line, f"contract_id {cid!r} repeats line {seen[cid]}")
        seen[cid] = line
        out.append(ContractRecord(
            file=name, contract_id=cid,
            suppliers=[Supplier(r["supplier_name"], _credit_code(r.get("supplier_credit_code"), name, line))],
            amount=_decimal(r["amount_yuan"], name, line, "amount_yuan"), currency="CNY",
            date=_date(r["date"], name, line, "date"), project_ref=r.get("project_ref", ""),
            project_name=r.get("project_name", ""), agency_code=agency, title=r.get("title", ""), line=line,
            buyer_name=r.get("buyer_name", "")))
    return out


# -- OCDS ----------------------------------------------------------------------------------

#: ocdsmerge rules: with rules given, ocdsmerge never fetches the release schema.
_MERGE_RULES = {("tag",): "omitWhenMerged", ("id",): "omitWhenMerged", ("date",): "omitWhenMerged"}


def _line_of(text: str, needle: str) -> int:
    pos = text.find(needle)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def compile_releases(releases: Sequence[dict]) -> dict:
    """The compiled release of releases that share an ``ocid`` (``ocdsmerge``, dates in order)."""
    if len(releases) == 1:
        return dict(releases[0])
    import ocdsmerge  # here, not at the top: it imports requests, which the other commands do not need

    ordered = sorted(releases, key=lambda r: str(r.get("date", "")))
    return ocdsmerge.Merger(merge_rules=_MERGE_RULES).create_compiled_release(ordered)


def _releases_of(data: object, name: str, text: str) -> list[tuple[dict, str]]:
    """(release, JSON pointer) pairs of a release package, record package, release or list."""
    if isinstance(data, list):
        return [(r, f"/{k}") for k, r in enumerate(data)]
    if not isinstance(data, dict):
        raise ContractsInputError(name, 1, "expected an OCDS release package, record package or release (an object)")
    if "releases" in data:
        rel = data["releases"]
        if not isinstance(rel, list):
            raise ContractsInputError(name, _line_of(text, '"releases"'), "releases must be a list")
        return [(r, f"/releases/{k}") for k, r in enumerate(rel)]
    if "records" in data:
        out = []
        for k, rec in enumerate(data["records"] or []):
            if not isinstance(rec, dict):
                raise ContractsInputError(name, _line_of(text, '"records"'), f"records/{k} is not an object")
            if isinstance(rec.get("compiledRelease"), dict):
                out.append((rec["compiledRelease"], f"/records/{k}/compiledRelease"))
            else:
                for j, r in enumerate(rec.get("releases") or []):
                    if isinstance(r, dict) and "url" in r and "ocid" not in r:
                        raise ContractsInputError(name, _line_of(text, str(r["url"])),
                                                  f"records/{k}/releases/{j} is a linked release (url only): "
                                                  "embed the releases or a compiledRelease")
                    out.append((r, f"/records/{k}/releases/{j}"))
        return out
    if "ocid" in data:
        return [(data, "")]
    raise ContractsInputError(name, 1, "not OCDS: expected 'releases', 'records' or a release with 'ocid'")


def _text(v: object) -> str:
    return v.strip() if isinstance(v, str) else ""


def read_ocds(path: Path, text: str | None = None) -> list[ContractRecord]:
    """Contracts of an OCDS JSON file (see the module docstring)."""
    name = path.name
    if text is None:
        text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractsInputError(name, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    by_ocid: dict[str, list[tuple[dict, str]]] = defaultdict(list)
    for rel, ptr in _releases_of(data, name, text):
        if not isinstance(rel, dict) or not isinstance(rel.get("ocid"), str) or not rel["ocid"].strip():
            raise ContractsInputError(name, _line_of(text, '"ocid"'), f"{ptr or '/'}: a release needs an ocid")
        by_ocid[rel["ocid"]].append((rel, ptr))
    out: list[ContractRecord] = []
    for ocid in sorted(by_ocid):
        rels = by_ocid[ocid]
        compiled = compile_releases([r for r, _ in rels])
        line = _line_of(text, f'"{ocid}"')
        out.extend(_contracts_of(compiled, ocid, rels[0][1] if len(rels) == 1 else f"ocid={ocid}", name, line))
    return out


def _party(compiled: dict, ref: object) -> dict:
    pid = ref.get("id") if isinstance(ref, dict) else None
    for p in compiled.get("parties") or []:
        if isinstance(p, dict) and pid is not None and p.get("id") == pid:
            return {**p, **{k: v for k, v in ref.items() if v}} if isinstance(ref, dict) else p
    return ref if isinstance(ref, dict) else {}


def _ids(party: dict) -> list[str]:
    ids = [party.get("identifier"), *(party.get("additionalIdentifiers") or [])]
    return [str(i["id"]).strip() for i in ids if isinstance(i, dict) and i.get("id") is not None]


def _contracts_of(c: dict, ocid: str, pointer: str, name: str, line: int) -> list[ContractRecord]:
    buyer = _party(c, c.get("buyer"))
    if not buyer:
        buyer = next((p for p in c.get("parties") or [] if isinstance(p, dict) and "buyer" in (p.get("roles") or [])),
                     {})
    buyer_ids = tuple(dict.fromkeys(_ids(buyer) + ([str(buyer["id"]).strip()] if buyer.get("id") is not None else [])))
    agency = next((c for c in (unicodedata.normalize("NFKC", i) for i in buyer_ids) if _CODE.fullmatch(c)), "")
    identifier = buyer.get("identifier") if isinstance(buyer.get("identifier"), dict) else {}
    buyer_name = _text(buyer.get("name")) or _text(identifier.get("legalName"))
    budget = (c.get("planning") or {}).get("budget") or {}
    project_ref = _text(budget.get("projectID"))
    project_name = _text(budget.get("project")) or _text(((c.get("planning") or {}).get("project") or {}).get("title"))
    awards = {str(a.get("id")): a for a in c.get("awards") or [] if isinstance(a, dict)}
    tender_title = _text((c.get("tender") or {}).get("title"))
    items: list[tuple[dict, dict | None, str]] = []
    contracts = [x for x in c.get("contracts") or [] if isinstance(x, dict)]
    if contracts:
        for k, con in enumerate(contracts):
            items.append((con, awards.get(str(con.get("awardID"))), f"{pointer}/contracts/{k}"))
    else:
        for k, aw in enumerate(c.get("awards") or []):
            if isinstance(aw, dict) and aw.get("status") not in ("cancelled", "unsuccessful"):
                items.append((aw, aw, f"{pointer}/awards/{k}"))
    out = []
    for obj, award, ptr in items:
        suppliers = []
        for s in (award or {}).get("suppliers") or []:
            party = _party(c, s)
            sname = _text(party.get("name")) or _text(s.get("name") if isinstance(s, dict) else None)
            if not sname:
                raise ContractsInputError(name, line, f"{ptr}: a supplier without a name")
            code = next((normalize_credit_code(i) for i in _ids(party) if _USCC.match(normalize_credit_code(i))),
                        None)
            suppliers.append(Supplier(sname, code))
        if not suppliers:
            raise ContractsInputError(name, line, f"{ptr}: no supplier (contracts need an award with suppliers)")
        value = obj.get("value") or (award or {}).get("value") or {}
        amount = value.get("amount") if isinstance(value, dict) else None
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float | str)):
            raise ContractsInputError(name, line, f"{ptr}/value/amount must be a number")
        amt = _decimal(str(amount), name, line, f"{ptr}/value/amount") if amount is not None else None
        raw_date = obj.get("dateSigned") or (obj.get("period") or {}).get("startDate") or obj.get("date") or \
            (award or {}).get("date")
        date = _date(str(raw_date), name, line, f"{ptr}/dateSigned") if raw_date else None
        out.append(ContractRecord(
            file=name, contract_id=f"{ocid}/{obj.get('id', ptr.rsplit('/', 1)[-1])}", suppliers=suppliers,
            amount=amt, currency=str(value.get("currency") or "CNY") if isinstance(value, dict) else "CNY",
            date=date, project_ref=project_ref, project_name=project_name, agency_code=agency,
            title=_text(obj.get("title")) or tender_title, pointer=ptr, ocid=ocid, buyer_name=buyer_name,
            buyer_ids=buyer_ids))
    return out


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContractsInputError(path.name, 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ContractsInputError(path.name, line, "not UTF-8 text") from None


def read_file(path: str | Path, fmt: str = "auto") -> list[ContractRecord]:
    """The contracts of one file; ``fmt`` auto (by suffix, then content), ocds or csv."""
    p = Path(path)
    if fmt not in FORMATS:
        raise ContractsInputError(p.name, 0, f"unknown format {fmt!r} (auto, ocds or csv)")
    text = _read_text(p)
    if fmt == "auto":
        suffix = p.suffix.lower()
        fmt = "ocds" if suffix == ".json" else "csv" if suffix == ".csv" else \
            ("ocds" if text.lstrip().startswith(("{", "[")) else "csv")
    return read_ocds(p, text) if fmt == "ocds" else read_csv(p, text)


# -- linking contracts to projects ---------------------------------------------------------

_PROJECTS = sparql_prefixes(["bk", "rdfs"]) + """
SELECT ?p ?name ?code ?year ?base ?fy ?pcode WHERE {
  ?p a bk:Project ; rdfs:label ?name ; bk:budgetUnitCode ?code ; bk:budgetYear ?year .
  OPTIONAL { ?p bk:baseName ?base } OPTIONAL { ?p bk:fundYear ?fy } OPTIONAL { ?p bk:projectCode ?pcode }
}
"""

#: The budget units and departments of the agencies graph (see ``kg.build.refresh_agencies``) and their names.
_AGENCIES = sparql_prefixes(["bk", "rdfs"]) + """
SELECT ?code ?name WHERE { ?a bk:agencyCode ?code . OPTIONAL { ?a rdfs:label ?name } }
"""

#: Place names a buyer or project name may start with or leave out (天津市公安局 / 公安局), longest first.
LEADING_PLACES = ("天津市", "天津")
_CODE = re.compile(r"[0-9]{3}|[0-9]{6}")
_EMBEDDED_CODE = re.compile(r"(?<![0-9])([0-9]{6}|[0-9]{3})(?![0-9])")
#: 一个机构两块牌子: a unit name ``A（B）`` whose bracket holds a second name (not a marker such as （特）).
_TWO_NAMES = re.compile(r"^(.+?)\(([^()]+)\)$")


def name_key(name: str) -> str:
    """The form in which buyer and project names are compared exactly.

    :func:`kg.similarity.compact` (NFKC, so full-width forms become half-width; lower case; whitespace
    and every character that is not CJK, a letter or a digit dropped, so （）()「」【】-·, go while what
    brackets hold stays), then one leading 天津市 or 天津 removed.

    >>> name_key("天津市公安局后勤保障部（特）") == name_key("公安局后勤保障部 (特)") == "公安局后勤保障部特"
    True
    >>> name_key("「督审总队信息化运维项目」-2024中央")
    '督审总队信息化运维项目2024中央'
    """
    key = sim.compact(name)
    for place in LEADING_PLACES:
        if key.startswith(place) and len(key) > len(place):
            return key[len(place):]
    return key


def unit_name_keys(name: str) -> set[str]:
    """The name keys a budget unit answers to: its whole name, and each of two names ``A（B）``.

    >>> sorted(unit_name_keys("天津市公安局强制治疗管理总队（天津市公安局安康医院）"))
    ['公安局安康医院', '公安局强制治疗管理总队', '公安局强制治疗管理总队天津市公安局安康医院']
    >>> sorted(unit_name_keys("天津市公安局后勤保障部（特）"))
    ['公安局后勤保障部特']
    """
    keys = {name_key(name)}
    m = _TWO_NAMES.match(unicodedata.normalize("NFKC", name).strip())
    if m and len(name_key(m.group(2))) >= 4:
        keys |= {name_key(m.group(1)), name_key(m.group(2))}
    return keys - {""}


@dataclass
class ProjectInfo:
    iri: str
    name: str
    code: str
    years: frozenset[int]
    keys: tuple[str, ...]
    project_code: str | None = None


def read_projects(store: GraphStore) -> list[ProjectInfo]:
    """Every project with its name keys (:func:`name_key` of its 项目名称 and base name): one query."""
    out: dict[str, ProjectInfo] = {}
    for s in store.query(_PROJECTS, name="contracts:projects"):  # type: ignore[union-attr]
        iri = s["p"].value
        if iri in out:
            continue
        years = {int(s["year"].value[:4])} | ({int(s["fy"].value[:4])} if s["fy"] is not None else set())
        names = [s["name"].value] + ([s["base"].value] if s["base"] is not None else [])
        out[iri] = ProjectInfo(iri, s["name"].value, s["code"].value, frozenset(years),
                               tuple(dict.fromkeys(name_key(n) for n in names)),
                               s["pcode"].value if s["pcode"] is not None else None)
    return [out[k] for k in sorted(out)]


def read_agencies(store: GraphStore) -> dict[str, set[str]]:
    """Agency code → its published names (budget units and departments of the agencies graph): one query."""
    out: dict[str, set[str]] = defaultdict(set)
    for s in store.query(_AGENCIES, name="contracts:agencies"):  # type: ignore[union-attr]
        names = out[s["code"].value]
        if s["name"] is not None:
            names.add(s["name"].value)
    return dict(out)


@dataclass
class Match:
    project: str | None
    confidence: float
    rule: str
    reason: str = ""
    matched: str = ""
    #: Unlinked because several projects fit (no weaker rule is tried after this).
    ambiguous: bool = False
    #: The resolved buyer's agency code.
    buyer: str | None = None


@dataclass(frozen=True)
class Buyer:
    """The budget unit (or department) a contract's buyer resolves to, or why it does not."""

    code: str | None
    problem: str = ""


def name_score(stated: str, keys: Iterable[str]) -> float:
    """Similarity of a stated project name to a project (its 项目名称 or base name), 0 … 1.

    >>> round(name_score("督审总队信息化运维项目", ["督审总队信息化运维项目2024中央", "督审总队信息化运维项目"]), 3)
    1.0
    """
    a = sim.shingles(name_key(stated), (1, 2))
    return max((sim.dice(a, sim.shingles(k, (1, 2))) for k in keys), default=0.0)


def _listed(items: Sequence[str], limit: int = 3) -> str:
    return "、".join(items[:limit]) + (f" … ({len(items)} in all)" if len(items) > limit else "")


class ProjectMatcher:
    """Finds the project a contract is for: by identifier, else by buyer and name, else by a unique name."""

    def __init__(self, projects: list[ProjectInfo], base_iri: str, settings: ContractSettings,
                 agencies: dict[str, set[str]] | None = None) -> None:
        self.settings = settings
        self.base = base_iri
        self.by_iri = {p.iri: p for p in projects}
        self.by_code: dict[str, list[ProjectInfo]] = defaultdict(list)
        self.by_unit: dict[str, list[ProjectInfo]] = defaultdict(list)
        self.by_key: dict[str, list[ProjectInfo]] = defaultdict(list)
        for p in projects:
            if p.project_code:
                self.by_code[p.project_code.upper()].append(p)
            self.by_unit[p.code].append(p)
            self.by_unit[p.code[:3]].append(p)
            for k in p.keys:
                self.by_key[k].append(p)
        self.agency_names: dict[str, set[str]] = {c: set(n) for c, n in (agencies or {}).items()}
        for c in list(self.by_unit):
            self.agency_names.setdefault(c, set())
        self.agencies_by_key: dict[str, set[str]] = defaultdict(set)
        for code, names in self.agency_names.items():
            for n in names:
                for k in unit_name_keys(n):
                    self.agencies_by_key[k].add(code)

    # -- the buyer

    def resolve_buyer(self, r: ContractRecord) -> Buyer:
        """By a code the store knows (stated code, whole identifiers, codes inside identifiers), else by name."""
        ids = [unicodedata.normalize("NFKC", i).strip() for i in r.buyer_ids]
        whole = [r.agency_code] if r.agency_code else []
        stated = list(dict.fromkeys(whole + [i for i in ids if _CODE.fullmatch(i)]))
        embedded = [c for i in ids if not _USCC.match(normalize_credit_code(i)) for c in _EMBEDDED_CODE.findall(i)]
        codes = list(dict.fromkeys(stated + embedded))  # a credit code is no place to look for a budget code
        known = [c for c in codes if c in self.agency_names]
        if known:
            if len({c[:3] for c in known}) > 1 or len({c for c in known if len(c) == 6}) > 1:
                return Buyer(None, f"buyer codes disagree: {', '.join(known)}")
            return Buyer(max(known, key=len))
        if r.buyer_name:
            found = sorted(self.agencies_by_key.get(name_key(r.buyer_name), ()))
            departments = [c for c in found if len(c) == 3]
            if len(departments) == 1 and all(c.startswith(departments[0]) for c in found):
                return Buyer(departments[0])  # the department and a unit of it share the name: the department
            if len(found) == 1:
                return Buyer(found[0])
            if found:
                shown = [f"{c} {'/'.join(sorted(self.agency_names[c]))}" for c in found]
                return Buyer(None, f"buyer name {r.buyer_name} matches {len(found)} budget units: {_listed(shown)}")
        stated_codes = stated or codes
        if not stated_codes and not r.buyer_name:
            return Buyer(None, "no buyer code or name")
        what = " or ".join(x for x in (f"code {'/'.join(stated_codes)}" if stated_codes else "",
                                       f"name {r.buyer_name}" if r.buyer_name else "") if x)
        return Buyer(None, f"buyer not found: no budget unit has {what}")

    # -- the project

    def _exact(self, candidates: Iterable[ProjectInfo], key: str, year: int | None) -> list[ProjectInfo]:
        exact = [p for p in candidates if key in p.keys]
        if len(exact) > 1 and year is not None:  # the same name in two years: the contract's year decides
            exact = [p for p in exact if year in p.years] or exact
        return exact

    def _within_buyer(self, r: ContractRecord, code: str, year: int | None) -> Match:
        candidates = self.by_unit.get(code, [])
        if not candidates:
            return Match(None, 0.0, "", f"agency {code} has no projects in the store")
        stated = name_key(r.project_name)
        exact = self._exact(candidates, stated, year)
        if len(exact) == 1:
            return Match(exact[0].iri, 0.99, "contract/agency+name", matched=exact[0].name)
        containing = [p for p in candidates if any(stated in k for k in p.keys)]
        if len(exact) > 1 or len(containing) > 1:
            names = sorted({p.name for p in (exact or containing)})
            shown = "、".join(names[:3]) + (f" … ({len(names)} projects)" if len(names) > 3 else "")
            return Match(None, 0.0, "", f"ambiguous: {r.project_name} names several projects of agency "
                                        f"{code}: {shown}", ambiguous=True)
        scored = sorted(((name_score(r.project_name, p.keys) + (0.01 if year in p.years else 0.0), p.iri, p)
                         for p in candidates), key=lambda t: (-t[0], t[1]))
        best_score, _, best = scored[0]
        best_score = min(best_score, 1.0)
        if best_score < self.settings.min_confidence:
            return Match(None, round(best_score, 4), "", f"no project of agency {code} has a similar name "
                                                         f"(best: {best.name} {best_score:.2f})")
        if len(scored) > 1 and scored[1][0] > scored[0][0] - self.settings.ambiguity_margin:
            other = scored[1][2]
            return Match(None, round(best_score, 4), "", f"ambiguous: {best.name} ({scored[0][0]:.2f}) or "
                                                         f"{other.name} ({scored[1][0]:.2f})", ambiguous=True)
        return Match(best.iri, round(min(best_score, 0.99), 4), "contract/agency+name", matched=best.name)

    def _unique_name(self, r: ContractRecord, year: int | None, department: str | None) -> Match:
        """The one project (of ``department``, else of the store) whose name key is the stated name's."""
        candidates = self.by_key.get(name_key(r.project_name), [])
        if department:
            candidates = [p for p in candidates if p.code.startswith(department)]
        exact = self._exact(candidates, name_key(r.project_name), year)
        where = f"of department {department}" if department else "in the store"
        if len(exact) == 1:
            return Match(exact[0].iri, self.settings.unique_name_confidence, "contract/unique-name",
                         matched=exact[0].name)
        if exact:
            shown = [f"{p.name} ({p.code})" for p in sorted(exact, key=lambda p: (p.code, p.name, p.iri))]
            return Match(None, 0.0, "", f"project name {r.project_name} matches {len(exact)} projects {where}: "
                                        f"{_listed(shown)}", ambiguous=True)
        return Match(None, 0.0, "", f"no project {where} is named {r.project_name}")

    def match(self, r: ContractRecord) -> Match:
        ref = r.project_ref.strip()
        if ref:
            hit = self.by_iri.get(ref) or self.by_iri.get(f"{self.base}project/{ref.strip('/')}")
            if hit is not None:
                return Match(hit.iri, 1.0, "contract/identifier", matched=hit.name)
            codes = self.by_code.get(ref.upper(), [])
            if len(codes) == 1:
                return Match(codes[0].iri, 1.0, "contract/project-code", matched=codes[0].name)
        buyer = self.resolve_buyer(r)
        if not r.project_name:
            return Match(None, 0.0, "", f"project_ref {ref!r} matches no project and no project_name is given",
                         buyer=buyer.code)
        year = r.date.year if r.date else None
        if buyer.code:
            m = self._within_buyer(r, buyer.code, year)
            if m.project or m.ambiguous or len(buyer.code) == 3:  # a department: its projects were all tried
                m.buyer = buyer.code
                return m
            first = m.reason
        else:
            first = buyer.problem
        u = self._unique_name(r, year, buyer.code[:3] if buyer.code else None)
        u.buyer = buyer.code
        if not u.project:
            u.reason = f"{first}; {u.reason}"
        return u


# -- RDF -----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._~-]{1,64}", text):
        return text
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class ContractIris:
    def __init__(self, base: str) -> None:
        self.base = base if base.endswith(("/", "#")) else base + "/"

    def graph(self, file: str) -> NamedNode:
        return NamedNode(f"{self.base}graph/contracts/{_slug(Path(file).stem)}")

    @property
    def graph_prefix(self) -> str:
        return f"{self.base}graph/contracts/"

    @property
    def vendors_graph(self) -> NamedNode:
        return NamedNode(f"{self.base}graph/vendors")

    def source(self, file: str) -> NamedNode:
        return NamedNode(f"{self.base}procurement/{_slug(Path(file).stem)}")

    def contract(self, file: str, contract_id: str) -> NamedNode:
        return NamedNode(f"{self.base}contract/{_slug(Path(file).stem)}/{_slug(contract_id)}")

    def vendor(self, key: str) -> NamedNode:
        kind, _, value = key.partition(":")
        if kind == "uscc":
            return NamedNode(f"{self.base}vendor/{value}")
        return NamedNode(f"{self.base}vendor/name-{hashlib.sha1(value.encode('utf-8')).hexdigest()[:12]}")


def _dec(x: Decimal | float) -> Literal:
    text = format(Decimal(str(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".") or "0"
    return Literal(text, datatype=XSD.decimal)


def contract_quads(path: Path, records: list[ContractRecord], matches: list[Match], iris: ContractIris,
                   graph: NamedNode, fmt: str, sha256: str) -> list[Quad]:
    """The quads of one imported file in ``graph``."""
    quads: list[Quad] = []
    agency_iris = Iris(iris.base)

    def add(s: NamedNode, p: NamedNode, o: NamedNode | Literal | None) -> None:
        if o is not None:
            quads.append(Quad(s, p, o, graph))

    src = iris.source(path.name)
    add(src, RDF.type, BK.ProcurementSource)
    add(src, RDFS.label, Literal(path.name))
    add(src, DCTERMS.identifier, Literal(path.name))
    add(src, DCTERMS.format, Literal("application/json" if fmt == "ocds" else "text/csv"))
    add(src, BK.sha256, Literal(sha256))
    for r, m in zip(records, matches, strict=True):
        c = iris.contract(path.name, r.contract_id)
        add(c, RDF.type, BK.Contract)
        add(c, DCTERMS.identifier, Literal(r.contract_id))
        add(c, RDFS.label, Literal(r.title or r.contract_id, language="zh" if r.title else None))
        add(c, PROV.wasDerivedFrom, src)
        if r.line is not None:
            add(c, BK.lineStart, Literal(str(r.line), datatype=XSD.positiveInteger))
            add(c, BK.lineEnd, Literal(str(r.line), datatype=XSD.positiveInteger))
        if r.pointer is not None:
            add(c, BK.jsonPointer, Literal(r.pointer))
        if r.ocid:
            add(c, BK.ocid, Literal(r.ocid))
        if r.date:
            add(c, DCTERMS.date, Literal(r.date.isoformat(), datatype=XSD.date))
        if r.amount is not None:
            amt = NamedNode(f"{c.value}/amount")
            add(c, BK.contractAmount, amt)
            add(amt, RDF.type, BK.MonetaryAmount)
            add(amt, QUDT.numericValue, _dec(r.amount))
            add(amt, QUDT.unit, CUR[r.currency.upper()])
            if r.currency.upper() == "CNY":
                add(amt, BK.amountInYuan, _dec(r.amount))
        if r.project_ref:
            add(c, BK.statedProjectRef, Literal(r.project_ref))
        if r.project_name:
            add(c, BK.statedProjectName, Literal(r.project_name, language="zh"))
        if r.agency_code:
            add(c, BK.statedAgencyCode, Literal(r.agency_code))
        if r.buyer_name:
            add(c, BK.statedBuyerName, Literal(r.buyer_name, language="zh"))
        if m.buyer:
            add(c, BK.buyer, agency_iris.agency(m.buyer))
        for k, s in enumerate(r.suppliers, start=1):
            mention = NamedNode(f"{c.value}/supplier/{k}")
            add(c, BK.supplierMention, mention)
            add(mention, RDF.type, BK.SupplierMention)
            add(mention, BK.supplierName, Literal(s.name, language="zh"))
            if s.credit_code:
                add(mention, BK.statedCreditCode, Literal(s.credit_code))
        if m.project:
            add(c, BK.forProject, NamedNode(m.project))
            add(c, BK.linkConfidence, _dec(round(m.confidence, 4)))
            add(c, BK.rule, Literal(m.rule))
            if m.matched:
                add(c, BK.matchedToken, Literal(m.matched, language="zh"))
        else:
            add(c, BK.unlinkedReason, Literal(m.reason))
    return quads


# -- vendors -------------------------------------------------------------------------------

_MENTIONS = sparql_prefixes(["bk"]) + """
SELECT ?c ?k ?name ?code WHERE {
  ?c a bk:Contract ; bk:supplierMention ?k . ?k bk:supplierName ?name . OPTIONAL { ?k bk:statedCreditCode ?code }
}
"""


@dataclass
class VendorGroup:
    key: str
    rule: str
    score: float
    names: Counter[str] = field(default_factory=Counter)
    code: str | None = None
    normalized: str = ""
    contracts: set[str] = field(default_factory=set)


def dedupe_vendors(mentions: Iterable[tuple[str, str, str | None]]) -> list[VendorGroup]:
    """Group ``(contract IRI, stated name, stated credit code)`` mentions into vendors.

    A credit code identifies a vendor. A mention without one joins the vendor whose names normalise
    the same (if exactly one vendor with a code does), else a name-only vendor of that normal form.

    >>> g = dedupe_vendors([("c1", "示例科技有限公司", "91120000EXAMPLE01X"), ("c2", "示例科技有限责任公司", None),
    ...                     ("c3", "样例信息（天津）有限公司", None), ("c4", "样例信息(天津)股份有限公司", None)])
    >>> for v in g:
    ...     print(v.key, v.rule, sorted(v.contracts))
    name:样例信息天津 vendor/normalised-name ['c3', 'c4']
    uscc:91120000EXAMPLE01X vendor/credit-code ['c1', 'c2']
    """
    mentions = sorted(set(mentions), key=lambda m: (m[0], m[1], m[2] or ""))
    groups: dict[str, VendorGroup] = {}
    codes_by_name: dict[str, set[str]] = defaultdict(set)
    for _, name, code in mentions:
        if code:
            codes_by_name[normalize_supplier(name)].add(code)
    for contract, name, code in mentions:
        norm = normalize_supplier(name)
        if code:
            key, rule, score = f"uscc:{code}", "vendor/credit-code", 1.0
        elif len(codes_by_name.get(norm, ())) == 1:
            key, rule, score = f"uscc:{next(iter(codes_by_name[norm]))}", "vendor/credit-code", 1.0
        else:
            key, rule, score = f"name:{norm}", "vendor/normalised-name", 0.9
        g = groups.get(key)
        if g is None:
            g = groups[key] = VendorGroup(key, rule, score, code=code or (key[5:] if key.startswith("uscc:") else None),
                                          normalized=norm)
        g.names[name] += 1
        g.contracts.add(contract)
    return [groups[k] for k in sorted(groups)]


def vendor_quads(groups: list[VendorGroup], iris: ContractIris, graph: NamedNode) -> list[Quad]:
    quads: list[Quad] = []
    for g in groups:
        v = iris.vendor(g.key)
        label = min(g.names.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        quads.append(Quad(v, RDF.type, BK.Vendor, graph))
        quads.append(Quad(v, RDFS.label, Literal(label, language="zh"), graph))
        for n in sorted(g.names):
            if n != label:
                quads.append(Quad(v, SKOS.altLabel, Literal(n, language="zh"), graph))
        quads.append(Quad(v, BK.normalizedName, Literal(g.normalized), graph))
        if g.code:
            quads.append(Quad(v, BK.creditCode, Literal(g.code), graph))
            quads.append(Quad(v, BK.creditCodeValid, Literal("true" if is_valid_uscc(g.code) else "false",
                                                             datatype=XSD.boolean), graph))
        quads.append(Quad(v, BK.rule, Literal(g.rule), graph))
        quads.append(Quad(v, BK.score, _dec(g.score), graph))
        for c in sorted(g.contracts):
            quads.append(Quad(NamedNode(c), BK.vendor, v, graph))
    return quads


@one_generation
def refresh_vendors(store: GraphStore, settings: Settings) -> list[VendorGroup]:
    """Rewrite the vendors graph from every imported contract (stage, then one ``MOVE``)."""
    iris = ContractIris(settings.base_iri)
    graph = iris.vendors_graph
    mentions = [(s["c"].value, s["name"].value, s["code"].value if s["code"] is not None else None)
                for s in store.query(_MENTIONS, name="contracts:mentions")]  # type: ignore[union-attr]
    groups = dedupe_vendors(mentions)
    if not groups:
        store.remove_graph(graph)
        return groups
    store.replace(graph, lambda target: vendor_quads(groups, iris, target))
    return groups


# -- import --------------------------------------------------------------------------------


@dataclass
class Unlinked:
    where: str
    contract_id: str
    supplier: str
    project_name: str
    agency_code: str
    reason: str
    buyer_name: str = ""


@dataclass
class FileReport:
    file: str
    graph: str
    format: str
    contracts: int
    linked: int
    replaced: bool


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    unlinked: list[Unlinked] = field(default_factory=list)
    vendors: int = 0
    vendor_mentions: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def contracts(self) -> int:
        return sum(f.contracts for f in self.files)

    @property
    def linked(self) -> int:
        return sum(f.linked for f in self.files)


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        return "ocds" if suffix == ".json" else "csv"
    head = path.read_bytes()[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "ocds" if head[:1] in (b"{", b"[") else "csv"


@one_generation
def import_files(store: GraphStore, paths: Sequence[str | Path], settings: Settings, fmt: str = "auto",
                 contract_settings: ContractSettings | None = None) -> ImportReport:
    """Import procurement files (see the module docstring); all are read and checked before any is written."""
    cs = contract_settings or ContractSettings()
    iris = ContractIris(settings.base_iri)
    parsed: list[tuple[Path, str, list[ContractRecord], str]] = []
    seen: dict[str, Path] = {}
    for raw in paths:
        p = Path(raw)
        if not p.is_file():
            raise ContractsInputError(p.name, 0, f"no such file: {p}")
        g = iris.graph(p.name).value
        if g in seen:
            raise ContractsInputError(p.name, 0, f"imports into the same graph as {seen[g]} (same file name stem)")
        seen[g] = p
        f = _format_of(p, fmt)
        records = read_file(p, f)
        parsed.append((p, f, records, hashlib.sha256(p.read_bytes()).hexdigest()))
    matcher = ProjectMatcher(read_projects(store), settings.base_iri, cs, read_agencies(store))
    report = ImportReport()
    writes: list[tuple[NamedNode, NamedNode, list[Quad]]] = []
    for p, f, records, sha in parsed:
        matches = [matcher.match(r) for r in records]
        graph = iris.graph(p.name)
        replaced = store.has_graph(graph)
        target = store.staging_graph() if replaced else graph
        writes.append((graph, target, contract_quads(p, records, matches, iris, target, f, sha)))
        report.files.append(FileReport(p.name, graph.value, f, len(records), sum(1 for m in matches if m.project),
                                       replaced))
        for r, m in zip(records, matches, strict=True):
            if not m.project:
                report.unlinked.append(Unlinked(r.where, r.contract_id, r.suppliers[0].name, r.project_name,
                                                r.agency_code, m.reason, r.buyer_name))
            for s in r.suppliers:
                if s.credit_code and not is_valid_uscc(s.credit_code):
                    report.warnings.append(f"{r.where}: credit code {s.credit_code} of {s.name} has a wrong check "
                                           f"character (expected {uscc_check_char(s.credit_code[:17])})")
    created: list[NamedNode] = []
    staged: list[NamedNode] = []
    try:
        for graph, target, quads in writes:
            if target == graph:
                store.write_new(graph, quads)
                created.append(graph)
            else:
                store.stage(quads)
                staged.append(target)
        for graph, target, _ in writes:
            if target != graph:
                store.swap(graph, target)
        staged = []
        groups = refresh_vendors(store, settings)
        # no contract or vendor fact may repeat one of another graph (totals would count it twice)
        integrity.check(store, [*(graph for graph, _, _ in writes), iris.vendors_graph])
    except (BudgetKGError, OSError):
        for g in created:
            store.remove_graph(g)
        for g in staged:
            store.remove_graph(g)
        raise
    store.flush()
    search.refresh(store, settings, quiet=True)  # vendors become searchable
    report.vendors = len(groups)
    report.vendor_mentions = sum(sum(g.names.values()) for g in groups)
    return report


@one_generation
def remove_imports(store: GraphStore, files: Iterable[str], settings: Settings) -> int:
    """Remove the graphs of previously imported files (by file name) and refresh vendors."""
    iris = ContractIris(settings.base_iri)
    n = sum(store.remove_graph(iris.graph(f)) for f in files)
    refresh_vendors(store, settings)
    search.refresh(store, settings, quiet=True)
    return n
