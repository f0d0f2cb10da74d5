// Generates transform_cases.json: Transform helper calls run by the real
// JavaScript libraries, for rtpm/transform/transform_helpers_test.cc to replay.
//
// Usage (Node 20):
//   mkdir -p /tmp/pmjs && cd /tmp/pmjs && npm init -y && npm install \
//     prosemirror-transform@1.12.6 prosemirror-model@1.25.13
//   NODE_PATH=/tmp/pmjs/node_modules node gen_transform_cases.mjs \
//     ../../../../shared/conformance/schemas > transform_cases.json
//
// The argument is the folder of the conformance schema specs (basic.json,
// extended.json); other schemas are defined here and written inline into the
// output. The cases reconstruct prosemirror-transform's test/test-trans.ts and
// test/test-structure.ts (by name), add cases for the linebreak-replacement
// paths of setBlockType/join and for the query functions (insertPoint,
// dropPoint, joinPoint, canJoin), and finish with seeded random calls of
// replace, replaceRange, replaceRangeWith, deleteRange, setBlockType, lift,
// wrap, split, join, addMark and removeMark over a few documents of the
// basic and the extended schema.
//
// Each case: {name, schema, doc, ops: [{op, ...args, result?}], steps, doc_after, error?,
// inverse_doc?}.
// `ops` are replayed in order on one Transform; query ops carry their `result`;
// `steps` are all steps of the transform (toJSON), `doc_after` its final doc;
// `error` {name, message} when the last op threw (steps/doc_after are then
// the state at the throw); `inverse_doc` is the document that undoing the
// steps gives when that is not the start document.

import {createRequire} from "module"
import fs from "fs"
import path from "path"

const require = createRequire(import.meta.url)
const {Schema, Slice, Fragment, Node: PMNode, Mark, MarkType} = require("prosemirror-model")
const {Transform, liftTarget, findWrapping, canSplit, canJoin, joinPoint, insertPoint, dropPoint} =
  require("prosemirror-transform")

const specDir = process.argv[2]
if (!specDir) throw new Error("usage: node gen_transform_cases.mjs <schemas dir>")

function schemaFromSpec(spec) {
  return new Schema({topNode: spec.topNode, nodes: Object.fromEntries(spec.nodes),
                     marks: Object.fromEntries(spec.marks || [])})
}

const specs = {
  basic: JSON.parse(fs.readFileSync(path.join(specDir, "basic.json"), "utf8")),
  extended: JSON.parse(fs.readFileSync(path.join(specDir, "extended.json"), "utf8")),
}
// Schemas defined inline (written into the output under "schemas").
const inlineSpecs = {
  // test-structure.ts's schema.
  structure: {topNode: "doc", nodes: [
    ["doc", {content: "head? block* sect* closing?"}],
    ["para", {content: "text*", group: "block"}],
    ["head", {content: "text*", marks: ""}],
    ["figure", {content: "caption figureimage", group: "block"}],
    ["quote", {content: "block+", group: "block"}],
    ["figureimage", {}],
    ["caption", {content: "text*", marks: ""}],
    ["sect", {content: "head block* sect*"}],
    ["closing", {content: "text*"}],
    ["text", {group: "inline"}],
    ["fixed", {content: "head para closing", group: "block"}]],
    marks: [["em", {}]]},
  // test-trans.ts: basic with marks allowed on top-level blocks.
  doc_marks: {...specs.basic, nodes: specs.basic.nodes.map(([n, s]) => n == "doc" ? [n, {...s, marks: "_"}] : [n, s])},
  // test-trans.ts: a heading and a body at the top level.
  heading_body: {...specs.basic, nodes: specs.basic.nodes.map(([n, s]) => n == "doc" ? [n, {...s, content: "heading body"}] : [n, s])
                 .concat([["body", {content: "block+"}]])},
  // test-trans.ts: an optional title before the blocks.
  title: {...specs.basic, nodes: specs.basic.nodes.filter(([n]) => n != "doc")
          .concat([["title", {content: "text*"}], ["doc", {content: "title? block*"}]])},
  // test-trans.ts: nodes with fixed content.
  fixed: {topNode: "doc", nodes: [["doc", {content: "block+"}], ["a", {content: "inline*"}],
                                  ["b", {content: "inline*"}], ["block", {content: "a b"}],
                                  ["text", {group: "inline"}]], marks: []},
  // test-trans.ts: an isolating block.
  iso: {...specs.basic, nodes: specs.basic.nodes.concat([["iso", {group: "block", content: "block+", isolating: true}]])},
  // test-trans.ts: non-exclusive and multiply-excluding marks on bare text.
  comment: {topNode: "doc", nodes: [["doc", {content: "text*"}], ["text", {}]],
            marks: [["comment", {excludes: "", attrs: {id: {}}}], ["big", {excludes: "small1 small2"}],
                    ["small1", {}], ["small2", {}]]},
}
const schemas = {}
for (let [name, spec] of Object.entries(specs)) schemas[name] = schemaFromSpec(spec)
for (let [name, spec] of Object.entries(inlineSpecs)) schemas[name] = schemaFromSpec(spec)

// ---- A small tagged-document builder (in the manner of prosemirror-test-builder).
// Node functions return {node, tags} (tags relative to the node's content
// start); mark functions return {flat: [nodes], tags}; strings may hold
// <name> tags.

function isAttrs(x) { return x && typeof x == "object" && !x.node && !x.flat && !Array.isArray(x) }

function parseContent(schema, args) {
  let nodes = [], tags = {}, pos = 0
  for (let arg of args) {
    if (typeof arg == "string") {
      let re = /<(\w+)>/g, m, last = 0
      let text = t => { if (t) { nodes.push(schema.text(t)); pos += t.length } }
      while ((m = re.exec(arg))) { text(arg.slice(last, m.index)); tags[m[1]] = pos; last = re.lastIndex }
      text(arg.slice(last))
    } else if (arg.flat) {
      for (let k in arg.tags) tags[k] = pos + arg.tags[k]
      for (let n of arg.flat) { nodes.push(n); pos += n.nodeSize }
    } else {
      for (let k in arg.tags) tags[k] = pos + 1 + arg.tags[k]
      nodes.push(arg.node); pos += arg.node.nodeSize
    }
  }
  return {nodes, tags}
}

function builders(schema, defs) {
  let out = {}
  for (let [name, [typeName, attrs]] of Object.entries(defs)) {
    if (schema.nodes[typeName]) {
      out[name] = (...args) => {
        let a = attrs
        if (isAttrs(args[0])) a = {...attrs, ...args.shift()}
        let {nodes, tags} = parseContent(schema, args)
        return {node: schema.nodes[typeName].create(a, nodes), tags}
      }
    } else {
      out[name] = (...args) => {
        let a = attrs
        if (isAttrs(args[0])) a = {...attrs, ...args.shift()}
        let mark = schema.mark(typeName, a)
        let {nodes, tags} = parseContent(schema, args)
        return {flat: nodes.map(n => n.mark(mark.addToSet(n.marks))), tags}
      }
    }
  }
  return out
}

const basicDefs = {
  doc: ["doc"], p: ["paragraph"], blockquote: ["blockquote"], pre: ["code_block"],
  h1: ["heading", {level: 1}], h2: ["heading", {level: 2}], li: ["list_item"],
  ul: ["bullet_list"], ol: ["ordered_list"], br: ["hard_break"], img: ["image", {src: "img.png"}],
  hr: ["horizontal_rule"], em: ["em"], strong: ["strong"], code: ["code"], a: ["link", {href: "foo"}],
}
const B = builders(schemas.basic, basicDefs)
const X = builders(schemas.extended, {
  doc: ["doc"], p: ["paragraph"], blockquote: ["blockquote"], pre: ["code_block"],
  h1: ["heading", {level: 1}], li: ["list_item"], ul: ["bullet_list"], br: ["hard_break"],
  img: ["image", {src: "img.png"}], hr: ["horizontal_rule"], callout: ["callout"],
  figure: ["figure"], fimg: ["figure_image"], caption: ["caption"], mention: ["mention", {id: "u1"}],
  em: ["em"], strong: ["strong"], code: ["code"], comment: ["comment", {id: 1}],
})

