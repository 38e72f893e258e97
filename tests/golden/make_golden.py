#!/usr/bin/python3
"""Generate golden test data for cnnc.

Run from the repository root (or anywhere):

    /usr/bin/python3 tests/golden/make_golden.py

For every case below this script
  * draws deterministic float32 weights and one input with numpy,
  * computes the output twice, in float64, with two independent implementations
    (PyTorch ops on NCHW tensors, and a naive numpy loop reference written directly
    from the Keras definitions in /work/shared/DESIGN.md), and asserts they agree,
  * writes tests/golden/data/<case>/{input,expected,<layer>.<weight>}.npy (float32,
    Keras channels_last layouts, no batch dimension) and tests/golden/models/<case>.lua,
  * writes tests/golden/manifest.json (case -> input/output shapes, layer list).

The output is byte-for-byte reproducible: rerunning rewrites identical files.
PyTorch and numpy are only needed to regenerate; the generated files are committed.
"""

import json
import math
import os
import shutil
import sys
import warnings
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_layers  # noqa: E402  (Conv*Transpose, UpSampling*, LayerNormalization)

torch.set_num_threads(1)
warnings.filterwarnings('ignore', message="Using padding='same'")
torch.use_deterministic_algorithms(True)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, 'data')
MODEL_DIR = os.path.join(HERE, 'models')

DT = torch.float64


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

def tup(v, n):
    """Keras convention: an int stands for an n-tuple."""
    if isinstance(v, (list, tuple)):
        assert len(v) == n, v
        return tuple(int(e) for e in v)
    return (int(v),) * n


def same_pads(n, k, s, d=1):
    """Keras/TF 'same': out = ceil(n/s); smaller half of the padding before, the odd one after."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def f32(a):
    return np.asarray(a, dtype=np.float32)


def t64(a):
    """float32 array -> float64 torch tensor (exactly representable)."""
    return torch.from_numpy(np.asarray(a, dtype=np.float32).astype(np.float64))


def wt(x, a):
    """float32 weight array -> tensor of x's dtype (float64: exact; float32: unchanged)."""
    return torch.from_numpy(np.asarray(a, dtype=np.float32)).to(x.dtype)


def n64(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def uniform(rng, shape, lo, hi):
    return f32(rng.uniform(lo, hi, size=shape))


def kernel_scale(fan_in):
    # uniform(-0.5, 0.5) for small fans; He-uniform-like for large ones so that
    # activations stay in a reasonable range.
    return min(0.5, math.sqrt(6.0 / fan_in))


# --------------------------------------------------------------------------------------
# Activations: torch version and numpy version (written separately)
# --------------------------------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def act_torch(name, x):
    if name is None or name == 'linear':
        return x
    if name == 'relu':
        return F.relu(x)
    if name == 'sigmoid':
        return torch.sigmoid(x)
    if name == 'tanh':
        return torch.tanh(x)
    if name == 'softmax':
        return F.softmax(x, dim=-1)          # last axis = channels (channels_last)
    if name == 'elu':
        return F.elu(x, alpha=1.0)
    if name == 'selu':
        return F.selu(x)
    if name == 'softplus':
        return F.softplus(x, beta=1, threshold=1000)
    if name == 'softsign':
        return F.softsign(x)
    if name == 'hard_sigmoid':                 # tf.keras 2.x, NOT torch's x/6+0.5
        return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)
    if name == 'swish':
        return F.silu(x)
    if name == 'leaky_relu':                   # Keras 3 activation string: alpha 0.2
        return F.leaky_relu(x, negative_slope=0.2)
    raise ValueError(name)


def act_numpy(name, x):
    if name is None or name == 'linear':
        return x
    if name == 'relu':
        return np.maximum(x, 0.0)
    if name == 'sigmoid':
        return 1.0 / (1.0 + np.exp(-x))
    if name == 'tanh':
        return np.tanh(x)
    if name == 'softmax':
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == 'elu':
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == 'selu':
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == 'softplus':
        return np.logaddexp(0.0, x)
    if name == 'softsign':
        return x / (1.0 + np.abs(x))
    if name == 'hard_sigmoid':
        return np.clip(0.2 * x + 0.5, 0.0, 1.0)
    if name == 'swish':
        return x / (1.0 + np.exp(-x))
    if name == 'leaky_relu':
        return np.where(x > 0, x, 0.2 * x)
    raise ValueError(name)


ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'softplus',
               'softsign', 'hard_sigmoid', 'swish', 'leaky_relu']


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------

# Keras positional argument order and defaults, per layer kind.
SIGNATURES = {
    'Conv2D': (['filters', 'kernel_size'],
               dict(strides=1, padding='valid', dilation_rate=1, groups=1, activation=None, use_bias=True)),
    'Conv1D': (['filters', 'kernel_size'],
               dict(strides=1, padding='valid', dilation_rate=1, groups=1, activation=None, use_bias=True)),
    'LocallyConnected2D': (['filters', 'kernel_size'],
                           dict(strides=1, padding='valid', activation=None, use_bias=True)),
    'LocallyConnected1D': (['filters', 'kernel_size'],
                           dict(strides=1, padding='valid', activation=None, use_bias=True)),
    'MaxPooling2D': (['pool_size', 'strides', 'padding'], dict(pool_size=2, strides=None, padding='valid')),
    'AveragePooling2D': (['pool_size', 'strides', 'padding'], dict(pool_size=2, strides=None, padding='valid')),
    'MaxPooling1D': (['pool_size', 'strides', 'padding'], dict(pool_size=2, strides=None, padding='valid')),
    'AveragePooling1D': (['pool_size', 'strides', 'padding'], dict(pool_size=2, strides=None, padding='valid')),
    'LPPooling2D': (['pool_size', 'strides', 'padding'], dict(strides=None, padding='valid', p=2)),
    'LPPooling1D': (['pool_size', 'strides', 'padding'], dict(strides=None, padding='valid', p=2)),
    'WeightedAveragePooling2D': (['pool_size', 'strides', 'padding'],
                                 dict(strides=None, padding='valid', sigma=1.0)),
    'GlobalMaxPooling2D': ([], {}),
    'GlobalAveragePooling2D': ([], {}),
    'GlobalMaxPooling1D': ([], {}),
    'GlobalAveragePooling1D': ([], {}),
    'Dense': (['units'], dict(activation=None, use_bias=True)),
    'Flatten': ([], {}),
    'Activation': (['activation'], {}),
    'LeakyReLU': ([], dict(alpha=0.3)),
    'ZeroPadding2D': (['padding'], dict(padding=1)),
    'ZeroPadding1D': (['padding'], dict(padding=1)),
    'Dropout': (['rate'], {}),
    'BatchNormalization': ([], dict(epsilon=1e-3)),
}
SIGNATURES.update(decoder_layers.SIGNATURES)


