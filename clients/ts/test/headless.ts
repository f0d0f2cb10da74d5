// An editor without a view, for tests in node: an EditorState with the
// realtime plugins, whose dispatch applies transactions and tells the
// session, as an EditorView's update would.

import {EditorState, Plugin, Transaction, TextSelection} from "prosemirror-state"
import {Schema} from "prosemirror-model"
import {getSchema} from "@tiptap/core"
import StarterKit from "@tiptap/starter-kit"
import WebSocket from "ws"
import {RealtimeClient, RealtimeClientOptions, CollabSession, SessionEvent, realtimeCollab} from "../src/index.js"

export const tiptapSchema: Schema = getSchema([StarterKit])

export class HeadlessEditor {
  state: EditorState
  session!: CollabSession
  events: SessionEvent[] = []

  constructor(readonly client: RealtimeClient, room: string,
              options: {schema?: Schema, userId?: string, name?: string, checkSchema?: boolean,
                        serverRebase?: boolean, plugins?: Plugin[]} = {}) {
    let plugins = realtimeCollab({
      client, room, userId: options.userId, name: options.name, checkSchema: options.checkSchema,
      serverRebase: options.serverRebase,
      onEvent: event => this.events.push(event),
      onSession: session => { this.session = session }
    })
    this.state = EditorState.create({schema: options.schema ?? tiptapSchema,
                                     plugins: [...(options.plugins ?? []), ...plugins]})
    // What EditorView does with plugin views: create them, update them.
    let spec = plugins[1].spec
    this.pluginView = spec.view!(this as any)
  }

  private pluginView: {update?: (view: any, prev: EditorState) => void, destroy?: () => void}

  dispatch = (tr: Transaction) => {
    let prev = this.state
    this.state = this.state.apply(tr)
    this.pluginView.update?.(this, prev)
  }

  /// Insert text at the end of the first textblock after `pos` (default:
  /// the end of the document's last textblock).
  type(text: string, pos?: number) {
    let at = pos ?? endOfText(this.state)
    let tr = this.state.tr.insertText(text, at)
    tr.setSelection(TextSelection.create(tr.doc, at + text.length))
    this.dispatch(tr)
  }

  text(): string { return this.state.doc.textContent }
  json(): any { return this.state.doc.toJSON() }

  destroy() { this.pluginView.destroy?.() }
}

function endOfText(state: EditorState): number {
  let end = 1
  state.doc.descendants((node, pos) => {
    if (node.isTextblock) end = pos + 1 + node.content.size
  })
  return end
}

export function nodeClient(url: string, options: Partial<RealtimeClientOptions> = {}): RealtimeClient {
  return new RealtimeClient({url, WebSocket: WebSocket as any, backoff: {baseMs: 50, maxMs: 500}, ...options})
}
