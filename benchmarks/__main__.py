"""Run every benchmark module and print one table of cost ratios.

``python -m benchmarks [--quick] [NAME ...] [--out results/benchmarks.md]``
"""

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def discover():
    import benchmarks

    mods = {}
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("bench_"):
            mods[info.name[len("bench_"):]] = importlib.import_module(f"benchmarks.{info.name}")
    return dict(sorted(mods.items()))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    p.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    p.add_argument("--out", type=Path, default=None, help="also write the table as markdown here")
    args = p.parse_args(argv)
    mods = discover()
    names = args.names or list(mods)
    lines = ["| benchmark | case | ratio | details |", "|---|---|---|---|"]
    for name in names:
        if name not in mods:
            p.error(f"unknown benchmark {name!r}; known: {sorted(mods)}")
        print(f"== {name}: {mods[name].TITLE}", flush=True)
        for row in mods[name].run(quick=args.quick):
            row = dict(row)
            case, ratio = row.pop("name"), row.pop("ratio")
            details = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            line = f"| {name} | {case} | {ratio:.3f} | {details} |"
            print(line, flush=True)
            lines.append(line)
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
