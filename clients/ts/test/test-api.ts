// DocumentApi against the real server: every method, the error answers with
// their fields, the API token, and the URL forms it accepts.

import {test, after} from "node:test"
import assert from "node:assert/strict"
import {mkdtempSync, rmSync, writeFileSync} from "node:fs"
import {tmpdir} from "node:os"
import {join} from "node:path"
import WebSocket from "ws"
import {ApiError, DocumentApi, RealtimeClient, RoomMessage, StepJSON, DocJSON} from "../src/index.js"
import {TestServer, waitFor} from "./server.js"

let servers: TestServer[] = []
after(() => Promise.all(servers.map(s => s.stop())))

async function server(extraArgs: string[] = []) {
  let s = await TestServer.start({schema: "basic", store: "memory", extraArgs})
  servers.push(s)
  return s
}

function paragraph(text: string): DocJSON {
  return {type: "doc", content: [{type: "paragraph", content: [{type: "text", text}]}]}
}

function insert(pos: number, text: string): StepJSON {
  return {stepType: "replace", from: pos, to: pos, slice: {content: [{type: "text", text}]}}
}

async function rejects(promise: Promise<unknown>, check: (e: ApiError) => void) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e))
    check(e)
    return true
  })
}

test("every method answers as docs/api.md says", async () => {
  let s = await server()
  let api = new DocumentApi({url: s.wsUrl})
  let room = "team/a:notes"

  assert.equal(await api.putDocument(room, paragraph("Hello")), 1)
  assert.equal(await api.putDocument(room, paragraph("Hello")), 1)  // unchanged
  assert.deepEqual(await api.getDocument(room), {room, version: 1, doc: paragraph("Hello")})
  assert.equal(await api.getText(room), "Hello")

  assert.equal(await api.postSteps(room, 1, "importer", [insert(6, " world")]), 2)
  assert.equal(await api.getText(room), "Hello world")
  assert.equal(await api.getText(room, 1), "Hello")
  assert.deepEqual((await api.getDocument(room, 1)).doc, paragraph("Hello"))
  assert.equal(await api.postSteps(room, 2, "importer", []), 2)

  let page = await api.getSteps(room)
  assert.equal(page.room, room)
  assert.equal(page.version, 2)
  assert.deepEqual(page.steps.map(s => [s.version, s.userId]), [[0, "api"], [1, "importer"]])
  assert.ok(page.steps[0].time > 0)
  assert.deepEqual(page.steps[1].step, insert(6, " world"))
  let limited = await api.getSteps(room, {since: 1, limit: 1})
  assert.deepEqual(limited.steps.map(s => s.userId), ["importer"])

  let named = await api.addVersion(room, "first draft")
  assert.equal(named.name, "first draft")
  assert.equal(named.version, 2)
  assert.ok(named.time > 0)
  assert.deepEqual(await api.listVersions(room), [named])

  assert.deepEqual(await api.revert(room, "importer", 1, 2), {version: 3, skipped: []})
  assert.equal(await api.getText(room), "Hello")
  assert.equal(await api.restore(room, 2, "restorer"), 4)
  assert.equal(await api.getText(room), "Hello world")
  assert.equal((await api.getSteps(room, {since: 3})).steps[0].userId, "restorer")
  assert.equal(await api.restore(room, 1), 5)
  assert.equal((await api.getSteps(room, {since: 4})).steps[0].userId, "api")

  await api.putDocument("team/b", paragraph("B"))
  await api.putDocument("other", paragraph("O"))
  let all = await api.listRooms()
  assert.deepEqual(all.rooms.map(r => r.room), ["other", room, "team/b"])
  assert.equal(all.next, null)
  let team = await api.listRooms({prefix: "team/"})
  assert.deepEqual(team.rooms.map(r => [r.room, r.version]), [[room, 5], ["team/b", 1]])
  assert.ok(team.rooms[0].created > 0)
  let first = await api.listRooms({limit: 1})
  assert.deepEqual(first.rooms.map(r => r.room), ["other"])
  assert.equal(typeof first.next, "string")
  let second = await api.listRooms({after: first.next!, limit: 1})
  assert.deepEqual(second.rooms.map(r => r.room), [room])

  await api.deleteRoom(room)
  await rejects(api.getDocument(room), e => {
    assert.equal(e.status, 404)
    assert.equal(e.code, "not_found")
  })
  assert.equal((await api.listRooms()).rooms.length, 2)
})

