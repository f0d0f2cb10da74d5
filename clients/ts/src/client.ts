// A connection to a realtime-pm server that survives disconnections. One
// `RealtimeClient` owns one WebSocket at a time and the rooms joined
// through it; when the socket drops it reconnects with exponential backoff
// and full jitter, and joins every room again, asking each room's handler
// for the version of its local copy so that the server can answer with the
// missed steps instead of the whole document.
//
// The client knows nothing about editors: a room's handler (the
// `CollabSession` of the ProseMirror plugin, or anything else) decides
// what to send. Nothing is sent for a room between its `join` and the
// `state` that answers it; while a room is not joined `RoomConnection.send`
// refuses, and the handler keeps what it wants to send (local steps stay
// unconfirmed in prosemirror-collab's state) until `onStatus("joined")`.

import {Backoff, BackoffOptions} from "./backoff.js"
import {
  ClientMessage, PresenceEntry, PresenceMessage, RoomMessage, ServerMessage, StepsMessage,
  jsonSubprotocol, parseServerMessage
} from "./protocol.js"

/// The state of the connection to the server.
/// - `connecting`: a socket is being opened.
/// - `open`: the socket is open.
/// - `offline`: no socket; a reconnection is scheduled.
/// - `closed`: `close()` was called; nothing more happens.
export type ConnectionStatus = "connecting" | "open" | "offline" | "closed"

/// The state of one room on this connection.
/// - `offline`: not joined, because the connection is not open.
/// - `joining`: a `join` went out; its `state` has not arrived.
/// - `joined`: the `state` arrived; the room may send.
/// - `left`: the room was left (or taken over by another session) and will
///   not be joined again.
export type RoomStatus = "offline" | "joining" | "joined" | "left"

/// The part of the WebSocket API the client uses: the browser's
/// `WebSocket`, or the `ws` package in node.
export interface WebSocketLike {
  readonly readyState: number
  readonly protocol: string
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
  onmessage: ((event: {data: any}) => void) | null
}

/// A WebSocket constructor.
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/// How to reach the server.
export interface RealtimeClientOptions {
  /// The WebSocket endpoint, `ws://HOST:PORT/ws`. In a browser it defaults
  /// to `/ws` on the page's own host.
  url?: string
  /// A token sent as `?token=` when the server requires authentication.
  token?: string
  /// The WebSocket implementation. Default: the global `WebSocket`.
  WebSocket?: WebSocketConstructor
  /// The HTTP client used for `GET /api/schema`. Default: the global `fetch`.
  fetch?: (url: string) => Promise<{ok: boolean, status: number, json(): Promise<unknown>}>
  /// How reconnection delays grow.
  backoff?: BackoffOptions
  /// A socket that has not opened after this many ms is given up and
  /// retried. Default 10,000.
  connectTimeoutMs?: number
  /// Connect at once (the default) or only on `connect()`.
  autoConnect?: boolean
}

/// What a room's owner provides to the client.
export interface RoomHandler {
  /// The fields of the next `join`: the presence to announce, when
  /// rejoining the version of the local copy, and whether to ask for the
  /// server-side rebase extension. Called whenever the client
  /// joins the room (each time the connection opens, and on `rejoin()`).
  joinFields(): {presence?: PresenceEntry, version?: number, rebase?: boolean}
  /// A message for this room: `state` (after which the room is `joined`),
  /// `steps`, `ack`, `presence`, `join`, `leave` and room errors.
  onMessage(message: RoomMessage): void
  /// The room's status changed.
  onStatus?(status: RoomStatus): void
}

/// One room joined through a `RealtimeClient`.
export class RoomConnection {
  /// Where the room stands on the current connection.
  status: RoomStatus = "offline"

  /// @internal
  constructor(
    /// The client this room belongs to.
    readonly client: RealtimeClient,
    /// The room's name.
    readonly room: string,
    /// The id this client has in the room.
    readonly userId: string,
    /// @internal
    readonly handler: RoomHandler
  ) {}

  /// Send `steps` or `presence` for this room. Returns false, sending
  /// nothing, when the room is not joined: the caller keeps what it has to
  /// send and sends it when the room reports `joined`.
  send(message: StepsMessage | PresenceMessage): boolean {
    if (this.status != "joined") return false
    return this.client.send(message)
  }

