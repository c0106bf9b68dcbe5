#!/bin/sh
# Supply-chain checks for CI: no known high/critical advisory in the production dependencies, and every locked
# package comes from the public npm registry (no git, tarball-URL or other-registry sources slipped into the lock).
#
# Exit codes: 0 clean; 1 a check failed; 3 the audit endpoint could not be reached (set
# SUPPLY_CHAIN_AUDIT_OPTIONAL=1 to turn that into a warning, e.g. on a registry mirror without the audit API).
set -eu
cd "$(dirname "$0")/.."

REGISTRY="https://registry.npmjs.org/"
status=0

# 1. every package in package-lock.json resolves to the npm registry. With omit-lockfile-registry-resolved
#    npm leaves `resolved` out for registry packages; those must still carry an integrity hash. Anything else
#    (git, file:, tarball URLs) keeps its `resolved`, so it is caught by the prefix check.
node -e '
const lock = require("./package-lock.json");
const registry = process.argv[1];
const bad = [];
for (const [path, p] of Object.entries(lock.packages ?? {})) {
  if (path === "" || p.link) continue;                      // the root project and workspace links
  if (p.resolved !== undefined && !p.resolved.startsWith(registry)) bad.push(`${path}: resolved ${p.resolved}`);
  else if (p.resolved === undefined && !p.integrity) bad.push(`${path}: neither a registry URL nor an integrity hash`);
  else if (p.integrity && !/^sha512-/.test(p.integrity)) bad.push(`${path}: weak integrity ${p.integrity.split("-")[0]}`);
}
if (bad.length > 0) {
  console.error(`supply-chain: ${bad.length} locked package(s) not from ${registry}:`);
  for (const b of bad) console.error("  " + b);
  process.exit(1);
}
console.log(`supply-chain: ${Object.keys(lock.packages ?? {}).length - 1} locked packages, all from ${registry}`);
' "$REGISTRY" || status=1

# 2. npm audit of what ships (dev dependencies omitted), failing at high and above
out="$(npm audit --omit=dev --audit-level=high --json 2>/dev/null || true)"
verdict="$(printf '%s' "$out" | node -e '
let text = "";
process.stdin.on("data", (c) => (text += c)).on("end", () => {
  let r;
  try { r = JSON.parse(text); } catch { console.log("unavailable: no JSON from npm audit"); return; }
  if (!r.metadata || !r.metadata.vulnerabilities) {
    console.log(`unavailable: ${r.message ?? (r.error && r.error.summary) ?? "no report"}`);
    return;
  }
  const v = r.metadata.vulnerabilities;
  const serious = Object.values(r.vulnerabilities ?? {}).filter((x) => x.severity === "high" || x.severity === "critical");
  if (serious.length === 0) { console.log(`ok: ${v.total} advisories, none high or critical`); return; }
  console.log(`fail: ${serious.map((x) => `${x.name} (${x.severity}, ${x.range})`).join("; ")}`);
});
')"
case "$verdict" in
  ok:*) echo "supply-chain: npm audit ${verdict}" ;;
  fail:*) echo "supply-chain: npm audit found high/critical advisories in production dependencies: ${verdict#fail: }" >&2; status=1 ;;
  *)
    echo "supply-chain: npm audit could not run (${verdict#unavailable: })" >&2
    if [ "${SUPPLY_CHAIN_AUDIT_OPTIONAL:-0}" = "1" ]; then
      echo "supply-chain: SUPPLY_CHAIN_AUDIT_OPTIONAL=1, continuing without the audit" >&2
    elif [ "$status" = "0" ]; then
      status=3
    fi
    ;;
esac
exit "$status"
