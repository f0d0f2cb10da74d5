// The session's side of the server-side rebase extension (docs/protocol.md,
// "Extension: server-side rebase"), against a server played by the test
// (FakeSocket): acks that carry the steps as the server applied them,
// broadcasts with one author per step, and a rejoin's state in which this
// user's batch comes after others' steps.

import {test, beforeEach} from "node:test"
import assert from "node:assert/strict"
import {getVersion} from "prosemirror-collab"
import {Plugin, TextSelection} from "prosemirror-state"
import {history, undo} from "@tiptap/pm/history"
import {RealtimeClient} from "../src/index.js"
import {HeadlessEditor} from "./headless.js"
import {FakeSocket} from "./fake-socket.js"

const doc = (text = "") =>
  ({type: "doc", content: [{type: "paragraph", ...(text ? {content: [{type: "text", text}]} : {})}]})
const insert = (pos: number, text: string) =>
  ({stepType: "replace", from: pos, to: pos, slice: {content: [{type: "text", text}]}})
const remove = (from: number, to: number) => ({stepType: "replace", from, to})

// An editor in room "r" as user "me", joined at `version` with `text`; the
// state says `rebase: true` unless `rebase` is false.
function joined(text = "", {version = 0, rebase = true, serverRebase, plugins}: {
  version?: number, rebase?: boolean, serverRebase?: boolean, plugins?: Plugin[]} = {}) {
  let client = new RealtimeClient({url: "ws://fake/ws", WebSocket: FakeSocket as any,
                                   backoff: {baseMs: 1, maxMs: 2}})
  let editor = new HeadlessEditor(client, "r", {userId: "me", name: "Me", checkSchema: false, serverRebase, plugins})
  let socket = FakeSocket.last()
  socket.open()
  let [join] = socket.take("join")
  socket.receive({type: "state", room: "r", version, doc: doc(text), users: {me: {}}, ...(rebase ? {rebase: true} : {})})
  return {client, editor, socket, join}
}

const caret = (editor: HeadlessEditor) => editor.state.selection.head

// Let the client reconnect after a drop (backoff of 1-2 ms), return the new socket.
async function reconnected(old: FakeSocket): Promise<FakeSocket> {
  await new Promise(resolve => setTimeout(resolve, 20))
  let next = FakeSocket.last()
  assert.notEqual(next, old)
  next.open()
  return next
}

beforeEach(() => { FakeSocket.all = [] })

test("the join asks for rebase; the state's rebase: true turns it on", () => {
  let {client, editor, join} = joined("ab")
  assert.equal(join.rebase, true)
  assert.equal(editor.session.serverRebase, true)
  client.close()
})

test("serverRebase: false never asks", () => {
  let {client, editor, join} = joined("ab", {rebase: false, serverRebase: false})
  assert.equal("rebase" in join, false)
  assert.equal(editor.session.serverRebase, false)
  client.close()
})

test("without rebase in the state the session speaks version 1: a late batch waits for version_conflict's steps", () => {
  let {client, editor, socket, join} = joined("xy", {rebase: false})
  assert.equal(join.rebase, true)
  assert.equal(editor.session.serverRebase, false)
  editor.type("!")
  assert.deepEqual(socket.take("steps").map(m => [m.version, m.steps]), [[0, [insert(3, "!")]]])
  socket.receive({type: "error", code: "version_conflict", message: "", room: "r", version: 1})
  assert.deepEqual(socket.take("join"), [], "version 1 does not rejoin on a conflict")
  assert.deepEqual(socket.take("steps"), [], "nor sends before it has the missed step")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "A")], userId: "other"})
  let [again] = socket.take("steps")
  assert.deepEqual([again.version, again.steps], [1, [insert(4, "!")]])
  socket.receive({type: "ack", room: "r", version: 2})
  assert.equal(editor.text(), "Axy!")
  assert.equal(editor.session.pendingSteps(), 0)
  client.close()
})

