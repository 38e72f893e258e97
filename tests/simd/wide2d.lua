local nn = require 'cnnc'
local m = nn.Sequential{name = 'wide2d', input_shape = {9, 11, 150}, seed = 3}
m:add(nn.Conv2D{37, {3, 2}, strides = {2, 1}, padding = 'same', activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, gamma_initializer = {'random_uniform', minval = 0.5, maxval = 2}})
m:add(nn.Conv2D{70, {3, 3}, dilation_rate = 2, padding = 'same', activation = 'tanh'})
m:add(nn.Conv2D{20, 1, activation = 'softmax'})
return m
