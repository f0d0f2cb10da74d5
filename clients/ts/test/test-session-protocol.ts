// The session's side of the protocol, against a server played by the test
// (FakeSocket): the cases a real server produces only by chance.

import {test, beforeEach} from "node:test"
import assert from "node:assert/strict"
import {getVersion} from "prosemirror-collab"
import {RealtimeClient} from "../src/index.js"
import {HeadlessEditor, tiptapSchema} from "./headless.js"
import {FakeSocket} from "./fake-socket.js"

const doc = (text = "") =>
  ({type: "doc", content: [{type: "paragraph", ...(text ? {content: [{type: "text", text}]} : {})}]})
const insert = (pos: number, text: string) =>
  ({stepType: "replace", from: pos, to: pos, slice: {content: [{type: "text", text}]}})

// checkSchema is read when the view is attached, so build editors with it off.
function connected(version = 0, text = "") {
  let client = new RealtimeClient({url: "ws://fake/ws", WebSocket: FakeSocket as any,
                                   backoff: {baseMs: 1, maxMs: 2}})
  let editor = new HeadlessEditor(client, "r", {userId: "me", name: "Me", checkSchema: false})
  let socket = FakeSocket.last()
  socket.open()
  let [join] = socket.take("join")
  assert.deepEqual(join, {type: "join", room: "r", userId: "me", presence: {name: "Me", color: join.presence.color},
                          rebase: true, timestamp: join.timestamp})
  socket.receive({type: "state", room: "r", version, doc: doc(text), users: {me: {}}})
  return {client, editor, socket}
}

beforeEach(() => { FakeSocket.all = [] })

test("the editor is read-only until the state arrives, then takes its document and version", () => {
  let client = new RealtimeClient({url: "ws://fake/ws", WebSocket: FakeSocket as any})
  let editor = new HeadlessEditor(client, "r", {userId: "me", checkSchema: false})
  FakeSocket.last().open()
  assert.equal(editor.session.status, "joining")
  FakeSocket.last().receive({type: "state", room: "r", version: 7, doc: doc("hello"), users: {me: {}}})
  assert.equal(editor.text(), "hello")
  assert.equal(getVersion(editor.state), 7)
  assert.equal(editor.session.status, "synced")
  client.close()
})

test("one batch in flight; ack confirms it and the next batch goes out", () => {
  let {client, editor, socket} = connected(3, "ab")
  editor.type("c")
  let [first] = socket.take("steps")
  assert.equal(first.version, 3)
  assert.deepEqual(first.steps, [insert(3, "c")])
  editor.type("d")
  assert.deepEqual(socket.take("steps"), [], "nothing while a batch is in flight")
  socket.receive({type: "ack", room: "r", version: 4})
  assert.equal(getVersion(editor.state), 4)
  let [second] = socket.take("steps")
  assert.equal(second.version, 4)
  assert.deepEqual(second.steps, [insert(4, "d")])
  socket.receive({type: "ack", room: "r", version: 5})
  assert.equal(editor.session.pendingSteps(), 0)
  assert.equal(editor.session.status, "synced")
  client.close()
})

test("version_conflict: wait for the missed steps, then send the rebased ones", () => {
  let {client, editor, socket} = connected(0, "xy")
  editor.type("!")
  assert.equal(socket.take("steps").length, 1)
  socket.receive({type: "error", code: "version_conflict", message: "", room: "r", version: 2})
  assert.deepEqual(socket.take("steps"), [], "not before the missed steps are in")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "A")], userId: "other"})
  assert.deepEqual(socket.take("steps"), [], "still one step short")
  socket.receive({type: "steps", room: "r", version: 1, steps: [insert(2, "B")], userId: "other"})
  let [again] = socket.take("steps")
  assert.equal(again.version, 2)
  assert.deepEqual(again.steps, [insert(5, "!")])
  assert.equal(editor.text(), "ABxy!")
  client.close()
})

test("remote steps already known are skipped; a gap makes the session rejoin with its version", () => {
  let {client, editor, socket} = connected(5, "q")
  socket.receive({type: "steps", room: "r", version: 4, steps: [insert(1, "old")], userId: "o"})
  assert.equal(editor.text(), "q")
  socket.receive({type: "steps", room: "r", version: 9, steps: [insert(1, "far")], userId: "o"})
  let [join] = socket.take("join")
  assert.equal(join.version, 5)
  assert.equal(editor.text(), "q")
  client.close()
})

