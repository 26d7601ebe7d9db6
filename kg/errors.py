"""Errors raised by budgetkg, each carrying what a user needs to act on it.

Library exceptions (pyoxigraph's ``SyntaxError``/``OSError``, ``UnicodeDecodeError`` …) are
converted to these at the boundary where they arise, so callers only ever catch
:class:`BudgetKGError`.
"""

from __future__ import annotations

from pathlib import Path


class BudgetKGError(Exception):
    """Base class of every error budgetkg raises on purpose.

    Errors pickle with their fields (a build worker process raises them in the parent):

    >>> import pickle
    >>> e = pickle.loads(pickle.dumps(SourceParseError("a.txt", 3, "a table title", "x")))
    >>> (e.path, e.line, str(e))
    ('a.txt', 3, "a.txt:3: expected a table title, found 'x'")
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[BudgetKGError], args: tuple[object, ...], state: dict[str, object]) -> BudgetKGError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class SourceParseError(BudgetKGError):
    """A source document could not be read as a performance-target document.

    >>> str(SourceParseError("a.txt", 12, "a 6-digit budget unit line", "单位：万元"))
    "a.txt:12: expected a 6-digit budget unit line, found '单位：万元'"
    """

    def __init__(self, path: str | Path, line: int, expected: str, found: str) -> None:
        self.path = str(path)
        self.line = line
        self.expected = expected
        self.found = found
        shown = found if len(found) <= 80 else found[:77] + "..."
        super().__init__(f"{self.path}:{line}: expected {expected}, found {shown!r}")


class ManifestError(BudgetKGError):
    """The source manifest is missing, malformed, or names a file that does not exist."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class StoreError(BudgetKGError):
    """The store could not be opened, read or written."""


class DamagedStore(StoreError):
    """The store's files are damaged (RocksDB reports corruption or a missing file): it cannot be used as it is.

    >>> str(DamagedStore("st", "Corruption: bad block")).splitlines()[0]
    'the store at st is damaged: Corruption: bad block'
    """

    def __init__(self, path: str | Path, detail: str) -> None:
        self.path = str(path)
        self.detail = " ".join(detail.split())
        super().__init__(
            f"the store at {self.path} is damaged: {self.detail}\n"
            f"nothing was read or changed. Restore it from a dump made with 'budgetkg export' (budgetkg restore DUMP "
            f"--store NEW_FOLDER), or rebuild it with 'budgetkg build --store NEW_FOLDER'; then use the new folder. "
            f"'budgetkg check-store --store {self.path}' reports what is wrong.")


class DocumentTooLarge(BudgetKGError):
    """A source document is larger than the setting ``BUDGETKG_MAX_DOCUMENT_MB`` allows.

    >>> str(DocumentTooLarge("big.txt", 52_428_800, 20)).split(";")[0]
    'big.txt: 50.0 MB is larger than the 20 MB a document may have (BUDGETKG_MAX_DOCUMENT_MB)'
    """

    def __init__(self, path: str | Path, size: int, limit_mb: int) -> None:
        self.path = str(path)
        self.size = size
        self.limit_mb = limit_mb
        super().__init__(f"{self.path}: {size / 1048576:.1f} MB is larger than the {limit_mb} MB a document may have "
                         "(BUDGETKG_MAX_DOCUMENT_MB); split it, or raise the setting")


class QueryError(BudgetKGError):
    """A SPARQL query (named or ad hoc) is invalid or failed."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(f"query {name}: {message}")


class UnknownQuery(BudgetKGError):
    """No named query of that name exists in ``queries/``."""

    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" (did you mean {' or '.join(suggestions)}?)" if suggestions else ""
        super().__init__(f"no named query {name!r}{hint}")


class NoSuchValue(BudgetKGError):
    """A query parameter names something the store does not hold (an agency code, an IRI).

    >>> str(NoSuchValue("agency", "agency", "999"))
    "no such agency: '999' (parameter 'agency')"
    """

    def __init__(self, param: str, kind: str, value: str, nearest: tuple[str, ...] = (),
                 ambiguous: bool = False) -> None:
        self.param = param
        self.kind = kind
        self.value = value
        self.nearest = nearest
        self.ambiguous = ambiguous
        head = f"{value[:200]!r} matches more than one {kind}" if ambiguous else f"no such {kind}: {value[:200]!r}"
        hint = f"; {'which one' if ambiguous else 'nearest'}: {', '.join(nearest)}" if nearest else ""
        super().__init__(f"{head} (parameter {param!r}){hint}")


class ValidationError(BudgetKGError):
    """Data does not conform to the structural shapes (raised before a store is changed)."""

    def __init__(self, source: str, messages: list[str]) -> None:
        self.source = source
        self.messages = messages
        head = "; ".join(messages[:5])
        more = f" (+{len(messages) - 5} more)" if len(messages) > 5 else ""
        super().__init__(f"{source}: does not conform: {head}{more}")
