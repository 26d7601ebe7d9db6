"""Vendors: supplier mentions deduplicated by credit code, else by normalised name."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

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
