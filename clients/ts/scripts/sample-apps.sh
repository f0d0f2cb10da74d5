#!/usr/bin/env bash
# The npm package as an application gets it. Packs @realtime-pm/client
# (`npm pack`, whose prepack builds dist/), checks what the tarball holds,
# then for each version set makes the two sample apps of test/sample-apps/
# from scratch in a temporary folder: installs the tarball into them with npm,
# type-checks them (tsc, strict, against the package's .d.ts), bundles them
# with esbuild, checks with `npm ls` that npm is content and that every
# prosemirror-* and @tiptap/* package is there once, and co-edits through
# both bundled apps in Chromium against the real server
# (test/sample-apps.ts).
#
#   newest  the apps' package.json as committed: caret ranges, resolved by
#           npm to the newest versions (Tiptap 3.x, ProseMirror); the server
#           runs the built-in schemas (--schema tiptap, --schema basic)
#   lowest  every dependency at the floor of its range: the floors of
#           @realtime-pm/client's own ranges (prosemirror-* in the ProseMirror
#           app, @tiptap/* 3.0.0 in the Tiptap app, where npm overrides keep
#           every @tiptap/* package at 3.0.0 as a lock file of that time would;
#           see sample-app-deps.mjs pin-tiptap); the server runs each app's
#           own schema, written by the package's realtime-pm-schema-spec
#
#   RTPM_BINARY=build/release/apps/realtime-pm clients/ts/scripts/sample-apps.sh [newest] [lowest]
#
# Default: both. Needs the package's own node_modules (scripts/test.sh
# installs them) for the test's playwright-core, and /usr/bin/chromium. The
# npm registry must be reachable. RTPM_KEEP_TMP=1 keeps the temporary folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${RTPM_BINARY:-}" ]]; then
  echo "sample-apps.sh: set RTPM_BINARY to the realtime-pm binary" >&2
  exit 2
fi
RTPM_BINARY="$(realpath "$RTPM_BINARY")"
export RTPM_BINARY
modes=("$@")
[[ ${#modes[@]} -gt 0 ]] || modes=(newest lowest)
for mode in "${modes[@]}"; do
  [[ "$mode" == newest || "$mode" == lowest ]] || {
    echo "usage: sample-apps.sh [newest] [lowest]" >&2
    exit 2
  }
done
cd "$here"
[[ -d node_modules/playwright-core ]] || {
  echo "sample-apps.sh: no node_modules; run npm ci (or scripts/test.sh) first" >&2
  exit 2
}

tmp=$(mktemp -d /tmp/rtpm-sample-apps-XXXXXX)
cleanup() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    echo "sample-apps.sh: FAILED (files in $tmp)" >&2
  elif [[ "${RTPM_KEEP_TMP:-0}" != 1 ]]; then
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
npm_quiet=(--no-audit --no-fund --loglevel=error)

echo "--- npm pack"
npm pack --pack-destination "$tmp" "${npm_quiet[@]}" >"$tmp/pack.log"
tarball=$(ls "$tmp"/realtime-pm-client-*.tgz)
# Only the build, the schema-spec command, the README and package.json: no sources or tests.
contents=$(tar tzf "$tarball")
unexpected=$(grep -vE \
  '^package/(package\.json|README\.md|scripts/schema-spec\.mjs|dist/[A-Za-z0-9_.-]+\.js(\.map)?|dist/types/[a-z-]+\.d\.ts)$' \
  <<<"$contents" || true)
[[ -z "$unexpected" ]] || { echo "sample-apps.sh: the tarball holds $unexpected" >&2; exit 1; }
for file in package/dist/index.js package/dist/tiptap.js package/dist/types/index.d.ts \
  package/dist/types/tiptap.d.ts package/README.md; do
  grep -qx "$file" <<<"$contents" || { echo "sample-apps.sh: the tarball lacks $file" >&2; exit 1; }
done
echo "$(basename "$tarball"): $(wc -l <<<"$contents") files, $(du -k "$tarball" | cut -f1) KiB"
node scripts/sample-app-deps.mjs covers test/sample-apps/tiptap test/sample-apps/prosemirror

node scripts/build.mjs sample-apps
for mode in "${modes[@]}"; do
  for app in tiptap prosemirror; do
    echo "--- $mode: $app"
    dir=$tmp/$mode/$app
    mkdir -p "$dir"
    cp -r test/sample-apps/$app/. "$dir/"
    [[ $mode == newest ]] || node scripts/sample-app-deps.mjs floors "$dir"
    (
      cd "$dir"
      npm install "${npm_quiet[@]}" "$tarball"
      if [[ $mode == lowest ]] && node "$here/scripts/sample-app-deps.mjs" pin-tiptap . &&
        grep -q '"overrides"' package.json; then
        rm -rf node_modules package-lock.json # resolve again from scratch, with the overrides
        npm install "${npm_quiet[@]}"
      fi
      npm run --silent check
      npm run --silent build -- --log-level=warning
      if [[ $mode == lowest ]]; then
        # Older Tiptap and schema-basic releases have schemas of their own: the server runs
        # with the app's, written by the package's command.
        spec=(--starter-kit)
        [[ $app == tiptap ]] || spec=(schema.js)
        node_modules/.bin/realtime-pm-schema-spec "${spec[@]}" --out schema.json
      fi
    )
    node scripts/sample-app-deps.mjs check "$dir" "$mode"
  done
  echo "--- $mode: both apps in Chromium"
  schemas=builtin
  [[ $mode == newest ]] || schemas=app
  RTPM_SAMPLE_APPS=$tmp/$mode RTPM_SAMPLE_SCHEMAS=$schemas \
    node --test --test-timeout=180000 test-dist/sample-apps.mjs
done
echo "sample-apps.sh: ${modes[*]}: passed"
