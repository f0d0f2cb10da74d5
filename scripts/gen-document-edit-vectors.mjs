// Generates rtpm/collab/testdata/document_edit_vectors.json: seeded random
// cases of revert-by-author and steps-to-become, computed by the real
// prosemirror-model 1.25.13 and prosemirror-transform 1.12.6, for
// rtpm/collab/document_edits_test.cc to replay against rtpm/collab/document_edits.h.
//
// Regenerate (Node 20; from the repository root):
//   npm install --prefix /tmp/pmvec prosemirror-model@1.25.13 prosemirror-transform@1.12.6
//   node scripts/gen-document-edit-vectors.mjs /tmp/pmvec/node_modules ../shared/conformance/schemas \
//     > rtpm/collab/testdata/document_edit_vectors.json
//
// Arguments: the node_modules folder holding the two packages, and the folder
// of the conformance schema specs (basic.json is the schema of every case, as
// the C++ side reads it). Output, one case a line:
//   {"schema": "basic",
//    "revert": [{name, doc, base, steps: [{step, user}], user, from, to,
//                expected: {steps, skipped, doc}}],
//    "become": [{name, current, target, equal, step}]}
// revert: two or three users type, delete, split paragraphs and add or remove
// marks on one document in turn (each op's steps carry its user); the revert
// of `user`'s steps on versions [from, to) is computed as
// rtpm::collab::revert_steps does, with the real Step.invert, Step.map,
// Mapping.appendMap (mirrors) and Transform.maybeStep: expected.steps are the
// steps to apply (toJSON), expected.doc the document they give (toJSON) and
// expected.skipped the versions of the steps that no longer revert.
// become: `target` is `current` after random edits (or another random
// document); `equal` says whether they are equal (Node.eq); `step` is the one ReplaceStep that prosemirror-view's findDiff
// (findDiffStart / findDiffEnd, ends moved forward by the overlap) gives, or
// null when it does not reach the target (the C++ side then falls back to
// replacing the whole content). Applying what steps_to_become returns to
// `current` must give `target`.

import {createRequire} from "module"
import fs from "fs"
import path from "path"

const [modulesDir, specDir] = process.argv.slice(2)
if (!modulesDir || !specDir)
  throw new Error("usage: node gen-document-edit-vectors.mjs <node_modules dir> <schemas dir>")
const require = createRequire(path.resolve(modulesDir) + "/")
const {Schema, Node: PMNode} = require(path.resolve(modulesDir, "prosemirror-model"))
const {Transform, ReplaceStep, Mapping} = require(path.resolve(modulesDir, "prosemirror-transform"))

const spec = JSON.parse(fs.readFileSync(path.join(specDir, "basic.json"), "utf8"))
const schema = new Schema({topNode: spec.topNode, nodes: Object.fromEntries(spec.nodes),
                           marks: Object.fromEntries(spec.marks || [])})

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

const words = ["lorem", "ipsum", "dolor", "sit", "amet", "foo", "bar", "baz", "x", "é", "😀", "a b"]
const text = () => {
  let s = pick(words)
  while (random() < 0.3) s += " " + pick(words)
  return s
}
const markNames = ["em", "strong", "code"]

function randomInline() {
  let nodes = []
  for (let n = 1 + int(3); n > 0; n--) {
    let marks = random() < 0.3 ? [schema.mark(pick(markNames))] : []
    nodes.push(schema.text(text(), marks))
  }
  return nodes
}

function randomBlock(depth = 0) {
  let r = random()
  if (r < 0.55 || depth > 1) return schema.node("paragraph", null, randomInline())
  if (r < 0.7) return schema.node("heading", {level: 1 + int(2)}, randomInline())
  if (r < 0.8) return schema.node("blockquote", null, [randomBlock(depth + 1)])
  if (r < 0.9) return schema.node("bullet_list", null,
                                  [schema.node("list_item", null, [schema.node("paragraph", null, randomInline())])])
  return schema.node("code_block", null, [schema.text(text())])
}

function randomDoc() {
  let blocks = []
  for (let n = 1 + int(3); n > 0; n--) blocks.push(randomBlock())
  return schema.node("doc", null, blocks)
}

// The textblocks of doc: [{start, end, node}] (content positions).
function textblocks(doc) {
  let out = []
  doc.descendants((node, pos) => {
    if (node.isTextblock) { out.push({start: pos + 1, end: pos + 1 + node.content.size, node}); return false }
    return true
  })
  return out
}

// One random edit as a Transform on doc (null when it made no step).
function randomEdit(doc) {
  let tr = new Transform(doc), blocks = textblocks(doc), b = pick(blocks)
  let at = b.start + int(b.end - b.start + 1)
  let r = random()
  try {
    if (r < 0.35) {
      tr.insertText(text(), at)
    } else if (r < 0.55) {
      let to = Math.min(b.end, at + 1 + int(5))
      if (to > at) tr.delete(at, to)
    } else if (r < 0.62) {
      // A delete across blocks.
      let c = pick(blocks)
      let from = Math.min(at, c.start), to = Math.max(at, c.start + int(c.end - c.start + 1))
      if (to > from) tr.delete(from, to)
    } else if (r < 0.82) {
      let to = Math.min(b.end, at + 1 + int(6))
      let mark = schema.mark(pick(markNames))
      if (to > at && b.node.type.allowsMarkType(mark.type)) {
        if (random() < 0.6) tr.addMark(at, to, mark)
        else tr.removeMark(at, to, mark.type)
      }
    } else {
      tr.split(at)
    }
  } catch (e) {
    return null
  }
  return tr.steps.length ? tr : null
}

