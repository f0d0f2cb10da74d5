// Generates hostile_steps.jsonl: `apply` vectors in the conformance format
// (../shared/conformance/README.md) whose outcomes the real
// prosemirror-model 1.25.13 / prosemirror-transform 1.12.6 computed, for the
// steps a hostile client sends (issue 10): slices opened into leaves and
// text, negative and huge open depths, positions at and past the edges and at
// the ends of int, node mark and attribute steps at every position, reversed
// mark ranges, and replaceAround over the gaps of small documents (reversed
// gaps included).
//
// Left out: numbers a C++ int cannot hold (fractional or beyond 2^31), which
// the port's Step.fromJSON rejects by design, and open depths below -2^24, on
// which JavaScript overflows its stack (the port throws a TypeError instead);
// rtpm/transform/hostile_step_test.cc covers those. CTest runs the file
// through `realtime-pm conformance` (hostile_step_vectors), error classes
// included.
//
// Usage (Node 20), as gen_transform_cases.mjs:
//   NODE_PATH=/tmp/pmjs/node_modules node gen_hostile_steps.mjs \
//     ../../../../shared/conformance/schemas > hostile_steps.jsonl

import {createRequire} from "module"
import fs from "fs"
import path from "path"

const require = createRequire(import.meta.url)
const {Schema, Node} = require("prosemirror-model")
const {Step} = require("prosemirror-transform")

const specDir = process.argv[2]
if (!specDir) throw new Error("usage: node gen_hostile_steps.mjs <schemas dir>")

const spec = JSON.parse(fs.readFileSync(path.join(specDir, "basic.json")));
const pairs = (p) => Object.fromEntries(p || []);
const schema = new Schema({topNode: spec.topNode, nodes: pairs(spec.nodes), marks: pairs(spec.marks)});

const T = (text) => ({type: "text", text});
const P = (...content) => (content.length ? {type: "paragraph", content} : {type: "paragraph"});
const Q = (...content) => ({type: "blockquote", content});
const D = (...content) => ({type: "doc", content});
const docs = {
  empty: D(P()),
  hello: D(P(T("hello"))),
  two: D(P(T("ab")), P(T("cd"))),
  quote: D(Q(P(T("ab")))),
  leafy: D(P(T("a"), {type: "hard_break"}, {type: "image", attrs: {src: "s"}}), {type: "horizontal_rule"}),
};
const leaves = {
  text: T("a"),
  hard_break: {type: "hard_break"},
  image: {type: "image", attrs: {src: "x"}},
  horizontal_rule: {type: "horizontal_rule"},
  paragraph: P(T("a")),
  blockquote: Q(P()),
};
const size = (doc) => Node.fromJSON(schema, doc).content.size;

const cases = [];
const add = (id, doc, step) => cases.push({id, doc, step});

// Slices opened into leaves and text (finding 1), and negative open depths.
for (const [dn, doc] of Object.entries(docs)) {
  const end = size(doc);
  const ranges = [[1, 1], [1, Math.min(3, end)], [2, 2], [0, end]];
  for (const [ln, node] of Object.entries(leaves))
    for (const [os, oe] of [[1, 1], [1, 0], [2, 2], [2, 1], [-1, -1], [-1, 0]])
      for (const [from, to] of ranges)
        add(`open-${dn}-${ln}-${os}.${oe}-${from}.${to}`, doc,
            {stepType: "replace", from, to, slice: {content: [node], openStart: os, openEnd: oe}});
}

