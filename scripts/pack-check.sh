#!/bin/sh
# Pack ragar and import it from a scratch project, as a user of the published package would:
# `npm pack`, unpack into <scratch>/node_modules/ragar (its dependencies linked from this
# checkout's node_modules, so nothing is downloaded), type-check a program that imports from
# 'ragar' against the shipped .d.ts files, run it, and run the packaged CLI.
# Usage: scripts/pack-check.sh [SCRATCH_DIR]   (default: a new folder under /tmp)
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-$(mktemp -d /tmp/ragar-pack-XXXXXX)}
mkdir -p "$scratch"
tarball=$(cd "$repo" && npm pack --silent --pack-destination "$scratch" | tail -n 1)
cd "$scratch"
rm -rf node_modules out && mkdir -p node_modules/ragar
tar xzf "$tarball" -C node_modules/ragar --strip-components=1
ln -s "$(readlink -f "$repo/node_modules")" node_modules/ragar/node_modules
ln -s "$(readlink -f "$repo/node_modules")/@types" node_modules/@types
echo '{ "name": "scratch", "private": true, "type": "module" }' > package.json
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "outDir": "out", "types": ["node"] }, "include": ["use.ts"] }
JSON
cat > use.ts <<'TS'
import { createRagar, MockGeneratorEngine, RagarError, type GeneratorEngineV1 } from 'ragar';

const ragar = createRagar({ home: 'home' });
const engine: GeneratorEngineV1 = new MockGeneratorEngine();
let code = '';
try {
  ragar.users();
} catch (err) {
  code = err instanceof RagarError ? err.code : 'not a RagarError';
}
console.log(JSON.stringify({ datasets: ragar.datasets().length, spec: engine.specificationVersion, code }));
await ragar.close();
TS
"$repo/node_modules/.bin/tsc" -p tsconfig.json
out=$(node out/use.js)
test "$out" = '{"datasets":0,"spec":"v1","code":"NOT_FOUND"}' || { echo "unexpected output: $out"; exit 1; }
node node_modules/ragar/dist/cli/bin.js --help > /dev/null
echo "pack check passed: $(basename "$tarball") imported, type-checked and run in $scratch"
