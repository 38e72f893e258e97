#!/usr/bin/python3
"""Generate the gradient golden data for cnnc (tests/golden/grad/).

Run from anywhere:

    /usr/bin/python3 tests/golden/make_grad_golden.py

For every case below this script
  * draws deterministic float32 weights, one input (or a batch) and an output gradient dy,
  * runs the network forward in float64 with the PyTorch implementation of
    make_golden.py (channels_last tensors, Keras semantics) and takes PyTorch autograd's
    gradients of sum(dy * output) with respect to the input and every trainable weight
    (kernel, bias, gamma, beta; not the moving statistics),
  * checks those gradients against central finite differences along random directions
    (except in the kink cases, whose point is a non-differentiable spot),
  * writes tests/golden/grad/models/<case>.lua and tests/golden/grad/data/<case>/:
      input.npy                  float32, the model's input shape (with a batch axis in
                                 the batch case)
      grad_output.npy            float32, dy: the output's shape (batch axis likewise)
      output.npy                 float32, the forward output
      expected_grad_input.npy    float64, d sum(dy * output) / d input
      <layer>.<weight>.npy       float32, every weight in Keras layout (--weights DIR)
      grads/<layer>.<weight>.npy float64, the gradient of every trainable weight, summed
                                 over the batch
  * writes tests/golden/grad/manifest.json.

The gradient conventions at kinks are PyTorch's (docs/gradients.md): the kink cases put
values exactly on them (ReLU and friends at 0, hard_sigmoid's clip bounds, ties in max
and global max pooling, zero cells and zero windows in LP pooling) and take what
autograd gives there. LP pooling in those cases is torch.linalg.vector_norm over the
windows (its gradient at a zero window is 0; the |x|^p formula of make_golden.py would give
NaN there). Deterministic: a rerun rewrites identical files.
"""

import json
import math
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_golden as mg  # noqa: E402  (the forward implementations and layer helpers)

OUT = os.path.join(HERE, 'grad')
DATA_DIR = os.path.join(OUT, 'data')
MODEL_DIR = os.path.join(OUT, 'models')
DT = torch.float64
L = mg.L

TRAINABLE = ('kernel', 'bias', 'gamma', 'beta')

# BatchNormalization's center/scale switches (make_golden.py always has both).
mg.SIGNATURES['BatchNormalization'][1].update(center=True, scale=True)

# ---- weights as autograd leaves ------------------------------------------------------
# make_golden.forward_torch reads every weight through mg.wt(x, array); here that returns
# one float64 leaf tensor per array, so autograd sees the weights.
LEAVES = {}


def wt_leaf(x, a):
    key = id(a)
    if key not in LEAVES:
        t = torch.from_numpy(np.asarray(a, dtype=np.float32).astype(np.float64))
        LEAVES[key] = (t.requires_grad_(True), a)
    return LEAVES[key][0].to(x.dtype)


mg.wt = wt_leaf


def build(layer, in_shape, rng):
    mg.build(layer, in_shape, rng)
    if layer.kind == 'BatchNormalization':
        if not layer.a['scale']:
            del layer.weights['gamma']
        if not layer.a['center']:
            del layer.weights['beta']


def forward(layer, x):
    a, k, W = layer.a, layer.kind, layer.weights
    if k == 'BatchNormalization':
        xt = mg.to_nc(x) if x.dim() > 2 else x
        g = wt_leaf(x, W['gamma']) if 'gamma' in W else None
        b = wt_leaf(x, W['beta']) if 'beta' in W else None
        stat = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32)).to(x.dtype)  # not trainable
        y = F.batch_norm(xt, stat(W['moving_mean']), stat(W['moving_variance']), g, b,
                         training=False, eps=float(a['epsilon']))
        return mg.from_nc(y) if x.dim() > 2 else y
    if k.startswith('LPPooling') and getattr(layer, 'lp_norm', False):
        # (N, ..., C) windows by unfold, then the p-norm of each (valid padding)
        nd = 2 if k.endswith('2D') else 1
        ks, st, pad = mg.pool_params(layer, nd)
        assert pad == 'valid'
        w = x.unfold(1, ks[0], st[0])
        if nd == 2:
            w = w.unfold(2, ks[1], st[1])
        w = w.reshape(*w.shape[:nd + 2], -1)
        return torch.linalg.vector_norm(w, ord=float(a['p']), dim=-1)
    return mg.forward_torch(layer, x)


# ---- cases ---------------------------------------------------------------------------

