"""Known outputs of the examples, computed independently of cnnc with numpy (run with
/usr/bin/python3; the results are committed so the test suite needs no Python).

- edges_<c>.pgm: examples/edges.lua on examples/data/camera.pgm: each hand-designed kernel
  applied by direct cross-correlation with zero 'same' padding, then mapped min..max to
  0..255 per channel, as the executable's `-o NAME.pgm` does.
- smooth1d.npy: examples/smooth1d.lua on examples/data/noisy_signal.npy: the causal
  weighted average with weights 1..5 / 15 (newest sample weighted 5).
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', '..', 'examples', 'data')


def read_pgm(path):
    with open(path, 'rb') as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][:w * h], np.uint8).reshape(h, w)


def write_pgm(path, img):
    with open(path, 'wb') as f:
        f.write(b'P5\n%d %d\n255\n' % (img.shape[1], img.shape[0]))
        f.write(img.astype(np.uint8).tobytes())


def kernels():
    sobel_x = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    sobel_y = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    prewitt_x = [[-1, 0, 1]] * 3
    prewitt_y = [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    edge_x = [[-1, 0, 1]] * 3
    edge_y = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    kirsch = []
    for d in range(8):  # north, then counter-clockwise in 45 degree steps
        k = -3 * np.ones((3, 3))
        k[1, 1] = 0
        for j in range(3):
            k[ring[(j - d) % 8]] = 5
        kirsch.append(k)
    sharpen = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]) + 2 * np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    ks = [np.full((3, 3), 1 / 9), edge_x, edge_y, sobel_x, sobel_y, prewitt_x, prewitt_y] + kirsch + [sharpen]
    return [np.asarray(k, np.float64) for k in ks]


def edges():
    img = read_pgm(os.path.join(DATA, 'camera.pgm')).astype(np.float64) / 255
    pad = np.pad(img, 1)
    for c, k in enumerate(kernels()):
        out = np.zeros_like(img)
        for dy in range(3):
            for dx in range(3):
                out += k[dy, dx] * pad[dy:dy + img.shape[0], dx:dx + img.shape[1]]
        lo, hi = out.min(), out.max()
        q = np.clip(np.floor((out - lo) / (hi - lo) * 255 + 0.5), 0, 255)
        write_pgm(os.path.join(HERE, 'expected', 'edges_%d.pgm' % c), q)


def smooth():
    x = np.load(os.path.join(DATA, 'noisy_signal.npy'))[:, 0].astype(np.float64)
    w = np.arange(1, 6) / 15
    xp = np.concatenate([np.zeros(4), x])
    y = np.array([np.dot(w, xp[t:t + 5]) for t in range(len(x))])
    np.save(os.path.join(HERE, 'expected', 'smooth1d.npy'), y.astype('<f4').reshape(-1, 1))


if __name__ == '__main__':
    edges()
    smooth()
