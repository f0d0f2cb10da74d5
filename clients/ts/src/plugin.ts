// The ProseMirror side: `realtimeCollab(options)` returns the plugins that
// make an editor collaborative through a realtime-pm server, the real
// prosemirror-collab plugin (with this editor's userId as its clientID)
// and the presence plugin that draws the others' carets and selections
// and runs the editor's `CollabSession`.

import {Plugin} from "prosemirror-state"
import {EditorView} from "prosemirror-view"
import {collab} from "prosemirror-collab"
import {CollabSession, SessionOptions} from "./session.js"
import {presencePlugin} from "./presence.js"

/// Options of `realtimeCollab`: those of a session, plus a way to get at it.
export interface RealtimeCollabOptions extends SessionOptions {
  /// Called once with the session, when the editor view is first created.
  onSession?: (session: CollabSession) => void
}

/// A random id for an editor instance (prosemirror-collab clientID).
export function randomUserId(): string {
  let crypto = (globalThis as any).crypto
  if (crypto?.randomUUID) return crypto.randomUUID()
  return Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2)
}

/// The plugins that connect an editor to a room. Add them to the editor's
/// plugins (after the schema's keymaps and history, in any order):
///
///     let client = new RealtimeClient({url: "ws://localhost:8080/ws"})
///     let state = EditorState.create({schema, plugins: [
///       ...exampleSetup({schema}), ...realtimeCollab({client, room: "notes", name: "Ada"})]})
///
/// The editor stays read-only until the room's document has loaded; it
/// replaces whatever document the editor started with.
export function realtimeCollab(options: RealtimeCollabOptions): Plugin[] {
  let userId = options.userId ?? randomUserId()
  let collabPlugin = collab({clientID: userId})
  let session = new CollabSession({...options, userId}, collabPlugin)
  let announced = false
  let views = 0
  // Editors such as Tiptap rebuild plugin views when plugins are added
  // later; the session outlives that and ends only when no view is left.
  let presence = presencePlugin((view: EditorView) => {
    views++
    session.attach(view)
    if (!announced) { announced = true; options.onSession?.(session) }
    return {
      update: (view: EditorView, prev) => session.update(prev),
      destroy: () => {
        views--
        if (views > 0) return
        session.detach()
        setTimeout(() => { if (views == 0) session.destroy() }, 0)
      }
    }
  })
  return [collabPlugin, presence]
}
