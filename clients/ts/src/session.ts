// One editor's collaboration in one room: the loop of prosemirror-collab's
// central-authority example, spoken over realtime-pm's protocol.
//
// Local changes pile up as prosemirror-collab's unconfirmed steps (so they
// survive while offline). When the room is joined and nothing is in
// flight, `sendableSteps` go out as one `steps` message. The server
// answers the sender with `ack` instead of echoing its steps, so on `ack`
// the session feeds the in-flight steps back through `receiveTransaction`
// under its own clientID, which confirms exactly them. Steps of others go
// through `receiveTransaction` too, which rebases the unconfirmed ones. A
// `version_conflict` means others' steps are on the way: the session waits
// until it has them and sends its rebased steps again.
//
// After a disconnection the session rejoins with `version` =
// `getVersion(state)`; the `state` answer lists the steps since then with
// their userIds, its own accepted steps included, so a batch whose `ack`
// was lost is confirmed instead of sent twice. When the server answers
// with a whole `doc` instead, unconfirmed steps cannot be rebased: the
// document is replaced and the loss reported (event `lost`).
//
// With the server-side rebase extension (docs/protocol.md; asked for in
// every `join` unless `serverRebase: false`, in force when the `state` says
// `rebase: true`) the server rebases a late batch itself instead of
// refusing it. Its `ack` may then carry the steps as it applied them; when
// they differ from the in-flight steps as rebased here, `confirmAs`
// (rebase.ts) makes the document the server's. Broadcasts name each step's
// author (`userIds`), and in a rejoin's `state` this user's own run of
// steps (the batch whose ack was lost, as applied) may follow others'.
//
// The session talks to the editor through a host (`state` and
// `dispatch`): an `EditorView`, or a plain object in tests.

import {Node} from "prosemirror-model"
import {EditorState, Plugin, Transaction} from "prosemirror-state"
import {Mapping, Step} from "prosemirror-transform"
import {getVersion, receiveTransaction, sendableSteps} from "prosemirror-collab"
import {confirmAs, keptOf, sameSteps} from "./rebase.js"
import {RealtimeClient, RoomConnection, RoomStatus} from "./client.js"
import {
  ErrorMessage, PresenceEntry, PresenceUsers, RoomMessage, StateMessage, ServerStepsMessage,
  AckMessage
} from "./protocol.js"
import {PresenceUpdate, PresenceUser, presenceKey, userFromEntry, colorFor} from "./presence.js"
import {SchemaDifference, SchemaSpecJSON, compareSchemaSpecs, schemaSpec} from "./schema-spec.js"

/// What the editor is to the session.
export interface EditorHost {
  readonly state: EditorState
  dispatch(tr: Transaction): void
}

/// Where a session stands, for a status indicator.
/// - `connecting`, `offline`: no connection to the server (typing goes on
///   locally and is sent later).
/// - `checking`: comparing the editor's schema with the server's.
/// - `joining`: waiting for the room's state.
/// - `sending`: local changes wait for the server's confirmation.
/// - `synced`: everything typed here is confirmed.
/// - `schema_mismatch`: the schemas differ; nothing is sent.
/// - `replaced`: another editor with the same userId took over the room.
/// - `error`: the server refused the room (see `lastError`).
/// - `closed`: the session was destroyed.
export type SessionStatus = "connecting" | "offline" | "checking" | "joining" | "sending" | "synced" |
  "schema_mismatch" | "replaced" | "error" | "closed"

/// Something the page may want to tell the user about.
export type SessionEvent =
  | {type: "status", status: SessionStatus}
  | {type: "users"}
  | {type: "schema", differences: SchemaDifference[]}
  | {type: "lost", steps: number}
  | {type: "error", code: string, message: string}

/// The options of a session (and of the plugin and the Tiptap extension).
export interface SessionOptions {
  /// The connection to use. One client can carry many rooms and editors.
  client: RealtimeClient
  /// The room to join.
  room: string
  /// This editor's id, which is prosemirror-collab's clientID. Default: a
  /// random id, kept for the editor's lifetime.
  userId?: string
  /// The name shown to the others. Default: the start of the userId.
  name?: string
  /// The colour of this user's caret for the others. Default: from a
  /// palette, by userId.
  color?: string
  /// Compare the editor's schema with the server's before joining. Default true.
  checkSchema?: boolean
  /// Send presence at most every this many ms. Default 50.
  presenceIntervalMs?: number
  /// Called for every session event.
  onEvent?: (event: SessionEvent, session: CollabSession) => void
  /// Close the client when the session ends (for a client made for this
  /// editor alone). Default false.
  closeClient?: boolean
  /// Ask the server to rebase late batches itself (the protocol extension
  /// `rebase`); a server without it answers in version 1, which works as
  /// well but refuses late batches. Default true.
  serverRebase?: boolean
}

