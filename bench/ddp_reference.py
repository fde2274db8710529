#!/usr/bin/python3
"""The PyTorch DistributedDataParallel counterpart of a hymask training run, for the end-to-end
comparison of bench/ddp_vs_hymask.sh: the same work, written the way a PyTorch user would.

  - data: LFW-disjoint-5 training images (people with >= 5 images), JPEG decoded with Pillow in
    DataLoader worker processes, grey, centre crop 150, resized to 112 (antialiased bilinear),
    centred (pixel - 128), each rank its shard of every epoch's shuffled order;
  - masking in the workers (collate): the 8 x 8 block DCT as a stride-8 convolution with the 63
    kept DCT basis images (u = 1, DC dropped), then frequency MixUp with k = 2 and Dirichlet(1)
    weights, partners from the same batch;
  - model: hymask's resnet-s (same layers, strides and sizes) with the ArcFace head (s = 32,
    m = 0.3) and the weighted mixed loss; SGD (momentum 0.9, weight decay 5e-4);
  - DDP over gloo on CPU (25 MB buckets, as hymask's reducer).

Prints images/s over the timed steps and a per-stage breakdown as JSON.
  python3 bench/ddp_reference.py --ranks 2 --steps 40 --warmup 10 [--data DIR]
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def lfw5_train(root):
    """Image paths and labels of the people with >= 5 images (the LFW-disjoint-5 train split)."""
    people = sorted(p for p in os.listdir(root) if os.path.isdir(os.path.join(root, p)))
    items, label = [], 0
    for person in people:
        files = sorted(f for f in os.listdir(os.path.join(root, person))
                       if f.lower().endswith((".jpg", ".jpeg", ".png")))
        if len(files) >= 5:
            items += [(os.path.join(root, person, f), label) for f in files]
            label += 1
    return items, label


def dct_basis():
    """The 63 orthonormal 8 x 8 DCT-II basis images with v + h > 0, as conv weights."""
    def d(f, i):
        return (math.sqrt(1 / 8) if f == 0 else math.sqrt(2 / 8)) * math.cos(
            math.pi * (2 * i + 1) * f / 16)
    kernels = [[[d(v, y) * d(h, x) for x in range(8)] for y in range(8)]
               for v in range(8) for h in range(8) if v + h > 0]
    return torch.tensor(kernels, dtype=torch.float32).unsqueeze(1)


class FaceData(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        start = time.perf_counter()
        image = Image.open(path)
        image.load()
        decoded = time.perf_counter()
        grey = image.convert("L")
        w, h = grey.size
        left, top = (w - 150) // 2, (h - 150) // 2
        grey = grey.crop((left, top, left + 150, top + 150)).resize((112, 112), Image.BILINEAR)
        pixels = torch.from_numpy(np.asarray(grey, dtype=np.float32) - 128.0)
        return pixels, label, decoded - start, time.perf_counter() - decoded


class MaskingCollate:
    """Block DCT + frequency MixUp (k = 2, Dirichlet(1)) of a batch, in the loader worker."""

    def __init__(self):
        self.basis = dct_basis()

    def __call__(self, samples):
        start = time.perf_counter()
        pixels = torch.stack([s[0] for s in samples]).unsqueeze(1)
        labels = torch.tensor([s[1] for s in samples])
        coeffs = F.conv2d(pixels, self.basis, stride=8)  # B x 63 x 14 x 14
        b = coeffs.size(0)
        partner = (torch.arange(b) + torch.randint(1, b, (b,))) % b
        w = torch.distributions.Dirichlet(torch.ones(2)).sample((b,))
        mixed = w[:, 0, None, None, None] * coeffs + w[:, 1, None, None, None] * coeffs[partner]
        return (mixed, torch.stack([labels, labels[partner]], 1), w,
                sum(s[2] for s in samples), sum(s[3] for s in samples),
                time.perf_counter() - start)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNetS(nn.Module):
    """hymask's resnet-s for a 63 x 14 x 14 input: strides 1,1,1,2,2 (stem, 4 stages)."""

    def __init__(self, channels=63, embedding=512):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 32, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(32), nn.ReLU())
        self.blocks = nn.Sequential(Block(32, 32, 1), Block(32, 64, 1), Block(64, 128, 2),
                                    Block(128, 256, 2))
        self.bn = nn.BatchNorm2d(256)
        self.fc = nn.Linear(256 * 4 * 4, embedding)
        self.features = nn.BatchNorm1d(embedding)

    def forward(self, x):
        return self.features(self.fc(self.bn(self.blocks(self.stem(x))).flatten(1)))


