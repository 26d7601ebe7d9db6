"""The command line's own time: ``budgetkg --help`` and ``budgetkg stats``, each a fresh process, on the wall clock.

    python -m bench.bench_cli --store STORE [--runs 7] [--json out.json]

Targets (issue "Interactive at province scale"): ``budgetkg --help`` within 0.3 s, ``budgetkg stats`` within 1 s at
100,000 tables. Each command runs once to warm the page cache, then ``--runs`` times; the median and the slowest
are reported. The peers, timed the same way in the same run: the interpreter doing nothing (``python -c pass``,
what any Python command pays) and the interpreter opening the same store read-only with pyoxigraph and nothing else
(what any command on the store pays), so ``stats``' ratio to the latter is what budgetkg adds to the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGETKG = str(Path(sys.executable).parent / "budgetkg")


def _timed(cmd: list[str], runs: int) -> dict[str, float]:
    """Median and slowest wall seconds of ``cmd`` over ``runs`` runs, after one run to warm the caches."""
    env = {**os.environ, "COLUMNS": "120"}
    seconds = []
    for k in range(runs + 1):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        if k:
            seconds.append(time.perf_counter() - t)
    return {"median": statistics.median(seconds), "max": max(seconds), "runs": runs}


def measure(store: str, runs: int = 7) -> dict[str, object]:
    """The commands' and the peers' times on ``store`` (an on-disk store built by budgetkg)."""
    opened = f"from pyoxigraph import Store; Store.read_only({store!r})"
    return {
        "help": _timed([BUDGETKG, "--help"], runs),
        "python": _timed([sys.executable, "-c", "pass"], runs),
        "stats": _timed([BUDGETKG, "stats", "--store", store], runs),
        "stats_json": _timed([BUDGETKG, "stats", "--store", store, "--format", "json"], runs),
        "open": _timed([sys.executable, "-c", opened], runs),
        "load": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_cli", description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="an on-disk budgetkg store")
    ap.add_argument("--runs", type=int, default=7, help="timed runs of each command (after one to warm up)")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    a = ap.parse_args(argv)
    numbers = measure(a.store, a.runs)
    if a.json:
        a.json.write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(numbers, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
