-- Winograd weight gradients (cnnc.simd.winograd_dw, tests/simd/backward.lua): a 'same' layer
-- of whole 4x4 output tiles, a 'valid' one (14 x 14: 2x2 tiles, read without a padded copy)
-- without bias, a 'same' one on 14 x 14; the test shrinks the chunk budget so the tiles go
-- in several chunks of tile rows.
local nn = require 'cnnc'
local m = nn.Sequential{name = 'convgradw', input_shape = {16, 16, 16}, seed = 7}
m:add(nn.Conv2D{32, {3, 3}, padding = 'same', activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.Conv2D{16, {3, 3}, use_bias = false})
m:add(nn.Conv2D{32, {3, 3}, padding = 'same', activation = 'tanh'})
m:add(nn.GlobalAveragePooling2D{})
return m
