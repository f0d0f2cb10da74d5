import {test, after} from "node:test"
import assert from "node:assert/strict"
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from "node:fs"
import {join} from "node:path"
import {spawnSync} from "node:child_process"
import {Schema} from "prosemirror-model"
import {getSchema} from "@tiptap/core"
import StarterKit from "@tiptap/starter-kit"
import {schemaSpec, compareSchemaSpecs, SchemaSpecJSON} from "../src/schema-spec.js"
import {TestServer, packageRoot} from "./server.js"

const sharedSchemas = join(process.env.RTPM_SHARED_DIR ?? join(packageRoot, "../../../shared"), "conformance/schemas")

const tiny = new Schema({
  nodes: {
    doc: {content: "block+"},
    paragraph: {content: "inline*", group: "block", parseDOM: [{tag: "p"}], toDOM: () => ["p", 0]},
    image: {
      inline: true, group: "inline", draggable: true,
      attrs: {src: {validate: "string"}, alt: {default: null, validate: (v: unknown) => { if (v == 1) throw 0 }}},
      toDOM: node => ["img", node.attrs], leafText: () => "img"
    },
    text: {group: "inline"}
  },
  marks: {em: {parseDOM: [{tag: "em"}], toDOM: () => ["em", 0]}, code: {excludes: "_", inclusive: false}}
})

test("specs keep the document's rules and drop DOM and function fields", () => {
  let spec = schemaSpec(tiny, "tiny")
  assert.deepEqual(spec, {
    name: "tiny", topNode: "doc",
    nodes: [
      ["doc", {content: "block+"}],
      ["paragraph", {content: "inline*", group: "block"}],
      ["image", {inline: true, group: "inline", draggable: true,
                 attrs: {src: {validate: "string"}, alt: {default: null}}}],
      ["text", {group: "inline"}]
    ],
    marks: [["em", {}], ["code", {excludes: "_", inclusive: false}]]
  })
  assert.deepEqual(compareSchemaSpecs(spec, schemaSpec(tiny)), [])
})

test("Tiptap StarterKit gives exactly the tiptap spec of the conformance set", {skip: !existsSync(sharedSchemas)}, () => {
  let file = JSON.parse(readFileSync(join(sharedSchemas, "tiptap.json"), "utf8"))
  let spec = schemaSpec(getSchema([StarterKit]), "tiptap")
  let {description, ...rest} = file
  assert.ok(description)
  assert.deepEqual(spec, rest)
  assert.deepEqual(compareSchemaSpecs(file, spec), [])
})

test("differences name the node or mark", () => {
  let base = schemaSpec(tiny)
  let changed: SchemaSpecJSON = JSON.parse(JSON.stringify(base))
  changed.nodes[1][1].content = "text*"
  ;(changed.nodes[2][1].attrs as any).src.default = "x.png"
  changed.marks.pop()
  changed.marks.push(["strong", {}])
  let messages = compareSchemaSpecs(base, changed).map(d => `${d.kind} ${d.name}: ${d.message}`)
  assert.deepEqual(messages, [
    'node paragraph: node "paragraph": content: server "inline*", editor "text*"',
    'node image: node "image": attrs.src.default: server absent, editor "x.png"',
    'mark code: mark "code" is missing in the editor',
    'mark strong: mark "strong" is missing on the server'
  ])
  let reordered: SchemaSpecJSON = {...base, nodes: [base.nodes[1], base.nodes[0], ...base.nodes.slice(2)]}
  assert.match(compareSchemaSpecs(base, reordered)[0].message, /^node order: server \[doc, paragraph/)
  assert.match(compareSchemaSpecs(base, {...base, topNode: "paragraph"})[0].message, /top node/)
})

let servers: TestServer[] = []
after(() => Promise.all(servers.map(s => s.stop())))

test("the server's --schema tiptap equals the StarterKit editor's; basic does not", async () => {
  let tiptap = await TestServer.start({schema: "tiptap", store: "memory"})
  let basic = await TestServer.start({schema: "basic", store: "memory"})
  servers.push(tiptap, basic)
  let editor = schemaSpec(getSchema([StarterKit]))
  let fromTiptap = await (await fetch(tiptap.httpUrl + "/api/schema")).json() as SchemaSpecJSON
  assert.deepEqual(compareSchemaSpecs(fromTiptap, editor), [])
  let fromBasic = await (await fetch(basic.httpUrl + "/api/schema")).json() as SchemaSpecJSON
  let diffs = compareSchemaSpecs(fromBasic, editor)
  assert.ok(diffs.some(d => d.message == 'node "horizontal_rule" is missing in the editor'), JSON.stringify(diffs))
  assert.ok(diffs.some(d => d.message == 'mark "bold" is missing on the server'))
})

test("scripts/schema-spec.mjs writes the spec of StarterKit, or of a module's Schema", async () => {
  let script = join(packageRoot, "scripts/schema-spec.mjs")
  let kit = spawnSync(process.execPath, [script, "--starter-kit"], {encoding: "utf8", cwd: packageRoot})
  assert.equal(kit.status, 0, kit.stderr)
  assert.deepEqual(JSON.parse(kit.stdout), schemaSpec(getSchema([StarterKit]), "tiptap"))
  // A module of the user's own that exports a prosemirror-model Schema.
  let dir = mkdtempSync(join(packageRoot, "node_modules/.schema-spec-test-"))
  try {
    writeFileSync(join(dir, "my-schema.mjs"),
      'import {Schema} from "prosemirror-model"\n' +
      'export const schema = new Schema({nodes: {doc: {content: "text*"}, text: {}}, marks: {}})\n')
    let out = join(dir, "out.json")
    let mine = spawnSync(process.execPath, [script, join(dir, "my-schema.mjs"), "schema", "--name", "mine", "--out", out],
                         {encoding: "utf8", cwd: packageRoot})
    assert.equal(mine.status, 0, mine.stderr)
    assert.deepEqual(JSON.parse(readFileSync(out, "utf8")),
                     {name: "mine", topNode: "doc", nodes: [["doc", {content: "text*"}], ["text", {}]], marks: []})
    let bad = spawnSync(process.execPath, [script, join(dir, "my-schema.mjs"), "nothing"], {encoding: "utf8"})
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /exports no Schema/)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})
