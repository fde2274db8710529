#!/usr/bin/env python3
"""Writes an InsightFace verification set (.bin) from an LFW-format image folder and pairs file.

The set is what InsightFace distributes as lfw.bin: a pickle of (images, same), where images
holds the encoded files of each pair, first then second, and same says per pair whether both
show one person. Pairs keep the order of the pairs file, so InsightFace's ten consecutive folds
are the pairs file's own folds (600 lines each in LFW's View 2), and `hymask eval --bin` on the
result equals `hymask eval --pairs` on the folder.

  scripts/make_verification_bin.py --root ../shared/data/lfw/lfw-deepfunneled \\
      --pairs ../shared/data/lfw/pairs.txt --out lfw.bin [--protocol 4] [--numpy]

--protocol: the pickle protocol (2 to 5; InsightFace's files are 2, written by Python 2, or the
newest of the Python that wrote them). --numpy stores the images as uint8 arrays and `same` as a
bool array, as some conversions of the sets do.
"""
import argparse
import os
import pickle
import sys


def read_pairs(path):
    """(name1, image1, name2, image2, same) per line of an LFW View 2 pairs file."""
    pairs = []
    with open(path) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if len(fields) == 3:
            pairs.append((fields[0], int(fields[1]), fields[0], int(fields[2]), True))
        elif len(fields) == 4:
            pairs.append((fields[0], int(fields[1]), fields[2], int(fields[3]), False))
        elif fields:
            sys.exit(f"{path}:{number}: not a pair line: {line!r}")
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="image folder: ROOT/Name/Name_NNNN.jpg")
    parser.add_argument("--pairs", required=True, help="LFW-format pairs.txt")
    parser.add_argument("--out", required=True, help="the .bin to write")
    parser.add_argument("--protocol", type=int, default=4, choices=[2, 3, 4, 5])
    parser.add_argument("--numpy", action="store_true", help="NumPy arrays, not lists of bytes")
    args = parser.parse_args()

    images, same = [], []
    for name1, image1, name2, image2, is_same in read_pairs(args.pairs):
        for name, image in ((name1, image1), (name2, image2)):
            path = os.path.join(args.root, name, f"{name}_{image:04d}.jpg")
            try:
                with open(path, "rb") as f:
                    images.append(f.read())
            except OSError as error:
                sys.exit(f"cannot read {path} ({error.strerror}): is --root the folder the "
                         "pairs file refers to?")
        same.append(is_same)
    if args.numpy:
        import numpy as np
        images = [np.frombuffer(image, dtype=np.uint8) for image in images]
        same = np.array(same, dtype=bool)
    temporary = args.out + ".tmp"
    with open(temporary, "wb") as f:
        pickle.dump((images, same), f, protocol=args.protocol)
    os.replace(temporary, args.out)
    print(f"wrote {args.out}: {len(same)} pairs, {len(images)} images, pickle protocol "
          f"{args.protocol}{', NumPy arrays' if args.numpy else ''}")


if __name__ == "__main__":
    main()
