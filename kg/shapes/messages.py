"""The messages of findings, in Chinese and English: the shape's ``sh:message``, else one per component."""

from __future__ import annotations

import re
from typing import Any

from .compiled import Constraint
from .report import Term, term_text

_GENERATED: dict[str, tuple[str, str]] = {
    "MinCount": ("{path}至少应有 {minCount} 个值", "{path}: expected at least {minCount} value(s)"),
    "MaxCount": ("{path}最多只能有 {maxCount} 个值", "{path}: expected at most {maxCount} value(s)"),
    "Datatype": ("{path}的值 {value} 不是 {datatype} 类型", "{path}: {value} is not of datatype {datatype}"),
    "Class": ("{path}的值 {value} 不是 {class} 的实例", "{path}: {value} is not an instance of {class}"),
    "NodeKind": ("{path}的值 {value} 不是 {nodeKind}", "{path}: {value} is not a {nodeKind}"),
    "In": ("{path}的值 {value} 不在允许的取值（{in}）中", "{path}: {value} is not one of {in}"),
    "HasValue": ("{path}缺少值 {hasValue}", "{path}: does not have the value {hasValue}"),
    "Pattern": ("{path}的值 {value} 不符合格式 {pattern}", "{path}: {value} does not match {pattern}"),
    "MinInclusive": ("{path}的值 {value} 小于 {minInclusive}", "{path}: {value} is less than {minInclusive}"),
    "MaxInclusive": ("{path}的值 {value} 大于 {maxInclusive}", "{path}: {value} is greater than {maxInclusive}"),
    "MinExclusive": ("{path}的值 {value} 应大于 {minExclusive}", "{path}: {value} is not greater than {minExclusive}"),
    "MaxExclusive": ("{path}的值 {value} 应小于 {maxExclusive}", "{path}: {value} is not less than {maxExclusive}"),
    "MinLength": ("{path}的值 {value} 短于 {minLength} 个字符", "{path}: {value} is shorter than {minLength}"),
    "MaxLength": ("{path}的值 {value} 长于 {maxLength} 个字符", "{path}: {value} is longer than {maxLength}"),
    "LanguageIn": ("{path}的值 {value} 的语言不在 {languageIn} 中", "{path}: {value} is not in {languageIn}"),
    "UniqueLang": ("{path}同一语言有多个值", "{path}: more than one value in the same language"),
    "Equals": ("{path}的值与 {equals} 不一致：{value}", "{path}: values differ from {equals}: {value}"),
    "Disjoint": ("{path}与 {disjoint} 有相同的值 {value}", "{path}: shares the value {value} with {disjoint}"),
    "LessThan": ("{path}的值 {value} 不小于 {lessThan}", "{path}: {value} is not less than {lessThan}"),
    "LessThanOrEquals": ("{path}的值 {value} 大于 {lessThanOrEquals}",
                         "{path}: {value} is greater than {lessThanOrEquals}"),
    "Node": ("{path}的值 {value} 不符合形状 {node}", "{path}: {value} does not conform to {node}"),
    "Not": ("{value} 符合了不应符合的形状 {not}", "{value} conforms to {not}, which it must not"),
    "And": ("{value} 不符合所有条件", "{value} does not conform to all of the shapes"),
    "Or": ("{value} 不符合任一备选条件", "{value} conforms to none of the alternatives"),
    "QualifiedMinCount": ("{path}中符合条件的值少于 {qualifiedMinCount} 个",
                          "{path}: fewer than {qualifiedMinCount} value(s) conform"),
    "SPARQL": ("违反 SPARQL 约束", "SPARQL constraint violated"),
}


_PLACEHOLDER = re.compile(r"\{[?$]([A-Za-z_][A-Za-z0-9_]*)\}")


def result_messages(c: Constraint, bindings: dict[str, Any], value: Term | None) -> tuple[str, str]:
    """The zh and en message of a result: the shape's sh:message, else one made from the component."""
    shown = {k: term_text(t) for k, t in bindings.items()}
    if value is not None:
        shown.setdefault("value", term_text(value))

    def fill(template: str) -> str:
        return _PLACEHOLDER.sub(lambda m: shown.get(m.group(1), m.group(0)), template)

    if c.messages:
        zh = c.messages.get("zh") or c.messages.get("") or c.messages.get("en", "")
        en = c.messages.get("en") or c.messages.get("") or zh
        return fill(zh), fill(en)
    zh_t, en_t = _GENERATED.get(c.component.removesuffix("ConstraintComponent"), _GENERATED["SPARQL"])
    params = _Missing({**c.params, "value": shown.get("value", "")})
    zh_t = zh_t.replace("{path}", f"{c.path} " if c.path else "")
    en_t = en_t.replace("{path}: ", f"{c.path}: " if c.path else "")
    return zh_t.format_map(params).strip(), en_t.format_map(params).strip()


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def recovered_messages(c: Constraint, texts: list[str], value: Term | None) -> tuple[str, str]:
    """pySHACL drops the language of substituted SPARQL messages; match each text to its template."""
    out = {}
    for lang, template in c.messages.items():
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …
        pattern = "".join(re.escape(p) if i % 2 == 0 else "(.*?)" for i, p in enumerate(parts))
        hit = next((t for t in texts if re.fullmatch(pattern, t, re.DOTALL)), None)
        if hit is not None:
            out[lang] = hit
    if "zh" in out and "en" in out:
        return out["zh"], out["en"]
    return result_messages(c, {}, value)
