#!/usr/bin/env python3
"""The ORL privacy/utility front under the strong learned attack, and the adaptive rows against it.

The report's table uses the fast attack (scripts/report.sh, cpu profile). This places the rows
near the front under the converged one. Attack each report run first (about 100 s a row on 2
cores), for every ROW and SEED wanted:

  build/bin/hymask attack --run runs/report/orl-ROW-sSEED --evaluator runs/report/orl-evaluator \\
      --out runs/report/orl-ROW-sSEED/attack-strong \\
      attack.aux_images=0 attack.reconstruction_epochs=30 attack.reconstruction_restarts=1 \\
      attack.identity_weight=0

then: scripts/strong_attack_front.py [RUNS_DIR]   (default runs/report)

Prints a markdown table: mean accuracy and identity hits over the seeds that were attacked, the
front of the fixed settings (every row not named adaptive*), each adaptive row's margin (the
front's leak interpolated at the row's accuracy, minus the row's leak; as report_table.py) and
its seed spread (half the range of its hits).
"""
import json
import os
import statistics
import sys

import pareto

runs = sys.argv[1] if len(sys.argv) > 1 else "runs/report"
rows = ["mask", "dp", "mixup-k2-d-t0", "mixup-k2-g-t0", "mixup-k3-d-t0", "mixup-k3-g-t0",
        "mixup-k4-d-t0", "mixup-k4-g-t0", "mixup-k6-d-t0", "mixup-k6-g-t0",
        "adaptive-c10", "adaptive-c3-u2", "adaptive-c10-u2", "adaptive-uniform-k4"]
points = {}
for row in rows:
    accuracy, hits, fast = [], [], []
    for seed in (1, 2, 3):
        run = f"{runs}/orl-{row}-s{seed}"
        strong = f"{run}/attack-strong/attack.json"
        if not os.path.exists(strong):
            continue
        accuracy.append(100 * json.load(open(f"{run}/eval.json"))["top1"])
        hits.append(100 * json.load(open(strong))["reconstruction"]["identity_hit"])
        fast.append(100 * json.load(open(f"{run}/attack/attack.json"))["reconstruction"]["identity_hit"])
    if accuracy:
        points[row] = {"seeds": len(accuracy), "accuracy": statistics.mean(accuracy),
                       "accuracy_spread": (max(accuracy) - min(accuracy)) / 2,
                       "hits": statistics.mean(hits), "spread": (max(hits) - min(hits)) / 2,
                       "fast": statistics.mean(fast)}
fixed = [p for r, p in points.items() if not r.startswith("adaptive")]
front = pareto.front([(p["accuracy"], p["hits"]) for p in fixed])

print("| row | seeds | ORL-id top-1 % | fast hits % | strong hits % | front there % | margin | spread |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for row, p in sorted(points.items(), key=lambda item: -item[1]["accuracy"]):
    there = pareto.front_leak_at(front, p["accuracy"]) if row.startswith("adaptive") else None
    front_cells = "| | |" if there is None else f"| {there:.1f} | {there - p['hits']:+.1f} |"
    print(f"| {row} | {p['seeds']} | {p['accuracy']:.1f} ± {p['accuracy_spread']:.1f} | "
          f"{p['fast']:.1f} | {p['hits']:.1f} {front_cells} {p['spread']:.1f} |")
print()
print("front (accuracy, hits):", ", ".join(f"({a:.1f}, {h:.1f})" for a, h in front))