test("an ack with the steps as rebased here is version 1's confirmation; the next batch goes out at once", () => {
  let {client, editor, socket} = joined("ab")
  editor.type("c")
  let [sent] = socket.take("steps")
  assert.deepEqual([sent.version, sent.steps], [0, [insert(3, "c")]])
  // Someone else's step came first on the server; the batch is not refused.
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "X")], userId: "o", userIds: ["o"]})
  assert.equal(editor.text(), "Xabc")
  editor.type("d")
  assert.deepEqual(socket.take("steps"), [], "one batch in flight")
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(4, "c")]})
  assert.equal(getVersion(editor.state), 2)
  assert.equal(editor.text(), "Xabcd")
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [2, [insert(5, "d")]])
  // A batch the server did not have to rebase is acknowledged as in version 1.
  socket.receive({type: "ack", room: "r", version: 3})
  assert.equal(getVersion(editor.state), 3)
  assert.equal(editor.session.pendingSteps(), 0)
  assert.equal(editor.session.status, "synced")
  assert.equal(editor.session.lastError, null)
  client.close()
})

test("an ack with other steps: the document becomes the server's, the caret stays after the own text, remote carets follow", () => {
  let {client, editor, socket} = joined("ab")
  editor.type("hello")
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(3, "XY")], userId: "o", userIds: ["o"]})
  assert.equal(editor.text(), "abXYhello")
  assert.equal(caret(editor), 10)
  // o's caret between X and Y; p's after XY, at the end (after "hello" here).
  socket.receive({type: "presence", room: "r", version: 1, users: {
    o: {cursor: {pos: 4}, selection: {anchor: 4, head: 4}, name: "O"},
    p: {cursor: {pos: 5}, selection: {anchor: 5, head: 5}, name: "P"}}})
  assert.deepEqual(editor.session.users().slice(1).map(u => u.head), [4, 10])
  // The server put "hello" before "XY".
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(3, "hello")]})
  assert.equal(editor.text(), "abhelloXY")
  assert.deepEqual(editor.json(), doc("abhelloXY"))
  assert.equal(getVersion(editor.state), 2)
  assert.equal(editor.session.pendingSteps(), 0)
  assert.equal(caret(editor), 8, "right after hello")
  let users = new Map(editor.session.users().map(u => [u.userId, u]))
  assert.equal(users.get("o")!.head, 9, "still between X and Y")
  assert.equal(users.get("p")!.head, 10, "still after XY")
  editor.type("!")
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [2, [insert(10, "!")]])
  client.close()
})

test("item 6: a word the server placed elsewhere, typing after it while the ack is late: in order, caret at the end", () => {
  let {client, editor, socket} = joined("")
  editor.type("hello")
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "Bob ")], userId: "bob", userIds: ["bob"]})
  editor.type(" world")
  assert.equal(editor.text(), "Bob hello world")
  assert.deepEqual(socket.take("steps"), [])
  // The server put "hello" in front of Bob's text.
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(1, "hello")]})
  assert.equal(editor.text(), "hello worldBob ")
  assert.equal(caret(editor), 12, "after world")
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [2, [insert(6, " world")]])
  editor.type("!", caret(editor))
  assert.equal(editor.text(), "hello world!Bob ")
  client.close()
})

test("item 6, the usual case: the server's rebase equals ours, typing after the word stays after it", () => {
  let {client, editor, socket} = joined("")
  editor.type("hello")
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "Bob ")], userId: "bob", userIds: ["bob"]})
  editor.type(" world")
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(5, "hello")]})
  assert.equal(editor.text(), "Bob hello world")
  assert.equal(caret(editor), 16)
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [2, [insert(10, " world")]])
  client.close()
})

test("typing after a word the server moved further on is not turned into a replacement of what lies between", () => {
  let {client, editor, socket} = joined("abcd")
  editor.type("hello", 3)
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [remove(3, 4)], userId: "o", userIds: ["o"]})
  assert.equal(editor.text(), "abhellod")
  editor.type(" world", 8)
  assert.equal(editor.text(), "abhello worldd")
  // The server put "hello" after the "d".
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(4, "hello")]})
  assert.equal(editor.text(), "abdhello world")
  assert.equal(caret(editor), 15)
  client.close()
})

test("an ack with fewer steps, and one with none: the server's document, later typing kept", () => {
  let {client, editor, socket} = joined("ab")
  // One transaction, two steps: X at the start, Y at the end.
  editor.dispatch(editor.state.tr.insertText("X", 1).insertText("Y", 4))
  let [sent] = socket.take("steps")
  assert.equal(sent.steps.length, 2)
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "r")], userId: "o", userIds: ["o"]})
  assert.equal(editor.text(), "rXabY")
  editor.type("Z")
  // The server kept only Y.
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(4, "Y")]})
  assert.equal(editor.text(), "rabYZ")
  assert.equal(getVersion(editor.state), 2)
  assert.equal(caret(editor), 6)
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [2, [insert(5, "Z")]])
  // ...and none of Z: the version is the one the batch was applied at.
  editor.type("W")
  socket.receive({type: "ack", room: "r", version: 2, steps: []})
  assert.equal(editor.text(), "rabYW")
  assert.equal(getVersion(editor.state), 2)
  let [last] = socket.take("steps")
  assert.deepEqual([last.version, last.steps], [2, [insert(5, "W")]])
  socket.receive({type: "ack", room: "r", version: 3})
  assert.equal(editor.session.pendingSteps(), 0)
  client.close()
})

