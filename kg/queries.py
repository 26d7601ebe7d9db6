"""Named queries: ``queries/<name>.rq`` files with a ``#+`` header, run with safe parameter binding.

Header lines (grlc/datasette style)::

    #+ title.zh: 某预算单位的项目
    #+ title.en: Projects of a budget unit
    #+ description: Every project of the budget unit, with its budget in 万元.
    #+ param: unit iri https://budgetkg.example.org/id/agency/341101 | the budget unit (its IRI)
    #+ tags: agency, projects

A parameter is ``#+ param: <name> <type> [<default>] | <description>`` with type one of
``iri string zh agency integer decimal boolean date``; ``agency`` is a budget unit or department
code (prefix) bound as a plain literal; ``zh`` is text bound as a literal tagged ``@zh``,
which matches a published label through the store's index (``FILTER(STR(?label) = ?name)`` has
to read every label). The value binds the variable ``?<name>`` by a ``VALUES`` block that opens
the WHERE clause (:func:`kg.store.with_values`: written as an RDF term, never by string
formatting), the same way on every store; keep the variable in the SELECT projection so that
results show what they were asked for, and out of sub-SELECTs, which the block does not reach.
A default of ``-`` means "no default": the parameter is required; ``""`` is the empty string, the
way to make a filter optional (``FILTER(?dept = "" || …)``).

Values are checked before anything runs: a decimal is written as ``xsd:decimal`` writes it
(``NaN``, ``INF``, ``1e999999`` are refused), an integer has at most 18 ASCII digits. An ``agency``
or ``iri`` value is looked up first with a cheap ASK (:meth:`NamedQuery.lookups`): one that matches
nothing answers "no such agency" (:class:`~kg.errors.NoSuchValue`, HTTP 404) at once instead of
running the whole query to find nothing.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pyoxigraph import Literal, NamedNode, QuerySolutions

from . import answers, kept, summaries
from .errors import NoSuchValue, QueryError, UnknownQuery
from .names import analyse_name
from .namespaces import PREFIXES, XSD, sparql_prefixes
from .store import GraphStore, QueryResult, with_values

#: The folder, beside the named queries, of their fast forms (see :attr:`NamedQuery.fast_forms`).
FAST_DIR = "fast"


@dataclass(frozen=True)
class FastForm:
    """A text of a named query that reads what the build precomputed (``fast/<name>[.<variant>].rq``).

    It answers what the plain text answers; ``when`` (its ``#+ when:`` line, with the form's prefixes) is
    an ASK asked with the same values first: the form answers only for values that make it true.

    A *table form* has no text: ``table`` names the query whose answer :func:`kg.answers.solve` computes from
    the build's answer table (:mod:`kg.answers`), for any values, while that table is the store's generation's.
    """

    sparql: str
    file: str
    when: str | None = None
    #: The named query :func:`kg.answers.solve` answers from the answer table (a table form), else ``None``.
    table: str | None = None

    @classmethod
    def of_table(cls, name: str) -> FastForm:
        """The table form of the named query ``name`` (one of :data:`kg.answers.FORMS`)."""
        return cls("", f"{answers.FILE_PREFIX}<generation>.npz", None, name)
PARAM_TYPES = ("iri", "string", "zh", "agency", "project", "funding", "integer", "decimal", "boolean", "date")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: xsd:decimal's lexical space (no exponent, no NaN or INF), at most 40 digits.
_DECIMAL = re.compile(r"^[+-]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})$")
#: Integers within 64 bits' worth of digits, ASCII only (``int()`` would take ``١٢`` and ``1_0``).
_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
_BK_RDFS = sparql_prefixes(["bk", "rdfs"])
#: How a value of these types is looked up in the store before the query runs (``?value`` bound as
#: an RDF term): what it is called in messages, and a SELECT of candidate ``?match`` (and ``?label``).
LOOKUPS = {
    "agency": ("agency", _BK_RDFS + "SELECT ?match ?label WHERE { ?unit bk:agencyCode ?match . "
                                    "OPTIONAL { ?unit rdfs:label ?label } }"),
    "project": ("project", _BK_RDFS + "SELECT DISTINCT ?match WHERE { ?p a bk:Project ; rdfs:label ?match "
                                      "FILTER(CONTAINS(STR(?match), STR(?value))) } "
                                      "ORDER BY STRLEN(?match) ?match LIMIT 200"),
    "iri": ("IRI in the store", "SELECT ?match WHERE { { ?value ?p ?o } UNION { ?s ?p ?value } "
                                "BIND(?value AS ?match) } LIMIT 1"),
}
#: Chinese names of the result columns of the named queries (tables show "中文 name"; CSV and the
#: SPARQL result formats keep the variable names, which programs read).
COLUMN_LABELS = {
    "agency": "预算单位", "amount_yuan": "金额(元)", "budget": "预算数(万元)", "budget_wanyuan": "预算数(万元)",
    "category": "指标类别", "code": "单位编码", "comparator": "比较符", "concept": "指标概念",
    "concept_score": "指标相似度", "concepts": "共同指标", "confidence": "关联置信度", "contracts": "合同数",
    "credit_code": "统一社会信用代码", "cross_agency": "跨单位", "department": "主管部门", "dept": "部门",
    "description": "指标解释", "document": "来源文档", "each": "适用对象", "finding": "发现", "findings": "发现数",
    "fiscal": "财政资金(万元)", "fiscal_wanyuan": "财政资金(万元)", "from_fund_year": "资金年度(前)",
    "from_name": "项目(前)", "funding": "资金来源", "funding_key": "资金来源代码", "funding_label": "资金来源",
    "goal_score": "目标相似度", "indicator": "指标", "indicator_name": "三级指标", "indicators": "指标数",
    "kind": "类型", "label": "名称", "level": "汇总层级", "level1": "一级指标", "level2": "二级指标",
    "line": "行", "link": "关联", "links": "关联数", "min_score": "最低分", "min_value": "最低值",
    "name": "项目名称", "name_a": "项目A", "name_b": "项目B", "normalized_unit": "统一单位",
    "normalized_value": "统一单位值", "number": "数值", "other": "其他资金(万元)", "other_code": "对方单位",
    "other_wanyuan": "其他资金(万元)", "parent": "上级来源", "partner_units": "合作单位数", "per": "分母",
    "per_period": "频率周期", "phrases": "共同目标用语", "position": "序号", "project": "项目", "projects": "项目数",
    "projects_with_findings": "有发现的项目数", "rate_percent": "利率(%)", "raw": "指标值(原文)",
    "raw_value": "指标值(原文)", "received_on": "到位日期", "received_yuan": "到位金额(元)", "rule": "规则",
    "rules": "规则数", "scale": "数量级", "score": "得分", "severity": "严重程度", "share_percent": "占比(%)",
    "source": "资金来源", "to_fund_year": "资金年度(后)", "to_name": "项目(后)", "total_score": "总分",
    "unit": "计量单位", "unit_a": "单位A", "unit_b": "单位B", "unit_code": "预算单位编码", "unit_name": "预算单位名称",
    "value": "指标值", "vendor": "供应商", "vendor_name": "供应商名称",
}


#: A project value that is a whole 项目名称 is found through the label index; only a value that is no
#: whole name is looked for inside every name (``EXACT[type]``, tried first; :meth:`Lookup.decide` takes the
#: exact name over the names that contain it, so the answer is the same).
EXACT = {
    # the value is bound tagged @zh (Param.bind), as project names are
    "project": _BK_RDFS + "SELECT DISTINCT ?match WHERE { ?p rdfs:label ?value ; a bk:Project BIND(?value AS ?match) }",
    # a code (digits only: a name goes through every agency's label) that an agency has: decide() answers it as is;
    # through the object index, where the full lookup reads every agency (10,000 at 100,000 tables: 0.25-2 s)
    "agency": _BK_RDFS + "SELECT DISTINCT ?match WHERE { ?unit bk:agencyCode ?value BIND(?value AS ?match) }",
}

#: The 项目名称 of a project given by its IRI.
_PROJECT_BY_IRI = _BK_RDFS + "SELECT DISTINCT ?match WHERE { ?value a bk:Project ; rdfs:label ?match }"
_IRI = re.compile(r"^https?://\S+$")
#: Projects whose name shares a two-character part with a value that names none (for suggestions).
_NEAR_PROJECTS = (_BK_RDFS + "SELECT DISTINCT ?match WHERE { VALUES ?gram { ?GRAMS } ?p a bk:Project ; "
                             "rdfs:label ?match FILTER(CONTAINS(STR(?match), ?gram)) } LIMIT 1000")
#: How many near values an answer that matched nothing offers.
SUGGESTIONS = 5


@dataclass(frozen=True)
class Lookup:
    """A parameter value to find in the store before the query runs (see :meth:`NamedQuery.lookups`).

    :meth:`decide` takes the candidates the lookup query found and returns the value to bind: the
    value itself, or the one thing an inexact value names (an agency by its name, a project by
    part of its name); it raises :class:`~kg.errors.NoSuchValue`, with the nearest values, when the
    value names nothing or several things.
    """

    param: str
    type: str
    value: str
    sparql: str
    #: Asked when ``sparql`` finds nothing: candidates that share a part of the value, for suggestions.
    near: str | None = None
    #: Asked before ``sparql``: the value itself, through an index; when it matches, ``sparql`` is not asked.
    exact: str | None = None

    @property
    def kind(self) -> str:
        return LOOKUPS[self.type][0]

    def decide(self, rows: list[tuple[str, str | None]], near: list[str] | None = None) -> str:
        value = self.value
        if self.type == "iri":
            if not rows:
                raise NoSuchValue(self.param, self.kind, value)
            return value
        if self.type == "agency":
            codes = {code for code, _ in rows}
            if value.isdigit():
                if any(c.startswith(value) for c in codes):
                    return value
                raise NoSuchValue(self.param, self.kind, value, _nearest(value, sorted(codes)))
            key = name_key(value)
            named: dict[str, set[str]] = {}
            for code, label in rows:
                if label:
                    named.setdefault(name_key(label), set()).add(code)
            exact = named.get(key, set())
            found = exact or {c for k, cs in named.items() if key and key in k for c in cs}
            if len(found) == 1:
                return found.pop()
            labels = {f"{label} ({code})" for code, label in rows if label and code in found} if found else \
                {f"{label} ({code})" for code, label in rows if label}
            raise NoSuchValue(self.param, self.kind, value, _nearest(value, sorted(labels)),
                              ambiguous=len(found) > 1)
        names = sorted({m for m, _ in rows})  # project labels containing the value
        if value in names:
            return value
        if len(names) == 1:
            return names[0]
        raise NoSuchValue(self.param, self.kind, value, _nearest(value, names or sorted(set(near or ()))),
                          ambiguous=bool(names))


def _nearest(value: str, candidates: list[str]) -> tuple[str, ...]:
    """The candidates closest to ``value`` (those containing it first), at most :data:`SUGGESTIONS`."""
    containing = [c for c in candidates if value and value in c]
    close = difflib.get_close_matches(value, candidates, n=SUGGESTIONS, cutoff=0.3)
    return tuple(dict.fromkeys([*containing, *close]))[:SUGGESTIONS]


def name_key(text: str) -> str:
    """A name as compared: full-width folded, no spaces or punctuation, no leading 天津市.

    >>> name_key(" 天津市公安局（特警总队） "), name_key("公安局特警总队")
    ('公安局特警总队', '公安局特警总队')
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch.isalnum())
    return text.removeprefix("天津市").removeprefix("天津")


