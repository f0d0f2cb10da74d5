// Where the local caret goes when others' steps come in (issue 12, item 6).
// A `state` that is slow to arrive is followed at once by the steps typed
// while it travelled; when they were typed at the end of the document,
// where loading the document put the caret, mapping that caret backward
// (prosemirror-collab's `mapSelectionBackward`) left it in front of them,
// and the joiner's first word went into the middle of the other's text
// ("am25ber" for "amber" then "25"). The scripted-server tests hold the
// steps back by hand; the last test holds the real server's messages in a
// proxy.

import {test, beforeEach, after} from "node:test"
import assert from "node:assert/strict"
import WebSocket, {WebSocketServer} from "ws"
import {TextSelection} from "prosemirror-state"
import {getVersion} from "prosemirror-collab"
import {RealtimeClient} from "../src/index.js"
import {HeadlessEditor, nodeClient} from "./headless.js"
import {FakeSocket} from "./fake-socket.js"
import {TestServer, waitFor} from "./server.js"

const doc = (text = "") =>
  ({type: "doc", content: [{type: "paragraph", ...(text ? {content: [{type: "text", text}]} : {})}]})
const insert = (pos: number, text: string) =>
  ({stepType: "replace", from: pos, to: pos, slice: {content: [{type: "text", text}]}})

// Typing as a keyboard does: at the selection, which the text then follows.
function typeAtCaret(editor: HeadlessEditor, text: string) {
  editor.dispatch(editor.state.tr.insertText(text))
}

// Grace joins a room where Ada is typing "amber" at the end.
function graceJoins() {
  let client = new RealtimeClient({url: "ws://fake/ws", WebSocket: FakeSocket as any,
                                   backoff: {baseMs: 1, maxMs: 2}})
  let grace = new HeadlessEditor(client, "r", {userId: "grace", name: "Grace", checkSchema: false})
  let socket = FakeSocket.last()
  socket.open()
  socket.take("join")
  return {client, grace, socket}
}

beforeEach(() => { FakeSocket.all = [] })

test("a slow state: what was typed at the end while it travelled stays in front of the joiner's caret", () => {
  let {client, grace, socket} = graceJoins()
  // The server answered the join when the room held "am"; Ada typed "ber"
  // while the state travelled, and those steps arrive right after it.
  socket.receive({type: "state", room: "r", version: 2, doc: doc("am"), users: {grace: {}, ada: {name: "Ada"}}})
  assert.equal(grace.state.selection.head, 3, "loading the document puts the caret at its end")
  socket.receive({type: "steps", room: "r", version: 2, steps: [insert(3, "b"), insert(4, "e"), insert(5, "r")],
                  userId: "ada"})
  assert.equal(grace.text(), "amber")
  assert.equal(grace.state.selection.head, 6, "the caret is still at the end, after Ada's word")
  typeAtCaret(grace, "25")
  assert.equal(grace.text(), "amber25")
  let [sent] = socket.take("steps")
  assert.equal(sent.version, 5)
  assert.deepEqual(sent.steps, [insert(6, "25")])
  client.close()
})

test("once the user has typed, text inserted at her caret goes after it (her run stays together)", () => {
  let {client, grace, socket} = graceJoins()
  socket.receive({type: "state", room: "r", version: 5, doc: doc("amber"), users: {grace: {}, ada: {name: "Ada"}}})
  typeAtCaret(grace, "25")
  socket.take("steps")
  socket.receive({type: "ack", room: "r", version: 6})
  // Ada types at the same spot, the end.
  socket.receive({type: "steps", room: "r", version: 6, steps: [insert(8, "apple")], userId: "ada"})
  assert.equal(grace.text(), "amber25apple")
  assert.equal(grace.state.selection.head, 8)
  typeAtCaret(grace, "0")
  assert.equal(grace.text(), "amber250apple")
  assert.equal(getVersion(grace.state), 7)
  client.close()
})