class Case:
    def __init__(self, name, input_shape, layers, input_range=(-1.0, 1.0), input_fn=None, batch=None,
                 kink=False):
        self.name, self.input_shape, self.layers = name, tuple(input_shape), layers
        self.input_range, self.input_fn, self.batch, self.kink = input_range, input_fn, batch, kink


CASES = []


def case(*args, **kw):
    CASES.append(Case(*args, **kw))


def fd(units=3, act=None, name='dense'):
    kw = {'activation': act} if act else {}
    return [L('Flatten', name='flatten'), L('Dense', units, name=name, **kw)]


def values(vals):
    """An input function giving exactly these values (row-major)."""
    return lambda rng, shape: np.asarray(vals, dtype=np.float32).reshape(shape)


def quantized(levels):
    """Inputs drawn from a few levels, so that max-pool windows hold ties."""
    return lambda rng, shape: rng.choice(np.asarray(levels, dtype=np.float32), size=shape)


# Convolutions, every padding mode, strides, dilation, no bias, absorbed padding
case('conv2d_same_s2', (7, 6, 2), [L('Conv2D', 3, (3, 3), strides=2, padding='same', activation='tanh', name='conv1'),
                                   *fd()])
case('conv2d_dilation', (8, 7, 2), [L('Conv2D', 3, (2, 3), dilation_rate=(2, 1), activation='elu', name='conv1'),
                                    L('GlobalAveragePooling2D', name='gpool')])
case('conv2d_nobias_even', (6, 5, 2), [L('Conv2D', 2, (4, 2), padding='same', use_bias=False, activation='softplus',
                                         name='conv1')])
case('conv1d_causal_d2', (10, 2), [L('Conv1D', 3, 3, padding='causal', dilation_rate=2, activation='relu',
                                     name='conv1'), *fd(2)])
case('conv1d_same_s2', (11, 3), [L('Conv1D', 2, 4, strides=2, padding='same', activation='selu', name='conv1')])
case('zeropad_conv2d', (5, 4, 2), [L('ZeroPadding2D', padding=((1, 2), (0, 1)), name='pad'),
                                   L('Conv2D', 3, (3, 3), activation='sigmoid', name='conv1'), *fd(2)])
case('zeropad1d', (8, 2), [L('ZeroPadding1D', padding=(2, 1), name='pad1'), L('Conv1D', 2, 3, name='conv1'),
                           L('ZeroPadding1D', 1, name='pad2')])
case('zeropad2d_alone', (4, 3, 2), [L('ZeroPadding2D', padding=(1, 2), name='pad'),
                                    L('AveragePooling2D', 2, name='pool')])
# Locally connected
case('locally_connected2d_s2', (7, 6, 2), [L('LocallyConnected2D', 3, (3, 2), strides=2, activation='swish',
                                             name='lc1'), *fd(2)])
case('locally_connected1d', (9, 2), [L('LocallyConnected1D', 3, 3, activation='softsign', use_bias=False,
                                       name='lc1')])
# Pooling
NEG = (-2.0, 0.5)
case('maxpool2d_same', (7, 6, 2), [L('MaxPooling2D', 3, strides=2, padding='same', name='pool')], input_range=NEG)
case('maxpool1d', (9, 2), [L('MaxPooling1D', 2, name='pool')])
case('avgpool2d_same', (7, 6, 2), [L('AveragePooling2D', 3, strides=2, padding='same', name='pool')])
case('avgpool1d_same', (9, 2), [L('AveragePooling1D', 2, padding='same', name='pool')])
case('lppool2d_p3', (7, 6, 2), [L('LPPooling2D', 3, strides=2, p=3, name='pool')])
case('lppool1d_same', (9, 2), [L('LPPooling1D', 3, strides=2, padding='same', name='pool')])
case('lppool2d_p15_same', (7, 6, 2), [L('LPPooling2D', 2, strides=2, padding='same', p=1.5, name='pool')])
case('wavgpool2d', (7, 7, 2), [L('WeightedAveragePooling2D', 3, strides=2, sigma=0.8, name='pool')])
case('global_maxpool2d', (5, 4, 3), [L('GlobalMaxPooling2D', name='gpool')])
case('global_maxpool1d', (6, 2), [L('GlobalMaxPooling1D', name='gpool'), L('Dense', 3, name='dense')])
case('global_avgpool1d', (6, 2), [L('GlobalAveragePooling1D', name='gpool')])
# Dense, Dropout, activations (the conv's activation= and standalone layers)
case('dense_dropout', (10,), [L('Dense', 6, activation='relu', name='dense1'), L('Dropout', 0.5, name='drop'),
                              L('Dense', 3, activation='softmax', name='dense2')])