def funding_key(value: str) -> str | None:
    """The funding-source key (a concept of the funding scheme) a user's word names, or None.

    Keys, labels and the spellings project names use are all understood (专项债 = 专项债券 =
    special-bond, 中央 = 中央资金 = central …).

    >>> funding_key("专项债券"), funding_key("中央资金"), funding_key("central"), funding_key("直达"), funding_key("x")
    ('special-bond', 'central', 'central', 'central-direct', None)
    """
    word = unicodedata.normalize("NFKC", value).strip()
    if word in FUNDING_KEYS:
        return word
    for label, key in FUNDING_WORDS.items():
        if word == label:
            return key
    return analyse_name(f"项目-{word}").funding_source or next(
        (key for label, key in FUNDING_WORDS.items() if word and word in label), None)


#: Words for funding sources beyond what project names say (kg.names reads those).
FUNDING_WORDS = {"中央": "central", "中央资金": "central", "中央财政": "central", "中央财政资金": "central",
                 "直达": "central-direct", "直达资金": "central-direct", "中央直达资金": "central-direct",
                 "专项债": "special-bond", "专项债券": "special-bond", "专项债券资金": "special-bond",
                 "一般债": "general-bond", "一般债券": "general-bond", "一般债券资金": "general-bond",
                 "市级": "municipal", "市级资金": "municipal", "市级财政": "municipal", "市财政": "municipal",
                 "非财政": "non-fiscal", "非财政拨款": "non-fiscal", "未注明": "unstated"}
