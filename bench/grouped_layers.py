"""bench/grouped_layers.py: the grouped convolutions of torchvision's regnet_x_400mf, one ONNX
file each, for bench/grouped.sh.

    /usr/bin/python3 bench/grouped_layers.py OUTDIR [--whole]

Runs regnet_x_400mf (torchvision 0.14, random weights, seed 1) on a 224x224 image with a hook
on every Conv2d with groups > 1, and for each distinct layer shape writes OUTDIR/<name>.onnx:
that convolution (bias-free, as in RegNet) followed by its batch norm (random statistics) and
ReLU, exported at opset 13 for a batch of 1, and OUTDIR/<name>.npy, an input in [0, 1) of its
input shape (1, C, H, W). Prints one line per layer: `layer NAME MACS COUNT SHAPE`, COUNT the
times the network uses that shape. With --whole, also OUTDIR/regnet_x_400mf.onnx and .npy.
"""
import os
import sys

import numpy as np
import torch
import torchvision


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: /usr/bin/python3 bench/grouped_layers.py OUTDIR [--whole]")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    net = torchvision.models.regnet_x_400mf()
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    net.eval()
    shapes = {}

    def hook(mod, inp, _):
        key = (tuple(inp[0].shape[1:]), mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.groups)
        shapes.setdefault(key, [mod, 0])[1] += 1

    hooks = [mod.register_forward_hook(hook) for mod in net.modules()
             if isinstance(mod, torch.nn.Conv2d) and mod.groups > 1]
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    rng = np.random.default_rng(1)
    for (shape, cout, k, s, p, groups), (mod, count) in list(shapes.items()):
        c, h, w = shape
        name = "g%d_%dx%dx%d_s%d" % (groups, h, w, c, s[0])
        layer = torch.nn.Sequential(mod, torch.nn.BatchNorm2d(cout), torch.nn.ReLU())
        layer[1].running_mean.uniform_(-0.1, 0.1)
        layer[1].running_var.uniform_(0.5, 1.5)
        layer.eval()
        xi = torch.from_numpy(rng.random((1, c, h, w), dtype=np.float32))
        torch.onnx.export(layer, xi, os.path.join(out, name + ".onnx"), opset_version=13)
        np.save(os.path.join(out, name + ".npy"), xi.numpy())
        oh = (h + 2 * p[0] - k[0]) // s[0] + 1
        ow = (w + 2 * p[1] - k[1]) // s[1] + 1
        macs = oh * ow * k[0] * k[1] * (c // groups) * cout
        print("layer %s %d %d %dx%dx%d->%dx%dx%d" % (name, macs, count, h, w, c, oh, ow, cout))
    if "--whole" in sys.argv:
        torch.onnx.export(net, x, os.path.join(out, "regnet_x_400mf.onnx"), opset_version=13)
        np.save(os.path.join(out, "regnet_x_400mf.npy"), x.numpy())


if __name__ == "__main__":
    main()
