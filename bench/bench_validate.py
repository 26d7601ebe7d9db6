"""Validation speed on the synthetic corpus: the fast SPARQL path on everything, pySHACL on a sample.

    python -m bench.bench_validate [--tables 10000] [--sample-docs 2] [--out bench/out] [--seed 0]

1. Generate the corpus with :mod:`bench.synth` (reused when ``<out>/synth-<n>/manifest.toml`` is there).
2. Build it into a fresh on-disk store with the structural check of every document (``kg.shapes.
   structural_check``: the compiled shapes, run by Oxigraph on each document before it is written).
3. Validate the whole store against every shape (structure + data quality) with the fast path, and
   record the data-quality findings in the findings graph (``kg.audit.refresh_findings``).
4. Validate a sample (the first ``--sample-docs`` documents, built into a store of their own) with
   both engines, check they report the same results, and extrapolate pySHACL to the whole corpus.

Prints a markdown table (and writes it to ``<out>/validate.md``) with seconds, tables per second and
the ratio pySHACL / fast path. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _corpus(n: int, out: Path, seed: int) -> Path:
    from bench.synth import generate

    corpus = out / f"synth-{n}-seed{seed}"
    manifest = corpus / "manifest.toml"
    if not manifest.is_file() or f"Synthetic corpus: {n} tables, bench.synth seed {seed}," not in \
            manifest.read_text(encoding="utf-8").splitlines()[0]:
        t = time.perf_counter()
        generate(n, corpus, seed=seed)
        print(f"generated {n} tables in {time.perf_counter() - t:.1f} s -> {corpus}", file=sys.stderr)
    return corpus


def run(n: int, out: Path, seed: int, sample_docs: int) -> list[tuple[str, str, str, str]]:
    from kg.audit import refresh_findings
    from kg.pipeline import build
    from kg.settings import Settings
    from kg.shapes import load_shapes, structural_check, validate
    from kg.sources import load_manifest
    from kg.store import EmbeddedStore

    corpus = _corpus(n, out, seed)
    man = load_manifest(corpus / "manifest.toml")
    store_dir = out / f"validate-store-{n}"
    shutil.rmtree(store_dir, ignore_errors=True)
    settings = Settings(store=str(store_dir))
    shapes = load_shapes(settings.shapes_dir)

    check = structural_check(settings)
    spent = [0.0]

    def timed_check(parsed, quads) -> None:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        check(parsed, quads)
        spent[0] += time.perf_counter() - t

    store = EmbeddedStore(store_dir)
    t = time.perf_counter()
    built = build(store, man.entries, settings, manifest=man, check=timed_check)
    build_s = time.perf_counter() - t
    tables, quads = built.projects, len(store)
    print(f"built {tables} tables ({quads} quads) in {build_s:.1f} s, structural check {spent[0]:.1f} s",
          file=sys.stderr)

    t = time.perf_counter()
    report = validate(store, shapes)
    fast_s = time.perf_counter() - t
    counts = report.counts()
    print(f"fast path: {fast_s:.1f} s, {counts}", file=sys.stderr)
    per_rule = Counter(f.rule_name for f in report.findings)
    t = time.perf_counter()
    recorded = refresh_findings(store, settings, report=report)
    record_s = time.perf_counter() - t

    sample = EmbeddedStore(None)
    build(sample, man.entries[:sample_docs], settings, manifest=man)
    sample_tables = sum(1 for _ in sample.query("PREFIX bk: <https://budgetkg.example.org/def/> "
                                                "SELECT ?p WHERE { ?p a bk:Project }"))
    t = time.perf_counter()
    sample_fast = validate(sample, shapes)
    sample_fast_s = time.perf_counter() - t
    t = time.perf_counter()
    sample_ref = validate(sample, shapes, engine="pyshacl")
    sample_ref_s = time.perf_counter() - t
    same = {f.key for f in sample_fast.findings} == {f.key for f in sample_ref.findings}
    print(f"sample of {sample_tables} tables: fast {sample_fast_s:.2f} s, pySHACL {sample_ref_s:.1f} s, "
          f"same results: {same}", file=sys.stderr)
    ref_extrapolated = sample_ref_s / sample_tables * tables

    def rate(count: int, seconds: float) -> str:
        return f"{count / seconds:,.0f}" if seconds else "—"

    rows = [
        ("build with structural check (whole corpus)", f"{build_s:.1f}", rate(tables, build_s), ""),
        ("  of which the structural check", f"{spent[0]:.1f}", rate(tables, spent[0]), ""),
        ("fast path, all shapes (whole corpus)", f"{fast_s:.1f}", rate(tables, fast_s), "1×"),
        ("record findings graph", f"{record_s:.1f}", rate(tables, record_s), ""),
        (f"fast path, sample of {sample_tables} tables", f"{sample_fast_s:.2f}", rate(sample_tables, sample_fast_s),
         ""),
        (f"pySHACL, sample of {sample_tables} tables", f"{sample_ref_s:.1f}", rate(sample_tables, sample_ref_s),
         f"{sample_ref_s / sample_fast_s:.0f}× the fast path on the sample"),
        ("pySHACL, whole corpus (extrapolated)", f"≈ {ref_extrapolated:.0f}", rate(sample_tables, sample_ref_s),
         f"≈ {ref_extrapolated / fast_s:.0f}× the fast path"),
    ]
    summary = [
        f"{tables} tables, {quads} quads; findings: {counts['Violation']} violations, {counts['Warning']} "
        f"warnings, {counts['Info']} info ({recorded} recorded); sample results identical in both engines: {same}",
        "findings per rule: " + ", ".join(f"{k} {v}" for k, v in per_rule.most_common()),
    ]
    return [("step", "seconds", "tables/s", "ratio"), *rows, ("", "", "", ""), *((s, "", "", "") for s in summary)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_validate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=10_000)
    ap.add_argument("--sample-docs", type=int, default=2, help="documents (100 tables each) validated by pySHACL")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = run(args.tables, args.out, args.seed, args.sample_docs)
    table = rows[:-3]
    lines = ["| " + " | ".join(r) + " |" for r in table[:1]]
    lines.append("|" + "---|" * len(table[0]))
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    text = "\n".join(lines) + "\n\n" + "\n".join(r[0] for r in rows[-2:]) + "\n"
    print(text)
    (args.out / "validate.md").write_text(f"# bench_validate --tables {args.tables}\n\n{text}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