FUNDING_KEYS = frozenset(FUNDING_WORDS.values()) | {"bond", "fiscal", "own-funds", "other", "bank-loan",
                                                     "other-financing"}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    description: str

    def bind(self, raw: str | None, query: str) -> NamedNode | Literal | None:
        """The RDF term for a raw parameter value (``None``: use the default)."""
        value = self.default if raw is None else raw
        if value is None:
            raise QueryError(query, f"parameter {self.name!r} ({self.type}) is required")
        try:
            if self.type == "iri":
                value = expand_prefixed(value)
                if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>\"{}|\\^`]*$", value):
                    raise ValueError("not an absolute IRI")
                return NamedNode(value)
            if self.type == "integer":
                if not _INTEGER.fullmatch(value):
                    raise ValueError("not an integer of at most 18 digits")
                return Literal(str(int(value)), datatype=XSD.integer)
            if self.type == "decimal":
                if not _DECIMAL.fullmatch(value):
                    raise ValueError("not a finite decimal such as 0.35 (no exponent, NaN or Infinity)")
                return Literal(str(Decimal(value)), datatype=XSD.decimal)
            if self.type == "boolean":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError("not a boolean")
                return Literal("true" if value.lower() in ("true", "1") else "false", datatype=XSD.boolean)
            if self.type == "date":
                if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
                    raise ValueError("not a date (YYYY-MM-DD)")
                return Literal(value, datatype=XSD.date)
            if self.type in ("zh", "project"):
                return Literal(value, language="zh")
            if self.type == "funding" and value:
                key = funding_key(value)
                if key is None:
                    raise NoSuchValue(self.name, "funding source", value,
                                      _nearest(value, sorted({*FUNDING_WORDS, *FUNDING_KEYS}))
                                      or tuple(sorted(FUNDING_KEYS)))
                return Literal(key)
            return Literal(value)
        except (ValueError, InvalidOperation) as exc:
            raise QueryError(query, f"parameter {self.name!r} expects {self.type}: {value!r} ({exc})") from None


