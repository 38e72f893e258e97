-- Pooling computed in the convolution's registers (cnnc.simd.pool_fuse; tests/simd/run.lua
-- builds this with the default kernels and with --winograd on and off): max and average,
-- 2x2, 3x3 and 1x2 windows, 'same' and 'valid' convolutions, a floor-mode pool after an
-- odd size (the trim), channels that are not whole vectors, many input channels (several
-- chunks, so partial sums in the scratch) and few (one chunk), a batch norm and an
-- activation after the pool (the pool's epilogue), and one pool that cannot be fused (its
-- windows overlap).
local nn = require 'cnnc'
local m = nn.Sequential{name = 'pooled', input_shape = {26, 23, 40}, seed = 7}
m:add(nn.Conv2D{37, 3, padding = 'same', activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.MaxPooling2D{2})
m:add(nn.Conv2D{24, 3, padding = 'valid'})
m:add(nn.AveragePooling2D{3})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, beta_initializer = {'random_uniform', minval = -1, maxval = 1}})
m:add(nn.Activation{'relu'})
m:add(nn.Conv2D{19, 3, padding = 'same', activation = 'tanh'})
m:add(nn.MaxPooling2D{{1, 3}})
m:add(nn.Conv2D{16, 1, activation = 'relu'})
m:add(nn.MaxPooling2D{{2, 1}, strides = 1})
return m
