-- Transposed convolutions on the SIMD targets: output channels in several register blocks
-- and a scalar tail (37, 150), a 2x2 stride-2 upsampling with a batch-norm epilogue, 'same'
-- with output_padding, dilation, and a softmax left to the scalar pass; 1-D too.
local nn = require 'cnnc'
local m = nn.Sequential{name = 'transpose', input_shape = {5, 6, 40}, seed = 4}
m:add(nn.Conv2DTranspose{150, 2, strides = 2, activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, gamma_initializer = {'random_uniform', minval = 0.5, maxval = 2}})
m:add(nn.Conv2DTranspose{37, {3, 2}, strides = {2, 3}, padding = 'same', output_padding = {1, 2}, activation = 'tanh'})
m:add(nn.Conv2DTranspose{19, 3, dilation_rate = 2, activation = 'softmax'})
return m
