// Differential fuzzing of the C++ port against the real JavaScript: from a
// seed, generates random and hostile documents and steps, runs them through
// prosemirror-model 1.25.13 / prosemirror-transform 1.12.6, and writes what
// JavaScript computed as conformance vectors (the JSON Lines format of
// ../shared/conformance/README.md), which `realtime-pm conformance` then
// checks against the port. scripts/diff-fuzz.sh drives it in chunks.
//
//   node gen.mjs --seed S --first N --count C [--deep] [--schemas DIR] [--stats FILE]
//                [--max-depth N]
//
// Writes the vectors of scenarios N .. N+C-1 to standard output. A scenario
// is one random document (basic, extended or tiptap schema) and what is done
// to it; each scenario has its own generator state, so scenario N of seed S
// is the same whatever --first and --count are (replay one with --count 1).
// --stats FILE writes the counts per vector kind, per origin, per documented
// difference, of JavaScript's apply outcomes and of the cases not written, as
// JSON.
//
// Scenarios:
//   helpers  steps made the way editors make them (Transform helpers: typing,
//            delete, replace with slices cut from other documents, split,
//            join, lift, wrap, setBlockType, marks, node markup, attrs)
//   mutate   such steps with one field changed (off by one, swapped,
//            hostile values, removed)
//   raw      hostile raw step JSON: bad or too large open depths, slices
//            opened into leaves and text, positions at, just past and far
//            past the edges, negative, fractional and huge numbers, unknown
//            node and mark types, wrong attr types, missing fields,
//            `structure` flags, replaceAround gaps out of range
//   hostile  hostile documents (`check` vectors), and steps on those that
//            JavaScript still parses
//   deep     deep nesting (20-100 levels, and steps nesting as deep again;
//            --deep: 257-15,000 levels), tagged "deep"
//   mapping  random step maps and mappings: offsets, inverted maps, a map
//            mirrored with its inverse, slices (`map` vectors)
// Each step applies to the document the previous step of its scenario left,
// so a scenario is a sequence of several steps on the same document.
//
// Vectors: `apply` (every step; also `stepJSON`, the step's JSON after
// Step.fromJSON(...).toJSON(), and `stage` "apply" when apply threw),
// `invert`, `stepmap`, `merge`, `map` and `check`.
//
// Documented differences (docs/fuzzing.md): where the port deliberately
// differs from JavaScript, the vector's `result` is the port's documented
// outcome, `jsResult` what JavaScript did and `deviation` the reason:
//   "non-integer number"  a position that is a number but not an integer of
//                         int range, or a fractional open depth: the port's
//                         Step.fromJSON rejects it.
//   "huge open depth"     an open depth beyond ±2^24: the port clamps it, and
//                         does what JavaScript does with the clamped step.
//   "deep"                nesting deeper than the port's bound, model::kMaxDepth
//                         (read from rtpm/model/node.h, or --max-depth N): the
//                         port refuses such documents and slices while parsing
//                         and steps whose result would be that deep. Where
//                         JavaScript fails a step that the port might refuse
//                         for its depth first, no vector is written (counted
//                         as skipped in --stats), nor where JavaScript ran out
//                         of stack outside these cases (nothing to compare).

import fs from "fs"
import path from "path"
import {fileURLToPath} from "url"
import {Schema, Node as PMNode, Fragment, Slice, Mark} from "prosemirror-model"
import {
  Step, StepMap, Mapping, Transform, ReplaceStep, ReplaceAroundStep,
  liftTarget, findWrapping, canSplit, canJoin, joinPoint, insertPoint,
} from "prosemirror-transform"
import {xoroshiro128plus} from "pure-rand/generator/xoroshiro128plus"
import {uniformInt} from "pure-rand/distribution/uniformInt"

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  let here = path.dirname(fileURLToPath(import.meta.url))
  let shared = process.env.RTPM_SHARED_DIR || path.join(here, "../../../shared")
  let args = {seed: "1", first: 0, count: 1000, deep: false,
              schemas: path.join(shared, "conformance/schemas"), stats: null, maxDepth: 0}
  for (let i = 2; i < argv.length; i++) {
    let a = argv[i], value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a == "--seed") args.seed = value()
    else if (a == "--first") args.first = Number(value())
    else if (a == "--count") args.count = Number(value())
    else if (a == "--deep") args.deep = true
    else if (a == "--schemas") args.schemas = value()
    else if (a == "--stats") args.stats = value()
    else if (a == "--max-depth") args.maxDepth = Number(value())
    else if (a == "-h" || a == "--help") {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("\n").filter(l => l.startsWith("//")).map(l => l.slice(3)).join("\n") + "\n")
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  if (!Number.isInteger(args.first) || args.first < 0) throw new Error("--first must be >= 0")
  if (!Number.isInteger(args.count) || args.count < 0) throw new Error("--count must be >= 0")
  return args
}

// ---------------------------------------------------------------- randomness

// A 32-bit hash of a string (FNV-1a), for the seed.
function hashString(s) {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

// The seed of one scenario: the run's seed and the scenario's number, mixed
// (murmur3's finalizer) so that neighbouring scenarios are unrelated.
function scenarioSeed(seed, n) {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) | 0
}

class Rand {
  constructor(seed) { this.rng = xoroshiro128plus(seed) }
  /// An integer in [lo, hi].
  int(lo, hi) { return hi <= lo ? lo : uniformInt(this.rng, lo, hi) }
  chance(p) { return this.int(0, 9999) < p * 10000 }
  pick(array) { return array[this.int(0, array.length - 1)] }
  /// Picks from [[weight, value], ...].
  weighted(pairs) {
    let total = 0
    for (let [w] of pairs) total += w
    let x = this.int(0, total - 1)
    for (let [w, v] of pairs) {
      if (x < w) return v
      x -= w
    }
    return pairs[pairs.length - 1][1]
  }
}

// ---------------------------------------------------------------- values

// Text pieces: ASCII, Latin, CJK, astral characters (emoji, flags, a ZWJ
// family), combining marks, control characters, separators JSON escapes or
// not, and lone surrogates (high, low, at both ends of the ranges).
const TEXT_PIECES = [
  "a", "b", "x", "hello", "world", " ", "  ", "lorem ipsum", "ü", "ß", "naïve", "中文", "😀", "🎉",
  "🇩🇪", "👨‍👩‍👧", "e\u0301", "\n", "\t", "\r", "\u0000", "\u001f", "\u007f", "\u2028", "\u2029",
  "\ufeff", "\uffff", "\ud83d", "\ude00", "\ud800", "\udfff", "\"", "\\", "</p>", "&amp;", "𝔘",
]

function randomText(r) {
  let n = r.int(1, 5), out = ""
  for (let i = 0; i < n; i++) out += r.pick(TEXT_PIECES)
  return out
}

const NUMBERS = [0, 1, 2, 3, 6, -1, 0.5, 1e21, 1e-7, 0.1 + 0.2, 2 ** 31, 2 ** 53, 5e-324,
                 1.7976931348623157e308, -1e300, 123456789]

// Any JSON value (attribute values without `validate`, hostile fields).
function anyJSON(r, depth = 0) {
  switch (r.int(0, depth > 1 ? 6 : 8)) {
    case 0: return null
    case 1: return r.chance(0.5)
    case 2: case 3: return r.pick(NUMBERS)
    case 4: case 5: return r.chance(0.3) ? "" : randomText(r)
    case 6: return r.pick(["paragraph", "text", "doc", "em", "link", "__proto__", "toString"])
    case 7: {
      let a = []
      for (let i = r.int(0, 3); i > 0; i--) a.push(anyJSON(r, depth + 1))
      return a
    }
    default: {
      // Own members only (an assigned "__proto__" would set the prototype,
      // which JSON does not carry), as JSON.parse makes them.
      let o = {}
      for (let i = r.int(0, 3); i > 0; i--)
        Object.defineProperty(o, r.pick(["a", "b", "type", "content", "x y", "ü", "__proto__"]),
                              {value: anyJSON(r, depth + 1), enumerable: true, writable: true,
                               configurable: true})
      return o
    }
  }
}

// A value of the kind an attribute's `validate` ("string|null", ...) asks
// for; any JSON value when it has none.
function attrValue(r, spec) {
  let v = spec && spec.validate
  if (typeof v != "string") return anyJSON(r)
  let type = r.pick(v.split("|"))
  if (type == "null") return null
  if (type == "number") return r.pick([1, 2, 3, 4, 6, 0, -1, 0.5, 1e21])
  if (type == "boolean") return r.chance(0.5)
  if (type == "string") return r.pick(["", "x", "https://example.com/a?b=c", "cpp", randomText(r)])
  return anyJSON(r)
}

// A value `validate` rejects, where there is a `validate`.
function wrongAttrValue(r, spec) {
  let v = spec && spec.validate
  if (typeof v != "string") return anyJSON(r)
  let allowed = v.split("|")
  let candidates = [null, 5, "x", true, [1], {a: 1}].filter(x =>
    !allowed.includes(x === null ? "null" : Array.isArray(x) ? "object" : typeof x))
  return candidates.length ? r.pick(candidates) : anyJSON(r)
}

