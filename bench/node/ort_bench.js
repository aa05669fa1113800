// ONNX Runtime (onnxruntime-node, CPU) on one model: the peer of onnx_engine_bench.cc,
// measured the same way (median of ~50 ms rounds after a warm-up).
//
//   node bench/node/ort_bench.js MODEL.onnx THREADS 1,64 SECONDS
//
// The inputs come from KILN_BENCH_INPUTS, JSON [{"name", "shape", "type"}] with the batch
// (shape[0]) replaced by each batch size: float32 in [0, 1), int64 ones (what
// onnx_engine_bench feeds); or, for one float input, KILN_BENCH_SHAPE.
//
// onnxruntime-node is a benchmark peer only, never a dependency of Kiln; onnx_serving.py
// installs it with `npm install --ignore-scripts` (its install script fetches GPU
// binaries; the CPU library ships in the package).
const ort = require('onnxruntime-node');

async function main() {
  const [path, threads, batchList, seconds] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionMode: 'sequential'});
  const specs = process.env.KILN_BENCH_INPUTS
    ? JSON.parse(process.env.KILN_BENCH_INPUTS)
    : [{name: session.inputNames[0], shape: JSON.parse(process.env.KILN_BENCH_SHAPE),
        type: 'float32'}];
  for (const batch of batchList.split(',').map(Number)) {
    const feeds = {};
    for (const spec of specs) {
      const shape = spec.shape.slice();
      shape[0] = batch;
      const size = shape.reduce((a, b) => a * b, 1);
      if (spec.type === 'int64') {
        feeds[spec.name] = new ort.Tensor('int64', new BigInt64Array(size).fill(1n), shape);
      } else {
        const data = new Float32Array(size);
        for (let i = 0; i < size; ++i) data[i] = ((i * 7919) % 255) / 255;
        feeds[spec.name] = new ort.Tensor('float32', data, shape);
      }
    }
    let perRound = 0;
    const warmUntil = Date.now() + 300;
    while (Date.now() < warmUntil) { await session.run(feeds); ++perRound; }
    perRound = Math.max(1, Math.floor(perRound / 6));
    const rounds = [];
    const end = Date.now() + Number(seconds) * 1000;
    while (Date.now() < end || rounds.length < 5) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < perRound; ++i) await session.run(feeds);
      rounds.push(Number(process.hrtime.bigint() - start) / 1e6 / perRound);
    }
    rounds.sort((a, b) => a - b);
    const ms = rounds[Math.floor(rounds.length / 2)];
    console.log(JSON.stringify({batch, ms, inferences_per_s: batch * 1000 / ms}));
  }
}
main().catch((e) => { console.error(e.message); process.exit(1); });