// ---- Running ops. `runOp` is the reference interpretation of an op record;
// the C++ test interprets the same records the same way.

function markFrom(schema, json) { return Mark.fromJSON(schema, json) }
function nodeFrom(schema, json) { return PMNode.fromJSON(schema, json) }
function typesAfterFrom(schema, list) {
  return list && list.map(t => t && {type: schema.nodes[t.type], attrs: t.attrs})
}
function range(doc, from, to) {
  return doc.resolve(from).blockRange(doc.resolve(to))
}
function wrappersToJSON(ws) {
  return ws && ws.map(w => w.attrs ? {type: w.type.name, attrs: w.attrs} : {type: w.type.name})
}

function runOp(schema, tr, op) {
  let s = schema
  switch (op.op) {
    case "replace": tr.replace(op.from, op.to, Slice.fromJSON(s, op.slice)); break
    case "replaceWith": tr.replaceWith(op.from, op.to, op.nodes.map(n => nodeFrom(s, n))); break
    case "delete": tr.delete(op.from, op.to); break
    case "insert": tr.insert(op.pos, op.nodes.map(n => nodeFrom(s, n))); break
    case "replaceRange": tr.replaceRange(op.from, op.to, Slice.fromJSON(s, op.slice)); break
    case "replaceRangeWith": tr.replaceRangeWith(op.from, op.to, nodeFrom(s, op.node)); break
    case "deleteRange": tr.deleteRange(op.from, op.to); break
    case "lift": {
      let r = range(tr.doc, op.from, op.to)
      let target = r ? liftTarget(r) : null
      op.result = r ? target : "norange"
      if (r && target != null) tr.lift(r, target)
      break
    }
    case "wrap": {
      let r = range(tr.doc, op.from, op.to)
      let w = r ? findWrapping(r, s.nodes[op.type], op.attrs) : null
      op.result = r ? wrappersToJSON(w) : "norange"
      if (w) tr.wrap(r, w)
      break
    }
    case "wrapWith": {
      let r = range(tr.doc, op.from, op.to)
      tr.wrap(r, op.wrappers.map(w => ({type: s.nodes[w.type], attrs: w.attrs})))
      break
    }
    case "setBlockType": tr.setBlockType(op.from, op.to, s.nodes[op.type], op.attrs); break
    case "setNodeMarkup":
      tr.setNodeMarkup(op.pos, op.type ? s.nodes[op.type] : null, op.attrs,
                       op.marks ? op.marks.map(m => markFrom(s, m)) : undefined)
      break
    case "setNodeAttribute": tr.setNodeAttribute(op.pos, op.attr, op.value); break
    case "setDocAttribute": tr.setDocAttribute(op.attr, op.value); break
    case "addNodeMark": tr.addNodeMark(op.pos, markFrom(s, op.mark)); break
    case "removeNodeMark":
      tr.removeNodeMark(op.pos, op.mark ? markFrom(s, op.mark) : s.marks[op.markType]); break
    case "split":
      op.result = canSplit(tr.doc, op.pos, op.depth, typesAfterFrom(s, op.typesAfter))
      tr.split(op.pos, op.depth, typesAfterFrom(s, op.typesAfter))
      break
    case "join":
      op.result = canJoin(tr.doc, op.pos)
      tr.join(op.pos, op.depth)
      break
    case "addMark": tr.addMark(op.from, op.to, markFrom(s, op.mark)); break
    case "removeMark":
      tr.removeMark(op.from, op.to, op.mark ? markFrom(s, op.mark) : op.markType ? s.marks[op.markType] : null)
      break
    case "clearIncompatible": tr.clearIncompatible(op.pos, s.nodes[op.type]); break
    // Queries (no steps).
    case "canSplit": op.result = canSplit(tr.doc, op.pos, op.depth, typesAfterFrom(s, op.typesAfter)); break
    case "canJoin": op.result = canJoin(tr.doc, op.pos); break
    case "joinPoint": { let r = joinPoint(tr.doc, op.pos, op.dir); op.result = r == null ? null : r; break }
    case "insertPoint": op.result = insertPoint(tr.doc, op.pos, s.nodes[op.type]); break
    case "dropPoint": op.result = dropPoint(tr.doc, op.pos, Slice.fromJSON(s, op.slice)); break
    case "liftTarget": {
      let r = range(tr.doc, op.from, op.to)
      op.result = r ? liftTarget(r) : "norange"
      break
    }
    case "findWrapping": {
      let r = range(tr.doc, op.from, op.to)
      op.result = r ? wrappersToJSON(findWrapping(r, s.nodes[op.type], op.attrs)) : "norange"
      break
    }
    case "mapPos": op.result = tr.mapping.map(op.pos, op.assoc); break
    default: throw new Error("unknown op " + op.op)
  }
}

const cases = []
const names = new Set()

function addCase(name, schemaName, doc, ops) {
  if (doc.node) doc = doc.node
  if (names.has(name)) throw new Error("duplicate case name " + name)
  names.add(name)
  let schema = schemas[schemaName]
  // Round-trip the doc through JSON so the case starts from exactly what C++ parses.
  let start = nodeFrom(schema, doc.toJSON())
  let tr = new Transform(start)
  let c = {name, schema: schemaName, doc: start.toJSON(), ops}
  try {
    for (let op of ops) runOp(schema, tr, op)
  } catch (e) {
    c.error = {name: e.name, message: e.message}
  }
  c.steps = tr.steps.map(s => s.toJSON())
  c.doc_after = tr.doc.toJSON()
  // testTransform's inverse check, as JS computes it: undo the steps, last
  // first. Recorded only when it does not give the start doc back.
  let cur = tr.doc
  for (let i = tr.steps.length - 1; i >= 0; i--) cur = tr.steps[i].invert(tr.docs[i]).apply(cur).doc
  if (!cur.eq(start)) c.inverse_doc = cur.toJSON()
  cases.push(c)
  return c
}

const tag = (d, n) => {
  let v = d.tags[n]
  if (v == null) throw new Error("missing tag " + n)
  return v
}
const tagOr = (d, n, m) => d.tags[n] != null ? d.tags[n] : tag(d, m)
const sliceJSON = (d, from, to, includeParents) =>
  (from === undefined ? d.node.slice(tag(d, "a"), tag(d, "b"), includeParents) : d.node.slice(from, to, includeParents)).toJSON()
const bm = (name, attrs) => schemas.basic.mark(name, attrs).toJSON()

// ---- test-trans.ts: addMark
{
  const {doc, p, blockquote, em, strong, a} = B
  let add = (name, d, mark) =>
    addCase("addMark: " + name, "basic", d, [{op: "addMark", from: tag(d, "a"), to: tag(d, "b"), mark}])
  add("should add a mark", doc(p("hello <a>there<b>!")), bm("strong"))
  add("should only add a mark once", doc(p("hello ", strong("<a>there"), "!<b>")), bm("strong"))
  add("should join overlapping marks", doc(p("one <a>two ", em("three<b> four"))), bm("strong"))
  add("should overwrite marks with different attributes", doc(p("this is a ", a("<a>link<b>"))), bm("link", {href: "bar"}))
  add("can add a mark in a nested node", doc(p("before"), blockquote(p("the variable is called <a>i<b>")), p("after")), bm("code"))
  add("can add a mark across blocks", doc(p("hi <a>this"), blockquote(p("is")), p("a docu<b>ment"), p("!")), bm("em"))
  add("skips nodes that don't allow the mark", doc(p("a<a>b"), B.pre("code"), p("c<b>d")), bm("strong"))
  add("adds to inline leaves", doc(p("a<a>b", B.img(), B.br(), "c<b>d")), bm("em"))
  let cs = schemas.comment
  addCase("addMark: does not remove non-excluded marks of the same type", "comment",
          cs.node("doc", null, cs.text("hi", [cs.mark("comment", {id: 10})])),
          [{op: "addMark", from: 0, to: 2, mark: {type: "comment", attrs: {id: 20}}}])
  addCase("addMark: can remove multiple excluded marks", "comment",
          cs.node("doc", null, cs.text("hi", [cs.mark("small1"), cs.mark("small2")])),
          [{op: "addMark", from: 0, to: 2, mark: {type: "big"}}])
}