function attrSpecs(type) { return type.spec.attrs || {} }

function genAttrs(r, type) {
  let attrs = {}
  for (let [name, spec] of Object.entries(attrSpecs(type))) {
    let required = !Object.prototype.hasOwnProperty.call(spec, "default")
    if (required || r.chance(0.35)) attrs[name] = attrValue(r, spec)
  }
  return attrs
}

// ---------------------------------------------------------------- documents

class Ctx {
  constructor(r, schema, name, options) {
    this.r = r
    this.schema = schema
    this.name = name
    this.options = options
    this.nodeTypes = Object.values(schema.nodes)
    this.markTypes = Object.values(schema.marks)
    this.blockTypes = this.nodeTypes.filter(t => t.isBlock)
    this.textblockTypes = this.nodeTypes.filter(t => t.isTextblock)
    this.wrapperTypes = this.nodeTypes.filter(t => t.isBlock && !t.isTextblock && !t.isLeaf)
    /// Whether documents have wide nodes (see node()).
    this.wide = r.chance(0.08)
  }

  /// A random set of marks allowed in `parent`.
  marks(parent, p = 0.2) {
    let set = Mark.none
    for (let type of this.markTypes) {
      if (!this.r.chance(p) || (parent && !parent.allowsMarkType(type))) continue
      try {
        set = type.create(genAttrs(this.r, type)).addToSet(set)
      } catch (e) {}
    }
    return set
  }

  /// A random valid node of `type` with at most `depth` levels below it.
  node(type, depth, parent = null) {
    let r = this.r
    if (type.isText) return this.schema.text(randomText(r), this.marks(parent))
    let attrs = genAttrs(r, type)
    let marks = parent && r.chance(0.3) ? this.marks(parent, 0.3) : Mark.none
    if (type.isLeaf) {
      try { return type.create(attrs, null, marks) } catch (e) { return null }
    }
    let match = type.contentMatch, children = []
    let max = depth > 0 ? r.int(0, type.inlineContent ? 6 : 4) : 0
    // Wide nodes: more children than a chunk of the port's child B-tree holds
    // (16), sometimes enough for a tree of several levels.
    // One wide node per document.
    let wide = this.wideLeft > 0 && depth > 0 &&
      (type == this.schema.topNodeType ? r.chance(0.6) : type.inlineContent)
    if (wide) {
      this.wideLeft--
      max = r.chance(0.8) ? r.int(17, 48) : r.int(257, 320)
    }
    let childDepth = wide ? Math.min(depth - 1, 1) : depth - 1
    for (;;) {
      if (match.validEnd && (children.length >= max || (!wide && r.chance(0.2)))) break
      if (children.length >= max + 4 || match.edgeCount == 0) break
      let edges = []
      for (let i = 0; i < match.edgeCount; i++) edges.push(match.edge(i))
      let text = edges.find(e => e.type.isText)
      let edge = text && r.chance(0.6) ? text : r.pick(edges)
      let child = depth > 0 ? this.node(edge.type, childDepth, type)
        : edge.type.isText ? this.schema.text(randomText(r)) : edge.type.createAndFill()
      if (!child) break
      children.push(child)
      match = edge.next
    }
    if (!match.validEnd) {
      let fill = match.fillBefore(Fragment.empty, true)
      if (!fill) return type.createAndFill(attrs)
      fill.forEach(n => children.push(n))
    }
    try {
      return type.createChecked(attrs, children, marks)
    } catch (e) {
      try { return type.createAndFill(attrs, null, marks) } catch (e2) { return type.createAndFill() }
    }
  }

  doc(depth = this.r.int(this.wide ? 2 : 1, 4)) {
    this.wideLeft = this.wide ? 1 : 0
    let doc = this.node(this.schema.topNodeType, depth)
    return canon(this.schema, doc || this.schema.topNodeType.createAndFill())
  }

  /// A document `levels` deep: wrappers (blockquotes, list items) around a
  /// textblock, built from the inside out.
  deepDoc(levels) {
    let r = this.r, s = this.schema
    let textblock = this.textblockTypes.find(t => t.name == "paragraph") || this.textblockTypes[0]
    let inner = textblock.create(null, s.text(randomText(r)))
    let quote = s.nodes.blockquote
    for (let i = 0; i < levels; i++) inner = quote.create(null, inner)
    let before = r.chance(0.5) ? [this.node(textblock, 1)] : []
    return s.topNodeType.create(null, [...before, inner])
  }
}

// The JSON text round trip, so that JavaScript computes on exactly what the
// vector holds (no -0, no undefined members, no shared objects).
function viaJSON(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)) }

// A document as the port will see it: parsed from its JSON text.
function canon(schema, doc) { return PMNode.fromJSON(schema, viaJSON(doc.toJSON())) }

function depthOf(node) {
  // Iterative: deep documents must not overflow the generator's stack.
  let max = 0, stack = [[node, 0]]
  while (stack.length) {
    let [n, d] = stack.pop()
    if (d > max) max = d
    n.forEach(c => stack.push([c, d + 1]))
  }
  return max
}

// ---------------------------------------------------------------- positions

// A position in `doc`, mostly valid, sometimes at and just past the edges.
function position(r, doc) {
  let size = doc.content.size
  return r.weighted([[12, r.int(0, size)], [2, 0], [2, size], [1, size + 1], [1, -1]])
}

// A position field for raw steps: also far past the edges, negative,
// fractional, huge, and not a number at all (undefined drops the field).
function hostilePosition(r, doc, near) {
  let size = doc.content.size
  return r.weighted([
    [30, r.int(0, size)], [6, near !== undefined ? near : 0], [4, size],
    [4, near !== undefined ? near + r.pick([-2, -1, 1, 2]) : 1], [3, size + 1], [2, size + 2],
    [2, -1], [1, -size - 1], [1, r.pick([2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 + 1, 2 ** 53,
                                         1e300, -1e300, 1e21])],
    [2, r.pick([0.5, 1.5, r.int(0, size) + 0.5, 1e-7, size - 0.25])],
    [2, r.pick(["1", null, true, [], {}, undefined, [1], "0x1"])],
  ])
}

// An open depth for raw slices.
function hostileOpen(r, natural) {
  return r.weighted([
    [20, natural], [6, r.int(0, natural)], [4, natural + 1], [2, natural + r.int(2, 4)],
    [2, 0], [1, -1], [1, r.pick([0.5, 1.5, natural + 0.5])], [1, r.pick([2 ** 31, 1e300, -(2 ** 31) - 1])],
    [1, r.pick(["1", null, true, [], undefined, false])],
  ])
}

// ---------------------------------------------------------------- outcomes

function errorResult(e, stage) {
  let out = {error: String(e && e.message), errorName: (e && e.name) || "Error"}
  if (stage) out.stage = stage
  return out
}

// What JavaScript does with `stepJSON` on `doc`: {result, step?, stepJSON?}.
function applyOutcome(schema, doc, stepJSON) {
  let step
  try {
    step = Step.fromJSON(schema, stepJSON)
  } catch (e) {
    return {result: errorResult(e, "Step.fromJSON")}
  }
  let out = {step}
  try {
    out.stepJSON = viaJSON(step.toJSON())
  } catch (e) {
    out.stepJSON = undefined
  }
  try {
    let r = step.apply(doc)
    if (r.failed != null) out.result = {failed: r.failed}
    else {
      out.doc = r.doc
      try {
        out.result = {doc: r.doc.toJSON()}
      } catch (e) {
        out.result = {doc: "(too deep to write)"}  // JavaScript's own stack: only deep cases
      }
    }
  } catch (e) {
    out.result = errorResult(e, "apply")
  }
  return out
}

// The step JSON fields JavaScript checks with `typeof x == "number"`.
const POSITION_FIELDS = Object.assign(Object.create(null), {
  replace: ["from", "to"], replaceAround: ["from", "to", "gapFrom", "gapTo", "insert"],
  addMark: ["from", "to"], removeMark: ["from", "to"], addNodeMark: ["pos"],
  removeNodeMark: ["pos"], attr: ["pos"],
})
const STEP_CLASS = {
  replace: "ReplaceStep", replaceAround: "ReplaceAroundStep", addMark: "AddMarkStep",
  removeMark: "RemoveMarkStep", addNodeMark: "AddNodeMarkStep", removeNodeMark: "RemoveNodeMarkStep",
  attr: "AttrStep",
}

const isInt32 = x => Number.isInteger(x) && x >= -(2 ** 31) && x <= 2 ** 31 - 1

