// A client of the server's HTTP document API (the repository's docs/api.md):
// list rooms, read a document at a version (JSON or text), read who changed
// what, write steps or a whole document from a backend, name, list and
// restore versions, undo one person's changes, delete a room. Each method is
// one `fetch`; failures are thrown as `ApiError`.

import {DocJSON, StepJSON} from "./protocol.js"

/// How to reach the document API.
export interface DocumentApiOptions {
  /// The server: its HTTP base (`http://localhost:8080`) or its WebSocket
  /// URL (`ws://localhost:8080/ws`, converted as `RealtimeClient` converts it
  /// for `/api/schema`: ws -> http, wss -> https, a final `/ws` dropped, the
  /// query kept).
  url: string
  /// Sent as `Authorization: Bearer TOKEN`: the API token, the admin token
  /// or a user's token (docs/api.md, "Access").
  token?: string
  /// The HTTP client. Default: the global `fetch`.
  fetch?: typeof fetch
}

/// An error answer of the API (`{"code","message"}` and its extra fields),
/// or a request that got no answer (`status` 0, `code` `"network"`).
export class ApiError extends Error {
  /// The HTTP status; 0 when no answer came.
  readonly status: number
  /// The answer's code: PROTOCOL.md's (`version_conflict`, `invalid_steps`,
  /// `forbidden`, `unauthorized`, ...) or the API's own (`not_found`,
  /// `name_taken`, `too_many_versions`).
  readonly code: string
  /// `version_conflict`: the room's current version.
  readonly version?: number
  /// `invalid_steps`: the index of the step that was refused.
  readonly index?: number

  constructor(message: string, status: number, code: string, fields: {version?: number, index?: number} = {}) {
    super(message)
    this.name = "ApiError"
    this.status = status
    this.code = code
    if (fields.version != null) this.version = fields.version
    if (fields.index != null) this.index = fields.index
  }
}

/// One room of `listRooms`.
export interface RoomInfo {room: string, version: number, created: number}
/// A page of rooms; `next` is the `after` of the next page, null on the last one.
export interface RoomList {rooms: RoomInfo[], next: string | null}
/// A room's document at a version.
export interface DocumentAtVersion {room: string, version: number, doc: DocJSON}
/// One step of the history: made on `version` by `userId` at `time` (Unix ms; 0 when unknown).
export interface StepEntry {version: number, userId: string, time: number, step: StepJSON}
/// A page of `getSteps`: the room's current version and the steps.
export interface StepPage {room: string, version: number, steps: StepEntry[]}
/// A named version.
export interface NamedVersion {name: string, version: number, time: number}
/// What `revert` did: the version after it and the versions of the steps left out.
export interface RevertResult {version: number, skipped: number[]}

type Query = {[name: string]: string | number | undefined}

/// The document API of one server. Every method is one HTTP request.
export class DocumentApi {
  private base: URL
  private basePath: string
  private token: string | undefined
  private fetchFn: typeof fetch

  constructor(options: DocumentApiOptions) {
    let base = new URL(options.url)
    if (base.protocol == "ws:" || base.protocol == "wss:") {
      base.protocol = base.protocol == "wss:" ? "https:" : "http:"
      base.pathname = base.pathname.replace(/\/ws\/?$/, "")
    } else if (base.protocol != "http:" && base.protocol != "https:") {
      throw new TypeError(`DocumentApi: ${options.url} is not an http(s) or ws(s) URL`)
    }
    this.basePath = base.pathname.replace(/\/$/, "")
    this.base = base
    this.token = options.token
    let fetchFn = options.fetch ?? (globalThis as any).fetch
    if (!fetchFn) throw new Error("DocumentApi: no fetch implementation (pass options.fetch)")
    this.fetchFn = fetchFn
  }

  /// `GET /api/rooms`: rooms whose names start with `prefix`, after `after`,
  /// at most `limit` (the server's default 100).
  listRooms(options: {prefix?: string, after?: string, limit?: number} = {}): Promise<RoomList> {
    return this.json("GET", "/api/rooms", {prefix: options.prefix, after: options.after, limit: options.limit})
  }

  /// `GET /api/rooms/ROOM`: the document, at `version` when given.
  getDocument(room: string, version?: number): Promise<DocumentAtVersion> {
    return this.json("GET", roomPath(room), {version})
  }