// ---- removeMark
{
  const {doc, p, blockquote, em, strong, a} = B
  let rem = (name, d, mark, markType) =>
    addCase("removeMark: " + name, "basic", d,
            [{op: "removeMark", from: tag(d, "a"), to: tag(d, "b"), ...(mark ? {mark} : {}), ...(markType ? {markType} : {})}])
  rem("can cut a gap", doc(p(em("hello <a>world<b>!"))), bm("em"))
  rem("doesn't do anything when there's no mark", doc(p(em("hello"), " <a>world<b>!")), bm("em"))
  rem("can remove marks from nested nodes", doc(p(em("one ", strong("<a>two<b>"), " three"))), bm("strong"))
  rem("can remove a link", doc(p("<a>hello ", a("link<b>"))), bm("link", {href: "foo"}))
  rem("doesn't remove a non-matching link", doc(p("<a>hello ", a("link<b>"))), bm("link", {href: "bar"}))
  rem("can remove across blocks", doc(blockquote(p(em("much <a>em")), p(em("here too"))), p("between", em("...")), p(em("end<b>"))), bm("em"))
  rem("can remove everything", doc(p("<a>hello, ", em("this is ", strong("much"), " ", a("markup<b>")))), null)
  rem("can remove a mark type", doc(p("<a>x", a("link"), a({href: "bar"}, "other"), "y<b>")), null, "link")
  rem("removes from inline leaves", doc(p("<a>", em("a", B.img(), "b"), "<b>")), bm("em"))
  let cs = schemas.comment
  addCase("removeMark: can remove more than one mark of the same type from a block", "comment",
          cs.node("doc", null, cs.text("hi", [cs.mark("comment", {id: 1}), cs.mark("comment", {id: 2})])),
          [{op: "removeMark", from: 0, to: 2, markType: "comment"}])
}

// ---- insert
{
  const {doc, p, blockquote} = B
  const s = schemas.basic
  let ins = (name, d, nodes) =>
    addCase("insert: " + name, "basic", d, [{op: "insert", pos: tag(d, "a"), nodes: nodes.map(n => n.toJSON())}])
  ins("can insert a break", doc(p("hello<a>there")), [s.node("hard_break")])
  ins("can insert an empty paragraph at the top", doc(p("one"), "<a>", p("two<2>")), [s.node("paragraph")])
  ins("can insert two block nodes", doc(p("one"), "<a>", p("two<2>")),
      [s.node("paragraph", null, [s.text("hi")]), s.node("horizontal_rule")])
  ins("can insert at the end of a blockquote", doc(blockquote(p("he<before>y"), "<a>"), p("after<after>")), [s.node("paragraph")])
  ins("can insert at the start of a blockquote", doc(blockquote("<a>", p("he<1>y")), p("after<2>")), [s.node("paragraph")])
  ins("will wrap a node with the suitable parent", doc(p("foo<a>bar")), [s.nodes.list_item.createAndFill()])
}

// ---- delete
{
  const {doc, p, blockquote, pre, img, em} = B
  let del = (name, d) => addCase("delete: " + name, "basic", d, [{op: "delete", from: tag(d, "a"), to: tag(d, "b")}])
  del("can delete a word", doc(p("<1>one"), "<a>", p("tw<2>o"), "<b>", p("<3>three")))
  del("preserves content constraints", doc(blockquote("<a>", p("hi"), "<b>"), p("x")))
  del("preserves positions after the range", doc(blockquote(p("a"), "<a>", p("b"), "<b>"), p("c<1>")))
  del("doesn't join incompatible nodes", doc(pre("fo<a>o"), p("b<b>ar", img())))
  del("doesn't join when marks are incompatible", doc(pre("fo<a>o"), p(em("b<b>ar"))))
}

// ---- join
{
  const {doc, p, blockquote, h1, ol, li} = B
  let join = (name, d) => addCase("join: " + name, "basic", d, [{op: "join", pos: tag(d, "a"), depth: 1}])
  join("can join blocks", doc(blockquote(p("<before>a")), "<a>", blockquote(p("b")), p("after<after>")))
  join("can join compatible blocks", doc(h1("foo"), "<a>", p("bar")))
  join("can join nested blocks", doc(blockquote(blockquote(p("a"), p("b<before>")), "<a>", blockquote(p("c"), p("d<after>")))))
  join("can join lists", doc(ol(li(p("one")), li(p("two"))), "<a>", ol(li(p("three")))))
  join("can join list items", doc(ol(li(p("one")), li(p("two")), "<a>", li(p("three")))))
  join("can join textblocks", doc(p("foo"), "<a>", p("bar")))
  let d = doc(blockquote(p("a")), "<a>", blockquote(p("b")))
  addCase("join: depth 2", "basic", d, [{op: "join", pos: tag(d, "a"), depth: 2}])
  d = doc(B.pre("one"), "<a>", p("t", B.em("w"), "o"))
  addCase("join: clears marks not allowed in a code block", "basic", d, [{op: "join", pos: tag(d, "a"), depth: 1}])
  d = doc(B.pre("one"), "<a>", p("a", B.img(), "b"))
  addCase("join: drops nodes not allowed in a code block", "basic", d, [{op: "join", pos: tag(d, "a"), depth: 1}])
  // Linebreak replacement: a paragraph with hard breaks joined into a code block, and back.
  d = X.doc(X.pre("one"), "<a>", X.p("two", X.br(), "three"))
  addCase("join: converts hard breaks to newlines in a pre block", "extended", d, [{op: "join", pos: tag(d, "a"), depth: 1}])
  d = X.doc(X.p("one"), "<a>", X.pre("two\nthree\nfour"))
  addCase("join: converts newlines to hard breaks after joining into a paragraph", "extended", d,
          [{op: "join", pos: tag(d, "a"), depth: 1}])
  d = X.doc(X.p("one"), "<a>", X.p("two", X.br(), "x"))
  addCase("join: keeps hard breaks between paragraphs", "extended", d, [{op: "join", pos: tag(d, "a"), depth: 1}])
}

// ---- split
{
  const {doc, p, blockquote, h1, ol, li} = B
  let split = (name, d, depth, typesAfter) =>
    addCase("split: " + name, "basic", d,
            [{op: "split", pos: tag(d, "a"), ...(depth ? {depth} : {}), ...(typesAfter ? {typesAfter} : {})}])
  split("can split a textblock", doc(p("foo<a>bar")))
  split("correctly maps positions", doc(p("<1>a"), p("<2>foo<a>bar<3>"), p("<4>b")))
  split("can split two deep", doc(blockquote(blockquote(p("foo<a>bar"))), p("after<1>")), 2)
  split("can split three deep", doc(blockquote(blockquote(p("foo<a>bar"))), p("after<1>")), 3)
  split("can split at end", doc(blockquote(p("hi<a>"))))
  split("can split at start", doc(blockquote(p("<a>hi"))))
  split("can split inside a list item", doc(ol(li(p("one<1>")), li(p("two<a>three")), li(p("four<2>")))))
  split("can split a list item", doc(ol(li(p("one<1>")), li(p("two<a>three")), li(p("four<2>")))), 2)
  split("respects the type param", doc(h1("hell<a>o!")), undefined, [{type: "paragraph"}])
  split("respects the type param with attrs", doc(p("hell<a>o!")), undefined, [{type: "heading", attrs: {level: 3}}])
  split("with a null type in the list", doc(ol(li(p("a<a>b")))), 2, [null, {type: "paragraph"}])
  split("preserves content constraints before", doc(blockquote("<a>", p("x"))))
  split("preserves content constraints after", doc(blockquote(p("x"), "<a>")))
}

