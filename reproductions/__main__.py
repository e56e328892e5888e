"""Command line: ``python -m reproductions list | run NAME [NAME ...] [--quick] ... | compare DIR_A DIR_B |
noise NAME [--seeds S ...]``."""

import argparse
import sys
from pathlib import Path

from reproductions._harness import RunContext, discover, run_one


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m reproductions", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the reproductions")
    run = sub.add_parser("run", help="run one or more reproductions ('all' runs every one)")
    run.add_argument("names", nargs="+")
    run.add_argument("--quick", action="store_true", help="tiny data and few epochs (what CI runs)")
    run.add_argument("--runs", type=int, default=None, help="repetitions (default: the reproduction's)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, default=Path("results"))
    run.add_argument("--data-dir", type=Path, default=None, help="local directory with full data sets")
    run.add_argument("--quiet", action="store_true")
    cmp = sub.add_parser("compare", help="compare two directories of reports (e.g. Keras 3 vs tf_keras)")
    cmp.add_argument("dir_a", type=Path)
    cmp.add_argument("dir_b", type=Path)
    cmp.add_argument("--abs-tol", type=float, default=0.15,
                     help="allowed |a - b| / scale for metrics within [-scale, scale] "
                          "(accuracies, IoU, shares, differences; scale 100 for percent/BLEU/ROUGE)")
    cmp.add_argument("--rel-tol", type=float, default=0.5,
                     help="allowed |a - b| / max(|a|, |b|) for other metrics")
    cmp.add_argument("--out", type=Path, default=None, help="also write the comparison as markdown here")
    cmp.add_argument("--noise", type=Path, default=None,
                     help="measured seed spreads (default: reproductions/quick_noise.json)")
    noise = sub.add_parser("noise", help="measure each row's seed spread of a quick mode (one binding)")
    noise.add_argument("names", nargs="+")
    noise.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    noise.add_argument("--file", type=Path, default=None, help="default: reproductions/quick_noise.json")
    args = parser.parse_args(argv)
    if args.command == "compare":
        from reproductions._compare import compare_dirs

        from reproductions._compare import load_noise

        bands = load_noise(args.noise) if args.noise is not None else None
        text, n_bad = compare_dirs(args.dir_a, args.dir_b, args.abs_tol, args.rel_tol, bands)
        print(text)
        if args.out is not None:
            args.out.write_text(text)
        return 1 if n_bad else 0

    registry = discover()
    if args.command == "noise":
        from reproductions._noise import measure_noise

        return measure_noise(registry, args.names, args.seeds, args.file)
    if args.command == "list":
        for name, mod in registry.items():
            print(f"{name:32s} {mod.TITLE}")
        return 0
    names = list(registry) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in registry]
    if unknown:
        parser.error(f"unknown reproduction(s) {unknown}; known: {sorted(registry)}")
    ctx = RunContext(quick=args.quick, runs=args.runs, seed=args.seed, out=args.out,
                     data_dir=args.data_dir, verbose=0 if args.quiet else 1)
    for name in names:
        run_one(registry[name], ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