test("a caret the user put somewhere herself also keeps text inserted at it behind it", () => {
  let {client, grace, socket} = graceJoins()
  socket.receive({type: "state", room: "r", version: 5, doc: doc("amber"), users: {grace: {}, ada: {name: "Ada"}}})
  // A click between "am" and "ber".
  grace.dispatch(grace.state.tr.setSelection(TextSelection.create(grace.state.doc, 3)))
  socket.receive({type: "steps", room: "r", version: 5, steps: [insert(3, "25")], userId: "ada"})
  assert.equal(grace.text(), "am25ber")
  assert.equal(grace.state.selection.head, 3)
  client.close()
})

// A proxy in front of the real server whose messages to the client can be
// held and then released in order.
class HoldingProxy {
  held: string[] = []
  holding = false
  private client: WebSocket | null = null
  private constructor(private readonly server: WebSocketServer, readonly url: string) {}

  static start(target: string): Promise<HoldingProxy> {
    return new Promise(resolve => {
      let wss: WebSocketServer = new WebSocketServer({port: 0, host: "127.0.0.1", handleProtocols: p => [...p][0]}, () => {
        let proxy = new HoldingProxy(wss, `ws://127.0.0.1:${(wss.address() as any).port}/ws`)
        wss.on("connection", client => proxy.connect(client, target))
        resolve(proxy)
      })
    })
  }

  private connect(client: WebSocket, target: string) {
    this.client = client
    let upstream = new WebSocket(target, [client.protocol])
    let early: string[] = []
    upstream.on("open", () => { for (let m of early) upstream.send(m); early = [] })
    upstream.on("message", data => {
      if (this.holding) this.held.push(String(data))
      else client.send(String(data))
    })
    client.on("message", data => {
      if (upstream.readyState == WebSocket.OPEN) upstream.send(String(data))
      else early.push(String(data))
    })
    upstream.on("close", () => client.close())
    client.on("close", () => upstream.close())
    upstream.on("error", () => {})
  }

  release() {
    this.holding = false
    for (let m of this.held) this.client?.send(m)
    this.held = []
  }

  close() {
    for (let c of this.server.clients) c.terminate()
    this.server.close()
  }
}

let servers: TestServer[] = []
let cleanups: (() => void)[] = []
after(async () => {
  for (let c of cleanups) c()
  await Promise.all(servers.map(s => s.stop()))
})

test("real server: the joiner's first word goes where the document ends, also when her state was held up", async () => {
  let s = await TestServer.start()
  servers.push(s)
  let ada = new HeadlessEditor(nodeClient(s.wsUrl), "slow-state", {name: "Ada"})
  cleanups.push(() => ada.client.close())
  await waitFor(() => ada.session.status == "synced", "Ada synced")
  ada.type("am")
  await waitFor(async () => ada.session.status == "synced" && (await s.room("slow-state")).version == 1, "am saved")
  // Grace's join goes through; everything the server sends her is held.
  let proxy = await HoldingProxy.start(s.wsUrl)
  cleanups.push(() => proxy.close())
  proxy.holding = true
  let grace = new HeadlessEditor(nodeClient(proxy.url), "slow-state", {name: "Grace", checkSchema: false})
  cleanups.push(() => grace.client.close())
  await waitFor(() => proxy.held.some(m => JSON.parse(m).type == "state"), "Grace's state, held")
  // Ada goes on typing at the end while Grace's state is on its way.
  ada.type("ber")
  await waitFor(async () => ada.session.status == "synced" && (await s.room("slow-state")).version == 2, "ber saved")
  await waitFor(() => proxy.held.some(m => JSON.parse(m).type == "steps"), "Ada's steps, held behind the state")
  proxy.release()
  await waitFor(() => grace.session.status == "synced" && grace.text() == "amber", "Grace caught up")
  typeAtCaret(grace, "25")
  await waitFor(async () => {
    let room = await s.room("slow-state")
    return room.version == 3 && grace.session.status == "synced" && ada.text() == grace.text()
  }, "Grace's word saved and seen by Ada")
  assert.equal(grace.text(), "amber25")
  assert.equal(ada.text(), "amber25")
})
