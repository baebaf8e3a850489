#!/usr/bin/env bash
# GPU check of the remote engines (comfyui, a1111), for a machine with a GPU and no network.
#
#   scripts/gpu-check.sh [OUT_DIR]
#
# What it does, in order, and what it needs:
#  1. reports the GPU (nvidia-smi) and whether Python, torch with CUDA, ComfyUI or AUTOMATIC1111
#     and any Stable Diffusion / IP-Adapter weights (*.safetensors, *.ckpt, *.bin under
#     $SD_MODELS_DIRS, default "$HOME/models /models /data/models /opt/models") are present;
#  2. if COMFY_URL (e.g. http://127.0.0.1:8188, comma-separated for a pool) and/or A1111_URL are
#     set, or RAGAR_ENGINE_CONFIG names a ragar.config.json, runs the smoke program
#     (src/generation/remote/smoke.ts: a synthetic reference, three weighted history images, two
#     candidates with retrieval and with uniform weights) against those servers and writes the
#     images and record.json files to OUT_DIR (default ./gpu-check-out), with the seconds taken;
#  3. runs the fake-server tests of both engines (no GPU or weights needed) so the check ends with
#     a result even where no server can run.
# No model hub can be reached from such machines and ragar ships no Stable Diffusion weights
# (several GB, licences of their own): a real run needs a server and weights already on the
# machine. The script says plainly which steps it could not do. Needs node_modules (npm ci).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check-out}
mkdir -p "$out"
status=0
say() { printf '== %s\n' "$*"; }

say "device"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
else
  echo "no nvidia-smi: no NVIDIA GPU visible"
fi

say "Python / torch / servers on this machine"
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>/dev/null || echo "python3 present, no torch"
else
  echo "no python3 (ComfyUI and AUTOMATIC1111 cannot run here)"
fi
for d in ComfyUI stable-diffusion-webui; do
  found=$(find "$HOME" / -maxdepth 3 -type d -name "$d" 2>/dev/null | head -1)
  [ -n "$found" ] && echo "found $d at $found" || echo "no $d checkout found"
done

say "Stable Diffusion / IP-Adapter weights"
weights=0
for d in ${SD_MODELS_DIRS:-$HOME/models /models /data/models /opt/models}; do
  [ -d "$d" ] || continue
  while IFS= read -r f; do echo "  $f ($(du -h "$f" | cut -f1))"; weights=$((weights + 1)); done < <(find "$d" -maxdepth 4 -type f \( -name '*.safetensors' -o -name '*.ckpt' -o -name 'ip-adapter*.bin' \) 2>/dev/null)
done
[ "$weights" -gt 0 ] || echo "none found: a real generation cannot run on this machine (see README, 'Remote engines')"

smoke() {
  say "smoke: $1 against $2"
  local t0=$SECONDS
  if timeout 900 npx tsx src/generation/remote/smoke.ts "$1" "$2" "$out"; then
    echo "smoke $1: ok in $((SECONDS - t0)) s"
  else
    echo "smoke $1: FAILED"
    status=1
  fi
}
ran=0
if [ -n "${RAGAR_ENGINE_CONFIG:-}" ]; then
  grep -q '"comfyui"' "$RAGAR_ENGINE_CONFIG" && { smoke comfyui "$RAGAR_ENGINE_CONFIG"; ran=1; }
  grep -q '"a1111"' "$RAGAR_ENGINE_CONFIG" && { smoke a1111 "$RAGAR_ENGINE_CONFIG"; ran=1; }
fi
[ -n "${COMFY_URL:-}" ] && { smoke comfyui "$COMFY_URL"; ran=1; }
[ -n "${A1111_URL:-}" ] && { smoke a1111 "$A1111_URL"; ran=1; }
[ "$ran" -eq 1 ] || echo "== no COMFY_URL, A1111_URL or RAGAR_ENGINE_CONFIG: no real server was exercised"

say "fake-server tests (protocol, weights, abort, errors; no GPU needed)"
if [ -d node_modules ]; then
  npx vitest run src/generation/comfyui src/generation/a1111 src/generation/remote src/generation/engineConfig.test.ts || status=1
else
  echo "no node_modules: run npm ci first"
  status=1
fi
exit $status
