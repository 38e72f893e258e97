-- The lecture's Keras MNIST network written with the Functional API (layers named as the
-- Keras file tests/keras/data/mnist names them, so its weights fit).
local nn = require 'cnnc'
local image = nn.Input{shape = {28, 28, 1}, name = 'image'}
local x = nn.Conv2D{32, 3, activation = 'relu', name = 'conv2d'}(image)
x = nn.MaxPooling2D{2, name = 'max_pooling2d'}(x)
x = nn.Conv2D{64, 3, activation = 'relu', name = 'conv2d_1'}(x)
x = nn.MaxPooling2D{2, name = 'max_pooling2d_1'}(x)
x = nn.Conv2D{64, 3, activation = 'relu', name = 'conv2d_2'}(x)
x = nn.Flatten{name = 'flatten'}(x)
x = nn.Dense{64, activation = 'relu', name = 'dense'}(x)
local probs = nn.Dense{10, activation = 'softmax', name = 'dense_1'}(x)
return nn.Model{inputs = image, outputs = probs, name = 'mnist'}
