"""`python -m bench W1|W2|W3|W4|W5|KILLW|UI|L1|WAIT|SCALE|ADOPT|all [--db sqlite|postgres] [--repeat N] [--workers N] [--width N]`.

Prints one JSON object per workload on stdout: the median of each figure over the repeats,
and every repeat's figures under "runs". Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from statistics import median

from bench.workloads import POSTGRES_ONLY, WORKLOADS, Figures, Options


def summarize(workload: str, db: str, runs: list[Figures]) -> dict[str, object]:
    keys = [k for k in runs[0] if all(isinstance(r.get(k), (int, float)) for r in runs)]
    out: dict[str, object] = {"workload": workload, "db": db}
    out.update({k: round(median(r[k] for r in runs), 4) for k in keys})
    out["runs"] = [{k: round(v, 4) for k, v in r.items()} for r in runs]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="+", choices=[*WORKLOADS, "all"], metavar="W1|W2|W3|W4|W5|KILLW|UI|L1|WAIT|SCALE|ADOPT|all")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--width", type=int, default=500, help="W2's fan-out width (500, 5000, 50000...)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.workers < 1 or args.width < 1:
        parser.error("--repeat, --workers and --width must be at least 1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # "all" leaves out what needs several schedulers, hence PostgreSQL, when the database is SQLite
    every = [w for w in WORKLOADS if args.db == "postgres" or w not in POSTGRES_ONLY]
    names = every if "all" in args.workloads else list(dict.fromkeys(args.workloads))
    opts = Options(db=args.db, workers=args.workers, width=args.width)
    failed = False
    for name in names:
        runs: list[Figures] = []
        try:
            for i in range(args.repeat):
                t = time.perf_counter()
                runs.append(WORKLOADS[name](opts))
                print(f"[bench] {name} {args.db} repeat {i + 1}/{args.repeat}: {runs[-1]} ({time.perf_counter() - t:.1f} s)", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - report the workload as failed and go on with the next
            traceback.print_exc()
            print(json.dumps({"workload": name, "db": args.db, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            failed = True
            continue
        print(json.dumps(summarize(name, args.db, runs)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
