"""The import graph of budgetkg's packages: which module imports which, how large each is, and any cycle.

Run it from the checkout::

    python -m tests.import_graph              # kg, server and budgetkg
    python -m tests.import_graph server       # one package (cycles are still looked for everywhere)

It prints, per package, each module with its size in lines and the modules of the three packages it
imports (one direction: importer → imported), then ``no cycles`` or each cycle as a chain of modules,
and exits with status 1 when there is a cycle. grimp reads every ``import`` statement, those inside
functions included, so an import moved into a function to dodge a cycle still counts.
tests/test_layering.py runs the same check; docs/architecture.md explains the layers it guards.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterable, Sequence

import grimp
import networkx as nx

PACKAGES = ("kg", "server", "budgetkg")
#: Elementary cycles listed per tangle of modules: enough to see what to cut, bounded when many modules knot.
MAX_CYCLES_PER_TANGLE = 25


def module_graph(packages: Sequence[str] = PACKAGES) -> nx.DiGraph:
    """Importer → imported edges between the modules of ``packages`` (imports inside functions included)."""
    imports = grimp.build_graph(*packages, cache_dir=None)
    graph = nx.DiGraph()
    for module in imports.modules:
        graph.add_node(module)
        for imported in imports.find_modules_directly_imported_by(module):
            graph.add_edge(module, imported)
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each import cycle as a chain of modules that starts and ends with the same one, shortest first.

    >>> g = nx.DiGraph([("p.a", "p.b"), ("p.b", "p.a"), ("p.b", "p.c")])
    >>> cycles(g)
    [['p.a', 'p.b', 'p.a']]
    """
    found = []
    for tangle in nx.strongly_connected_components(graph):
        knot = graph.subgraph(tangle)
        if len(tangle) == 1 and not any(knot.has_edge(m, m) for m in tangle):
            continue
        for cycle in itertools.islice(nx.simple_cycles(knot), MAX_CYCLES_PER_TANGLE):
            start = cycle.index(min(cycle))  # the same cycle always reads the same way
            chain = cycle[start:] + cycle[:start]
            found.append([*chain, chain[0]])
    return sorted(found, key=lambda c: (len(c), c))


def describe_cycles(found: Iterable[list[str]]) -> str:
    """``no cycles``, or one line per cycle: ``a → b → a``."""
    lines = [" → ".join(chain) for chain in found]
    return "\n".join(lines) if lines else "no cycles"


def _lines(module: str) -> int:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return 0
    with open(spec.origin, encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def report(graph: nx.DiGraph, packages: Sequence[str] = PACKAGES) -> str:
    """The listing described in the module docstring."""
    out = []
    for package in packages:
        modules = sorted(m for m in graph if m == package or m.startswith(package + "."))
        total = sum(_lines(m) for m in modules)
        out.append(f"{package} ({len(modules)} modules, {total} lines)")
        for module in modules:
            imported = sorted(graph.successors(module))
            out.append(f"  {module} ({_lines(module)} lines)")
            out.extend(f"    → {m}" for m in imported)
        out.append("")
    found = cycles(graph)
    out.append(f"import cycles among {', '.join(PACKAGES)}: " + ("none" if not found else str(len(found))))
    out.append(describe_cycles(found))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    chosen = list(argv if argv is not None else sys.argv[1:]) or list(PACKAGES)
    unknown = [p for p in chosen if p not in PACKAGES]
    if unknown:
        print(f"usage: python -m tests.import_graph [{' '.join(PACKAGES)}]; unknown: {', '.join(unknown)}",
              file=sys.stderr)
        return 2
    graph = module_graph()
    print(report(graph, chosen))
    return 1 if cycles(graph) else 0


if __name__ == "__main__":
    raise SystemExit(main())