test("a batch that rebasing here dropped is not mistaken for the steps typed after it", () => {
  let {client, editor, socket} = joined("abcd")
  editor.type("X", 3)
  socket.take("steps")
  // o deletes "bc", around the X: rebased here, the X is gone.
  socket.receive({type: "steps", room: "r", version: 0, steps: [remove(2, 4)], userId: "o", userIds: ["o"]})
  assert.equal(editor.text(), "ad")
  editor.type("Z")
  socket.receive({type: "ack", room: "r", version: 1, steps: []})
  assert.equal(editor.text(), "adZ")
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [1, [insert(3, "Z")]])
  client.close()
})

test("a broadcast with steps of two users, partly known already", () => {
  let {client, editor, socket} = joined("ab")
  editor.type("!")
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(1, "1")], userId: "o1", userIds: ["o1"]})
  // Versions 0-2; version 0 is known. o2's step sits between two of o1's.
  socket.receive({type: "steps", room: "r", version: 0, userId: "o1", userIds: ["o1", "o2", "o1"],
                  steps: [insert(1, "1"), insert(2, "2"), insert(3, "3")]})
  assert.equal(editor.text(), "123ab!")
  assert.equal(getVersion(editor.state), 3)
  socket.receive({type: "ack", room: "r", version: 4, steps: [insert(6, "!")]})
  assert.equal(getVersion(editor.state), 4)
  assert.equal(editor.session.pendingSteps(), 0)
  assert.equal(editor.text(), "123ab!")
  client.close()
})

test("a rejoin's state: others' steps, then our batch whose ack was lost, then others'", async () => {
  let {client, editor, socket} = joined("ab")
  editor.type("hello")
  let [sent] = socket.take("steps")
  assert.deepEqual(sent.steps, [insert(3, "hello")])
  socket.drop()
  editor.type("!")
  let next = await reconnected(socket)
  let [join] = next.take("join")
  assert.deepEqual([join.version, join.rebase], [0, true])
  assert.deepEqual(next.take("steps"), [], "nothing before the state")
  // On the server: o's X, our batch rebased over it, then o2's Y.
  next.receive({type: "state", room: "r", version: 3, rebase: true, users: {me: {}},
                steps: [insert(1, "X"), insert(4, "hello"), insert(1, "Y")], userIds: ["o", "me", "o2"]})
  assert.equal(editor.text(), "YXabhello!")
  assert.equal(getVersion(editor.state), 3)
  assert.equal(caret(editor), 11)
  let [rest] = next.take("steps")
  assert.deepEqual([rest.version, rest.steps], [3, [insert(10, "!")]])
  client.close()
})

test("a rejoin's state with our batch applied in another form", async () => {
  let {client, editor, socket} = joined("ab")
  editor.type("hello")
  socket.take("steps")
  socket.drop()
  editor.type("!")
  let next = await reconnected(socket)
  next.take("join")
  // The server put "hello" before o's "XY", which it had at the same place.
  next.receive({type: "state", room: "r", version: 2, rebase: true, users: {me: {}},
                steps: [insert(3, "XY"), insert(3, "hello")], userIds: ["o", "me"]})
  assert.equal(editor.text(), "abhello!XY")
  assert.equal(caret(editor), 9)
  let [rest] = next.take("steps")
  assert.deepEqual([rest.version, rest.steps], [2, [insert(8, "!")]])
  client.close()
})

test("a rejoin's state without our batch: it was not applied, and goes out again", async () => {
  let {client, editor, socket} = joined("ab")
  editor.type("c")
  socket.take("steps")
  socket.drop()
  let next = await reconnected(socket)
  next.take("join")
  next.receive({type: "state", room: "r", version: 1, rebase: true, users: {me: {}},
                steps: [insert(1, "X")], userIds: ["o"]})
  assert.equal(editor.text(), "Xabc")
  let [again] = next.take("steps")
  assert.deepEqual([again.version, again.steps], [1, [insert(4, "c")]])
  client.close()
})

