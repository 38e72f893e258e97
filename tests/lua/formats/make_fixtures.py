"""Fixtures of tests/lua/formats_spec.lua: small files as other frameworks save them.

Run once with Debian's /usr/bin/python3 (python3-torch, python3-h5py, numpy) from the
repository root:  /usr/bin/python3 tests/lua/formats/make_fixtures.py
The files are committed (a few kB each), so the spec needs no Python. TensorFlow is not
on the machine: the spec builds TFLite, SavedModel and GraphDef bytes itself.
"""
import io
import json
import os
import zipfile

import h5py
import numpy as np
import torch

OUT = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(OUT, name)


def keras_h5(target, attrs):
    """An HDF5 file laid out as Keras 2's model.save('m.h5') / save_weights write it."""
    with h5py.File(target, 'w') as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        g = f.create_group('model_weights' if 'model_config' in attrs else 'dense')
        g.create_dataset('dense/kernel:0', data=np.zeros((3, 2), np.float32))


config = json.dumps({'class_name': 'Sequential', 'config': {'name': 'sequential', 'layers': [
    {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 3]}},
    {'class_name': 'Dense', 'config': {'name': 'dense', 'units': 2, 'activation': 'relu'}}]}})

# Keras 2 HDF5: a whole model, and weights alone (save_weights).
keras_h5(path('keras_model.h5'), {'backend': 'tensorflow', 'keras_version': '2.11.0',
                                  'model_config': config})
keras_h5(path('keras_weights.h5'), {'backend': 'tensorflow', 'keras_version': '2.11.0',
                                    'layer_names': [b'dense']})
# An HDF5 file that is no Keras model.
with h5py.File(path('plain.h5'), 'w') as f:
    f.create_dataset('x', data=np.arange(4, dtype=np.float32))

# Keras 3 .keras: a zip of metadata.json, config.json and model.weights.h5.
weights = io.BytesIO()
with h5py.File(weights, 'w') as f:
    f.create_group('layers/dense/vars').create_dataset('0', data=np.zeros((3, 2), np.float32))
with zipfile.ZipFile(path('model.keras'), 'w') as z:
    z.writestr('metadata.json', json.dumps({'keras_version': '3.3.3'}))
    z.writestr('config.json', config)
    z.writestr('model.weights.h5', weights.getvalue())

# PyTorch: torch.save of a state_dict and of a whole module (zip), the legacy format
# (a pickle stream), and a TorchScript archive.
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 2))
torch.save(net.state_dict(), path('state_dict.pt'))
torch.save(net, path('module.pth'))
torch.save(net.state_dict(), path('legacy.pt'), _use_new_zipfile_serialization=False)
torch.jit.save(torch.jit.script(net), path('torchscript.pt'))

# NumPy's .npz: a zip of .npy files.
np.savez(path('arrays.npz'), kernel=np.zeros((3, 2), np.float32))
