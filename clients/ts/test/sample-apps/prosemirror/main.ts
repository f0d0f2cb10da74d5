// A plain ProseMirror editor (prosemirror-example-setup) on the schema of
// prosemirror-schema-basic with lists, shared through a realtime-pm server
// (`realtime-pm serve --schema basic`, which also serves this page:
// `--static` this folder). Open /?room=notes&user=Ada in two windows.
import {EditorState} from "prosemirror-state"
import {EditorView} from "prosemirror-view"
import {exampleSetup} from "prosemirror-example-setup"
import {RealtimeClient, realtimeCollab} from "@realtime-pm/client"
import {schema} from "./schema.js"

const params = new URLSearchParams(location.search)
const status = document.querySelector<HTMLElement>("#status")!
const client = new RealtimeClient({})  // default url: /ws on this page's host

const view = new EditorView(document.querySelector("#editor"), {
  state: EditorState.create({
    schema,
    plugins: [
      ...exampleSetup({schema}),
      ...realtimeCollab({
        client,
        room: params.get("room") ?? "notes",
        name: params.get("user") ?? "Ada",
        onEvent: (_event, session) => { status.textContent = session.status }
      })
    ]
  })
})

// For the browser console (and the sample app test).
;(window as any).view = view
