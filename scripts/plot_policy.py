#!/usr/bin/env python3
"""Plots the masking policy's action distribution over training from a run's metrics.jsonl.

usage: scripts/plot_policy.py RUN_DIR OUT.png   (needs matplotlib: pip install matplotlib)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    run, out = sys.argv[1], sys.argv[2]
    records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
    records = [r for r in records if "policy" in r]
    if not records:
        sys.exit(f"{run}/metrics.jsonl has no policy records (not an adaptive run?)")
    config = open(f"{run}/config.yaml").read()
    base = 0
    for line in config.splitlines():
        if line.strip().startswith("drop_level:"):
            base = int(line.split(":")[1])
            break
    steps = [r["step"] for r in records]
    heads = [("k", "k = {}", 1), ("weights", "{}", None), ("drop_level", "t = {}", base)]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (key, label, first) in zip(axes, heads):
        probs = list(zip(*[r["policy"][key] for r in records]))
        names = (["dirichlet", "gaussian"] if first is None
                 else [label.format(first + i) for i in range(len(probs))])
        ax.stackplot(steps, probs, labels=names)
        ax.set_title(f"pi({key})")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=7, ncol=2)
    axes[3].plot(steps, [r["loss"] for r in records], label="FR loss (reward)")
    axes[3].plot(steps, [r["policy"]["baseline"] for r in records], label="baseline")
    axes[3].set_xlabel("step")
    axes[3].legend(fontsize=7)
    axes[3].set_title("reward")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