// Numbers at the ends of int, and huge open depths.
const ints = [2147483647, -2147483648, -1, 1000000000, -1000000000];
const hello = docs.hello, two = docs.two;
for (const n of ints) {
  add(`replace-from-${n}`, hello, {stepType: "replace", from: n, to: 1});
  add(`replace-to-${n}`, hello, {stepType: "replace", from: 1, to: n});
  add(`replace-openStart-${n}`, hello, {stepType: "replace", from: 1, to: 1, slice: {content: [T("a")], openStart: n}});
  add(`replace-openEnd-${n}`, hello, {stepType: "replace", from: 1, to: 1, slice: {content: [T("a")], openEnd: n}});
  for (const k of ["from", "to", "gapFrom", "gapTo", "insert"]) {
    const step = {stepType: "replaceAround", from: 0, to: 8, gapFrom: 1, gapTo: 7, insert: 1, slice: {content: [Q()]}};
    step[k] = n;
    add(`replaceAround-${k}-${n}`, two, step);
  }
  add(`replaceAround-open-insert-${n}`, two, {stepType: "replaceAround", from: 0, to: 8, gapFrom: 0, gapTo: 8,
      insert: n, slice: {content: [Q(P())], openStart: 1, openEnd: 1}});
  for (const type of ["addMark", "removeMark"]) {
    add(`${type}-from-${n}`, hello, {stepType: type, mark: {type: "em"}, from: n, to: 3});
    add(`${type}-to-${n}`, hello, {stepType: type, mark: {type: "em"}, from: 1, to: n});
  }
  for (const type of ["addNodeMark", "removeNodeMark"])
    add(`${type}-pos-${n}`, docs.leafy, {stepType: type, mark: {type: "em"}, pos: n});
  add(`attr-pos-${n}`, docs.leafy, {stepType: "attr", pos: n, attr: "src", value: "y"});
}
for (const [name, value] of [["huge", "1e400"], ["1e9", 1e9]]) {
  add(`replace-openStart-${name}`, hello, {stepType: "replace", from: 1, to: 1, slice: {content: [T("a")], openStart: value}});
  add(`replace-openEnd-${name}`, hello, {stepType: "replace", from: 1, to: 1, slice: {content: [T("a")], openEnd: value}});
}

// Node mark, attribute and reversed mark steps at every position.
for (const dn of ["hello", "quote", "leafy"]) {
  const doc = docs[dn], end = size(doc);
  for (let pos = -1; pos <= end + 1; pos++) {
    add(`addNodeMark-${dn}-${pos}`, doc, {stepType: "addNodeMark", mark: {type: "em"}, pos});
    add(`removeNodeMark-${dn}-${pos}`, doc, {stepType: "removeNodeMark", mark: {type: "em"}, pos});
    add(`attr-${dn}-${pos}`, doc, {stepType: "attr", pos, attr: "src", value: "y"});
    add(`addMark-reversed-${dn}-${pos}`, doc, {stepType: "addMark", mark: {type: "strong"}, from: pos, to: pos - 1});
  }
}

// replaceAround over the gaps of small documents, including reversed gaps.
for (const dn of ["two", "quote"]) {
  const doc = docs[dn], end = size(doc);
  for (let from = 0; from <= end; from += 2)
    for (let gapFrom = from; gapFrom <= end; gapFrom += 2)
      for (const gapTo of [gapFrom - 1, gapFrom + 1, end])
        for (const [slice, insert] of [[{content: [Q()]}, 1], [{content: [Q(P())], openStart: 1, openEnd: 1}, 1], [null, 0]])
          add(`replaceAround-${dn}-${from}.${end}.${gapFrom}.${gapTo}.${insert}${slice && slice.openStart ? "-open" : ""}${slice ? "" : "-noslice"}`,
              doc, {stepType: "replaceAround", from, to: end, gapFrom, gapTo, insert, ...(slice ? {slice} : {})});
}

const lines = [];
const counts = {};
for (const c of cases) {
  const doc = Node.fromJSON(schema, c.doc);
  // "1e400" stands for the JSON number 1e400 (Infinity, which JSON.stringify cannot write).
  const stepForJs = JSON.parse(JSON.stringify(c.step), (k, v) => (v === "1e400" ? Infinity : v));
  let result;
  let step;
  try {
    step = Step.fromJSON(schema, stepForJs);
  } catch (e) {
    result = {error: e.message, errorName: e.name, stage: "Step.fromJSON"};
  }
  if (!result) {
    try {
      const r = step.apply(doc);
      result = r.doc ? {doc: r.doc.toJSON()} : {failed: r.failed};
    } catch (e) {
      result = {error: e.message, errorName: e.name};
    }
  }
  const kind = result.doc ? "doc" : result.failed ? "failed" : result.errorName;
  counts[kind] = (counts[kind] || 0) + 1;
  lines.push(JSON.stringify({id: c.id, kind: "apply", schema: "basic", doc: c.doc, step: c.step, result})
      .replaceAll('"1e400"', "1e400"));
}
process.stdout.write(lines.join("\n") + "\n");
console.error(`${lines.length} vectors`, counts);
