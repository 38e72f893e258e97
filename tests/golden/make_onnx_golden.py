#!/usr/bin/python3
"""Export small real networks from PyTorch to ONNX, with reference outputs, for cnnc.

Run from anywhere:

    /usr/bin/python3 tests/golden/make_onnx_golden.py [model ...]

(with model names, only those are made again and their manifest lines replaced).

For every model below this script
  * builds the network in PyTorch with seeded weights (batch-norm running statistics and
    affine parameters randomised too, so that no layer is an identity),
  * exports it to ONNX (opsets 9 to 14, one per model) with torch.onnx.export and checks
    the file with onnx.checker,
  * draws a batch of 2 inputs (1 for R3; float32, NCHW) and computes the outputs in float64 from the
    float32 weights (the model converted to double), the reference cnnc must match,
  * writes tests/golden/onnx/<model>/{model.onnx, input.npy, expected.npy} and a line of
    tests/golden/onnx/manifest.json; a model with several inputs or outputs has
    input_<k>.npy and expected_<k>.npy instead, in the ONNX graph's order.

The generated files are committed: tests need neither PyTorch nor onnx. The script is
deterministic (torch.manual_seed per model, one thread); rerunning rewrites the same
weights and data (the .onnx bytes may differ between PyTorch versions).

Models:
  r1_keras_mnist   R1: the Keras MNIST net of examples/keras_mnist.lua, 28x28x1
  r2_vgg_cifar     R2: VGG-style CIFAR net, 32x32x3, [conv64]x2 pool [conv128]x2 pool
                   [conv256]x2 pool, flatten, dense256 relu, dense10 softmax
  r3_vgg16_w8      R3: VGG-16's 13 convolutions and 5 max-pools on 224x224x3 with every
                   width divided by 8 (8..64 channels instead of 64..512): the full model
                   is 59 MB of weights, too big for the repository; the output is the
                   last pool's (64, 7, 7) map
  r4_conv1d        R4: Conv1D net on 4096 steps x 1 channel: conv16 k9 same relu, pool2,
                   conv32 k9 same relu, pool2, conv64 k9 relu, global average, dense4
  resnet_small     a small ResNet: stem conv-BN-relu, two basic blocks (one strided with a
                   1x1 projection shortcut), a squeeze-and-excite gate, global average, fc
  mobilenet_block  MobileNet-style blocks: depthwise 3x3 + pointwise 1x1 with BN and ReLU6,
                   an inverted residual (expand, depthwise, project, add), HardSwish, a
                   two-branch concat
  tcn_1d           a 1-D temporal convolutional net: causal dilated convs (left zero pad,
                   dilation 1, 2, 4) in residual blocks, global average, fc
  two_heads        one input, two outputs: a conv trunk shared by a classifier head
                   (softmax over 5 classes) and a per-pixel head (1x1 conv map)
  two_inputs       three inputs, two outputs: an image and a mask joined on channels, a
                   side vector through a dense layer; outputs the class scores and the
                   image's pooled features (also read by the classifier)
  external_data    resnet_small's network with other weights, saved with its tensors of
                   1 kB and more in weights.bin beside model.onnx (ONNX external data, as
                   models over 2 GB must be saved); the smaller ones stay inside
"""

import json
import os
import shutil
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
warnings.filterwarnings('ignore')

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, 'onnx')


