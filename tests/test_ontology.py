"""The budgetkg ontology (ontology/budgetkg.ttl) and its vocabularies (ontology/vocabularies.ttl).

Checks that both files parse, that every budgetkg term is labelled in Chinese and English and
commented, that the concept schemes hold what the converter relies on, and that the ontology
with a small instance sample is consistent under OWL-RL (and that the check can fail).
"""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations
from pathlib import Path

import pytest
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, SKOS

from .helpers import owl_inconsistencies

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_TTL = ROOT / "ontology" / "budgetkg.ttl"
VOCABULARIES_TTL = ROOT / "ontology" / "vocabularies.ttl"

DEF = "https://budgetkg.example.org/def/"
BK = Namespace(DEF)
BKCAT = Namespace(DEF + "category/")
BKFUND = Namespace(DEF + "funding/")
QUDT = Namespace("http://qudt.org/schema/qudt/")
UNIT = Namespace("http://qudt.org/vocab/unit/")
CUR = Namespace("http://qudt.org/vocab/currency/")

DECLARATION_TYPES = (
    OWL.Class,
    OWL.ObjectProperty,
    OWL.DatatypeProperty,
    OWL.AnnotationProperty,
    SKOS.Concept,
    SKOS.ConceptScheme,
    QUDT.Unit,
)

EXTERNAL_UNITS = [
    UNIT.PERCENT,
    CUR.CNY,
    UNIT.HR,
    UNIT.MIN,
    UNIT.SEC,
    UNIT.DAY,
    UNIT.WK,
    UNIT.MO,
    UNIT.YR,
    UNIT.M2,
    UNIT.KiloM2,
    UNIT.M,
    UNIT.KiloM,
    UNIT.KiloGM,
    UNIT.TONNE,
    UNIT.TeraBYTE,
    UNIT.GigaBYTE,
    UNIT.L,
    UNIT.NUM,
]

#: Concept class of each scheme's members.
SCHEME_CLASSES = {
    "category/scheme": BK.IndicatorCategory,
    "funding/scheme": BK.FundingSource,
    "tranche/scheme": BK.PaymentTranche,
    "comparator/scheme": BK.Comparator,
    "value-kind/scheme": BK.ValueKind,
    "goal-kind/scheme": BK.GoalKind,
}

