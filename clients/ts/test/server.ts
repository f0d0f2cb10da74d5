// Starts the real realtime-pm binary for a test file: on port 0 (or a
// given port, to restart on the same one), with a temporary data folder,
// and waits until it answers /healthz.

import {spawn, ChildProcess} from "node:child_process"
import {existsSync, mkdtempSync, readFileSync, rmSync} from "node:fs"
import {tmpdir} from "node:os"
import {dirname, join} from "node:path"
import {fileURLToPath} from "node:url"

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..")

/// The binary: $RTPM_BINARY, else the first build folder that has one.
export function serverBinary(): string {
  let env = process.env.RTPM_BINARY
  if (env) {
    if (!existsSync(env)) throw new Error(`RTPM_BINARY=${env} does not exist`)
    return env
  }
  let repo = join(packageRoot, "..", "..")
  for (let candidate of ["build/release", "build/dev", "build/asan", "build"].map(d => join(repo, d, "apps/realtime-pm"))) {
    if (existsSync(candidate)) return candidate
  }
  throw new Error("no realtime-pm binary: set RTPM_BINARY")
}

export interface ServerOptions {
  schema?: string
  port?: number
  dataDir?: string
  store?: "sqlite" | "memory"
  staticDir?: string
  extraArgs?: string[]
}

export class TestServer {
  private constructor(
    readonly process: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
    readonly options: ServerOptions,
    private output: string[],
    private ownsData: boolean
  ) {}

  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws` }
  get httpUrl() { return `http://127.0.0.1:${this.port}` }
  get log() { return this.output.join("") }

  static async start(options: ServerOptions = {}, ownsData = !options.dataDir): Promise<TestServer> {
    let dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "rtpm-ts-"))
    let portFile = join(dataDir, `port-${Date.now()}-${Math.random().toString(36).slice(2)}`)
    let args = ["serve", "--port", String(options.port ?? 0), "--port-file", portFile, "--data", dataDir,
                "--schema", options.schema ?? "tiptap", "--store", options.store ?? "sqlite",
                "--log-level", "warn", ...(options.staticDir ? ["--static", options.staticDir] : []),
                ...(options.extraArgs ?? [])]
    let child = spawn(serverBinary(), args, {stdio: ["ignore", "pipe", "pipe"]})
    let output: string[] = []
    child.stdout!.on("data", d => output.push(String(d)))
    child.stderr!.on("data", d => output.push(String(d)))
    let exited = false
    child.on("exit", () => { exited = true })
    let deadline = Date.now() + 15000
    let port = 0
    while (!port) {
      if (exited) throw new Error("realtime-pm exited at start:\n" + output.join(""))
      if (Date.now() > deadline) { child.kill("SIGKILL"); throw new Error("realtime-pm did not start:\n" + output.join("")) }
      if (existsSync(portFile)) port = Number(readFileSync(portFile, "utf8").trim()) || 0
      if (!port) await sleep(20)
    }
    while (true) {
      try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break } catch { /* not yet */ }
      if (Date.now() > deadline) { child.kill("SIGKILL"); throw new Error("realtime-pm /healthz never answered") }
      await sleep(20)
    }
    return new TestServer(child, port, dataDir, options, output, ownsData)
  }

  /// Kill the process at once (SIGKILL, as a crash would).
  async kill(): Promise<void> {
    if (this.process.exitCode != null || this.process.signalCode != null) return
    let done = new Promise(resolve => this.process.once("exit", resolve))
    this.process.kill("SIGKILL")
    await done
  }

  /// Start again on the same port and data folder.
  restart(): Promise<TestServer> {
    return TestServer.start({...this.options, port: this.port, dataDir: this.dataDir}, this.ownsData)
  }

  /// Stop and remove the data folder.
  async stop(removeData = true): Promise<void> {
    if (this.process.exitCode == null && this.process.signalCode == null) {
      let done = new Promise(resolve => this.process.once("exit", resolve))
      this.process.kill("SIGTERM")
      let timer = setTimeout(() => this.process.kill("SIGKILL"), 3000)
      await done
      clearTimeout(timer)
    }
    if (removeData && this.ownsData) rmSync(this.dataDir, {recursive: true, force: true})
  }

  async room(name: string): Promise<{room: string, version: number, doc: any}> {
    let response = await fetch(`${this.httpUrl}/api/rooms/${encodeURIComponent(name)}`)
    if (!response.ok) throw new Error(`GET /api/rooms/${name}: ${response.status}`)
    return response.json() as any
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/// Wait until `check` returns true (polling), or fail after `timeoutMs`.
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10000) {
  let deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what)
    await sleep(15)
  }
}
