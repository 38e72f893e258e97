-- Layers TensorFlow.js lacks, written with the Functional API (tests/keras/data/zoo_b,
-- computed by PyTorch): causal and 1-D depthwise/separable convolutions, 1-D padding and
-- cropping, 1-D upsampling and transposed convolution, bilinear upsampling as Keras does
-- it, LayerNormalization over three axes, ReLU with all its options, Normalization adapted and given, grouped convolution,
-- softmax over a non-last axis, keepdims pooling, Subtract. hard_sigmoid is
-- tf.keras 2.x's, as in the .h5 file.
local nn = require 'cnnc'
local seq = nn.Input{shape = {12, 3}, name = 'seq'}
local image = nn.Input{shape = {7, 9, 2}, name = 'image'}

local t = nn.Conv1D{4, 3, padding = 'causal', dilation_rate = 2, activation = 'hard_sigmoid', name = 'causal'}(seq)
t = nn.ZeroPadding1D{{1, 2}, name = 'pad1'}(t)
t = nn.Cropping1D{{2, 0}, name = 'crop1'}(t)
t = nn.DepthwiseConv1D{3, padding = 'same', depth_multiplier = 2, activation = 'relu', name = 'dw'}(t)
t = nn.UpSampling1D{2, name = 'up1d'}(t)
t = nn.Conv1DTranspose{6, 3, strides = 2, activation = 'tanh', name = 'tconv1d'}(t)
t = nn.SeparableConv1D{5, 3, padding = 'causal', name = 'sep'}(t)
t = nn.ReLU{0.9, negative_slope = 0.1, threshold = 0.2, name = 'relu_all'}(t)
t = nn.ActivityRegularization{l2 = 0.01, name = 'actreg'}(t)
t = nn.GlobalMaxPooling1D{keepdims = true, name = 'gmax'}(t)
t = nn.Flatten{name = 'flat'}(t)
t = nn.Dense{6, activation = 'swish', name = 'seq_dense'}(t)

local i = nn.Normalization{name = 'norm'}(image)
i = nn.Normalization{axis = {}, mean = 0.5, variance = 2.0, name = 'norm_fixed'}(i)
i = nn.Conv2D{6, 3, padding = 'same', groups = 2, name = 'grouped'}(i)
i = nn.ELU{0.7, name = 'elu'}(i)
i = nn.UpSampling2D{{2, 1}, interpolation = 'bilinear', name = 'bilinear'}(i)
i = nn.Conv2DTranspose{4, 3, strides = {1, 2}, padding = 'same', name = 'tconv2d'}(i)
i = nn.Softmax{axis = 1, name = 'softmax_rows'}(i)
i = nn.LayerNormalization{axis = {1, 2, 3}, name = 'ln3'}(i)
i = nn.SpatialDropout2D{0.2, name = 'sdrop'}(i)
i = nn.GlobalAveragePooling2D{keepdims = true, name = 'gap'}(i)
i = nn.Reshape{{4}, name = 'squeeze'}(i)
i = nn.Dense{6, name = 'expand'}(i)

local d = nn.Subtract{name = 'diff'}{t, i}
local probs = nn.Dense{3, activation = 'softmax', name = 'out'}(d)
return nn.Model{inputs = {seq, image}, outputs = {probs, t}, name = 'zoo_b'}