#: A small, realistic instance sample: one standard table and one special-bond table.
SAMPLE_TTL = """
@prefix bk: <https://budgetkg.example.org/def/> .
@prefix bkcat: <https://budgetkg.example.org/def/category/> .
@prefix bkfund: <https://budgetkg.example.org/def/funding/> .
@prefix bktranche: <https://budgetkg.example.org/def/tranche/> .
@prefix bkcmp: <https://budgetkg.example.org/def/comparator/> .
@prefix bkvk: <https://budgetkg.example.org/def/value-kind/> .
@prefix bkgoal: <https://budgetkg.example.org/def/goal-kind/> .
@prefix bkunit: <https://budgetkg.example.org/def/unit/> .
@prefix id: <https://budgetkg.example.org/id/> .
@prefix org: <http://www.w3.org/ns/org#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix qudt: <http://qudt.org/schema/qudt/> .
@prefix unit: <http://qudt.org/vocab/unit/> .
@prefix cur: <http://qudt.org/vocab/currency/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

id:dept-341 a bk:Department ; bk:agencyCode "341" ; rdfs:label "天津市公安局"@zh .
id:unit-341101 a bk:BudgetUnit ; bk:agencyCode "341101" ; org:subOrganizationOf id:dept-341 .

id:doc-004 a bk:SourceDocument ; dcterms:identifier "004_5346273e88d8e34b.txt" ;
    dcterms:publisher id:unit-341101 ; bk:budgetYear "2024"^^xsd:gYear ;
    bk:sha256 "00" ; bk:lineCount 10200 .

id:p1 a bk:Project ; rdfs:label "法制总队信息化运维经费50%款项-2023中央"@zh ;
    prov:wasDerivedFrom id:doc-004 ; bk:budgetUnit id:unit-341101 ;
    bk:budgetYear "2024"^^xsd:gYear ; bk:fundYear "2023"^^xsd:gYear ;
    bk:fundingSource bkfund:central ; bk:paymentTranche bktranche:partial ; bk:tranchePercent 50.0 ;
    bk:baseName "法制总队信息化运维经费" ; bk:servedUnitName "法制总队" ;
    bk:tableNumber 1 ; bk:titleNumber 1 ; bk:useOfFunds "运维" ;
    bk:lineStart "10"^^xsd:positiveInteger ; bk:lineEnd "60"^^xsd:positiveInteger ;
    bk:budget id:p1-budget ; bk:fiscalFunds id:p1-fiscal ;
    bk:hasGoal id:p1-g1 ; bk:hasIndicator id:p1-i1 .
id:p1-budget a bk:MonetaryAmount ; qudt:numericValue 39.6 ; qudt:unit bkunit:TenThousandCNY ;
    bk:amountInYuan 396000.0 .
id:p1-fiscal a bk:MonetaryAmount ; qudt:numericValue 39.6 ; qudt:unit bkunit:TenThousandCNY ;
    bk:amountInYuan 396000.0 .
id:p1-g1 a bk:Goal ; bk:goalKind bkgoal:performance ; bk:ordinal 1 ; bk:goalText "保障系统稳定运行" ;
    prov:wasDerivedFrom id:doc-004 ; bk:lineStart "20"^^xsd:positiveInteger ; bk:lineEnd "21"^^xsd:positiveInteger .
id:p1-i1 a bk:Indicator ; bk:ofProject id:p1 ; bk:position 1 ;
    bk:level1 bkcat:output ; bk:level2 bkcat:output-quality ;
    bk:level1Label "产出指标" ; bk:level2Label "质量指标" ; bk:level1Carried false ;
    bk:indicatorName "系统正常运行率" ; dcterms:description "系统正常运行率" ;
    prov:wasDerivedFrom id:doc-004 ; bk:lineStart "30"^^xsd:positiveInteger ; bk:lineEnd "34"^^xsd:positiveInteger ;
    bk:target id:p1-i1-t .
id:p1-i1-t a bk:Target ; bk:rawValue "≥97百分比" ; bk:valueKind bkvk:numeric ; bk:comparator bkcmp:ge ;
    qudt:numericValue 97.0 ; qudt:unit unit:PERCENT ; bk:unitLabel "百分比" ; bk:scale 1.0 ;
    bk:normalizedValue 97.0 ; bk:normalizedUnit unit:PERCENT .
id:p1-i2 a bk:Indicator ; bk:ofProject id:p1 ; bk:level1 bkcat:output ; bk:level2 bkcat:output-timeliness ;
    bk:level1Carried true ; bk:target id:p1-i2-t .
id:p1-i2-t a bk:Target ; bk:rawValue "2024年12月底前" ; bk:valueKind bkvk:date ; bk:comparator bkcmp:le ;
    bk:periodStart "2024-12-01"^^xsd:date ; bk:periodEnd "2024-12-31"^^xsd:date ;
    bk:deadline "2024-12-31"^^xsd:date ; bk:yearInferred false .

id:p2 a bk:SpecialBondProject ; bk:budgetUnit id:unit-341101 ; bk:supervisingDepartment id:dept-341 ;
    prov:wasDerivedFrom id:doc-004 ; bk:projectCode "X" ; bk:projectNature "新建" ;
    bk:plannedStart "2023-01-01"^^xsd:date ; bk:plannedEnd "2025-12-31"^^xsd:date ;
    bk:implementationPeriodYears 3.0 ; bk:fundingSource bkfund:special-bond ;
    bk:totalFunding id:p2-total ; bk:hasFundingAllocation id:p2-f1 ; bk:hasGoal id:p2-g1 ; bk:hasIndicator id:p2-i1 .
id:p2-total a bk:MonetaryAmount ; qudt:numericValue 70000000 ; qudt:unit cur:CNY ; bk:amountInYuan 70000000.0 .
id:p2-f1 a bk:FundingAllocation ; bk:fundingLabel "专项债券资金" ; bk:fundingSource bkfund:special-bond ;
    bk:amount id:p2-f1-amount ; bk:amountReceived id:p2-f1-received ; bk:interestRatePercent 3.04 ;
    bk:sharePercent 100.0 ; bk:receivedOn "2023-12-08"^^xsd:date ; bk:ordinal 3 .
id:p2-f1-amount a bk:MonetaryAmount ; qudt:numericValue 70000000 ; qudt:unit cur:CNY .
id:p2-f1-received a bk:MonetaryAmount ; qudt:numericValue 70000000 ; qudt:unit cur:CNY .
id:p2-g1 a bk:Goal ; bk:goalKind bkgoal:overall ; bk:ordinal 1 .
id:p2-i1 a bk:Indicator ; bk:level1 bkcat:debt-service ; bk:level2 bkcat:debt-coverage ;
    bk:target [ a bk:Target ; bk:rawValue "≤15%" ; bk:valueKind bkvk:numeric ; bk:comparator bkcmp:le ] .

id:vendor-1 a bk:Vendor ; bk:creditCode "91120000000000000X" .
id:contract-1 a bk:Contract ; bk:vendor id:vendor-1 ; bk:forProject id:p1 ;
    bk:contractAmount [ a bk:MonetaryAmount ; bk:amountInYuan 100000.0 ] ; bk:linkConfidence 0.9 .
id:finding-1 a bk:AuditFinding ; prov:wasDerivedFrom id:doc-004 .
"""


