"""bench/torch_bench.py: a network from bench/export_weights.lua in PyTorch eager mode,
timed, its output written for comparison with cnnc's.

    /usr/bin/python3 bench/torch_bench.py NETDIR [--runs N] [--warmup W] [--threads T]
                                         [--mode eager|mkldnn] [-o OUT.npy]
    /usr/bin/python3 bench/torch_bench.py NETDIR --backward [--runs N] [--warmup W] [--threads T]
    /usr/bin/python3 bench/torch_bench.py NETDIR --export B[,B...]

Reads NETDIR/net.txt (format: see bench/export_weights.lua), the Keras-layout .npy
weights it names (transposed once to PyTorch's layouts: Conv2d (O, I, KH, KW), Conv1d
(O, I, K), Linear (O, I) with the rows of a kernel that follows a flatten permuted from
Keras's HWC order to PyTorch's CHW order) and NETDIR/input.npy. The model runs in
float32, batch 1, channels first (NCHW / NCW, as PyTorch wants), under torch.no_grad()
with torch.set_num_threads(T). The input is converted to channels first once, before
timing; the output back to channels last (Keras's and cnnc's order) after it.

Modes:
  eager   plain modules on dense tensors, PyTorch's default dispatch. On Debian's
          python3-torch 1.13 (BLAS_INFO=generic: the reference Netlib BLAS) a 3x3 float32
          convolution on a small batch-1 input takes the im2col + BLAS path, not oneDNN
          (PyTorch 1.13 picks mkldnn for float32 only for larger kernels, batches or
          inputs), and Linear runs on the reference BLAS: slow, but it is what
          `import torch` gives on this system.
  mkldnn  the same modules converted with torch.utils.mkldnn.to_mkldnn: convolutions and
          Linear run on oneDNN (MKL-DNN 2.6.3 inside torch) with tensors in its blocked
          layout; the input is converted in the timed loop, and a module with no MKL-DNN
          kernel (1-D pooling, global pooling, softmax) gets a dense tensor.

--backward (eager mode) times the gradient of the input and of every weight next to the
forward pass, run by run in turn: a forward run under torch.no_grad() as above, then a
backward run, which is the forward pass with autograd recording and
torch.autograd.grad(output, [input] + parameters, dy) with dy = NETDIR/grad_output.npy
(the output's shape): the same work as cnnc's `NAME_backward`. It prints the forward
line and `bench-backward: N runs, median X us, min Y us`; -o writes the input gradient
(channels last, flat).

--export writes, for each batch size B, the eager model as ONNX (opset 13, input `input`
of shape (B, C, H, W) or (B, C, W), output `output`) to NETDIR/model_bB.onnx, the input
repeated B times to NETDIR/input_bB_nchw.npy (for ONNX Runtime, bench/ort_bench.js) and
to NETDIR/input_bB.npy in cnnc's channels-last order (a batch for its executable).

Prints `bench: N runs, median X us, min Y us` like cnnc's executables. When torch cannot
be imported it prints `pytorch: skipped (REASON)` and exits 0.
"""
import argparse
import os
import sys
import time