test("own steps in a broadcast (an earlier connection's batch, applied late) are not taken for the batch in flight", async () => {
  let {client, editor, socket} = joined("ab")
  editor.type("c")
  socket.take("steps")
  socket.drop()
  let next = await reconnected(socket)
  next.take("join")
  // The server had not made the old batch durable yet: the state lacks it.
  next.receive({type: "state", room: "r", version: 0, rebase: true, users: {me: {}}, steps: [], userIds: []})
  let [again] = next.take("steps")
  assert.deepEqual([again.version, again.steps], [0, [insert(3, "c")]])
  editor.type("d")
  // Then the old batch arrives as a broadcast, and the resent one is applied after it.
  next.receive({type: "steps", room: "r", version: 0, steps: [insert(3, "c")], userId: "me", userIds: ["me"]})
  next.receive({type: "ack", room: "r", version: 2, steps: [insert(4, "c")]})
  assert.equal(editor.text(), "abccd", "the server's document, and the d typed meanwhile")
  assert.equal(getVersion(editor.state), 2)
  let [rest] = next.take("steps")
  assert.deepEqual([rest.version, rest.steps], [2, [insert(5, "d")]])
  assert.deepEqual(next.take("join"), [], "no resync")
  client.close()
})

test("an error that leaves the batch's fate open holds the next batch until the rejoin's state", async () => {
  let {client, editor, socket} = joined("ab")
  editor.type("c")
  socket.take("steps")
  socket.receive({type: "error", code: "internal", message: "store", room: "r"})
  editor.type("d")
  assert.deepEqual(socket.take("steps"), [], "the batch may have been applied: not sent again blindly")
  await new Promise(resolve => setTimeout(resolve, 1600))
  let [join] = socket.take("join")
  assert.equal(join.version, 0)
  socket.receive({type: "state", room: "r", version: 1, rebase: true, users: {me: {}},
                  steps: [insert(3, "c")], userIds: ["me"]})
  assert.equal(editor.text(), "abcd")
  let [rest] = socket.take("steps")
  assert.deepEqual([rest.version, rest.steps], [1, [insert(4, "d")]])
  client.close()
})

test("version_conflict in rebase mode means the version is out of the kept history: rejoin", () => {
  let {client, editor, socket} = joined("ab", {version: 5})
  editor.type("c")
  socket.take("steps")
  socket.receive({type: "error", code: "version_conflict", message: "", room: "r", version: 20000})
  let [join] = socket.take("join")
  assert.deepEqual([join.version, join.rebase], [5, true])
  socket.receive({type: "state", room: "r", version: 20000, rebase: true, doc: doc("new"), users: {me: {}}})
  assert.equal(editor.text(), "new")
  assert.deepEqual(editor.events.filter(e => e.type == "lost"), [{type: "lost", steps: 1}])
  client.close()
})

test("the caret inside the own text, and a selection over it, follow it to where the server put it", () => {
  let {client, editor, socket} = joined("ab")
  editor.type("hello")
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(3, "XY")], userId: "o", userIds: ["o"]})
  // "abXYhello": select "ell".
  editor.dispatch(editor.state.tr.setSelection(TextSelection.create(editor.state.doc, 6, 9)))
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(1, "hello")]})
  assert.equal(editor.text(), "helloabXY")
  let {anchor, head} = editor.state.selection
  assert.deepEqual([anchor, head], [2, 5])
  assert.equal(editor.state.doc.textBetween(anchor, head), "ell")
  client.close()
})

test("undo after an ack with other steps takes the own word back where the server put it", () => {
  let {client, editor, socket} = joined("ab", {plugins: [history()]})
  editor.type("hello")
  socket.take("steps")
  socket.receive({type: "steps", room: "r", version: 0, steps: [insert(3, "XY")], userId: "o", userIds: ["o"]})
  socket.receive({type: "ack", room: "r", version: 2, steps: [insert(3, "hello")]})
  assert.equal(editor.text(), "abhelloXY")
  assert.ok(undo(editor.state, editor.dispatch))
  assert.equal(editor.text(), "abXY")
  let [next] = socket.take("steps")
  assert.deepEqual([next.version, next.steps], [2, [remove(3, 8)]])
  client.close()
})
