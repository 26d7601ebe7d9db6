"""Contracts as an imported file states them (:class:`ContractRecord`), and what is wrong with a file.

Also the unified social credit codes (统一社会信用代码, GB 32100-2015) that identify suppliers:
read from both input forms, and checked when vendors are deduplicated.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..errors import BudgetKGError


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


#: The alphabet of unified social credit codes (no I, O, S, V, Z).
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: A well-formed credit code (its check character aside).
USCC_PATTERN = re.compile(f"^[{USCC_CHARS}]{{18}}$")


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
    return bool(USCC_PATTERN.match(code)) and uscc_check_char(code[:17]) == code[17]


#: An agency code: a department (3 digits) or a budget unit (6 digits).
AGENCY_CODE = re.compile(r"[0-9]{3}|[0-9]{6}")
