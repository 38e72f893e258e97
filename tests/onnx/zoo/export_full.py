#!/usr/bin/python3
"""Export one full-size torchvision 0.14 classification network to ONNX for
tests/onnx/zoo/full_torchvision.lua (not part of make test):

    /usr/bin/python3 tests/onnx/zoo/export_full.py NAME OUTDIR [OPSET]
    /usr/bin/python3 tests/onnx/zoo/export_full.py --list

Random seeded weights with non-trivial batch-norm statistics (make_zoo.randomise), the
builder's default input size (299x299 for inception_v3, 224x224 otherwise), one item,
constant folding on, a fixed batch of 1; writes OUTDIR/model.onnx and OUTDIR/input.npy.
A network over 2 GB (regnet_y_128gf, vit_h_14), which one protobuf message cannot hold, is
written by PyTorch with external data, one file per tensor; it is saved again with all of
them in OUTDIR/model.onnx.data (ONNX external data: offsets and lengths in model.onnx).
"""

import os
import shutil
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
    np.save(os.path.join(out, 'input.npy'), x.numpy())
    # PyTorch exports into a directory of its own: a model over 2 GB comes with a file per tensor
    tmp = os.path.join(out, 'export')
    os.makedirs(tmp, exist_ok=True)
    torch.onnx.export(model, x, os.path.join(tmp, 'model.onnx'), opset_version=opset, input_names=['input'],
                      output_names=['output'], do_constant_folding=True)
    del model
    if os.listdir(tmp) == ['model.onnx']:
        os.replace(os.path.join(tmp, 'model.onnx'), os.path.join(out, 'model.onnx'))
    else:
        import onnx
        m = onnx.load(os.path.join(tmp, 'model.onnx'))
        shutil.rmtree(tmp)
        onnx.save_model(m, os.path.join(out, 'model.onnx'), save_as_external_data=True, all_tensors_to_one_file=True,
                        location='model.onnx.data', size_threshold=1024)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