for act in mg.ACTIVATIONS:
    case('act_' + act, (5, 5, 2), [L('Conv2D', 3, (3, 3), activation=act, name='conv1')],
         input_range=(-1.5, 1.5) if act == 'softmax' else (-3.0, 3.0))
case('activation_layers', (6, 6, 2), [L('Conv2D', 3, (3, 3), name='conv1'), L('Activation', 'tanh', name='act1'),
                                      *fd(4), L('Activation', 'softmax', name='act2')])
case('leaky_relu_layers', (5, 5, 2), [L('Conv2D', 3, (3, 3), name='conv1'), L('LeakyReLU', alpha=0.1, name='lrelu1'),
                                      *fd(2), L('LeakyReLU', name='lrelu2')], input_range=(-3.0, 3.0))
# Batch normalization: folded into weights (also twice), moved into epilogues, alone
case('batchnorm_conv_fold', (6, 6, 2), [L('Conv2D', 3, (3, 3), padding='same', name='conv1'),
                                        L('BatchNormalization', name='bn'), L('Activation', 'relu', name='relu'),
                                        L('MaxPooling2D', 2, name='pool'), *fd(3, 'softmax')])
case('batchnorm_dense_fold2', (8,), [L('Dense', 5, use_bias=False, name='dense1'),
                                     L('BatchNormalization', epsilon=0.01, name='bn1'),
                                     L('BatchNormalization', name='bn2'), L('Dense', 2, name='dense2')])
case('batchnorm_epilogue', (6, 5, 2), [L('Conv2D', 3, (3, 3), activation='relu', name='conv1'),
                                       L('BatchNormalization', name='bn1'), L('AveragePooling2D', 2, name='pool'),
                                       L('BatchNormalization', center=False, name='bn2'), *fd(2)])
case('batchnorm_alone_lc_fold', (5, 3), [L('BatchNormalization', scale=False, name='bn1'),
                                         L('LocallyConnected1D', 2, 2, name='lc1'),
                                         L('BatchNormalization', name='bn2')])
# Networks
case('mnist_like_small', (14, 14, 1), [L('Conv2D', 4, (3, 3), activation='relu', name='conv1'),
                                       L('MaxPooling2D', 2, name='pool1'),
                                       L('Conv2D', 6, (3, 3), activation='relu', name='conv2'),
                                       L('MaxPooling2D', 2, name='pool2'), L('Flatten', name='flatten'),
                                       L('Dense', 8, activation='relu', name='dense1'),
                                       L('Dense', 5, activation='softmax', name='dense2')], input_range=(0.0, 1.0))
case('mixed_1d', (16, 2), [L('ZeroPadding1D', 1, name='pad'), L('Conv1D', 3, 3, padding='causal', name='conv1'),
                           L('BatchNormalization', name='bn'), L('LeakyReLU', name='lrelu'),
                           L('MaxPooling1D', name='pool1'),
                           L('Conv1D', 3, 3, strides=2, padding='same', activation='elu', name='conv2'),
                           L('LPPooling1D', 2, strides=2, p=2, name='pool2'), *fd(2, 'sigmoid')])
case('batch3_conv_dense', (6, 5, 2), [L('Conv2D', 2, (3, 3), activation='relu', name='conv1'), *fd(3)], batch=3)
# Grouped and transposed convolutions, layer normalisation, bilinear upsampling
case('conv2d_groups', (6, 5, 4), [L('Conv2D', 6, (3, 3), padding='same', groups=2, activation='tanh', name='conv1'),
                                  *fd(3)])
case('conv1d_groups_s2', (9, 6), [L('Conv1D', 6, 3, strides=2, groups=3, name='conv1'), *fd(3)])
case('conv2d_transpose_bn', (4, 3, 2), [L('Conv2DTranspose', 3, 3, strides=2, padding='same', name='up1'),
                                        L('BatchNormalization', name='bn1'), L('Activation', 'tanh', name='act'),
                                        *fd(3)])
case('conv2d_transpose_dilated', (4, 4, 2), [
    L('Conv2DTranspose', 3, (3, 2), strides=(2, 3), padding='same', output_padding=(1, 2), name='up1'),
    L('Conv2DTranspose', 2, 3, dilation_rate=2, use_bias=False, activation='sigmoid', name='up2')])
case('conv1d_transpose', (6, 3), [L('Conv1DTranspose', 4, 3, strides=2, padding='same', activation='tanh', name='up1'),
                                  L('Conv1DTranspose', 2, 4, strides=2, output_padding=1, name='up2')])