// ---- lift
{
  const {doc, p, blockquote, ul, li} = B
  let lift = (name, d) =>
    addCase("lift: " + name, "basic", d, [{op: "lift", from: tag(d, "a"), to: tagOr(d, "b", "a")}])
  lift("can lift a block out of the middle of its parent", doc(blockquote(p("<before>one"), p("<a>two"), p("<after>three"))))
  lift("can lift a block from the start of its parent", doc(blockquote(p("<a>two"), p("<after>three"))))
  lift("can lift a block from the end of its parent", doc(blockquote(p("<before>one"), p("<a>two"))))
  lift("can lift a single child", doc(blockquote(p("<a>t<in>wo"))))
  lift("can lift multiple blocks", doc(blockquote(blockquote(p("on<a>e"), p("tw<b>o")), p("three"))))
  lift("finds a valid range from a lopsided selection", doc(p("start"), blockquote(blockquote(p("a"), p("<a>b")), p("<b>c"))))
  lift("can lift from a nested node", doc(blockquote(blockquote(p("<1>one"), p("<a>two"), p("<3>three"), p("<b>four"), p("<5>five")))))
  lift("can lift from a list", doc(ul(li(p("one")), li(p("two<a>")), li(p("three")))))
  lift("can lift from the end of a list", doc(ul(li(p("a")), li(p("b<a>")), "<1>")))
  lift("has no target at the top level", doc(p("a<a>b")))
}

// ---- wrap
{
  const {doc, p, blockquote, ol, li} = B
  let wrap = (name, d, type, attrs) =>
    addCase("wrap: " + name, "basic", d,
            [{op: "wrap", from: tag(d, "a"), to: tagOr(d, "b", "a"), type, ...(attrs ? {attrs} : {})}])
  wrap("can wrap in a blockquote", doc(p("one"), p("<a>two"), p("three")), "blockquote")
  wrap("can wrap two paragraphs", doc(p("one<1>"), p("<a>two"), p("<b>three"), p("four<4>")), "blockquote")
  wrap("can wrap in a list", doc(p("<a>one"), p("<b>two")), "ordered_list")
  wrap("can wrap in a list with attrs", doc(p("<a>one"), p("<b>two")), "ordered_list", {order: 3})
  wrap("can wrap in a nested list", doc(ol(li(p("<1>one")), li(p("..."), p("<a>two"), p("<b>three")), li(p("<4>four")))), "ordered_list")
  wrap("includes half-covered parent nodes", doc(blockquote(p("<1>one"), p("two<a>")), p("three<b>")), "blockquote")
  wrap("finds no wrapping for a list item", doc(p("<a>one")), "list_item")
  let d = doc(p("<a>one"))
  addCase("wrap: throws for an invalid wrapper list", "basic", d,
          [{op: "wrapWith", from: 1, to: 1, wrappers: [{type: "bullet_list"}, {type: "blockquote"}]}])
  addCase("wrap: with explicit wrappers", "basic", d,
          [{op: "wrapWith", from: 1, to: 1, wrappers: [{type: "ordered_list", attrs: {order: 2}}, {type: "list_item"}]}])
}

// ---- setBlockType
{
  const {doc, p, blockquote, h1, h2, pre, em, img, ul, li} = B
  let type = (name, d, nodeType, attrs) =>
    addCase("setBlockType: " + name, "basic", d,
            [{op: "setBlockType", from: tag(d, "a"), to: tagOr(d, "b", "a"), type: nodeType, ...(attrs ? {attrs} : {})}])
  type("can change a single textblock", doc(p("am<a> i")), "heading", {level: 2})
  type("can change multiple blocks", doc(h1("<a>hello"), p("there"), p("<b>you"), p("end")), "code_block")
  type("can change a wrapped block", doc(blockquote(p("one<a>"), p("two<b>"))), "heading", {level: 1})
  type("clears markup when necessary", doc(p("hello<a> ", em("world"))), "code_block")
  type("only clears markup when needed", doc(p("hello<a> ", em("world"))), "heading", {level: 1})
  type("skips nodes that can't be changed due to constraints", doc(p("<a>hello", img()), p("okay"), ul(li(p("foo<b>")))), "code_block")
  type("leaves nodes that already have the markup", doc(h1("<a>a"), h2("b<b>")), "heading", {level: 2})
  type("drops hard breaks in a code block without a linebreak replacement", doc(p("<a>a", B.br(), "b")), "code_block")
  type("turns newlines into spaces in a paragraph", doc(pre("<a>a\nb\r\nc")), "paragraph")
  let d = doc(p("f<x>oob<y>ar"), p("baz<a>"))
  addCase("setBlockType: works after another step", "basic", d,
          [{op: "delete", from: tag(d, "x"), to: tag(d, "y")},
           {op: "mapPos", pos: tag(d, "a"), assoc: 1},
           {op: "setBlockType", from: tag(d, "a") - 3, to: tag(d, "a") - 3, type: "heading", attrs: {level: 1}}])
  d = doc(p("<a>x"))
  addCase("setBlockType: rejects a non-textblock type", "basic", d,
          [{op: "setBlockType", from: 1, to: 1, type: "blockquote"}])
  // Linebreak replacement (extended schema: code_block is whitespace "pre", hard_break the replacement).
  const {p: xp, pre: xpre, br: xbr, h1: xh1, doc: xdoc, em: xem} = X
  let xtype = (name, d, nodeType, attrs) =>
    addCase("setBlockType: " + name, "extended", d,
            [{op: "setBlockType", from: tag(d, "a"), to: tagOr(d, "b", "a"), type: nodeType, ...(attrs ? {attrs} : {})}])
  xtype("replaces hard breaks with newlines in a pre block", xdoc(xp("<a>one", xbr(), "two", xbr(), "three")), "code_block")
  xtype("replaces newlines with hard breaks", xdoc(xpre("<a>one\ntwo\nthree")), "paragraph")
  xtype("replaces newlines with hard breaks across blocks", xdoc(xpre("<a>a\nb"), xp("c"), xpre("d\ne<b>")), "heading", {level: 2})
  xtype("converts marked breaks and clears marks", xdoc(xp("<a>", xem("one", xbr(), "two"))), "code_block")
  xtype("keeps hard breaks between normal blocks", xdoc(xp("<a>one", xbr(), "two")), "heading")
}

