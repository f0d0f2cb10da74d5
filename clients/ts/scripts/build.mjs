// Builds the package (dist/), the demo page the server serves (demo-dist/)
// and the tests (test-dist/) with esbuild; `node scripts/build.mjs lib demo`
// builds only those. Type declarations come from `tsc -p tsconfig.build.json`
// (`npm run build` and `npm run build:lib` run both).
import * as esbuild from "esbuild"
import {cpSync, mkdirSync, readdirSync, rmSync} from "node:fs"
import {dirname, join} from "node:path"
import {fileURLToPath} from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const only = process.argv.slice(2)
const want = name => only.length == 0 ? name != "sample-apps" : only.includes(name)

if (want("lib")) {
  // The library keeps its dependencies as imports, so that an application
  // bundles one copy of prosemirror-model, -state and -view. dist/ is what
  // the npm package ships (`npm pack` runs this through `prepack`), so it
  // starts empty: no stale chunk of an earlier build gets packed.
  rmSync(join(root, "dist"), {recursive: true, force: true})
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: {index: "src/index.ts", tiptap: "src/tiptap.ts"},
    outdir: "dist",
    bundle: true,
    splitting: true,
    format: "esm",
    packages: "external",
    target: "es2022",
    sourcemap: true,
    logLevel: "warning"
  })
}

if (want("demo")) {
  rmSync(join(root, "demo-dist"), {recursive: true, force: true})
  mkdirSync(join(root, "demo-dist"), {recursive: true})
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ["demo/main.ts"],
    outfile: "demo-dist/demo.js",
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: true,
    logLevel: "warning"
  })
  cpSync(join(root, "demo/index.html"), join(root, "demo-dist/index.html"))
  cpSync(join(root, "demo/demo.css"), join(root, "demo-dist/demo.css"))
}

// The node tests: bundled, with their dependencies left as imports.
const nodeTest = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  format: "esm",
  packages: "external",
  target: "node20",
  sourcemap: "inline",
  logLevel: "warning"
}

if (want("test")) {
  rmSync(join(root, "test-dist"), {recursive: true, force: true})
  let tests = readdirSync(join(root, "test")).filter(f => /^(test|e2e)-.*\.ts$/.test(f))
  await esbuild.build({
    ...nodeTest,
    entryPoints: tests.map(f => "test/" + f),
    outdir: "test-dist",
    outExtension: {".js": ".mjs"}
  })
}

if (want("sample-apps")) {
  // The browser test of the sample apps (scripts/sample-apps.sh), which the
  // other tests do not run: it needs the apps built from the packed tarball.
  await esbuild.build({...nodeTest, entryPoints: ["test/sample-apps.ts"], outfile: "test-dist/sample-apps.mjs"})
}