@pytest.fixture(scope="module")
def ontology() -> Graph:
    g = Graph()
    g.parse(ONTOLOGY_TTL, format="turtle")
    g.parse(VOCABULARIES_TTL, format="turtle")
    return g


def _copy(g: Graph) -> Graph:
    out = Graph()
    for t in g:
        out.add(t)
    return out


def _lang_labels(g: Graph, s: URIRef, lang: str) -> list[Literal]:
    return [o for o in g.objects(s, RDFS.label) if isinstance(o, Literal) and o.language == lang]


def _declared_terms(g: Graph) -> set[URIRef]:
    return {
        s
        for t in DECLARATION_TYPES
        for s in g.subjects(RDF.type, t)
        if isinstance(s, URIRef) and str(s).startswith(DEF)
    }


# --- parsing and the ontology header ----------------------------------------------------------


def test_files_parse_separately() -> None:
    for path in (ONTOLOGY_TTL, VOCABULARIES_TTL):
        assert len(Graph().parse(path, format="turtle")) > 50, path


def test_ontology_header(ontology: Graph) -> None:
    ont = URIRef(DEF)
    assert (ont, RDF.type, OWL.Ontology) in ontology
    assert Literal("0.1.0") in set(ontology.objects(ont, OWL.versionInfo))
    titles = {o.language for o in ontology.objects(ont, URIRef("http://purl.org/dc/terms/title"))}
    assert {"zh", "en"} <= titles
    assert URIRef("https://creativecommons.org/licenses/by/4.0/") in set(
        ontology.objects(ont, URIRef("http://purl.org/dc/terms/license"))
    )
    assert any(True for _ in ontology.objects(ont, RDFS.comment))


# --- labels and comments ----------------------------------------------------------------------


def test_every_budgetkg_term_is_labelled_and_commented(ontology: Graph) -> None:
    terms = _declared_terms(ontology)
    assert len(terms) > 100
    offenders = []
    for s in sorted(terms):
        missing = [
            what
            for what, ok in (
                ("rdfs:label@zh", _lang_labels(ontology, s, "zh")),
                ("rdfs:label@en", _lang_labels(ontology, s, "en")),
                ("rdfs:comment", list(ontology.objects(s, RDFS.comment))),
            )
            if not ok
        ]
        if missing:
            offenders.append(f"{s}: {', '.join(missing)}")
    assert not offenders, "terms without labels/comment:\n" + "\n".join(offenders)


