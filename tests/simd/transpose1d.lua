-- 1-D transposed convolutions on the SIMD targets (see transpose.lua).
local nn = require 'cnnc'
local m = nn.Sequential{name = 'transpose1d', input_shape = {13, 24}, seed = 5}
m:add(nn.Conv1DTranspose{70, 4, strides = 2, padding = 'same', activation = 'swish'})
m:add(nn.Conv1DTranspose{9, 3, strides = 3, output_padding = 2})
return m
