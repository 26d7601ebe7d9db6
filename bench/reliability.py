"""The long reliability runs, with their results recorded in ``bench/results/``.

    .venv/bin/python -m bench.reliability [--kills 200] [--fuzz 5000] [--schemathesis 200] [--load 60] [--clients 50]

Runs the same tests as CI with larger numbers — SIGKILL during builds (tests/test_crash.py), mutated
documents (tests/test_fuzz_parse.py), schemathesis (tests/test_schemathesis.py) — then the load
test (bench/load_test.py, which writes bench/results/load.md). Writes a summary of every part to
``bench/results/long.md``. A part given 0 is skipped. Exit status 1 if any part failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def pytest_part(name: str, test: str, env: dict[str, str]) -> tuple[str, bool, str, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", test, "-q", "-s", "-p", "no:cacheprovider"],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if re.match(r"^(crash|schemathesis|fuzz):|^\d+ (passed|failed)", ln)]
    return name, proc.returncode == 0, "; ".join(lines) or proc.stdout[-500:], seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--fuzz", type=int, default=5000)
    ap.add_argument("--schemathesis", type=int, default=200)
    ap.add_argument("--load", type=float, default=60)
    ap.add_argument("--clients", type=int, default=50)
    args = ap.parse_args()
    parts = []
    if args.kills:
        parts.append(pytest_part(f"crash safety ({args.kills} SIGKILLs)", "tests/test_crash.py",
                                 {"BUDGETKG_CRASH_KILLS": str(args.kills)}))
    if args.fuzz:
        parts.append(pytest_part(f"hostile documents ({args.fuzz} examples)", "tests/test_fuzz_parse.py",
                                 {"BUDGETKG_FUZZ_EXAMPLES": str(args.fuzz)}))
    if args.schemathesis:
        parts.append(pytest_part(f"schemathesis ({args.schemathesis} examples per operation)",
                                 "tests/test_schemathesis.py",
                                 {"BUDGETKG_SCHEMATHESIS_EXAMPLES": str(args.schemathesis)}))
    if args.load:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bench.load_test", "--duration", str(args.load),
                               "--clients", str(args.clients)], cwd=ROOT, capture_output=True, text=True)
        parts.append((f"load ({args.clients} clients, {args.load:g} s)", proc.returncode == 0,
                      "see bench/results/load.md", time.perf_counter() - started))
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"| {n} | {'pass' if ok else '**FAIL**'} | {s:.0f} s | {detail} |" for n, ok, detail, s in parts)
    (RESULTS / "long.md").write_text(
        f"# Long reliability runs — latest results\n\n`.venv/bin/python -m bench.reliability` on "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        f"| part | result | time | details |\n|---|---|---|---|\n{rows}\n", encoding="utf-8")
    print((RESULTS / "long.md").read_text(encoding="utf-8"))
    return 0 if all(ok for _, ok, _, _ in parts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
