// Runs the curl examples of docs/api.md, in order, against a fresh server (once with the basic
// schema, once with tiptap, as scripts/run.sh starts it), and checks each
// answer against the `# ...` line that follows the command in the document: the examples must
// work as written. In the expected lines, 1765000000000 stands for any Unix time and `...` for
// anything.
//
//   node tests/api-doc-examples.mjs BINARY docs/api.md
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [binary, docPath] = process.argv.slice(2);
if (!binary || !docPath) {
  console.error("usage: node api-doc-examples.mjs BINARY DOC");
  process.exit(2);
}

// The examples: each ```sh block's curl commands (joined across trailing backslashes), each
// with the comment lines right after it.
function examples(markdown) {
  const out = [];
  const blocks = markdown.split("```sh\n").slice(1).map((b) => b.split("```")[0]);
  for (const block of blocks) {
    const lines = block.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].startsWith("curl ")) continue;
      let command = lines[i];
      while (command.endsWith("\\")) command = command.slice(0, -1) + lines[++i].trim();
      const expected = [];
      while (i + 1 < lines.length && lines[i + 1].startsWith("# ")) expected.push(lines[++i].slice(2));
      out.push({ command, expected: expected.join("\n") });
    }
  }
  return out;
}

function pattern(expected) {
  const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    "^" + escaped.replaceAll("1765000000000", "\\d+").replaceAll("\\.\\.\\.", ".*") + "$",
    "s",
  );
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitHealthy(port) {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the server did not start");
}

const list = examples(readFileSync(docPath, "utf8"));
if (list.length < 10) throw new Error(`only ${list.length} examples found in ${docPath}`);
let failed = 0;
for (const schema of ["basic", "tiptap"]) {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), "rtpm-api-doc-"));
  const server = spawn(
    binary,
    ["serve", "--port", String(port), "--data", data, "--schema", schema, "--log-level", "warn"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  try {
    await waitHealthy(port);
    for (const { command, expected } of list) {
      const run = command.replaceAll("localhost:8080", `localhost:${port}`);
      const output = execFileSync("bash", ["-c", run], { encoding: "utf8" }).trim();
      if (expected && !pattern(expected).test(output)) {
        failed++;
        console.error(`FAIL (${schema}): ${command}\n  expected: ${expected}\n  got:      ${output}`);
      } else {
        console.log(`ok (${schema}): ${command.slice(0, 100)}`);
      }
    }
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    rmSync(data, { recursive: true, force: true });
  }
}
if (failed) {
  console.error(`${failed} examples failed`);
  process.exit(1);
}
console.log(`all ${list.length} examples of ${docPath} work as written, with both schemas`);
