// bench/ort_bench.js: ONNX Runtime, the bench's ONNX peer: times a model exported by
// bench/torch_bench.py --export on a float32 .npy input, as cnnc's executables time theirs.
//
//   node bench/ort_bench.js MODEL.onnx INPUT.npy [--threads T] [--runs N] [--warmup W]
//                           [-o OUT.npy]
//
// The session runs on T intra-op threads (inter-op 1, sequential execution, every graph
// optimisation on: ONNX Runtime at its best on a CPU). Prints
//   ort: version V, threads T
//   bench: N runs, median X us, min Y us
// and, when the input's first axis holds several items,
//   bench: batch of B items, N runs, median X ms, I items/s (best J)
// in the format of cnnc's executables. -o writes the first item's output in channels-last
// order (cnnc's and Keras's), flat, for bench/compare.lua. The package is onnxruntime-node,
// installed by `make deps` into build/npm ($CNNC_NPM_DIR overrides); without it the script
// prints `ort: skipped (REASON)` and exits 0, as the other peers do.

'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write('ort_bench: ' + msg + '\n');
  process.exit(1);
}

const npmDir = process.env.CNNC_NPM_DIR || path.join(__dirname, '..', 'build', 'npm');
let ort;
try {
  ort = require(path.join(path.resolve(npmDir), 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.log('ort: skipped (onnxruntime-node is not installed in ' + npmDir + ': make deps)');
  process.exit(0);
}

// A float32 .npy in C order: its shape and its values.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(file + ': not a .npy file');
  const start = buf[6] === 1 ? 10 : 12;
  const hlen = buf[6] === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const header = buf.toString('latin1', start, start + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) {
    fail(file + ': needs a float32 array in C order');
  }
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!shape) fail(file + ': unreadable .npy header');
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(buf.subarray(start + hlen, start + hlen + 4 * n));
  return { dims, data };
}

function writeNpy(file, values) {
  let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + values.length + ',), }';
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]));
}

// The first item of an (N, C, ...) output, channels moved last.
function firstItemChannelsLast(t) {
  const dims = t.dims;
  if (dims.length < 3) return t.data.slice(0, dims.length === 2 ? dims[1] : t.data.length);
  const c = dims[1];
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(c * inner);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < inner; i++) out[i * c + ch] = t.data[ch * inner + i];
  return out;
}

function median(a) {
  const s = a.slice().sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  const args = process.argv.slice(2);
  const opt = { threads: 1, runs: 100, warmup: 5, out: null };
  const files = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = (name) => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < (name === 'warmup' ? 0 : 1)) fail('--' + name + ' needs a whole number');
      return v;
    };
    if (a === '--threads') opt.threads = num('threads');
    else if (a === '--runs') opt.runs = num('runs');
    else if (a === '--warmup') opt.warmup = num('warmup');
    else if (a === '-o') opt.out = args[++i];
    else if (a.startsWith('-')) fail('unknown option ' + a);
    else files.push(a);
  }
  if (files.length !== 2) fail('usage: node bench/ort_bench.js MODEL.onnx INPUT.npy [--threads T] [--runs N] [--warmup W] [-o OUT.npy]');
  const x = readNpy(files[1]);
  const session = await ort.InferenceSession.create(files[0], {
    intraOpNumThreads: opt.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) };
  console.log('ort: version ' + (ort.env.versions ? ort.env.versions.common : '?') + ', threads ' + opt.threads);
  const times = [];
  let y;
  for (let r = -opt.warmup; r < opt.runs; r++) {
    const t0 = process.hrtime.bigint();
    y = await session.run(feeds);
    const t1 = process.hrtime.bigint();
    if (r >= 0) times.push(Number(t1 - t0) / 1e3);
  }
  const items = x.dims[0];
  const med = median(times), best = Math.min(...times);
  if (items > 1) {
    console.log('bench: batch of ' + items + ' items, ' + opt.runs + ' runs, median ' + (med / 1e3).toFixed(3) +
                ' ms, ' + (items / med * 1e6).toFixed(1) + ' items/s (best ' + (items / best * 1e6).toFixed(1) + ')');
  } else {
    console.log('bench: ' + opt.runs + ' runs, median ' + med.toFixed(2) + ' us, min ' + best.toFixed(2) + ' us');
  }
  if (opt.out) writeNpy(opt.out, firstItemChannelsLast(y[session.outputNames[0]]));
}

main().catch((e) => fail(e.message));