// Where the port's Step.fromJSON rejects what JavaScript's accepts: a
// position that is a number but not an integer of int range, or a fractional
// open depth (docs/protocol.md). JavaScript checks the same fields in the same order
// (`typeof x == "number"`) and goes on to parse the rest, which may throw
// something else; the port stops at the first such number. Returns the
// port's outcome, or null when the port does what JavaScript does.
function portRejects(schema, json) {
  if (!json || typeof json != "object" || !json.stepType) return null
  let type = String(json.stepType)
  if (type == "markSet") {
    // Every inner step's stepType is checked first, then each is parsed in order.
    if (!Array.isArray(json.steps) ||
        !json.steps.every(s => s && (s.stepType == "addMark" || s.stepType == "removeMark")))
      return null
    for (let inner of json.steps) {
      let port = portRejects(schema, inner)
      if (port) return port
      try { Step.fromJSON(schema, inner) } catch (e) { return null }
    }
    return null
  }
  let fields = POSITION_FIELDS[type]
  if (!fields) return null
  let rejected = {errorName: "RangeError", stage: "Step.fromJSON"}
  if (fields.some(f => typeof json[f] != "number")) return null
  if (fields.some(f => !isInt32(json[f])))
    return {error: `Invalid input for ${STEP_CLASS[type]}.fromJSON`, ...rejected}
  if ((type == "replace" || type == "replaceAround") && json.slice) {
    let {openStart, openEnd} = json.slice
    // `json.openStart || 0`, then both must be numbers.
    if (typeof (openStart || 0) != "number" || typeof (openEnd || 0) != "number") return null
    // Fractional open depths are rejected; huge ones are clamped and fail as
    // in JavaScript.
    if ((openStart && !Number.isInteger(openStart)) || (openEnd && !Number.isInteger(openEnd)))
      return {error: "Invalid input for Slice.fromJSON", ...rejected}
  }
  return null
}

// ---------------------------------------------------------------- depth

// The port's bound on nesting (rtpm/model/node.h kMaxDepth): a node's height
// (the nodes on the longest path down to a leaf, itself included) is at most
// MAX_DEPTH. Deeper documents and slices are refused while parsing (the
// Node.fromJSON that would be MAX_DEPTH + 1 levels deep throws), and a step
// whose result would be deeper throws while building it, both with
// RangeError(MAX_DEPTH_MESSAGE).
let MAX_DEPTH = 0, MAX_DEPTH_MESSAGE = ""

function setMaxDepth(value) {
  MAX_DEPTH = value
  MAX_DEPTH_MESSAGE = `Nodes nested deeper than ${value} levels are not supported`
}

function readMaxDepth() {
  let header = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../rtpm/model/node.h")
  let m = /constexpr int kMaxDepth = (\d+);/.exec(fs.readFileSync(header, "utf8"))
  if (!m) throw new Error(`no kMaxDepth in ${header} (give --max-depth)`)
  return Number(m[1])
}

// Stands for a deep JSON value in a vector until the line is written.
const DEEP_PLACEHOLDER = "\u0000deep\u0000"
// A node type no schema has: where the port's Node.fromJSON would refuse to go deeper.
const DEPTH_SENTINEL = "\u0000too deep"

// The height of a node JSON, as Node.fromJSON descends (text nodes' content
// is not read). Iterative: deep JSON must not overflow this stack.
function jsonHeight(json) {
  let max = 0, stack = [[json, 1]]
  while (stack.length) {
    let [n, h] = stack.pop()
    if (!n || typeof n != "object") continue
    if (h > max) max = h
    if (n.type == "text" || !Array.isArray(n.content)) continue
    for (let c of n.content) stack.push([c, h + 1])
  }
  return max
}

// A copy of `json` (a node JSON, or an array of them, at level 1) in which
// every node MAX_DEPTH + 1 levels deep is the sentinel type.
function truncated(json) {
  let top = Array.isArray(json) ? json.slice() : [json]
  let stack = [[top, 1]]
  while (stack.length) {
    let [array, level] = stack.pop()
    for (let i = 0; i < array.length; i++) {
      let n = array[i]
      if (!n || typeof n != "object" || Array.isArray(n)) continue
      if (level > MAX_DEPTH) {
        array[i] = {type: DEPTH_SENTINEL}
        continue
      }
      if (n.type == "text" || !Array.isArray(n.content)) continue
      n = array[i] = {...n, content: n.content.slice()}
      stack.push([n.content, level + 1])
    }
  }
  return Array.isArray(json) ? top : top[0]
}

// Whether the port's parse of `json` (nodes at level 1) refuses to go deeper
// before it meets an error JavaScript also meets: `parse` runs JavaScript's
// parse on the truncated copy, which meets the sentinel exactly where the
// port gives up. Returns the port's outcome, or null.
function tooDeepForPort(schema, json, parse) {
  if (jsonHeight(Array.isArray(json) ? {content: json} : json) - (Array.isArray(json) ? 1 : 0) <=
      MAX_DEPTH) return null
  try {
    parse(truncated(json))
  } catch (e) {
    if (e.message == "Unknown node type: " + DEPTH_SENTINEL)
      return {error: MAX_DEPTH_MESSAGE, errorName: "RangeError", stage: "Step.fromJSON"}
  }
  return null
}

function heightOf(node) { return depthOf(node) + 1 }

function isStackOverflow(result) {
  return result.errorName == "RangeError" && result.error == "Maximum call stack size exceeded"
}

// The port's limit on open depths (rtpm/model/slice.cc kOpenDepthLimit):
// integers beyond ±OPEN_DEPTH_LIMIT are clamped to it.
let OPEN_DEPTH_LIMIT = 0

function readOpenDepthLimit() {
  let file = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../rtpm/model/slice.cc")
  let m = /constexpr double kOpenDepthLimit = 1 << (\d+);/.exec(fs.readFileSync(file, "utf8"))
  if (!m) throw new Error(`no kOpenDepthLimit in ${file}`)
  return 2 ** Number(m[1])
}

// `stepJSON` with its slice's open depths clamped as the port clamps them,
// or null when nothing is clamped.
function clampedOpenDepths(stepJSON) {
  if (!stepJSON || typeof stepJSON != "object" || !stepJSON.slice || typeof stepJSON.slice != "object" ||
      (stepJSON.stepType != "replace" && stepJSON.stepType != "replaceAround")) return null
  let slice = {...stepJSON.slice}, changed = false
  for (let key of ["openStart", "openEnd"]) {
    let v = slice[key]
    if (typeof v == "number" && Math.abs(v) > OPEN_DEPTH_LIMIT) {
      slice[key] = Math.sign(v) * OPEN_DEPTH_LIMIT
      changed = true
    }
  }
  return changed ? {...stepJSON, slice} : null
}

// Where the port differs from JavaScript because of its depth bound, for an
// apply of `stepJSON` to `doc` (at most MAX_DEPTH high) with JavaScript's
// outcome `o`: the port's outcome, "ambiguous", or null.
function deepDeviation(schema, doc, stepJSON, o) {
  let slice = stepJSON && typeof stepJSON == "object" &&
    (stepJSON.stepType == "replace" || stepJSON.stepType == "replaceAround") ? stepJSON.slice : null
  if (slice && typeof slice == "object" && Array.isArray(slice.content)) {
    // The positions and open depths are read first; a malformed one is
    // rejected by both before the content.
    let port = tooDeepForPort(schema, slice.content, content =>
      Step.fromJSON(schema, {...stepJSON, slice: {...slice, content}}))
    if (port) return port
  }
  if (o.doc) {
    return heightOf(o.doc) > MAX_DEPTH
      ? {error: MAX_DEPTH_MESSAGE, errorName: "RangeError", stage: "apply"} : null
  }
  // JavaScript failed or threw. The port builds the result bottom up and may
  // meet a node deeper than its bound first when doc and slice together are.
  if (o.step && o.step.slice && heightOf(doc) + sliceHeight(o.step.slice) > MAX_DEPTH)
    return "ambiguous"
  return null
}

function sliceHeight(slice) {
  let max = 0
  slice.content.forEach(n => { max = Math.max(max, heightOf(n)) })
  return max
}

// The JSON text of `levels` blockquotes around `inner` (a JSON text).
function deepText(levels, inner) {
  return '{"type":"blockquote","content":['.repeat(levels) + inner + "]}".repeat(levels)
}

// ---------------------------------------------------------------- output

class Out {
  constructor(options) {
    this.options = options
    this.lines = []
    this.kinds = {}
    this.origins = {}
    this.deviations = {}
    this.outcomes = {}
  }

  count(group, key) {
    this[group] = this[group] || {}
    this[group][key] = (this[group][key] || 0) + 1
  }

  emit(vector, deep = null) {
    let line = JSON.stringify(vector)
    if (deep != null) line = line.replace(JSON.stringify(DEEP_PLACEHOLDER), () => deep)
    this.lines.push(line)
    this.kinds[vector.kind] = (this.kinds[vector.kind] || 0) + 1
    let origin = vector.origin || vector.mutation || vector.source
    if (origin) this.origins[origin] = (this.origins[origin] || 0) + 1
    if (vector.deviation) this.deviations[vector.deviation] = (this.deviations[vector.deviation] || 0) + 1
    if (vector.kind == "apply") {
      let res = vector.jsResult || vector.result
      let o = res.doc ? "ok" : res.failed ? "failed" : res.stage == "Step.fromJSON" ? "fromJSON" : "threw"
      this.outcomes[o] = (this.outcomes[o] || 0) + 1
    }
    if (this.lines.length >= 256) this.flush()
  }

