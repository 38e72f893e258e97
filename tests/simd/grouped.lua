-- Grouped convolutions (cnnc.simd.grouped): groups of 16 output channels (whole vectors on
-- every target), of 24 and 8 (whole vectors on AVX2 and SSE; on AVX-512 AVX2's 8-lane
-- vectors, a 1x1 one with swish left to the scalar pass there) and of 5 (the layer's own C
-- everywhere: a vector would span groups), strides, 'same' padding (the zero-bordered copy),
-- a batch norm kept as an epilogue, a pool computed in the registers, softmax over the
-- channels (the scalar pass), and a 1x1 grouped layer. run.lua checks that the five layers
-- whose groups are whole vectors of 4 run the grouped kernel on every SIMD target.
-- (Non-finite inputs: tests/simd/grouped_nan.lua; grouped Conv1D: tests/simd/wide1d.lua.)
local nn = require 'cnnc'
local m = nn.Sequential{name = 'grouped', input_shape = {15, 13, 32}, seed = 6}
m:add(nn.Conv2D{32, 3, padding = 'same', groups = 2, activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, beta_initializer = {'random_uniform', minval = -1, maxval = 1}})
m:add(nn.Conv2D{48, 3, strides = 2, groups = 2})
m:add(nn.Conv2D{48, 3, padding = 'same', groups = 6, activation = 'relu'})
m:add(nn.Conv2D{48, 1, groups = 2, activation = 'swish'})
m:add(nn.Conv2D{48, 3, padding = 'same', groups = 3, activation = 'relu'})
m:add(nn.MaxPooling2D{2})
m:add(nn.Conv2D{15, 1, groups = 3, activation = 'softmax'})
return m