@dataclass(frozen=True)
class NamedQuery:
    name: str
    path: Path
    sparql: str
    title_zh: str
    title_en: str
    description: str
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: The forms that read what the build precomputed (``fast/<name>.rq``, ``fast/<name>.<variant>.rq``),
    #: tried in order (those with a ``when`` first); used only while the store's summaries are current.
    fast_forms: tuple[FastForm, ...] = ()

    @property
    def fast(self) -> str | None:
        """The fast text that answers for every value (no ``when``), if any (table forms have no text)."""
        return next((f.sparql for f in self.fast_forms if f.when is None and f.table is None), None)

    def text_for(self, store: GraphStore, bindings: dict[str, NamedNode | Literal] | None = None) -> str | FastForm:
        """The text to run on ``store`` for ``bindings`` (the defaults if ``None``), or the table form that
        answers instead: see :func:`choose`."""
        values = bindings if bindings is not None else self.bindings({})
        return choose(self.sparql, self.fast_forms, values, store.query, store)

    def echoes(self, values: dict[str, str | None]) -> set[str]:
        """Parameters left empty (their "all" value): result columns that would only repeat the empty string."""
        return {p.name for p in self.params if (values.get(p.name) if p.name in values else p.default) == ""}

    @staticmethod
    def column_label(name: str) -> str:
        """A result column's header for people: its Chinese name and the variable (``预算单位编码 unit_code``)."""
        zh = COLUMN_LABELS.get(name)
        return f"{zh} {name}" if zh else name

    @property
    def kind(self) -> str:
        """SELECT, ASK, CONSTRUCT or DESCRIBE (the first query keyword after the prologue)."""
        body = re.sub(r"#[^\n]*", "", self.sparql)
        m = re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", body, re.IGNORECASE)
        return m.group(1).upper() if m else "SELECT"

    def bindings(self, values: dict[str, str | None]) -> dict[str, NamedNode | Literal]:
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise QueryError(self.name, f"unknown parameter(s): {', '.join(sorted(unknown))}")
        out = {}
        for p in self.params:
            term = p.bind(values.get(p.name), self.name)
            if term is not None:
                out[p.name] = term
        return out

    def lookups(self, bindings: dict[str, NamedNode | Literal]) -> list[Lookup]:
        """A :class:`Lookup` for each bound ``agency``, ``project`` or ``iri`` value, to run before the query.

        The empty ``agency`` (its "all" default) needs none.
        """
        out = []
        for p in self.params:
            term = bindings.get(p.name)
            if p.type in LOOKUPS and term is not None and term.value:
                sparql = LOOKUPS[p.type][1]
                if p.type == "project" and _IRI.match(term.value):
                    # a project's IRI stands for its 项目名称 (what the query matches, through the label index)
                    out.append(Lookup(p.name, p.type, term.value,
                                      with_values(_PROJECT_BY_IRI, {"value": NamedNode(term.value)})))
                    continue
                if p.type != "agency":
                    sparql = with_values(sparql, {"value": term})
                near = None
                if p.type == "project":
                    grams = list(dict.fromkeys(term.value[i:i + 2] for i in range(len(term.value) - 1)))[:8]
                    near = (_NEAR_PROJECTS.replace("?GRAMS", " ".join(str(Literal(g)) for g in grams))
                            if grams else None)
                exact = (with_values(EXACT[p.type], {"value": term})
                         if p.type in EXACT and (p.type != "agency" or term.value.isdigit()) else None)
                out.append(Lookup(p.name, p.type, term.value, sparql, near, exact))
        return out

    def run(self, store: GraphStore, values: dict[str, str | None] | None = None) -> QueryResult:
        def ask(sparql: str) -> QuerySolutions:
            result = store.query(sparql, name=self.name)
            if not isinstance(result, QuerySolutions):  # the lookups are SELECTs written above
                raise QueryError(self.name, f"a value lookup answered {type(result).__name__}, not solutions")
            return result

        bindings = self.bindings(values or {})
        bindings = resolve(self.lookups(bindings), bindings, ask)
        text = self.text_for(store, bindings)
        if isinstance(text, FastForm):
            table = answers.stored(store)
            solved = answers.solve(table, self.name, bindings) if table is not None else None
            if solved is not None:
                return solved
            # the table is gone, or does not answer these values: the texts do
            chosen = choose(self.sparql, self.fast_forms, bindings, store.query, store, tables=False)
            text = chosen if isinstance(chosen, str) else self.sparql
        found = kept_answer(self.name, self.sparql, text, bindings, lambda: kept.stored(store))
        if found is not None:
            return found.solutions()
        return store.query(text, name=self.name, substitutions=with_zh(text, bindings))