  /// Join again on the current connection, which makes the server answer
  /// with a fresh `state` (a resync).
  rejoin() {
    if (this.status == "left") return
    this.client.joinRoom(this)
  }

  /// Leave the room. With `notify` (the default) a `leave` goes to the
  /// server; without, the room is only forgotten (after `session_replaced`
  /// the server has already dropped it).
  leave(notify = true) {
    if (this.status == "left") return
    if (notify && (this.status == "joined" || this.status == "joining"))
      this.client.send({type: "leave", room: this.room, userId: this.userId})
    this.client.forget(this)
    this.setStatus("left")
  }

  /// @internal
  setStatus(status: RoomStatus) {
    if (this.status == status) return
    this.status = status
    this.handler.onStatus?.(status)
  }
}

type Listener = (status: ConnectionStatus) => void

/// A connection to a realtime-pm server that reconnects by itself.
export class RealtimeClient {
  /// The connection's current status.
  status: ConnectionStatus = "offline"
  /// The WebSocket endpoint.
  readonly url: string
  private readonly options: RealtimeClientOptions
  private readonly backoff: Backoff
  private socket: WebSocketLike | null = null
  private rooms = new Map<string, RoomConnection>()
  private listeners: Listener[] = []
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private connectTimer: ReturnType<typeof setTimeout> | null = null
  private onlineListener: (() => void) | null = null

  constructor(options: RealtimeClientOptions = {}) {
    this.options = options
    this.url = withToken(options.url ?? defaultUrl(), options.token)
    this.backoff = new Backoff(options.backoff)
    let g = globalThis as any
    if (typeof g.addEventListener == "function") {
      // Coming back online: retry now instead of waiting out the backoff.
      this.onlineListener = () => { if (this.status == "offline") this.reconnectNow() }
      g.addEventListener("online", this.onlineListener)
    }
    if (options.autoConnect !== false) this.connect()
  }

  /// Be notified of status changes. Returns a function that unsubscribes.
  onStatus(listener: Listener): () => void {
    this.listeners.push(listener)
    return () => { this.listeners = this.listeners.filter(l => l != listener) }
  }

