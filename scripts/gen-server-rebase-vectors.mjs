// Generates rtpm/conformance/testdata/server_rebase.jsonl: seeded random
// cases of a batch of local steps rebased over other steps, as the real
// prosemirror-collab 1.3.1 rebases a client's unconfirmed steps in
// receiveTransaction, for the conformance runner's `server_rebase` kind to
// replay against rtpm::collab::rebase_batch (rtpm/collab/server_rebase.h).
//
// Regenerate (Node 20; from the repository root):
//   npm install --prefix /tmp/pmsr prosemirror-model@1.25.13 prosemirror-transform@1.12.6 \
//     prosemirror-state@1.4.4 prosemirror-collab@1.3.1
//   node scripts/gen-server-rebase-vectors.mjs /tmp/pmsr/node_modules ../shared/conformance/schemas \
//     > rtpm/conformance/testdata/server_rebase.jsonl
// (`npm ls --prefix /tmp/pmsr --all` must show one copy of each prosemirror-*
// package.) The output is deterministic: the same seed and versions give the
// same bytes. A summary (step types, drops) goes to stderr.
//
// Arguments: the node_modules folder holding the packages, and the folder of
// the conformance schema specs (basic, extended and tiptap are used, built
// from their JSON as the C++ side builds them). Output, one vector a line:
//   {id, kind: "server_rebase", schema, doc, steps, other, otherDoc,
//    expected: {kept, steps, doc}, ops: {steps, other}}
// doc: the document D both sides start from. steps: the local batch S (JSON),
// made on D, each step on the document after the ones before it. other: the
// steps O another client made on D (the steps the server accepted since),
// otherDoc: D after O. ops (informative): the Transform operation that made
// each step of S and of O.
// expected comes from the public API of prosemirror-collab, not from a copy
// of its algorithm: an EditorState holding D with the collab plugin
// (clientID "me"), each step of S applied as its own transaction (so all are
// unconfirmed), then receiveTransaction(state, O, O.map(() => "other"))
// applied. expected.steps = sendableSteps(newState).steps (toJSON; [] when
// it returns null), expected.doc = newState.doc.toJSON(), expected.kept =
// the index in S of each step left: sendableSteps(...).origins names the
// transaction each unconfirmed step came from, and each step of S had its
// own, so the index of that transaction is the index of the step. The
// steps that are not in `kept` were dropped. With O empty receiveTransaction
// rebases nothing: expected is S itself, every index kept, D after S.
// Cases where JavaScript throws are left out and counted on stderr (none
// with this seed; those seen while writing this came from operations called
// with from > to, e.g. an addMark step from 7 to 6, whose inverse does not
// restore the document, so receiveTransaction fails to apply the received
// steps after the inverses; the operations here no longer do that).
// checkInverseMap (below) also compares, on every position, the map of
// step.invert(doc) (what the client maps through) with step.getMap().invert()
// (what the server maps through) for every local step.

import {createRequire} from "module"
import fs from "fs"
import path from "path"

const [modulesDir, specDir] = process.argv.slice(2)
if (!modulesDir || !specDir)
  throw new Error("usage: node gen-server-rebase-vectors.mjs <node_modules dir> <schemas dir>")
const require = createRequire(path.resolve(modulesDir) + "/")
const load = name => require(path.resolve(modulesDir, name))
const {Schema, Slice, Fragment} = load("prosemirror-model")
const {Transform, Step, Mapping, findWrapping, liftTarget, canJoin, canSplit} =
  load("prosemirror-transform")
const {EditorState} = load("prosemirror-state")
const {collab, receiveTransaction, sendableSteps} = load("prosemirror-collab")

function loadSchema(name) {
  const spec = JSON.parse(fs.readFileSync(path.join(specDir, name + ".json"), "utf8"))
  return new Schema({topNode: spec.topNode, nodes: Object.fromEntries(spec.nodes),
                     marks: Object.fromEntries(spec.marks || [])})
}