// ---- setNodeMarkup, setNodeAttribute, setDocAttribute, node marks, clearIncompatible
{
  const {doc, p, h1, img, em, a, blockquote} = B
  let markup = (name, d, type, attrs, marks) =>
    addCase("setNodeMarkup: " + name, "basic", d,
            [{op: "setNodeMarkup", pos: tag(d, "a"), type, ...(attrs ? {attrs} : {}), ...(marks ? {marks} : {})}])
  markup("can change a textblock", doc("<a>", p("foo")), "heading", {level: 1})
  markup("can change an inline node", doc(p("foo<a>", img(), "bar")), "image", {src: "bar", alt: "y"})
  markup("keeps the type when none is given", doc("<a>", h1("foo")), null, {level: 3})
  markup("can set marks on an inline node", doc(p("foo<a>", img(), "bar")), null, {src: "x"}, [bm("em")])
  markup("rejects invalid content", doc("<a>", blockquote(p("foo"))), "paragraph")
  markup("fails when there is no node", doc(p("foo<a>")), "heading")
  let d = doc("<a>", h1("a"))
  addCase("setNodeAttribute: sets an attribute", "basic", d, [{op: "setNodeAttribute", pos: 0, attr: "level", value: 2}])
  d = X.doc(X.p("a"))
  addCase("setDocAttribute: sets a doc attribute", "extended", d, [{op: "setDocAttribute", attr: "lang", value: "de"}])
  let add = (name, d, mark) => addCase("addNodeMark: " + name, "basic", d, [{op: "addNodeMark", pos: tag(d, "a"), mark}])
  add("adds a mark", doc(p("<a>", img())), bm("em"))
  add("doesn't duplicate a mark", doc(p("<a>", em(img()))), bm("em"))
  add("replaces a mark", doc(p("<a>", a(img()))), bm("link", {href: "x"}))
  let rm = (name, d, mark, markType) =>
    addCase("removeNodeMark: " + name, "basic", d,
            [{op: "removeNodeMark", pos: tag(d, "a"), ...(mark ? {mark} : {}), ...(markType ? {markType} : {})}])
  rm("removes a mark", doc(p("<a>", em(img()))), bm("em"))
  rm("doesn't do anything when there is no mark", doc(p("<a>", img())), bm("em"))
  rm("can remove a mark from multiple marks", doc(p("<a>", em(a(img())))), bm("em"))
  rm("removes a mark by type", doc(p("<a>", em(a(img())))), null, "link")
  rm("fails when there is no node", doc(p("x<a>")), bm("em"))
  let ci = (name, d, type) => addCase("clearIncompatible: " + name, "basic", d, [{op: "clearIncompatible", pos: tag(d, "a"), type}])
  ci("clears marks and nodes for a code block", doc("<a>", p("a", em("b"), img(), "c\nd")), "code_block")
  ci("replaces newlines with spaces", doc("<a>", p("a\nb\r\nc\rd")), "heading")
  ci("fills required content", doc("<a>", p("x")), "bullet_list")
}

