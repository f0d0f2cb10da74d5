#!/usr/bin/env node
// The workloads of bench/model_bench.cc with the real prosemirror-model: the
// same documents (1,000 and 10,000 paragraphs of "The quick brown fox jumps
// over the lazy dog." in the basic schema), the same xorshift32 positions and
// the same operations. scripts/bench.sh puts the two side by side.
//
//   node model-bench.mjs [--min-ms 500] [--repeat 3] [--only BM_Resolve,...]
//
// Prints one JSON line per benchmark, {"name":"BM_Resolve/1000","ns_per_op":...,
// "cpu_ns_per_op":...}, named as Google Benchmark names model_bench's cases. Each figure is the median
// of --repeat runs, each at least --min-ms long, after a warm-up.
import { Fragment, Node, Slice, Schema } from 'prosemirror-model';
import { schema as basic } from 'prosemirror-schema-basic';
import { addListNodes } from 'prosemirror-schema-list';

// The conformance `basic` schema (../shared/conformance/schemas/basic.json).
const schema = new Schema({
  nodes: addListNodes(basic.spec.nodes, 'paragraph block*', 'block'),
  marks: basic.spec.marks,
});

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const minMs = Number(option('min-ms', 500));
const repeat = Math.max(1, Number(option('repeat', 3)));
const only = option('only', '') ? option('only', '').split(',') : null;

const paragraphText = 'The quick brown fox jumps over the lazy dog.';
const paragraphSize = paragraphText.length + 2; // text + open and close tokens
const positionSeed = 7;
const positionCount = 4096; // a power of two: the loops index with `& (positionCount - 1)`

function makeDoc(paragraphs) {
  const children = [];
  for (let i = 0; i < paragraphs; i++) children.push(schema.node('paragraph', null, schema.text(paragraphText)));
  return schema.node('doc', null, children);
}

// Positions inside paragraphs' text, as model_bench.cc's text_positions.
function textPositions(paragraphs) {
  let x = positionSeed >>> 0;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const out = new Int32Array(positionCount);
  for (let i = 0; i < positionCount; i++) {
    const k = next() % paragraphs;
    const offset = next() % (paragraphSize - 1);
    out[i] = k * paragraphSize + 1 + offset;
  }
  return out;
}

let sink = 0;

// Wall and CPU ns per call of fn(i): a warm-up, then `repeat` runs of at least
// minMs each (calls in growing batches, so the clock is read rarely); the
// median run of each. CPU time (process.cpuUsage, all threads, so GC helpers
// count) is the steadier figure on a busy machine.
function measure(fn) {
  const warmEnd = performance.now() + Math.min(200, minMs);
  for (let i = 0; performance.now() < warmEnd; ) for (let j = 0; j < 16; j++) fn(i++);
  const wall = [];
  const cpu = [];
  for (let r = 0; r < repeat; r++) {
    let calls = 0;
    let batch = 1;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < minMs * 1e6) {
      for (let j = 0; j < batch; j++) fn(calls++);
      elapsed = Number(process.hrtime.bigint() - t0);
      if (batch < 1024) batch *= 2;
    }
    const used = process.cpuUsage(cpu0);
    wall.push(elapsed / calls);
    cpu.push(((used.user + used.system) * 1000) / calls);
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  return [median(wall), median(cpu)];
}

const mask = positionCount - 1;
const cases = {
  BM_Resolve: (doc, positions) => (i) => {
    sink += doc.resolve(positions[i & mask]).parentOffset;
  },
  BM_NodeAt: (doc, positions) => (i) => {
    if (doc.nodeAt(positions[i & mask])) sink++;
  },
  // One typed character on the unchanged document (the result is dropped).
  BM_ReplaceOneChar: (doc, positions) => {
    const slice = new Slice(Fragment.from(schema.text('x')), 0, 0);
    return (i) => {
      const pos = positions[i & mask];
      sink += doc.replace(pos, pos, slice).nodeSize;
    };
  },
  // Node.fromJSON of an already parsed object.
  BM_FromJSON: (doc) => {
    const json = doc.toJSON();
    return () => {
      sink += Node.fromJSON(schema, json).nodeSize;
    };
  },
  // The document's JSON text, as a server sends a document.
  BM_ToJSON: (doc) => () => {
    sink += JSON.stringify(doc.toJSON()).length;
  },
};

// Google Benchmark's order: each case at 1,000 then 10,000 paragraphs.
const docs = new Map();
for (const [name, make] of Object.entries(cases)) {
  if (only && !only.includes(name)) continue;
  for (const paragraphs of [1000, 10000]) {
    if (!docs.has(paragraphs)) docs.set(paragraphs, [makeDoc(paragraphs), textPositions(paragraphs)]);
    const [doc, positions] = docs.get(paragraphs);
    const [ns, cpuNs] = measure(make(doc, positions));
    const round = (x) => Math.round(x * 10) / 10;
    console.log(JSON.stringify({ name: `${name}/${paragraphs}`, ns_per_op: round(ns), cpu_ns_per_op: round(cpuNs) }));
  }
}
if (sink === 0) console.error('model-bench: nothing was computed');