case('layer_norm', (4, 3, 5), [L('Conv2D', 4, 3, padding='same', name='conv1'), L('LayerNormalization', name='ln1'),
                               L('LayerNormalization', axis=[1, 2, 3], epsilon=1e-2, center=False, name='ln2'),
                               *fd(3)])
case('upsampling1d', (5, 2), [L('UpSampling1D', 3, name='up'), L('Conv1D', 2, 3, name='conv1'), *fd(3)])
case('upsampling2d_bilinear', (3, 4, 2), [L('UpSampling2D', 2, interpolation='bilinear', name='up'),
                                          L('Conv2D', 2, 3, name='conv1'), *fd(3)])

# Kinks: values exactly on them, PyTorch's conventions
case('kink_relu_maxpool_ties', (4, 4, 2), [L('Activation', 'relu', name='relu'), L('MaxPooling2D', 2, name='pool'),
                                           *fd(3)], input_fn=quantized([-1.0, 0.0, 0.5, 1.0]), kink=True)
case('kink_maxpool_overlap_ties', (5, 4, 2), [L('MaxPooling2D', 3, strides=1, padding='same', name='pool')],
     input_fn=quantized([-1.0, 0.5, 1.0]), kink=True)
case('kink_global_max_ties', (4, 3, 2), [L('GlobalMaxPooling2D', name='gpool')],
     input_fn=quantized([-0.5, 1.0, 2.0]), kink=True)
case('kink_activations_at_0', (8,), [L('Activation', 'relu', name='relu'), L('Activation', 'selu', name='selu'),
                                     L('Dense', 3, name='dense1')],
     input_fn=values([0, -0.0, 1, -1, 0, 2, 0, -2]), kink=True)
case('kink_leaky_selu_at_0', (6,), [L('LeakyReLU', alpha=0.2, name='lrelu'), L('Activation', 'selu', name='selu'),
                                    L('Activation', 'softsign', name='softsign')],
     input_fn=values([0, 0, 1, -1, 0.5, -0.0]), kink=True)
case('kink_hard_sigmoid_bounds', (6,), [L('Activation', 'hard_sigmoid', name='hsig')],
     input_fn=values([-2.5, 2.5, -3, 3, 0, 1]), kink=True)
case('kink_lp_zeros', (8, 2), [L('LPPooling1D', 2, strides=2, p=3, name='pool')],
     input_fn=values([0, 0, 0, 1, 0, 0, 2, 0, -1, 0.5, 0, 0, 1.5, -2, 0, 0]), kink=True)
case('kink_lp_zeros_p1', (4, 2, 2), [L('LPPooling2D', 2, strides=2, p=1, name='pool')],
     input_fn=values([0, 0, 1, 0, 0, 0, -1, 0, 0, 3, 0, 0, 0, -2, 0, 0]), kink=True)

for c in CASES:
    for layer in c.layers:
        if c.kink and layer.kind.startswith('LPPooling'):
            layer.lp_norm = True


# ---- running a case ------------------------------------------------------------------

def save(path, arr, dtype):
    with open(path, 'wb') as fh:
        np.save(fh, np.ascontiguousarray(arr, dtype=dtype), allow_pickle=False)


def lua_source(c):
    lines = ['-- Generated by tests/golden/make_grad_golden.py: do not edit by hand.',
             '-- Weights: tests/golden/grad/data/%s/<layer name>.<weight>.npy' % c.name,
             "local nn = require 'cnnc'",
             'local m = nn.Sequential{name = %s, input_shape = %s}' % (mg.lua_value(c.name),
                                                                      mg.lua_value(c.input_shape))]
    lines += [layer.lua() for layer in c.layers]
    lines.append('return m')
    return '\n'.join(lines) + '\n'


def model_fn(c):
    def run(x):
        for layer in c.layers:
            x = forward(layer, x)
        return x
    return run


def trainable(c):
    """[(key, numpy weight array)] of the trainable weights, in layer order."""
    out = []
    for layer in c.layers:
        for wn in TRAINABLE:
            if wn in layer.weights:
                out.append(('%s.%s' % (layer.name, wn), layer.weights[wn]))
    return out


def finite_difference_check(c, run, x, dy, gx, grads, rng):
    """Central differences along random directions agree with autograd (1e-6 relative)."""
    def f(xx):
        with torch.no_grad():
            return float((run(xx) * dy).sum())
    targets = [('input', x, gx)] + [(k, LEAVES[id(a)][0], grads[k]) for k, a in trainable(c)]
    for what, t, g in targets:
        v = torch.from_numpy(rng.uniform(-1, 1, size=tuple(t.shape)))
        h = 1e-6
        base = t.detach().clone()
        with torch.no_grad():
            t.copy_(base + h * v)
            fp = f(x)
            t.copy_(base - h * v)
            fm = f(x)
            t.copy_(base)
        num = (fp - fm) / (2 * h)
        ana = float((torch.from_numpy(np.asarray(g)) * v).sum())
        scale = float((torch.from_numpy(np.asarray(g)) * v).abs().sum()) + 1e-12
        assert abs(num - ana) <= 1e-6 * scale + 1e-9, (c.name, what, num, ana)