class L:
    """One layer as written in the Lua DSL: L('Conv2D', 4, (3, 3), padding='same', name='c1')."""

    def __init__(self, kind, *pos, name, **kw):
        assert kind in SIGNATURES, kind
        self.kind, self.pos, self.kw, self.name = kind, pos, kw, name
        names, defaults = SIGNATURES[kind]
        assert len(pos) <= len(names), (kind, pos)
        a = dict(defaults)
        for n, v in zip(names, pos):
            a[n] = v
        for n, v in kw.items():
            assert n in names or n in defaults, (kind, n)
            a[n] = v
        self.a = a
        self.weights = {}      # name -> float32 numpy array (Keras layout)

    # ---- Lua rendering ----
    def lua(self):
        parts = [lua_value(v) for v in self.pos]
        parts += ['%s = %s' % (k, lua_value(v)) for k, v in self.kw.items()]
        parts.append('name = %s' % lua_value(self.name))
        return 'm:add(nn.%s{%s})' % (self.kind, ', '.join(parts))

    def describe(self):
        parts = [repr(v) for v in self.pos] + ['%s=%r' % kv for kv in self.kw.items()]
        return '%s(%s)' % (self.kind, ', '.join(parts))


def lua_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r
    if isinstance(v, str):
        return "'%s'" % v
    if isinstance(v, (list, tuple)):
        return '{' + ', '.join(lua_value(e) for e in v) + '}'
    raise TypeError(v)


def pool_params(layer, nd):
    a = layer.a
    k = tup(a['pool_size'], nd)
    s = tup(a['strides'], nd) if a['strides'] is not None else k
    return k, s, a['padding']


