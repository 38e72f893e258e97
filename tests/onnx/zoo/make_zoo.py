#!/usr/bin/python3
"""Export the ONNX model zoo that `make test` checks (tests/onnx/zoo.lua): every family of
Debian's torchvision 0.14 classification networks, the segmentation networks, U-Nets,
ESPCN, a ConvNeXt block, ShuffleNetV2, R4 and the export patterns that used to stop cnnc,
at reduced widths and input sizes so the whole suite stays small and fast.

Run from anywhere:

    /usr/bin/python3 tests/onnx/zoo/make_zoo.py [name ...]

(with names, only those are made again and their manifest lines replaced).

For every entry this script
  * builds the network with torchvision's own classes (channel widths divided by a factor
    where the builder has no width argument: every Conv2d, BatchNorm2d and Linear of the
    network shrunk alike, the first convolution keeping its 3 input channels), with seeded
    He-normal weights, small random biases and non-trivial batch-norm statistics;
  * exports it with torch.onnx.export at the entry's opset (11, 13, 17: the newest this
    PyTorch writes), with or without a dynamic batch axis and constant folding (the entries
    cycle through these), checked with onnx.checker;
  * computes the output of a batch of 2 inputs (1 for the 224x224 ones) in float64 from the
    float32 weights;
  * writes tests/onnx/zoo/<name>/{model.onnx, input.npy, expected.npy} and a manifest line.
The entries op18_* to op21_* are graphs of operators in the forms of opsets 18 to 21
(which PyTorch 1.13 does not write), made with onnx.helper; their expected outputs come
from ONNX Runtime (tests/lib/ort_run.js, installed by `make deps`).

The generated files are committed: the suite checks cnnc against them, and against ONNX
Runtime where it is installed. Deterministic (seeded, one thread).
"""

import json
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import segmentation

torch.set_num_threads(1)
warnings.filterwarnings('ignore')

HERE = os.path.dirname(os.path.abspath(__file__))