def test_every_budgetkg_term_used_is_declared(ontology: Graph) -> None:
    """Catches typos: any def/ IRI that appears anywhere in the two files is declared there."""
    used = {
        term
        for triple in ontology
        for term in triple
        if isinstance(term, URIRef) and str(term).startswith(DEF) and str(term) != DEF
    }
    undeclared = sorted(str(t) for t in used - _declared_terms(ontology))
    assert not undeclared, f"used but not declared: {undeclared}"


def test_external_units_have_zh_and_en_labels(ontology: Graph) -> None:
    offenders = [
        str(u)
        for u in EXTERNAL_UNITS
        if not (_lang_labels(ontology, u, "zh") and _lang_labels(ontology, u, "en"))
        or (u, RDF.type, QUDT.Unit) not in ontology
    ]
    assert not offenders, f"external units without zh+en labels or qudt:Unit type: {offenders}"


def test_budgetkg_units(ontology: Graph) -> None:
    wan, yi = URIRef(DEF + "unit/TenThousandCNY"), URIRef(DEF + "unit/HundredMillionCNY")
    assert ontology.value(wan, QUDT.conversionMultiplier).toPython() == Decimal(10000)
    assert ontology.value(yi, QUDT.conversionMultiplier).toPython() == Decimal(100_000_000)
    assert ontology.value(wan, BK.baseUnit) == CUR.CNY
    assert ontology.value(yi, BK.baseUnit) == CUR.CNY
    assert (URIRef(DEF + "unit/WorkingDay"), RDF.type, QUDT.Unit) in ontology


# --- classes and properties -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Project",
        "Agency",
        "BudgetUnit",
        "Department",
        "FundingSource",
        "Goal",
        "Indicator",
        "Target",
        "Vendor",
        "Contract",
        "SourceDocument",
        "SpecialBondProject",
        "MonetaryAmount",
        "FundingAllocation",
        "AuditFinding",
        "IndicatorCategory",
        "PaymentTranche",
        "Comparator",
        "ValueKind",
        "GoalKind",
    ],
)
def test_required_class_exists(ontology: Graph, name: str) -> None:
    assert (BK[name], RDF.type, OWL.Class) in ontology


def test_class_hierarchy(ontology: Graph) -> None:
    org, prov = Namespace("http://www.w3.org/ns/org#"), Namespace("http://www.w3.org/ns/prov#")
    for sub, sup in [
        (BK.Agency, org.Organization),
        (BK.BudgetUnit, BK.Agency),
        (BK.Department, BK.Agency),
        (BK.Project, prov.Entity),
        (BK.SpecialBondProject, BK.Project),
        (BK.SourceDocument, prov.Entity),
        (BK.SourceDocument, URIRef("http://xmlns.com/foaf/0.1/Document")),
        (BK.MonetaryAmount, QUDT.QuantityValue),
        (BK.Vendor, org.Organization),
        (BK.IndicatorCategory, SKOS.Concept),
        (BK.FundingSource, SKOS.Concept),
    ]:
        assert (sub, RDFS.subClassOf, sup) in ontology, (sub, sup)


def test_core_classes_pairwise_disjoint(ontology: Graph) -> None:
    core = [BK.Project, BK.Indicator, BK.Goal, BK.Target, BK.SourceDocument, BK.Agency]
    missing = [
        (str(a), str(b))
        for a, b in combinations(core, 2)
        if (a, OWL.disjointWith, b) not in ontology and (b, OWL.disjointWith, a) not in ontology
    ]
    assert not missing