def out_len(n, k, s, d, padding):
    if padding == 'same' or padding == 'causal':
        return -(-n // s)
    eff = (k - 1) * d + 1
    return (n - eff) // s + 1


# ---- building (weights) --------------------------------------------------------------

def build(layer, in_shape, rng):
    """Create the layer's weights (float32, Keras layout) for input shape in_shape (no batch)."""
    a, k = layer.a, layer.kind
    W = layer.weights
    if k in decoder_layers.KINDS:
        return decoder_layers.build(layer, in_shape, rng, uniform, kernel_scale)
    if k in ('Conv2D', 'Conv1D'):
        nd = 2 if k == 'Conv2D' else 1
        ks = tup(a['kernel_size'], nd)
        cin = in_shape[-1] // a['groups']      # Keras: kernel (..., cin / groups, filters)
        fan = int(np.prod(ks)) * cin
        sc = kernel_scale(fan)
        W['kernel'] = uniform(rng, ks + (cin, a['filters']), -sc, sc)
        if a['use_bias']:
            W['bias'] = uniform(rng, (a['filters'],), -0.1, 0.1)
    elif k in ('LocallyConnected2D', 'LocallyConnected1D'):
        nd = 2 if k == 'LocallyConnected2D' else 1
        ks = tup(a['kernel_size'], nd)
        st = tup(a['strides'], nd)
        assert a['padding'] == 'valid'
        outs = tuple(out_len(in_shape[i], ks[i], st[i], 1, 'valid') for i in range(nd))
        cin = in_shape[-1]
        fan = int(np.prod(ks)) * cin
        sc = kernel_scale(fan)
        W['kernel'] = uniform(rng, (int(np.prod(outs)), fan, a['filters']), -sc, sc)
        if a['use_bias']:
            W['bias'] = uniform(rng, outs + (a['filters'],), -0.1, 0.1)
    elif k == 'Dense':
        assert len(in_shape) == 1, 'Dense only on rank-1 inputs'
        fan = in_shape[0]
        sc = kernel_scale(fan)
        W['kernel'] = uniform(rng, (fan, a['units']), -sc, sc)
        if a['use_bias']:
            W['bias'] = uniform(rng, (a['units'],), -0.1, 0.1)
    elif k == 'BatchNormalization':
        c = in_shape[-1]
        W['gamma'] = uniform(rng, (c,), 0.5, 1.5)
        W['beta'] = uniform(rng, (c,), -0.3, 0.3)
        W['moving_mean'] = uniform(rng, (c,), -0.3, 0.3)
        W['moving_variance'] = uniform(rng, (c,), 0.3, 2.0)


# ---- PyTorch implementation (tensors are kept channels_last with a batch dim) -----------

def to_nc(x):            # (N, H, W, C) -> (N, C, H, W); (N, L, C) -> (N, C, L)
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x.permute(0, 2, 1)


def from_nc(x):
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x.permute(0, 2, 1)


def wap_weights(kh, kw, sigma):
    ch, cw = (kh - 1) / 2.0, (kw - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(kh), np.arange(kw), indexing='ij')
    w = np.exp(-((yy - ch) ** 2 + (xx - cw) ** 2) / (2.0 * sigma * sigma))
    return w / w.sum()


def forward_torch(layer, x):
    a, k, W = layer.a, layer.kind, layer.weights
    if k in decoder_layers.KINDS:
        return decoder_layers.forward_torch(layer, x, act_torch, wt)
    if k == 'Conv2D':
        ks, st, dl = tup(a['kernel_size'], 2), tup(a['strides'], 2), tup(a['dilation_rate'], 2)
        xt = to_nc(x)
        if a['padding'] == 'same':
            pt, pb = same_pads(xt.shape[2], ks[0], st[0], dl[0])
            pl, pr = same_pads(xt.shape[3], ks[1], st[1], dl[1])
            xt = F.pad(xt, (pl, pr, pt, pb))
        w = wt(x, W['kernel']).permute(3, 2, 0, 1)        # (kh,kw,cin,cout) -> (cout,cin,kh,kw)
        b = wt(x, W['bias']) if 'bias' in W else None
        y = F.conv2d(xt, w, b, stride=st, dilation=dl, groups=a['groups'])
        return act_torch(a['activation'], from_nc(y))
    if k == 'Conv1D':
        ks, st, dl = a['kernel_size'], a['strides'], a['dilation_rate']
        ks, st, dl = tup(ks, 1)[0], tup(st, 1)[0], tup(dl, 1)[0]
        xt = to_nc(x)
        if a['padding'] == 'same':
            xt = F.pad(xt, same_pads(xt.shape[2], ks, st, dl))
        elif a['padding'] == 'causal':
            xt = F.pad(xt, ((ks - 1) * dl, 0))
        w = wt(x, W['kernel']).permute(2, 1, 0)           # (k,cin,cout) -> (cout,cin,k)
        b = wt(x, W['bias']) if 'bias' in W else None
        y = F.conv1d(xt, w, b, stride=st, dilation=dl, groups=a['groups'])
        return act_torch(a['activation'], from_nc(y))
    if k in ('LocallyConnected2D', 'LocallyConnected1D'):
        if k == 'LocallyConnected2D':
            ks, st = tup(a['kernel_size'], 2), tup(a['strides'], 2)
            xt = to_nc(x)
        else:
            ks, st = (1,) + tup(a['kernel_size'], 1), (1,) + tup(a['strides'], 1)
            xt = to_nc(x).unsqueeze(2)                   # (N, C, 1, L)
        n, cin, h, w_ = xt.shape
        oh, ow = (h - ks[0]) // st[0] + 1, (w_ - ks[1]) // st[1] + 1
        cols = F.unfold(xt, kernel_size=ks, stride=st)   # (N, cin*kh*kw, oh*ow), order (c,ky,kx)
        K = wt(x, W['kernel'])                             # (L, kh*kw*cin, f), order (ky,kx,c)
        f = K.shape[2]
        K = K.reshape(oh * ow, ks[0], ks[1], cin, f).permute(0, 3, 1, 2, 4).reshape(oh * ow, -1, f)
        y = torch.einsum('nkl,lkf->nlf', cols, K)
        if 'bias' in W:
            y = y + wt(x, W['bias']).reshape(oh * ow, f)
        y = y.reshape(n, oh, ow, f) if k == 'LocallyConnected2D' else y.reshape(n, ow, f)
        return act_torch(a['activation'], y)
    if k in ('MaxPooling2D', 'AveragePooling2D', 'LPPooling2D', 'WeightedAveragePooling2D'):
        ks, st, pad = pool_params(layer, 2)
        xt = to_nc(x)
        pads = (0, 0, 0, 0)
        if pad == 'same':
            pt, pb = same_pads(xt.shape[2], ks[0], st[0])
            pl, pr = same_pads(xt.shape[3], ks[1], st[1])
            pads = (pl, pr, pt, pb)
        if k == 'MaxPooling2D':
            y = F.max_pool2d(F.pad(xt, pads, value=-math.inf), ks, st)
        elif k == 'AveragePooling2D':
            s = F.avg_pool2d(F.pad(xt, pads), ks, st) * (ks[0] * ks[1])
            ones = F.pad(torch.ones_like(xt[:, :1]), pads)
            cnt = F.avg_pool2d(ones, ks, st) * (ks[0] * ks[1])
            y = s / cnt
        elif k == 'LPPooling2D':
            p = float(a['p'])
            s = F.avg_pool2d(F.pad(xt.abs() ** p, pads), ks, st) * (ks[0] * ks[1])
            y = s ** (1.0 / p)
        else:
            assert pad == 'valid'
            c = xt.shape[1]
            wk = torch.from_numpy(wap_weights(ks[0], ks[1], float(a['sigma']))).to(x.dtype)
            y = F.conv2d(xt, wk.expand(c, 1, ks[0], ks[1]).contiguous(), stride=st, groups=c)
        return from_nc(y)
    if k in ('MaxPooling1D', 'AveragePooling1D', 'LPPooling1D'):
        (kk,), (ss,), pad = pool_params(layer, 1)
        xt = to_nc(x)
        pads = same_pads(xt.shape[2], kk, ss) if pad == 'same' else (0, 0)
        if k == 'MaxPooling1D':
            y = F.max_pool1d(F.pad(xt, pads, value=-math.inf), kk, ss)
        elif k == 'AveragePooling1D':
            s = F.avg_pool1d(F.pad(xt, pads), kk, ss) * kk
            cnt = F.avg_pool1d(F.pad(torch.ones_like(xt[:, :1]), pads), kk, ss) * kk
            y = s / cnt
        else:
            p = float(a['p'])
            y = (F.avg_pool1d(F.pad(xt.abs() ** p, pads), kk, ss) * kk) ** (1.0 / p)
        return from_nc(y)
    if k == 'GlobalMaxPooling2D':
        return x.amax(dim=(1, 2))
    if k == 'GlobalAveragePooling2D':
        return x.mean(dim=(1, 2))
    if k == 'GlobalMaxPooling1D':
        return x.amax(dim=1)
    if k == 'GlobalAveragePooling1D':
        return x.mean(dim=1)
    if k == 'Dense':
        assert x.dim() == 2
        b = wt(x, W['bias']) if 'bias' in W else None
        return act_torch(a['activation'], F.linear(x, wt(x, W['kernel']).t(), b))
    if k == 'Flatten':
        return x.reshape(x.shape[0], -1)                # x is NHWC: HWC order
    if k == 'Activation':
        return act_torch(a['activation'], x)
    if k == 'LeakyReLU':
        return F.leaky_relu(x, negative_slope=float(a['alpha']))
    if k == 'ZeroPadding2D':
        p = a['padding']
        if isinstance(p, int):
            (t, b_), (l_, r) = (p, p), (p, p)
        elif isinstance(p[0], int):
            (t, b_), (l_, r) = (p[0], p[0]), (p[1], p[1])
        else:
            (t, b_), (l_, r) = p
        return from_nc(F.pad(to_nc(x), (l_, r, t, b_)))
    if k == 'ZeroPadding1D':
        p = a['padding']
        l_, r = (p, p) if isinstance(p, int) else p
        return from_nc(F.pad(to_nc(x), (l_, r)))
    if k == 'Dropout':
        return F.dropout(x, p=float(a['rate']), training=False)
    if k == 'BatchNormalization':
        xt = to_nc(x) if x.dim() > 2 else x
        y = F.batch_norm(xt, wt(x, W['moving_mean']), wt(x, W['moving_variance']),
                         wt(x, W['gamma']), wt(x, W['beta']), training=False, eps=float(a['epsilon']))
        return from_nc(y) if x.dim() > 2 else y
    raise ValueError(k)


# ---- naive numpy reference (no batch dim, explicit loops and bounds checks) -----------

def np_window_op(x, ks, st, dl, pads_before, out_hw, fn):
    """x: (H, W, C). For each output (i, j), gather the in-bounds taps of the window starting
    at (i*sh - pt, j*sw - pl) with dilation dl; call fn(list of (ky, kx, x[iy, ix, :]))."""
    H, Wd, _ = x.shape
    rows = []
    for i in range(out_hw[0]):
        row = []
        for j in range(out_hw[1]):
            taps = []
            for ky in range(ks[0]):
                iy = i * st[0] + ky * dl[0] - pads_before[0]
                if not 0 <= iy < H:
                    continue
                for kx in range(ks[1]):
                    ix = j * st[1] + kx * dl[1] - pads_before[1]
                    if 0 <= ix < Wd:
                        taps.append((ky, kx, x[iy, ix, :]))
            row.append(fn(taps))
        rows.append(row)
    return np.array(rows, dtype=np.float64)


def np_pads(n, k, s, d, padding):
    """Independent restatement of the padding rule: returns (out, before)."""
    eff = (k - 1) * d + 1
    if padding == 'valid':
        return (n - eff) // s + 1, 0
    if padding == 'causal':
        return n if s == 1 else math.ceil(n / s), eff - 1
    out = math.ceil(n / s)
    need = (out - 1) * s + eff - n
    need = need if need > 0 else 0
    return out, int(math.floor(need / 2))


def forward_numpy(layer, x):
    if layer.kind in decoder_layers.KINDS:
        return decoder_layers.forward_numpy(layer, x, act_numpy, n64)
    a, k, W = layer.a, layer.kind, {n: n64(v) for n, v in layer.weights.items()}
    one_d = k in ('Conv1D', 'LocallyConnected1D', 'MaxPooling1D', 'AveragePooling1D', 'LPPooling1D')
    if one_d:
        # run the 1-D layer as a 2-D one over a (1, L, C) map
        x2 = x[None, :, :]
    if k in ('Conv2D', 'Conv1D'):
        nd = 2 if k == 'Conv2D' else 1
        ks, st, dl = tup(a['kernel_size'], nd), tup(a['strides'], nd), tup(a['dilation_rate'], nd)
        K = W['kernel']
        gr = a['groups']
        if gr > 1:
            # the dense kernel with zeros where an input channel is not of the output's group
            icg, ocg = K.shape[-2], K.shape[-1] // gr
            dense = np.zeros(K.shape[:-2] + (icg * gr, K.shape[-1]))
            for g in range(gr):
                dense[..., g * icg:(g + 1) * icg, g * ocg:(g + 1) * ocg] = K[..., :, g * ocg:(g + 1) * ocg]
            K = dense
        if nd == 1:
            ks, st, dl, K, xx = (1,) + ks, (1,) + st, (1,) + dl, K[None], x2
        else:
            xx = x
        (oh, ph), (ow, pw) = [np_pads(xx.shape[i], ks[i], st[i], dl[i], a['padding']) for i in (0, 1)]
        if nd == 1:
            oh, ph = 1, 0
        bias = W.get('bias', np.zeros(K.shape[-1]))

        def fn(taps):
            acc = bias.copy()
            for ky, kx, v in taps:
                acc = acc + v @ K[ky, kx]
            return acc
        y = np_window_op(xx, ks, st, dl, (ph, pw), (oh, ow), fn)
        y = act_numpy(a['activation'], y)
        return y[0] if nd == 1 else y
    if k in ('LocallyConnected2D', 'LocallyConnected1D'):
        nd = 2 if k == 'LocallyConnected2D' else 1
        ks, st = tup(a['kernel_size'], nd), tup(a['strides'], nd)
        xx = x if nd == 2 else x2
        if nd == 1:
            ks, st = (1,) + ks, (1,) + st
        oh = (xx.shape[0] - ks[0]) // st[0] + 1
        ow = (xx.shape[1] - ks[1]) // st[1] + 1
        K = W['kernel']
        f = K.shape[2]
        bias = W['bias'].reshape(oh, ow, f) if 'bias' in W else np.zeros((oh, ow, f))
        y = np.zeros((oh, ow, f))
        for i in range(oh):
            for j in range(ow):
                patch = xx[i * st[0]:i * st[0] + ks[0], j * st[1]:j * st[1] + ks[1], :].reshape(-1)
                y[i, j] = patch @ K[i * ow + j] + bias[i, j]
        y = act_numpy(a['activation'], y)
        return y if nd == 2 else y[0]
    if k in ('MaxPooling2D', 'AveragePooling2D', 'LPPooling2D', 'WeightedAveragePooling2D',
             'MaxPooling1D', 'AveragePooling1D', 'LPPooling1D'):
        nd = 1 if one_d else 2
        ks, st, pad = pool_params(layer, nd)
        xx = x2 if one_d else x
        if one_d:
            ks, st = (1,) + ks, (1,) + st
        (oh, ph), (ow, pw) = [np_pads(xx.shape[i], ks[i], st[i], 1, pad) for i in (0, 1)]
        if one_d:
            oh, ph = 1, 0
        if k.startswith('Max'):
            fn = lambda taps: np.max(np.stack([v for _, _, v in taps]), axis=0)
        elif k.startswith('Average'):
            fn = lambda taps: np.sum(np.stack([v for _, _, v in taps]), axis=0) / len(taps)
        elif k.startswith('LP'):
            p = float(a['p'])
            fn = lambda taps: np.sum(np.stack([np.abs(v) ** p for _, _, v in taps]), axis=0) ** (1 / p)
        else:
            sigma = float(a['sigma'])
            cy, cx = (ks[0] - 1) / 2.0, (ks[1] - 1) / 2.0

            def fn(taps):
                assert len(taps) == ks[0] * ks[1]
                ws = [math.exp(-((ky - cy) ** 2 + (kx - cx) ** 2) / (2 * sigma ** 2)) for ky, kx, _ in taps]
                return sum(wt * v for wt, (_, _, v) in zip(ws, taps)) / sum(ws)
        y = np_window_op(xx, ks, st, (1, 1), (ph, pw), (oh, ow), fn)
        return y[0] if one_d else y
    if k in ('GlobalMaxPooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalAveragePooling1D'):
        flat = x.reshape(-1, x.shape[-1])
        return flat.max(axis=0) if 'Max' in k else flat.sum(axis=0) / flat.shape[0]
    if k == 'Dense':
        y = x @ W['kernel']
        if 'bias' in W:
            y = y + W['bias']
        return act_numpy(a['activation'], y)
    if k == 'Flatten':
        # element (h, w, c) -> index (h*W + w)*C + c
        if x.ndim == 3:
            H, Wd, C = x.shape
            out = np.empty(H * Wd * C)
            for h in range(H):
                for w in range(Wd):
                    for c in range(C):
                        out[(h * Wd + w) * C + c] = x[h, w, c]
            return out
        if x.ndim == 2:
            Ln, C = x.shape
            out = np.empty(Ln * C)
            for s in range(Ln):
                out[s * C:(s + 1) * C] = x[s]
            return out
        return x.copy()
    if k == 'Activation':
        return act_numpy(a['activation'], x)
    if k == 'LeakyReLU':
        return np.where(x >= 0, x, float(a['alpha']) * x)
    if k == 'ZeroPadding2D':
        p = a['padding']
        if isinstance(p, int):
            p = ((p, p), (p, p))
        elif isinstance(p[0], int):
            p = ((p[0], p[0]), (p[1], p[1]))
        H, Wd, C = x.shape
        y = np.zeros((H + p[0][0] + p[0][1], Wd + p[1][0] + p[1][1], C))
        y[p[0][0]:p[0][0] + H, p[1][0]:p[1][0] + Wd] = x
        return y
    if k == 'ZeroPadding1D':
        p = a['padding']
        p = (p, p) if isinstance(p, int) else p
        y = np.zeros((x.shape[0] + p[0] + p[1], x.shape[1]))
        y[p[0]:p[0] + x.shape[0]] = x
        return y
    if k == 'Dropout':
        return x
    if k == 'BatchNormalization':
        return W['gamma'] * (x - W['moving_mean']) / np.sqrt(W['moving_variance'] + float(a['epsilon'])) + W['beta']
    raise ValueError(k)


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------

class Case:
    def __init__(self, name, input_shape, layers, input_range=(-1.0, 1.0), input_fn=None, checks=()):
        self.name, self.input_shape, self.layers = name, tuple(input_shape), layers
        self.input_range, self.input_fn, self.checks = input_range, input_fn, checks


def fd(units=5, act='softmax', name='dense'):
    return [L('Flatten', name='flatten'), L('Dense', units, activation=act, name=name)]


def mnist_like_input(rng, shape):
    """A synthetic 28x28 'digit': an anti-aliased ring plus a stroke, plus a little noise."""
    H, W, _ = shape
    yy, xx = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing='ij')
    r = np.hypot(yy - 14.0, (xx - 14.0) * 1.3)
    img = np.clip(2.5 - np.abs(r - 8.0), 0.0, 1.0)
    img = np.maximum(img, np.clip(1.5 - np.abs((xx - 14.0) - 0.4 * (yy - 14.0)), 0.0, 1.0) * (np.abs(yy - 14) < 10))
    img = np.clip(img + rng.uniform(0.0, 0.1, size=img.shape), 0.0, 1.0)
    return img[:, :, None]