def randomise(model, seed):
    """He-normal weights, biases in [-0.1, 0.1], batch-norm statistics and affine parameters
    drawn so that no normalisation is an identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                fan_in = m.weight[0].numel() if not isinstance(m, nn.ConvTranspose2d) else m.weight[:, 0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / max(fan_in, 1)) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) * 1.0 + 0.5)
                    m.bias.copy_(torch.rand(c, generator=gen) * 0.4 - 0.2)
            if isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)) and getattr(m, 'weight', None) is not None:
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 1.0 + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.4 - 0.2)
    return model


def shrink(model, k, keep=(10, 4)):
    """Every Conv2d, BatchNorm2d and Linear with its channels divided by k (3 input channels
    and the class counts `keep` kept; grouped convolutions keep their group width while
    there are channels enough): the same graph at a fraction of the size."""
    def d(n, keep3=False):
        if (keep3 and n == 3) or n in keep:
            return n
        return max(1, n // k)

    for name, m in list(model.named_modules()):
        for cname, c in list(m.named_children()):
            new = None
            if isinstance(c, nn.Conv2d):
                cin, cout = d(c.in_channels, True), d(c.out_channels)
                groups = c.groups
                if groups == c.in_channels and groups > 1:
                    groups = cin
                    cout = cin * (c.out_channels // c.in_channels)
                elif groups > 1:
                    # Grouped: fewer groups of the same width where the channels run short.
                    groups = max(1, min(groups, cin))
                    while cin % groups or cout % groups:
                        groups -= 1
                new = nn.Conv2d(cin, cout, c.kernel_size, c.stride, c.padding, c.dilation, groups, c.bias is not None)
            elif isinstance(c, nn.BatchNorm2d):
                new = nn.BatchNorm2d(d(c.num_features), eps=c.eps)
            elif isinstance(c, nn.Linear):
                new = nn.Linear(d(c.in_features), d(c.out_features), c.bias is not None)
            elif isinstance(c, nn.GroupNorm):
                new = nn.GroupNorm(max(1, c.num_groups // k if c.num_groups >= k else c.num_groups), d(c.num_channels), c.eps)
            if new is not None:
                setattr(m, cname, new)
    return model


# ------------------------------------------------------------------------------ networks

def tv(builder, k=None, **kw):
    def make():
        m = builder(weights=None, **kw)
        return shrink(m, k) if k else m
    return make


class UNet(nn.Module):
    """A small U-Net: two down steps, a bottleneck, two up steps by transposed convolution
    (or bilinear upsampling), skip connections joined by concatenation."""

    def __init__(self, up='transpose', c=8):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
        self.d1, self.d2, self.mid = block(3, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.up = up
        if up == 'transpose':
            self.u2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
            self.u1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        else:
            self.u2 = nn.Conv2d(4 * c, 2 * c, 1)
            self.u1 = nn.Conv2d(2 * c, c, 1)
        self.c2, self.c1 = block(4 * c, 2 * c), block(2 * c, c)
        self.head = nn.Conv2d(c, 2, 1)

    def upsample(self, conv, x):
        if self.up == 'transpose':
            return conv(x)
        return conv(F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False))

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        y = self.c2(torch.cat([self.upsample(self.u2, m), b], 1))
        y = self.c1(torch.cat([self.upsample(self.u1, y), a], 1))
        return self.head(y)


class ESPCN(nn.Module):
    """Super-resolution by sub-pixel convolution (PixelShuffle: DepthToSpace)."""

    def __init__(self, r=3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.Tanh(), nn.Conv2d(16, 8, 3, padding=1), nn.Tanh(),
                                  nn.Conv2d(8, r * r, 3, padding=1))
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        return torch.sigmoid(self.shuffle(self.body(x)))


class ConvNeXtBlock(nn.Module):
    """A ConvNeXt block as its paper writes it: depthwise 7x7, LayerNorm over channels
    (channels-last by permute), pointwise MLP with GELU, layer scale, residual."""

    def __init__(self, c=16):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 4, stride=4)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1, self.pw2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))
        self.head = nn.Linear(c, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))) * self.gamma
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean([2, 3]))


class Patterns(nn.Module):
    """The export patterns that used to stop cnnc: ZeroPad2d and F.pad (constant, reflect,
    replicate) written as ConstantOfShape/Concat/Reshape/Slice/Cast chains from opset 11,
    slicing, GroupNorm and InstanceNorm, x.mean([2, 3]), and x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))
        self.c1 = nn.Conv2d(3, 8, 3)
        self.gn = nn.GroupNorm(2, 8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, padding_mode='reflect')
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.c3 = nn.Conv2d(8, 6, 3, padding=1, padding_mode='replicate')
        self.fc = nn.Linear(6 * 4 * 4 + 6, 5)

    def forward(self, x):
        x = F.relu(self.gn(self.c1(self.pad(x))))
        x = F.pad(x, (1, 1, 2, 0), mode='constant', value=0.5)
        x = F.relu(self.inorm(self.c2(x)))
        x = self.c3(F.pad(x, (1, 0, 1, 0), mode='reflect'))
        g = x.mean([2, 3])
        x = F.max_pool2d(x[:, :, 1:-1, :-2], 3)
        return self.fc(torch.cat([x.view(x.size(0), -1), g], 1))


