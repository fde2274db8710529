#!/usr/bin/env python3
"""Places schedule and policy rows against the front of fixed settings, and how sure each margin is.

  scripts/place_front.py [DATA_JSON] [--accuracy KEY]
      DATA_JSON  default docs/front_lfw_spectrum.json
      KEY        which accuracies to place (default accuracy: the statistics training left);
                 accuracy_public_bn: BatchNorm statistics re-estimated on public faces
                 (eval.batchnorm=public). Settings and rows without KEY are left out.

The data file holds what was measured (docs/RESULTS.md says with which runs and commands):
  actions:  each action's identity-hit rate under `hymask attack` and the targets it was scored on;
  fixed:    each fixed setting's action and its accuracy per seed;
  rows:     each row's action shares (a run's leak is the share-weighted mean of its actions'
            rates, whatever their order) and its accuracy per seed.
A setting's point is (mean accuracy, hits). The front is the lower convex hull of the fixed points
from its least-leaking point on: what a random mixture of fixed settings reaches. A row's margin is
the front's hits at the row's accuracy minus the row's hits (positive: past the front).

How sure (4,000 resamples): each action's rate is redrawn from its binomial error over its targets,
and the seeds are resampled, either per setting (independent) or by drawing seed labels once and
letting every setting average the drawn seeds it has (paired: a seed fixes initialisation and data
order, and the settings move together). Per-seed margins place each seed of a row against the front
built from every fixed setting's accuracy at that seed (its mean where it lacks the seed).
"""
import argparse
import json
import random
import statistics

from pareto import front_leak_at, percentile


def lower_front(points):
    """Lower convex hull of (accuracy, hits) points, from the least-leaking point rightwards."""
    hull = []
    for p in sorted(points):
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    least = min(range(len(hull)), key=lambda i: hull[i][1])
    return hull[least:]


def leak(shares, rates):
    return sum(share * rates[action] for action, share in shares.items())


def margin(row_point, fixed_points):
    hits = front_leak_at(lower_front(fixed_points), row_point[0])
    return None if hits is None else hits - row_point[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default="docs/front_lfw_spectrum.json")
    parser.add_argument("--accuracy", default="accuracy")
    args = parser.parse_args()
    data = json.load(open(args.data))
    actions = data["actions"]

    def measured(settings):  # each with its accuracies under `--accuracy` as "accuracy"
        return {name: {**s, "accuracy": s[args.accuracy]}
                for name, s in settings.items() if args.accuracy in s}

    fixed, rows = measured(data["fixed"]), measured(data["rows"])
    rates = {name: a["hits"] for name, a in actions.items()}

    def mean_accuracy(setting, seeds=None):
        per_seed = setting["accuracy"]
        chosen = [per_seed[s] for s in seeds if s in per_seed] if seeds else []
        return statistics.mean(chosen or per_seed.values())

    def fixed_points(rate, seeds=None):
        return [(mean_accuracy(f, seeds), rate[f["action"]]) for f in fixed.values()]

    names = {(mean_accuracy(f), rates[f["action"]]): name for name, f in fixed.items()}
    print("front: " + ", ".join(f"{names[p]} ({p[0]:.2f}, {p[1]:.2f})"
                                for p in lower_front(list(names))))

    rng = random.Random(1)
    labels = sorted({seed for setting in (*fixed.values(), *rows.values())
                     for seed in setting["accuracy"]}, key=int)

    def redraw_rates():  # each rate's binomial error over its targets, normal approximation
        drawn = {}
        for name, a in actions.items():
            error = (a["hits"] * (100 - a["hits"]) / a["targets"]) ** 0.5
            drawn[name] = max(0.0, rng.gauss(a["hits"], error))
        return drawn

    def resample(setting):
        values = list(setting["accuracy"].values())
        return statistics.mean(rng.choice(values) for _ in values)

    print("| row | seeds | accuracy % | hits % | margin | 90 % interval, independent | paired | "
          "past (paired) | per-seed margins | sd |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        point = (mean_accuracy(row), leak(row["shares"], rates))
        centre = margin(point, fixed_points(rates))
        if centre is None:
            print(f"| {name} | more accurate than every fixed setting | | | | | | | | |")
            continue
        independent, paired = [], []
        for _ in range(4000):
            drawn = redraw_rates()
            hits = leak(row["shares"], drawn)
            m = margin((resample(row), hits),
                       [(resample(f), drawn[f["action"]]) for f in fixed.values()])
            if m is not None:
                independent.append(m)
            seeds = [rng.choice(labels) for _ in labels]
            m = margin((mean_accuracy(row, seeds), hits), fixed_points(drawn, seeds))
            if m is not None:
                paired.append(m)
        per_seed = [margin((accuracy, point[1]), fixed_points(rates, [seed]))
                    for seed, accuracy in row["accuracy"].items()]
        per_seed = [m for m in per_seed if m is not None]
        spread = f"{statistics.stdev(per_seed):.1f}" if len(per_seed) > 1 else ""
        print(f"| {name} | {len(row['accuracy'])} | {point[0]:.2f} | {point[1]:.2f} | "
              f"{centre:+.1f} | [{percentile(independent, 0.05):+.1f}, "
              f"{percentile(independent, 0.95):+.1f}] | [{percentile(paired, 0.05):+.1f}, "
              f"{percentile(paired, 0.95):+.1f}] | "
              f"{100 * sum(m > 0 for m in paired) / len(paired):.0f} % | "
              f"{min(per_seed):+.1f} to {max(per_seed):+.1f} | {spread} |")


if __name__ == "__main__":
    main()