CASES = []


def case(*args, **kw):
    CASES.append(Case(*args, **kw))


# ---- Conv2D ----
case('conv2d_valid_s1', (12, 12, 3), [
    L('Conv2D', 4, (3, 3), activation='relu', name='conv1'), *fd(5)])
case('conv2d_same_s1_odd', (11, 12, 3), [
    L('Conv2D', 4, (3, 3), padding='same', activation='relu', name='conv1'), *fd(5)])
case('conv2d_same_s2', (12, 12, 3), [
    L('Conv2D', 4, (3, 3), strides=(2, 2), padding='same', dilation_rate=(1, 1), activation='relu',
      use_bias=True, name='conv1'), *fd(5)])
case('conv2d_same_s2_odd', (11, 12, 3), [
    L('Conv2D', 4, 3, strides=2, padding='same', activation='relu', name='conv1'), *fd(5)])
case('conv2d_valid_s2_odd', (11, 12, 3), [
    L('Conv2D', 4, (3, 3), strides=(2, 2), activation='relu', name='conv1'), *fd(5)])
case('conv2d_same_k4_even', (10, 9, 2), [
    L('Conv2D', 3, (4, 4), padding='same', activation='relu', name='conv1'), *fd(4)])
case('conv2d_same_rect_s21', (11, 12, 2), [
    L('Conv2D', 3, (3, 2), strides=(2, 1), padding='same', activation='relu', name='conv1'), *fd(4)])