def choose(sparql: str, forms: Iterable[FastForm], bindings: dict[str, NamedNode | Literal],
           ask: Callable[..., Any], store: GraphStore, *, tables: bool = True) -> str | FastForm:
    """The text a named query runs: while the build's analytics describe ``store`` (:func:`kg.summaries.current`),
    its table form if the build kept the answer table of the store's generation (:func:`kg.answers.kept`), else
    the first of its fast ``forms`` whose ``when`` (an ASK) is true for ``bindings``, or that has none; else
    the plain text ``sparql``, which reads only the published data.

    A table form is returned as such: the caller answers with :func:`kg.answers.solve` on the table it loads,
    and, when that answers ``None`` (a table gone since, values it does not compare), asks again with
    ``tables=False``: the text to run instead (a fast form's, else ``sparql``).
    ``ask`` runs a query (``store.query`` or a worker's own runner) with ``substitutions``. Where the text is a
    fast form, the build's kept answers may answer instead, from columns (:func:`kept_answer`).
    """
    forms = list(forms)
    if not forms or not summaries.current(store):
        return sparql
    for form in forms:
        if form.table is not None:
            if tables and answers.kept(store):
                return form
        elif form.when is None or bool(ask(form.when, name="when", substitutions=dict(bindings))):
            return form.sparql
    return sparql


