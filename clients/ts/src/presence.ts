// Remote presence inside the editor: where the other people's carets and
// selections are, kept as positions in the current document (mapped
// through every transaction) and drawn as decorations, a coloured caret
// with a name label and a tinted selection.

import {EditorState, Plugin, PluginKey, Transaction} from "prosemirror-state"
import {Decoration, DecorationSet} from "prosemirror-view"
import {PresenceEntry} from "./protocol.js"

/// A person in the room, as the editor shows them.
export interface PresenceUser {
  userId: string
  name: string
  color: string
  /// The selection's anchor and head in the current document, or null when
  /// the user sent no position.
  anchor: number | null
  head: number | null
  /// Whether this is the local user.
  self: boolean
}

/// A change to the remote users, carried as transaction metadata.
export type PresenceUpdate =
  | {type: "reset", users: PresenceUser[]}
  | {type: "set", user: PresenceUser}
  | {type: "remove", userId: string}
  | {type: "ready", ready: boolean}

/// The plugin state: the remote users, their decorations, and whether the
/// document has been loaded from the server (the editor is read-only until
/// then, so that nothing is typed into a document about to be replaced).
export class PresenceState {
  constructor(
    readonly users: ReadonlyMap<string, PresenceUser>,
    readonly decorations: DecorationSet,
    readonly ready: boolean
  ) {}

  static empty = new PresenceState(new Map(), DecorationSet.empty, false)

  /// @internal
  apply(tr: Transaction, state: EditorState): PresenceState {
    let update = tr.getMeta(presenceKey) as PresenceUpdate | undefined
    if (!update && !tr.docChanged) return this
    let users = new Map(this.users), ready = this.ready
    if (tr.docChanged) {
      for (let [id, user] of users)
        users.set(id, {...user, anchor: mapPos(tr, user.anchor), head: mapPos(tr, user.head)})
    }
    if (update) {
      if (update.type == "reset") users = new Map(update.users.map(u => [u.userId, u]))
      else if (update.type == "set") users.set(update.user.userId, update.user)
      else if (update.type == "remove") users.delete(update.userId)
      else ready = update.ready
    }
    return new PresenceState(users, buildDecorations(state, users), ready)
  }
}

/// The key of the presence plugin's state.
export const presenceKey = new PluginKey<PresenceState>("realtimePresence")

function mapPos(tr: Transaction, pos: number | null): number | null {
  return pos == null ? null : tr.mapping.map(pos, 1)
}

function clamp(pos: number, state: EditorState): number {
  return Math.max(0, Math.min(pos, state.doc.content.size))
}

function buildDecorations(state: EditorState, users: ReadonlyMap<string, PresenceUser>): DecorationSet {
  let decorations: Decoration[] = []
  for (let user of users.values()) {
    if (user.self || user.head == null) continue
    let head = clamp(user.head, state), anchor = clamp(user.anchor ?? user.head, state)
    let from = Math.min(anchor, head), to = Math.max(anchor, head)
    if (from < to)
      decorations.push(Decoration.inline(from, to, {
        class: "rtpm-selection",
        style: `background-color: color-mix(in srgb, ${user.color} 25%, transparent)`
      }, {userId: user.userId}))
    decorations.push(Decoration.widget(head, () => caretElement(user), {
      key: `rtpm-caret-${user.userId}-${user.color}-${user.name}`,
      side: 10,
      ignoreSelection: true
    }))
  }
  return DecorationSet.create(state.doc, decorations)
}

// The caret: a zero-width inline element with a coloured border and the
// user's name above it. Inline styles make it visible without any CSS; the
// classes let a page restyle it. It holds no text: a click into a textblock
// with nothing else in it would put the browser's cursor into that text,
// inside the widget, where prosemirror-view before 1.43 (which left mouse
// selection to the browser) drops what is typed.
function caretElement(user: PresenceUser): HTMLElement {
  let caret = document.createElement("span")
  caret.className = "rtpm-caret"
  caret.setAttribute("data-user-id", user.userId)
  caret.style.cssText = "position: relative; margin-left: -1px; margin-right: -1px; " +
    "border-left: 2px solid; pointer-events: none; word-break: normal;"
  caret.style.borderLeftColor = user.color
  let label = document.createElement("span")
  label.className = "rtpm-caret-label"
  label.textContent = user.name
  label.style.cssText = "position: absolute; top: -1.35em; left: -2px; font-size: 11px; " +
    "line-height: 1.3; padding: 0 4px; border-radius: 3px 3px 3px 0; color: #fff; " +
    "white-space: nowrap; font-family: sans-serif; font-weight: 600; user-select: none;"
  label.style.backgroundColor = user.color
  caret.appendChild(label)
  return caret
}

/// The presence plugin: state, decorations, and read-only until loaded.
export function presencePlugin(view: Plugin["spec"]["view"]): Plugin<PresenceState> {
  return new Plugin<PresenceState>({
    key: presenceKey,
    state: {
      init: () => PresenceState.empty,
      apply: (tr, value, _old, state) => value.apply(tr, state)
    },
    props: {
      decorations: state => presenceKey.getState(state)!.decorations,
      editable: state => presenceKey.getState(state)!.ready
    },
    view
  })
}

const palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0f9d9a", "#f032e6",
                 "#9a6324", "#800000", "#808000", "#000075", "#2f4f4f"]

/// A colour for a user, picked from a palette by a hash of `seed`.
export function colorFor(seed: string): string {
  let h = 2166136261
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619)
  return palette[(h >>> 0) % palette.length]
}

/// A safe CSS colour from a remote entry: hex, a name, or rgb()/hsl()
/// with plain numbers. Anything else becomes grey.
export function safeColor(color: unknown): string {
  if (typeof color == "string" &&
      /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|(rgb|hsl)a?\([0-9.,%\s]+\))$/.test(color)) return color
  return "#888888"
}

/// The user a presence entry describes; positions are taken as they are.
export function userFromEntry(userId: string, entry: PresenceEntry, self = false): PresenceUser {
  let name = typeof entry.name == "string" && entry.name ? entry.name.slice(0, 64) : userId.slice(0, 8)
  let anchor: number | null = null, head: number | null = null
  let sel = entry.selection
  if (sel && isPos(sel.anchor) && isPos(sel.head)) { anchor = sel.anchor; head = sel.head }
  else if (entry.cursor && isPos(entry.cursor.pos)) anchor = head = entry.cursor.pos
  return {userId, name, color: safeColor(entry.color ?? colorFor(userId)), anchor, head, self}
}

function isPos(v: unknown): v is number {
  return typeof v == "number" && Number.isInteger(v) && v >= 0
}