test("errors carry their status, code and fields", async () => {
  let s = await server()
  let api = new DocumentApi({url: s.httpUrl + "/"})  // the HTTP base works as well
  await api.putDocument("r", paragraph("Hello"))

  await rejects(api.postSteps("r", 0, "importer", [insert(1, "x")]), e => {
    assert.equal(e.status, 409)
    assert.equal(e.code, "version_conflict")
    assert.equal(e.version, 1)
    assert.equal(e.name, "ApiError")
    assert.match(e.message, /version_conflict/)
  })
  await rejects(api.postSteps("r", 1, "importer", [insert(1, "x"), {stepType: "replace", from: 500, to: 600}]), e => {
    assert.equal(e.status, 422)
    assert.equal(e.code, "invalid_steps")
    assert.equal(e.index, 1)
    assert.equal(e.version, undefined)
  })
  assert.equal(await api.getText("r"), "Hello")
  await rejects(api.putDocument("r", {type: "nope"}), e => assert.equal(e.code, "invalid_steps"))
  await rejects(api.getDocument("nothing-here"), e => {
    assert.equal(e.status, 404)
    assert.equal(e.code, "not_found")
  })
  await rejects(api.postSteps("nothing-here", 0, "u", [insert(1, "x")]), e => assert.equal(e.code, "not_found"))
  await rejects(api.getText("r", 99), e => assert.equal(e.code, "not_found"))
  await rejects(api.deleteRoom("nothing-here"), e => assert.equal(e.status, 404))
  await rejects(api.getDocument("bad room!"), e => assert.equal(e.code, "invalid_room"))
  await api.addVersion("r", "v")
  await rejects(api.addVersion("r", "v"), e => {
    assert.equal(e.status, 409)
    assert.equal(e.code, "name_taken")
  })
  await rejects(api.revert("r", "importer", 0, 50), e => {
    assert.equal(e.status, 400)
    assert.equal(e.code, "bad_message")
  })
  await s.stop()
  await rejects(api.listRooms(), e => {
    assert.equal(e.status, 0)
    assert.equal(e.code, "network")
  })
})

test("the API token is required when the server has one", async () => {
  let dir = mkdtempSync(join(tmpdir(), "rtpm-ts-api-"))
  let token = "api-token-0123456789abcdef"
  writeFileSync(join(dir, "api"), token + "\n")
  let s = await server(["--api-token-file", join(dir, "api")])
  await rejects(new DocumentApi({url: s.wsUrl}).listRooms(), e => {
    assert.equal(e.status, 401)
    assert.equal(e.code, "unauthorized")
  })
  await rejects(new DocumentApi({url: s.wsUrl, token: "wrong-token-0123456789"}).putDocument("r", paragraph("x")),
                e => assert.equal(e.code, "unauthorized"))
  let api = new DocumentApi({url: s.wsUrl, token})
  assert.equal(await api.putDocument("r", paragraph("x")), 1)
  assert.deepEqual((await api.listRooms()).rooms.map(r => r.room), ["r"])
  assert.equal(await api.getText("r"), "x")
  await s.stop()
  rmSync(dir, {recursive: true, force: true})
})

test("a custom fetch sees each request", async () => {
  let s = await server()
  let seen: string[] = []
  let api = new DocumentApi({
    url: s.wsUrl + "?token=t",
    fetch: (input, init) => { seen.push(`${init?.method} ${String(input)}`); return fetch(input, init) }
  })
  await api.putDocument("f", paragraph("x"))
  await api.getSteps("f", {since: 0, limit: 5})
  let base = `http://127.0.0.1:${s.port}`
  assert.deepEqual(seen, [`PUT ${base}/api/rooms/f?token=t`, `GET ${base}/api/rooms/f/steps?token=t&since=0&limit=5`])
  assert.throws(() => new DocumentApi({url: "ftp://example.com"}), TypeError)
})

test("steps posted through the API arrive live at a joined client", async () => {
  let s = await server()
  let api = new DocumentApi({url: s.wsUrl})
  await api.putDocument("live", paragraph("Hello"))
  let client = new RealtimeClient({url: s.wsUrl, WebSocket: WebSocket as any})
  let messages: RoomMessage[] = []
  let room = client.join("live", "editor", {
    joinFields: () => ({}),
    onMessage: m => { messages.push(m) },
    onStatus: () => {}
  })
  await waitFor(() => room.status == "joined", "joined")
  await rejects(api.postSteps("live", 1, "editor", [insert(6, "!")]), e => {
    assert.equal(e.status, 409)
    assert.equal(e.code, "forbidden")
  })
  assert.equal(await api.postSteps("live", 1, "backend", [insert(6, " world")]), 2)
  await waitFor(() => messages.some(m => m.type == "steps"), "the steps message")
  let steps = messages.find(m => m.type == "steps")!
  assert.equal(steps.type, "steps")
  if (steps.type != "steps") return
  assert.equal(steps.version, 1)
  assert.deepEqual(steps.steps, [insert(6, " world")])
  assert.equal(steps.userId, "backend")
  client.close()
})
