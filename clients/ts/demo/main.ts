// The demo page that `realtime-pm serve --static clients/ts/demo-dist`
// serves at `/`: a Tiptap editor with StarterKit and RealtimeExt, the room
// and the user's name from the URL (`/?room=NAME&user=NAME`), a connection
// indicator and the people present. With authentication on (docs/security.md),
// `&token=TOKEN` is passed on to the server; the userId is then the token's
// subject (a JSON Web Token's `sub`, else `user`).

import {Editor} from "@tiptap/core"
import StarterKit from "@tiptap/starter-kit"
import {RealtimeClient, isValidRoomName, colorFor, CollabSession, SessionEvent} from "../src/index.js"
import {RealtimeExt} from "../src/tiptap.js"

const params = new URLSearchParams(location.search)
const requestedRoom = params.get("room") || "demo"
const room = isValidRoomName(requestedRoom) ? requestedRoom : "demo"
const names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Dennis"]
const token = params.get("token") || undefined
// The server binds a token to its subject, the only userId it may use. A JSON
// Web Token carries it in its payload, read here only for that (the server
// checks the signature); other tokens name it with `user`.
const userId = token ? subjectOf(token) ?? params.get("user") ?? undefined : undefined
const name = (params.get("user") || userId || names[Math.floor(Math.random() * names.length)]).slice(0, 40)

const $ = (id: string) => document.getElementById(id)!
$("room-name").textContent = room
let share = new URL(location.href)
share.searchParams.set("room", room)
share.searchParams.delete("user")
;($("share-link") as HTMLAnchorElement).href = share.toString()
if (room != requestedRoom) showNotice(`"${requestedRoom}" is not a valid room name; using "demo".`, true)

const client = new RealtimeClient({token})
let session: CollabSession | null = null
let focused = false

const editor = new Editor({
  element: $("editor"),
  extensions: [
    // The trailing-node helper appends a paragraph whenever the document
    // ends in another block; with several editors each would append its
    // own, so it is off here.
    StarterKit.configure({trailingNode: false}),
    RealtimeExt.configure({client, room, name, userId: userId ?? null, color: colorFor(name + ":" + Math.random()), onEvent})
  ]
})

function onEvent(event: SessionEvent, s: CollabSession) {
  session = s
  // The editor is read-only until the room's document is in: focus it then.
  if (event.type == "status" && !focused && (event.status == "synced" || event.status == "sending")) {
    focused = true
    editor.commands.focus("end")
  }
  if (event.type == "status") renderStatus()
  if (event.type == "users" || event.type == "status") renderPeople()
  if (event.type == "schema")
    showNotice("This page's schema differs from the server's, so nothing is sent:\n" +
               event.differences.slice(0, 8).map(d => "- " + d.message).join("\n") +
               (event.differences.length > 8 ? `\n... and ${event.differences.length - 8} more` : "") +
               "\nStart the server with --schema tiptap.", true)
  if (event.type == "lost")
    showNotice(`${event.steps} local change(s) could not be merged with the server's document and were dropped.`, true)
  if (event.type == "error" && event.code == "session_replaced")
    showNotice("This editor was opened again elsewhere with the same id.", true)
  if (event.type == "error" && (event.code == "forbidden" || event.code == "unauthorized")) {
    // A read-only grant, a room outside the token, an expired or revoked token:
    // nothing typed here would be kept.
    editor.setEditable(false)
    showNotice(`The server refused this editor (${event.code}): ${event.message}. Changes made here are not saved.`, true)
  }
}

function subjectOf(token: string): string | undefined {
  let payload = token.split(".")[1]
  if (!payload) return undefined
  try {
    let bytes = Uint8Array.from(atob(payload.replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0))
    let sub = JSON.parse(new TextDecoder().decode(bytes)).sub
    return typeof sub == "string" ? sub : undefined
  } catch {
    return undefined
  }
}

function renderStatus() {
  let status = session?.status ?? "connecting"
  let text: Record<string, string> = {
    connecting: "connecting", offline: "offline, reconnecting", checking: "checking schema",
    joining: "joining", sending: "saving", synced: "all changes saved", schema_mismatch: "schema mismatch",
    replaced: "opened elsewhere", error: "error", closed: "closed"
  }
  let pending = session?.pendingSteps() ?? 0
  $("status").dataset.status = status
  $("status-text").textContent = (text[status] ?? status) +
    (pending && (status == "offline" || status == "connecting") ? ` (${pending} unsaved change${pending > 1 ? "s" : ""})` : "")
}

function renderPeople() {
  let list = $("people")
  list.textContent = ""
  for (let user of session?.users() ?? []) {
    let li = document.createElement("li")
    li.dataset.userId = user.userId
    let swatch = document.createElement("span")
    swatch.className = "swatch"
    swatch.style.background = user.color
    let label = document.createElement("span")
    label.textContent = user.name
    li.append(swatch, label)
    if (user.self) {
      let you = document.createElement("span")
      you.className = "you"
      you.textContent = "(you)"
      li.append(you)
    }
    list.append(li)
  }
}

function showNotice(text: string, error = false) {
  let notice = $("notice")
  notice.textContent = text
  notice.classList.toggle("error", error)
  notice.hidden = false
}

// A small toolbar over StarterKit's commands.
const buttons: [string, () => boolean, () => boolean][] = [
  ["Bold", () => editor.chain().focus().toggleBold().run(), () => editor.isActive("bold")],
  ["Italic", () => editor.chain().focus().toggleItalic().run(), () => editor.isActive("italic")],
  ["H1", () => editor.chain().focus().toggleHeading({level: 1}).run(), () => editor.isActive("heading", {level: 1})],
  ["H2", () => editor.chain().focus().toggleHeading({level: 2}).run(), () => editor.isActive("heading", {level: 2})],
  ["List", () => editor.chain().focus().toggleBulletList().run(), () => editor.isActive("bulletList")],
  ["1. List", () => editor.chain().focus().toggleOrderedList().run(), () => editor.isActive("orderedList")],
  ["Quote", () => editor.chain().focus().toggleBlockquote().run(), () => editor.isActive("blockquote")],
  ["Code", () => editor.chain().focus().toggleCodeBlock().run(), () => editor.isActive("codeBlock")],
  ["Undo", () => editor.chain().focus().undo().run(), () => false],
  ["Redo", () => editor.chain().focus().redo().run(), () => false]
]
const toolbar = $("toolbar")
const buttonElements = buttons.map(([label, run]) => {
  let button = document.createElement("button")
  button.type = "button"
  button.textContent = label
  button.addEventListener("mousedown", e => { e.preventDefault(); run() })
  toolbar.append(button)
  return button
})
editor.on("transaction", () => {
  buttonElements.forEach((b, i) => b.classList.toggle("active", buttons[i][2]()))
  renderStatus()
})

renderStatus()
renderPeople()

// For the end-to-end tests and for poking around in the console.
;(window as any).rtpmDemo = {editor, client, session: () => session, Editor, StarterKit, RealtimeExt}