def test_property_domains_and_ranges(ontology: Graph) -> None:
    expected = {
        "budgetUnit": (BK.Project, BK.BudgetUnit),
        "supervisingDepartment": (BK.SpecialBondProject, BK.Department),
        "budget": (BK.Project, BK.MonetaryAmount),
        "hasIndicator": (BK.Project, BK.Indicator),
        "level1": (BK.Indicator, BK.IndicatorCategory),
        "level2": (BK.Indicator, BK.IndicatorCategory),
        "target": (BK.Indicator, BK.Target),
        "comparator": (BK.Target, BK.Comparator),
        "amount": (BK.FundingAllocation, BK.MonetaryAmount),
        "vendor": (BK.Contract, BK.Vendor),
    }
    for name, (domain, range_) in expected.items():
        assert (BK[name], RDF.type, OWL.ObjectProperty) in ontology, name
        assert ontology.value(BK[name], RDFS.domain) == domain, name
        assert ontology.value(BK[name], RDFS.range) == range_, name
    assert (BK.hasIndicator, OWL.inverseOf, BK.ofProject) in ontology
    assert ontology.value(BK.fundingSource, RDFS.range) == BK.FundingSource
    assert (BK.lineStart, RDFS.range, URIRef("http://www.w3.org/2001/XMLSchema#positiveInteger")) in ontology


# --- concept schemes --------------------------------------------------------------------------


def test_concepts_are_complete_skos(ontology: Graph) -> None:
    offenders = []
    for c in sorted(set(ontology.subjects(RDF.type, SKOS.Concept))):
        if not str(c).startswith(DEF):
            continue
        pref = {o.language for o in ontology.objects(c, SKOS.prefLabel)}
        schemes = list(ontology.objects(c, SKOS.inScheme))
        problems = [] if {"zh", "en"} <= pref else ["prefLabel zh+en"]
        if len(schemes) != 1:
            problems.append("exactly one skos:inScheme")
        elif (c, RDF.type, SCHEME_CLASSES[str(schemes[0])[len(DEF) :]]) not in ontology:
            problems.append("the scheme's bk concept class")
        is_top = (c, SKOS.topConceptOf, schemes[0] if schemes else None) in ontology
        if is_top == any(True for _ in ontology.objects(c, SKOS.broader)):
            problems.append("either skos:topConceptOf or skos:broader")
        if problems:
            offenders.append(f"{c}: {', '.join(problems)}")
    assert not offenders, "\n".join(offenders)


def test_pref_labels_unique_within_each_scheme(ontology: Graph) -> None:
    """SKOS S14: no two concepts of one scheme share a preferred label in one language."""
    seen: dict[tuple[str, Literal], URIRef] = {}
    clashes = []
    for c, label in ontology.subject_objects(SKOS.prefLabel):
        for scheme in ontology.objects(c, SKOS.inScheme):
            key = (str(scheme), label)
            if key in seen and seen[key] != c:
                clashes.append((str(seen[key]), str(c), str(label)))
            seen[key] = c
    assert not clashes


def _by_notation(g: Graph, notation: str) -> list[URIRef]:
    return [c for c in g.subjects(SKOS.notation, Literal(notation)) if (c, SKOS.inScheme, BKCAT.scheme) in g]


def test_indicator_scheme_has_both_cost_placements(ontology: Graph) -> None:
    cost = _by_notation(ontology, "成本指标")
    top = [c for c in cost if (c, SKOS.topConceptOf, BKCAT.scheme) in ontology]
    under_output = [c for c in cost if (c, SKOS.broader, BKCAT.output) in ontology]
    assert top == [BKCAT.cost]
    assert under_output == [BKCAT["output-cost"]]
    assert (BKCAT["output-cost"], SKOS.related, BKCAT.cost) in ontology
    assert ontology.value(BKCAT.cost, BK.level).toPython() == 1
    assert ontology.value(BKCAT["output-cost"], BK.level).toPython() == 2


