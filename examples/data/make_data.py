"""Makes the small data files the examples read (run with /usr/bin/python3; the outputs are
committed, so nothing needs Python to run the examples).

- camera.pgm: scikit-image's "camera" photograph (python3-skimage,
  skimage/data/camera.png, public domain), averaged down 4x to 128x128, 8-bit binary PGM.
- fashion0.pgm ... fashion3.pgm: the first four test images of Fashion-MNIST (Debian package
  dataset-fashion-mnist, /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz, MIT
  licence), 28x28 8-bit binary PGM, with their labels in fashion_labels.txt.
- noisy_signal.npy: a 1-D sensor trace for smooth1d.lua: a slow sine plus a step, with
  Gaussian noise (seed 7), 256 samples x 1 channel, float32.
"""
import gzip
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write_pgm(path, img):
    img = np.asarray(img, dtype=np.uint8)
    with open(path, 'wb') as f:
        f.write(b'P5\n%d %d\n255\n' % (img.shape[1], img.shape[0]))
        f.write(img.tobytes())


def camera():
    from skimage import data
    im = data.camera().astype(np.float64)
    small = im.reshape(128, 4, 128, 4).mean(axis=(1, 3))
    write_pgm(os.path.join(HERE, 'camera.pgm'), np.round(small))


def fashion():
    base = '/usr/share/datasets/fashion-mnist'
    with gzip.open(os.path.join(base, 't10k-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(base, 't10k-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
             'Sneaker', 'Bag', 'Ankle boot']
    with open(os.path.join(HERE, 'fashion_labels.txt'), 'w') as f:
        for i in range(4):
            write_pgm(os.path.join(HERE, 'fashion%d.pgm' % i), images[i])
            f.write('fashion%d.pgm %d %s\n' % (i, labels[i], names[labels[i]]))


def signal():
    rng = np.random.default_rng(7)
    t = np.arange(256)
    clean = np.sin(2 * np.pi * t / 128) + (t >= 160) * 0.8
    noisy = clean + rng.normal(0, 0.25, size=t.shape)
    np.save(os.path.join(HERE, 'noisy_signal.npy'), noisy.astype('<f4').reshape(256, 1))
    np.save(os.path.join(HERE, 'clean_signal.npy'), clean.astype('<f4').reshape(256, 1))


if __name__ == '__main__':
    camera()
    fashion()
    signal()
