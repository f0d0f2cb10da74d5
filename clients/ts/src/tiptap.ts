// The Tiptap 3 side: `RealtimeExt`, an extension that adds the plugins of
// `realtimeCollab` to a Tiptap editor and keeps the session's status and
// the people present in `editor.storage.realtime`.

import {Extension} from "@tiptap/core"
import {RealtimeClient} from "./client.js"
import {realtimeCollab} from "./plugin.js"
import {CollabSession, SessionEvent, SessionStatus} from "./session.js"
import {PresenceUser} from "./presence.js"

/// The options of `RealtimeExt`.
export interface RealtimeExtOptions {
  /// The connection to use; default: one made from `url`.
  client: RealtimeClient | null
  /// The server's WebSocket endpoint when no `client` is given; default:
  /// `/ws` on the page's host.
  url: string | null
  /// The room to join.
  room: string
  /// This editor's id (prosemirror-collab clientID); default random.
  userId: string | null
  /// The name and caret colour shown to the others.
  name: string | null
  color: string | null
  /// Compare the editor's schema with the server's before joining.
  checkSchema: boolean
  /// Ask the server to rebase late batches itself (the protocol extension
  /// `rebase`; a server without it is spoken to in version 1).
  serverRebase: boolean
  /// Called for every session event (status, users, errors, lost steps,
  /// schema differences).
  onEvent: ((event: SessionEvent, session: CollabSession) => void) | null
}

/// What `editor.storage.realtime` holds.
export interface RealtimeExtStorage {
  /// The session, once the editor view exists.
  session: CollabSession | null
  /// The session's status.
  status: SessionStatus
  /// Everyone present, this user first.
  users: PresenceUser[]
}

declare module "@tiptap/core" {
  interface Storage {
    realtime: RealtimeExtStorage
  }
}

/// Real-time collaboration for a Tiptap editor. Tiptap's own undo history
/// works as before (remote changes are not undone). Listen to the editor's
/// `update` event, or pass `onEvent`, to follow status and users.
export const RealtimeExt = Extension.create<RealtimeExtOptions, RealtimeExtStorage>({
  name: "realtime",

  addOptions() {
    return {client: null, url: null, room: "default", userId: null, name: null, color: null,
            checkSchema: true, serverRebase: true, onEvent: null}
  },

  addStorage() {
    return {session: null, status: "connecting", users: []}
  },

  addProseMirrorPlugins() {
    let options = this.options, storage = this.storage
    let client = options.client ?? new RealtimeClient(options.url ? {url: options.url} : {})
    return realtimeCollab({
      client,
      closeClient: !options.client,
      room: options.room,
      userId: options.userId ?? undefined,
      name: options.name ?? undefined,
      color: options.color ?? undefined,
      checkSchema: options.checkSchema,
      serverRebase: options.serverRebase,
      onSession: session => {
        storage.session = session
        storage.users = session.users()
      },
      onEvent: (event, session) => {
        storage.session = session
        storage.status = session.status
        if (event.type == "users" || event.type == "status") storage.users = session.users()
        options.onEvent?.(event, session)
      }
    })
  }
})