def kept_answer(name: str, sparql: str, chosen: str, bindings: Mapping[str, object],
                load: Callable[[], kept.KeptTable | None]) -> answers.TableAnswer | None:
    """The answer of the named query ``name`` from the build's kept answers (:mod:`kg.kept`), where :func:`choose`
    chose one of its fast forms (``chosen`` is not its plain text ``sparql``: the analytics describe the store, and
    the values are those the form answers) and the kept answers of the store's generation answer these values
    (``load``: :func:`kg.kept.stored`, or a worker's copy of it); else ``None``: ``chosen`` runs.
    """
    if name not in kept.FORMS or chosen == sparql:
        return None
    table = load()
    return kept.answer(table, name, bindings) if table is not None else None


def with_zh(text: str, bindings: dict[str, NamedNode | Literal]) -> dict[str, object]:
    """``bindings``, and for each plain string value ``?x`` whose ``?x_zh`` the query uses, ``?x_zh``: the
    same text tagged ``@zh``. Labels are tagged ``@zh``; a fast form matches one through the object index
    with ``?x_zh`` where the plain text compares ``STR(?label) = ?x`` with every label of the store.

    >>> with_zh("SELECT * { ?i bk:level1Label ?category_zh }", {"category": Literal("成本指标")})["category_zh"]
    <Literal value=成本指标 language=zh>
    """
    out: dict[str, object] = dict(bindings)
    used = set(re.findall(r"[?$]([A-Za-z_][A-Za-z0-9_]*)_zh\b", text))
    for name, term in bindings.items():
        if name in used and isinstance(term, Literal) and not term.language and term.datatype == XSD.string:
            out[f"{name}_zh"] = Literal(term.value, language="zh")
    return out


def resolve(lookups: Iterable[Lookup], bindings: dict[str, NamedNode | Literal],
            ask: Callable[[str], Iterable[Any]]) -> dict[str, NamedNode | Literal]:
    """``bindings`` with each looked-up value replaced by what it names (see :class:`Lookup`).

    ``ask`` runs a lookup's query and returns its solutions; the CLI runs it on its store, the
    server in the worker that then runs the query.
    """
    out = dict(bindings)
    for lk in lookups:
        if lk.exact is not None:
            found = [s["match"].value for s in ask(lk.exact)]
            if lk.value in found:
                continue  # the value names itself: what decide() would answer
        rows = [(s["match"].value, s["label"].value if "label" in _names(s) and s["label"] is not None else None)
                for s in ask(lk.sparql)]
        near = [s["match"].value for s in ask(lk.near)] if not rows and lk.near else None
        value = lk.decide(rows, near)
        if value != lk.value:
            term = out[lk.param]
            out[lk.param] = Literal(value, language=term.language) if isinstance(term, Literal) else NamedNode(value)
    return out


def _names(solution: Any) -> set[str]:
    try:
        solution["label"]
    except (KeyError, IndexError):
        return set()
    return {"label"}


def expand_prefixed(value: str) -> str:
    """``unit:PERCENT`` → the QUDT IRI; ``cur:CNY``, ``bk:…`` likewise (budgetkg's prefixes); else ``value``.

    >>> expand_prefixed("unit:PERCENT"), expand_prefixed("http://qudt.org/vocab/unit/DAY")
    ('http://qudt.org/vocab/unit/PERCENT', 'http://qudt.org/vocab/unit/DAY')
    """
    prefix, sep, local = value.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return value