case('conv2d_dilation2_valid', (12, 11, 2), [
    L('Conv2D', 4, (3, 3), dilation_rate=2, activation='relu', name='conv1'), *fd(5)])
case('conv2d_dilation_same_asym', (11, 12, 2), [
    L('Conv2D', 3, (2, 3), padding='same', dilation_rate=(3, 2), activation='relu', name='conv1'), *fd(4)])
case('conv2d_nobias', (8, 8, 3), [
    L('Conv2D', 4, (3, 3), padding='same', activation='tanh', use_bias=False, name='conv1'),
    L('Flatten', name='flatten'),
    L('Dense', 3, use_bias=False, name='dense')])
case('conv2d_1x1_stack', (7, 6, 5), [
    L('Conv2D', 6, (1, 1), activation='relu', name='conv1'),
    L('Conv2D', 3, (3, 3), strides=(2, 2), padding='same', name='conv2'), *fd(4)])

# ---- Conv1D ----
case('conv1d_valid', (20, 3), [
    L('Conv1D', 4, 3, activation='relu', name='conv1'), *fd(3)])
case('conv1d_same_s2', (19, 3), [
    L('Conv1D', 4, 4, strides=2, padding='same', activation='relu', name='conv1'), *fd(3)])
case('conv1d_causal_d2', (16, 2), [
    L('Conv1D', 3, 3, padding='causal', dilation_rate=2, activation='tanh', name='conv1'), *fd(3)])

# ---- grouped Conv2D / Conv1D (Keras's groups argument) ----
case('conv2d_groups', (9, 8, 8), [
    L('Conv2D', 12, (3, 3), padding='same', groups=4, activation='relu', name='conv1'),
    L('Conv2D', 6, 3, strides=2, groups=2, name='conv2'), *fd(4)])
case('conv1d_groups', (21, 6), [
    L('Conv1D', 9, 5, padding='same', groups=3, activation='relu', name='conv1'),
    L('Conv1D', 6, 3, strides=2, padding='causal', groups=3, name='conv2'), *fd(3)])

# ---- LocallyConnected ----
case('locally_connected2d', (8, 8, 2), [
    L('LocallyConnected2D', 3, (3, 3), activation='relu', name='lc1'), *fd(4)])
case('locally_connected2d_s2', (9, 10, 2), [
    L('LocallyConnected2D', 3, (3, 2), strides=(2, 2), name='lc1'), *fd(4)])
case('locally_connected1d', (12, 3), [
    L('LocallyConnected1D', 4, 3, activation='relu', name='lc1'), *fd(3)])
case('locally_connected1d_s2_nobias', (13, 2), [
    L('LocallyConnected1D', 3, 4, strides=2, use_bias=False, name='lc1')])

