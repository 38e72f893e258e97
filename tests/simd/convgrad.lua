-- Backward kernels of convolutions (tests/simd/backward.lua): output channels in whole vectors
-- of every target, input channels that are not a whole register tile, a batch norm folded
-- into a convolution, 'same' padding, dilation, and a strided layer (its input gradient in
-- portable C, its weight gradient in tiles).
local nn = require 'cnnc'
local m = nn.Sequential{name = 'convgrad', input_shape = {11, 10, 13}, seed = 5}
m:add(nn.Conv2D{32, {3, 3}, padding = 'same', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, gamma_initializer = {'random_uniform', minval = 0.5, maxval = 2}})
m:add(nn.Activation{'relu'})
m:add(nn.Conv2D{48, {3, 2}, dilation_rate = {2, 1}, activation = 'tanh'})
m:add(nn.Conv2D{16, {3, 3}, strides = 2, padding = 'same', activation = 'elu'})
m:add(nn.GlobalAveragePooling2D{})
return m
