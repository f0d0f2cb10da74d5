// The model micro-benchmarks of bench/model_bench.cc with the real
// prosemirror-model: the same documents, positions and operations.
// Prints one JSON line: {"results":[{"name":"BM_Resolve/1000","ns_per_op":...},...]}.
import fs from 'node:fs';
import path from 'node:path';
import { Schema, Node, Slice, Fragment } from 'prosemirror-model';

const shared = process.env.RTPM_SHARED_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../shared');
const spec = JSON.parse(fs.readFileSync(path.join(shared, 'conformance/schemas/basic.json'), 'utf8'));
// The spec's validate strings are upstream's string form; build the schema from it.
const schema = new Schema({ topNode: spec.topNode, nodes: Object.fromEntries(spec.nodes), marks: Object.fromEntries(spec.marks) });
const text = 'The quick brown fox jumps over the lazy dog.';

function makeDoc(n) {
  const para = schema.node('paragraph', null, schema.text(text));
  return schema.node('doc', null, new Array(n).fill(para));
}

function positions(n, count) {
  let x = 12345;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const size = text.length + 2;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = next() % n;
    out[i] = k * size + 1 + (next() % (size - 1));
  }
  return out;
}

// Runs fn until minMs elapsed (after a warm-up); returns ns per call (median of 3).
function measure(fn, minMs = 400) {
  for (let i = 0; i < 1000; i++) fn(i);
  const runs = [];
  for (let r = 0; r < 3; r++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < minMs * 1e6) {
      for (let i = 0; i < 256; i++) fn(n++);
      elapsed = Number(process.hrtime.bigint() - t0);
    }
    runs.push(elapsed / n);
  }
  runs.sort((a, b) => a - b);
  return runs[1];
}

let sink = 0;
const results = [];
for (const n of [1000, 10000]) {
  const doc = makeDoc(n);
  const pos = positions(n, 4096);
  const slice = new Slice(Fragment.from(schema.text('x')), 0, 0);
  const json = doc.toJSON();
  results.push({ name: `BM_Resolve/${n}`, ns_per_op: measure((i) => { sink += doc.resolve(pos[i & 4095]).parentOffset; }) });
  results.push({ name: `BM_NodeAt/${n}`, ns_per_op: measure((i) => { sink += doc.nodeAt(pos[i & 4095]) ? 1 : 0; }) });
  results.push({ name: `BM_ReplaceOneChar/${n}`, ns_per_op: measure((i) => { const p = pos[i & 4095]; sink += doc.replace(p, p, slice).nodeSize; }) });
  results.push({ name: `BM_FromJSON/${n}`, ns_per_op: measure(() => { sink += Node.fromJSON(schema, json).nodeSize; }, 800) });
  results.push({ name: `BM_ToJSON/${n}`, ns_per_op: measure(() => { sink += JSON.stringify(doc.toJSON()).length; }, 800) });
}
console.log(JSON.stringify({ node: process.version, sink: sink > 0, results }));
