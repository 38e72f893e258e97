#!/usr/bin/python3
"""Train examples/keras_mnist.lua's network on Fashion-MNIST with PyTorch and
export the weights in Keras layouts for `cnnc --weights`.

    /usr/bin/python3 examples/fashion_mnist/train.py [--epochs N] [--data DIR]

Network (exactly examples/keras_mnist.lua, channels_last semantics):
    Conv2D 32 3x3 relu (valid) -> MaxPool 2 -> Conv2D 64 3x3 relu -> MaxPool 2
    -> Conv2D 64 3x3 relu -> Flatten (H, W, C order) -> Dense 64 relu -> Dense 10 softmax

Writes, next to this script:
    weights/<layer>.<weight>.npy   Keras layouts, float32 (conv2d.kernel (3,3,1,32), ...)
    fashion_mnist.onnx             opset 13, input 'input' (1,1,28,28) NCHW, output 'probabilities'
    test_predictions.npy           uint8 (10000,) predicted class per test image
    accuracy.txt                   'pytorch_test_accuracy 0.xxxx'
    sample_inputs.npy              float32 (16,28,28,1), first 16 test images in [0,1]
    sample_outputs.npy             float32 (16,10), PyTorch softmax outputs for them
and then runs check_export.py (numpy re-implementation from the .npy files).
"""
import argparse
import gzip
import os
import random
import struct
import subprocess
import sys
import time

import numpy as np

# The build machine is shared: with busy-waiting OpenMP workers, 2 threads can run
# several times slower than 1 when other jobs hold the cores. Must precede `import torch`.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = '/usr/share/datasets/fashion-mnist'
SEED = 1


def read_idx(path):
    """Read a gzip'd IDX file (unsigned byte data) into a numpy array."""
    with gzip.open(path, 'rb') as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', data[:4])
    assert zero == 0 and dtype == 0x08, 'expected unsigned-byte IDX data: ' + path
    shape = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    assert arr.size == int(np.prod(shape)), 'truncated IDX file: ' + path
    return arr.reshape(shape)


def load(data_dir, split):
    images = read_idx(os.path.join(data_dir, '%s-images-idx3-ubyte.gz' % split))
    labels = read_idx(os.path.join(data_dir, '%s-labels-idx1-ubyte.gz' % split))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N,1,28,28)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class KerasMnist(nn.Module):
    """The network of examples/keras_mnist.lua. forward() returns logits."""

    def __init__(self):
        super().__init__()
        self.conv2d = nn.Conv2d(1, 32, 3)
        self.conv2d_1 = nn.Conv2d(32, 64, 3)
        self.conv2d_2 = nn.Conv2d(64, 64, 3)
        self.dense = nn.Linear(3 * 3 * 64, 64)
        self.dense_1 = nn.Linear(64, 10)

    def forward(self, x):                       # x: (N, 1, 28, 28)
        x = F.relu(self.conv2d(x))              # (N, 32, 26, 26)
        x = F.max_pool2d(x, 2)                  # (N, 32, 13, 13)
        x = F.relu(self.conv2d_1(x))            # (N, 64, 11, 11)
        x = F.max_pool2d(x, 2)                  # (N, 64, 5, 5)
        x = F.relu(self.conv2d_2(x))            # (N, 64, 3, 3)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # Keras Flatten: (H, W, C) order
        x = F.relu(self.dense(x))
        return self.dense_1(x)


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return F.softmax(self.net(x), dim=1)


def keras_weights(model):
    """{'<layer>.<weight>': float32 array in Keras layout}."""
    out = {}
    for name in ('conv2d', 'conv2d_1', 'conv2d_2'):
        layer = getattr(model, name)
        w = layer.weight.detach().cpu().numpy()            # (out, in, kh, kw)
        out[name + '.kernel'] = w.transpose(2, 3, 1, 0)     # (kh, kw, in, out)
        out[name + '.bias'] = layer.bias.detach().cpu().numpy()
    for name in ('dense', 'dense_1'):
        layer = getattr(model, name)
        out[name + '.kernel'] = layer.weight.detach().cpu().numpy().T  # (in, out)
        out[name + '.bias'] = layer.bias.detach().cpu().numpy()
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def predict(model, x, batch=1000):
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch]))
    return torch.cat(outs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--data', default=DEFAULT_DATA)
    ap.add_argument('--out', default=HERE)
    args = ap.parse_args()

    torch.set_num_threads(2)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    x_train, y_train = load(args.data, 'train')
    x_test, y_test = load(args.data, 't10k')
    print('train', tuple(x_train.shape), 'test', tuple(x_test.shape))

    model = KerasMnist()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            n += len(idx)
        acc = (predict(model, x_test).argmax(1) == y_test).float().mean().item()
        print('epoch %d  loss %.4f  test_acc %.4f  (%.0fs)' % (epoch, total / n, acc, time.time() - t0),
              flush=True)
    train_time = time.time() - t0

    model.eval()
    pred = predict(model, x_test).argmax(1)
    acc = (pred == y_test).float().mean().item()
    print('final test accuracy %.4f, training time %.0fs' % (acc, train_time))

    os.makedirs(os.path.join(args.out, 'weights'), exist_ok=True)
    for key, arr in keras_weights(model).items():
        np.save(os.path.join(args.out, 'weights', key + '.npy'), arr)
    np.save(os.path.join(args.out, 'test_predictions.npy'), pred.numpy().astype(np.uint8))
    with open(os.path.join(args.out, 'accuracy.txt'), 'w') as f:
        f.write('pytorch_test_accuracy %.4f\n' % acc)

    probs_model = WithSoftmax(model).eval()
    samples = x_test[:16]
    with torch.no_grad():
        sample_out = probs_model(samples).numpy().astype(np.float32)
    np.save(os.path.join(args.out, 'sample_inputs.npy'),
            np.ascontiguousarray(samples.numpy().transpose(0, 2, 3, 1), dtype=np.float32))  # NHWC
    np.save(os.path.join(args.out, 'sample_outputs.npy'), sample_out)

    onnx_path = os.path.join(args.out, 'fashion_mnist.onnx')
    torch.onnx.export(probs_model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13,
                      input_names=['input'], output_names=['probabilities'],
                      do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(onnx_path))
    print('wrote', onnx_path, '(onnx.checker ok)')

    # Verify the Keras-layout export with an independent numpy implementation.
    subprocess.check_call([sys.executable, os.path.join(HERE, 'check_export.py'), args.out])


if __name__ == '__main__':
    main()