// ---- replace
{
  const {doc, p, blockquote, h1, ol, ul, li, em, br, pre} = B
  const s = schemas.basic
  let repl = (name, d, source, schemaName = "basic") => {
    let slice = !source ? null : source instanceof Slice ? source.toJSON()
      : source.node.slice(tag(source, "a"), tag(source, "b")).toJSON()
    return addCase("replace: " + name, schemaName, d,
                   [{op: "replace", from: tag(d, "a"), to: tagOr(d, "b", "a"), slice}])
  }
  repl("can delete text", doc(p("hell<a>o y<b>ou")), null)
  repl("can join blocks", doc(p("hell<a>o"), p("y<b>ou")), null)
  repl("can delete right-leaning lopsided regions", doc(blockquote(p("ab<a>c")), "<b>", p("def")), null)
  repl("can delete left-leaning lopsided regions", doc(p("abc"), "<a>", blockquote(p("d<b>ef"))), null)
  repl("can overwrite text", doc(p("hell<a>o y<b>ou")), doc(p("<a>i k<b>")))
  repl("can insert text", doc(p("hell<a><b>o")), doc(p("<a>i k<b>")))
  repl("can add a textblock", doc(p("hello<a>you")), doc("<a>", p("there"), "<b>"))
  repl("can insert while joining textblocks", doc(h1("he<a>llo"), p("arg<b>!")), doc(p("1<a>2<b>3")))
  repl("will match open list items", doc(ol(li(p("one<a>")), li(p("three")))), doc(ol(li(p("<a>half")), li(p("two")), "<b>")))
  repl("merges blocks across deleted content", doc(p("a<a>"), p("b"), p("<b>c")), null)
  repl("can merge text down from nested nodes", doc(h1("wo<a>ah"), blockquote(p("ah<b>ha"))), null)
  repl("can merge text up into nested nodes", doc(blockquote(p("foo<a>bar")), p("middle"), h1("quux<b>baz")), null)
  repl("will join multiple levels when possible", doc(blockquote(ul(li(p("a")), li(p("b<a>")), li(p("c")), li(p("<b>d")), li(p("e"))))), null)
  repl("can replace a piece of text", doc(p("he<before>llo<a> w<after>orld")), doc(p("<a> big<b>")))
  repl("respects open empty nodes at the edges", doc(p("one<a>two")), doc(p("a<a>"), p("hello"), p("<b>b")))
  repl("can completely overwrite a paragraph", doc(p("one<a>"), p("t<inside>wo"), p("<b>three<end>")), doc(p("a<a>"), p("TWO"), p("<b>b")))
  repl("joins marks", doc(p("foo ", em("bar<a>baz"), "<b> quux")), doc(p("foo ", em("xy<a>zzy"), " foo<b>")))
  repl("can replace text with a break", doc(p("foo<a>b<inside>b<b>bar")), doc(p("<a>", br(), "<b>")))
  repl("can join different blocks", doc(h1("hell<a>o"), p("by<b>e")), null)
  repl("can restore a list parent", doc(h1("hell<a>o"), "<b>"), doc(ol(li(p("on<a>e")), li(p("tw<b>o")))))
  repl("can restore a list parent and join text after it", doc(h1("hell<a>o"), p("yo<b>u")), doc(ol(li(p("on<a>e")), li(p("tw<b>o")))))
  repl("can insert into an empty block", doc(p("a"), p("<a>"), p("b")), doc(p("x<a>y<b>z")))
  repl("doesn't change the nesting of blocks after the selection", doc(p("one<a>"), p("two"), p("three")), doc(p("outside<a>"), blockquote(p("inside<b>"))))
  repl("can close a parent node", doc(blockquote(p("b<a>c"), p("d<b>e"), p("f"))), doc(blockquote(p("x<a>y")), p("after"), "<b>"))
  repl("accepts lopsided regions", doc(blockquote(p("b<a>c"), p("d<b>e"), p("f"))), doc(blockquote(p("x<a>y")), p("z<b>")))
  repl("can close nested parent nodes", doc(blockquote(blockquote(p("one"), p("tw<a>o"), p("t<b>hree<3>"), p("four<4>")))),
       doc(ol(li(p("hello<a>world")), li(p("bye"))), p("ne<b>xt")))
  repl("will close open nodes to the right", doc(p("x"), "<a>"), doc("<a>", ul(li(p("a")), li("<b>", p("b")))))
  repl("can delete the whole document", doc("<a>", h1("hi"), p("you"), "<b>"), null)
  repl("preserves an empty parent to the left", doc(blockquote("<a>", p("hi")), p("b<b>x")), doc(p("<a>hi<b>")))
  repl("drops an empty parent to the right", doc(p("x<a>hi"), blockquote(p("yy"), "<b>"), p("c")), doc(p("<a>hi<b>")))
  repl("drops an empty node at the start of the slice", doc(p("<a>x")), doc(blockquote(p("hi"), "<a>"), p("b<b>")))
  repl("drops an empty node at the end of the slice", doc(p("<a>x")), doc(p("b<a>"), blockquote("<b>", p("hi"))))
  repl("does nothing when given an unfittable slice", p("<a>x"),
       new Slice(Fragment.from([s.node("blockquote", null, [s.node("paragraph")]), s.node("horizontal_rule")]), 0, 0))
  repl("doesn't drop content when things only fit at the top level", doc(p("foo"), "<a>", p("bar<b>")), ol(li(p("<a>a")), li(p("b<b>"))))
  repl("preserves openEnd when top isn't placed", doc(ul(li(p("ab<a>cd")), li(p("ef<b>gh")))),
       doc(ul(li(p("ABCD")), li(p("EFGH")))).node.slice(5, 13, true))
  repl("will auto-close a list item when it fits in a list", doc(ul(li(p("foo")), "<a>", li(p("bar")))), ul(li(p("a<a>bc")), li(p("de<b>f"))))
  repl("finds the proper openEnd value when unwrapping a deep slice", doc("<a>", p(), "<b>"),
       doc(blockquote(blockquote(blockquote(p("hi"))))).node.slice(3, 6, true))
  repl("inserts a code block into a paragraph", doc(p("ab<a>cd")), doc("<a>", pre("x"), "<b>"))
  repl("pastes text into a code block", doc(pre("ab<a>cd")), doc(p("<a>x", em("y"), "z<b>")))

  let ms = schemas.doc_marks
  addCase("replace: preserves marks on block nodes", "doc_marks",
          ms.node("doc", null, [ms.node("paragraph", null, [ms.text("hey")], [ms.mark("em")]),
                                ms.node("paragraph", null, [ms.text("ok")], [ms.mark("strong")])]),
          [{op: "replace", from: 2, to: 7, slice: ms.node("doc", null, [ms.node("paragraph", null, [ms.text("hey")], [ms.mark("em")]),
                                ms.node("paragraph", null, [ms.text("ok")], [ms.mark("strong")])]).slice(2, 7).toJSON()}])
  addCase("replace: preserves marks on open slice block nodes", "doc_marks",
          ms.node("doc", null, [ms.node("paragraph", null, [ms.text("a")])]),
          [{op: "replace", from: 3, to: 3, slice: ms.node("doc", null, [
            ms.node("paragraph", null, [ms.text("b")], [ms.mark("em")])]).slice(1, 3).toJSON()}])

  let hs = schemas.heading_body
  let h = (t) => hs.node("heading", {level: 1}, t ? [hs.text(t)] : [])
  let hp = (t) => hs.node("paragraph", null, t ? [hs.text(t)] : [])
  let hb = (...c) => hs.node("body", null, c)
  let hdoc = (...c) => hs.node("doc", null, c)
  let hcase = (name, d, from, to, sfrom, sto) =>
    addCase("replace: " + name, "heading_body", d, [{op: "replace", from, to, slice: d.slice(sfrom, sto).toJSON()}])
  let d1 = hdoc(h("Head"), hb(hp("Content")))
  hcase("can unwrap a paragraph when replacing into a strict schema", d1, 0, d1.content.size, 7, 16)
  hcase("can unwrap a body after a placed node", d1, 7, 7, 0, d1.content.size)
  let d2 = hdoc(h("Head"), hb(hp("One"), hp("Two")))
  hcase("can wrap a paragraph in a body, even when it's not the first node", d2, 0, d2.content.size, 8, 16)
  let d3 = hdoc(h("Head"), hb(h("One"), hp("Two")))
  hcase("can split a fragment and place its children in different parents", d3, 0, d3.content.size, 7, 17)
  let d4 = hdoc(h("Head"), hb(hp("One")))
  hcase("will insert filler nodes before a node when necessary", d4, 0, d4.content.size, 6, d4.content.size)

  let ts = schemas.title
  addCase("replace: doesn't fail when moving text would solve an unsatisfied content constraint", "title",
          ts.node("doc", null, ts.node("title", null, ts.text("hi"))),
          [{op: "replace", from: 1, to: 1, slice: ts.node("bullet_list", null, [
            ts.node("list_item", null, ts.node("paragraph", null, ts.text("one"))),
            ts.node("list_item", null, ts.node("paragraph", null, ts.text("two")))]).slice(2, 12).toJSON()}])
  addCase("replace: doesn't fail when pasting a half-open slice with a title and a code block into an empty title", "title",
          ts.node("doc", null, [ts.node("title", null, [])]),
          [{op: "replace", from: 1, to: 1, slice: ts.node("doc", null, [
            ts.node("title", null, ts.text("title")), ts.node("code_block", null, ts.text("two"))]).slice(1).toJSON()}])
  addCase("replace: doesn't fail when pasting a half-open slice with a heading and a code block into an empty title", "title",
          ts.node("doc", null, [ts.node("title")]),
          [{op: "replace", from: 1, to: 1, slice: ts.node("doc", null, [
            ts.node("heading", {level: 1}, [ts.text("heading")]), ts.node("code_block", null, [ts.text("code")])]).slice(1).toJSON()}])

  let fs_ = schemas.fixed
  let fdoc = fs_.node("doc", null, [fs_.node("block", null, [fs_.node("a", null, [fs_.text("aa")]), fs_.node("b", null, [fs_.text("bb")])])])
  addCase("replace: can handle replacing in nodes with fixed content", "fixed", fdoc,
          [{op: "replace", from: 3, to: fdoc.content.size, slice: fdoc.slice(3, fdoc.content.size).toJSON()}])

  let is = schemas.iso
  let idoc = is.node("doc", null, [is.node("paragraph", null, [is.text("one")])])
  let iso = Fragment.from(is.node("iso", null, [is.node("paragraph", null, is.text("two"))]))
  addCase("replace: keeps isolating nodes together", "iso", idoc, [{op: "replace", from: 2, to: 3, slice: new Slice(iso, 2, 0).toJSON()}])
  addCase("replace: keeps isolating nodes together (open both sides)", "iso", idoc,
          [{op: "replace", from: 2, to: 3, slice: new Slice(iso, 2, 2).toJSON()}])
  let dd = doc(p("a<a>b"))
  addCase("replaceWith: replaces with a text node", "basic", dd,
          [{op: "replaceWith", from: 1, to: 2, nodes: [s.text("xy", [s.mark("em")]).toJSON()]}])
}