// Server limits: at most 1000 steps per message (the default of
// --max-steps-per-message); smaller batches keep messages far from 1 MiB.
const maxBatch = 200

/// The collaboration of one editor in one room.
export class CollabSession {
  /// This editor's userId (prosemirror-collab clientID).
  readonly userId: string
  /// The room's name.
  readonly room: string
  /// The current status.
  status: SessionStatus = "connecting"
  /// The differences found by the schema check, when it failed.
  schemaDifferences: SchemaDifference[] = []
  /// The last error the server sent for this room.
  lastError: {code: string, message: string} | null = null
  /// Steps typed here that were dropped because the server answered with a
  /// whole document (counted over the session's life).
  lostSteps = 0
  /// Whether the room's current membership speaks the server-side rebase
  /// extension (the server's `state` said so).
  serverRebase = false

  private readonly options: SessionOptions
  private host: EditorHost | null = null
  private connection: RoomConnection | null = null
  private loaded = false            // a `state` was applied at least once
  private fullResync = false        // next join asks for the whole doc
  private inFlight: {version: number, count: number, rebase: boolean} | null = null
  // The batch that was in flight when its answer could no longer come (a
  // drop, a rejoin): the next `state` tells whether the server applied it.
  private unacked: {count: number, rebase: boolean} | null = null
  private catchingUp = false
  // Whether the user typed or moved the selection since the document was
  // last loaded. Until then the caret is where loading put it (the end),
  // and others' text inserted there goes before it; after, such text goes
  // after it, so that two people typing at one spot keep their runs whole
  // (prosemirror-collab's mapSelectionBackward).
  private caretPlaced = false
  private waitForVersion = -1       // after version_conflict: send once we reached it
  private batchLimit = maxBatch
  private presenceTimer: ReturnType<typeof setTimeout> | null = null
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private lastPresenceAt = 0
  private lastPresenceJSON = ""
  private presenceExact = true
  private unsubscribe: (() => void) | null = null
  private destroyed = false

  constructor(options: SessionOptions, readonly collabPlugin: Plugin) {
    this.options = options
    this.room = options.room
    this.userId = (collabPlugin.spec as any).config.clientID
  }

  /// This user's name and colour.
  get name(): string { return this.options.name || this.userId.slice(0, 8) }
  get color(): string { return this.options.color || colorFor(this.userId) }

  /// Everyone in the room, this user first.
  users(): PresenceUser[] {
    let self: PresenceUser = {userId: this.userId, name: this.name, color: this.color, anchor: null,
                              head: null, self: true}
    if (!this.host) return [self]
    let others = [...presenceKey.getState(this.host.state)!.users.values()]
    return [self, ...others.sort((a, b) => a.name.localeCompare(b.name))]
  }

  /// The number of local steps the server has not confirmed yet.
  pendingSteps(): number {
    return this.host ? sendableSteps(this.host.state)?.steps.length ?? 0 : 0
  }

  /// Bind the session to its editor and start: check the schema, then join.
  attach(host: EditorHost) {
    this.host = host
    if (this.unsubscribe || this.destroyed) return
    this.unsubscribe = this.options.client.onStatus(() => this.refreshStatus())
    if (this.options.checkSchema === false) this.joinRoom()
    else this.checkSchema(0)
  }

  /// Unbind the session from its editor (whose view is being destroyed):
  /// until `attach` is called again, messages for the room are ignored.
  detach() {
    this.host = null
  }

  /// Call after every state update of the editor: sends what became
  /// sendable and schedules a presence update.
  update(prev: EditorState) {
    if (!this.host || this.destroyed) return
    let state = this.host.state
    if (state.doc != prev.doc || !state.selection.eq(prev.selection)) this.schedulePresence()
    // The session's own transactions change the document without adding
    // unconfirmed steps, and the selection only along with the document.
    if (state.doc == prev.doc ? !state.selection.eq(prev.selection) : unconfirmed(state) > unconfirmed(prev))
      this.caretPlaced = true
    this.flush()
    this.refreshStatus()
  }

