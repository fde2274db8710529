#!/usr/bin/env python3
"""Places policy rows against the fixed settings' front on the model-inversion plane.

  scripts/place_inversion.py [DATA_JSON] [--public]
      DATA_JSON  default docs/inversion_lfw_blockdct.json
      --public   accuracy and inversion with BatchNorm statistics re-estimated on public faces

Model inversion attacks a run's final model, so a row's leak is measured, not share-weighted
(place_front.py's hits plane is). A setting's point is (mean accuracy, mean inversion top-1); the
front is the Pareto front of the fixed points, linear between neighbours; a margin is the front's
inversion at the row's accuracy minus the row's (positive: past it). How sure: seed labels drawn
with replacement 4,000 times (paired: every setting averages the drawn seeds it has, all of its
own when it has none of them); per seed: the row against the front of the same seed's runs.
"""
import argparse
import json
import random
import statistics

from pareto import front, front_leak_at, percentile


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default="docs/inversion_lfw_blockdct.json")
    parser.add_argument("--public", action="store_true")
    args = parser.parse_args()
    data = json.load(open(args.data))
    acc, inv = ("accuracy_public", "inversion_top1_public") if args.public else (
        "accuracy", "inversion_top1")
    fixed = {n: s for n, s in data["fixed"].items() if acc in s}
    rows = {n: s for n, s in data["rows"].items() if acc in s}

    def point(setting, seeds=None):
        def mean(key):
            chosen = [setting[key][s] for s in seeds or [] if s in setting[key]]
            return statistics.mean(chosen or setting[key].values())
        return mean(acc), mean(inv)

    def margin(row, seeds=None):
        a, leak = point(row, seeds)
        at = front_leak_at(front([point(f, seeds) for f in fixed.values()]), a)
        return None if at is None else at - leak

    print("front: " + ", ".join(f"({a:.2f}, {l:.2f})"
                                for a, l in front([point(f) for f in fixed.values()])))
    labels = sorted({s for x in (*fixed.values(), *rows.values()) for s in x[acc]}, key=int)
    rng = random.Random(1)
    print("| row | seeds | accuracy % | inversion top-1 % | margin | paired 90 % interval | "
          "past | per seed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        a, leak = point(row)
        centre = margin(row)
        if centre is None:
            print(f"| {name} | more accurate than every fixed setting | | | | | | |")
            continue
        drawn = [m for m in (margin(row, [rng.choice(labels) for _ in labels])
                             for _ in range(4000)) if m is not None]
        per_seed = [margin(row, [s]) for s in row[acc]]
        per_seed = [m for m in per_seed if m is not None]
        print(f"| {name} | {len(row[acc])} | {a:.2f} | {leak:.2f} | {centre:+.1f} | "
              f"[{percentile(drawn, 0.05):+.1f}, {percentile(drawn, 0.95):+.1f}] | "
              f"{100 * sum(m > 0 for m in drawn) / len(drawn):.0f} % | "
              f"{min(per_seed):+.1f} to {max(per_seed):+.1f} |")


if __name__ == "__main__":
    main()