// The node and mark names of each schema, and the attributes worth changing.
const flavours = {
  basic: {
    p: "paragraph", h: "heading", quote: "blockquote", code: "code_block", hr: "horizontal_rule",
    bullet: "bullet_list", ordered: "ordered_list", item: "list_item", br: "hard_break",
    image: "image", marks: ["em", "strong", "code", "link"],
    attrs: {heading: [["level", [1, 2, 3]]], ordered_list: [["order", [1, 3, 10]]],
            image: [["alt", ["a", null, "😀 pic"]], ["title", ["t", null]]]}
  },
  extended: {
    p: "paragraph", h: "heading", quote: "blockquote", code: "code_block", hr: "horizontal_rule",
    bullet: "bullet_list", item: "list_item", br: "hard_break", image: "image",
    mention: "mention", callout: "callout", figure: "figure",
    marks: ["em", "strong", "code", "link", "comment", "highlight"],
    nodeMarksOnBlocks: true, docAttrs: [["lang", ["fr", "de", "en", "zh-中文"]],
                                        ["version", [1, 2, 3.5]], ["meta", [null, "m", {a: 1}]]],
    attrs: {heading: [["level", [1, 2, 3]]], code_block: [["language", ["js", null, "c++"]]],
            callout: [["kind", ["info", "warn"]]], figure_image: [["src", ["a.png", ""]]],
            mention: [["label", ["Ann", "Bob 😀"]]], image: [["alt", ["a", null]]]}
  },
  tiptap: {
    p: "paragraph", h: "heading", quote: "blockquote", code: "codeBlock", hr: "horizontalRule",
    bullet: "bulletList", ordered: "orderedList", item: "listItem", br: "hardBreak",
    marks: ["bold", "italic", "code", "strike", "underline", "link"],
    attrs: {heading: [["level", [1, 2, 3]]], orderedList: [["start", [1, 5]], ["type", [null, "a"]]],
            codeBlock: [["language", ["js", null]]]}
  }
}

// mulberry32: a small seeded generator, so the output is reproducible.
function rng(seed) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
let random = rng(1)
const int = n => Math.floor(random() * n)
const pick = a => a[int(a.length)]
const chance = p => random() < p

// Astral characters (surrogate pairs, a ZWJ family, a flag) beside BMP ones.
const words = ["lorem", "ipsum", "dolor", "x", "é", "😀", "👨‍👩‍👧", "🇩🇪", "中文", "a b", "𝒳y", "ok"]
const text = () => {
  let s = pick(words)
  while (chance(0.3)) s += " " + pick(words)
  return s
}

let schema, F  // the schema of the current case and its flavour

function markOf(name) {
  if (name == "link") return schema.mark("link", {href: pick(["https://a.example", "b"])})
  if (name == "comment") return schema.mark("comment", {id: 1 + int(3)})
  if (name == "highlight") return schema.mark("highlight", {color: pick(["yellow", "red"])})
  return schema.mark(name)
}

function randomInline(allowAtoms = true) {
  let nodes = []
  for (let n = 1 + int(3); n > 0; n--) {
    let r = random(), marks = chance(0.35) ? [markOf(pick(F.marks))] : []
    if (allowAtoms && r < 0.1 && F.image) nodes.push(schema.node(F.image, {src: "i.png"}, null, marks))
    else if (allowAtoms && r < 0.17 && F.mention) nodes.push(schema.node(F.mention, {id: "u" + int(3)}, null, marks))
    else if (allowAtoms && r < 0.24) nodes.push(schema.node(F.br, null, null, marks))
    else nodes.push(schema.text(text(), marks))
  }
  return nodes
}

function randomBlock(depth = 0) {
  let r = random()
  if (r < 0.45 || depth > 1) return schema.node(F.p, null, randomInline())
  if (r < 0.57) return schema.node(F.h, {level: 1 + int(3)}, randomInline())
  if (r < 0.66) return schema.node(F.quote, null, [randomBlock(depth + 1), ...(chance(0.4) ? [randomBlock(depth + 1)] : [])])
  if (r < 0.78) {
    let items = []
    for (let n = 1 + int(3); n > 0; n--)
      items.push(schema.node(F.item, null, [schema.node(F.p, null, randomInline()),
                                            ...(chance(0.2) ? [randomBlock(depth + 1)] : [])]))
    return schema.node(F.ordered && chance(0.4) ? F.ordered : F.bullet, null, items)
  }
  if (r < 0.85) return schema.node(F.code, null, [schema.text(text())])
  if (r < 0.88) return schema.node(F.hr)
  if (r < 0.94 && F.callout)
    return schema.node(F.callout, {kind: "info"}, [schema.node(F.p, null, randomInline())])
  if (r < 0.97 && F.figure)
    return schema.node(F.figure, null, [schema.node("figure_image", {src: "f.png"}),
                                        schema.node("caption", null, [schema.text(text())])])
  return schema.node(F.p, null, randomInline())
}