  /// Leave the room and stop.
  destroy() {
    if (this.destroyed) return
    this.destroyed = true
    this.clearTimers()
    this.unsubscribe?.()
    this.connection?.leave()
    this.connection = null
    if (this.options.closeClient) this.options.client.close()
    this.setStatus("closed")
  }

  private checkSchema(attempt: number) {
    this.setStatus("checking")
    this.options.client.fetchSchema().then(server => {
      if (this.destroyed || !this.host) return
      let differences = compareSchemaSpecs(server as SchemaSpecJSON, schemaSpec(this.host.state.schema))
      if (differences.length) {
        this.schemaDifferences = differences
        this.emit({type: "schema", differences})
        this.setStatus("schema_mismatch")
        return
      }
      this.joinRoom()
    }, () => {
      // The server is unreachable: try again, as the connection does.
      if (this.destroyed) return
      this.refreshStatus()
      this.retryTimer = setTimeout(() => this.checkSchema(attempt + 1),
                                   Math.min(5000, 250 * Math.pow(2, attempt)) * Math.random())
    })
  }

  private joinRoom() {
    this.connection = this.options.client.join(this.room, this.userId, {
      joinFields: () => this.joinFields(),
      onMessage: message => this.onMessage(message),
      onStatus: status => this.onRoomStatus(status)
    })
    this.refreshStatus()
  }

  private joinFields(): {presence?: PresenceEntry, version?: number, rebase?: boolean} {
    let rebase = this.options.serverRebase !== false
    if (!this.loaded || this.fullResync || !this.host) return {presence: {name: this.name, color: this.color}, rebase}
    return {presence: this.presenceEntry(), version: getVersion(this.host.state), rebase}
  }

  private onRoomStatus(status: RoomStatus) {
    if (status == "offline") {
      this.dropInFlight()
      this.waitForVersion = -1
      if (this.host && this.loaded) this.dispatchPresence({type: "reset", users: []})
      this.emit({type: "users"})
    }
    this.refreshStatus()
  }

  private onMessage(message: RoomMessage) {
    if (!this.host || this.destroyed) return
    try {
      switch (message.type) {
        case "state": this.onState(message); break
        case "steps": this.onSteps(message); break
        case "ack": this.onAck(message); break
        case "presence": this.onPresence(message.users, message.version); break
        case "join":
          if (message.userId != this.userId) this.onPresence({[message.userId]: message.presence ?? {}}, -1)
          break
        case "leave":
          this.dispatchPresence({type: "remove", userId: message.userId})
          this.emit({type: "users"})
          break
        case "error": this.onError(message); break
      }
    } catch (e) {
      // A step that does not parse or apply here: our copy can no longer be
      // trusted; start over from the server's document.
      this.emit({type: "error", code: "client", message: String(e)})
      this.resync(true)
    }
    this.refreshStatus()
  }

  private onState(message: StateMessage) {
    let host = this.host!
    let state = host.state
    let unacked = this.unacked
    this.unacked = null
    this.inFlight = null
    this.waitForVersion = -1
    this.batchLimit = maxBatch
    this.serverRebase = message.rebase === true
    if (message.doc) {
      let pending = sendableSteps(state)?.steps.length ?? 0
      let doc = Node.fromJSON(state.schema, message.doc)
      let tr = state.tr.replaceWith(0, state.doc.content.size, doc.content)
      for (let [name, value] of Object.entries(doc.attrs))
        if (tr.doc.attrs[name] !== value) tr.setDocAttribute(name, value)
      let collabState = this.collabPlugin.getState(state) as object
      let CollabState = collabState.constructor as new (version: number, unconfirmed: unknown[]) => object
      // prosemirror-collab takes a CollabState in the transaction's meta as
      // its new state, as receiveTransaction does: the document is now the
      // server's at `version`, with nothing unconfirmed.
      tr.setMeta(this.collabPlugin, new CollabState(message.version, []))
        .setMeta("addToHistory", false)
      host.dispatch(tr)
      this.caretPlaced = false
      if (pending) {
        this.lostSteps += pending
        this.emit({type: "lost", steps: pending})
      }
    } else {
      let steps = (message.steps ?? []).map(json => Step.fromJSON(state.schema, json))
      let userIds = message.userIds ?? []
      if (getVersion(state) + steps.length != message.version || userIds.length != steps.length) {
        this.resync(true)
        return
      }
      if (this.serverRebase || unacked?.rebase) {
        // Nothing goes out between the parts (each dispatch calls update).
        this.catchingUp = true
        try {
          if (!this.catchUp(steps, userIds, unacked)) return
        } finally {
          this.catchingUp = false
        }
      } else if (steps.length) {
        host.dispatch(keepStoredMarks(state, receiveTransaction(state, steps, userIds, {mapSelectionBackward: this.caretPlaced})))
      }
    }
    this.fullResync = false
    let first = !this.loaded
    this.loaded = true
    if (first) this.dispatchPresence({type: "ready", ready: true})
    this.dispatchPresence({type: "reset", users: this.remoteUsers(message.users, message.version)})
    this.emit({type: "users"})
    this.lastPresenceJSON = ""
    this.flush()
    this.schedulePresence()
  }

