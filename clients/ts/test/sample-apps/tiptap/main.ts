// A Tiptap 3 editor with StarterKit, shared through a realtime-pm server
// (`realtime-pm serve --schema tiptap`, which also serves this page:
// `--static` this folder). Open /?room=notes&user=Ada in two windows.
import {Editor} from "@tiptap/core"
import StarterKit from "@tiptap/starter-kit"
import {RealtimeExt} from "@realtime-pm/client/tiptap"

const params = new URLSearchParams(location.search)
const status = document.querySelector<HTMLElement>("#status")!

const editor = new Editor({
  element: document.querySelector<HTMLElement>("#editor")!,
  extensions: [
    StarterKit,
    RealtimeExt.configure({
      // url: default /ws on this page's host
      room: params.get("room") ?? "notes",
      name: params.get("user") ?? "Ada",
      onEvent: (_event, session) => { status.textContent = session.status }
    })
  ]
})

// For the browser console (and the sample app test).
;(window as any).editor = editor