// ---- test-structure.ts (its own schema)
{
  const s = schemas.structure
  const n = (name, ...content) => s.nodes[name].create(null, content)
  const t = (str, em) => s.text(str, em ? [s.mark("em")] : null)
  const sdoc = n("doc", n("head", t("Head")), n("para", t("Intro")),
                 n("sect", n("head", t("Section head")),
                   n("sect", n("head", t("Subsection head")), n("para", t("Subtext")),
                     n("figure", n("caption", t("Figure caption")), n("figureimage")),
                     n("quote", n("para", t("!"))))),
                 n("sect", n("head", t("S2")), n("para", t("Yes"))),
                 n("closing", t("fin")))
  let split = (name, pos, depth, after) =>
    addCase("canSplit: " + name, "structure", sdoc,
            [{op: "canSplit", pos, ...(depth ? {depth} : {}), ...(after ? {typesAfter: [{type: after}]} : {})}])
  split("can't at start", 0)
  split("can't in head", 3)
  split("can by making head a para", 3, 1, "para")
  split("can't on top level", 6)
  split("can in regular para", 8)
  split("can't at start of section", 14)
  split("can't in section head", 17)
  split("can if also splitting the section", 17, 2)
  split("can if making the remaining head a para", 18, 1, "para")
  split("can't after the section head", 46)
  split("can in the first section para", 48)
  split("can't in the figure caption", 60)
  split("can't if it also splits the figure", 62, 2)
  split("can't after the figure caption", 72)
  split("can in the first para in a quote", 76)
  split("can if it also splits the quote", 77, 2)
  split("can't at the end of the document", 97)
  let lt = (name, pos) => addCase("liftTarget: " + name, "structure", sdoc, [{op: "liftTarget", from: pos, to: pos}])
  lt("can't at the start of the doc", 0)
  lt("can't in the heading", 3)
  lt("can't in a subsection para", 52)
  lt("can't in a figure caption", 70)
  lt("can from a quote", 76)
  lt("can't in a section head", 86)
  let fw = (name, from, to, type) => addCase("findWrapping: " + name, "structure", sdoc, [{op: "findWrapping", from, to, type}])
  fw("can wrap the whole doc in a section", 0, 92, "sect")
  fw("can't wrap a head before a para in a section", 4, 4, "sect")
  fw("can wrap a top paragraph in a quote", 8, 8, "quote")
  fw("can't wrap a section head in a quote", 18, 18, "quote")
  fw("can wrap a figure in a quote", 55, 74, "quote")
  fw("can't wrap a head in a figure", 90, 90, "figure")
  let repl = (name, d, from, to, content, openStart, openEnd) =>
    addCase("structure replace: " + name, "structure", d,
            [{op: "replace", from, to, slice: content ? new Slice(content.content, openStart, openEnd).toJSON() : null}])
  repl("automatically adds a heading to a section", n("doc", n("sect", n("head", t("foo")), n("para", t("bar")))),
       6, 6, n("doc", n("sect"), n("sect")), 1, 1)
  repl("suppresses impossible inputs", n("doc", n("para", t("a")), n("para", t("b"))), 3, 3, n("doc", n("closing", t("."))), 0, 0)
  repl("adds necessary nodes to the left", n("doc", n("sect", n("head", t("foo")), n("para", t("bar")))),
       1, 3, n("doc", n("sect"), n("sect", n("head", t("hi")))), 1, 2)
  repl("adds a caption to a figure", n("doc"), 0, 0, n("doc", n("figure", n("figureimage"))), 1, 0)
  repl("adds an image to a figure", n("doc"), 0, 0, n("doc", n("figure", n("caption"))), 0, 1)
  repl("can join figures", n("doc", n("figure", n("caption"), n("figureimage")), n("figure", n("caption"), n("figureimage"))),
       3, 8, null, 0, 0)
  repl("adds necessary nodes to a parent node", n("doc", n("sect", n("head"), n("figure", n("caption"), n("figureimage")))),
       7, 9, n("doc", n("para", t("hi"))), 0, 0)
}

// ---- replaceRange
{
  const {doc, p, blockquote, h1, ul, li} = B
  let repl = (name, d, source) => {
    let slice = source.node.slice(tag(source, "a"), tag(source, "b"), true).toJSON()
    addCase("replaceRange: " + name, "basic", d, [{op: "replaceRange", from: tag(d, "a"), to: tagOr(d, "b", "a"), slice}])
  }
  repl("replaces inline content", doc(p("foo<a>b<b>ar")), p("<a>xx<b>"))
  repl("replaces an empty paragraph with a heading", doc(p("<a>")), doc(h1("<a>text<b>")))
  repl("replaces a fully selected paragraph with a heading", doc(p("<a>abc<b>")), doc(h1("<a>text<b>")))
  repl("recreates a list when overwriting a paragraph", doc(p("<a>")), doc(ul(li(p("<a>foobar<b>")))))
  repl("drops context when it doesn't fit", doc(ul(li(p("<a>")), li(p("b")))), doc(h1("<a>h<b>")))
  repl("can replace a node when endpoints are in different children", doc(p("a"), ul(li(p("<a>b")), li(p("c"), blockquote(p("d<b>")))), p("e")), doc(h1("<a>x<b>")))
  repl("keeps defining context when inserting at the start of a textblock", doc(p("<a>foo")), doc(ul(li(p("<a>one")), li(p("two<b>")))))
  repl("drops defining context when it matches the parent structure", doc(blockquote(p("<a>"))), doc(blockquote(p("<a>one<b>"))))
  repl("closes open nodes at the start", doc("<a>", p("abc"), "<b>"), doc(ul(li("<a>")), p("def"), "<b>"))
  let d = doc(p("a<a>b<b>c"))
  addCase("replaceRange: with an empty slice deletes the range", "basic", d,
          [{op: "replaceRange", from: tag(d, "a"), to: tag(d, "b"), slice: null}])
}

// ---- replaceRangeWith
{
  const {doc, p, blockquote, h1} = B
  const s = schemas.basic
  let img = s.node("image", {src: "img.png"}), hr = s.node("horizontal_rule")
  let repl = (name, d, node) =>
    addCase("replaceRangeWith: " + name, "basic", d, [{op: "replaceRangeWith", from: tag(d, "a"), to: tagOr(d, "b", "a"), node: node.toJSON()}])
  repl("can insert an inline node", doc(p("fo<a>o")), img)
  repl("can replace content with an inline node", doc(p("<a>fo<b>o")), img)
  repl("can replace a block node with an inline node", doc("<a>", blockquote(p("a")), "<b>"), img)
  repl("can replace a block node with a block node", doc("<a>", blockquote(p("a")), "<b>"), hr)
  repl("can insert a block quote in the middle of text", doc(p("foo<a>bar")), hr)
  repl("can replace empty parents with a block node", doc(blockquote(p("<a>"))), hr)
  repl("can move an inserted block forward out of parent nodes", doc(h1("foo<a>")), hr)
  repl("can move an inserted block backward out of parent nodes", doc(p("a"), blockquote(p("<a>b"))), hr)
}

// ---- deleteRange
{
  const {doc, p, blockquote, h1, ul, li} = B
  let del = (name, d) => addCase("deleteRange: " + name, "basic", d, [{op: "deleteRange", from: tag(d, "a"), to: tagOr(d, "b", "a")}])
  del("deletes the given range", doc(p("fo<a>o"), p("b<b>ar")))
  del("deletes empty parent nodes", doc(blockquote(ul(li("<a>", p("foo"), "<b>")), p("x"))))
  del("doesn't delete parent nodes that can be empty", doc(p("<a>foo<b>")))
  del("is okay with deleting empty ranges", doc(p("<a><b>")))
  del("will delete a whole covered node even if selection ends are in different nodes", doc(ul(li(p("<a>foo")), li(p("bar<b>"))), p("hi")))
  del("leaves wrapping textblock when deleting all text in it", doc(p("a"), p("<a>b<b>")))
  del("expands to cover the whole parent node", doc(p("a"), blockquote(blockquote(p("<a>foo")), p("bar<b>")), p("b")))
  del("expands to cover the whole document", doc(h1("<a>foo"), p("bar"), blockquote(p("baz<b>"))))
  del("doesn't expand beyond same-depth textblocks", doc(h1("<a>foo"), p("bar"), p("baz<b>")))
  del("deletes the open token when deleting from start to past end of block", doc(h1("<a>foo"), p("b<b>ar")))
  del("doesn't delete the open token when the range end is at end of its own block", doc(p("one"), h1("<a>two"), blockquote(p("three<b>")), p("four")))
  del("moves out of the start of both textblocks", doc(p("one"), blockquote(p("<a>two")), p("<b>three")))
}

// ---- Query functions on the basic schema
{
  const {doc, p, blockquote, h1, ul, li, hr} = B
  let d = doc(p("one"), blockquote(p("two"), p("three")), ul(li(p("four")), li(p("five"))), p("six"))
  let size = d.node.content.size
  let slices = [doc(p("x")).node.slice(1, 2), doc(p("x")).node.slice(0, 3), doc(ul(li(p("x")))).node.slice(0, 7),
                doc(hr()).node.slice(0, 1), doc(ul(li(p("x")))).node.slice(3, 4)]
  let kinds = {canJoin: [], joinPoint: [], insertPoint: [], canSplit: [], dropPoint: []}
  for (let pos = 0; pos <= size; pos++) {
    kinds.canJoin.push({op: "canJoin", pos})
    kinds.joinPoint.push({op: "joinPoint", pos, dir: -1}, {op: "joinPoint", pos, dir: 1})
    kinds.insertPoint.push({op: "insertPoint", pos, type: "horizontal_rule"}, {op: "insertPoint", pos, type: "list_item"})
    kinds.canSplit.push({op: "canSplit", pos}, {op: "canSplit", pos, depth: 2},
                        {op: "canSplit", pos, typesAfter: [{type: "heading"}]})
    for (let sl of slices) kinds.dropPoint.push({op: "dropPoint", pos, slice: sl.toJSON()})
  }
  for (let [kind, ops] of Object.entries(kinds)) addCase("query: " + kind + " at every position", "basic", d, ops)
}