# ---- Max / average pooling ----
NEG = (-2.0, 0.5)   # mostly negative input: padding with 0 instead of -inf would show
case('maxpool2d_valid_odd', (11, 12, 3), [L('MaxPooling2D', name='pool')], input_range=NEG)
case('maxpool2d_same_odd', (11, 13, 2), [L('MaxPooling2D', (2, 2), padding='same', name='pool')],
     input_range=NEG)
case('maxpool2d_p3s2_valid', (12, 11, 2), [L('MaxPooling2D', pool_size=3, strides=2, name='pool')],
     input_range=NEG)
case('maxpool2d_p3s2_same', (12, 11, 2), [L('MaxPooling2D', pool_size=(3, 3), strides=(2, 2),
                                            padding='same', name='pool')], input_range=NEG)
case('avgpool2d_valid_odd', (11, 12, 3), [L('AveragePooling2D', 2, name='pool')])
case('avgpool2d_same_odd', (11, 13, 2), [L('AveragePooling2D', pool_size=(2, 2), padding='same',
                                           name='pool')], input_range=(0.5, 2.0))
case('avgpool2d_p3s2_same', (12, 11, 2), [L('AveragePooling2D', pool_size=3, strides=2, padding='same',
                                            name='pool')], input_range=(0.5, 2.0))
case('avgpool2d_p3s1_same', (7, 8, 2), [L('AveragePooling2D', pool_size=(3, 3), strides=(1, 1),
                                          padding='same', name='pool')], input_range=(0.5, 2.0))
case('maxpool1d_p3s2_same', (16, 3), [L('MaxPooling1D', pool_size=3, strides=2, padding='same',
                                        name='pool')], input_range=NEG)
case('avgpool1d_p3s2_valid', (15, 3), [L('AveragePooling1D', pool_size=3, strides=2, name='pool')])
case('avgpool1d_p2_same_odd', (15, 3), [L('AveragePooling1D', 2, padding='same', name='pool')],
     input_range=(0.5, 2.0))

# ---- LP pooling (strides always explicit: DESIGN.md does not state their default) ----
case('lppool2d_p2_same', (9, 10, 2), [L('LPPooling2D', pool_size=2, strides=2, padding='same', name='pool')])  # p defaults to 2
case('lppool2d_p3_s2', (9, 10, 2), [L('LPPooling2D', pool_size=(3, 3), strides=(2, 2), p=3, name='pool')])
case('lppool1d_p2_same', (15, 3), [L('LPPooling1D', pool_size=3, strides=2, padding='same', p=2,
                                     name='pool')])

# ---- Weighted average pooling (strides explicit, as for LP pooling) ----
case('wavgpool2d_sigma1', (9, 9, 2), [L('WeightedAveragePooling2D', pool_size=(3, 3), strides=(3, 3), sigma=1.0,
                                         name='pool')])
case('wavgpool2d_sigma05_s1', (7, 8, 2), [L('WeightedAveragePooling2D', pool_size=3, strides=1,
                                             sigma=0.5, name='pool')])
case('wavgpool2d_rect', (8, 9, 2), [L('WeightedAveragePooling2D', pool_size=(2, 3), strides=(2, 3),
                                       name='pool')])

# ---- Global pooling ----
case('global_maxpool2d', (6, 7, 3), [L('GlobalMaxPooling2D', name='gpool')])
case('global_avgpool2d', (8, 8, 2), [
    L('Conv2D', 4, (3, 3), padding='same', activation='relu', name='conv1'),
    L('GlobalAveragePooling2D', name='gpool'),
    L('Dense', 3, activation='softmax', name='dense')])
case('global_maxpool1d', (10, 3), [L('GlobalMaxPooling1D', name='gpool')])
case('global_avgpool1d', (10, 3), [
    L('Conv1D', 4, 3, activation='relu', name='conv1'),
    L('GlobalAveragePooling1D', name='gpool')])

# ---- Activations: one case each, conv 3x3 'valid' on 6x6x2 (pre-activations ~[-4, 4]) ----
ACT_INPUT_RANGE = {'softmax': (-1.5, 1.5), 'tanh': (-2.0, 2.0)}
for act in ACTIVATIONS:
    case('act_' + act, (6, 6, 2), [L('Conv2D', 3, (3, 3), activation=act, name='conv1')],
         input_range=ACT_INPUT_RANGE.get(act, (-3.0, 3.0)))
case('leaky_relu_layer', (6, 6, 2), [
    L('Conv2D', 3, (3, 3), name='conv1'),
    L('LeakyReLU', alpha=0.1, name='lrelu')], input_range=(-3.0, 3.0))
case('activation_layers', (7, 7, 2), [
    L('Conv2D', 4, (3, 3), name='conv1'),
    L('Activation', 'relu', name='act1'),
    L('Flatten', name='flatten'),
    L('Dense', 5, name='dense'),
    L('Activation', 'softmax', name='act2')])

# ---- Padding, dropout, batch norm ----
case('zeropad2d_asym', (5, 6, 2), [
    L('ZeroPadding2D', padding=((1, 2), (0, 3)), name='pad'),
    L('Conv2D', 3, (3, 3), name='conv1'), *fd(4)])
case('zeropad2d_sym_forms', (4, 5, 2), [
    L('ZeroPadding2D', 1, name='pad1'),
    L('ZeroPadding2D', padding=(2, 0), name='pad2')])
case('zeropad1d', (10, 2), [
    L('ZeroPadding1D', padding=(2, 1), name='pad1'),
    L('Conv1D', 3, 3, name='conv1'),
    L('ZeroPadding1D', 1, name='pad2')])
case('dropout', (12,), [
    L('Dense', 8, activation='relu', name='dense1'),
    L('Dropout', 0.5, name='drop'),
    L('Dense', 4, name='dense2')])
case('batchnorm_conv', (8, 8, 3), [
    L('Conv2D', 4, (3, 3), padding='same', name='conv1'),
    L('BatchNormalization', name='bn'),
    L('Activation', 'relu', name='relu'), *fd(5)])
case('batchnorm_dense', (6, 6, 2), [
    L('Flatten', name='flatten'),
    L('Dense', 8, name='dense1'),
    L('BatchNormalization', epsilon=0.01, name='bn'),
    L('Activation', 'relu', name='relu'),
    L('Dense', 4, name='dense2')])

# ---- A bigger network ----
case('mnist_like', (28, 28, 1), [
    L('Conv2D', 8, (3, 3), activation='relu', name='conv1'),
    L('MaxPooling2D', 2, name='pool1'),
    L('Conv2D', 16, (3, 3), activation='relu', name='conv2'),
    L('MaxPooling2D', 2, name='pool2'),
    L('Flatten', name='flatten'),
    L('Dense', 16, activation='relu', name='dense1'),
    L('Dense', 10, activation='softmax', name='dense2')], input_fn=mnist_like_input)