def parse_header(name: str, path: Path, text: str) -> NamedQuery:
    meta: dict[str, str] = {}
    params: list[Param] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("#+"):
            continue
        key, _, value = line[2:].strip().partition(":")
        key, value = key.strip(), value.strip()
        if key == "param":
            spec, _, desc = value.partition("|")
            parts = spec.split()
            if len(parts) not in (2, 3) or not _NAME.match(parts[0]) or parts[1] not in PARAM_TYPES:
                raise QueryError(name, f"{path.name}:{n}: param must be '<name> <type> [default] | description'"
                                 f" with type in {', '.join(PARAM_TYPES)}")
            default = parts[2] if len(parts) == 3 and parts[2] != "-" else None
            if default == '""':
                default = ""
            if parts[0] not in re.findall(r"[?$]([A-Za-z_][A-Za-z0-9_]*)", text):
                raise QueryError(name, f"{path.name}:{n}: parameter {parts[0]!r} is not a variable of the query")
            params.append(Param(parts[0], parts[1], default, desc.strip()))
        else:
            meta[key] = value
    missing = [k for k in ("title.zh", "title.en", "description") if not meta.get(k)]
    if missing:
        raise QueryError(name, f"{path.name}: header lacks {', '.join(missing)}")
    tags = tuple(t.strip() for t in meta.get("tags", "").split(",") if t.strip())
    fast_dir = path.parent / FAST_DIR
    files = [f for f in (fast_dir / path.name, *fast_dir.glob(f"{name}.*.rq")) if f.is_file()]
    forms = tuple(sorted((_fast_form(name, f, params) for f in files), key=lambda f: (f.when is None, f.file)))
    if name in answers.FORMS:
        forms = (FastForm.of_table(name), *forms)  # first: it answers every value
    return NamedQuery(name, path, text, meta["title.zh"], meta["title.en"], meta["description"], tuple(params), tags,
                      forms)


def _fast_form(name: str, path: Path, params: list[Param]) -> FastForm:
    text = path.read_text(encoding="utf-8")
    when = None
    for line in text.splitlines():
        if line.startswith("#+ when:"):
            prologue = "\n".join(x for x in text.splitlines() if x.upper().startswith("PREFIX "))
            when = prologue + "\n" + line.partition(":")[2].strip()
    for p in params:
        if p.name not in re.findall(r"[?$]([A-Za-z_][A-Za-z0-9_]*)", text):
            raise QueryError(name, f"{FAST_DIR}/{path.name}: parameter {p.name!r} is not a variable of the query")
    return FastForm(text, path.name, when)


def load_all(directory: Path) -> dict[str, NamedQuery]:
    """Every ``*.rq`` of ``directory`` by name (the file stem)."""
    out = {}
    for path in sorted(directory.glob("*.rq")):
        name = path.stem
        if not _NAME.match(name):
            raise QueryError(name, f"{path.name}: query names are snake_case")
        out[name] = parse_header(name, path, path.read_text(encoding="utf-8"))
    return out


def get(directory: Path, name: str) -> NamedQuery:
    """The named query ``name``; :class:`UnknownQuery` (with the closest names) if there is none."""
    path = directory / f"{name}.rq"
    if not _NAME.match(name) or not path.is_file():
        raise UnknownQuery(name, closest(directory, name))
    return parse_header(name, path, path.read_text(encoding="utf-8"))


def closest(directory: Path, name: str) -> tuple[str, ...]:
    """Names of queries in ``directory`` close to ``name`` (a typo, a missing ``_``, a word of the name).

    >>> from kg.settings import QUERIES_DIR
    >>> closest(QUERIES_DIR, "budget_by_agenc"), closest(QUERIES_DIR, "lineage")
    (('budget_by_agency', 'findings_by_agency'), ('project_lineage',))
    """
    names = sorted(p.stem for p in directory.glob("*.rq"))
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    if not close:
        close = [n for n in names if key and key in n][:3]
    return tuple(close)
