-- The classic Keras convolution example (Chollet's MNIST network): three 3x3
-- convolutions with max pooling, then two Dense layers. Weights come from the seeded
-- initializers unless `--weights DIR` supplies trained ones.
local nn = require 'cnnc'

local m = nn.Sequential{name = 'mnist', input_shape = {28, 28, 1}, seed = 1}
m:add(nn.Conv2D{32, {3, 3}, activation = 'relu'})
m:add(nn.MaxPooling2D{{2, 2}})
m:add(nn.Conv2D{64, {3, 3}, activation = 'relu'})
m:add(nn.MaxPooling2D{{2, 2}})
m:add(nn.Conv2D{64, {3, 3}, activation = 'relu'})
m:add(nn.Flatten{})
m:add(nn.Dense{64, activation = 'relu'})
m:add(nn.Dense{10, activation = 'softmax'})
return m
