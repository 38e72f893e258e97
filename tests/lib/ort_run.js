// ort_run.js: runs an ONNX model with ONNX Runtime (the npm package onnxruntime-node,
// installed by `make deps` under build/npm) on .npy inputs and writes .npy outputs: the
// second oracle of cnnc's ONNX tests (tests/lib/ort.lua calls it).
//
//   node tests/lib/ort_run.js MODEL.onnx [--threads N] [--no-opt] IN.npy... -o OUT.npy...
//
// Inputs go to the graph's inputs in order (initializers listed as inputs are skipped by
// ONNX Runtime itself); each .npy's dtype must be one ONNX Runtime takes for that input
// (float32 data given for an int64 input is converted exactly when its values are whole).
// Outputs are written in the graph's order, float32 (integers and booleans as numbers),
// so they compare with what a cnnc model writes. Exit status 0 on success; 1 with a
// message on stderr otherwise. --no-opt disables ONNX Runtime's graph optimisations (its
// fused kernels are then out of the comparison). The module is found in $CNNC_NPM_DIR
// (default build/npm beside this repository's tests/).

'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write('ort_run: ' + msg + '\n');
  process.exit(1);
}

const npmDir = process.env.CNNC_NPM_DIR || path.join(__dirname, '..', '..', 'build', 'npm');
let ort;
try {
  ort = require(path.join(path.resolve(npmDir), 'node_modules', 'onnxruntime-node'));
} catch (e) {
  fail('onnxruntime-node is not installed in ' + npmDir + ' (run `make deps`): ' + e.message);
}

// .npy: magic, version, header length, a Python dict literal, then the data.
const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '<u2': ['uint16', Uint16Array], '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(file + ': not a .npy file');
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) fail(file + ': unreadable .npy header');
  if (fortran[1] === 'True') fail(file + ': Fortran-order arrays are not supported');
  const kind = NPY_TYPES[descr[1]];
  if (!kind) fail(file + ': dtype ' + descr[1] + ' is not supported');
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const bytes = buf.subarray(off, off + n * kind[1].BYTES_PER_ELEMENT);
  if (bytes.length !== n * kind[1].BYTES_PER_ELEMENT) fail(file + ': data shorter than its shape');
  const data = new kind[1](n);
  Buffer.from(data.buffer).set(bytes);
  return { type: kind[0], data, dims };
}

function writeNpy(file, values, dims) {
  const data = Float32Array.from(values, (v) => Number(v));
  const shape = dims.length === 1 ? '(' + dims[0] + ',)' : '(' + dims.join(', ') + ')';
  let header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ', }';
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)]));
  fs.renameSync(tmp, file);
}

// The data of an .npy array as the element type the model's input wants.
function convert(arr, want, file) {
  if (!want || want === arr.type) return arr.data;
  const src = Array.from(arr.data, Number);
  const whole = src.every((v) => Number.isInteger(v));
  switch (want) {
    case 'float32': return Float32Array.from(src);
    case 'float64': return Float64Array.from(src);
    case 'int64': if (whole) return BigInt64Array.from(src, (v) => BigInt(v)); break;
    case 'int32': if (whole) return Int32Array.from(src); break;
    case 'int8': if (whole) return Int8Array.from(src); break;
    case 'uint8': case 'bool': if (whole) return Uint8Array.from(src); break;
    default: break;
  }
  return fail(file + ': holds ' + arr.type + ' values, the model input wants ' + want);
}

async function main() {
  const argv = process.argv.slice(2);
  const inputs = [];
  const outputs = [];
  let model = null;
  let threads = 1;
  let opt = 'all';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-o') outputs.push(argv[++i]);
    else if (argv[i] === '--threads') threads = Number(argv[++i]);
    else if (argv[i] === '--no-opt') opt = 'disabled';
    else if (!model) model = argv[i];
    else inputs.push(argv[i]);
  }
  if (!model) fail('usage: node ort_run.js MODEL.onnx [--threads N] [--no-opt] IN.npy... -o OUT.npy...');
  let session;
  try {
    session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: opt, executionMode: 'sequential',
    });
  } catch (e) {
    fail(model + ': ONNX Runtime cannot load it: ' + e.message);
  }
  if (inputs.length !== session.inputNames.length) {
    fail(model + ' takes ' + session.inputNames.length + ' inputs (' + session.inputNames.join(', ') + '), got '
      + inputs.length + ' files');
  }
  // A batch larger than a model's fixed first axis runs item by item (as a cnnc
  // executable does), the outputs joined along the first axis.
  const arrays = inputs.map(readNpy);
  const metas = session.inputNames.map((_, k) => (session.inputMetadata ? session.inputMetadata[k] : null));
  let items = 1;
  arrays.forEach((arr, k) => {
    const m = metas[k];
    const fixed = m && m.shape && typeof m.shape[0] === 'number' ? m.shape[0] : null;
    if (fixed && arr.dims.length === m.shape.length && arr.dims[0] !== fixed && arr.dims[0] % fixed === 0) {
      items = arr.dims[0] / fixed;
    }
  });
  const parts = session.outputNames.map(() => []);
  const shapes = [];
  for (let it = 0; it < items; it++) {
    const feeds = {};
    session.inputNames.forEach((name, k) => {
      const arr = arrays[k];
      const want = metas[k] && metas[k].type;
      let data = convert(arr, want, inputs[k]);
      let dims = arr.dims;
      if (items > 1) {
        const per = data.length / items;
        data = data.slice(it * per, (it + 1) * per);
        dims = [arr.dims[0] / items].concat(arr.dims.slice(1));
      }
      feeds[name] = new ort.Tensor(want || arr.type, data, dims);
    });
    let result;
    try {
      result = await session.run(feeds);
    } catch (e) {
      fail(model + ': ONNX Runtime failed to run it: ' + e.message);
    }
    session.outputNames.forEach((name, k) => {
      const t = result[name];
      parts[k].push(Array.from(t.data, Number));
      shapes[k] = t.dims.slice();
    });
  }
  if (outputs.length > session.outputNames.length) fail('more -o files than the model has outputs');
  outputs.forEach((file, k) => {
    const dims = shapes[k].slice();
    if (items > 1) dims[0] = dims[0] * items;
    writeNpy(file, [].concat(...parts[k]), dims);
  });
}

main().catch((e) => fail(e.stack || String(e)));