  flush() {
    if (this.lines.length) fs.writeSync(1, this.lines.join("\n") + "\n")
    this.lines = []
  }
}

// One scenario's vectors: ids, the schema name, tags.
class Scenario {
  constructor(out, ctx, id, tags) {
    this.out = out
    this.ctx = ctx
    this.id = id
    this.tags = tags
    this.n = 0
  }

  /// Writes a vector; `deep` is the JSON text that replaces DEEP_PLACEHOLDER
  /// (JSON.stringify cannot write a value nested thousands of levels deep).
  vector(fields, deep = null) {
    let v = {id: `${this.id}-${String(this.n++).padStart(2, "0")}`, ...fields}
    if (this.tags.length) v.tags = this.tags
    this.out.emit(v, deep)
  }

  /// An `apply` vector for `stepJSON` on `doc`; returns JavaScript's outcome.
  /// `deepSlice`, when given, is the JSON text of the slice's content (too
  /// deep for JSON.stringify), and stepJSON's slice.content is DEEP_PLACEHOLDER.
  apply(doc, stepJSON, origin, deepSlice = null) {
    let schema = this.ctx.schema
    let stepText = null
    if (deepSlice) {
      stepText = JSON.stringify(stepJSON).replace(JSON.stringify(DEEP_PLACEHOLDER), () => deepSlice)
      stepJSON = JSON.parse(stepText)
    } else {
      stepJSON = viaJSON(stepJSON)
    }
    let docJSON = viaJSON(doc.toJSON())
    doc = PMNode.fromJSON(schema, docJSON)
    let o = applyOutcome(schema, doc, stepJSON)
    let v = {kind: "apply", schema: this.ctx.name, origin, doc: docJSON,
             step: stepText ? DEEP_PLACEHOLDER : stepJSON === undefined ? null : stepJSON,
             result: o.result}
    if (o.result.doc) {
      try { o.doc.check() } catch (e) { v.resultCheckError = e.message }
      // A result too deep for JSON.stringify (only ever a deviation, below).
      try { JSON.stringify(o.result) } catch (e) { o.result = {doc: "(too deep to write)"} }
    }
    // Where the port differs by design (docs/fuzzing.md), in the order its
    // Step.fromJSON and apply meet them: `port` is its outcome.
    let port = portRejects(schema, stepJSON), portStepJSON, deviation = port && "non-integer number"
    let effective = {json: stepJSON, o}
    let clampedJSON = port ? null : clampedOpenDepths(stepJSON)
    if (clampedJSON) {
      // The port keeps an open depth beyond ±OPEN_DEPTH_LIMIT as that limit:
      // it does what JavaScript does with the clamped step.
      effective = {json: clampedJSON, o: applyOutcome(schema, doc, clampedJSON)}
      deviation = "huge open depth"
    }
    let deep = port ? null : deepDeviation(schema, doc, effective.json, effective.o)
    if (deep == "ambiguous") {
      // The port may refuse a too deep intermediate node before it finds
      // JavaScript's failure: no vector (counted).
      this.out.count("skipped", "deep, ambiguous")
      return {result: {failed: "skipped"}}
    }
    if (deep) {
      port = deep
      deviation = "deep"
    } else if (!port && clampedJSON) {
      port = effective.o.result
      portStepJSON = effective.o.stepJSON
    }
    if (!deep && isStackOverflow(effective.o.result) && (!port || clampedJSON)) {
      // JavaScript ran out of stack: it has no answer to compare with.
      this.out.count("skipped", "JavaScript's stack")
      return {result: {failed: "skipped"}}
    }
    if (port) {
      v.deviation = deviation
      v.jsResult = o.result
      v.result = port
      delete v.resultCheckError
      if (portStepJSON !== undefined) v.stepJSON = portStepJSON
    } else if (o.step && o.stepJSON !== undefined && !stepText) {
      v.stepJSON = o.stepJSON
    }
    this.vector(v, stepText)
    o.json = stepJSON
    o.before = doc
    return port ? {result: {failed: "deviation"}} : o
  }

  /// A `check` vector for a document JSON (an object, or the JSON text of a
  /// deep one, see deepText): what Node.fromJSON and check() do with it.
  check(json, mutation, text = null) {
    let schema = this.ctx.schema
    let js = {}, node = null
    try {
      node = PMNode.fromJSON(schema, text ? JSON.parse(text) : json)
    } catch (e) {
      js = {valid: false, stage: "fromJSON", error: String(e.message), errorName: e.name}
    }
    if (node) {
      try {
        node.check()
        js = {valid: true}
      } catch (e) {
        js = {valid: false, stage: "check", error: String(e.message), errorName: e.name}
      }
    }
    let v = {kind: "check", schema: this.ctx.name, mutation, doc: text ? DEEP_PLACEHOLDER : json}
    let port = tooDeepForPort(schema, text ? JSON.parse(text) : json, doc => PMNode.fromJSON(schema, doc))
    if (port) {
      Object.assign(v, {valid: false, stage: "fromJSON", error: port.error, errorName: port.errorName,
                        deviation: "deep", jsResult: js})
    } else {
      Object.assign(v, js)
      if (node && (!text || js.valid)) v.normalized = node.toJSON()
    }
    this.vector(v, text)
    return node
  }

  /// An `invert` vector for what `apply` returned (a step that applied).
  invert(o, origin) {
    let {before: doc, step, json, doc: after} = o
    let inverted
    try { inverted = step.invert(doc) } catch (e) { return }
    let invJSON = viaJSON(inverted.toJSON())
    let parsed = null
    try { parsed = Step.fromJSON(this.ctx.schema, invJSON) } catch (e) {}
    let restores = false
    if (parsed) {
      try {
        let back = parsed.apply(after)
        restores = !!back.doc && back.doc.eq(doc)
      } catch (e) {}
    }
    let v = {kind: "invert", schema: this.ctx.name, origin, doc: doc.toJSON(), step: json,
             inverted: invJSON, restores}
    if (!parsed) v.invertedParses = false
    this.vector(v)
  }

  /// A `map` vector for `mapping`, with positions around [0, size].
  map(mapping, size, source, steps) {
    let r = this.ctx.r, cases = []
    for (let i = r.int(2, 8); i > 0; i--) {
      let pos = r.weighted([[10, r.int(0, size)], [1, size + r.int(1, 3)], [1, -r.int(1, 3)]])
      let assoc = r.pick([-1, 1])
      let res = mapping.mapResult(pos, assoc)
      cases.push({pos, assoc, map: mapping.map(pos, assoc),
                  result: {pos: res.pos, deleted: res.deleted, deletedBefore: res.deletedBefore,
                           deletedAfter: res.deletedAfter, deletedAcross: res.deletedAcross}})
    }
    let v = {kind: "map", source, mapping: mappingJSON(mapping), cases,
             forEach: mapping.maps.map(m => {
               let ranges = []
               m.forEach((a, b, c, d) => ranges.push([a, b, c, d]))
               return ranges
             })}
    if (steps) {
      v.schema = this.ctx.name
      v.steps = steps.map(s => viaJSON(s.toJSON()))
    }
    this.vector(v)
  }
}

function mappingJSON(mapping) {
  let out = {maps: mapping.maps.map(m => {
    let o = {ranges: m.ranges.slice()}
    if (m.inverted) o.inverted = true
    return o
  })}
  if (mapping.mirror && mapping.mirror.length) out.mirror = mapping.mirror.slice()
  if (mapping.from) out.from = mapping.from
  if (mapping.to != mapping.maps.length) out.to = mapping.to
  return out
}

// ---------------------------------------------------------------- editor steps

