"""Reading procurement files: the budgetkg contract CSV and OCDS JSON (see :mod:`kg.contracts`).

Every problem is a :class:`~kg.contracts.records.ContractsInputError` naming file, line and what
was expected, raised before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from ..values import parse_decimal
from .records import AGENCY_CODE, USCC_PATTERN, ContractRecord, ContractsInputError, Supplier, normalize_credit_code

#: The columns of the budgetkg contract CSV format, and those that must be there.
CSV_COLUMNS = ("contract_id", "project_ref", "project_name", "agency_code", "buyer_name", "supplier_name",
               "supplier_credit_code", "amount_yuan", "date", "title")
CSV_REQUIRED = ("supplier_name", "amount_yuan", "date")
FORMATS = ("auto", "ocds", "csv")


def _amount(raw: str, path: str, line: int, column: str) -> Decimal:
    value = parse_decimal(raw.replace("，", "").strip())
    if value is None:
        raise ContractsInputError(path, line, f"{column} must be a number, not {raw!r}")
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
    if not USCC_PATTERN.match(code):
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
            amount=_amount(r["amount_yuan"], name, line, "amount_yuan"), currency="CNY",
            date=_date(r["date"], name, line, "date"), project_ref=r.get("project_ref", ""),
            project_name=r.get("project_name", ""), agency_code=agency, title=r.get("title", ""), line=line,
            buyer_name=r.get("buyer_name", "")))
    return out


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


def _stripped(v: object) -> str:
    """A JSON value as text: a string without surrounding spaces, anything else empty."""
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
    agency = next((c for c in (unicodedata.normalize("NFKC", i) for i in buyer_ids) if AGENCY_CODE.fullmatch(c)), "")
    stated_id = buyer.get("identifier")
    identifier = stated_id if isinstance(stated_id, dict) else {}
    buyer_name = _stripped(buyer.get("name")) or _stripped(identifier.get("legalName"))
    budget = (c.get("planning") or {}).get("budget") or {}
    project_ref = _stripped(budget.get("projectID"))
    planned = (c.get("planning") or {}).get("project") or {}
    project_name = _stripped(budget.get("project")) or _stripped(planned.get("title"))
    awards = {str(a.get("id")): a for a in c.get("awards") or [] if isinstance(a, dict)}
    tender_title = _stripped((c.get("tender") or {}).get("title"))
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
            sname = _stripped(party.get("name")) or _stripped(s.get("name") if isinstance(s, dict) else None)
            if not sname:
                raise ContractsInputError(name, line, f"{ptr}: a supplier without a name")
            code = next((normalize_credit_code(i) for i in _ids(party) if USCC_PATTERN.match(normalize_credit_code(i))),
                        None)
            suppliers.append(Supplier(sname, code))
        if not suppliers:
            raise ContractsInputError(name, line, f"{ptr}: no supplier (contracts need an award with suppliers)")
        value = obj.get("value") or (award or {}).get("value") or {}
        amount = value.get("amount") if isinstance(value, dict) else None
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float | str)):
            raise ContractsInputError(name, line, f"{ptr}/value/amount must be a number")
        amt = _amount(str(amount), name, line, f"{ptr}/value/amount") if amount is not None else None
        raw_date = obj.get("dateSigned") or (obj.get("period") or {}).get("startDate") or obj.get("date") or \
            (award or {}).get("date")
        date = _date(str(raw_date), name, line, f"{ptr}/dateSigned") if raw_date else None
        out.append(ContractRecord(
            file=name, contract_id=f"{ocid}/{obj.get('id', ptr.rsplit('/', 1)[-1])}", suppliers=suppliers,
            amount=amt, currency=str(value.get("currency") or "CNY") if isinstance(value, dict) else "CNY",
            date=date, project_ref=project_ref, project_name=project_name, agency_code=agency,
            title=_stripped(obj.get("title")) or tender_title, pointer=ptr, ocid=ocid, buyer_name=buyer_name,
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
    return read_ocds(p, text) if file_format(p, fmt) == "ocds" else read_csv(p, text)


def file_format(path: Path, fmt: str) -> str:
    """``fmt``, or for ``auto`` the format of ``path``: by suffix (.json, .csv), else by its first character."""
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        return "ocds" if suffix == ".json" else "csv"
    head = path.read_bytes()[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "ocds" if head[:1] in (b"{", b"[") else "csv"
