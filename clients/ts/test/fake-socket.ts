// A WebSocket stand-in for tests that play the server by hand: it records
// what the client sends and lets the test deliver server messages.

import {WebSocketLike} from "../src/index.js"

export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = []
  static last(): FakeSocket { return FakeSocket.all[FakeSocket.all.length - 1] }

  readyState = 0
  protocol = "realtime-pm.json.v1"
  sent: any[] = []
  onopen: ((event: any) => void) | null = null
  onclose: ((event: any) => void) | null = null
  onerror: ((event: any) => void) | null = null
  onmessage: ((event: {data: any}) => void) | null = null

  constructor(readonly url: string, readonly protocols?: string | string[]) {
    FakeSocket.all.push(this)
  }

  send(data: string) { this.sent.push(JSON.parse(data)) }
  close() { this.readyState = 3 }

  /// Finish the handshake.
  open() { this.readyState = 1; this.onopen?.({}) }
  /// Deliver a server message.
  receive(message: object) { this.onmessage?.({data: JSON.stringify({timestamp: 1, ...message})}) }
  /// The connection drops.
  drop() { this.readyState = 3; this.onclose?.({code: 1006}) }
  /// Sent messages of one type, and forget them.
  take(type?: string): any[] {
    let out = this.sent.filter(m => !type || m.type == type)
    this.sent = this.sent.filter(m => type && m.type != type)
    return out
  }
}
