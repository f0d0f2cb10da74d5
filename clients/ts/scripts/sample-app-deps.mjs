// Helpers of scripts/sample-apps.sh for one installed sample app:
//
//   node scripts/sample-app-deps.mjs floors APP_DIR
//     Rewrites the app's package.json so that each dependency is exactly the
//     lowest version of its caret range ("^1.21.3" -> "1.21.3"), and adds the
//     dependencies of @realtime-pm/client at theirs, to install the app at the
//     bottom of every range.
//
//   node scripts/sample-app-deps.mjs pin-tiptap APP_DIR
//     After an install at the floors: pins every @tiptap/* package of the
//     installed tree to the app's @tiptap/core version with npm `overrides`
//     (nothing for an app without @tiptap/core). Tiptap's packages depend on
//     each other with caret ranges, so an app pinned to 3.0.0 but installed
//     today without a lock file from that time gets the newest extensions,
//     which require the newest core; the overrides give it Tiptap 3.0.0 as a
//     whole, as its lock file would have.
//
//   node scripts/sample-app-deps.mjs covers APP_DIR...
//     Fails unless every peer of @realtime-pm/client is listed by one of the
//     apps (so that the lowest run tests each floor; `floors` adds its
//     dependencies).
//
//   node scripts/sample-app-deps.mjs check APP_DIR newest|lowest
//     Runs `npm ls --all --json --long` in the app and fails when npm reports
//     a problem (a missing or unmet peer, an invalid version) or when any
//     prosemirror-* or @tiptap/* package is installed more than once. For
//     `lowest`, each dependency or peer of @realtime-pm/client that the app
//     lists must be installed at the floor of this package's own range (so
//     the floors of our ranges are what was tested). Prints what it found.

import {execFileSync} from "node:child_process"
import {readFileSync, writeFileSync} from "node:fs"
import {dirname, join} from "node:path"
import {fileURLToPath} from "node:url"

const ours = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "package.json"), "utf8"))
const [command, appDir, mode] = process.argv.slice(2)
const appFile = join(appDir ?? ".", "package.json")

function fail(message) {
  console.error(`sample-app-deps: ${appDir}: ${message}`)
  process.exit(1)
}

// "^1.21.3" -> "1.21.3"; anything but a caret range on a full version is refused.
function floor(range, name) {
  let m = /^\^(\d+\.\d+\.\d+)$/.exec(range)
  if (!m) fail(`${name}: "${range}" is not a caret range on a version`)
  return m[1]
}

if (command == "floors") {
  let app = JSON.parse(readFileSync(appFile, "utf8"))
  for (let name of Object.keys(app.dependencies)) {
    if (name != ours.name) app.dependencies[name] = floor(app.dependencies[name], name)
  }
  for (let [name, range] of Object.entries(ours.dependencies)) app.dependencies[name] ??= floor(range, name)
  writeFileSync(appFile, JSON.stringify(app, null, 2) + "\n")
} else if (command == "pin-tiptap") {
  let app = JSON.parse(readFileSync(appFile, "utf8"))
  let core = app.dependencies["@tiptap/core"]
  if (core) {
    let output
    try {
      output = execFileSync("npm", ["ls", "--all", "--json"], {cwd: appDir, encoding: "utf8", maxBuffer: 64 << 20})
    } catch (e) {
      output = e.stdout  // npm ls fails on the mixed tree; its listing is still complete
    }
    let names = new Set()
    let walk = deps => {
      for (let [name, node] of Object.entries(deps ?? {})) {
        if (name.startsWith("@tiptap/")) names.add(name)
        walk(node.dependencies)
      }
    }
    walk(JSON.parse(output).dependencies)
    app.overrides = Object.fromEntries([...names].sort().map(name => [name, core]))
    writeFileSync(appFile, JSON.stringify(app, null, 2) + "\n")
  }
} else if (command == "covers") {
  let listed = new Set(process.argv.slice(3).flatMap(dir =>
    Object.keys(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies)))
  let missing = Object.keys(ours.peerDependencies).filter(n => !listed.has(n))
  if (missing.length) {
    console.error(`sample-app-deps: no sample app lists ${missing.join(", ")}`)
    process.exit(1)
  }
} else if (command == "check" && (mode == "newest" || mode == "lowest")) {
  let app = JSON.parse(readFileSync(appFile, "utf8"))
  let output
  try {
    output = execFileSync("npm", ["ls", "--all", "--json", "--long"], {cwd: appDir, encoding: "utf8",
                                                                       maxBuffer: 64 << 20})
  } catch (e) {
    let problems = e.stdout ? JSON.parse(e.stdout).problems : null
    fail(`npm ls reports problems:\n  ${(problems ?? [String(e)]).join("\n  ")}`)
  }
  // name -> {paths, versions}; a deduped entry names the path of the one copy.
  let found = new Map()
  let walk = (deps) => {
    for (let [name, node] of Object.entries(deps ?? {})) {
      if (/^(prosemirror-|@tiptap\/)/.test(name) && node.path) {
        let entry = found.get(name) ?? {paths: new Set(), versions: new Set()}
        entry.paths.add(node.path)
        entry.versions.add(node.version)
        found.set(name, entry)
      }
      walk(node.dependencies)
    }
  }
  walk(JSON.parse(output).dependencies)
  let copies = [...found].filter(([, e]) => e.paths.size > 1)
  if (copies.length) {
    fail("more than one copy of:\n" + copies.map(([name, e]) =>
      `  ${name}: ${[...e.versions].join(", ")} at ${[...e.paths].join(", ")}`).join("\n"))
  }
  let version = name => [...(found.get(name)?.versions ?? [])][0]
  if (mode == "lowest") {
    let ranges = {...ours.dependencies, ...ours.peerDependencies}
    for (let name of Object.keys(app.dependencies)) {
      if (!(name in ranges)) continue
      let want = floor(ranges[name], name)
      if (version(name) != want) fail(`${name} is ${version(name)}, not ${want}, the floor of ${ranges[name]}`)
    }
  }
  let listed = [...found.keys()].sort().map(name => `${name}@${version(name)}`)
  console.log(`${mode}: one copy each of ${listed.length} packages: ${listed.join(" ")}`)
} else {
  console.error("usage: sample-app-deps.mjs floors APP_DIR | pin-tiptap APP_DIR | covers APP_DIR... |\n" +
                "       check APP_DIR newest|lowest")
  process.exit(2)
}