// Transform helper calls with random arguments. Each may throw (bad input);
// the caller ignores that and keeps the steps made so far.
const HELPERS = [
  [8, "insertText", (c, tr) => {
    let pos = position(c.r, tr.doc), to = c.r.chance(0.7) ? pos : position(c.r, tr.doc)
    let [from, end] = pos <= to ? [pos, to] : [to, pos]
    let marks = tr.doc.resolve(from).marks()
    tr.replaceWith(from, end, c.schema.text(randomText(c.r), marks))
  }],
  [4, "typing", (c, tr) => {
    // Several insertions in a row, one character each: merge candidates.
    let pos = position(c.r, tr.doc)
    for (let i = c.r.int(2, 4); i > 0; i--) {
      tr.insert(pos, c.schema.text(c.r.pick(["a", "b", "😀", "\ud83d"]), tr.doc.resolve(pos).marks()))
      pos = tr.mapping.map(pos)
    }
  }],
  [6, "delete", (c, tr) => {
    let a = position(c.r, tr.doc), b = position(c.r, tr.doc)
    tr.delete(Math.min(a, b), Math.max(a, b))
  }],
  [8, "replaceSlice", (c, tr) => {
    let other = c.r.chance(0.3) ? tr.doc : c.doc()
    let a = position(c.r, other), b = position(c.r, other)
    let slice = other.slice(Math.min(a, b), Math.max(a, b), c.r.chance(0.2))
    let from = position(c.r, tr.doc), to = c.r.chance(0.5) ? from : position(c.r, tr.doc)
    tr.replace(Math.min(from, to), Math.max(from, to), slice)
  }],
  [3, "replaceRange", (c, tr) => {
    let other = c.doc()
    let a = position(c.r, other), b = position(c.r, other)
    let slice = other.slice(Math.min(a, b), Math.max(a, b))
    let from = position(c.r, tr.doc), to = position(c.r, tr.doc)
    tr.replaceRange(Math.min(from, to), Math.max(from, to), slice)
  }],
  [3, "replaceRangeWith", (c, tr) => {
    let node = c.node(c.r.pick(c.nodeTypes.filter(t => !t.isText)), 2)
    if (!node) return
    let from = position(c.r, tr.doc), to = position(c.r, tr.doc)
    tr.replaceRangeWith(Math.min(from, to), Math.max(from, to), node)
  }],
  [3, "deleteRange", (c, tr) => {
    let from = position(c.r, tr.doc), to = position(c.r, tr.doc)
    tr.deleteRange(Math.min(from, to), Math.max(from, to))
  }],
  [3, "insert", (c, tr) => {
    let type = c.r.pick(c.nodeTypes)
    let node = type.isText ? c.schema.text(randomText(c.r)) : c.node(type, 2)
    if (!node) return
    let pos = position(c.r, tr.doc)
    if (!type.isInline && c.r.chance(0.7)) {
      let p = insertPoint(tr.doc, pos, type)
      if (p != null) pos = p
    }
    tr.insert(pos, node)
  }],
  [6, "split", (c, tr) => {
    let pos = position(c.r, tr.doc), $pos = tr.doc.resolve(pos)
    let depth = c.r.int(1, Math.max(1, $pos.depth))
    let typesAfter
    if (c.r.chance(0.3)) typesAfter = [{type: c.r.pick(c.textblockTypes)}]
    if (c.r.chance(0.85) && !canSplit(tr.doc, pos, depth, typesAfter)) return
    tr.split(pos, depth, typesAfter)
  }],
  [5, "join", (c, tr) => {
    let pos = position(c.r, tr.doc)
    if (c.r.chance(0.5)) {
      let p = joinPoint(tr.doc, pos, c.r.pick([-1, 1]))
      if (p == null) return
      pos = p
    } else if (!canJoin(tr.doc, pos)) return
    tr.join(pos, c.r.chance(0.9) ? 1 : 2)
  }],
  [5, "lift", (c, tr) => {
    let a = position(c.r, tr.doc), b = position(c.r, tr.doc)
    let range = tr.doc.resolve(Math.min(a, b)).blockRange(tr.doc.resolve(Math.max(a, b)))
    if (!range) return
    let target = liftTarget(range)
    if (target == null) return
    tr.lift(range, target)
  }],
  [5, "wrap", (c, tr) => {
    let a = position(c.r, tr.doc), b = position(c.r, tr.doc)
    let range = tr.doc.resolve(Math.min(a, b)).blockRange(tr.doc.resolve(Math.max(a, b)))
    if (!range || !c.wrapperTypes.length) return
    let type = c.r.pick(c.wrapperTypes)
    let wrapping = findWrapping(range, type, genAttrs(c.r, type))
    if (!wrapping) return
    tr.wrap(range, wrapping)
  }],
  [5, "setBlockType", (c, tr) => {
    let a = position(c.r, tr.doc), b = position(c.r, tr.doc)
    let type = c.r.pick(c.textblockTypes)
    tr.setBlockType(Math.min(a, b), Math.max(a, b), type, genAttrs(c.r, type))
  }],
  [6, "addMark", (c, tr) => {
    let a = position(c.r, tr.doc), b = position(c.r, tr.doc)
    let type = c.r.pick(c.markTypes)
    tr.addMark(Math.min(a, b), Math.max(a, b), type.create(genAttrs(c.r, type)))
  }],
  [4, "removeMark", (c, tr) => {
    let a = position(c.r, tr.doc), b = position(c.r, tr.doc)
    let type = c.r.pick(c.markTypes)
    let mark = c.r.weighted([[2, type], [2, null], [1, () => type.create(genAttrs(c.r, type))]])
    tr.removeMark(Math.min(a, b), Math.max(a, b), typeof mark == "function" ? mark() : mark)
  }],
  [4, "setNodeMarkup", (c, tr) => {
    let pos = nodePosition(c, tr.doc)
    if (pos == null) return
    let node = tr.doc.nodeAt(pos)
    let type = c.r.chance(0.5) ? null : c.r.pick(c.nodeTypes.filter(t => !t.isText))
    let marks = c.r.chance(0.3) ? c.marks(tr.doc.resolve(pos).parent.type, 0.3) : undefined
    tr.setNodeMarkup(pos, type, genAttrs(c.r, type || node.type), marks)
  }],
  [3, "setNodeAttribute", (c, tr) => {
    let pos = nodePosition(c, tr.doc)
    if (pos == null) return
    let node = tr.doc.nodeAt(pos)
    let names = Object.keys(attrSpecs(node.type))
    let attr = names.length && c.r.chance(0.8) ? c.r.pick(names) : "unknown"
    tr.setNodeAttribute(pos, attr, attrValue(c.r, attrSpecs(node.type)[attr]))
  }],
  [2, "setDocAttribute", (c, tr) => {
    let names = Object.keys(attrSpecs(c.schema.topNodeType))
    let attr = names.length && c.r.chance(0.8) ? c.r.pick(names) : "unknown"
    tr.setDocAttribute(attr, attrValue(c.r, attrSpecs(c.schema.topNodeType)[attr]))
  }],
  [3, "nodeMark", (c, tr) => {
    let pos = nodePosition(c, tr.doc)
    if (pos == null) return
    let type = c.r.pick(c.markTypes)
    let mark = type.create(genAttrs(c.r, type))
    if (c.r.chance(0.6)) tr.addNodeMark(pos, mark)
    else tr.removeNodeMark(pos, c.r.chance(0.5) ? mark : type)
  }],
  [2, "clearIncompatible", (c, tr) => {
    let pos = nodePosition(c, tr.doc)
    if (pos == null) return
    tr.clearIncompatible(pos, c.r.pick(c.nodeTypes.filter(t => !t.isText && !t.isLeaf)))
  }],
]

// The position of a random non-text node below the top node, or null.
function nodePosition(c, doc) {
  let positions = []
  doc.descendants((node, pos) => {
    if (!node.isText) positions.push(pos)
    return positions.length < 200
  })
  return positions.length ? c.r.pick(positions) : null
}

/// Runs 1-`max` random helpers on `doc`; returns the Transform and the
/// origin ("tr.<helper>") of each step.
function editorTransform(c, doc, max) {
  let tr = new Transform(doc), origins = []
  for (let i = c.r.int(1, max); i > 0; i--) {
    let [, name, fn] = c.r.weighted(HELPERS.map(h => [h[0], h]))
    let before = tr.steps.length
    try {
      fn(c, tr)
    } catch (e) {
      // A helper refused its random arguments (or a made step failed): keep the rest.
    }
    for (let k = before; k < tr.steps.length; k++) origins.push("tr." + name)
  }
  return {tr, origins}
}

// The first step of one random helper call on `doc`; a raw step when the
// helper made none.
function editorStep(c, doc) {
  let {tr, origins} = editorTransform(c, doc, 1)
  return tr.steps.length ? {origin: origins[0], json: tr.steps[0].toJSON()} : rawStep(c, doc)
}

// ---------------------------------------------------------------- raw steps

// A mark JSON: usually valid, sometimes of an unknown type, with wrong or
// missing attrs, or not a mark at all.
function hostileMark(c) {
  let r = c.r, type = r.pick(c.markTypes)
  return r.weighted([
    [12, () => type.create(genAttrs(r, type)).toJSON()],
    [2, () => ({type: "nope"})],
    [2, () => {
      let specs = attrSpecs(type), names = Object.keys(specs)
      if (!names.length) return {type: type.name, attrs: {zzz: 1}}
      let attrs = genAttrs(r, type), name = r.pick(names)
      if (r.chance(0.5)) delete attrs[name]
      else attrs[name] = wrongAttrValue(r, specs[name])
      return {type: type.name, attrs}
    }],
    [1, () => r.pick([null, "em", 5, [], {}, {type: ["em"]}, {type: "link"}])],
  ])()
}

// The JSON of a node that may be hostile: an unknown type, wrong or missing
// attrs, content that is not an array or holds nulls, empty or non-string
// text, leaves with content, content the parent does not allow, bad marks.
function hostileNode(c, depth = 1) {
  let r = c.r
  let type = r.pick(c.nodeTypes)
  let node = type.isText ? c.schema.text(randomText(r), c.marks(null)) : c.node(type, depth)
  let json = node ? node.toJSON() : {type: type.name}
  if (!r.chance(0.5)) return json
  return mutateNodeJSON(c, json)
}

const NODE_MUTATIONS = [
  "unknownType", "typeNotString", "typeArray", "attrsNotObject", "wrongAttr", "missingAttr",
  "extraAttr", "contentNotArray", "contentNull", "emptyText", "textNotString", "textWithContent",
  "leafWithContent", "wrongChild", "badMarks", "marksNotArray", "disallowedMark", "duplicateMark",
  "textAtTop", "nullNode",
]

