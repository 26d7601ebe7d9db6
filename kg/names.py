"""What a project name says beyond the project itself.

Tianjin's tables usually state the funding source only in the project name (``-2023中央``,
``一般债券``, ``（非财政拨款）``) and mark payment tranches of one undertaking there too
(``50%款项``, ``尾款``, ``进度款``, ``利息``).

>>> info = analyse_name("法制总队信息化运维经费50%款项-2023中央")
>>> info.funding_source, info.fund_year, info.tranche, info.tranche_percent, info.served_unit
('central', 2023, 'partial', Decimal('50'), '法制总队')
>>> analyse_name("法制总队信息化运维经费50%款项-2023中央").base_name
'法制总队信息化运维经费'
>>> analyse_name("天津公安警官职业学院安保实训基地-2024年专项债券利息").tranche
'interest'
"""

from __future__ import annotations

import re
from decimal import Decimal

from .model import NameInfo
from .values import normalize_text

#: (pattern, funding-source key), most specific first. Keys are the local names of the
#: funding-source concept scheme in ``ontology/vocabularies.ttl``.
_FUNDING: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"中央直达资金"), "central-direct"),
    (re.compile(r"直达资金"), "central-direct"),
    (re.compile(r"专项债"), "special-bond"),
    (re.compile(r"一般债"), "general-bond"),
    (re.compile(r"非财政"), "non-fiscal"),
    (re.compile(r"中央"), "central"),
    (re.compile(r"债券"), "bond"),
    (re.compile(r"市级财政|市级资金"), "municipal"),
]
_FUND_YEAR = [
    re.compile(r"[-—](20\d\d)年?(?:中央|一般债|专项债|债券|地方政府)"),
    re.compile(r"(?:中央|直达资金)[（(](20\d\d)年?[)）]"),
    re.compile(r"[（(]原?(20\d\d)年?(?:项目)?[)）]"),
    re.compile(r"[-—](20\d\d)年?$"),
]
_TRANCHE_PARTIAL = re.compile(r"(\d{1,3})%款项")
_SERVED = re.compile(r"^(\S{0,10}?(?:总队|分局|支队|政治部|指挥中心|警航基地))")
_STRIP = [
    re.compile(r"[-—]\d{0,2}(?:20\d\d)?年?(?:中央直达资金|中央|直达资金|一般债券?|专项债券?|地方政府一般债券)(?:利息)?.*$"),
    re.compile(r"[-—]?20\d\d债券利息$"),
    re.compile(r"[（(](?:非财政拨款|非财政|专项债券利息|尾款|原?20\d\d年?(?:项目)?)[)）]"),
    re.compile(r"\d{1,3}%款项|尾款|进度款"),
    re.compile(r"地方政府一般债券利息$"),
]


def analyse_name(name: str) -> NameInfo:
    """Split a project name into its base name and the markers it carries."""
    t = normalize_text(name)
    funding = next((key for pat, key in _FUNDING if pat.search(t)), None)
    year = None
    for pat in _FUND_YEAR:
        if m := pat.search(t):
            year = int(m.group(1))
            break
    tranche, percent = None, None
    if m := _TRANCHE_PARTIAL.search(t):
        tranche, percent = "partial", Decimal(m.group(1))
    elif "尾款" in t:
        tranche = "final"
    elif "进度款" in t:
        tranche = "progress"
    elif "利息" in t:
        tranche = "interest"
    served = None
    if (m := _SERVED.match(t)) and len(m.group(1)) >= 3 and not m.group(1).startswith(("天津", "市")):
        served = m.group(1)
    base = t
    for pat in _STRIP:
        base = pat.sub("", base)
    base = base.strip("-— ") or t
    return NameInfo(base, funding, year, tranche, percent, served)