case('mixed_1d', (24, 2), [
    L('ZeroPadding1D', 1, name='pad'),
    L('Conv1D', 4, 3, padding='causal', name='conv1'),
    L('BatchNormalization', name='bn'),
    L('LeakyReLU', name='lrelu'),                  # default alpha 0.3
    L('MaxPooling1D', name='pool1'),
    L('Conv1D', 4, 3, strides=2, padding='same', activation='elu', name='conv2'),
    L('LPPooling1D', pool_size=2, strides=2, p=2, name='pool2'),
    L('Flatten', name='flatten'),
    L('Dense', 3, activation='sigmoid', name='dense')])


# ---- Transposed convolutions (tests/golden/decoder_layers.py) ----
case('conv2d_transpose_s2_same', (5, 6, 3), [
    L('Conv2DTranspose', 4, 3, strides=2, padding='same', activation='relu', name='up1'), *fd(4)])
case('conv2d_transpose_k2s2_unet', (4, 5, 3), [
    L('Conv2DTranspose', 4, (2, 2), strides=(2, 2), name='up1'),
    L('BatchNormalization', name='bn')])
case('conv2d_transpose_outpad_dil', (4, 5, 2), [
    L('Conv2DTranspose', 3, (3, 2), strides=(2, 3), padding='same', output_padding=(1, 2), name='up1'),
    L('Conv2DTranspose', 2, 3, dilation_rate=2, use_bias=False, activation='sigmoid', name='up2')])
case('conv2d_transpose_k1s3_gaps', (3, 4, 2), [
    L('Conv2DTranspose', 3, 1, strides=3, name='up1')])
case('conv1d_transpose', (7, 3), [
    L('Conv1DTranspose', 4, 3, strides=2, padding='same', activation='tanh', name='up1'),
    L('Conv1DTranspose', 2, 4, strides=2, output_padding=1, name='up2')])

# ---- Upsampling (tests/golden/decoder_layers.py) ----
case('upsampling2d_nearest', (4, 5, 3), [
    L('UpSampling2D', (2, 3), name='up'),
    L('Conv2D', 4, 3, padding='same', activation='relu', name='conv1'), *fd(4)])
case('upsampling2d_bilinear', (5, 4, 3), [
    L('UpSampling2D', 2, interpolation='bilinear', name='up')])
case('upsampling2d_bilinear_rect', (3, 4, 5), [
    L('UpSampling2D', size=(3, 2), interpolation='bilinear', name='up'),
    L('Conv2D', 2, 1, name='conv1')])
case('upsampling1d', (6, 3), [
    L('UpSampling1D', 3, name='up'),
    L('Conv1D', 4, 3, activation='tanh', name='conv1')])

# ---- Layer normalisation (tests/golden/decoder_layers.py) ----
case('layernorm_channels', (4, 5, 6), [
    L('Conv2D', 8, 3, padding='same', name='conv1'),
    L('LayerNormalization', name='ln'),
    L('Activation', 'relu', name='act'), *fd(4)])
case('layernorm_axes', (3, 4, 5), [
    L('LayerNormalization', axis=[1, 2, 3], epsilon=1e-2, center=False, name='ln')])
case('layernorm_1d_noscale', (7, 4), [
    L('LayerNormalization', axis=-1, scale=False, name='ln'),
    L('Conv1D', 3, 3, activation='tanh', name='conv1')])

# --------------------------------------------------------------------------------------
# Independent spot checks (cheap)
# --------------------------------------------------------------------------------------

def spot_checks():
    # 'same' pad rule on a few hand-worked examples.
    assert same_pads(11, 3, 2) == (1, 1)    # out 6: (6-1)*2+3-11 = 2
    assert same_pads(12, 3, 2) == (0, 1)    # out 6: 10+3-12 = 1 -> extra one after
    assert same_pads(10, 4, 1) == (1, 2)
    assert same_pads(11, 2, 1, 3) == (1, 2)
    assert same_pads(5, 1, 2) == (0, 0)
    assert same_pads(4, 3, 5) == (0, 0)     # out 1: 0+3-4 < 0
    # Stride-1 'same' equals PyTorch's padding='same' (which pads the extra one after too).
    rng = np.random.default_rng(1)
    x = t64(uniform(rng, (1, 10, 9, 2), -1, 1))
    kk = uniform(rng, (4, 3, 2, 3), -0.5, 0.5)
    lay = L('Conv2D', 3, (4, 3), padding='same', name='c')
    lay.weights = {'kernel': kk}
    ours = forward_torch(lay, x)
    ref = from_nc(F.conv2d(to_nc(x), t64(kk).permute(3, 2, 0, 1), padding='same'))
    assert torch.allclose(ours, ref, atol=1e-12)
    # Stride-2 'same' with odd total: differs from symmetric padding (guards against F.conv2d(padding=1)).
    lay = L('Conv2D', 3, (3, 3), strides=2, padding='same', name='c')
    kk = uniform(rng, (3, 3, 2, 3), -0.5, 0.5)
    lay.weights = {'kernel': kk}
    x = t64(uniform(rng, (1, 12, 12, 2), -1, 1))
    ours = forward_torch(lay, x)
    sym = from_nc(F.conv2d(to_nc(x), t64(kk).permute(3, 2, 0, 1), stride=2, padding=1))
    assert ours.shape == sym.shape and not torch.allclose(ours, sym)
    # Numpy 'same' conv computed with explicit np.pad on that case.
    xp = np.pad(x[0].numpy(), ((0, 1), (0, 1), (0, 0)))
    K = n64(kk)
    y = np.zeros((6, 6, 3))
    for i in range(6):
        for j in range(6):
            y[i, j] = np.einsum('abc,abcd->d', xp[2 * i:2 * i + 3, 2 * j:2 * j + 3], K)
    assert np.allclose(y, ours[0].numpy(), atol=1e-12)
    # Flatten order: (h, w, c) -> (h*W + w)*C + c.
    lay = L('Flatten', name='f')
    x = torch.arange(3 * 4 * 5, dtype=DT).reshape(1, 3, 4, 5)
    y = forward_torch(lay, x)[0]
    for h, w, c in [(0, 0, 1), (1, 2, 3), (2, 3, 4)]:
        assert y[(h * 4 + w) * 5 + c] == x[0, h, w, c]
    # WAP weights: 3x3, sigma 1 -> corner/centre ratio exp(-1).
    w = wap_weights(3, 3, 1.0)
    assert abs(w[0, 0] / w[1, 1] - math.exp(-1.0)) < 1e-14 and abs(w.sum() - 1) < 1e-14
    # Pool padding: max ignores padded cells, average does not count them, LP uses |x|.
    neg = t64(-uniform(rng, (1, 7, 8, 2), 0.5, 1.0))
    for pk, ps in [(3, 2), (3, 1), (2, 2)]:
        y = forward_torch(L('MaxPooling2D', pool_size=pk, strides=ps, padding='same', name='p'), neg)
        assert torch.all(y < 0)
        y = forward_torch(L('AveragePooling2D', pool_size=pk, strides=ps, padding='same', name='p'), -neg)
        assert torch.all((y >= 0.5) & (y <= 1.0))
        y = forward_torch(L('AveragePooling2D', pool_size=pk, strides=ps, padding='same', name='p'),
                          torch.ones_like(neg))
        assert torch.allclose(y, torch.ones_like(y), atol=1e-15)
        y1 = forward_torch(L('LPPooling2D', pool_size=pk, strides=ps, padding='same', p=3, name='p'), neg)
        y2 = forward_torch(L('LPPooling2D', pool_size=pk, strides=ps, padding='same', p=3, name='p'), -neg)
        assert torch.equal(y1, y2) and torch.all(y1 > 0)
    # hard_sigmoid is the tf.keras 2.x one, not torch's.
    assert act_torch('hard_sigmoid', torch.tensor([-3.0, 0.0, 1.0, 3.0], dtype=DT)).tolist() == [0.0, 0.5, 0.7, 1.0]


