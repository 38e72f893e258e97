"""Makes the small fixture files of tests/ffi (run with /usr/bin/python3, which has PIL and
numpy on Debian 12; the files are committed, so the tests need neither).

PNGs written by PIL in every colour type and bit depth cnnc reads, with the pixel values
PIL decodes from them (float32 in [0, 1], (H, W, C)) as .npy; and DEFLATE streams made by
zlib with each block type (stored, fixed and dynamic Huffman), raw, zlib- and
gzip-framed, with their decompressed bytes.
"""
import gzip
import zlib

import numpy as np
from PIL import Image

OUT = 'tests/ffi/data/'
rng = np.random.default_rng(7)
H, W = 9, 13
yy, xx = np.mgrid[0:H, 0:W]
grad = (xx * 19 + yy * 7) % 256
noise = rng.integers(0, 256, size=(H, W))


def save(name, im, raw, maxval=255.0):
    im.save(OUT + name + '.png')
    back = np.asarray(Image.open(OUT + name + '.png'))
    assert np.array_equal(back.reshape(raw.shape), raw), name
    expected = (raw / maxval).astype(np.float32)
    np.save(OUT + name + '.npy', expected.reshape(raw.shape[0], raw.shape[1], -1))


g8 = ((grad + noise) // 2).astype(np.uint8)
save('grey8', Image.fromarray(g8, 'L'), g8)
rgb = np.stack([g8, noise.astype(np.uint8), (255 - g8)], axis=-1)
save('rgb8', Image.fromarray(rgb, 'RGB'), rgb)
rgba = np.concatenate([rgb, ((xx * 20) % 256).astype(np.uint8)[..., None]], axis=-1)
save('rgba8', Image.fromarray(rgba, 'RGBA'), rgba)
la = np.stack([g8, noise.astype(np.uint8)], axis=-1)
save('grey_alpha8', Image.fromarray(la, 'LA'), la)
g16 = (grad * 257 + noise).astype(np.uint16)
im16 = Image.fromarray(g16.astype(np.int32), 'I').convert('I;16')
im16.save(OUT + 'grey16.png')
back = np.asarray(Image.open(OUT + 'grey16.png')).astype(np.uint16)
assert np.array_equal(back, g16)
np.save(OUT + 'grey16.npy', (g16 / 65535.0).astype(np.float32).reshape(H, W, 1))
bw = (noise > 128)
save('bilevel', Image.fromarray(bw), bw, 1.0)
pal = Image.fromarray(rgb, 'RGB').quantize(colors=7)
pal.save(OUT + 'palette.png')
decoded = np.asarray(Image.open(OUT + 'palette.png').convert('RGB'))
np.save(OUT + 'palette.npy', (decoded / 255.0).astype(np.float32))

text = open('compiler/cnnc/emit.lua', 'rb').read()[:6000]
data = text + bytes(rng.integers(0, 4, size=3000, dtype=np.uint8)) + b'\0' * 2000
open(OUT + 'deflate.bin', 'wb').write(data)
for name, level, strategy in (('stored', 0, zlib.Z_DEFAULT_STRATEGY), ('fixed', 6, zlib.Z_FIXED),
                              ('dynamic', 9, zlib.Z_DEFAULT_STRATEGY)):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    open(OUT + 'deflate_' + name + '.raw', 'wb').write(c.compress(data) + c.flush())
open(OUT + 'deflate.zlib', 'wb').write(zlib.compress(data, 9))
open(OUT + 'deflate.gz', 'wb').write(gzip.compress(data, mtime=0))
open(OUT + 'two_members.gz', 'wb').write(gzip.compress(b'hello ', mtime=0) + gzip.compress(b'world\n', mtime=0))