  /// `GET /api/rooms/ROOM?format=text`: the document's text (blocks separated by a blank line).
  async getText(room: string, version?: number): Promise<string> {
    return (await this.request("GET", roomPath(room), {version, format: "text"})).text()
  }

  /// `GET /api/rooms/ROOM/steps`: the steps after version `since` (default
  /// 0), at most `limit` (the server's default 1,000).
  getSteps(room: string, options: {since?: number, limit?: number} = {}): Promise<StepPage> {
    return this.json("GET", roomPath(room) + "/steps", {since: options.since, limit: options.limit})
  }

  /// `POST /api/rooms/ROOM/steps`: `steps` made on `version` by `userId`;
  /// resolves to the room's version after them. A stale version throws
  /// `version_conflict` with the current `version`; a step that does not
  /// apply, `invalid_steps` with its `index`.
  async postSteps(room: string, version: number, userId: string, steps: readonly StepJSON[]): Promise<number> {
    return (await this.json<{version: number}>("POST", roomPath(room) + "/steps", {}, {version, userId, steps})).version
  }

  /// `PUT /api/rooms/ROOM`: makes the document `doc`, creating the room;
  /// resolves to the version after.
  async putDocument(room: string, doc: DocJSON, userId?: string): Promise<number> {
    return (await this.json<{version: number}>("PUT", roomPath(room), {}, userId == null ? {doc} : {doc, userId})).version
  }

  /// `DELETE /api/rooms/ROOM`.
  async deleteRoom(room: string): Promise<void> {
    await this.json("DELETE", roomPath(room))
  }

  /// `POST /api/rooms/ROOM/versions`: names the current version.
  addVersion(room: string, name: string): Promise<NamedVersion> {
    return this.json("POST", roomPath(room) + "/versions", {}, {name})
  }

  /// `GET /api/rooms/ROOM/versions`: the named versions, in the order made.
  async listVersions(room: string): Promise<NamedVersion[]> {
    return (await this.json<{versions: NamedVersion[]}>("GET", roomPath(room) + "/versions")).versions
  }

  /// `POST /api/rooms/ROOM/versions/N/restore`: the document of `version`
  /// again, as a new change by `userId`; resolves to the version after.
  async restore(room: string, version: number, userId?: string): Promise<number> {
    let path = `${roomPath(room)}/versions/${version}/restore`
    return (await this.json<{version: number}>("POST", path, {}, userId == null ? {} : {userId})).version
  }

  /// `POST /api/rooms/ROOM/revert`: undoes the steps `userId` made on
  /// versions `from` to `to - 1`.
  async revert(room: string, userId: string, from: number, to: number): Promise<RevertResult> {
    let {version, skipped} = await this.json<RevertResult>("POST", roomPath(room) + "/revert", {}, {userId, from, to})
    return {version, skipped}
  }

  private async json<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
    let response = await this.request(method, path, query, body)
    try {
      return await response.json() as T
    } catch (e) {
      throw new ApiError(`${method} ${path}: the answer is not JSON`, response.status, "bad_message")
    }
  }

  private async request(method: string, path: string, query: Query, body?: unknown): Promise<Response> {
    let url = new URL(this.base.toString())
    url.pathname = this.basePath + path
    for (let [name, value] of Object.entries(query))
      if (value != null) url.searchParams.set(name, String(value))
    let headers: Record<string, string> = {}
    if (this.token) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers["content-type"] = "application/json"
    let response: Response
    try {
      response = await this.fetchFn(url.toString(), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body)
      })
    } catch (e) {
      throw new ApiError(`${method} ${path}: ${e instanceof Error ? e.message : String(e)}`, 0, "network")
    }
    if (response.ok) return response
    let text = await response.text().catch(() => "")
    let answer: any = null
    try { answer = JSON.parse(text) } catch { /* not JSON: a proxy's page */ }
    let code = typeof answer?.code == "string" ? answer.code : `http_${response.status}`
    let message = typeof answer?.message == "string" ? answer.message : text.slice(0, 200)
    throw new ApiError(`${method} ${path}: ${response.status} ${code}${message ? ": " + message : ""}`,
                       response.status, code,
                       {version: numberOr(answer?.version), index: numberOr(answer?.index)})
  }
}

function roomPath(room: string): string {
  return "/api/rooms/" + encodeURIComponent(room)
}

function numberOr(value: unknown): number | undefined {
  return typeof value == "number" ? value : undefined
}
