#!/usr/bin/env python3
"""The CPU speed anchor for deephash's KevinNet forward pass: the same topology in PyTorch
(CaffeNet: grouped convolutions, LRN, max pooling with Caffe's ceil rule, fc6/fc7 4096, the
48-unit fc8_kevin + sigmoid), batch 32 at 227x227, with as many threads as deephash uses.
Prints one JSON object. Run by bench/compare_cnn.sh in the same session as deephash_bench."""
import json
import os
import sys
import time

import torch
import torch.nn as nn


def kevin_net(bits=48):
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, bits), nn.Sigmoid())


def main():
    threads = int(os.environ.get("DEEPHASH_NUM_THREADS", os.cpu_count()))
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    torch.set_num_threads(threads)
    net = kevin_net().eval()
    x = torch.randn(batch, 3, 227, 227) * 50
    with torch.no_grad():
        for _ in range(2):
            net(x)
        runs, start = 0, time.perf_counter()
        while runs < 5 or time.perf_counter() - start < 5:
            net(x)
            runs += 1
        seconds = (time.perf_counter() - start) / runs
    print(json.dumps({"name": "pytorch_kevinnet_forward", "torch": torch.__version__, "threads": threads,
                      "batch": batch, "ms_per_batch": seconds * 1e3, "ms_per_image": seconds * 1e3 / batch,
                      "images_per_second": batch / seconds}))


if __name__ == "__main__":
    main()