  private onSteps(message: ServerStepsMessage) {
    let host = this.host!
    let version = getVersion(host.state)
    if (!this.loaded || this.connection?.status != "joined") return
    if (message.version + message.steps.length <= version) return // already have them
    if (message.version > version) { this.resync(false); return } // a gap: ask again
    let skip = version - message.version
    let steps = message.steps.slice(skip).map(j => Step.fromJSON(host.state.schema, j))
    let userIds = message.userIds?.length == message.steps.length ? message.userIds.slice(skip)
      : steps.map(() => message.userId)
    // A rebase member's batch never comes back in a broadcast (its ack
    // answers it), so steps there under this userId confirm nothing of ours:
    // they are a batch of an earlier connection that the server applied
    // only after this one's `state`, or the document API writing as us.
    // receiveTransaction would take them for our in-flight steps.
    if (this.serverRebase) userIds = userIds.map(id => id == this.userId ? "" : id)
    let kept = this.receive(steps, userIds, this.inFlight?.count ?? 0)
    // Only a rebase member's batch can meet others' steps and still be applied.
    if (this.inFlight && this.serverRebase) this.inFlight.count = kept
    this.flush()
  }

  private onAck(message: AckMessage) {
    let host = this.host!
    let inFlight = this.inFlight
    if (!inFlight) return
    if (this.serverRebase) {
      let applied = message.steps ? message.steps.map(json => Step.fromJSON(host.state.schema, json)) : null
      if (!this.confirm(inFlight.count, applied, message.version)) {
        // Our copy and the server disagree on what was confirmed: the
        // state answer to a rejoin holds the batch as applied.
        this.resync(false)
        return
      }
      this.inFlight = null
      if (!this.presenceExact) this.schedulePresence()
      this.flush()
      return
    }
    this.inFlight = null
    let sendable = sendableSteps(host.state)
    if (!sendable || sendable.version != inFlight.version || sendable.steps.length < inFlight.count ||
        message.version != inFlight.version + inFlight.count) {
      // Our copy and the server disagree on what was confirmed: the state
      // answer to a rejoin sorts it out.
      this.resync(false)
      return
    }
    let confirmed = sendable.steps.slice(0, inFlight.count)
    host.dispatch(keepStoredMarks(host.state, receiveTransaction(host.state, confirmed, confirmed.map(() => this.userId))))
    if (!this.presenceExact) this.schedulePresence()
    this.flush()
  }

  private onError(message: ErrorMessage) {
    this.lastError = {code: message.code, message: message.message}
    switch (message.code) {
      case "version_conflict":
        if (this.inFlight && this.serverRebase) {
          // Never for being late: the batch's version is older than the
          // history the server keeps. A rejoin gets the document.
          this.inFlight = null
          this.resync(false)
        } else if (this.inFlight) {
          // Others' steps came first; they are on their way to us.
          this.inFlight = null
          this.waitForVersion = message.version ?? -1
          this.flush()
        } else {
          // A presence whose version the server does not accept.
          this.lastPresenceJSON = ""
          this.schedulePresence()
        }
        return
      case "invalid_steps":
        // The server will never take these steps: drop them by loading its document.
        this.emit({type: "error", code: message.code, message: message.message})
        this.resync(true)
        return
      case "message_too_large":
        if (this.inFlight && this.inFlight.count > 1) {
          this.batchLimit = Math.max(1, this.inFlight.count >> 1)
          this.inFlight = null
          this.flush()
        } else {
          this.emit({type: "error", code: message.code, message: message.message})
          this.resync(true)
        }
        return
      case "not_joined":
        this.resync(false)
        return
      case "rate_limited":
      case "internal":
        // Whether the last batch was taken is unknown; a rejoin tells.
        this.dropInFlight()
        this.emit({type: "error", code: message.code, message: message.message})
        this.clearRetry()
        this.retryTimer = setTimeout(() => this.resync(false), 500 + Math.random() * 1000)
        return
      case "session_replaced":
        this.emit({type: "error", code: message.code, message: message.message})
        this.connection?.leave(false)
        this.connection = null
        this.stopEditing()
        this.setStatus("replaced")
        return
      default:
        // forbidden, room_full, unauthorized, invalid_room, bad_message:
        // nothing this editor can fix by retrying.
        this.emit({type: "error", code: message.code, message: message.message})
        if (this.connection?.status != "joined") {
          this.connection?.leave(false)
          this.connection = null
          this.stopEditing()
          this.setStatus("error")
        }
    }
  }

