"""Run every benchmark module and print one table of cost ratios.

``python -m benchmarks [--quick] [NAME ...] [--out results/benchmarks.md] [--bindings both]``

``--bindings both`` runs the benchmarks once under Keras 3 and once under
tf_keras (each in its own process: a process binds one Keras) and prints the
ratios side by side.
"""

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
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
    p.add_argument("--bindings", choices=("current", "both"), default="current",
                   help="'both': Keras 3 and tf_keras side by side (one subprocess each)")
    p.add_argument("--json", type=Path, default=None, help=argparse.SUPPRESS)  # rows, for --bindings both
    args = p.parse_args(argv)
    if args.bindings == "both":
        return _both(args)
    mods = discover()
    names = args.names or list(mods)
    lines = ["| benchmark | case | ratio | details |", "|---|---|---|---|"]
    records = []
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
            records.append({"benchmark": name, "case": case, "ratio": ratio, "details": details})
    if args.json:
        from keras_egl import keras_version

        args.json.write_text(json.dumps({"keras": keras_version, "rows": records}))
    return _emit(lines, args.out)


def _emit(lines, out):
    table = "\n".join(lines)
    print("\n" + table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")
    return 0


def _both(args):
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, legacy in (("Keras 3", "0"), ("tf_keras", "1")):
            out = Path(tmp) / f"{legacy}.json"
            cmd = [sys.executable, "-m", "benchmarks", *args.names, "--json", str(out)]
            if args.quick:
                cmd.append("--quick")
            env = dict(os.environ, TF_USE_LEGACY_KERAS=legacy)
            print(f"== {label}: {' '.join(cmd[1:])}", flush=True)
            res = subprocess.run(cmd, env=env)
            if res.returncode != 0:
                return res.returncode
            runs[label] = json.loads(out.read_text())
    k3, tk = runs["Keras 3"], runs["tf_keras"]
    lines = [f"| benchmark | case | Keras 3 ({k3['keras']}) | tf_keras ({tk['keras'].split()[-1]}) |",
             "|---|---|---|---|"]
    other = {(r["benchmark"], r["case"]): r["ratio"] for r in tk["rows"]}
    for r in k3["rows"]:
        b = other.get((r["benchmark"], r["case"]))
        lines.append(f"| {r['benchmark']} | {r['case']} | {r['ratio']:.3f} | "
                     f"{'–' if b is None else f'{b:.3f}'} |")
    return _emit(lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
