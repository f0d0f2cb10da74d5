import {test} from "node:test"
import assert from "node:assert/strict"
import {EditorState} from "prosemirror-state"
import {Plugin} from "prosemirror-state"
import {presenceKey, userFromEntry, safeColor, colorFor, PresenceUser} from "../src/presence.js"
import {presencePlugin} from "../src/presence.js"
import {tiptapSchema} from "./headless.js"

function state(text: string) {
  let doc = tiptapSchema.node("doc", null, [tiptapSchema.node("paragraph", null, text ? [tiptapSchema.text(text)] : [])])
  return EditorState.create({doc, plugins: [presencePlugin(undefined) as Plugin]})
}

const user = (id: string, anchor: number, head: number): PresenceUser =>
  ({userId: id, name: id, color: "#ff0000", anchor, head, self: false})

test("remote carets and selections become decorations and follow local edits", () => {
  let s = state("hello world")
  s = s.apply(s.tr.setMeta(presenceKey, {type: "reset", users: [user("a", 1, 6), user("b", 7, 7)]}))
  let deco = presenceKey.getState(s)!.decorations.find()
  // a: a selection and a caret; b: a caret.
  assert.equal(deco.length, 3)
  s = s.apply(s.tr.insertText(">> ", 1))
  let users = presenceKey.getState(s)!.users
  assert.deepEqual([users.get("a")!.anchor, users.get("a")!.head], [4, 9])
  assert.equal(users.get("b")!.head, 10)
  s = s.apply(s.tr.setMeta(presenceKey, {type: "remove", userId: "a"}))
  assert.equal(presenceKey.getState(s)!.decorations.find().length, 1)
})

test("positions past the end are clamped; the editor is not ready until told", () => {
  let s = state("hi")
  assert.equal(presenceKey.getState(s)!.ready, false)
  s = s.apply(s.tr.setMeta(presenceKey, {type: "set", user: user("far", 100, 100)}))
  let [caret] = presenceKey.getState(s)!.decorations.find()
  assert.equal(caret.from, s.doc.content.size)
  s = s.apply(s.tr.setMeta(presenceKey, {type: "ready", ready: true}))
  assert.equal(presenceKey.getState(s)!.ready, true)
})

test("presence entries: selection first, then cursor; names and colours made safe", () => {
  assert.deepEqual(userFromEntry("u1", {cursor: {pos: 4}, selection: {anchor: 2, head: 5}, name: "Ada", color: "#abc"}),
                   {userId: "u1", name: "Ada", color: "#abc", anchor: 2, head: 5, self: false})
  assert.deepEqual(userFromEntry("u2", {cursor: {pos: 4}}).head, 4)
  let bare = userFromEntry("0123456789abcdef", {})
  assert.equal(bare.name, "01234567")
  assert.equal(bare.head, null)
  assert.equal(bare.color, colorFor("0123456789abcdef"))
  assert.equal(userFromEntry("u", {cursor: {pos: -1}}).head, null)
  assert.equal(userFromEntry("u", {cursor: {pos: 1.5}}).head, null)
  for (let ok of ["#fff", "#12345678", "red", "rgb(1, 2, 3)", "hsla(10, 50%, 50%, .5)"]) assert.equal(safeColor(ok), ok)
  for (let bad of ["red; background: url(x)", "expression(alert(1))", "", 12, null])
    assert.equal(safeColor(bad), "#888888")
  assert.equal(colorFor("x"), colorFor("x"))
})
