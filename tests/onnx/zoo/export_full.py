#!/usr/bin/python3
"""Export one full-size torchvision 0.14 classification network to ONNX for
tests/onnx/zoo/full_torchvision.lua (not part of make test):

    /usr/bin/python3 tests/onnx/zoo/export_full.py NAME OUTDIR [OPSET]
    /usr/bin/python3 tests/onnx/zoo/export_full.py --list

Random seeded weights with non-trivial batch-norm statistics (make_zoo.randomise), the
builder's default input size (299x299 for inception_v3, 224x224 otherwise), one item,
constant folding on, a fixed batch of 1; writes OUTDIR/model.onnx and OUTDIR/input.npy.
"""

import os
import sys
import warnings

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_zoo import randomise  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings('ignore')

NOT_CLASSIFIERS = {'get_model', 'get_model_builder', 'get_model_weights', 'get_weight', 'list_models'}


def names():
    """Every builder in torchvision.models itself (not its detection, segmentation, video,
    optical-flow or quantization subpackages): a function taking `weights`."""
    import inspect
    out = []
    for n in sorted(dir(torchvision.models)):
        f = getattr(torchvision.models, n)
        if n.startswith('_') or n in NOT_CLASSIFIERS or not inspect.isfunction(f):
            continue
        if 'weights' in inspect.signature(f).parameters:
            out.append(n)
    return out


def main():
    if sys.argv[1] == '--list':
        print('\n'.join(names()))
        return
    name, out = sys.argv[1], sys.argv[2]
    opset = int(sys.argv[3]) if len(sys.argv) > 3 else 17
    os.makedirs(out, exist_ok=True)
    kw = {'aux_logits': False, 'init_weights': False} if name in ('inception_v3', 'googlenet') else {}
    model = getattr(torchvision.models, name)(weights=None, **kw)
    model = randomise(model, sum(map(ord, name))).eval()
    size = 299 if name == 'inception_v3' else 224
    x = torch.randn((1, 3, size, size), generator=torch.Generator().manual_seed(1))
    torch.onnx.export(model, x, os.path.join(out, 'model.onnx'), opset_version=opset, input_names=['input'],
                      output_names=['output'], do_constant_folding=True)
    np.save(os.path.join(out, 'input.npy'), x.numpy())


if __name__ == '__main__':
    main()