// Changes one thing in a node's JSON (at the top or in a random descendant).
function mutateNodeJSON(c, json, mutation = c.r.pick(NODE_MUTATIONS)) {
  let r = c.r, s = c.schema
  // Pick the node to change: the root or a random descendant.
  let target = json, parents = [json]
  while (target && Array.isArray(target.content) && target.content.length && r.chance(0.5)) {
    target = r.pick(target.content)
    parents.push(target)
  }
  if (!target || typeof target != "object") return json
  let type = s.nodes[target.type]
  switch (mutation) {
    case "unknownType": target.type = r.pick(["nope", "", "Paragraph", "__proto__", "constructor"]); break
    case "typeNotString": target.type = r.pick([null, 5, true, {}]); break
    case "typeArray": target.type = [target.type]; break
    case "attrsNotObject": target.attrs = r.pick([5, "x", [], null, true]); break
    case "wrongAttr": case "missingAttr": case "extraAttr": {
      let specs = type ? attrSpecs(type) : {}, names = Object.keys(specs)
      if (mutation == "extraAttr" || !names.length) {
        target.attrs = {...(target.attrs || {}), zzz: anyJSON(r)}
      } else {
        let name = r.pick(names)
        target.attrs = {...(target.attrs || {})}
        if (mutation == "missingAttr") delete target.attrs[name]
        else target.attrs[name] = wrongAttrValue(r, specs[name])
      }
      break
    }
    case "contentNotArray": target.content = r.pick([5, "x", {}, true, {type: "text", text: "x"}]); break
    case "contentNull": target.content = [...(Array.isArray(target.content) ? target.content : []), null]; break
    case "emptyText": target.content = [{type: "text", text: ""}]; break
    case "textNotString": target.content = [{type: "text", text: r.pick([5, null, ["x"], {}])}]; break
    case "textWithContent": Object.assign(target, {type: "text", text: "x", content: [{type: "text", text: "y"}]}); break
    case "leafWithContent": {
      let leaf = c.nodeTypes.find(t => t.isLeaf && !t.isText)
      if (leaf) target.content = [{type: leaf.name, ...(type && type.isLeaf ? {} : {})}]
      target.type = leaf ? leaf.name : target.type
      if (leaf) {
        let attrs = genAttrs(r, leaf)
        if (Object.keys(attrs).length) target.attrs = attrs
        else delete target.attrs
        target.content = [{type: "text", text: "inside a leaf"}]
      }
      break
    }
    case "wrongChild": {
      let child = c.node(r.pick(c.nodeTypes.filter(t => !t.isText)), 1)
      target.content = [...(Array.isArray(target.content) ? target.content : []),
                        child ? child.toJSON() : {type: "text", text: "x"}]
      break
    }
    case "badMarks": target.marks = [hostileMark(c)]; break
    case "marksNotArray": target.marks = r.pick(["em", 5, {type: "em"}, true]); break
    case "disallowedMark": case "duplicateMark": {
      let markType = r.pick(c.markTypes)
      let mark
      try { mark = markType.create(genAttrs(r, markType)).toJSON() } catch (e) { mark = {type: markType.name} }
      target.marks = mutation == "duplicateMark" ? [mark, mark] : [mark]
      break
    }
    case "textAtTop": target.content = [{type: "text", text: randomText(r)}]; break
    case "nullNode": {
      let parent = parents.length > 1 ? parents[parents.length - 2] : null
      if (parent) parent.content = parent.content.map(n => (n === target ? null : n))
      break
    }
  }
  return json
}

// A slice JSON for raw steps: cut from this or another document, or built
// from random (possibly hostile) nodes; open depths natural, too large,
// opened into leaves and text, or not numbers.
function hostileSlice(c, doc) {
  let r = c.r
  return r.weighted([
    [10, () => {
      let src = r.chance(0.4) ? doc : c.doc()
      let a = position(r, src), b = position(r, src)
      let slice
      try { slice = src.slice(Math.max(0, Math.min(a, b)), Math.min(src.content.size, Math.max(a, b))) }
      catch (e) { slice = Slice.empty }
      let json = slice.toJSON() || {}
      if (r.chance(0.4)) {
        json.openStart = hostileOpen(r, slice.openStart)
        json.openEnd = hostileOpen(r, slice.openEnd)
      }
      return json
    }],
    [6, () => {
      let content = []
      for (let i = r.int(1, 3); i > 0; i--) content.push(hostileNode(c, r.int(0, 2)))
      let natural = fragmentDepth(content)
      return {content, openStart: hostileOpen(r, natural), openEnd: hostileOpen(r, natural)}
    }],
    [4, () => {
      // Opened into a leaf or into text (issue 10 finding 1).
      let leaf = r.pick(c.nodeTypes.filter(t => t.isLeaf))
      let node = leaf.isText ? {type: "text", text: randomText(r)} : c.node(leaf, 0)?.toJSON()
      let content = [node || {type: "text", text: "a"}]
      if (r.chance(0.3)) content.push({type: "text", text: "b"})
      return {content, openStart: r.int(0, 2), openEnd: r.int(0, 2)}
    }],
    [2, () => r.pick([null, undefined, {}, 5, "x", [], {content: []}, {content: null, openStart: 1},
                      {openStart: 1, openEnd: 1}])],
  ])()
}

// The depth of the first-child chain of a JSON fragment (a natural openStart).
function fragmentDepth(content) {
  let depth = 0, node = content[0]
  while (node && typeof node == "object" && Array.isArray(node.content) && node.content.length) {
    depth++
    node = node.content[0]
  }
  return depth
}

function withPositions(json, fields) {
  for (let [k, v] of Object.entries(fields)) if (v !== undefined) json[k] = v
  return json
}

// A hostile raw step for `doc`.
function rawStep(c, doc) {
  let r = c.r
  let from = hostilePosition(r, doc), to = hostilePosition(r, doc, typeof from == "number" ? from : undefined)
  let kind = r.weighted([[10, "replace"], [7, "replaceAround"], [3, "addMark"], [3, "removeMark"],
                         [2, "addNodeMark"], [2, "removeNodeMark"], [3, "attr"], [2, "docAttr"],
                         [2, "markSet"], [2, "garbage"]])
  let structure = r.chance(0.2) ? {structure: r.pick([true, true, false, 1, "yes", null, 0])} : {}
  switch (kind) {
    case "replace": {
      let json = withPositions({stepType: "replace"}, {from, to})
      let slice = r.chance(0.85) ? hostileSlice(c, doc) : undefined
      if (slice !== undefined) json.slice = slice
      return {origin: "raw.replace", json: {...json, ...structure}}
    }
    case "replaceAround": {
      let size = doc.content.size
      let a = r.int(0, size), b = r.int(a, size), g1 = r.int(a, b), g2 = r.int(g1, b)
      let pick = (v, near) => (r.chance(0.7) ? v : hostilePosition(r, doc, near))
      let slice = hostileSlice(c, doc)
      let sliceSize = 0
      try { sliceSize = Slice.fromJSON(c.schema, slice).size } catch (e) {}
      let json = withPositions({stepType: "replaceAround"}, {
        from: pick(a, a), to: pick(b, b), gapFrom: pick(g1, g1), gapTo: pick(g2, g2),
        insert: r.chance(0.7) ? r.int(0, sliceSize) : hostilePosition(r, doc, sliceSize)})
      if (slice !== undefined) json.slice = slice
      return {origin: "raw.replaceAround", json: {...json, ...structure}}
    }
    case "addMark": case "removeMark":
      return {origin: "raw." + kind, json: withPositions({stepType: kind, mark: hostileMark(c)}, {from, to})}
    case "addNodeMark": case "removeNodeMark": {
      let pos = r.chance(0.6) ? nodePosition(c, doc) ?? from : from
      return {origin: "raw." + kind, json: withPositions({stepType: kind, mark: hostileMark(c)}, {pos})}
    }
    case "attr": {
      let pos = r.chance(0.6) ? nodePosition(c, doc) ?? from : from
      let node = null
      try { node = typeof pos == "number" ? doc.nodeAt(pos) : null } catch (e) {}
      let names = node ? Object.keys(attrSpecs(node.type)) : []
      let attr = names.length && r.chance(0.7) ? r.pick(names)
        : r.pick(["unknown", "", "__proto__", 5, null, undefined, "level"])
      let json = withPositions({stepType: "attr"}, {pos, attr})
      let spec = node && typeof attr == "string" ? attrSpecs(node.type)[attr] : undefined
      let value = r.weighted([[6, () => attrValue(r, spec)], [3, () => wrongAttrValue(r, spec)],
                              [1, () => undefined]])()
      if (value !== undefined) json.value = value
      return {origin: "raw.attr", json}
    }
    case "docAttr": {
      let names = Object.keys(attrSpecs(c.schema.topNodeType))
      let attr = names.length && r.chance(0.7) ? r.pick(names) : r.pick(["unknown", "", 5, null, undefined])
      let spec = typeof attr == "string" ? attrSpecs(c.schema.topNodeType)[attr] : undefined
      let json = withPositions({stepType: "docAttr"}, {attr})
      let value = r.chance(0.6) ? attrValue(r, spec) : r.chance(0.8) ? wrongAttrValue(r, spec) : undefined
      if (value !== undefined) json.value = value
      return {origin: "raw.docAttr", json}
    }
    case "markSet": {
      let steps = []
      for (let i = r.int(0, 3); i > 0; i--) {
        let inner = r.weighted([[8, () => rawStep(c, doc).json], [3, () => withPositions(
          {stepType: r.pick(["addMark", "removeMark"]), mark: hostileMark(c)},
          {from: hostilePosition(r, doc), to: hostilePosition(r, doc)})],
                                [1, () => r.pick([null, 5, {stepType: "markSet", steps: []}])]])()
        steps.push(inner)
      }
      // Mostly mark steps, as a markSet is made of.
      steps = steps.map(s => (s && typeof s == "object" && !["addMark", "removeMark"].includes(s.stepType) &&
                              r.chance(0.8) ? withPositions({stepType: "addMark", mark: hostileMark(c)},
                                                            {from: hostilePosition(r, doc), to: hostilePosition(r, doc)})
                              : s))
      return {origin: "raw.markSet", json: {stepType: "markSet", steps: r.chance(0.9) ? steps : r.pick([5, null, {}])}}
    }
    default:
      return {origin: "raw.garbage", json: r.pick([
        null, 5, "replace", [], {}, true, {stepType: ""}, {stepType: "nope"}, {stepType: 0},
        {stepType: "constructor"}, {stepType: "__proto__"}, {stepType: "toString"},
        withPositions({stepType: ["replace"]}, {from, to}), withPositions({stepType: "Replace"}, {from, to}),
        {stepType: "replace", from: 0}, {stepType: "replaceAround", from: 0, to: 0},
      ])}
  }
}