test("after a reconnect the state's steps confirm our own accepted batch", () => {
  let {client, editor, socket} = connected(0)
  editor.type("mine")
  let [sent] = socket.take("steps")
  editor.type("+")
  socket.drop()
  // The socket is gone before the ack. The client reconnects by itself.
  return new Promise<void>(resolve => setTimeout(() => {
    let next = FakeSocket.last()
    assert.notEqual(next, socket)
    next.open()
    let [join] = next.take("join")
    assert.equal(join.version, 0)
    assert.ok(join.presence.selection)
    // The server had taken the batch (as version 1), and someone else's after it.
    next.receive({type: "state", room: "r", version: 2, steps: [...sent.steps, insert(1, ">")],
                  userIds: ["me", "other"], users: {me: {}, other: {name: "O"}}})
    assert.equal(editor.text(), ">mine+")
    assert.equal(getVersion(editor.state), 2)
    let [rest] = next.take("steps")
    assert.equal(rest.version, 2)
    assert.deepEqual(rest.steps, [insert(6, "+")])
    assert.deepEqual(editor.session.users().map(u => u.name), ["Me", "O"])
    client.close()
    resolve()
  }, 20))
})

test("invalid_steps: the steps are dropped by loading the server's document", () => {
  let {client, editor, socket} = connected(0, "ok")
  editor.type("bad")
  socket.take("steps")
  socket.receive({type: "error", code: "invalid_steps", message: "step 0: nope", room: "r", index: 0})
  let [join] = socket.take("join")
  assert.equal(join.version, undefined, "a full resync")
  socket.receive({type: "state", room: "r", version: 0, doc: doc("ok"), users: {me: {}}})
  assert.equal(editor.text(), "ok")
  assert.deepEqual(editor.events.filter(e => e.type == "lost" || e.type == "error").map(e => e.type), ["error", "lost"])
  assert.equal(editor.session.pendingSteps(), 0)
  client.close()
})

test("presence goes out mapped back to the confirmed version, throttled and deduplicated", async () => {
  let {client, editor, socket} = connected(0, "abc")
  await new Promise(r => setTimeout(r, 80))
  socket.take("presence")
  editor.type("XY", 1)
  await new Promise(r => setTimeout(r, 80))
  let [presence] = socket.take("presence")
  // The caret is at 3 in "XYabc", but "XY" is unconfirmed: at version 0 it is 1.
  assert.equal(presence.version, 0)
  assert.deepEqual(presence.users.me.cursor, {pos: 1})
  assert.deepEqual(presence.users.me.selection, {anchor: 1, head: 1})
  socket.receive({type: "ack", room: "r", version: 1})
  await new Promise(r => setTimeout(r, 80))
  let [exact] = socket.take("presence")
  assert.equal(exact.version, 1)
  assert.deepEqual(exact.users.me.cursor, {pos: 3})
  await new Promise(r => setTimeout(r, 80))
  assert.deepEqual(socket.take("presence"), [], "unchanged presence is not sent again")
  client.close()
})

test("remote presence is mapped through our unconfirmed steps", () => {
  let {client, editor, socket} = connected(0, "hello")
  editor.type(">>", 1)
  socket.receive({type: "presence", room: "r", version: 0,
                  users: {o: {cursor: {pos: 6}, selection: {anchor: 2, head: 6}, name: "O", color: "#123456"}}})
  let other = editor.session.users()[1]
  assert.deepEqual([other.anchor, other.head, other.name, other.color], [4, 8, "O", "#123456"])
  socket.receive({type: "leave", room: "r", userId: "o"})
  assert.equal(editor.session.users().length, 1)
  client.close()
})

test("session_replaced stops the session and makes the editor read-only", () => {
  let {client, editor, socket} = connected(0)
  socket.receive({type: "error", code: "session_replaced", message: "", room: "r"})
  assert.equal(editor.session.status, "replaced")
  editor.type("x")
  assert.deepEqual(socket.take("steps"), [])
  client.close()
})

// Ctrl+B at an empty caret, then someone else's steps, then typing: the text
// is bold. ProseMirror drops stored marks in every transaction that changes
// the document; the session keeps them through others' steps.
test("a mark toggled at the caret survives others' steps until the next keystroke", () => {
  for (let rebase of [false, true]) {
    let {client, editor, socket} = connected(0, "ab")
    if (rebase) socket.receive({type: "state", room: "r", version: 0, doc: doc("ab"), users: {me: {}}, rebase: true})
    let bold = tiptapSchema.marks.bold.create()
    editor.dispatch(editor.state.tr.setSelection(
      (editor.state.selection.constructor as any).near(editor.state.doc.resolve(3))).addStoredMark(bold))
    socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "X")], userId: "other",
                    ...(rebase ? {userIds: ["other"]} : {})})
    assert.equal(editor.text(), "Xab")
    assert.deepEqual(editor.state.storedMarks?.map(m => m.type.name), ["bold"], `rebase ${rebase}`)
    editor.dispatch(editor.state.tr.insertText("c"))
    let para = editor.state.doc.firstChild!
    assert.ok(bold.isInSet(para.child(para.childCount - 1).marks), `rebase ${rebase}: "c" is bold`)
    client.close()
    FakeSocket.all = []
  }
})