function randomDoc() {
  let blocks = []
  for (let n = 2 + int(3); n > 0; n--) {
    let b = randomBlock()
    if (F.nodeMarksOnBlocks && chance(0.15)) b = b.mark([markOf(pick(["strong", "em", "comment"]))])
    blocks.push(b)
  }
  let attrs = F.docAttrs && chance(0.5) ? {lang: "fr"} : null
  let doc = schema.node("doc", attrs, blocks)
  doc.check()
  return doc
}

// The textblocks of doc: [{pos, start, end, node}] (pos: before the node).
function textblocks(doc) {
  let out = []
  doc.descendants((node, pos) => {
    if (node.isTextblock) { out.push({pos, start: pos + 1, end: pos + 1 + node.content.size, node}); return false }
    return true
  })
  return out
}

function nodesWhere(doc, pred) {
  let out = []
  doc.descendants((node, pos) => { if (pred(node, pos)) out.push({pos, node}) })
  return out
}

// A textblock near `hint` (a position in doc, or null): the one holding it
// most of the time, else any.
function blockNear(doc, hint) {
  let blocks = textblocks(doc)
  if (!blocks.length) return null
  if (hint != null && chance(0.8)) {
    let best = blocks[0]
    for (let b of blocks)
      if (Math.abs((b.start + b.end) / 2 - hint) < Math.abs((best.start + best.end) / 2 - hint)) best = b
    return best
  }
  return pick(blocks)
}

// A position in textblock b, near hint when it is inside.
function posIn(b, hint) {
  if (hint != null && hint >= b.start && hint <= b.end && chance(0.7))
    return Math.min(b.end, Math.max(b.start, hint + int(3) - 1))
  return b.start + int(b.end - b.start + 1)
}