// Changes one field of a step made by a helper: positions off by one or
// hostile, open depths, slice content, flags, missing fields.
function mutateStep(c, doc, json) {
  let r = c.r
  json = viaJSON(json)
  let keys = Object.keys(json).filter(k => k != "stepType")
  let numeric = keys.filter(k => typeof json[k] == "number")
  let what = r.weighted([[8, "nudge"], [3, "hostile"], [2, "swap"], [3, "open"], [2, "sliceContent"],
                         [1, "structure"], [1, "drop"], [1, "mark"], [1, "stepType"]])
  if (what == "nudge" && numeric.length) {
    let k = r.pick(numeric)
    json[k] += r.pick([-2, -1, 1, 2])
  } else if (what == "hostile" && numeric.length) {
    let k = r.pick(numeric), v = hostilePosition(r, doc, json[k])
    if (v === undefined) delete json[k]
    else json[k] = v
  } else if (what == "swap" && numeric.length >= 2) {
    let a = r.pick(numeric), b = r.pick(numeric);
    [json[a], json[b]] = [json[b], json[a]]
  } else if (what == "open" && json.slice && typeof json.slice == "object") {
    let k = r.pick(["openStart", "openEnd"]), natural = json.slice[k] || 0
    let v = hostileOpen(r, natural + r.pick([-1, 1, 2]))
    if (v === undefined) delete json.slice[k]
    else json.slice[k] = v
  } else if (what == "sliceContent" && json.slice && Array.isArray(json.slice.content)) {
    json.slice.content = json.slice.content.map(n => (r.chance(0.5) ? mutateNodeJSON(c, n) : n))
  } else if (what == "structure" && (json.stepType == "replace" || json.stepType == "replaceAround")) {
    if (json.structure) delete json.structure
    else json.structure = true
  } else if (what == "drop" && keys.length) {
    delete json[r.pick(keys)]
  } else if (what == "mark" && json.mark) {
    json.mark = hostileMark(c)
  } else if (what == "stepType") {
    json.stepType = r.pick(["replace", "replaceAround", "addMark", "removeMark", "attr", "markSet"])
  } else if (numeric.length) {
    json[r.pick(numeric)] += 1
  }
  return json
}

// ---------------------------------------------------------------- scenarios

// Helper-made steps: apply, invert, map, merge and stepmap vectors.
function helpersScenario(sc, doc) {
  let c = sc.ctx
  let {tr, origins} = editorTransform(c, doc, 4)
  for (let i = 0; i < tr.steps.length; i++) {
    let o = sc.apply(tr.docs[i], tr.steps[i].toJSON(), origins[i])
    if (o.doc && c.r.chance(0.5)) sc.invert(o, origins[i])
  }
  if (tr.steps.length && c.r.chance(0.4)) {
    let mapping = c.r.chance(0.25) ? tr.mapping.invert() : tr.mapping
    sc.map(mapping, doc.content.size, mapping === tr.mapping ? "transform" : "transform-inverted",
           mapping === tr.mapping ? tr.steps : null)
  }
  for (let i = 0; i + 1 < tr.steps.length; i++) {
    if (!c.r.chance(0.3)) continue
    let doc = canon(c.schema, tr.docs[i])
    let step = Step.fromJSON(c.schema, viaJSON(tr.steps[i].toJSON()))
    let other = Step.fromJSON(c.schema, viaJSON(tr.steps[i + 1].toJSON()))
    let merged = step.merge(other)
    let equivalent = false
    if (merged) {
      try {
        let a = step.apply(doc), b = a.doc && other.apply(a.doc), m = merged.apply(doc)
        equivalent = !!(b && b.doc && m.doc && m.doc.eq(b.doc))
      } catch (e) {}
    }
    let v = {kind: "merge", schema: c.name, origin: origins[i], doc: doc.toJSON(),
             step: viaJSON(step.toJSON()), other: viaJSON(other.toJSON()),
             merged: merged ? viaJSON(merged.toJSON()) : null}
    if (merged) v.equivalent = equivalent
    sc.vector(v)
  }
  if (tr.steps.length && c.r.chance(0.4)) {
    // A concurrent edit: the first step mapped over another editor's steps.
    let other = editorTransform(c, doc, 2)
    let step = tr.steps[0]
    let mapped = step.map(other.tr.mapping)
    let v = {kind: "stepmap", schema: c.name, origin: origins[0], doc: viaJSON(doc.toJSON()),
             otherSteps: other.tr.steps.map(s => viaJSON(s.toJSON())), step: viaJSON(step.toJSON()),
             mapping: mappingJSON(other.tr.mapping), mapped: mapped ? viaJSON(mapped.toJSON()) : null}
    if (mapped) {
      let mappedJSON = viaJSON(mapped.toJSON())
      let target = canon(c.schema, other.tr.doc)
      let o = applyOutcome(c.schema, target, mappedJSON)
      if (!portRejects(c.schema, mappedJSON)) v.target = {doc: target.toJSON(), result: o.result}
    }
    sc.vector(v)
  }
}

// A sequence of steps: each applies to what the previous left.
function sequenceScenario(sc, doc, count, make) {
  let c = sc.ctx
  for (let i = 0; i < count; i++) {
    let {origin, json} = make(doc)
    let o = sc.apply(doc, json, origin)
    if (o.doc) {
      if (c.r.chance(0.3)) sc.invert(o, origin)
      doc = o.doc
    }
  }
}

function mutateScenario(sc, doc) {
  let c = sc.ctx
  sequenceScenario(sc, doc, c.r.int(1, 3), d => {
    let {tr, origins} = editorTransform(c, d, 2)
    if (!tr.steps.length) return rawStep(c, d)
    let i = c.r.int(0, tr.steps.length - 1)
    // The step made on an intermediate document applies to `d` as it would to that one.
    return {origin: "mutated." + origins[i].slice(3), json: mutateStep(c, d, tr.steps[i].toJSON())}
  })
}

function rawScenario(sc, doc) {
  let c = sc.ctx
  sequenceScenario(sc, doc, c.r.int(1, 4), d => (c.r.chance(0.8) ? rawStep(c, d) : editorStep(c, d)))
}

// Hostile documents: `check` vectors, and steps on what JavaScript parses.
function hostileScenario(sc, doc) {
  let c = sc.ctx, r = c.r
  let json = doc.toJSON()
  for (let i = r.int(1, 2); i > 0; i--) json = mutateNodeJSON(c, json)
  if (r.chance(0.05)) json = r.pick([null, 5, "doc", [], {}])
  json = viaJSON(json)
  let v = {kind: "check", schema: c.name, mutation: "hostile", doc: json === undefined ? null : json}
  let node = null
  try {
    node = PMNode.fromJSON(c.schema, json)
  } catch (e) {
    v.valid = false
    v.stage = "fromJSON"
    v.error = String(e.message)
    v.errorName = e.name
  }
  if (node) {
    v.normalized = node.toJSON()
    try {
      node.check()
      v.valid = true
    } catch (e) {
      v.valid = false
      v.stage = "check"
      v.error = String(e.message)
      v.errorName = e.name
    }
  }
  sc.vector(v)
  // Steps on a parsed document of the top type, even an invalid one.
  if (node && node.type == c.schema.topNodeType && r.chance(0.6)) {
    sequenceScenario(sc, node, r.int(1, 2), d => (r.chance(0.5) ? rawStep(c, d) : editorStep(c, d)))
  }
}

