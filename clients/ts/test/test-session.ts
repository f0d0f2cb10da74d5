import {test, after} from "node:test"
import assert from "node:assert/strict"
import WebSocket from "ws"
import {getVersion} from "prosemirror-collab"
import {presenceKey} from "../src/index.js"
import {TestServer, waitFor, sleep} from "./server.js"
import {HeadlessEditor, nodeClient} from "./headless.js"

let servers: TestServer[] = []
let editors: HeadlessEditor[] = []
after(async () => {
  for (let e of editors) e.client.close()
  await Promise.all(servers.map(s => s.stop()))
})

async function server(options = {}) {
  let s = await TestServer.start(options)
  servers.push(s)
  return s
}

function editor(url: string, room: string,
                options: {userId?: string, name?: string, WebSocket?: any, serverRebase?: boolean} = {}) {
  let e = new HeadlessEditor(nodeClient(url, options.WebSocket ? {WebSocket: options.WebSocket} : {}), room, options)
  editors.push(e)
  return e
}

async function settled(s: TestServer, room: string, ...eds: HeadlessEditor[]) {
  await waitFor(async () => {
    if (!eds.every(e => e.session.status == "synced")) return false
    let json = JSON.stringify((await s.room(room)).doc)
    return eds.every(e => JSON.stringify(e.json()) == json)
  }, "editors to converge with the server", 15000)
  let remote = await s.room(room)
  for (let e of eds) {
    assert.deepEqual(e.json(), remote.doc)
    assert.equal(getVersion(e.state), remote.version)
    assert.equal(e.session.pendingSteps(), 0)
  }
}

test("two editors typing at once converge on the server's document", async () => {
  let s = await server()
  // Version 1's loop (refused late batches, rebased and sent again).
  let a = editor(s.wsUrl, "converge", {name: "A", serverRebase: false})
  let b = editor(s.wsUrl, "converge", {name: "B", serverRebase: false})
  await waitFor(() => a.session.status == "synced" && b.session.status == "synced", "both synced")
  // A first character, so that "start" and "end" differ: inserts at one
  // position by both would interleave by arrival order.
  a.type("|")
  await settled(s, "converge", a, b)
  for (let i = 0; i < 40; i++) {
    a.type("a" + (i % 10))
    b.type("b" + (i % 10), 1)
    if (i % 7 == 0) await sleep(5)
  }
  await settled(s, "converge", a, b)
  // Both typed at once, so at least one batch met someone else's first.
  assert.ok([a, b].some(e => e.session.lastError?.code == "version_conflict"))
  // B always typed at the start, A at the end: B's pieces come first, newest first.
  let bs = Array.from({length: 40}, (_, i) => "b" + (i % 10)).reverse().join("")
  let as = Array.from({length: 40}, (_, i) => "a" + (i % 10)).join("")
  assert.equal(a.text(), bs + "|" + as)
})

test("server-side rebase: two editors typing at once converge, and no batch is refused", async () => {
  let s = await server()
  // Records the acks the server sends, to see that it rebased batches.
  let acks: {version: number, steps?: unknown[]}[] = []
  class RecordingSocket extends (WebSocket as any) {
    constructor(...args: any[]) {
      super(...args)
      ;(this as any).addEventListener("message", (event: {data: unknown}) => {
        let message = JSON.parse(String(event.data))
        if (message.type == "ack") acks.push(message)
      })
    }
  }
  let a = editor(s.wsUrl, "rebase", {name: "A", WebSocket: RecordingSocket})
  let b = editor(s.wsUrl, "rebase", {name: "B", WebSocket: RecordingSocket})
  await waitFor(() => a.session.status == "synced" && b.session.status == "synced", "both synced")
  assert.equal(a.session.serverRebase, true, "the server speaks the rebase extension")
  assert.equal(b.session.serverRebase, true)
  a.type("|")
  await settled(s, "rebase", a, b)
  for (let i = 0; i < 60; i++) {
    a.type("a" + (i % 10))
    b.type("b" + (i % 10), 1)
    if (i % 7 == 0) await sleep(5)
  }
  await settled(s, "rebase", a, b)
  assert.ok(acks.some(ack => ack.steps), "at least one batch was rebased by the server")
  assert.ok(![a, b].some(e => e.session.lastError), "no errors, version_conflict included")
  let bs = Array.from({length: 60}, (_, i) => "b" + (i % 10)).reverse().join("")
  let as = Array.from({length: 60}, (_, i) => "a" + (i % 10)).join("")
  assert.equal(a.text(), bs + "|" + as)
})