class ArcFace(nn.Module):
    def __init__(self, embedding, classes, s=32.0, m=0.3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, embedding) * 0.01)
        self.s, self.m = s, m

    def forward(self, e, labels, weights):
        cos = F.normalize(e, dim=1) @ F.normalize(self.weight, dim=1).t()
        total = 0
        for j in range(labels.size(1)):
            t = labels[:, j:j + 1]
            cy = cos.gather(1, t)
            sy = torch.sqrt(torch.clamp(1 - cy * cy, 1e-12, 1))
            phi = torch.where(cy > math.cos(math.pi - self.m),
                              cy * math.cos(self.m) - sy * math.sin(self.m),
                              cy - math.sin(math.pi - self.m) * self.m)
            logits = (self.s * cos).scatter(1, t, self.s * phi)
            total = total + weights[:, j] * F.cross_entropy(logits, t.squeeze(1), reduction="none")
        return total.mean()


class FaceModel(nn.Module):
    """With bf16, the backbone runs under CPU autocast and the head in float32, as hymask's
    train.precision=bf16 does."""

    def __init__(self, classes, bf16=False):
        super().__init__()
        self.backbone = ResNetS()
        self.head = ArcFace(512, classes)
        self.bf16 = bf16

    def forward(self, x, labels, weights):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            embedding = self.backbone(x)
        return self.head(embedding.float(), labels, weights)


def run(rank, args, items, classes):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    torch.set_num_threads(max(1, 2 // args.ranks))
    torch.manual_seed(1)
    random.seed(1)
    order = list(range(len(items)))
    random.Random(1).shuffle(order)
    shard = [items[i] for i in order[rank::args.ranks]]
    loader = torch.utils.data.DataLoader(
        FaceData(shard), batch_size=64, shuffle=True, drop_last=True,
        num_workers=max(1, 2 // args.ranks), collate_fn=MaskingCollate(), persistent_workers=True,
        prefetch_factor=4)
    ddp = nn.parallel.DistributedDataParallel(FaceModel(classes, args.precision == "bf16"),
                                              bucket_cap_mb=25)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    stages = dict.fromkeys(["decode (loader workers)", "preprocess (loader workers)",
                            "mask (loader workers)", "data wait", "forward",
                            "backward (all-reduce overlapped)", "optimizer"], 0.0)
    step, images, total_start = 0, 0, None
    iterator = iter(loader)
    while step < args.warmup + args.steps:
        if step == args.warmup:
            stages = dict.fromkeys(stages, 0.0)
            images, total_start = 0, time.perf_counter()
        t0 = time.perf_counter()
        try:
            x, labels, w, decode, prep, mask = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            continue
        t1 = time.perf_counter()
        loss = ddp(x, labels, w)
        t2 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        stages["decode (loader workers)"] += decode
        stages["preprocess (loader workers)"] += prep
        stages["mask (loader workers)"] += mask
        stages["data wait"] += t1 - t0
        stages["forward"] += t2 - t1
        stages["backward (all-reduce overlapped)"] += t3 - t2
        stages["optimizer"] += t4 - t3
        images += x.size(0)
        step += 1
    total = time.perf_counter() - total_start
    counts = torch.tensor([float(images)])
    dist.all_reduce(counts)
    if rank == 0:
        per = 1000.0 / args.steps
        result = {"ranks": args.ranks, "images_per_s": counts.item() / total,
                  "ms_per_step": {k: v * per for k, v in stages.items()},
                  "data_wait_share": stages["data wait"] / total, "precision": args.precision,
                  "torch": torch.__version__}
        result["ms_per_step"]["total"] = total * per
        print(json.dumps(result))
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--port", type=int, default=29533)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--data", default="../shared/data/lfw/lfw-deepfunneled")
    args = parser.parse_args()
    items, classes = lfw5_train(args.data)
    mp.spawn(run, args=(args, items, classes), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