// The operations; each makes steps on tr (a Transform of the current
// document) or throws / makes none, and then is not used. `hint` is a
// position to aim at (a range a step of the other side touched) or null.
const ops = {
  insertText(tr, hint) {
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    tr.insertText(text(), at)
  },
  typing(tr, hint) {
    // Several one-character steps, each after the last one.
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    for (let n = 2 + int(3); n > 0; n--) {
      let s = pick(["a", "b", "😀", "é", " "])
      tr.insertText(s, at)
      at += s.length
    }
  },
  deleteText(tr, hint) {
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    let to = Math.min(b.end, at + 1 + int(6))
    if (to > at) tr.delete(at, to)
  },
  backspaces(tr, hint) {
    // Delete one unit at a time backwards (may split a surrogate pair).
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    for (let n = 2 + int(3); n > 0 && at > b.start; n--, at--) tr.delete(at - 1, at)
  },
  replaceText(tr, hint) {
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    let to = Math.min(b.end, at + int(6))
    tr.insertText(text(), at, to)
  },
  deleteAcross(tr, hint) {
    let blocks = textblocks(tr.doc), a = blockNear(tr.doc, hint), c = pick(blocks)
    let p1 = posIn(a, hint), p2 = posIn(c, null), from = Math.min(p1, p2), to = Math.max(p1, p2)
    if (to > from) (chance(0.5) ? tr.delete(from, to) : tr.deleteRange(from, to))
  },
  deleteBlock(tr, hint) {
    let b = blockNear(tr.doc, hint), $pos = tr.doc.resolve(b.start)
    let depth = 1 + int($pos.depth)
    tr.delete($pos.before(depth), $pos.after(depth))
  },
  split(tr, hint) {
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    let depth = tr.doc.resolve(at).depth >= 3 && chance(0.5) ? 2 : 1
    if (canSplit(tr.doc, at, depth)) tr.split(at, depth)
  },
  join(tr, hint) {
    let points = []
    tr.doc.descendants((node, pos) => {
      if (pos > 0 && canJoin(tr.doc, pos)) points.push(pos)
      return !node.isTextblock
    })
    if (!points.length) return
    let at = hint == null ? pick(points)
      : points.reduce((a, p) => (Math.abs(p - hint) < Math.abs(a - hint) ? p : a))
    tr.join(chance(0.7) ? at : pick(points))
  },
  wrap(tr, hint) {
    let b = blockNear(tr.doc, hint), c = chance(0.3) ? blockNear(tr.doc, b.end + 3) : b
    let range = tr.doc.resolve(Math.min(b.start, c.start)).blockRange(tr.doc.resolve(Math.max(b.end, c.end)))
    if (!range) return
    let type = schema.nodes[pick([F.quote, F.bullet, F.ordered || F.bullet, F.callout || F.quote])]
    let wrapping = findWrapping(range, type)
    if (wrapping) tr.wrap(range, wrapping)
  },
  lift(tr, hint) {
    let b = blockNear(tr.doc, hint)
    let range = tr.doc.resolve(b.start).blockRange(tr.doc.resolve(b.end))
    let target = range && liftTarget(range)
    if (target != null) tr.lift(range, target)
  },
  setBlockType(tr, hint) {
    let b = blockNear(tr.doc, hint), c = chance(0.3) ? pick(textblocks(tr.doc)) : b
    let choice = pick([[F.h, {level: 1 + int(3)}], [F.p, null], [F.code, null]])
    tr.setBlockType(Math.min(b.start, c.start), Math.max(b.end, c.end), schema.nodes[choice[0]], choice[1])
  },
  setNodeType(tr, hint) {
    // setNodeMarkup with another type: one replaceAround of the whole node.
    let b = blockNear(tr.doc, hint)
    let type = schema.nodes[b.node.type.name == F.p ? F.h : F.p]
    tr.setNodeMarkup(b.pos, type, type.name == F.h ? {level: 2} : null)
  },
  addMark(tr, hint) {
    let b = blockNear(tr.doc, hint), c = chance(0.25) ? pick(textblocks(tr.doc)) : b
    let p1 = posIn(b, hint), p2 = posIn(c, null), from = Math.min(p1, p2), to = Math.max(p1, p2)
    if (to == from) to = Math.min(tr.doc.content.size, from + 3)
    tr.addMark(from, to, markOf(pick(F.marks)))
  },
  removeMark(tr, hint) {
    let b = blockNear(tr.doc, hint)
    let from = b.start + int(b.end - b.start + 1), to = Math.min(b.end, from + 1 + int(8))
    if (chance(0.5)) from = b.start, to = b.end
    if (to <= from) return
    tr.removeMark(from, to, chance(0.5) ? schema.marks[pick(F.marks)] : undefined)
  },
  nodeMark(tr, hint) {
    let targets = nodesWhere(tr.doc, (node, pos) =>
      (node.isInline && !node.isText) ||
      (F.nodeMarksOnBlocks && node.isBlock && tr.doc.resolve(pos).depth == 0))
    if (!targets.length) return
    let t = hint == null ? pick(targets)
      : targets.reduce((a, x) => (Math.abs(x.pos - hint) < Math.abs(a.pos - hint) ? x : a))
    let marked = targets.filter(x => x.node.marks.length)
    if (marked.length && chance(0.4)) t = pick(marked)
    else if (chance(0.3)) t = pick(targets)
    if (t.node.marks.length && chance(0.7)) {
      tr.removeNodeMark(t.pos, chance(0.5) ? t.node.marks[0] : t.node.marks[0].type)
    } else {
      // A mark the parent does not allow fails the step (Transform.step throws).
      tr.addNodeMark(t.pos, markOf(pick(t.node.isBlock ? ["strong", "em", "comment"] : F.marks)))
    }
  },
  attr(tr, hint) {
    let targets = nodesWhere(tr.doc, node => F.attrs[node.type.name])
    if (!targets.length) return
    let t = hint == null || chance(0.3) ? pick(targets)
      : targets.reduce((a, x) => (Math.abs(x.pos - hint) < Math.abs(a.pos - hint) ? x : a))
    let [name, values] = pick(F.attrs[t.node.type.name])
    tr.setNodeAttribute(t.pos, name, pick(values))
  },
  docAttr(tr) {
    if (!F.docAttrs) return
    let [name, values] = pick(F.docAttrs)
    tr.setDocAttribute(name, pick(values))
  },
  insertInline(tr, hint) {
    let b = blockNear(tr.doc, hint), at = posIn(b, hint)
    let choices = [F.br, F.image, F.mention].filter(x => x)
    let type = schema.nodes[pick(choices)]
    let node = type.name == F.image ? type.create({src: "n.png"})
      : type.name == "mention" ? type.create({id: "u9", label: "Zoë"}) : type.create()
    if (b.node.canReplace(at - b.start, at - b.start, Fragment.from(node))) tr.insert(at, node)
  },
  insertBlock(tr, hint) {
    let b = blockNear(tr.doc, hint), $pos = tr.doc.resolve(b.start)
    let at = chance(0.5) ? $pos.before() : $pos.after()
    let node = chance(0.5) ? schema.node(F.hr) : schema.node(F.p, null, [schema.text(text())])
    tr.insert(at, node)
  },
  paste(tr, hint) {
    // A slice of the document (open or not) pasted over a range.
    let b = pick(textblocks(tr.doc)), c = blockNear(tr.doc, hint)
    let a1 = posIn(b, null), a2 = chance(0.5) ? posIn(b, null) : posIn(pick(textblocks(tr.doc)), null)
    let slice = tr.doc.slice(Math.min(a1, a2), Math.max(a1, a2))
    if (!slice.size) slice = new Slice(Fragment.from(schema.text(text())), 0, 0)
    let at = posIn(c, hint), to = chance(0.5) ? at : Math.min(c.end, at + int(5))
    chance(0.5) ? tr.replace(at, to, slice) : tr.replaceRange(at, to, slice)
  }
}
const opNames = Object.keys(ops)