def run_case(c):
    LEAVES.clear()
    rng = np.random.default_rng(zlib.crc32(c.name.encode()))
    shape = ((c.batch,) if c.batch else ()) + c.input_shape
    if c.input_fn is not None:
        x = mg.f32(c.input_fn(rng, shape))
    else:
        x = mg.uniform(rng, shape, *c.input_range)
    assert x.shape == shape
    names = [layer.name for layer in c.layers]
    assert len(set(names)) == len(names), c.name
    s = c.input_shape
    for layer in c.layers:
        layer.weights = {}
        build(layer, s, rng)
        s = tuple(forward(layer, torch.zeros((1,) + s, dtype=DT)).shape[1:])
    run = model_fn(c)
    xt = torch.from_numpy(x.astype(np.float64))
    xt = (xt if c.batch else xt[None]).requires_grad_(True)
    y = run(xt)
    dy = mg.f32(rng.uniform(-1, 1, size=tuple(y.shape)))
    dyt = torch.from_numpy(dy.astype(np.float64))
    (y * dyt).sum().backward()
    gx = xt.grad.numpy().copy()
    grads = {}
    for key, a in trainable(c):
        g = LEAVES[id(a)][0].grad
        grads[key] = (g.numpy().copy() if g is not None else np.zeros(a.shape))
        assert np.all(np.isfinite(grads[key])), (c.name, key)
    assert np.all(np.isfinite(gx)), c.name
    if not c.kink:
        finite_difference_check(c, run, xt.detach(), dyt, gx, grads, rng)
    squeeze = (lambda a: a) if c.batch else (lambda a: a[0])
    d = os.path.join(DATA_DIR, c.name)
    os.makedirs(os.path.join(d, 'grads'))
    save(os.path.join(d, 'input.npy'), x, np.float32)
    save(os.path.join(d, 'grad_output.npy'), squeeze(dy), np.float32)
    save(os.path.join(d, 'output.npy'), squeeze(y.detach().numpy()), np.float32)
    save(os.path.join(d, 'expected_grad_input.npy'), squeeze(gx), np.float64)
    for layer in c.layers:
        for wn, wv in layer.weights.items():
            save(os.path.join(d, '%s.%s.npy' % (layer.name, wn)), wv, np.float32)
    for key, g in grads.items():
        save(os.path.join(d, 'grads', key + '.npy'), g, np.float64)
    with open(os.path.join(MODEL_DIR, c.name + '.lua'), 'w') as fh:
        fh.write(lua_source(c))
    return {
        'name': c.name, 'model': 'models/%s.lua' % c.name, 'data': 'data/%s' % c.name,
        'input_shape': list(x.shape), 'output_shape': list(squeeze(dy).shape), 'kink': c.kink,
        'layers': ['%s %s' % (l.name, l.describe()) for l in c.layers],
        'grads': [{'key': k, 'shape': list(g.shape)} for k, g in grads.items()],
    }


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(DATA_DIR)
    os.makedirs(MODEL_DIR)
    manifest = []
    for c in CASES:
        manifest.append(run_case(c))
        e = manifest[-1]
        print('%-28s in %-12s out %-10s %d weight gradients%s' % (
            c.name, 'x'.join(map(str, e['input_shape'])), 'x'.join(map(str, e['output_shape'])),
            len(e['grads']), ' (kink)' if c.kink else ''))
    with open(os.path.join(OUT, 'manifest.json'), 'w') as fh:
        fh.write('{"generator": "tests/golden/make_grad_golden.py",\n "cases": [\n  ')
        fh.write(',\n  '.join(json.dumps(e, sort_keys=True) for e in manifest))
        fh.write('\n ]\n}\n')
    kinds = sorted({l.kind for c in CASES for l in c.layers})
    missing = sorted(set(mg.SIGNATURES) - set(kinds))
    acts = {l.a.get('activation') for c in CASES for l in c.layers}
    assert set(mg.ACTIVATIONS) <= acts
    assert not missing, missing
    print('%d cases; every layer kind (%d) and activation (%d) covered' % (len(CASES), len(kinds),
                                                                         len(mg.ACTIVATIONS)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
