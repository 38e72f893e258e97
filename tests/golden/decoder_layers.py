"""Golden-data definitions of the decoder-side Keras layers for make_golden.py:
Conv1DTranspose, Conv2DTranspose, UpSampling1D, UpSampling2D and LayerNormalization.

Each kind has its Keras signature, its weights (Keras layouts), a PyTorch forward pass
on channels-last tensors with a batch axis, and an independent numpy loop reference
written from Keras's definitions (conv_utils.deconv_output_length and TensorFlow's
conv2d_transpose for the transposed convolutions, backend.resize_images for UpSampling,
tf.nn.moments for LayerNormalization). make_golden.py asserts the two agree.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

SIGNATURES = {
    'Conv2DTranspose': (['filters', 'kernel_size'],
                        dict(strides=1, padding='valid', output_padding=None, dilation_rate=1, activation=None,
                             use_bias=True)),
    'Conv1DTranspose': (['filters', 'kernel_size'],
                        dict(strides=1, padding='valid', output_padding=None, dilation_rate=1, activation=None,
                             use_bias=True)),
    'UpSampling2D': (['size'], dict(size=2, interpolation='nearest')),
    'UpSampling1D': (['size'], dict(size=2)),
    'LayerNormalization': ([], dict(axis=-1, epsilon=1e-3, center=True, scale=True)),
}
KINDS = set(SIGNATURES)


def tup(v, n):
    if isinstance(v, (list, tuple)):
        assert len(v) == n, v
        return tuple(int(e) for e in v)
    return (int(v),) * n


def rank(kind):
    return 1 if kind in ('Conv1DTranspose', 'UpSampling1D') else 2


def deconv_axis(n, k, s, d, padding, op):
    """Keras's output length and TensorFlow's pad_before of one axis of a transposed
    convolution (conv_utils.deconv_output_length; conv2d_transpose's SAME padding is the
    padding of the forward 'same' convolution of the output)."""
    keff = (k - 1) * d + 1
    if op is None:
        length = n * s + max(keff - s, 0) if padding == 'valid' else n * s
    else:
        pad = keff // 2 if padding == 'same' else 0
        length = (n - 1) * s + keff - 2 * pad + op
    if padding == 'valid':
        return length, 0
    assert -(-length // s) == n
    return length, max((n - 1) * s + keff - length, 0) // 2


def conv_params(layer):
    a, r = layer.a, rank(layer.kind)
    op = a['output_padding']
    return (tup(a['kernel_size'], r), tup(a['strides'], r), tup(a['dilation_rate'], r),
            None if op is None else tup(op, r))


def build(layer, in_shape, rng, uniform, kernel_scale):
    a, k, W = layer.a, layer.kind, layer.weights
    if k in ('Conv2DTranspose', 'Conv1DTranspose'):
        ks = conv_params(layer)[0]
        cin = in_shape[-1]
        sc = kernel_scale(int(np.prod(ks)) * cin)
        W['kernel'] = uniform(rng, ks + (a['filters'], cin), -sc, sc)
        if a['use_bias']:
            W['bias'] = uniform(rng, (a['filters'],), -0.1, 0.1)
    elif k == 'LayerNormalization':
        axes = norm_axes(layer, len(in_shape) + 1)
        shape = tuple(in_shape[ax - 1] for ax in axes)
        if a['scale']:
            W['gamma'] = uniform(rng, shape, 0.5, 1.5)
        if a['center']:
            W['beta'] = uniform(rng, shape, -0.3, 0.3)


def norm_axes(layer, ndim):
    """Keras's axes (with the batch as axis 0), as given (negative ones made positive)."""
    ax = layer.a['axis']
    ax = list(ax) if isinstance(ax, (list, tuple)) else [ax]
    return [x + ndim if x < 0 else x for x in ax]