// A delete of what an earlier step of the log changed (so that its revert
// may have nothing left to apply to), one position wider on each side.
function deleteAround(doc, steps) {
  let j = steps.length - 1 - int(Math.min(steps.length, 4)), step = steps[j].step
  let from = step.from, to = step.to
  step.getMap().forEach((oldStart, oldEnd, newStart, newEnd) => { from = newStart; to = newEnd })
  let mapping = new Mapping(steps.slice(j + 1).map(s => s.step.getMap()))
  from = Math.max(0, mapping.map(from, -1) - 1)
  to = Math.min(doc.content.size, mapping.map(to, 1) + 1)
  if (to <= from) return null
  let tr = new Transform(doc)
  try { tr.delete(from, to) } catch (e) { return null }
  return tr.steps.length ? tr : null
}

// rtpm::collab::revert_steps, with the real prosemirror-transform.
function revert(doc, steps, user, from, to, base) {
  let docs = [doc], mapping = new Mapping
  for (let {step} of steps) {
    let result = step.apply(docs[docs.length - 1])
    if (!result.doc) throw new Error("log step failed: " + result.failed)
    docs.push(result.doc)
    mapping.appendMap(step.getMap())
  }
  let tr = new Transform(docs[docs.length - 1]), skipped = []
  for (let i = to - base - 1; i >= from - base; i--) {
    if (steps[i].user != user) continue
    let inverse = steps[i].step.invert(docs[i])
    let mapped = inverse.map(mapping.slice(i + 1)), ok = false
    if (mapped) {
      try { ok = !tr.maybeStep(mapped).failed } catch (e) { ok = false }
    }
    if (ok) mapping.appendMap(mapped.getMap(), i)
    else skipped.push(base + i)
  }
  return {steps: tr.steps.map(s => s.toJSON()), skipped: skipped.reverse(), doc: tr.doc.toJSON()}
}

function revertCase(n) {
  let doc = randomDoc(), users = ["alice", "bob", "carol"].slice(0, 2 + int(2))
  let steps = [], current = doc
  for (let ops = 3 + int(6); ops > 0; ops--) {
    let user = pick(users)
    let tr = steps.length && random() < 0.2 ? deleteAround(current, steps) : randomEdit(current)
    if (!tr) continue
    for (let step of tr.steps) steps.push({step, user})
    current = tr.doc
  }
  let base = pick([0, 0, 1, 7, 42]), count = steps.length
  let from = base, to = base + count
  if (random() < 0.35 && count > 1) {
    from = base + int(count)
    to = from + 1 + int(base + count - from)
  }
  let user = pick(users)
  return {name: "revert_" + n, doc: doc.toJSON(), base,
          steps: steps.map(s => ({step: s.step.toJSON(), user: s.user})),
          user, from, to, expected: revert(doc, steps, user, from, to, base)}
}

// prosemirror-view's findDiff without a preferred position, as one ReplaceStep.
function diffStep(current, target) {
  let a = current.content, b = target.content
  let start = a.findDiffStart(b)
  if (start == null) return null
  let {a: endA, b: endB} = a.findDiffEnd(b)
  let overlap = start - Math.min(endA, endB)
  if (overlap > 0) { endA += overlap; endB += overlap }
  let step = new ReplaceStep(start, endA, target.slice(start, endB))
  let result
  try { result = step.apply(current) } catch (e) { return null }
  return result.doc && result.doc.eq(target) ? step.toJSON() : null
}

function becomeCase(n) {
  let current = randomDoc(), target = current
  if (random() < 0.1) {
    target = randomDoc()
  } else if (random() < 0.95) {
    for (let ops = 1 + int(3), tries = 0; ops > 0 && tries < 20; tries++) {
      let tr = randomEdit(target)
      if (tr) { target = tr.doc; ops-- }
    }
  }
  // Equal documents: no step (and no change to expect).
  return {name: "become_" + n, current: current.toJSON(), target: target.toJSON(),
          equal: current.eq(target), step: diffStep(current, target)}
}

random = rng(20240611)
let reverts = [], becomes = []
for (let n = 0; n < 130; n++) reverts.push(revertCase(n))
for (let n = 0; n < 70; n++) becomes.push(becomeCase(n))

let lines = ["{\"schema\": \"basic\",", "\"revert\": ["]
lines.push(reverts.map(c => JSON.stringify(c)).join(",\n"))
lines.push("],", "\"become\": [")
lines.push(becomes.map(c => JSON.stringify(c)).join(",\n"))
lines.push("]}")
process.stdout.write(lines.join("\n") + "\n")
