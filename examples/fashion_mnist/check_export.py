#!/usr/bin/python3
"""Recompute the 16 sample outputs with plain numpy from the Keras-layout weights
in weights/ (channels_last throughout, valid conv, 2x2 floor max pool, HWC flatten)
and check them against PyTorch's sample_outputs.npy to 1e-5.

    /usr/bin/python3 examples/fashion_mnist/check_export.py [DIR]

Numpy only: this is the independent check that the exported layouts are right.
"""
import os
import sys

import numpy as np

TOL = 1e-5
EXPECTED_SHAPES = {
    'conv2d.kernel': (3, 3, 1, 32), 'conv2d.bias': (32,),
    'conv2d_1.kernel': (3, 3, 32, 64), 'conv2d_1.bias': (64,),
    'conv2d_2.kernel': (3, 3, 64, 64), 'conv2d_2.bias': (64,),
    'dense.kernel': (576, 64), 'dense.bias': (64,),
    'dense_1.kernel': (64, 10), 'dense_1.bias': (10,),
}


def conv2d_valid(x, kernel, bias):
    """x (H, W, Cin), kernel (kh, kw, Cin, Cout) Keras layout, stride 1, valid padding."""
    kh, kw, cin, cout = kernel.shape
    h, w, c = x.shape
    assert c == cin
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros((oh, ow, cout), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            # out[y, x, o] += sum_c in[y+i, x+j, c] * kernel[i, j, c, o]
            out += np.einsum('yxc,co->yxo', x[i:i + oh, j:j + ow, :], kernel[i, j])
    return out + bias


def maxpool2(x):
    """2x2 max pool, stride 2, floor mode (trailing odd row/column dropped)."""
    h, w, c = x.shape
    oh, ow = h // 2, w // 2
    x = x[:oh * 2, :ow * 2, :].reshape(oh, 2, ow, 2, c)
    return x.max(axis=(1, 3))


def relu(x):
    return np.maximum(x, 0)


def softmax(z):
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def forward(w, img):
    """img (28, 28, 1) channels_last -> (10,) probabilities, computed in float64."""
    x = img.astype(np.float64)
    x = maxpool2(relu(conv2d_valid(x, w['conv2d.kernel'], w['conv2d.bias'])))      # 13x13x32
    x = maxpool2(relu(conv2d_valid(x, w['conv2d_1.kernel'], w['conv2d_1.bias'])))  # 5x5x64
    x = relu(conv2d_valid(x, w['conv2d_2.kernel'], w['conv2d_2.bias']))            # 3x3x64
    x = x.reshape(-1)                     # Keras Flatten: row-major over (H, W, C)
    x = relu(x @ w['dense.kernel'] + w['dense.bias'])
    return softmax(x @ w['dense_1.kernel'] + w['dense_1.bias'])


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    w = {}
    for key, shape in EXPECTED_SHAPES.items():
        arr = np.load(os.path.join(d, 'weights', key + '.npy'))
        assert arr.dtype == np.float32, (key, arr.dtype)
        assert arr.shape == shape, (key, arr.shape, shape)
        w[key] = arr.astype(np.float64)
    xs = np.load(os.path.join(d, 'sample_inputs.npy'))
    ys = np.load(os.path.join(d, 'sample_outputs.npy'))
    assert xs.dtype == np.float32 and xs.shape == (16, 28, 28, 1), (xs.dtype, xs.shape)
    assert ys.dtype == np.float32 and ys.shape == (16, 10), (ys.dtype, ys.shape)
    assert xs.min() >= 0.0 and xs.max() <= 1.0

    got = np.stack([forward(w, x) for x in xs])
    err = np.abs(got - ys).max()
    print('numpy (Keras layouts, HWC flatten) vs PyTorch, 16 samples: max abs diff %.3g' % err)
    assert err <= TOL, 'exported weights do not reproduce PyTorch outputs (max diff %g)' % err
    assert (got.argmax(1) == ys.argmax(1)).all()

    preds_path = os.path.join(d, 'test_predictions.npy')
    if os.path.exists(preds_path):
        preds = np.load(preds_path)
        assert preds.shape == (10000,)
        assert (preds[:16] == ys.argmax(1)).all(), 'test_predictions.npy disagrees with sample_outputs.npy'
    print('check_export: OK')


if __name__ == '__main__':
    main()