  // Join again on the current connection. With `full`, ask for the whole
  // document (dropping unconfirmed steps) instead of the missed steps.
  private resync(full: boolean) {
    if (full) this.fullResync = true
    this.dropInFlight()
    this.waitForVersion = -1
    this.connection?.rejoin()
  }

  // The answer to the batch in flight will not come: keep its size for the
  // `state` that answers the next join.
  private dropInFlight() {
    if (this.inFlight) this.unacked = {count: this.inFlight.count, rebase: this.inFlight.rebase}
    this.inFlight = null
  }

  // Others' steps through receiveTransaction, which rebases the unconfirmed
  // ones over them. Returns how many of the first `count` unconfirmed steps
  // (the batch in flight) are still there: rebasing drops steps that no
  // longer apply.
  private receive(steps: Step[], userIds: string[], count = 0): number {
    if (!steps.length) return count
    let host = this.host!, before = host.state
    let tr = keepStoredMarks(before, receiveTransaction(before, steps, userIds, {mapSelectionBackward: this.caretPlaced}))
    host.dispatch(tr)
    return keptOf(before, this.collabPlugin, tr, count)
  }

  // Confirm the first `count` unconfirmed steps (the batch) as the server
  // applied them (`applied`; null: as sent), which leaves the room at
  // `version`. When the server's steps equal ours, that is version 1's
  // confirmation; else the document becomes the server's (`confirmAs`).
  // False, changing nothing, when this copy and the server disagree.
  private confirm(count: number, applied: Step[] | null, version: number): boolean {
    let host = this.host!, state = host.state
    let batch = sendableSteps(state)?.steps.slice(0, count) ?? []
    if (batch.length < count || getVersion(state) + (applied ?? batch).length != version) return false
    if (!applied || sameSteps(applied, batch))
      host.dispatch(keepStoredMarks(state, receiveTransaction(state, batch, batch.map(() => this.userId))))
    else
      host.dispatch(keepStoredMarks(state, confirmAs(state, this.collabPlugin, count, applied, version)))
    return true
  }

  // The steps of a rejoin's `state` for a rebase member. The run of this
  // user's own steps is the batch whose ack was lost, as the server applied
  // it, possibly after others' steps; receiveTransaction recognizes own
  // steps only at the start of its list, so the list goes in three parts:
  // others' steps before the run, the run as the batch's ack, the rest. No
  // run: the batch was not applied (or all of it was dropped) and goes out
  // again. False when it failed and a full resync is under way.
  private catchUp(steps: Step[], userIds: string[], unacked: {count: number} | null): boolean {
    let start = unacked ? userIds.indexOf(this.userId) : -1
    if (!unacked || start < 0) {
      this.receive(steps, userIds)
      return true
    }
    let end = start
    while (end < userIds.length && userIds[end] == this.userId) end++
    let count = this.receive(steps.slice(0, start), userIds.slice(0, start), unacked.count)
    if (!this.confirm(count, steps.slice(start, end), getVersion(this.host!.state) + end - start)) {
      this.resync(true)
      return false
    }
    this.receive(steps.slice(end), userIds.slice(end))
    return true
  }

  // Send the unconfirmed steps, if the room is joined and nothing is in flight.
  private flush() {
    let host = this.host, connection = this.connection
    if (!host || !connection || connection.status != "joined" || !this.loaded || this.inFlight) return
    // A rebase member must not send a batch again before the server has
    // said whether it applied it: it would be applied twice.
    if (this.unacked?.rebase || this.catchingUp) return
    let sendable = sendableSteps(host.state)
    if (!sendable || sendable.version < this.waitForVersion) return
    let steps = sendable.steps.slice(0, this.batchLimit)
    let sent = connection.send({
      type: "steps", room: this.room, version: sendable.version, userId: this.userId,
      steps: steps.map(step => step.toJSON())
    })
    if (sent) this.inFlight = {version: sendable.version, count: steps.length, rebase: this.serverRebase}
  }