test("presence: the other editor's caret is known at its position and goes away on leave", async () => {
  let s = await server()
  let a = editor(s.wsUrl, "presence", {name: "Ada"}), b = editor(s.wsUrl, "presence", {name: "Bob"})
  await waitFor(() => a.session.status == "synced" && b.session.status == "synced", "both synced")
  a.type("hello world")
  await settled(s, "presence", a, b)
  let remoteA = () => presenceKey.getState(b.state)!.users.get(a.session.userId)
  await waitFor(() => remoteA()?.head == 12, "Ada's caret at 12 in Bob's editor")
  assert.equal(remoteA()!.name, "Ada")
  // Bob types before Ada's caret: the caret moves with the text.
  b.type(">> ", 1)
  await waitFor(() => remoteA()?.head == 15, "Ada's caret mapped to 15")
  assert.deepEqual(a.session.users().map(u => u.name), ["Ada", "Bob"])
  a.session.destroy()
  await waitFor(() => !remoteA(), "Ada gone from Bob's editor")
})

test("a dropped connection loses nothing and duplicates nothing", async () => {
  let s = await server()
  let a = editor(s.wsUrl, "drop"), b = editor(s.wsUrl, "drop")
  await waitFor(() => a.session.status == "synced" && b.session.status == "synced", "both synced")
  for (let i = 0; i < 30; i++) {
    a.type("x")
    b.type("y", 1)
    if (i % 5 == 2) a.client.disconnect()
    if (i % 5 == 4) b.client.disconnect()
    await sleep(3)
  }
  await settled(s, "drop", a, b)
  assert.equal(a.text().replace(/[^x]/g, "").length, 30)
  assert.equal(a.text().replace(/[^y]/g, "").length, 30)
})

test("steps whose ack was lost are confirmed by the rejoin, not sent twice", async () => {
  let s = await server()
  // A socket that closes itself right after sending a steps message, so
  // the ack never arrives on it.
  let dropAfterSteps = 3
  class FlakySocket extends (WebSocket as any) {
    send(data: string) {
      super.send(data)
      if (dropAfterSteps > 0 && JSON.parse(data).type == "steps") {
        dropAfterSteps--
        ;(this as any).terminate()
      }
    }
  }
  let a = editor(s.wsUrl, "lost-ack", {WebSocket: FlakySocket})
  await waitFor(() => a.session.status == "synced", "synced")
  a.type("one ")
  await sleep(100)
  a.type("two ")
  await sleep(100)
  a.type("three")
  await settled(s, "lost-ack", a)
  assert.equal(a.text(), "one two three")
  assert.equal(dropAfterSteps, 0)
})

test("typing while the server is down is synced after it restarts", async () => {
  let s = await server()
  let a = editor(s.wsUrl, "restart"), b = editor(s.wsUrl, "restart")
  await waitFor(() => a.session.status == "synced" && b.session.status == "synced", "both synced")
  a.type("before ")
  await settled(s, "restart", a, b)
  await s.kill()
  await waitFor(() => a.session.status == "offline" || a.session.status == "connecting", "A offline")
  a.type("[a offline]")
  b.type("[b offline]", 1)
  assert.ok(a.session.pendingSteps() > 0)
  let s2 = await s.restart()
  servers.push(s2)
  await settled(s2, "restart", a, b)
  assert.ok(a.text().includes("before [a offline]"), a.text())
  assert.ok(a.text().startsWith("[b offline]"), a.text())
})

test("when the server answers with a whole document, unconfirmed steps are dropped and reported", async () => {
  let s = await server({store: "memory"})
  let a = editor(s.wsUrl, "forgotten")
  await waitFor(() => a.session.status == "synced", "synced")
  a.type("kept only here")
  await settled(s, "forgotten", a)
  await s.kill()
  await waitFor(() => a.session.status != "synced", "offline")
  a.type("!")
  // A memory store forgets the room: the rejoin names a version the server
  // does not have, and gets the (empty) document.
  let s2 = await s.restart()
  servers.push(s2)
  await waitFor(() => a.events.some(e => e.type == "lost"), "lost event")
  await settled(s2, "forgotten", a)
  assert.equal(a.text(), "")
  assert.deepEqual(a.events.find(e => e.type == "lost"), {type: "lost", steps: 1})
})

test("an editor whose schema differs from the server's sends nothing and says what differs", async () => {
  let s = await server({schema: "basic"})
  let a = editor(s.wsUrl, "mismatch")
  await waitFor(() => a.session.status == "schema_mismatch", "schema_mismatch")
  let event = a.events.find(e => e.type == "schema")
  assert.ok(event && event.type == "schema")
  assert.ok(event.differences.some(d => d.kind == "node" && d.name == "code_block"))
  assert.ok(a.session.schemaDifferences.length > 0)
  // Never joined: the room does not exist on the server.
  assert.equal((await fetch(s.httpUrl + "/api/rooms/mismatch")).status, 404)
})

test("a second editor with the same userId replaces the first", async () => {
  let s = await server()
  let a = editor(s.wsUrl, "replace", {userId: "same-id"})
  await waitFor(() => a.session.status == "synced", "A synced")
  let b = editor(s.wsUrl, "replace", {userId: "same-id"})
  await waitFor(() => a.session.status == "replaced", "A replaced")
  // A's editor is read-only now: nothing typed there could be sent.
  assert.equal(presenceKey.getState(a.state)!.ready, false)
  await waitFor(() => b.session.status == "synced", "B synced")
  b.type("b wins")
  await settled(s, "replace", b)
})