def parse_net(path):
    net, layers = None, []
    with open(path) as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            t = line.split()
            if t[0] == 'net':
                net = {'name': t[1], 'rank': int(t[2]), 'ih': int(t[3]), 'iw': int(t[4]), 'ic': int(t[5]),
                       'out': int(t[6])}
                continue
            keys = ['ih', 'iw', 'ic', 'oh', 'ow', 'oc', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pb', 'pl', 'pr']
            L = {'op': t[0], 'name': t[1], 'act': t[2], 'kernel': t[19], 'bias': t[20]}
            L.update({k: int(v) for k, v in zip(keys, t[3:19])})
            layers.append(L)
    if net is None:
        raise SystemExit('torch_bench: %s has no net line' % path)
    return net, layers


def build(net, layers, netdir, torch, np):
    nn, F = torch.nn, torch.nn.functional
    rank = net['rank']

    def load(name):
        return np.load(os.path.join(netdir, name)).astype(np.float32)

    class Pad(nn.Module):
        def __init__(self, pads, value):
            super().__init__()
            self.pads, self.value = pads, value

        def forward(self, x):
            return F.pad(x, self.pads, value=self.value)

    class Softmax(nn.Module):
        def forward(self, x):
            return torch.softmax(x, dim=1)

    class GlobalPool(nn.Module):
        def __init__(self, is_max):
            super().__init__()
            self.is_max = is_max

        def forward(self, x):
            x = torch.flatten(x, 2)
            return x.amax(dim=2) if self.is_max else x.mean(dim=2)

    class Flatten(nn.Module):
        def forward(self, x):
            return torch.flatten(x, 1)

    def pads(L):  # F.pad order: last axis first
        return (L['pl'], L['pr'], L['pt'], L['pb']) if rank == 2 else (L['pl'], L['pr'])

    mods, flat = [], False
    for L in layers:
        op = L['op']
        if op == 'conv':
            k = load(L['kernel'])
            bias = L['bias'] != '-'
            if rank == 2:
                conv = nn.Conv2d(L['ic'], L['oc'], (L['kh'], L['kw']), stride=(L['sh'], L['sw']),
                                 dilation=(L['dh'], L['dw']), bias=bias)
                w = k.transpose(3, 2, 0, 1)
            else:
                conv = nn.Conv1d(L['ic'], L['oc'], L['kw'], stride=L['sw'], dilation=L['dw'], bias=bias)
                w = k.transpose(2, 1, 0)
            p = pads(L)
            if any(p):
                if rank == 2 and L['pt'] == L['pb'] and L['pl'] == L['pr']:
                    conv.padding = (L['pt'], L['pl'])
                elif rank == 1 and L['pl'] == L['pr']:
                    conv.padding = (L['pl'],)
                else:
                    mods.append(Pad(p, 0.0))
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(w))
            if bias:
                conv.bias.data = torch.from_numpy(load(L['bias']))
            mods.append(conv)
        elif op in ('maxpool', 'avgpool'):
            if any(pads(L)):
                raise SystemExit('torch_bench: layer %s: padded pooling is not supported' % L['name'])
            cls = {('maxpool', 2): nn.MaxPool2d, ('maxpool', 1): nn.MaxPool1d,
                   ('avgpool', 2): nn.AvgPool2d, ('avgpool', 1): nn.AvgPool1d}[(op, rank)]
            if rank == 2:
                mods.append(cls((L['kh'], L['kw']), stride=(L['sh'], L['sw'])))
            else:
                mods.append(cls(L['kw'], stride=L['sw']))
        elif op in ('gavgpool', 'gmaxpool'):
            mods.append(GlobalPool(op == 'gmaxpool'))
            flat = True
        elif op == 'flatten':
            continue  # the dense layer after it flattens (in CHW order)
        elif op == 'dense':
            k = load(L['kernel'])  # (IH*IW*IC, OC), rows in HWC order
            if not flat:
                # rows -> CHW order, to match torch.flatten of an NCHW / NCW tensor
                if rank == 2:
                    k = k.reshape(L['ih'], L['iw'], L['ic'], L['oc']).transpose(2, 0, 1, 3)
                else:
                    k = k.reshape(L['iw'], L['ic'], L['oc']).transpose(1, 0, 2)
                k = k.reshape(-1, L['oc'])
                mods.append(Flatten())
                flat = True
            lin = nn.Linear(k.shape[0], L['oc'], bias=L['bias'] != '-')
            lin.weight.data = torch.from_numpy(np.ascontiguousarray(k.T))
            if L['bias'] != '-':
                lin.bias.data = torch.from_numpy(load(L['bias']))
            mods.append(lin)
        else:
            raise SystemExit('torch_bench: layer %s: op %s is not supported' % (L['name'], op))
        if L['act'] == 'relu':
            mods.append(nn.ReLU())
        elif L['act'] == 'softmax':
            mods.append(Softmax())
        elif L['act'] != 'none':
            raise SystemExit('torch_bench: layer %s: activation %s is not supported' % (L['name'], L['act']))
    return mods


# Modules that accept and return MKL-DNN tensors (after torch.utils.mkldnn.to_mkldnn).
def mkldnn_sequential(mods, torch):
    nn = torch.nn
    from torch.utils import mkldnn as mk

    class ToMkldnn(nn.Module):
        def forward(self, x):
            return x.to_mkldnn()

    class ToDense(nn.Module):
        def forward(self, x):
            return x.to_dense()

    out, is_mkldnn = [], False
    for m in mods:
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if not is_mkldnn:
                out.append(ToMkldnn())
            out.append(mk.to_mkldnn(m))
            is_mkldnn = True
        elif isinstance(m, (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)):
            out.append(m)
        else:
            if is_mkldnn:
                out.append(ToDense())
            out.append(mk.to_mkldnn(m) if isinstance(m, nn.Linear) else m)
            is_mkldnn = False
    if is_mkldnn:
        out.append(ToDense())
    return nn.Sequential(*out).eval()


