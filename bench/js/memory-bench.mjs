// Memory of one room under large steps (issue 10, finding 8): starts `realtime-pm serve`,
// sends STEPS steps of CHUNK characters each (one client), and prints one JSON line:
// the server's RSS (base, peak = VmHWM, after the acks, after the room unloaded) and the
// ack latency of each steps message (p50, p99), from sending it to its ack.
//
//   node --experimental-websocket bench/js/memory-bench.mjs BINARY SHAPE MODE [STEPS] [CHUNK]
//     [-- extra serve flags]
//
// SHAPE: text (every step appends to one text node), para (a paragraph per step), churn
// (even steps insert CHUNK characters into the empty paragraph, odd steps delete them).
// MODE: pipe (every message at once, as a hostile client would) or seq (each after the
// previous ack). Node 20 needs --experimental-websocket; Node 22 has WebSocket built in.
// scripts/memory-bench.sh runs the scenarios of docs/benchmarks.md.
import {spawn} from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"

const argv = process.argv.slice(2)
const dash = argv.indexOf("--")
const extra = dash >= 0 ? argv.slice(dash + 1) : []
const [bin, shape = "text", mode = "pipe", stepsArg = "200", chunkArg = "50000"] =
  dash >= 0 ? argv.slice(0, dash) : argv
const STEPS = +stepsArg, CHUNK = +chunkArg
if (!bin || !["text", "para", "churn"].includes(shape) || !["pipe", "seq"].includes(mode)) {
  console.error("usage: memory-bench.mjs BINARY text|para|churn pipe|seq [STEPS] [CHUNK] [-- flags]")
  process.exit(2)
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rtpm-memory-bench-"))
const portFile = path.join(dir, "port")
const server = spawn(bin, ["serve", "--port", "0", "--data", dir, "--port-file", portFile,
  "--unload-grace-ms", "300", "--max-outgoing-bytes", String(64 << 20), "--log-level", "warn",
  ...extra], {stdio: ["ignore", "inherit", "inherit"]})
const sleep = ms => new Promise(r => setTimeout(r, ms))
while (!fs.existsSync(portFile)) {
  if (server.exitCode !== null) process.exit(1)
  await sleep(20)
}
const port = +fs.readFileSync(portFile, "utf8").trim()

function status() {
  const s = fs.readFileSync(`/proc/${server.pid}/status`, "utf8")
  const mb = key => +s.match(new RegExp(`${key}:\\s+(\\d+)`))[1] / 1024
  return {rss: mb("VmRSS"), hwm: mb("VmHWM")}  // MiB
}

const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, "realtime-pm.json.v1")
const inbox = []
let wake = null
ws.onmessage = e => { inbox.push(JSON.parse(e.data)); if (wake) { wake(); wake = null } }
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject })
async function next(type) {
  for (;;) {
    const i = inbox.findIndex(m => m.type === type || m.type === "error")
    if (i >= 0) {
      const m = inbox.splice(i, 1)[0]
      if (m.type === "error") throw new Error(JSON.stringify(m))
      return m
    }
    await new Promise(r => wake = r)
  }
}
const room = "memory-bench"
ws.send(JSON.stringify({type: "join", room, userId: "u"}))
await next("state")
const base = status()

const text = k => String.fromCharCode(97 + k % 26).repeat(CHUNK - 6) + String(k).padStart(6, "0")
function step(k) {
  if (shape === "churn") {
    if (k % 2) return {stepType: "replace", from: 1, to: 1 + CHUNK}
    return {stepType: "replace", from: 1, to: 1, slice: {content: [{type: "text", text: text(k)}]}}
  }
  if (shape === "text") {
    const end = 1 + k * CHUNK
    return {stepType: "replace", from: end, to: end, slice: {content: [{type: "text", text: text(k)}]}}
  }
  const end = 2 + k * (CHUNK + 2)
  return {stepType: "replace", from: end, to: end,
    slice: {content: [{type: "paragraph", content: [{type: "text", text: text(k)}]}]}}
}
const messages = Array.from({length: STEPS}, (_, k) =>
  JSON.stringify({type: "steps", room, version: k, userId: "u", steps: [step(k)]}))

const latencies = []
const started = performance.now()
if (mode === "pipe") {
  const sent = messages.map(m => { const t = performance.now(); ws.send(m); return t })
  for (let k = 0; k < STEPS; ++k) {
    const ack = await next("ack")
    latencies.push(performance.now() - sent[ack.version - 1])
  }
} else {
  for (const m of messages) {
    const t = performance.now()
    ws.send(m)
    await next("ack")
    latencies.push(performance.now() - t)
  }
}
const totalMs = performance.now() - started
const afterAcks = status()

const body = await (await fetch(`http://127.0.0.1:${port}/api/rooms/${room}`)).json()
const content = body.doc.content
const ok = body.version === STEPS && (shape === "text"
  ? content[0].content.length === 1 && content[0].content[0].text.length === STEPS * CHUNK
  : shape === "para" ? content.length === STEPS + 1 : !content[0].content)

ws.send(JSON.stringify({type: "leave", room, userId: "u"}))
ws.close()
// The room unloads after 300 ms; give the storage thread time to snapshot and trim.
await sleep(2000)
const afterUnload = status()

latencies.sort((a, b) => a - b)
const q = p => +latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1)
const r1 = x => +x.toFixed(1)
console.log(JSON.stringify({shape, mode, steps: STEPS, chunk: CHUNK, flags: extra.join(" "), ok,
  doc_utf16_mib: shape === "churn" ? 0 : r1(2 * STEPS * CHUNK / 1048576),
  base_mib: r1(base.rss), peak_mib: r1(afterUnload.hwm), after_acks_mib: r1(afterAcks.rss),
  after_unload_mib: r1(afterUnload.rss), ack_p50_ms: q(0.5), ack_p99_ms: q(0.99),
  total_ms: Math.round(totalMs)}))
server.kill("SIGTERM")
await new Promise(r => server.on("exit", r))
fs.rmSync(dir, {recursive: true, force: true})
if (!ok) process.exit(1)
