// Schema specs: the JSON form of a ProseMirror schema that the server
// reads (`{"name", "topNode", "nodes": [[name, spec], ...], "marks": [...]}`,
// the format of the conformance schemas), and the comparison the client
// makes at connect time between its editor's schema and the server's.
//
// A spec keeps what decides whether a step applies: content expressions,
// groups, flags and attributes. It drops what only concerns the DOM
// (`parseDOM`, `toDOM`) and every function-valued field; an attribute keeps
// its `default` and its `validate` only when that is a string (a function
// cannot cross the wire).

import {Schema} from "prosemirror-model"

/// A node or mark spec in JSON form.
export type SpecJSON = {[key: string]: unknown}

/// A schema in the server's JSON spec format.
export interface SchemaSpecJSON {
  name?: string
  description?: string
  topNode?: string
  nodes: [string, SpecJSON][]
  marks: [string, SpecJSON][]
}

// Spec fields that describe rendering and parsing, never the document.
const domFields = new Set(["parseDOM", "toDOM", "toDebugString", "leafText"])

/// The JSON spec of a schema, ready for `realtime-pm serve --schema FILE`.
export function schemaSpec(schema: Schema, name = "custom"): SchemaSpecJSON {
  let nodes: [string, SpecJSON][] = []
  for (let type of Object.values(schema.nodes)) nodes.push([type.name, cleanSpec(type.spec)])
  let marks: [string, SpecJSON][] = []
  for (let type of Object.values(schema.marks)) marks.push([type.name, cleanSpec(type.spec)])
  return {name, topNode: schema.topNodeType.name, nodes, marks}
}

function cleanSpec(spec: object): SpecJSON {
  let result: SpecJSON = {}
  for (let [key, value] of Object.entries(spec)) {
    if (domFields.has(key)) continue
    if (key == "attrs") {
      let attrs = cleanAttrs(value)
      if (attrs) result.attrs = attrs
      continue
    }
    let json = jsonValue(value)
    if (json !== undefined) result[key] = json
  }
  return result
}

function cleanAttrs(attrs: unknown): SpecJSON | undefined {
  if (!attrs || typeof attrs != "object") return undefined
  let result: SpecJSON = {}
  for (let [name, attr] of Object.entries(attrs)) {
    let out: SpecJSON = {}
    if (attr && typeof attr == "object") {
      let {default: def, validate} = attr as {default?: unknown, validate?: unknown}
      let json = jsonValue(def)
      if ("default" in attr && json !== undefined) out.default = json
      if (typeof validate == "string") out.validate = validate
    }
    result[name] = out
  }
  return Object.keys(result).length ? result : undefined
}

// The JSON form of a value, or undefined when it has none (functions,
// undefined, values that JSON cannot hold). Function-valued members of
// objects are dropped.
function jsonValue(value: unknown): unknown {
  if (value === null || typeof value == "string" || typeof value == "boolean") return value
  if (typeof value == "number") return Number.isFinite(value) ? value : undefined
  if (Array.isArray(value)) return value.map(v => jsonValue(v) ?? null)
  if (typeof value == "object") {
    let proto = Object.getPrototypeOf(value)
    if (proto != Object.prototype && proto != null) return undefined // RegExp, DOM nodes, class instances
    let result: SpecJSON = {}
    for (let [k, v] of Object.entries(value)) {
      let json = jsonValue(v)
      if (json !== undefined) result[k] = json
    }
    return result
  }
  return undefined
}

/// One way in which two schema specs differ.
export interface SchemaDifference {
  /// `node` or `mark`, or `schema` for the top node and the order of types.
  kind: "node" | "mark" | "schema"
  /// The node or mark name ("" for `schema`).
  name: string
  /// What differs, in words.
  message: string
}

/// Compare the server's spec with the editor's. Returns the differences
/// that change how steps apply: a missing or extra node or mark, a field
/// of a spec, an attribute, the order of types (which decides default
/// types), the top node. `name` and `description` are ignored. Empty when
/// the schemas are equal.
export function compareSchemaSpecs(server: SchemaSpecJSON, editor: SchemaSpecJSON): SchemaDifference[] {
  let diffs: SchemaDifference[] = []
  let serverTop = server.topNode || "doc", editorTop = editor.topNode || "doc"
  if (serverTop != editorTop)
    diffs.push({kind: "schema", name: "", message: `top node: server "${serverTop}", editor "${editorTop}"`})
  compareTypes("node", server.nodes || [], editor.nodes || [], diffs)
  compareTypes("mark", server.marks || [], editor.marks || [], diffs)
  return diffs
}

function compareTypes(kind: "node" | "mark", server: [string, SpecJSON][], editor: [string, SpecJSON][],
                      diffs: SchemaDifference[]) {
  let serverMap = new Map(server), editorMap = new Map(editor)
  for (let [name, spec] of server) {
    let other = editorMap.get(name)
    if (!other) { diffs.push({kind, name, message: `${kind} "${name}" is missing in the editor`}); continue }
    for (let field of fieldDiffs(normalize(spec), normalize(other), ""))
      diffs.push({kind, name, message: `${kind} "${name}": ${field}`})
  }
  for (let [name] of editor)
    if (!serverMap.has(name)) diffs.push({kind, name, message: `${kind} "${name}" is missing on the server`})
  let serverOrder = server.map(e => e[0]).filter(n => editorMap.has(n))
  let editorOrder = editor.map(e => e[0]).filter(n => serverMap.has(n))
  if (serverOrder.join(",") != editorOrder.join(","))
    diffs.push({kind: "schema", name: "",
                message: `${kind} order: server [${serverOrder.join(", ")}], editor [${editorOrder.join(", ")}]`})
}

// Both sides go through the same cleaning, so a spec read from the server
// compares equal to one made by `schemaSpec`.
function normalize(spec: SpecJSON): SpecJSON {
  return cleanSpec(spec)
}

function fieldDiffs(a: unknown, b: unknown, path: string): string[] {
  if (isObject(a) && isObject(b)) {
    let out: string[] = []
    for (let key of new Set([...Object.keys(a), ...Object.keys(b)]))
      out.push(...fieldDiffs(a[key], b[key], path ? path + "." + key : key))
    return out
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return []
  return [`${path}: server ${show(a)}, editor ${show(b)}`]
}

function isObject(v: unknown): v is SpecJSON {
  return !!v && typeof v == "object" && !Array.isArray(v)
}

function show(v: unknown): string {
  return v === undefined ? "absent" : JSON.stringify(v)
}
