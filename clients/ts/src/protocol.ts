// The messages of the realtime-pm wire protocol, version 1, as typed
// objects. The binding contract is PROTOCOL.md (shared with the server);
// this file restates its tables as TypeScript, plus the optional fields of
// realtime-pm's opt-in extension "server-side rebase" (the repository's
// docs/protocol.md): `rebase` in `join` and `state`, `steps` in `ack` and
// `userIds` in `steps`. A member that does not ask never sees them.

/// The WebSocket subprotocol of the JSON encoding. The client always asks
/// for it (the server also speaks `realtime-pm.bin.v1`, which this client
/// does not use).
export const jsonSubprotocol = "realtime-pm.json.v1"

/// A document as prosemirror-model's `Node.toJSON()` writes it.
export type DocJSON = {type: string, [key: string]: unknown}

/// A step as prosemirror-transform's `Step.toJSON()` writes it.
export type StepJSON = {stepType: string, [key: string]: unknown}

/// One user's presence. The server maps `cursor.pos` and
/// `selection.from|to|anchor|head` through steps and passes every other
/// field through unchanged. An entry may be empty (`{}`): a member that
/// set no presence.
export interface PresenceEntry {
  cursor?: {pos: number}
  selection?: {anchor: number, head: number, from?: number, to?: number}
  name?: string
  color?: string
  [key: string]: unknown
}

/// Presence of several users, keyed by `userId`.
export type PresenceUsers = {[userId: string]: PresenceEntry}

/// Enter a room. `version` is the version of the client's local copy when
/// it rejoins after a disconnect; the server then answers with the steps
/// since that version when it still keeps them. `rebase: true` asks for the
/// server-side rebase extension.
export interface JoinMessage {
  type: "join", room: string, userId: string, presence?: PresenceEntry, version?: number, rebase?: boolean,
  timestamp?: number
}

/// Steps made on top of `version`.
export interface StepsMessage {
  type: "steps", room: string, version: number, steps: StepJSON[], userId: string, timestamp?: number
}

/// The sender's own presence: `users` holds exactly one entry, under the
/// sender's `userId`; `version` is the document version its positions
/// refer to.
export interface PresenceMessage {
  type: "presence", room: string, users: PresenceUsers, version?: number, timestamp?: number
}

/// Leave a room.
export interface LeaveMessage {
  type: "leave", room: string, userId: string, timestamp?: number
}

/// Anything a client sends.
export type ClientMessage = JoinMessage | StepsMessage | PresenceMessage | LeaveMessage

/// The answer to `join`: either the whole `doc` at `version`, or the
/// `steps` since the version the join named, with the `userId` that made
/// each one. `users` is everyone's presence, the joiner included.
/// `rebase: true`: this membership speaks the server-side rebase extension.
export interface StateMessage {
  type: "state", room: string, version: number, doc?: DocJSON, steps?: StepJSON[], userIds?: string[],
  users: PresenceUsers, rebase?: boolean, timestamp: number
}

/// Steps by another user, made on top of `version` and now part of the
/// room's history. They arrive in version order. With the rebase extension
/// `userIds` names each step's author (`userId` is the first one's).
export interface ServerStepsMessage {
  type: "steps", room: string, version: number, steps: StepJSON[], userId: string, userIds?: string[],
  timestamp: number
}

/// The sender's last `steps` were accepted; `version` is the room's version
/// after them. With the rebase extension, `steps` are the steps as the
/// server applied them when it rebased the batch (fewer, or none, when some
/// no longer applied), made on `version - steps.length`.
export interface AckMessage {
  type: "ack", room: string, version: number, steps?: StepJSON[], timestamp: number
}

/// Presence entries that changed; positions refer to `version`.
export interface ServerPresenceMessage {
  type: "presence", room: string, users: PresenceUsers, version: number, timestamp: number
}

/// Someone entered the room.
export interface ServerJoinMessage {
  type: "join", room: string, userId: string, presence?: PresenceEntry, timestamp: number
}

/// Someone left the room or disconnected.
export interface ServerLeaveMessage {
  type: "leave", room: string, userId: string, timestamp: number
}

/// The error codes of PROTOCOL.md.
export type ErrorCode =
  /// Not JSON, not an object, a missing or mistyped field. Don't retry.
  | "bad_message"
  /// A `type` the server does not know. Don't retry.
  | "unknown_type"
  /// A room name that does not match `^[A-Za-z0-9._:/-]{1,128}$`. Don't retry.
  | "invalid_room"
  /// A room-scoped message for a room the connection is not in: join again.
  | "not_joined"
  /// The steps failed to apply; they never will. Don't retry them.
  | "invalid_steps"
  /// The steps were not made on the room's version: wait for the missed
  /// steps, rebase, and send again. (With the rebase extension: the version
  /// is older than the history the server keeps; join again.)
  | "version_conflict"
  /// The message was over the server's size limit. Don't retry it.
  | "message_too_large"
  /// Too many messages: retry later.
  | "rate_limited"
  /// Missing or bad credentials.
  | "unauthorized"
  /// Not allowed (presence for another user, steps on a read-only connection, ...).
  | "forbidden"
  /// Another session with the same `userId` took over the room.
  | "session_replaced"
  /// The room has as many members as the server allows.
  | "room_full"
  /// The server failed (for example its store); join again.
  | "internal"

/// An error. `room` names the room it concerns, when it concerns one;
/// `version` is the room's version for `version_conflict`; `index` the
/// failing step for `invalid_steps`.
export interface ErrorMessage {
  type: "error", code: ErrorCode, message: string, room?: string, version?: number, index?: number,
  timestamp: number
}

/// Anything the server sends.
export type ServerMessage =
  | StateMessage | ServerStepsMessage | AckMessage | ServerPresenceMessage
  | ServerJoinMessage | ServerLeaveMessage | ErrorMessage

/// A server message that concerns one room (an `error` only when it names one).
export type RoomMessage = ServerMessage & {room: string}

const serverTypes = new Set(["state", "steps", "ack", "presence", "join", "leave", "error"])

/// Parse a text frame from the server. Returns null for anything that is
/// not a JSON object with a known server message `type` (the client ignores
/// such frames rather than failing).
export function parseServerMessage(text: string): ServerMessage | null {
  let value: unknown
  try { value = JSON.parse(text) } catch { return null }
  if (!value || typeof value != "object" || Array.isArray(value)) return null
  let type = (value as {type?: unknown}).type
  if (typeof type != "string" || !serverTypes.has(type)) return null
  return value as ServerMessage
}

/// The room name rule of PROTOCOL.md.
export function isValidRoomName(room: string): boolean {
  return /^[A-Za-z0-9._:/-]{1,128}$/.test(room)
}