def forward_torch(layer, x, act_torch, wt):
    """x: (N, ..., C) channels-last, float64 or float32."""
    a, k, W = layer.a, layer.kind, layer.weights
    if k in ('Conv2DTranspose', 'Conv1DTranspose'):
        r = rank(k)
        ks, st, dl, op = conv_params(layer)
        xt = x.permute(0, 3, 1, 2) if r == 2 else x.permute(0, 2, 1)
        w = wt(x, W['kernel'])                        # (k..., filters, cin) -> (cin, filters, k...)
        w = w.permute(3, 2, 0, 1) if r == 2 else w.permute(2, 1, 0)
        conv = F.conv_transpose2d if r == 2 else F.conv_transpose1d
        full = conv(xt, w, None, stride=st, dilation=dl)
        for i in range(r):
            n = x.shape[1 + i]
            length, before = deconv_axis(n, ks[i], st[i], dl[i], a['padding'], None if op is None else op[i])
            have = full.shape[2 + i]
            if before + length > have:                # output past every tap: zeros (then the bias)
                pad = [0, 0] * r
                pad[2 * (r - 1 - i) + 1] = before + length - have
                full = F.pad(full, pad)
            full = full.narrow(2 + i, before, length)
        if 'bias' in W:
            full = full + wt(x, W['bias']).reshape((1, -1) + (1,) * r)
        y = full.permute(0, 2, 3, 1) if r == 2 else full.permute(0, 2, 1)
        return act_torch(a['activation'], y)
    if k == 'UpSampling2D':
        sh, sw = tup(a['size'], 2)
        xt = x.permute(0, 3, 1, 2)
        if a['interpolation'] == 'nearest':
            y = F.interpolate(xt, scale_factor=(sh, sw), mode='nearest')
        else:                                        # tf.image.resize bilinear: half-pixel centres
            y = F.interpolate(xt, size=(x.shape[1] * sh, x.shape[2] * sw), mode='bilinear', align_corners=False)
        return y.permute(0, 2, 3, 1)
    if k == 'UpSampling1D':
        return torch.repeat_interleave(x, int(a['size']), dim=1)
    if k == 'LayerNormalization':
        axes = sorted(norm_axes(layer, x.dim()))
        mean = x.mean(dim=axes, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
        y = (x - mean) / torch.sqrt(var + float(a['epsilon']))
        bshape = [1] * x.dim()
        for ax in axes:
            bshape[ax] = x.shape[ax]
        if 'gamma' in W:
            y = y * wt(x, W['gamma']).reshape(bshape)
        if 'beta' in W:
            y = y + wt(x, W['beta']).reshape(bshape)
        return y
    raise ValueError(k)


def forward_numpy(layer, x, act_numpy, n64):
    """x: one item, channels-last, float64."""
    a, k = layer.a, layer.kind
    W = {n: n64(v) for n, v in layer.weights.items()}
    if k in ('Conv2DTranspose', 'Conv1DTranspose'):
        r = rank(k)
        xx = x if r == 2 else x[None]
        ks, st, dl, op = conv_params(layer)
        K = W['kernel'] if r == 2 else W['kernel'][None]
        if r == 1:
            ks, st, dl, op = (1,) + ks, (1,) + st, (1,) + dl, None if op is None else (0,) + op
        geo = []
        for i in range(2):
            if r == 1 and i == 0:
                geo.append((1, 0))
            else:
                geo.append(deconv_axis(xx.shape[i], ks[i], st[i], dl[i], a['padding'], None if op is None else op[i]))
        (oh, pt), (ow, pl) = geo
        f = K.shape[2]
        y = np.zeros((oh, ow, f)) + (W['bias'] if 'bias' in W else 0.0)
        for iy in range(xx.shape[0]):                # every input pixel scatters kernel x value
            for ix in range(xx.shape[1]):
                for ky in range(ks[0]):
                    oy = iy * st[0] + ky * dl[0] - pt
                    for kx in range(ks[1]):
                        ox = ix * st[1] + kx * dl[1] - pl
                        if 0 <= oy < oh and 0 <= ox < ow:
                            y[oy, ox] += K[ky, kx] @ xx[iy, ix]
        y = act_numpy(a['activation'], y)
        return y if r == 2 else y[0]
    if k == 'UpSampling1D':
        s = int(a['size'])
        return np.stack([x[i // s] for i in range(x.shape[0] * s)])
    if k == 'UpSampling2D':
        sh, sw = tup(a['size'], 2)
        H, Wd, C = x.shape
        y = np.zeros((H * sh, Wd * sw, C))
        for oy in range(H * sh):
            for ox in range(Wd * sw):
                if a['interpolation'] == 'nearest':
                    y[oy, ox] = x[oy // sh, ox // sw]
                    continue
                # half-pixel centres; a coordinate outside the image takes its edge
                val = np.zeros(C)
                taps = []
                for o, s, n in ((oy, sh, H), (ox, sw, Wd)):
                    c = (o + 0.5) / s - 0.5
                    lo = math.floor(c)
                    t = c - lo
                    taps.append([(min(max(lo, 0), n - 1), 1 - t), (min(max(lo + 1, 0), n - 1), t)])
                for iy, wy in taps[0]:
                    for ix, wx in taps[1]:
                        val += wy * wx * x[iy, ix]
                y[oy, ox] = val
        return y
    if k == 'LayerNormalization':
        axes = sorted(ax - 1 for ax in norm_axes(layer, x.ndim + 1))
        keep = [i for i in range(x.ndim) if i not in axes]
        xt = np.transpose(x, keep + axes)
        lead = xt.shape[:len(keep)]
        flat = xt.reshape(int(np.prod(lead)) if lead else 1, -1)
        y = np.empty_like(flat)
        g = W['gamma'].reshape(-1) if 'gamma' in W else None
        b = W['beta'].reshape(-1) if 'beta' in W else None
        for i in range(flat.shape[0]):
            row = flat[i]
            m = sum(row) / len(row)
            v = sum((e - m) ** 2 for e in row) / len(row)
            z = (row - m) / math.sqrt(v + float(a['epsilon']))
            y[i] = z * (g if g is not None else 1.0) + (b if b is not None else 0.0)
        y = y.reshape(xt.shape)
        return np.transpose(y, np.argsort(keep + axes))
    raise ValueError(k)