// The range a step touched, in the document after it (null for docAttr).
function touchedAfter(step) {
  let r = null
  step.getMap().forEach((os, oe, ns, ne) => { r = r ? [Math.min(r[0], ns), Math.max(r[1], ne)] : [ns, ne] })
  if (!r && step.from != null) r = [step.from, step.to]
  if (!r && step.pos != null) r = [step.pos, step.pos + 1]
  return r
}
// The same, in the document before it.
function touchedBefore(step) {
  let r = null
  step.getMap().forEach((os, oe) => { r = r ? [Math.min(r[0], os), Math.max(r[1], oe)] : [os, oe] })
  if (!r && step.from != null) r = [step.from, step.to]
  if (!r && step.pos != null) r = [step.pos, step.pos + 1]
  return r
}

// Steps by random operations on doc until there are `count` (fewer when the
// tries run out). Each operation aims near the last step's range with
// probability `follow` (later steps depending on earlier ones), else near
// one of `hints` (positions in doc).
function makeSteps(doc, count, hints, follow, weights) {
  let steps = [], names = [], cur = doc, last = null, maps = []
  for (let tries = 0; steps.length < count && tries < 60; tries++) {
    let hint = null
    if (last && chance(follow)) hint = last
    else if (hints.length && chance(0.75)) hint = new Mapping(maps).map(pick(hints))
    let name = weights ? pick(weights) : pick(opNames)
    let tr = new Transform(cur)
    try { ops[name](tr, hint) } catch (e) { continue }
    if (!tr.steps.length) continue
    for (let i = 0; i < tr.steps.length && steps.length < count; i++) {
      steps.push(tr.steps[i])
      names.push(name)
      maps.push(tr.steps[i].getMap())
      cur = tr.docs[i + 1] || tr.doc
      let r = touchedAfter(tr.steps[i])
      if (r) last = chance(0.5) ? r[0] : r[1]
    }
  }
  return {steps, names, doc: cur}
}

// Where the local steps touched D: positions in D.
function localHints(steps) {
  let hints = []
  for (let j = 0; j < steps.length; j++) {
    let r = touchedBefore(steps[j])
    if (!r) continue
    let back = new Mapping(steps.slice(0, j).map(s => s.getMap())).invert()
    hints.push(back.map(r[0], -1), back.map(r[1], 1))
  }
  return hints
}

// Conflicting operations for the other side: deletes, wraps and type changes
// of what the local steps touched, as often as ordinary edits.
const conflictOps = ["deleteText", "deleteText", "deleteAcross", "deleteBlock", "replaceText", "split",
                     "join", "wrap", "lift", "setBlockType", "setNodeType", "addMark", "removeMark",
                     "insertText", "typing", "attr", "nodeMark", "paste", "insertBlock", "docAttr"]