def export(model, x, x0, netdir, batches, torch, np):
    for b in batches:
        xb = x.repeat(b, *([1] * (x.dim() - 1)))
        path = os.path.join(netdir, 'model_b%d.onnx' % b)
        with torch.no_grad():
            torch.onnx.export(model, xb, path, opset_version=13, input_names=['input'],
                              output_names=['output'], do_constant_folding=True)
        np.save(os.path.join(netdir, 'input_b%d_nchw.npy' % b), xb.numpy())
        np.save(os.path.join(netdir, 'input_b%d.npy' % b),
                np.ascontiguousarray(np.broadcast_to(x0[None], (b,) + x0.shape)))
        print('export: %s (batch %d)' % (path, b))
    return 0


def median_min(times):
    times = sorted(times)
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return n, med, times[0]


# Forward runs (no autograd) and backward runs (forward with autograd, then the gradients
# of the input and of every parameter), one of each in turn.
def time_backward(model, x, a, torch, np):
    dy = torch.from_numpy(np.load(os.path.join(a.netdir, 'grad_output.npy')).astype(np.float32))
    params = list(model.parameters())
    xg = x.clone().requires_grad_(True)
    fwd, bwd = [], []
    for r in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        t1 = time.perf_counter()
        y = model(xg)
        grads = torch.autograd.grad(y, [xg] + params, dy.reshape(y.shape))
        t2 = time.perf_counter()
        if r >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    if a.out:  # the input gradient, channels last as the input file has it
        dx = grads[0][0]
        dx = dx.permute(1, 2, 0) if dx.dim() == 3 else dx.permute(1, 0)
        np.save(a.out, dx.contiguous().reshape(-1).numpy())
    n, med, low = median_min(fwd)
    print('bench: %d runs, median %.2f us, min %.2f us' % (n, med * 1e6, low * 1e6))
    n, med, low = median_min(bwd)
    print('bench-backward: %d runs, median %.2f us, min %.2f us (forward with autograd, input and weight gradients)'
          % (n, med * 1e6, low * 1e6))
    return 0


def main():
    ap = argparse.ArgumentParser(description='PyTorch eager run of a bench network')
    ap.add_argument('netdir')
    ap.add_argument('--runs', type=int, default=100)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--mode', choices=['eager', 'mkldnn'], default='eager')
    ap.add_argument('-o', dest='out')
    ap.add_argument('--backward', action='store_true', help='also time forward + backward (eager)')
    ap.add_argument('--export', metavar='B[,B...]', help='write ONNX exports for these batch sizes')
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
    except Exception as e:  # ImportError, or a broken install
        print('pytorch: skipped (cannot import torch/numpy with %s: %s)' % (sys.executable, e))
        return 0
    torch.set_num_threads(a.threads)
    net, layers = parse_net(os.path.join(a.netdir, 'net.txt'))
    mods = build(net, layers, a.netdir, torch, np)
    if a.mode == 'mkldnn':
        if not torch.backends.mkldnn.is_available():
            print('pytorch-mkldnn: skipped (this torch has no MKL-DNN)')
            return 0
        model = mkldnn_sequential(mods, torch)
    else:
        model = torch.nn.Sequential(*mods).eval()
    x0 = np.load(os.path.join(a.netdir, 'input.npy')).astype(np.float32)
    x = torch.from_numpy(x0.reshape(net['ih'], net['iw'], net['ic']))
    x = (x.permute(2, 0, 1) if net['rank'] == 2 else x[0].permute(1, 0)).unsqueeze(0).contiguous()
    if a.export:
        return export(model, x, x0, a.netdir, [int(b) for b in a.export.split(',')], torch, np)
    print('pytorch: version %s, mode %s, threads %d' % (torch.__version__, a.mode, torch.get_num_threads()))
    if a.backward:
        if a.mode != 'eager':
            raise SystemExit('torch_bench: --backward needs --mode eager')
        return time_backward(model, x, a, torch, np)
    times = []
    with torch.no_grad():
        for r in range(a.warmup + a.runs):
            t0 = time.perf_counter()
            y = model(x)
            t1 = time.perf_counter()
            if r >= a.warmup:
                times.append(t1 - t0)
    n, med, low = median_min(times)
    print('bench: %d runs, median %.2f us, min %.2f us' % (n, med * 1e6, low * 1e6))
    if a.out:
        if y.dim() == 4:
            y = y.permute(0, 2, 3, 1)
        elif y.dim() == 3:
            y = y.permute(0, 2, 1)
        y = y.contiguous().reshape(-1).numpy()
        if y.size != net['out']:
            raise SystemExit('torch_bench: output has %d values, net.txt says %d' % (y.size, net['out']))
        np.save(a.out, y)
    return 0


if __name__ == '__main__':
    sys.exit(main())