// ---- Seeded random calls
{
  let seed = 12345
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000 }
  const pick = arr => arr[Math.floor(rand() * arr.length)]
  const int = n => Math.floor(rand() * n)
  const {doc, p, blockquote, h1, h2, ul, ol, li, pre, em, strong, br, img, hr, a} = B
  const docs = [
    doc(p("hello ", em("world"), "!"), blockquote(p("quoted ", strong("text")), p("more")), p("end")),
    doc(ul(li(p("one")), li(p("two"), ul(li(p("nested")))), li(p("three"))), p("after")),
    doc(h1("Title"), p("para ", a("link"), br(), "x"), pre("code\nblock"), hr(), p("tail")),
    doc(blockquote(blockquote(p("deep")), ol(li(p("a")), li(p("b")))), h2("sub"), p(img(), "txt")),
    doc(p("a"), p("b"), p("c"), blockquote(p("d")), p("e")),
  ]
  const openSlice = (d) => {
    let size = d.node.content.size
    let from = int(size + 1), to = int(size + 1)
    if (from > to) [from, to] = [to, from]
    return d.node.slice(from, to, rand() < 0.3)
  }
  const ops = ["replace", "replace", "replace", "replaceRange", "replaceRange", "deleteRange", "replaceRangeWith",
               "setBlockType", "lift", "wrap", "split", "join", "delete", "addMark", "removeMark"]
  const blockNodes = [hr().node, schemas.basic.node("paragraph", null, [schemas.basic.text("P")]), img().node,
                      schemas.basic.node("code_block", null, [schemas.basic.text("c")])]
  let count = 0
  for (let i = 0; count < 400 && i < 5000; i++) {
    let d = pick(docs), size = d.node.content.size
    let from = int(size + 1), to = int(size + 1)
    if (from > to) [from, to] = [to, from]
    let op = pick(ops), rec
    switch (op) {
      case "replace": case "replaceRange": rec = {op, from, to, slice: openSlice(pick(docs)).toJSON()}; break
      case "deleteRange": case "delete": rec = {op, from, to}; break
      case "replaceRangeWith": rec = {op, from, to, node: pick(blockNodes).toJSON()}; break
      case "wrapWith": {
      let r = range(tr.doc, op.from, op.to)
      tr.wrap(r, op.wrappers.map(w => ({type: s.nodes[w.type], attrs: w.attrs})))
      break
    }
    case "setBlockType": {
        let [type, attrs] = pick([["heading", {level: 2}], ["code_block", undefined], ["paragraph", undefined], ["heading", undefined]])
        rec = {op, from, to, type, ...(attrs ? {attrs} : {})}
        break
      }
      case "lift": rec = {op, from, to}; break
      case "wrap": rec = {op, from, to, type: pick(["blockquote", "bullet_list", "ordered_list"])}; break
      case "split": {
        let $pos = d.node.resolve(from), depth = 1 + int(Math.max(1, $pos.depth))
        if (!canSplit(d.node, from, depth)) continue
        rec = {op, pos: from, depth}
        break
      }
      case "join": {
        let jp = joinPoint(d.node, from, rand() < 0.5 ? -1 : 1)
        if (jp == null || !canJoin(d.node, jp)) continue
        rec = {op, pos: jp, depth: 1}
        break
      }
      case "addMark": rec = {op, from, to, mark: bm(pick(["em", "strong", "code"]))}; break
      case "removeMark": rec = {op, from, to, ...(rand() < 0.5 ? {markType: pick(["em", "strong", "link"])} : {})}; break
    }
    let c = addCase(`random ${count}: ${op}`, "basic", d, [rec])
    // Keep cases whose JS error is a genuine exception of the helper, not a
    // crash (TypeError) of the JavaScript on unexpected input.
    if (c.error && c.error.name == "TypeError") { cases.pop(); names.delete(c.name); continue }
    count++
  }
}

// ---- Seeded random calls on the extended schema (isolating nodes, required
// content, linebreak replacement, node marks).
{
  let seed = 777
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000 }
  const pick = arr => arr[Math.floor(rand() * arr.length)]
  const int = n => Math.floor(rand() * n)
  const {doc, p, blockquote, h1, ul, li, pre, em, strong, br, img, hr, callout, figure, fimg, caption, mention} = X
  const xs = schemas.extended
  const docs = [
    doc(p("intro ", em("x"), br(), "y"), callout(p("inside"), p("two")), pre("a\nb\nc"), p("end")),
    doc(figure(fimg(), caption("cap ", em("tion"))), ul(li(p("one")), li(p("two", br(), "lines"))), h1("head")),
    doc(blockquote(p("q1"), callout(p("c1"))), p("m", mention(), "n"), pre("code"), hr()),
  ]
  const openSlice = (d) => {
    let size = d.node.content.size
    let from = int(size + 1), to = int(size + 1)
    if (from > to) [from, to] = [to, from]
    return d.node.slice(from, to, rand() < 0.3)
  }
  const ops = ["replace", "replace", "replaceRange", "replaceRange", "deleteRange", "setBlockType", "setBlockType",
               "lift", "wrap", "split", "join", "addMark", "removeMark"]
  let count = 0
  for (let i = 0; count < 150 && i < 5000; i++) {
    let d = pick(docs), size = d.node.content.size
    let from = int(size + 1), to = int(size + 1)
    if (from > to) [from, to] = [to, from]
    let op = pick(ops), rec
    switch (op) {
      case "replace": case "replaceRange": rec = {op, from, to, slice: openSlice(pick(docs)).toJSON()}; break
      case "deleteRange": rec = {op, from, to}; break
      case "setBlockType": {
        let [type, attrs] = pick([["heading", {level: 2}], ["code_block", undefined], ["paragraph", undefined],
                                  ["code_block", {language: "js"}]])
        rec = {op, from, to, type, ...(attrs ? {attrs} : {})}
        break
      }
      case "lift": rec = {op, from, to}; break
      case "wrap": rec = {op, from, to, type: pick(["blockquote", "bullet_list", "callout"])}; break
      case "split": {
        let $pos = d.node.resolve(from), depth = 1 + int(Math.max(1, $pos.depth))
        if (!canSplit(d.node, from, depth)) continue
        rec = {op, pos: from, depth}
        break
      }
      case "join": {
        let jp = joinPoint(d.node, from, rand() < 0.5 ? -1 : 1)
        if (jp == null || !canJoin(d.node, jp)) continue
        rec = {op, pos: jp, depth: 1}
        break
      }
      case "addMark": rec = {op, from, to, mark: xs.mark(pick(["em", "strong", "code", "highlight"])).toJSON()}; break
      case "removeMark": rec = {op, from, to, ...(rand() < 0.5 ? {markType: pick(["em", "strong", "code"])} : {})}; break
    }
    let c = addCase(`random extended ${count}: ${op}`, "extended", d, [rec])
    if (c.error && c.error.name == "TypeError") { cases.pop(); names.delete(c.name); continue }
    count++
  }
}

process.stdout.write(JSON.stringify({
  generator: "gen_transform_cases.mjs",
  versions: {"prosemirror-transform": "1.12.6", "prosemirror-model": "1.25.13"},
  schemas: inlineSpecs,
  cases,
}, null, 0).replace(/\},\{"name"/g, '},\n{"name"') + "\n")