class R4(nn.Module):
    """The project's R4 benchmark network (bench/models/r4.lua) as PyTorch writes it: Conv1D
    16 k9 same, pool 2, Conv1D 32 k9 same, pool 2, Conv1D 64 k9, the mean over time
    (ReduceMean), a dense layer of 4."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv1d(1, 16, 9, padding=4), nn.Conv1d(16, 32, 9, padding=4), nn.Conv1d(32, 64, 9)
        self.fc = nn.Linear(64, 4)

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.c1(x)), 2)
        x = F.max_pool1d(F.relu(self.c2(x)), 2)
        return self.fc(F.relu(self.c3(x)).mean(-1))


def vit_tiny():
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                                mlp_dim=64, num_classes=10)


def swin_tiny(v2=False):
    from torchvision.models import swin_transformer as st
    kw = dict(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
              stochastic_depth_prob=0.0, num_classes=10)
    if v2:
        kw.update(block=st.SwinTransformerBlockV2, downsample_layer=st.PatchMergingV2)
    return st.SwinTransformer(**kw)


def convnext_tiny():
    from torchvision.models.convnext import ConvNeXt, CNBlockConfig
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.0, num_classes=10)


def efficientnet_small(v2=False):
    from torchvision.models import efficientnet as ef
    if v2:
        setting, last = ef._efficientnet_conf('efficientnet_v2_s')
        setting = setting[:3]
        for s in setting:
            s.input_channels, s.out_channels, s.num_layers = max(8, s.input_channels // 2), max(8, s.out_channels // 2), 1
        return ef.EfficientNet(setting, 0.2, last_channel=64, num_classes=10)
    setting, last = ef._efficientnet_conf('efficientnet_b0', width_mult=0.25, depth_mult=0.34)
    return ef.EfficientNet(setting, 0.2, last_channel=last, num_classes=10)


def regnet_small(y=False):
    from torchvision.models import regnet
    params = regnet.BlockParams.from_init_params(depth=4, w_0=16, w_a=8.0, w_m=2.0, group_width=8,
                                                 se_ratio=0.25 if y else None)
    return regnet.RegNet(params, num_classes=10)


def mobilenet_v3(arch):
    from torchvision.models import mobilenetv3 as mv3
    setting, last = mv3._mobilenet_v3_conf(arch, width_mult=0.25)
    return mv3.MobileNetV3(setting, last, num_classes=10)


def maxvit_tiny():
    from torchvision.models.maxvit import MaxVit
    return MaxVit(input_size=(32, 32), stem_channels=8, partition_size=2, block_channels=[16, 32], block_layers=[1, 1],
                  head_dim=8, stochastic_depth_prob=0.0, num_classes=10)


# name: (builder, input shape (without the batch), opset, dynamic batch, constant folding, family)
ENTRIES = {}


def entry(name, make, shape, family, variant, batch=2):
    ENTRIES[name] = dict(make=make, shape=shape, family=family, variant=variant, batch=batch)


# The export variants cycle: (opset, dynamic batch, constant folding).
VARIANTS = [(11, False, True), (13, True, True), (17, False, False), (13, False, True), (11, True, False),
            (17, True, True)]


def add(name, make, shape, family, batch=2):
    entry(name, make, shape, family, VARIANTS[len(ENTRIES) % len(VARIANTS)], batch)


# AlexNet and VGG pool adaptively to 6x6 and 7x7, which ONNX exports only from the size
# their 224x224 inputs give: one item each.
add('alexnet', tv(torchvision.models.alexnet, 16, num_classes=10), (3, 224, 224), 'alexnet', 1)
add('vgg11_bn', tv(torchvision.models.vgg11_bn, 16, num_classes=10), (3, 224, 224), 'vgg', 1)
add('resnet18', tv(torchvision.models.resnet18, 8, num_classes=10), (3, 32, 32), 'resnet')
add('resnet50', tv(torchvision.models.resnet50, 16, num_classes=10), (3, 32, 32), 'resnet')
add('resnext50_32x4d', tv(torchvision.models.resnext50_32x4d, 8, num_classes=10), (3, 32, 32), 'resnext')
add('wide_resnet50_2', tv(torchvision.models.wide_resnet50_2, 16, num_classes=10), (3, 32, 32), 'wide_resnet')
add('densenet121', tv(torchvision.models.densenet121, 8, num_classes=10), (3, 32, 32), 'densenet')
add('squeezenet1_0', tv(torchvision.models.squeezenet1_0, 4, num_classes=10), (3, 48, 48), 'squeezenet')
add('squeezenet1_1', tv(torchvision.models.squeezenet1_1, 4, num_classes=10), (3, 48, 48), 'squeezenet')
add('googlenet', tv(torchvision.models.googlenet, 8, num_classes=10, aux_logits=False, init_weights=False), (3, 32, 32),
    'googlenet')
add('inception_v3', tv(torchvision.models.inception_v3, 16, num_classes=10, aux_logits=False, init_weights=False),
    (3, 75, 75), 'inception')
add('mobilenet_v2', tv(torchvision.models.mobilenet_v2, 2, num_classes=10, width_mult=0.25), (3, 32, 32), 'mobilenet')
add('mobilenet_v3_large', lambda: shrink(mobilenet_v3('mobilenet_v3_large'), 2), (3, 32, 32), 'mobilenet')
add('mobilenet_v3_small', lambda: mobilenet_v3('mobilenet_v3_small'), (3, 32, 32), 'mobilenet')
add('mnasnet0_5', tv(torchvision.models.mnasnet0_5, 2, num_classes=10), (3, 32, 32), 'mnasnet')
add('shufflenet_v2_x0_5', tv(torchvision.models.shufflenet_v2_x0_5, 2, num_classes=10), (3, 32, 32), 'shufflenet')
add('efficientnet_b0', lambda: efficientnet_small(), (3, 32, 32), 'efficientnet')
add('efficientnet_v2_s', lambda: efficientnet_small(True), (3, 32, 32), 'efficientnet')
add('regnet_x', lambda: regnet_small(False), (3, 32, 32), 'regnet')
add('regnet_y', lambda: regnet_small(True), (3, 32, 32), 'regnet')
add('convnext', convnext_tiny, (3, 32, 32), 'convnext')
add('vit', vit_tiny, (3, 32, 32), 'vision_transformer')
add('swin', lambda: swin_tiny(False), (3, 32, 32), 'swin_transformer')
# (swin_v2: PyTorch 1.13 cannot export it: no ONNX form of aten::zero.)
add('maxvit', maxvit_tiny, (3, 32, 32), 'maxvit')
add('fcn_resnet50', tv(segmentation.fcn_resnet50, 16, num_classes=4, weights_backbone=None, aux_loss=False),
    (3, 32, 32), 'segmentation')
add('deeplabv3_mobilenet_v3_large', tv(segmentation.deeplabv3_mobilenet_v3_large, 8, num_classes=4,
    weights_backbone=None, aux_loss=False), (3, 32, 32), 'segmentation')
add('lraspp_mobilenet_v3_large', tv(segmentation.lraspp_mobilenet_v3_large, 4, num_classes=4, weights_backbone=None),
    (3, 32, 32), 'segmentation')
add('unet_transpose', lambda: UNet('transpose'), (3, 32, 32), 'unet')
add('unet_bilinear', lambda: UNet('bilinear'), (3, 32, 32), 'unet')
add('espcn', ESPCN, (1, 16, 16), 'super_resolution')
add('convnext_block', ConvNeXtBlock, (3, 32, 32), 'convnext')
add('r4_pytorch', R4, (1, 4096), 'r4')
# The patterns at every export variant.
for opset in (11, 13, 17):
    for dyn in (False, True):
        for fold in (True, False):
            entry('patterns_op%d%s%s' % (opset, '_dyn' if dyn else '', '' if fold else '_nofold'), Patterns, (3, 12, 11),
                  'patterns', (opset, dyn, fold))


# ------------------------------------------------------------------ operators of opsets 18-21
# PyTorch 1.13 writes opsets up to 17; these small graphs use the forms of newer opsets
# (made with onnx.helper) and take their expected outputs from ONNX Runtime.

from onnx import helper, numpy_helper, TensorProto  # noqa: E402


def graph_entry(name, opset, nodes, inits, shape, out_shape=None):
    def make():
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N'] + shape)],
                              [helper.make_tensor_value_info('output', TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
        m.ir_version = 8
        return m
    ENTRIES[name] = dict(graph=make, shape=tuple(shape), family='onnx_ops', variant=(opset, True, True), batch=2)


def w(*shape, seed=0):
    return (np.random.default_rng(seed + sum(shape)).standard_normal(shape) * 0.5).astype(np.float32)


i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
N = helper.make_node
graph_entry('op18_split_reduce', 18, [
    N('Split', ['input'], ['a', 'b', 'c'], axis=1, num_outputs=3),
    N('Concat', ['c', 'a', 'b'], ['cat'], axis=1),
    N('ReduceMean', ['cat', 'ax23'], ['m']),
    N('ReduceMax', ['cat', 'ax1'], ['mx'], keepdims=1),
    N('ReduceSumSquare', ['cat', 'empty'], ['same'], noop_with_empty_axes=1),
    N('Mul', ['same', 'm'], ['p']),
    N('Add', ['p', 'mx'], ['output'])],
    dict(ax23=i64(2, 3), ax1=i64(1), empty=np.zeros(0, np.int64)), [7, 5, 6])
graph_entry('op19_pad_wrap_resize', 19, [
    N('Pad', ['input', 'pads'], ['p'], mode='wrap'),
    N('Resize', ['p', '', 'scales'], ['r'], mode='linear', coordinate_transformation_mode='half_pixel_symmetric'),
    N('Resize', ['r', '', '', 'sizes'], ['output'], mode='cubic', antialias=1, axes=[3, 2],
      keep_aspect_ratio_policy='not_larger')],
    dict(pads=i64(0, 0, 1, 2, 0, 0, 2, 1), scales=np.array([1, 1, 1.7, 0.6], np.float32), sizes=i64(9, 12)), [3, 6, 7])
graph_entry('op18_groupnorm', 18, [
    N('Conv', ['input', 'w'], ['c'], pads=[1, 1, 1, 1]),
    N('GroupNormalization', ['c', 'gs', 'gb'], ['output'], num_groups=3, epsilon=1e-3)],
    dict(w=w(6, 2, 3, 3), gs=w(3, seed=1), gb=w(3, seed=2)), [2, 5, 5])
graph_entry('op21_groupnorm_gelu', 21, [
    N('Conv', ['input', 'w'], ['c'], pads=[1, 1, 1, 1]),
    N('GroupNormalization', ['c', 'gs', 'gb'], ['g'], num_groups=2),
    N('Gelu', ['g'], ['a']),
    N('Gelu', ['a'], ['output'], approximate='tanh')],
    dict(w=w(6, 2, 3, 3), gs=w(6, seed=1), gb=w(6, seed=2)), [2, 5, 5])
graph_entry('op19_pools', 19, [
    N('AveragePool', ['input'], ['a'], kernel_shape=[3, 3], dilations=[2, 1], pads=[1, 1, 1, 1], strides=[1, 2]),
    N('LpPool', ['a'], ['output'], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, p=3)],
    {}, [3, 9, 8])


class SegOut(nn.Module):
    """torchvision's segmentation models return a dict; export its 'out'."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)['out']