def test_indicator_scheme_has_debt_service(ontology: Graph) -> None:
    (debt,) = _by_notation(ontology, "偿债指标")
    assert (debt, SKOS.topConceptOf, BKCAT.scheme) in ontology
    children = {str(n) for c in ontology.subjects(SKOS.broader, debt) for n in ontology.objects(c, SKOS.notation)}
    assert children == {"预期收益实现时间", "预期收益金额", "偿债倍率"}


def test_every_category_has_notation_and_level(ontology: Graph) -> None:
    offenders = []
    for c in ontology.subjects(SKOS.inScheme, BKCAT.scheme):
        level = ontology.value(c, BK.level)
        top = (c, SKOS.topConceptOf, BKCAT.scheme) in ontology
        if ontology.value(c, SKOS.notation) is None or level is None or level.toPython() != (1 if top else 2):
            offenders.append(str(c))
    assert not offenders


@pytest.mark.parametrize("label", ["中央", "中央直达资金", "一般债券", "专项债券", "市级财政", "非财政拨款"])
def test_funding_scheme_has(ontology: Graph, label: str) -> None:
    hits = [
        c
        for c in ontology.subjects(SKOS.prefLabel, Literal(label, lang="zh"))
        if (c, SKOS.inScheme, BKFUND.scheme) in ontology
    ]
    assert len(hits) == 1, label


def test_funding_keys_of_the_name_analyser_exist(ontology: Graph) -> None:
    """kg/names.py returns funding-source keys that are local names in bkfund:."""
    for key in ["central-direct", "special-bond", "general-bond", "non-fiscal", "central", "bond", "municipal"]:
        assert (BKFUND[key], RDF.type, BK.FundingSource) in ontology, key


def test_comparators_have_symbol_notations(ontology: Graph) -> None:
    cmp = Namespace(DEF + "comparator/")
    notations = {str(ontology.value(cmp[k], SKOS.notation)) for k in ["ge", "le", "gt", "lt", "eq", "approx"]}
    assert notations == {"≥", "≤", ">", "<", "=", "≈"}
    assert Literal("不低于", lang="zh") in set(ontology.objects(cmp.ge, SKOS.altLabel))
    assert Literal("以内", lang="zh") in set(ontology.objects(cmp.le, SKOS.altLabel))


# --- OWL-RL consistency -----------------------------------------------------------------------


def test_owlrl_consistent_with_instance_sample(ontology: Graph) -> None:
    g = _copy(ontology)
    g.parse(data=SAMPLE_TTL, format="turtle")
    problems = owl_inconsistencies(g)
    assert not problems, "\n".join(problems)
    # the closure did run: inverse, subclass and domain inferences are there
    id_ = Namespace("https://budgetkg.example.org/id/")
    org = Namespace("http://www.w3.org/ns/org#")
    assert (id_.p1, BK.hasIndicator, id_["p1-i2"]) in g
    assert (id_["unit-341101"], RDF.type, org.Organization) in g
    assert (id_.p2, RDF.type, BK.Project) in g


def test_owlrl_reports_disjoint_class_violation(ontology: Graph) -> None:
    g = _copy(ontology)
    g.parse(
        data="""
        @prefix bk: <https://budgetkg.example.org/def/> .
        <https://budgetkg.example.org/id/bad> a bk:Project , bk:Indicator .
        """,
        format="turtle",
    )
    problems = owl_inconsistencies(g)
    assert problems
    assert any("bad" in p for p in problems)


def test_owlrl_reports_violation_through_a_domain(ontology: Graph) -> None:
    """A project used as an indicator (bk:target's domain is bk:Indicator) is caught too."""
    g = _copy(ontology)
    g.parse(
        data="""
        @prefix bk: <https://budgetkg.example.org/def/> .
        @prefix id: <https://budgetkg.example.org/id/> .
        id:p a bk:Project ; bk:target id:t .
        """,
        format="turtle",
    )
    assert owl_inconsistencies(g)