  // This user's presence, with positions mapped back to the confirmed
  // version (the one `getVersion` names) through the inverse of the
  // unconfirmed steps: the server maps them forward again when it accepts
  // those steps.
  private presenceEntry(): PresenceEntry {
    let state = this.host!.state
    let {anchor, head} = state.selection
    let sendable = sendableSteps(state)
    this.presenceExact = !sendable
    if (sendable) {
      let back = new Mapping(sendable.steps.map(step => step.getMap())).invert()
      anchor = back.map(anchor, -1)
      head = back.map(head, -1)
    }
    return {cursor: {pos: head}, selection: {anchor, head}, name: this.name, color: this.color}
  }

  private schedulePresence() {
    if (this.presenceTimer || this.destroyed) return
    let interval = this.options.presenceIntervalMs ?? 50
    let wait = Math.max(0, this.lastPresenceAt + interval - Date.now())
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null
      this.sendPresence()
    }, wait)
  }

  private sendPresence() {
    let host = this.host, connection = this.connection
    if (!host || !connection || connection.status != "joined" || !this.loaded) return
    let entry = this.presenceEntry()
    let version = getVersion(host.state)
    let json = JSON.stringify([entry, version])
    if (json == this.lastPresenceJSON) return
    if (connection.send({type: "presence", room: this.room, users: {[this.userId]: entry}, version})) {
      this.lastPresenceJSON = json
      this.lastPresenceAt = Date.now()
    }
  }

  // Remote users from presence entries whose positions refer to `version`:
  // when that is our confirmed version, they are mapped forward through
  // our unconfirmed steps into the current document.
  private remoteUsers(users: PresenceUsers, version: number): PresenceUser[] {
    let state = this.host!.state
    let sendable = sendableSteps(state)
    let forward = sendable && sendable.version == version
      ? new Mapping(sendable.steps.map(step => step.getMap())) : null
    let result: PresenceUser[] = []
    for (let [id, entry] of Object.entries(users)) {
      if (id == this.userId) continue
      let user = userFromEntry(id, entry)
      if (forward) {
        if (user.anchor != null) user.anchor = forward.map(user.anchor, 1)
        if (user.head != null) user.head = forward.map(user.head, 1)
      }
      result.push(user)
    }
    return result
  }

  private onPresence(users: PresenceUsers, version: number) {
    if (!this.loaded) return
    if (version < 0) version = getVersion(this.host!.state)
    for (let user of this.remoteUsers(users, version)) this.dispatchPresence({type: "set", user})
    this.emit({type: "users"})
  }

  // Make the editor read-only: whatever would be typed now could never be sent.
  private stopEditing() {
    if (!this.host) return
    this.dispatchPresence({type: "ready", ready: false})
    this.dispatchPresence({type: "reset", users: []})
    this.emit({type: "users"})
  }

  private dispatchPresence(update: PresenceUpdate) {
    let host = this.host!
    host.dispatch(host.state.tr.setMeta(presenceKey, update).setMeta("addToHistory", false))
  }

  private refreshStatus() {
    if (this.destroyed) return
    if (this.status == "schema_mismatch" || this.status == "replaced" || this.status == "error") return
    let client = this.options.client.status, room = this.connection?.status
    let status: SessionStatus
    if (room == "joined") status = this.pendingSteps() ? "sending" : "synced"
    else if (client == "connecting") status = "connecting"
    else if (client != "open") status = "offline"
    else status = this.connection ? "joining" : "checking"
    this.setStatus(status)
  }

  private setStatus(status: SessionStatus) {
    if (this.status == status) return
    this.status = status
    this.emit({type: "status", status})
  }

  private emit(event: SessionEvent) {
    this.options.onEvent?.(event, this)
  }

  private clearRetry() {
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null }
  }

  private clearTimers() {
    this.clearRetry()
    if (this.presenceTimer) { clearTimeout(this.presenceTimer); this.presenceTimer = null }
  }
}

function unconfirmed(state: EditorState): number {
  return sendableSteps(state)?.steps.length ?? 0
}

// Marks the person toggled at an empty caret (Ctrl+B, then typing) survive
// others' steps: ProseMirror drops stored marks in any transaction that
// changes the document, and a remote change between the toggle and the next
// keystroke would lose the toggle.
function keepStoredMarks(before: EditorState, tr: Transaction): Transaction {
  if (before.storedMarks && tr.selection.empty && !tr.storedMarksSet) tr.setStoredMarks(before.storedMarks)
  return tr
}
