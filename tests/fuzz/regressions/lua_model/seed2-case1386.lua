-- Hand-designed kernels on a photograph: one Conv2D layer whose 16 filters are the
-- classic image-processing kernels, applied to examples/data/camera.pgm (128x128, one
-- channel). `make edges` builds it and writes one PGM per filter into build/edges/.
--
-- Channel order (the number in the output file name):
--   0 box blur        1 edge x         2 edge y        3 sobel x        4 sobel y
--   5 prewitt x       6 prewitt y      7-14 Kirsch n, nw, w, sw, s, se, e, ne
--   15 sharpen (amount 2)
local nn = require 'cnnc'
local K = nn.kernels

local filters = {
  K.box(3), K.edge_x(), K.edge_y(), K.sobel_x(), K.sobel_y(), K.prewitt_x(), K.prewitt_y(),
}
for i = 1, 8 do filters[#filters + 1] = K.kirsch(i) end
filters[#filters + 1] = K.sharpen({{1, 2}, {3}})

local m = nn.Sequential{name = 'edges', input_shape = {128, 128, 1}}
m:add(nn.Conv2D{#filters, {3}, padding = false, use_bias = false,
  kernel = K.stack(filters), name = 'filters'})
return m
