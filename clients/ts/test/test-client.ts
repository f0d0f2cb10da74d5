import {test, after} from "node:test"
import assert from "node:assert/strict"
import WebSocket from "ws"
import {RealtimeClient, RoomMessage, ConnectionStatus, RoomStatus} from "../src/index.js"
import {TestServer, waitFor} from "./server.js"

let servers: TestServer[] = []
after(() => Promise.all(servers.map(s => s.stop())))

function recorder() {
  let messages: RoomMessage[] = [], statuses: RoomStatus[] = []
  let version: number | undefined
  return {
    messages, statuses,
    setVersion(v: number | undefined) { version = v },
    handler: {
      joinFields: () => ({presence: {name: "n"}, version}),
      onMessage: (m: RoomMessage) => { messages.push(m) },
      onStatus: (s: RoomStatus) => { statuses.push(s) }
    }
  }
}

test("joins, receives the state, sends and is acknowledged", async () => {
  let server = await TestServer.start({store: "memory"})
  servers.push(server)
  let client = new RealtimeClient({url: server.wsUrl, WebSocket: WebSocket as any})
  let statuses: ConnectionStatus[] = []
  client.onStatus(s => statuses.push(s))
  let r = recorder()
  let room = client.join("client-a", "u1", r.handler)
  await waitFor(() => room.status == "joined", "joined")
  let state = r.messages[0]
  assert.equal(state.type, "state")
  if (state.type != "state") return
  assert.equal(state.version, 0)
  assert.deepEqual(state.users, {u1: {name: "n"}})
  assert.ok(room.send({type: "steps", room: "client-a", version: 0, userId: "u1",
                       steps: [{stepType: "replace", from: 1, to: 1, slice: {content: [{type: "text", text: "x"}]}}]}))
  await waitFor(() => r.messages.some(m => m.type == "ack"), "ack")
  assert.deepEqual(statuses, ["open"])
  assert.deepEqual(r.statuses, ["joining", "joined"])
  client.close()
  assert.equal(client.status, "closed")
  assert.equal(room.status, "left")
})

test("a room refuses to send before it is joined", async () => {
  let client = new RealtimeClient({url: "ws://127.0.0.1:9/ws", WebSocket: WebSocket as any, autoConnect: false})
  let r = recorder()
  let room = client.join("nowhere", "u1", r.handler)
  assert.equal(room.send({type: "presence", room: "nowhere", users: {u1: {}}}), false)
  assert.throws(() => client.join("nowhere", "u2", r.handler))
  client.close()
})

test("reconnects after the server restarts and joins again with the handler's version", async () => {
  let server = await TestServer.start()
  servers.push(server)
  let client = new RealtimeClient({url: server.wsUrl, WebSocket: WebSocket as any, backoff: {baseMs: 50, maxMs: 300}})
  let statuses: ConnectionStatus[] = []
  client.onStatus(s => statuses.push(s))
  let r = recorder()
  let room = client.join("client-b", "u1", r.handler)
  await waitFor(() => room.status == "joined", "joined")
  room.send({type: "steps", room: "client-b", version: 0, userId: "u1",
             steps: [{stepType: "replace", from: 1, to: 1, slice: {content: [{type: "text", text: "hi"}]}}]})
  await waitFor(() => r.messages.some(m => m.type == "ack"), "ack")
  await server.kill()
  await waitFor(() => client.status == "offline" && room.status == "offline", "offline")
  r.setVersion(0)
  let restarted = await server.restart()
  servers.push(restarted)
  await waitFor(() => room.status == "joined", "joined again", 15000)
  let state = r.messages[r.messages.length - 1]
  assert.equal(state.type, "state")
  if (state.type != "state") return
  // The rejoin named version 0: the server answers with the step since then.
  assert.equal(state.version, 1)
  assert.deepEqual(state.userIds, ["u1"])
  assert.equal(state.doc, undefined)
  assert.ok(statuses.includes("offline") && statuses[statuses.length - 1] == "open")
  client.close()
})
