// The editor's schema: prosemirror-schema-basic with lists, the schema of
// `realtime-pm serve --schema basic`. For another schema, write its spec for
// the server from this module: `npx realtime-pm-schema-spec schema.js --out
// schema.json`, then `realtime-pm serve --schema schema.json`.
import {Schema} from "prosemirror-model"
import {schema as basicSchema} from "prosemirror-schema-basic"
import {addListNodes} from "prosemirror-schema-list"

export const schema = new Schema({
  nodes: addListNodes(basicSchema.spec.nodes, "paragraph block*", "block"),
  marks: basicSchema.spec.marks
})
