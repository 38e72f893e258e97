"""bench/torch_train.py: one training epoch of a bench network in PyTorch, timed; the
other side of bench/train_bench.lua.

    /usr/bin/python3 bench/torch_train.py NETDIR [--images N] [--threads T]
                                          [--batch B] [--lr LR] [--seed S] [--data DIR]

NETDIR is what bench/export_weights.lua wrote for the network (examples/keras_mnist.lua
in `make bench`): the network is built from NETDIR/net.txt and its seeded Keras weights
exactly as bench/torch_bench.py builds it (the same modules and weight transposes), so
PyTorch starts from the weights cnnc starts from. The last layer's softmax is left out of
the modules and the loss is torch.nn.functional.cross_entropy on its input: the same
function as softmax followed by categorical crossentropy (Keras's loss, which cnnc's
net:fit uses), written the way PyTorch programs write it.

The first N (default all 60,000) images of Fashion-MNIST's training set (Debian's
dataset-fashion-mnist, IDX files read with gzip and numpy), scaled to [0, 1] and laid out
NCHW once before timing. Timed: one epoch of mini-batches of B (32) items of a seeded
permutation (the last batch smaller when B does not divide N): gather the batch, forward,
loss (the batch's mean), backward, torch.optim.Adam(lr) step. torch.set_num_threads(T).

Prints `train: pytorch threads T images N batch B seconds S loss L accuracy A` (the
epoch's wall time, its mean training loss and accuracy as the batches saw them), or
`pytorch: skipped (REASON)` when torch cannot be imported (exit 0).
"""
import argparse
import gzip
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def read_idx(path, np):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description='one PyTorch training epoch of a bench network on Fashion-MNIST')
    ap.add_argument('netdir')
    ap.add_argument('--images', type=int, default=60000)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=0.001)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
    except Exception as e:  # ImportError, or a broken install
        print('pytorch: skipped (cannot import torch/numpy with %s: %s)' % (sys.executable, e))
        return 0
    from torch_bench import build, parse_net
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net, layers = parse_net(os.path.join(a.netdir, 'net.txt'))
    if layers[-1]['act'] != 'softmax':
        raise SystemExit('torch_train: the last layer of %s must end in softmax' % a.netdir)
    mods = build(net, layers, a.netdir, torch, np)
    model = torch.nn.Sequential(*mods[:-1])  # without the final softmax: cross_entropy applies it
    model.train()

    images = read_idx(os.path.join(a.data, 'train-images-idx3-ubyte.gz'), np)[:a.images]
    labels = read_idx(os.path.join(a.data, 'train-labels-idx1-ubyte.gz'), np)[:a.images]
    n = images.shape[0]
    x = torch.from_numpy(images.astype(np.float32) / 255).reshape(n, 1, images.shape[1], images.shape[2]).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    F = torch.nn.functional
    gen = torch.Generator().manual_seed(a.seed)

    t0 = time.perf_counter()
    order = torch.randperm(n, generator=gen)
    total, right = 0.0, 0
    for first in range(0, n, a.batch):
        idx = order[first:first + a.batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        total += loss.item() * idx.numel()
        right += (logits.argmax(1) == yb).sum().item()
    seconds = time.perf_counter() - t0
    print('pytorch: version %s, threads %d' % (torch.__version__, torch.get_num_threads()))
    print('train: pytorch threads %d images %d batch %d seconds %.3f loss %.4f accuracy %.4f'
          % (a.threads, n, a.batch, seconds, total / n, right / n))
    return 0


if __name__ == '__main__':
    sys.exit(main())
