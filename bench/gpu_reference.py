#!/usr/bin/python3
"""The PyTorch counterpart of a hymask GPU training run (cluster/device/check.sh), on the same
card in the same call: the work of configs/gpu.yaml written the way a PyTorch user would.

  - input: synthetic grey 112 x 112 faces already on the GPU (no loader: the reference's best
    case; hymask's figure includes its CPU loader and masking);
  - masking on the GPU: the 8 x 8 block DCT as a stride-8 convolution with the 63 kept basis
    images (u = 1, DC dropped), then frequency MixUp with k = 2 and Dirichlet(1) weights;
  - model: hymask's iresnet50 for a 63 x 14 x 14 input (the same blocks, strides 1,1,1,2, BN,
    flatten, linear, BN), the ArcFace head (s = 64, m = 0.5) on the weighted mixed loss, bf16
    autocast for the backbone, SGD (momentum 0.9, weight decay 5e-4).

Prints one JSON line: images/s over the timed steps.
  python3 bench/gpu_reference.py --batch 128 --steps 30 --warmup 10 --classes 1000
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ddp_reference import ArcFace, dct_basis  # noqa: E402  (the same masking and head)


class IBlock(nn.Module):
    """BN-conv-BN-PReLU-conv-BN plus shortcut, stride on the second conv (ArcFace's IResNet)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
            nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)


class IResNet50(nn.Module):
    def __init__(self, channels=63, embedding=512):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 64, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(64), nn.PReLU(64))
        blocks, cin = [], 64
        for depth, width, stride in [(3, 64, 1), (4, 128, 1), (14, 256, 1), (3, 512, 2)]:
            for b in range(depth):
                blocks.append(IBlock(cin, width, stride if b == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(512)
        self.fc = nn.Linear(512 * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding)

    def forward(self, x):
        return self.features(self.fc(self.bn(self.blocks(self.stem(x))).flatten(1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--classes", type=int, default=1000)
    args = parser.parse_args()
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    basis = dct_basis().to(device)
    backbone = IResNet50().to(device)
    head = ArcFace(512, args.classes, s=64.0, m=0.5).to(device)
    optimiser = torch.optim.SGD(list(backbone.parameters()) + list(head.parameters()), lr=0.1,
                                momentum=0.9, weight_decay=5e-4)
    faces = torch.randn(8, args.batch, 1, 112, 112, device=device) * 60
    labels = torch.randint(0, args.classes, (8, args.batch), device=device)
    dirichlet = torch.distributions.Dirichlet(torch.ones(2, device=device))

    def step(i):
        pixels, y = faces[i % 8], labels[i % 8]
        coeffs = F.conv2d(pixels, basis, stride=8)  # B x 63 x 14 x 14
        b = coeffs.size(0)
        partner = (torch.arange(b, device=device) + torch.randint(1, b, (b,), device=device)) % b
        w = dirichlet.sample((b,))
        mixed = w[:, 0, None, None, None] * coeffs + w[:, 1, None, None, None] * coeffs[partner]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            embedding = backbone(mixed)
        loss = head(embedding.float(), torch.stack([y, y[partner]], 1), w)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return loss

    for i in range(args.warmup):
        step(i)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
    loss.item()
    seconds = time.perf_counter() - start
    print(json.dumps({"images_per_second": args.steps * args.batch / seconds,
                      "batch": args.batch, "steps": args.steps,
                      "card": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
