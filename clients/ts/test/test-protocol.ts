import {test} from "node:test"
import assert from "node:assert/strict"
import {parseServerMessage, isValidRoomName} from "../src/protocol.js"
import {httpUrl} from "../src/client.js"

test("server messages parse; anything else is null", () => {
  let ack = parseServerMessage('{"type":"ack","room":"r","version":3,"timestamp":1}')
  assert.deepEqual(ack, {type: "ack", room: "r", version: 3, timestamp: 1})
  assert.equal(parseServerMessage("not json"), null)
  assert.equal(parseServerMessage("[1,2]"), null)
  assert.equal(parseServerMessage('{"type":"hello"}'), null)
  assert.equal(parseServerMessage('{"room":"r"}'), null)
  assert.equal(parseServerMessage("null"), null)
})

test("room names follow PROTOCOL.md", () => {
  for (let ok of ["a", "notes/2024-01", "A.b_c:d", "x".repeat(128)]) assert.ok(isValidRoomName(ok), ok)
  for (let bad of ["", "x".repeat(129), "a b", "é", "a?b"]) assert.ok(!isValidRoomName(bad), bad)
})

test("the HTTP URL of a WebSocket endpoint", () => {
  assert.equal(httpUrl("ws://127.0.0.1:8080/ws", "/api/schema"), "http://127.0.0.1:8080/api/schema")
  assert.equal(httpUrl("wss://example.test/ws?token=t", "/api/schema"), "https://example.test/api/schema?token=t")
  assert.equal(httpUrl("ws://h/prefix/ws", "/api/rooms/a"), "http://h/prefix/api/rooms/a")
})
