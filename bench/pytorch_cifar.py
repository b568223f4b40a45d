#!/usr/bin/env python3
"""The CPU speed anchor for training deephash's CIFAR network (nn::cifar_net): the same layers in
PyTorch -- conv0 32, then for 64 / 128 / 256 channels a 3x3 convolution, 2x2 max pool, batch norm,
ReLU, a second 3x3 convolution, batch norm, ReLU; global max pool; the 48-unit latent layer with a
sigmoid; the classifier; cross-entropy with label smoothing 0.2 -- trained with SGD (momentum 0.9,
weight decay 5e-4) on batches of 32x32 inputs, with as many threads as deephash uses; in float,
then under CPU autocast to bfloat16 (PyTorch's mixed precision, where oneDNN uses the CPU's bf16
instructions) as a second row. Prints one JSON object. Run by bench/compare_training.sh in the same session as deephash_bench."""
import json
import os
import sys
import time

import torch
import torch.nn as nn


def cifar_net(bits=48, classes=10):
    def conv_bn_relu(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    layers = conv_bn_relu(3, 32)
    cin = 32
    for c in (64, 128, 256):
        layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c),
                   nn.ReLU(inplace=True)]
        layers += conv_bn_relu(c, c)
        cin = c
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(256, bits), nn.Sigmoid(), nn.Linear(bits, classes)]
    return nn.Sequential(*layers)


def time_steps(batch, autocast):
    torch.manual_seed(1)
    net = cifar_net().train()
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.2)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    runs, start = 0, time.perf_counter()
    while runs < 10 or time.perf_counter() - start < 10:
        step()
        runs += 1
    return (time.perf_counter() - start) / runs


def main():
    threads = int(os.environ.get("DEEPHASH_NUM_THREADS", os.cpu_count()))
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    torch.set_num_threads(threads)
    seconds = time_steps(batch, False)
    result = {"name": "pytorch_cifar_train_step", "torch": torch.__version__, "threads": threads,
              "batch": batch, "mkldnn": torch.backends.mkldnn.is_available(),
              "ms_per_batch": seconds * 1e3, "ms_per_image": seconds * 1e3 / batch,
              "images_per_second": batch / seconds}
    try:
        bf16 = time_steps(batch, True)
        result["autocast_bf16"] = {"ms_per_batch": bf16 * 1e3, "ms_per_image": bf16 * 1e3 / batch,
                                   "images_per_second": batch / bf16}
    except RuntimeError as e:  # an old PyTorch or a CPU without bf16 support
        result["autocast_bf16"] = {"skipped": str(e)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