def randomise(model, gen):
    """He-normal weights (activations keep their scale through deep stacks, so outputs
    are far from uniform), small random biases, and non-trivial batch-norm statistics and
    affine parameters."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.data.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)


# ----------------------------------------------------------------------------- models

class R1(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3)
        self.c2 = nn.Conv2d(32, 64, 3)
        self.c3 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(3 * 3 * 64, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        x = torch.flatten(x, 1)            # CHW order, as PyTorch flattens
        x = F.relu(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)


def vgg_stack(cin, widths, pools):
    layers = []
    for w in widths:
        if w == 'M':
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU()]
            cin = w
    return nn.Sequential(*layers)


class R2(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = vgg_stack(3, [64, 64, 'M', 128, 128, 'M', 256, 256, 'M'], None)
        self.fc1 = nn.Linear(4 * 4 * 256, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class R3(nn.Module):
    def __init__(self, div=8):
        super().__init__()
        cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
        self.features = vgg_stack(3, [c if c == 'M' else c // div for c in cfg], None)

    def forward(self, x):
        return self.features(x)


class R4(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 9, padding=4)
        self.c2 = nn.Conv1d(16, 32, 9, padding=4)
        self.c3 = nn.Conv1d(32, 64, 9)
        self.fc = nn.Linear(64, 4)

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.c1(x)), 2)
        x = F.max_pool1d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        x = F.adaptive_avg_pool1d(x, 1).flatten(1)
        return self.fc(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.short(x) if self.short is not None else x))


class ResNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.l1 = BasicBlock(16, 16, 1)
        self.l2 = BasicBlock(16, 32, 2)
        self.se1 = nn.Conv2d(32, 8, 1)
        self.se2 = nn.Conv2d(8, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.l2(self.l1(self.stem(x)))
        s = F.adaptive_avg_pool2d(x, 1)                  # GlobalAveragePool
        s = torch.sigmoid(self.se2(F.relu(self.se1(s))))
        x = x * s                                        # (N, 32, 16, 16) * (N, 32, 1, 1)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def conv_bn(cin, cout, k, stride=1, groups=1, act=nn.ReLU6):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class MobileNetBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 24, 3, 2)                         # 32x32 -> 16x16, 24 ch
        self.dw1 = conv_bn(24, 24, 3, 1, groups=24)              # depthwise, 24 channels
        self.pw1 = conv_bn(24, 32, 1)                            # pointwise
        self.dw2 = conv_bn(32, 32, 3, 2, groups=32)              # depthwise, strided
        self.pw2 = conv_bn(32, 40, 1, act=None)
        # Inverted residual: expand 1x1, depthwise, project 1x1, add.
        self.expand = conv_bn(40, 80, 1, act=nn.Hardswish)
        self.dw3 = conv_bn(80, 80, 3, 1, groups=80, act=nn.Hardswish)
        self.project = conv_bn(80, 40, 1, act=None)
        # Two branches joined on channels.
        self.branch_a = conv_bn(40, 16, 1)
        self.branch_b = conv_bn(40, 16, 3)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pw1(self.dw1(self.stem(x)))
        x = self.pw2(self.dw2(x))
        x = x + self.project(self.dw3(self.expand(x)))
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class TemporalBlock(nn.Module):
    def __init__(self, cin, cout, dilation, k=3):
        super().__init__()
        self.pad = nn.ConstantPad1d(((k - 1) * dilation, 0), 0.0)   # causal
        self.c1 = nn.Conv1d(cin, cout, k, dilation=dilation)
        self.c2 = nn.Conv1d(cout, cout, k, dilation=dilation)
        self.down = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        y = F.relu(self.c1(self.pad(x)))
        y = F.relu(self.c2(self.pad(y)))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class TCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = TemporalBlock(4, 16, 1)
        self.b2 = TemporalBlock(16, 16, 2)
        self.b3 = TemporalBlock(16, 24, 4)
        self.fc = nn.Linear(24, 3)

    def forward(self, x):
        x = self.b3(self.b2(self.b1(x)))
        return self.fc(F.adaptive_avg_pool1d(x, 1).flatten(1))


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(16)
        self.c2 = nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.fc = nn.Linear(24, 5)
        self.seg = nn.Conv2d(24, 2, 1)

    def forward(self, x):
        x = F.relu(self.c2(F.relu(self.b1(self.c1(x)))))
        cls = F.softmax(self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1)), dim=1)
        return cls, self.seg(x)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 16, 3, stride=2)
        self.v = nn.Linear(8, 8)
        self.fc = nn.Linear(24, 4)

    def forward(self, image, mask, vec):
        x = torch.cat([image, mask], dim=1)
        f = F.adaptive_avg_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 1).flatten(1)
        e = torch.tanh(self.v(vec))
        return self.fc(torch.cat([f, e], dim=1)), f


# name, constructor, input names and shapes (without batch), output names, opset: models
# with several inputs or outputs (inputs uniform in [-1, 1], 2 items)
MULTI = [
    ('two_heads', TwoHeads, [('image', (3, 12, 12))], ['classes', 'segmentation'], 13),
    ('two_inputs', TwoInputs, [('image', (3, 16, 16)), ('mask', (1, 16, 16)), ('vec', (8,))], ['scores', 'features'],
     13),
]


# name, constructor, input shape (without batch), input range, dynamic batch axis, opset,
# items in input.npy (one for R3, whose input alone is 0.6 MB)
MODELS = [
    ('r1_keras_mnist', R1, (1, 28, 28), (0.0, 1.0), False, 13, 2),
    ('r2_vgg_cifar', R2, (3, 32, 32), (-1.0, 1.0), True, 13, 2),
    ('r3_vgg16_w8', R3, (3, 224, 224), (-1.0, 1.0), False, 12, 1),
    ('r4_conv1d', R4, (1, 4096), (-1.0, 1.0), False, 11, 2),
    ('resnet_small', ResNetSmall, (3, 32, 32), (-1.0, 1.0), True, 9, 2),
    ('mobilenet_block', MobileNetBlock, (3, 32, 32), (-1.0, 1.0), False, 14, 2),
    ('tcn_1d', TCN, (4, 256), (-1.0, 1.0), False, 10, 2),
]


# as MODELS, saved with external data (weights.bin): made after MULTI, so that adding one
# leaves the others' seeds as they were
EXTERNAL = [
    ('external_data', ResNetSmall, (3, 32, 32), (-1.0, 1.0), False, 13, 2),
]


def export(name, ctor, shape, lo_hi, dynamic, opset, batch, index, external=False):
    torch.manual_seed(1000 + index)
    gen = torch.Generator().manual_seed(2000 + index)
    model = ctor()
    randomise(model, gen)
    model.eval()
    rng = np.random.default_rng(3000 + index)
    x = rng.uniform(lo_hi[0], lo_hi[1], size=(batch,) + shape).astype(np.float32)
    d = os.path.join(OUT_DIR, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'model.onnx')
    example = torch.from_numpy(x[:1])
    # PRESERVE keeps BatchNormalization nodes (EVAL would fold them into the convolutions):
    # folding them is cnnc's job.
    kwargs = dict(opset_version=opset, input_names=['input'], output_names=['output'], do_constant_folding=True,
                  training=torch.onnx.TrainingMode.PRESERVE)
    if dynamic:
        kwargs['dynamic_axes'] = {'input': {0: 'batch'}, 'output': {0: 'batch'}}
    with torch.no_grad():
        torch.onnx.export(model, example, path, **kwargs)
    onnx.checker.check_model(onnx.load(path))
    if external:
        data = os.path.join(d, 'weights.bin')
        if os.path.exists(data):
            os.remove(data)  # onnx.save appends to it
        onnx.save_model(onnx.load(path), path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location='weights.bin', size_threshold=1024)
        onnx.checker.check_model(path)
    with torch.no_grad():
        ref = model.double()(torch.from_numpy(x.astype(np.float64))).numpy()
        f32 = model.float()(torch.from_numpy(x)).numpy()
    np.save(os.path.join(d, 'input.npy'), x)
    np.save(os.path.join(d, 'expected.npy'), ref.astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    params = sum(p.numel() for p in model.parameters())
    err = float(np.abs(f32 - ref).max())
    print('%-16s params %8d  file %7.2f MB  output %s range [%.3g, %.3g]  float32 err %.2g  ops %s' % (
        name, params, os.path.getsize(path) / 1e6, tuple(ref.shape), ref.min(), ref.max(), err, ' '.join(ops)))
    return {'model': name, 'input_shape': list(x.shape), 'output_shape': list(ref.shape), 'params': params,
            'operators': ops, 'dynamic_batch': dynamic, 'opset': opset}


def export_multi(name, ctor, inputs, outputs, opset, index):
    torch.manual_seed(1000 + index)
    gen = torch.Generator().manual_seed(2000 + index)
    model = ctor()
    randomise(model, gen)
    model.eval()
    rng = np.random.default_rng(3000 + index)
    xs = [rng.uniform(-1.0, 1.0, size=(2,) + shape).astype(np.float32) for _, shape in inputs]
    d = os.path.join(OUT_DIR, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'model.onnx')
    with torch.no_grad():
        torch.onnx.export(model, tuple(torch.from_numpy(x[:1]) for x in xs), path, opset_version=opset,
                          input_names=[n for n, _ in inputs], output_names=outputs, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.PRESERVE)
    onnx.checker.check_model(onnx.load(path))
    with torch.no_grad():
        refs = model.double()(*[torch.from_numpy(x.astype(np.float64)) for x in xs])
    for k, x in enumerate(xs):
        np.save(os.path.join(d, 'input_%d.npy' % k), x)
    for k, r in enumerate(refs):
        np.save(os.path.join(d, 'expected_%d.npy' % k), r.numpy().astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    params = sum(p.numel() for p in model.parameters())
    print('%-16s params %8d  inputs %s  outputs %s  ops %s' % (name, params, [x.shape for x in xs],
                                                                 [tuple(r.shape) for r in refs], ' '.join(ops)))
    return {'model': name, 'input_shape': [list(x.shape) for x in xs], 'output_shape': [list(r.shape) for r in refs],
            'params': params, 'operators': ops, 'dynamic_batch': False, 'opset': opset}


def main(names):
    makers = [(m[0], lambda m=m, i=i: export(*m, index=i)) for i, m in enumerate(MODELS)]
    makers += [(m[0], lambda m=m, i=i: export_multi(*m, index=len(MODELS) + i)) for i, m in enumerate(MULTI)]
    makers += [(m[0], lambda m=m, i=i: export(*m, index=len(MODELS) + len(MULTI) + i, external=True))
               for i, m in enumerate(EXTERNAL)]
    manifest_path = os.path.join(OUT_DIR, 'manifest.json')
    if not names:
        if os.path.isdir(OUT_DIR):
            shutil.rmtree(OUT_DIR)
        os.makedirs(OUT_DIR)
        manifest = [make() for _, make in makers]
    else:
        unknown = set(names) - {n for n, _ in makers}
        if unknown:
            raise SystemExit('unknown models: %s' % ', '.join(sorted(unknown)))
        with open(manifest_path) as f:
            old = {e['model']: e for e in map(json.loads, f)}
        for n, make in makers:
            if n in names:
                old[n] = make()
        manifest = [old[n] for n, _ in makers if n in old]
    with open(manifest_path, 'w') as f:
        for entry in manifest:
            f.write(json.dumps(entry, sort_keys=True) + '\n')


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
