-- R1: the Keras MNIST network of examples/keras_mnist.lua (28x28x1), seeded weights.
local nn = require 'cnnc'

local m = nn.Sequential{name = 'r1', input_shape = {28, 28, 1}, seed = 1}
m:add(nn.Conv2D{32, {3, 3}, activation = 'relu'})
m:add(nn.MaxPooling2D{{2, 2}})
m:add(nn.Conv2D{64, {3, 3}, activation = 'relu'})
m:add(nn.MaxPooling2D{{2, 2}})
m:add(nn.Conv2D{64, {3, 3}, activation = 'relu'})
m:add(nn.Flatten{})
m:add(nn.Dense{64, activation = 'relu'})
m:add(nn.Dense{10, activation = 'softmax'})
return m
