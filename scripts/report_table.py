#!/usr/bin/env python3
"""Builds the privacy/utility comparison from the runs of scripts/report.sh.

usage: scripts/report_table.py RUNS_DIR DOCS_DIR "SEEDS" ROW...   (needs matplotlib)

Reads RUNS/{orl,lfw}-ROW-sSEED/eval.json and .../attack/attack.json and writes, into DOCS:
the table into RESULTS.md between the report markers, report_data.json (every number, so that the
committed docs keep what the runs measured), privacy_utility.png (the Pareto front of the fixed
settings with the adaptive rows placed against it) and attack_grid.png. A missing piece is shown
as a dash, so a partial report still renders.

The front: the fixed settings (every row not named adaptive*) that no other fixed setting beats
in both accuracy and leakage. An adaptive row lies beyond it when, at the row's accuracy, the
front's linear interpolation between its two neighbouring points leaks more than the row does;
the margin is that difference, and it counts only when larger than the row's spread over seeds.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from pareto import front, front_leak_at  # noqa: E402

BEGIN = "<!-- report:begin (scripts/report.sh writes this section) -->"
END = "<!-- report:end -->"
TILE = 112 + 2  # grid tiles and their gap, as hymask attack draws them


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def get(record, *keys):
    for key in keys:
        if record is None:
            return None
        record = record.get(key)
    return record


def accuracy(data, ev):
    return get(ev, "top1") if data == "orl" else get(ev, "accuracy_mean")


def measure(runs, data, row, seeds):
    """Per seed: accuracy, learned-attack hits, model-inversion top-1 (all in %)."""
    out = []
    for seed in seeds:
        ev = load(f"{runs}/{data}-{row}-s{seed}/eval.json")
        at = load(f"{runs}/{data}-{row}-s{seed}/attack/attack.json")
        acc = accuracy(data, ev)
        if acc is None:
            continue
        out.append({"seed": seed, "accuracy": 100 * acc,
                    "learned_hit": None if at is None else 100 * at["reconstruction"]["identity_hit"],
                    "learned_ssim": None if at is None else at["reconstruction"]["ssim"],
                    "inversion_top1": None if at is None else 100 * at["model_inversion"]["top1"],
                    "policy": get(ev, "policy", "actions")})
    return out


def mean(values):
    values = [v for v in values if v is not None]
    return None if not values else sum(values) / len(values)


def spread(values):
    values = [v for v in values if v is not None]
    return None if len(values) < 2 else (max(values) - min(values)) / 2


def summary(points, key):
    return mean([p[key] for p in points]), spread([p[key] for p in points])


def fmt(value, half=None, digits=1):
    if value is None:
        return "-"
    return f"{value:.{digits}f}" + ("" if half is None else f" ± {half:.{digits}f}")


def main():
    runs, docs, seeds, rows = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
    data = {d: {row: measure(runs, d, row, seeds) for row in rows} for d in ("orl", "lfw")}
    fixed = [r for r in rows if not r.startswith("adaptive")]
    planes = (("learned_hit", "learned-attack identity hits %"),
              ("inversion_top1", "model-inversion top-1 %"))
    report = {"seeds": seeds, "rows": data, "fronts": {}, "adaptive": {}}

    lines = [BEGIN, ""]
    lines.append("| row | ORL-id top-1 % | ORL learned hits % | ORL inversion top-1 % | "
                 "LFW-d5 acc % | LFW learned hits % | LFW inversion top-1 % |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        cells = []
        for d in ("orl", "lfw"):
            for key in ("accuracy", "learned_hit", "inversion_top1"):
                cells.append(fmt(*summary(data[d][row], key)))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean ± half the range over seeds {', '.join(seeds)} where a row ran with "
                 "several (LFW: the first seed, and every seed for the adaptive rows).")
    lines.append("")

    # Every attack's scores on the first seed's ORL runs.
    lines.append(f"Every attack, ORL-id, seed {seeds[0]}:")
    lines.append("")
    lines.append("| row | linear SSIM / PSNR / hit % | multi-obs recovered % / SSIM / hit % | "
                 "learned SSIM / PSNR / hit % | model inversion top-1 / top-5 % |")
    lines.append("| --- | --- | --- | --- | --- |")
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    num = lambda v, n=3: "-" if v is None else f"{v:.{n}f}"  # noqa: E731
    for row in rows:
        a = load(f"{runs}/orl-{row}-s{seeds[0]}/attack/attack.json")
        lines.append(
            f"| {row} | {num(get(a, 'linear', 'ssim'))} / {num(get(a, 'linear', 'psnr'), 1)} / "
            f"{pct(get(a, 'linear', 'identity_hit'))} | "
            f"{pct(get(a, 'multi_observation', 'recovered_share'))} / "
            f"{num(get(a, 'multi_observation', 'ssim'))} / "
            f"{pct(get(a, 'multi_observation', 'identity_hit'))} | "
            f"{num(get(a, 'reconstruction', 'ssim'))} / {num(get(a, 'reconstruction', 'psnr'), 1)}"
            f" / {pct(get(a, 'reconstruction', 'identity_hit'))} | "
            f"{pct(get(a, 'model_inversion', 'top1'))} / {pct(get(a, 'model_inversion', 'top5'))} |")
    any_attack = next((load(f"{runs}/orl-{r}-s{seeds[0]}/attack/attack.json") for r in rows
                       if load(f"{runs}/orl-{r}-s{seeds[0]}/attack/attack.json")), None)
    evaluator = load(f"{runs}/orl-evaluator/eval.json")
    if any_attack:
        chance = any_attack["chance"]
        lines.append("")
        lines.append(
            f"Chance levels: the public mean face scores SSIM "
            f"{chance['ssim_of_mean_public_face']:.3f} against the training images; a guessed "
            f"identity hits {100 * chance['identity_hit']:.1f} %. Evaluator: an independent FR "
            f"model trained on the raw ORL training images"
            + (f" (ORL-id top-1 {100 * evaluator['top1']:.1f} %)." if evaluator else "."))
    lines.append("")

    # Adaptive against the front of the fixed settings, per dataset and plane.
    lines.append("| adaptive row | data | plane | accuracy % | its leak % | front's leak there % | "
                 "margin (points) | seed spread | beyond the front |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d in ("orl", "lfw"):
        for key, label in planes:
            points = [(summary(data[d][r], "accuracy")[0], summary(data[d][r], key)[0])
                      for r in fixed]
            points = [p for p in points if None not in p]
            curve = front(points)
            report["fronts"][f"{d}/{key}"] = curve
            for row in rows:
                if not row.startswith("adaptive"):
                    continue
                acc, acc_spread = summary(data[d][row], "accuracy")
                leak, leak_spread = summary(data[d][row], key)
                if acc is None or leak is None:
                    continue
                there = front_leak_at(curve, acc)
                margin = None if there is None else there - leak
                noise = max(leak_spread or 0, 0)
                beyond = ("-" if margin is None else
                          "yes" if margin > noise and len(data[d][row]) > 1 else
                          "yes (one seed)" if margin > 0 and len(data[d][row]) == 1 else "no")
                report["adaptive"][f"{d}/{key}/{row}"] = {
                    "accuracy": acc, "leak": leak, "front": there, "margin": margin,
                    "spread": leak_spread, "accuracy_spread": acc_spread}
                lines.append(f"| {row} | {d} | {label} | {fmt(acc, acc_spread)} | "
                             f"{fmt(leak, leak_spread)} | {fmt(there)} | {fmt(margin)} | "
                             f"{fmt(leak_spread)} | {beyond} |")
    lines.append("")
    lines.append(END)
    table = "\n".join(lines)

    results = os.path.join(docs, "RESULTS.md")
    text = open(results).read() if os.path.exists(results) else "# Results\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + table + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    with open(results, "w") as f:
        f.write(text)
    with open(os.path.join(docs, "report_data.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")

    # The planes: fixed settings and their front in grey, adaptive rows in colour.
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for i, d in enumerate(("orl", "lfw")):
        for j, (key, label) in enumerate(planes):
            ax = axes[i][j]
            if not any(summary(data[d][r], key)[0] is not None for r in rows):
                ax.text(0.5, 0.5, "no attacked runs yet", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            for row in rows:
                acc = summary(data[d][row], "accuracy")[0]
                leak, leak_spread = summary(data[d][row], key)
                if acc is None or leak is None:
                    continue
                is_adaptive = row.startswith("adaptive")
                ax.errorbar(leak, acc, xerr=leak_spread, fmt="o" if is_adaptive else ".",
                            color="C3" if is_adaptive else "0.45", ms=7 if is_adaptive else 6)
                ax.annotate(row, (leak, acc), textcoords="offset points", xytext=(4, 3),
                            fontsize=7, color="C3" if is_adaptive else "0.3")
            curve = report["fronts"][f"{d}/{key}"]
            if curve:
                ax.plot([p[1] for p in curve], [p[0] for p in curve], "-", color="0.6",
                        label="front of the fixed settings")
                ax.legend(loc="lower right", fontsize=8)
            ax.set_xlabel(label + " (lower is more private)")
            ax.set_ylabel(("ORL-id top-1" if d == "orl" else "LFW-disjoint-5 accuracy") + " %")
            ax.grid(alpha=0.3)
    fig.suptitle("Privacy/utility: fixed settings, their Pareto front, and the adaptive policy")
    fig.tight_layout()
    fig.savefig(os.path.join(docs, "privacy_utility.png"), dpi=100)
    plt.close(fig)

    # Four samples per method row (first seed, ORL): original, protected, linear, learned.
    shown = [r for r in ("none", "mask", "dp", "instahide", "mixup-k2-d-t0", "mixup-k4-d-t0",
                         "mixup-k6-d-t0", "adaptive-c3") if r in rows]
    grids = [(r, f"{runs}/orl-{r}-s{seeds[0]}/attack/grid.png") for r in shown
             if os.path.exists(f"{runs}/orl-{r}-s{seeds[0]}/attack/grid.png")]
    if grids:
        fig, axes = plt.subplots(len(grids), 1, figsize=(12, 0.85 * len(grids) + 0.4))
        axes = axes if len(grids) > 1 else [axes]
        for ax, (row, path) in zip(axes, grids):
            image = mpimg.imread(path)
            strips = [image[r * TILE:(r + 1) * TILE + 2, :4 * TILE + 2] for r in (0, 1, 2, 4)]
            ax.imshow(np.concatenate(strips, axis=1))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_ylabel(row, rotation=0, ha="right", va="center", fontsize=11)
        axes[0].set_title("original | protected sample in pixels | linear attack | learned "
                          "reconstruction", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(docs, "attack_grid.png"), dpi=100)
        plt.close(fig)
    print(table)


if __name__ == "__main__":
    main()