# --------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------

def save_npy(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    with open(path, 'wb') as fh:
        np.save(fh, arr, allow_pickle=False)


def lua_source(c):
    lines = ['-- Generated by tests/golden/make_golden.py: do not edit by hand.',
             '-- Weights: tests/golden/data/%s/<layer name>.<weight>.npy' % c.name,
             "local nn = require 'cnnc'",
             'local m = nn.Sequential{name = %s, input_shape = %s}' % (lua_value(c.name), lua_value(c.input_shape))]
    lines += [layer.lua() for layer in c.layers]
    lines.append('return m')
    return '\n'.join(lines) + '\n'


def run_case(c):
    seed = zlib.crc32(c.name.encode())
    rng = np.random.default_rng(seed)
    if c.input_fn is not None:
        x = f32(c.input_fn(rng, c.input_shape))
    else:
        x = uniform(rng, c.input_shape, *c.input_range)
    assert x.shape == c.input_shape
    names = [layer.name for layer in c.layers]
    assert len(set(names)) == len(names), 'duplicate layer names in ' + c.name

    xt = t64(x)[None]
    xn = n64(x)
    shapes = []
    for layer in c.layers:
        layer.weights = {}
        build(layer, tuple(xt.shape[1:]), rng)
        xt = forward_torch(layer, xt)
        xn = forward_numpy(layer, xn)
        assert tuple(xt.shape[1:]) == xn.shape, (c.name, layer.name, xt.shape, xn.shape)
        err = np.max(np.abs(xt[0].numpy() - xn)) if xn.size else 0.0
        assert err <= 1e-9 * (1.0 + np.max(np.abs(xn))), (c.name, layer.name, err)
        shapes.append(tuple(xt.shape[1:]))
    y = xt[0].numpy()
    assert np.all(np.isfinite(y)), c.name

    # float32 forward pass (PyTorch) to estimate the error a float32 implementation makes
    x32 = torch.from_numpy(x)[None]
    for layer in c.layers:
        x32 = forward_torch(layer, x32)
    f32_err = float(np.max(np.abs(x32[0].numpy().astype(np.float64) - y)))

    d = os.path.join(DATA_DIR, c.name)
    os.makedirs(d, exist_ok=True)
    save_npy(os.path.join(d, 'input.npy'), x)
    save_npy(os.path.join(d, 'expected.npy'), y)
    for layer in c.layers:
        for wn, wv in layer.weights.items():
            save_npy(os.path.join(d, '%s.%s.npy' % (layer.name, wn)), wv)
    with open(os.path.join(MODEL_DIR, c.name + '.lua'), 'w') as fh:
        fh.write(lua_source(c))
    return y, shapes, f32_err


def stats_line(c, y, f32_err):
    flags = []
    if y.size > 1 and np.std(y) < 1e-3:
        flags.append('CONSTANT?')
    if np.all(y == 0):
        flags.append('ALL-ZERO')
    last = c.layers[-1]
    act = last.a.get('activation')
    if act in ('sigmoid', 'hard_sigmoid', 'tanh', 'softsign') and np.mean(np.abs(y - np.round(y)) < 1e-3) > 0.5:
        flags.append('SATURATED?')
    if act == 'softmax' and np.max(y) > 0.995:
        flags.append('SOFTMAX-ONEHOT?')
    return '%-30s in %-12s out %-12s min %8.4f max %8.4f mean %8.4f zeros %4.0f%% f32err %.1e %s' % (
        c.name, 'x'.join(map(str, c.input_shape)), 'x'.join(map(str, y.shape)), y.min(), y.max(),
        y.mean(), 100.0 * np.mean(y == 0), f32_err, ' '.join(flags))


def main():
    spot_checks()
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names)
    for d in (DATA_DIR, MODEL_DIR):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    manifest = []
    for c in CASES:
        y, shapes, f32_err = run_case(c)
        print(stats_line(c, y, f32_err))
        manifest.append({
            'name': c.name,
            'model': 'models/%s.lua' % c.name,
            'data': 'data/%s' % c.name,
            'input_shape': list(c.input_shape),
            'output_shape': list(y.shape),
            'layers': [{'name': l.name, 'layer': l.describe(), 'output_shape': list(s),
                        'weights': sorted(l.weights)} for l, s in zip(c.layers, shapes)],
        })
    with open(os.path.join(HERE, 'manifest.json'), 'w') as fh:
        # one case per line: small, diff-friendly, still plain JSON
        fh.write('{"generator": "tests/golden/make_golden.py",\n "cases": [\n  ')
        fh.write(',\n  '.join(json.dumps(e, sort_keys=True) for e in manifest))
        fh.write('\n ]\n}\n')
    kinds = sorted({l.kind for c in CASES for l in c.layers})
    missing = sorted(set(SIGNATURES) - set(kinds))
    print('%d cases; layer kinds covered: %d/%d%s' % (len(CASES), len(kinds), len(SIGNATURES),
                                                      (' missing: ' + ', '.join(missing)) if missing else ''))
    acts = {l.a.get('activation') for c in CASES for l in c.layers}
    assert set(ACTIVATIONS) <= acts
    return 0


if __name__ == '__main__':
    sys.exit(main())
