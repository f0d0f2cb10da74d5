// The sample apps of test/sample-apps/, as scripts/sample-apps.sh installs
// them from the packed tarball and bundles them, in Debian's Chromium
// (playwright-core) against the real server, which serves each app's folder
// (--static): two pages of an app share a room, what is typed in one appears
// in the other, and both end equal to GET /api/rooms/ROOM.
//
//   RTPM_SAMPLE_APPS=DIR RTPM_SAMPLE_SCHEMAS=builtin|app node --test test-dist/sample-apps.mjs
//
// DIR holds the built apps, tiptap/ and prosemirror/. The server runs the
// built-in schema of each app (`builtin`: --schema tiptap, --schema basic) or
// the spec the app wrote (`app`: its schema.json).

import {test, before, after} from "node:test"
import assert from "node:assert/strict"
import {existsSync, mkdirSync} from "node:fs"
import {join} from "node:path"
import {chromium, Browser, Page} from "playwright-core"
import {TestServer, packageRoot, waitFor} from "./server.js"

const appsDir = process.env.RTPM_SAMPLE_APPS ?? ""
const schemas = process.env.RTPM_SAMPLE_SCHEMAS ?? "builtin"
const artifacts = join(packageRoot, "test-artifacts")
let browser: Browser

before(async () => {
  if (!existsSync(join(appsDir, "tiptap")) || !existsSync(join(appsDir, "prosemirror")))
    throw new Error(`RTPM_SAMPLE_APPS=${appsDir} does not hold the built tiptap/ and prosemirror/ apps`)
  if (schemas != "builtin" && schemas != "app") throw new Error(`RTPM_SAMPLE_SCHEMAS=${schemas}`)
  mkdirSync(artifacts, {recursive: true})
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"]
  })
})

after(async () => { await browser?.close() })

// How each app shows its document: the global its main.ts sets.
interface App {
  name: "tiptap" | "prosemirror"
  schema: string
  doc: string  // a page expression giving the document as JSON
}
const apps: App[] = [
  {name: "tiptap", schema: "tiptap", doc: "window.editor.getJSON()"},
  {name: "prosemirror", schema: "basic", doc: "window.view.state.doc.toJSON()"}
]

function text(doc: any): string {
  let out = ""
  let walk = (n: any) => { if (n.text) out += n.text; (n.content ?? []).forEach(walk) }
  walk(doc)
  return out
}

for (let app of apps) {
  test(`${app.name} sample app: two pages co-edit a room`, async () => {
    let dir = join(appsDir, app.name)
    let server = await TestServer.start({schema: schemas == "app" ? join(dir, "schema.json") : app.schema,
                                         staticDir: dir})
    let context = await browser.newContext()
    let errors: string[] = []
    let pages: Page[] = []
    try {
      let open = async (user: string) => {
        let page = await context.newPage()
        page.on("pageerror", e => errors.push(`${user}: ${e}`))
        await page.goto(`${server.httpUrl}/?room=sample&user=${user}`)
        pages.push(page)
        return page
      }
      let status = (page: Page) => page.evaluate(() => document.querySelector("#status")!.textContent)
      let doc = (page: Page) => page.evaluate(app.doc)
      let synced = async (page: Page) => {
        try {
          await waitFor(async () => (await status(page)) == "synced", "synced", 20000)
        } catch {
          throw new Error(`the ${app.name} app is "${await status(page)}", not "synced"`)
        }
      }
      let type = async (page: Page, chars: string) => {
        await page.click(".ProseMirror")
        await page.keyboard.press("Control+End")
        await page.keyboard.type(chars, {delay: 10})
      }

      let a = await open("Ada"), b = await open("Grace")
      await synced(a)
      await synced(b)
      await type(a, "Typed in A.")
      await waitFor(async () => text(await doc(b)).includes("Typed in A."), "B to show A's text", 20000)
      await type(b, " Typed in B.")
      await waitFor(async () => text(await doc(a)).includes("Typed in B."), "A to show B's text", 20000)

      // Both confirmed, equal to each other and to the server's copy.
      await waitFor(async () => {
        if ((await status(a)) != "synced" || (await status(b)) != "synced") return false
        let remote = JSON.stringify((await server.room("sample")).doc)
        return JSON.stringify(await doc(a)) == remote && JSON.stringify(await doc(b)) == remote
      }, "both pages to equal the server's document", 20000)
      let room = await server.room("sample")
      assert.deepEqual(await doc(a), room.doc)
      assert.deepEqual(await doc(b), room.doc)
      assert.equal(text(room.doc), "Typed in A. Typed in B.")
      assert.deepEqual(errors, [])
    } catch (e) {
      for (let [i, page] of pages.entries())
        await page.screenshot({path: join(artifacts, `sample-${app.name}-${i}-failed.png`)}).catch(() => {})
      throw e
    } finally {
      await context.close()
      await server.stop()
    }
  })
}
