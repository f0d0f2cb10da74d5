#!/usr/bin/env node
// Prints the JSON schema spec of a ProseMirror or Tiptap schema, the file
// that `realtime-pm serve --schema FILE` reads. The npm package installs it
// as the command `realtime-pm-schema-spec` (`npx realtime-pm-schema-spec`).
//
//   node scripts/schema-spec.mjs --starter-kit             Tiptap StarterKit, default options
//   node scripts/schema-spec.mjs MODULE [EXPORT]           a module's export (default: "schema",
//                                                          then the default export)
//
// The export may be a prosemirror-model Schema, a Tiptap Editor, or an
// array of Tiptap extensions (turned into a schema with @tiptap/core's
// getSchema; only then is @tiptap/core needed). Options: --name NAME sets
// the spec's name, --out FILE writes to a file. In this repository it needs
// the built package (npm run build).
import {writeFileSync} from "node:fs"
import {resolve} from "node:path"
import {pathToFileURL} from "node:url"

let args = process.argv.slice(2)
let name = "custom", out = null, starterKit = false
let rest = []
for (let i = 0; i < args.length; i++) {
  if (args[i] == "--name") name = args[++i]
  else if (args[i] == "--out") out = args[++i]
  else if (args[i] == "--starter-kit") starterKit = true
  else if (args[i] == "-h" || args[i] == "--help") usage(0)
  else rest.push(args[i])
}
if (!starterKit && rest.length == 0) usage(1)

let {schemaSpec} = await import("../dist/index.js").catch(() => {
  console.error("schema-spec: build the package first (npm run build)")
  process.exit(1)
})
// Tiptap only for what needs it, so that a plain ProseMirror app can run this.
let getSchema = async extensions => (await import("@tiptap/core")).getSchema(extensions)

let schema
if (starterKit) {
  let {default: StarterKit} = await import("@tiptap/starter-kit")
  schema = await getSchema([StarterKit])
  if (name == "custom") name = "tiptap"
} else {
  let mod = await import(pathToFileURL(resolve(rest[0])).href)
  let value = rest[1] ? mod[rest[1]] : mod.schema ?? mod.default
  if (Array.isArray(value)) schema = await getSchema(value)
  else if (value && value.schema && value.extensionManager) schema = value.schema
  else if (value && value.nodes && value.marks && value.topNodeType) schema = value
  else {
    console.error(`schema-spec: ${rest[0]} exports no Schema, Tiptap Editor or extension array` +
                  (rest[1] ? ` as "${rest[1]}"` : ""))
    process.exit(1)
  }
}

let text = JSON.stringify(schemaSpec(schema, name), null, 2) + "\n"
if (out) writeFileSync(out, text)
else process.stdout.write(text)

function usage(code) {
  console.error("usage: schema-spec.mjs (--starter-kit | MODULE [EXPORT]) [--name NAME] [--out FILE]")
  process.exit(code)
}