// The position at the start of the last innermost textblock's content (or
// the end of the document's content when there is none).
function innerPos(doc) {
  let node = doc, pos = 0
  while (!node.isTextblock && node.childCount) {
    let last = node.lastChild
    pos += node.content.size - last.nodeSize + 1
    node = last
  }
  return node.isTextblock ? pos : doc.content.size
}

// The position after that textblock, in its parent: where a closed block fits.
function innerBlockPos(doc) {
  let pos = innerPos(doc), $pos = doc.resolve(pos)
  return $pos.parent.isTextblock ? $pos.after() : pos
}

const PARAGRAPH_TEXT = '{"type":"paragraph","content":[{"type":"text","text":"x"}]}'

// Deep documents and deep slices. By default 20-100 levels of blockquotes
// with steps that may nest as deep again (a step that crosses the port's
// bound is a documented difference). --deep: thousands of levels (see
// deepMode).
function deepScenario(sc) {
  let c = sc.ctx, r = c.r
  if (c.options.deep) return deepMode(sc)
  let levels = r.int(20, 100)
  let doc = canon(c.schema, c.deepDoc(levels))
  sequenceScenario(sc, doc, r.int(1, 3), d => r.weighted([
    [3, () => {
      let inner = innerPos(d)
      return {origin: "deep.insertText", json: {stepType: "replace", from: inner, to: inner,
                                                slice: {content: [{type: "text", text: randomText(r)}]}}}
    }],
    [2, () => {
      // A slice as deep again, opened at both ends.
      let wrapped = c.deepDoc(r.int(1, levels)).lastChild, inner = innerPos(d)
      return {origin: "deep.replaceDeepSlice", json: {
        stepType: "replace", from: inner, to: inner,
        slice: {content: [wrapped.toJSON()], openStart: hostileOpen(r, depthOf(wrapped)),
                openEnd: hostileOpen(r, depthOf(wrapped))}}}
    }],
    [2, () => editorStep(c, d)],
    [2, () => rawStep(c, d)],
  ])())
}

// --deep: documents and slices nested 257 to 15,000 levels (JavaScript's
// own parse gives up with "Maximum call stack size exceeded" at about 2,000),
// steps whose result crosses the port's bound, and steps that each nest
// 50-250 levels more until it is crossed (issue 10, finding 2).
function deepMode(sc) {
  let c = sc.ctx, r = c.r
  let levels = r.weighted([[2, r.int(MAX_DEPTH + 1, 1000)], [2, r.int(1000, 3000)],
                           [1, r.int(3000, 15000)]])
  switch (r.pick(["document", "slice", "crossing", "accumulate"])) {
    case "document":
      sc.check(null, "deep", `{"type":"doc","content":[${deepText(levels, PARAGRAPH_TEXT)}]}`)
      return
    case "slice": {
      let doc = r.chance(0.5) ? c.doc() : canon(c.schema, c.deepDoc(r.int(1, MAX_DEPTH - 3)))
      let pos = r.chance(0.7) ? innerPos(doc) : position(r, doc)
      let json = {stepType: "replace", from: pos, to: pos,
                  slice: {content: DEEP_PLACEHOLDER, openStart: hostileOpen(r, levels + 1),
                          openEnd: hostileOpen(r, levels + 1)}}
      sc.apply(doc, json, "deep.slice", `[${deepText(levels, PARAGRAPH_TEXT)}]`)
      return
    }
    case "crossing": {
      let doc = canon(c.schema, c.deepDoc(r.int(MAX_DEPTH - 100, MAX_DEPTH - 3)))
      let slice = c.deepDoc(r.int(1, 200)).lastChild
      let open = r.chance(0.5) ? depthOf(slice) : 0
      let inner = open ? innerPos(doc) : innerBlockPos(doc)
      sc.apply(doc, {stepType: "replace", from: inner, to: inner,
                     slice: {content: [slice.toJSON()], openStart: open, openEnd: open}},
               "deep.crossing")
      return
    }
    default: {
      let doc = canon(c.schema, c.deepDoc(r.int(1, 50)))
      for (let i = 0; i < 40; i++) {
        let slice = c.deepDoc(r.int(50, 250)).lastChild, inner = innerBlockPos(doc)
        let o = sc.apply(doc, {stepType: "replace", from: inner, to: inner,
                               slice: {content: [slice.toJSON()]}}, "deep.accumulate")
        if (!o.doc) {
          // The port refused the step that crossed its bound; JavaScript's
          // document went on, and the port refuses to load it too.
          let jsDoc = Step.fromJSON(c.schema, {stepType: "replace", from: inner, to: inner,
                                               slice: {content: [slice.toJSON()]}}).apply(doc).doc
          if (jsDoc) sc.check(jsDoc.toJSON(), "deep")
          return
        }
        doc = o.doc
      }
    }
  }
}

// Random and hostile mappings (no document): `map` vectors.
function mappingScenario(sc) {
  let c = sc.ctx, r = c.r
  // Maps as steps make them: ranges in order, not overlapping. Mirrors pair a
  // map with its inverse, as Mapping's contract asks (a mirror between other
  // maps makes JavaScript compute NaN).
  let maps = [], mirror = []
  for (let i = r.int(1, 4); i > 0; i--) {
    let ranges = [], pos = 0
    for (let k = r.int(0, 3); k > 0; k--) {
      pos += r.int(0, 6)
      let oldSize = r.int(0, 5)
      ranges.push(pos, oldSize, r.int(0, 5))
      pos += oldSize
    }
    maps.push(r.chance(0.1) ? StepMap.offset(r.int(-3, 3)) : new StepMap(ranges, r.chance(0.2)))
  }
  if (r.chance(0.3)) {
    let n = maps.length, k = r.int(0, n - 1)
    maps.push(maps[k].invert())
    mirror.push(k, n)
  }
  let mapping = new Mapping(maps, mirror.length ? mirror : undefined)
  if (r.chance(0.2) && maps.length >= 2) mapping = mapping.slice(r.int(0, 1), r.int(1, maps.length))
  let size = 0
  for (let m of maps) m.forEach((a, b) => { size = Math.max(size, b) })
  sc.map(mapping, size + 2, "random:fuzz")
}

const SCENARIOS = [
  [34, "helpers", (sc, doc) => helpersScenario(sc, doc)],
  [18, "mutate", (sc, doc) => mutateScenario(sc, doc)],
  [28, "raw", (sc, doc) => rawScenario(sc, doc)],
  [12, "hostile", (sc, doc) => hostileScenario(sc, doc)],
  [3, "deep", sc => deepScenario(sc)],
  [5, "mapping", sc => mappingScenario(sc)],
]

// ---------------------------------------------------------------- main

function loadSchemas(dir) {
  let out = {}
  for (let name of ["basic", "extended", "tiptap"]) {
    let spec = JSON.parse(fs.readFileSync(path.join(dir, name + ".json"), "utf8"))
    out[name] = new Schema({topNode: spec.topNode, nodes: Object.fromEntries(spec.nodes),
                            marks: Object.fromEntries(spec.marks || [])})
  }
  return out
}

function main() {
  let args = parseArgs(process.argv)
  setMaxDepth(args.maxDepth || readMaxDepth())
  OPEN_DEPTH_LIMIT = readOpenDepthLimit()
  let schemas = loadSchemas(args.schemas)
  let names = Object.keys(schemas)
  let seed = /^\d+$/.test(args.seed) ? Number(args.seed) >>> 0 : hashString(args.seed)
  let out = new Out(args)
  let scenarios = {}
  for (let n = args.first; n < args.first + args.count; n++) {
    let r = new Rand(scenarioSeed(seed, n))
    let name = r.pick(names)
    let ctx = new Ctx(r, schemas[name], name, args)
    let [, kind, run] = args.deep ? [0, "deep", sc => deepScenario(sc)]
      : r.weighted(SCENARIOS.map(s => [s[0], s]))
    scenarios[kind] = (scenarios[kind] || 0) + 1
    let tags = kind == "deep" ? ["deep"] : []
    let sc = new Scenario(out, ctx, `${args.seed}-${n}`, tags)
    let doc = kind == "deep" || kind == "mapping" ? null : ctx.doc()
    try {
      run(sc, doc)
    } catch (e) {
      // A bug in this generator, not a finding: say which scenario.
      process.stderr.write(`gen.mjs: scenario ${args.seed}-${n} (${kind}): ${e.stack}\n`)
      process.exitCode = 1
    }
  }
  out.flush()
  if (args.stats) {
    fs.writeFileSync(args.stats, JSON.stringify({seed: args.seed, first: args.first, count: args.count,
      scenarios, kinds: out.kinds, applyOutcomes: out.outcomes, deviations: out.deviations,
      skipped: out.skipped || {}, origins: out.origins}) + "\n")
  }
}

main()