def make_graph_entry(name, e):
    """An onnx.helper graph; its expected output from ONNX Runtime (tests/lib/ort_run.js)."""
    import subprocess
    d = os.path.join(HERE, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    path = os.path.join(d, 'model.onnx')
    m = e['graph']()
    onnx.save(m, path)
    x = np.random.default_rng(sum(map(ord, name))).standard_normal((e['batch'],) + e['shape']).astype(np.float32)
    np.save(os.path.join(d, 'input.npy'), x)
    root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
    subprocess.run(['node', os.path.join(root, 'tests', 'lib', 'ort_run.js'), path, os.path.join(d, 'input.npy'), '-o',
                    os.path.join(d, 'expected.npy')], check=True, env=dict(os.environ, CNNC_NPM_DIR=os.path.join(root, 'build', 'npm')))
    y = np.load(os.path.join(d, 'expected.npy'))
    return dict(model=name, family=e['family'], opset=e['variant'][0], dynamic_batch=True, constant_folding=True,
                input_shape=list(x.shape), output_shape=list(y.shape), params=sum(int(np.prod(t.dims)) for t in m.graph.initializer),
                bytes=os.path.getsize(path), operators=sorted({n.op_type for n in m.graph.node}), expected='onnxruntime')


def make_entry(name, e):
    if 'graph' in e:
        return make_graph_entry(name, e)
    seed = sum(map(ord, name))
    torch.manual_seed(seed)
    model = e['make']()
    if e['family'] == 'segmentation':
        model = SegOut(model)
    model = randomise(model, seed).eval()
    opset, dyn, fold = e['variant']
    d = os.path.join(HERE, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn((e['batch'],) + tuple(e['shape']), generator=gen)
    path = os.path.join(d, 'model.onnx')
    axes = {'input': {0: 'batch'}, 'output': {0: 'batch'}} if dyn else None
    torch.onnx.export(model, x if dyn else x[:1], path, opset_version=opset, input_names=['input'],
                      output_names=['output'], dynamic_axes=axes, do_constant_folding=fold)
    onnx.checker.check_model(onnx.load(path))
    with torch.no_grad():
        y = model.double()(x.double()).numpy()
    np.save(os.path.join(d, 'input.npy'), x.numpy())
    np.save(os.path.join(d, 'expected.npy'), y.astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    params = sum(p.numel() for p in model.parameters())
    size = os.path.getsize(path)
    return dict(model=name, family=e['family'], opset=opset, dynamic_batch=dyn, constant_folding=fold,
                input_shape=[e['batch']] + list(e['shape']), output_shape=list(y.shape), params=params, bytes=size,
                operators=ops)


def main(names):
    manifest_path = os.path.join(HERE, 'manifest.json')
    lines = {}
    if names and os.path.exists(manifest_path):
        for l in open(manifest_path):
            l = l.strip()
            if l:
                e = json.loads(l)
                lines[e['model']] = l
    for name in names or ENTRIES:
        if name not in ENTRIES:
            sys.exit('no zoo entry ' + name)
        info = make_entry(name, ENTRIES[name])
        lines[name] = json.dumps(info, sort_keys=True)
        print('%-32s opset %d%s%s  %8d params  %7d bytes  %s' % (name, info['opset'], ' dynamic' if info['dynamic_batch'] else '',
              '' if info['constant_folding'] else ' no-folding', info['params'], info['bytes'], ' '.join(info['operators'])))
    with open(manifest_path, 'w') as f:
        for name in ENTRIES:
            if name in lines:
                f.write(lines[name] + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