// The server maps through step.getMap().invert() where the client maps
// through the map of step.invert(doc); the vectors show that they rebase
// alike, and this checks the maps themselves on every position of every
// local step (both assocs; position, deletion flags and mirror recovery
// value): a difference would throw.
function checkInverseMap(step, before) {
  let after = step.apply(before).doc, inverse = step.invert(before).getMap(), inverted = step.getMap().invert()
  for (let pos = 0; pos <= after.content.size; pos++)
    for (let assoc of [-1, 1]) {
      let a = inverse.mapResult(pos, assoc), b = inverted.mapResult(pos, assoc)
      if (a.pos != b.pos || a.delInfo != b.delInfo || a.recover != b.recover)
        throw new Error("inverse maps differ: " + JSON.stringify(step.toJSON()) + " at " + pos)
    }
  stats.inverseMapsChecked++
}

const stats = {types: {}, keptTypes: {}, otherTypes: {}, dropped: 0, steps: 0, noneKept: 0, noOther: 0, jsThrew: 0, inverseMapsChecked: 0,
               schemas: {}, lone: 0}
const count = (o, k) => { o[k] = (o[k] || 0) + 1 }

function rebaseCase(n) {
  let name = pick(["basic", "basic", "extended", "extended", "tiptap"])
  schema = schemas[name]
  F = flavours[name]
  let doc = randomDoc()
  let local = makeSteps(doc, 1 + int(6), [], chance(0.6) ? 0.7 : 0.2)
  if (!local.steps.length) return null
  let otherCount = chance(0.08) ? 0 : 1 + int(8)
  let other = makeSteps(doc, otherCount, localHints(local.steps), 0.4, chance(0.7) ? conflictOps : null)
  if (other.steps.length != otherCount) return null

  // The steps as JSON, read back: exactly what the C++ side will parse.
  let S = local.steps.map(s => Step.fromJSON(schema, s.toJSON()))
  let O = other.steps.map(s => Step.fromJSON(schema, s.toJSON()))

  let before = doc
  for (let step of S) {
    checkInverseMap(step, before)
    before = step.apply(before).doc
  }
  let expected
  try {
    let state = EditorState.create({doc, plugins: [collab({version: 3, clientID: "me"})]})
    let origins = []
    for (let step of S) {
      let tr = state.tr.step(step)
      origins.push(tr)
      state = state.apply(tr)
    }
    let next = state.apply(receiveTransaction(state, O, O.map(() => "other")))
    let sendable = sendableSteps(next)
    let kept = sendable ? sendable.origins.map(o => origins.indexOf(o)) : []
    for (let i = 0; i < kept.length; i++)
      if (kept[i] < 0 || (i && kept[i] <= kept[i - 1])) throw new Error("origins out of order")
    expected = {kept, steps: sendable ? sendable.steps.map(s => s.toJSON()) : [], doc: next.doc.toJSON()}
  } catch (e) {
    stats.jsThrew++
    return null
  }
  for (let s of S) count(stats.types, s.toJSON().stepType)
  for (let s of O) count(stats.otherTypes, s.toJSON().stepType)
  for (let s of expected.steps) count(stats.keptTypes, s.stepType)
  stats.steps += S.length
  stats.dropped += S.length - expected.kept.length
  if (!expected.kept.length) stats.noneKept++
  if (!O.length) stats.noOther++
  count(stats.schemas, name)
  let v = {id: "server-rebase-" + String(n).padStart(4, "0"), kind: "server_rebase", schema: name,
           doc: doc.toJSON(), steps: S.map(s => s.toJSON()), other: O.map(s => s.toJSON()),
           otherDoc: other.doc.toJSON(), expected,
           ops: {steps: local.names, other: other.names}}
  let line = JSON.stringify(v)
  if (/\\ud[89ab][0-9a-f]/i.test(line)) stats.lone++
  return line
}

const schemas = {basic: loadSchema("basic"), extended: loadSchema("extended"), tiptap: loadSchema("tiptap")}
random = rng(20251206)
let lines = []
for (let n = 0; lines.length < 400; n++) {
  let line = rebaseCase(lines.length)
  if (line) lines.push(line)
  if (n > 5000) throw new Error("too few cases")
}
process.stdout.write(lines.join("\n") + "\n")
process.stderr.write(JSON.stringify(stats) + "\n")