  /// Open the connection, unless it is open, opening, or closed for good.
  connect() {
    if (this.status == "closed" || this.socket) return
    this.clearTimers()
    let WS = this.options.WebSocket ?? (globalThis as any).WebSocket as WebSocketConstructor | undefined
    if (!WS) throw new Error("RealtimeClient: no WebSocket implementation (pass options.WebSocket)")
    this.setStatus("connecting")
    let socket: WebSocketLike
    try {
      socket = new WS(this.url, [jsonSubprotocol])
    } catch {
      this.scheduleReconnect()
      return
    }
    this.socket = socket
    this.connectTimer = setTimeout(() => {
      if (this.socket == socket && socket.readyState != 1) this.dropSocket()
    }, this.options.connectTimeoutMs ?? 10000)
    socket.onopen = () => {
      if (this.socket != socket) return
      if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null }
      this.setStatus("open")
      for (let room of this.rooms.values()) this.joinRoom(room)
    }
    socket.onmessage = event => {
      if (this.socket != socket || typeof event.data != "string") return
      let message = parseServerMessage(event.data)
      if (message) this.dispatch(message)
    }
    socket.onclose = () => { if (this.socket == socket) this.dropSocket() }
    socket.onerror = () => { if (this.socket == socket) this.dropSocket() }
  }

  /// Close the connection for good: leave every room, stop reconnecting.
  close() {
    if (this.status == "closed") return
    for (let room of [...this.rooms.values()]) room.leave()
    this.clearTimers()
    let socket = this.socket
    this.socket = null
    if (socket) detach(socket).close(1000)
    if (this.onlineListener) (globalThis as any).removeEventListener?.("online", this.onlineListener)
    this.setStatus("closed")
  }

  /// Drop the current socket (as if the network failed) and reconnect
  /// after the backoff delay. Tests use it to simulate a lost connection.
  disconnect() {
    if (this.socket) this.dropSocket()
  }

  /// Reconnect now, skipping what remains of the backoff delay.
  reconnectNow() {
    if (this.status == "closed" || this.socket) return
    this.connect()
  }

  /// Join `room` as `userId`. The client joins now if the connection is
  /// open, and again after every reconnection, until the room is left.
  /// Throws when this client already has the room.
  join(room: string, userId: string, handler: RoomHandler): RoomConnection {
    if (this.rooms.has(room)) throw new Error(`RealtimeClient: room ${room} is already joined`)
    let connection = new RoomConnection(this, room, userId, handler)
    this.rooms.set(room, connection)
    if (this.status == "open") this.joinRoom(connection)
    return connection
  }

  /// Send a message if the socket is open. Returns whether it went out.
  send(message: ClientMessage): boolean {
    let socket = this.socket
    if (!socket || socket.readyState != 1) return false
    socket.send(JSON.stringify({...message, timestamp: Date.now()}))
    return true
  }

  /// The server's schema spec (`GET /api/schema`).
  async fetchSchema(): Promise<unknown> {
    let fetchFn = this.options.fetch ?? (globalThis as any).fetch
    if (!fetchFn) throw new Error("RealtimeClient: no fetch implementation (pass options.fetch)")
    let response = await fetchFn(httpUrl(this.url, "/api/schema"))
    if (!response.ok) throw new Error(`GET /api/schema answered ${response.status}`)
    return response.json()
  }

  /// @internal
  joinRoom(room: RoomConnection) {
    let fields = room.handler.joinFields()
    let message: ClientMessage = {type: "join", room: room.room, userId: room.userId}
    if (fields.presence) message.presence = fields.presence
    if (fields.version != null) message.version = fields.version
    if (fields.rebase) message.rebase = true
    if (this.send(message)) room.setStatus("joining")
  }

  /// @internal
  forget(room: RoomConnection) {
    if (this.rooms.get(room.room) == room) this.rooms.delete(room.room)
  }

  private dispatch(message: ServerMessage) {
    // A connection that delivers messages is healthy: the next drop starts
    // the backoff from its first delay again.
    this.backoff.reset()
    if (message.room == null) {
      // An error that names no room (bad_message and the like): nothing in
      // this client sends malformed messages, so there is nothing to fix.
      return
    }
    let room = this.rooms.get(message.room)
    if (!room) return
    if (message.type == "state") room.setStatus("joined")
    if (message.type == "error" && message.code == "session_replaced") room.setStatus("offline")
    room.handler.onMessage(message as RoomMessage)
  }

  private dropSocket() {
    let socket = this.socket
    this.socket = null
    if (socket) {
      detach(socket)
      try { socket.close() } catch { /* already closed */ }
    }
    for (let room of this.rooms.values()) room.setStatus("offline")
    this.scheduleReconnect()
  }

  private scheduleReconnect() {
    if (this.status == "closed") return
    this.clearTimers()
    this.setStatus("offline")
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.connect() }, this.backoff.next())
  }

  private clearTimers() {
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null }
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null }
  }

  private setStatus(status: ConnectionStatus) {
    if (this.status == status) return
    this.status = status
    for (let listener of this.listeners) listener(status)
  }
}

function detach(socket: WebSocketLike): WebSocketLike {
  socket.onopen = socket.onclose = socket.onerror = socket.onmessage = null
  // ws (node) emits 'error' events that crash the process when no listener
  // is attached; keep a no-op one.
  socket.onerror = () => {}
  return socket
}

function defaultUrl(): string {
  let location = (globalThis as any).location
  if (!location) throw new Error("RealtimeClient: options.url is required outside a browser")
  return `${location.protocol == "https:" ? "wss" : "ws"}://${location.host}/ws`
}

function withToken(url: string, token: string | undefined): string {
  if (!token) return url
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token)
}

/// The HTTP URL of `path` on the server of WebSocket endpoint `wsUrl`.
export function httpUrl(wsUrl: string, path: string): string {
  let url = new URL(wsUrl)
  url.protocol = url.protocol == "wss:" ? "https:" : "http:"
  url.pathname = url.pathname.replace(/\/ws\/?$/, "") + path
  return url.toString()
}
