#!/usr/bin/env python3
"""Builds the privacy/utility comparison from the runs of scripts/report.sh.

usage: scripts/report_table.py RUNS_DIR DOCS_DIR ROW...   (needs matplotlib)

Reads RUNS/orl-ROW/eval.json, RUNS/lfw-ROW/eval.json and RUNS/orl-ROW/attack/attack.json, and
writes the table into DOCS/RESULTS.md between the report markers, DOCS/privacy_utility.png and
DOCS/attack_grid.png. A missing piece is shown as a dash, so a partial report still renders.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

BEGIN = "<!-- report:begin (scripts/report.sh writes this section) -->"
END = "<!-- report:end -->"
TILE = 112 + 2  # grid tiles and their gap, as hymask attack draws them


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pct(value):
    return "-" if value is None else f"{100 * value:.1f}"


def num(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def get(record, *keys):
    for key in keys:
        if record is None:
            return None
        record = record.get(key)
    return record


def main():
    runs, docs, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = {}
    for row in rows:
        data[row] = {
            "orl": load(f"{runs}/orl-{row}/eval.json"),
            "lfw": load(f"{runs}/lfw-{row}/eval.json"),
            "attack": load(f"{runs}/orl-{row}/attack/attack.json"),
        }
    evaluator = load(f"{runs}/orl-evaluator/eval.json")
    any_attack = next((d["attack"] for d in data.values() if d["attack"]), None)

    lines = [BEGIN, ""]
    lines.append(
        "| method | ORL-id top-1 % | LFW-d5 acc % | linear SSIM / PSNR / hit % | "
        "multi-obs recovered % / SSIM / hit % | learned SSIM / PSNR / hit % | "
        "model inversion top-1 / top-5 % |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        d = data[row]
        a = d["attack"]
        lfw = d["lfw"]
        lfw_text = "-" if lfw is None else (
            f"{100 * lfw['accuracy_mean']:.1f} +- {100 * lfw['accuracy_std']:.1f}")
        lines.append(
            f"| {row} | {pct(get(d['orl'], 'top1'))} | {lfw_text} | "
            f"{num(get(a, 'linear', 'ssim'))} / {num(get(a, 'linear', 'psnr'), 1)} / "
            f"{pct(get(a, 'linear', 'identity_hit'))} | "
            f"{pct(get(a, 'multi_observation', 'recovered_share'))} / "
            f"{num(get(a, 'multi_observation', 'ssim'))} / "
            f"{pct(get(a, 'multi_observation', 'identity_hit'))} | "
            f"{num(get(a, 'reconstruction', 'ssim'))} / "
            f"{num(get(a, 'reconstruction', 'psnr'), 1)} / "
            f"{pct(get(a, 'reconstruction', 'identity_hit'))} | "
            f"{pct(get(a, 'model_inversion', 'top1'))} / "
            f"{pct(get(a, 'model_inversion', 'top5'))} |")
    lines.append("")
    if any_attack:
        chance = any_attack["chance"]
        lines.append(
            f"Chance levels: the public mean face scores SSIM "
            f"{chance['ssim_of_mean_public_face']:.3f} against the training images; a guessed "
            f"identity hits {100 * chance['identity_hit']:.1f} %. Multi-observation: a face "
            f"counts as recovered at SSIM >= "
            f"{any_attack['multi_observation']['ssim_threshold']}, from "
            f"{any_attack['multi_observation']['epochs']} observed epochs. Evaluator: an "
            f"independent FR model trained on the raw ORL training images"
            + (f" (ORL-id top-1 {100 * evaluator['top1']:.1f} %)." if evaluator else "."))
        lines.append("")
    lines.append("Per-sample details (best-matching constituent, hits on any constituent, run "
                 "times): `runs/report/orl-METHOD/attack/attack.json`.")
    lines.append("")
    lines.append("Published anchors, **measured elsewhere** on other data with far larger budgets "
                 "(U-Net reconstruction attacks as reported by PartialFace, ICCV 2023, and "
                 "MinusFace, CVPR 2024; see ../shared/DESIGN.md), not comparable number for "
                 "number:")
    lines.append("")
    lines.append("| method | reconstruction SSIM / PSNR | LFW accuracy |")
    lines.append("| --- | --- | --- |")
    for name, attack, lfw in (("unprotected ArcFace IR-50", "-", "99.77 %"),
                              ("PPFR-FD", "0.70 / 15.7", "99.68 %"),
                              ("DuetFace", "0.87 / 19.9", "-"),
                              ("PartialFace", "0.59 / 13.7", "-"),
                              ("MinusFace", "0.50 / 11.0", "-")):
        lines.append(f"| {name} | {attack} | {lfw} |")
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

    # Accuracy against what the attacks recover, one point per method.
    points = [(r, data[r]) for r in rows if data[r]["orl"] and data[r]["attack"]]
    if points:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, key, label in (
                (axes[0], ("reconstruction", "ssim"), "learned reconstruction SSIM"),
                (axes[1], ("reconstruction", "identity_hit"),
                 "learned reconstruction identity-hit rate")):
            for row, d in points:
                x = get(d["attack"], *key)
                y = 100 * d["orl"]["top1"]
                ax.scatter(x, y, s=40)
                ax.annotate(row, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
            ax.set_xlabel(label + " (lower is more private)")
            ax.set_ylabel("ORL-id top-1 accuracy %")
            ax.grid(alpha=0.3)
        fig.suptitle("Privacy/utility: every method on ORL-id, attacked white-box")
        fig.tight_layout()
        fig.savefig(os.path.join(docs, "privacy_utility.png"), dpi=110)
        plt.close(fig)

    # Four samples per method: original, protected sample in pixels, linear, learned.
    grids = [(r, f"{runs}/orl-{r}/attack/grid.png") for r in rows
             if os.path.exists(f"{runs}/orl-{r}/attack/grid.png")]
    if grids:
        fig, axes = plt.subplots(len(grids), 1, figsize=(12, 0.85 * len(grids) + 0.4))
        axes = axes if len(grids) > 1 else [axes]
        for ax, (row, path) in zip(axes, grids):
            image = mpimg.imread(path)
            # Rows 0 (original), 1 (protected), 2 (linear), 4 (learned); first 4 columns.
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
