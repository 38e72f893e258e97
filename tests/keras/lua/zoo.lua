-- Many layer kinds, three inputs, two outputs and a shared layer, written with the
-- Functional API (tests/keras/data/zoo, built by TensorFlow.js).
local nn = require 'cnnc'
local img = nn.Input{shape = {8, 8, 3}, name = 'img'}
local vec = nn.Input{shape = {6}, name = 'vec'}
local seq = nn.Input{shape = {10, 4}, name = 'seq'}

-- image branch
local a = nn.Rescaling{0.5, offset = 0.25, name = 'rescale'}(img)
a = nn.Conv2D{4, 3, padding = 'same', activation = 'softplus', name = 'c1'}(a)
a = nn.PReLU{shared_axes = {1, 2}, name = 'prelu'}(a)
a = nn.ELU{name = 'elu'}(a)
a = nn.ThresholdedReLU{0.05, name = 'thr'}(a)
a = nn.ZeroPadding2D{{{1, 0}, {2, 1}}, name = 'pad'}(a)
a = nn.Cropping2D{{{0, 1}, {1, 2}}, name = 'crop'}(a)
a = nn.Conv2D{6, 3, strides = 2, padding = 'same', name = 'c2'}(a)
a = nn.LeakyReLU{0.2, name = 'leaky'}(a)
local a2 = nn.AveragePooling2D{2, strides = 1, padding = 'same', name = 'avg'}(a)
local a3 = nn.MaxPooling2D{3, strides = 1, padding = 'same', name = 'maxp'}(a)
a = nn.Maximum{name = 'amax'}{a2, a3}
a = nn.Softmax{name = 'softmax_c'}(a)
a = nn.Permute{{2, 1, 3}, name = 'perm'}(a)
a = nn.SeparableConv2D{5, 2, depth_multiplier = 2, activation = 'swish', name = 'sep'}(a)
local img_feat = nn.Concatenate{name = 'cat_img'}{nn.GlobalAveragePooling2D{name = 'gap'}(a),
  nn.GlobalMaxPooling2D{name = 'gmp'}(a)}

-- vector branch and a layer called twice
local v = nn.Dense{10, activation = 'selu', name = 'v1'}(vec)
v = nn.LayerNormalization{epsilon = 0.01, name = 'ln'}(v)
v = nn.GaussianNoise{0.3, name = 'noise'}(v)
v = nn.GaussianDropout{0.2, name = 'gdrop'}(v)
local shared = nn.Dense{10, activation = 'softsign', name = 'shared'}
local s1, s2 = shared(v), shared(img_feat)

-- sequence branch
local q = nn.Conv1D{5, 3, activation = 'relu6', name = 'q1'}(seq)
q = nn.SpatialDropout1D{0.3, name = 'sdrop'}(q)
q = nn.MaxPooling1D{2, name = 'qmax'}(q)
q = nn.AveragePooling1D{2, strides = 1, name = 'qavg'}(q)
q = nn.Concatenate{axis = 1, name = 'cat_q'}{nn.GlobalAveragePooling1D{name = 'qgap'}(q), nn.GlobalMaxPooling1D{name = 'qgmp'}(q)}
q = nn.Activation{'tanh', name = 'q_tanh'}(q)

-- merges
local m1 = nn.Add{name = 'sum3'}{s1, s2, q}
local m2 = nn.Multiply{name = 'prod'}{s1, q}
local m3 = nn.Average{name = 'avg3'}{m1, m2, s2}
local m4 = nn.Minimum{name = 'min2'}{m3, m1}
local r = nn.RepeatVector{3, name = 'rep'}(m4)
r = nn.Reshape{{5, 6}, name = 'resh'}(r)
r = nn.Conv1D{4, 2, activation = 'elu', name = 'rc'}(r)
r = nn.ReLU{0.8, name = 'relu_cap'}(r)
r = nn.Flatten{name = 'rflat'}(r)
local probs = nn.Dense{4, activation = 'softmax', name = 'out_probs'}(r)
local value = nn.Dense{2, activation = 'sigmoid', name = 'out_value'}(m4)
return nn.Model{inputs = {img, vec, seq}, outputs = {probs, value}, name = 'zoo'}
