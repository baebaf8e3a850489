#!/usr/bin/env python3
"""PyTorch peer of the ONNX engine's training step, for `npm run bench` (section `training`).

Builds the network that `src/bench/training.ts` describes in `spec.json` (the engine's NetSpec:
convolutions with optional bias and residual, leaky/SiLU activations, adds, channel concats,
nearest x2 upsampling; weights OIHW), loads the very same parameters (`params.bin`, float32 in
the spec's parameter order), checks that its forward output equals the engine's (`y.bin`), and
times the same training step: forward, mean |y - target| (L1), backward, one Adam step
(lr 1e-3). Prints one JSON object on stdout: per-step milliseconds, the forward check, versions.

Usage: python3 torch_train.py DIR --batch 8 --steps 5 --warmup 2 --threads 2
Only a speed reference: Debian's python3-torch, run when installed; the project stays TypeScript.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)

    with open(os.path.join(a.dir, "spec.json")) as f:
        spec = json.load(f)
    flat = np.fromfile(os.path.join(a.dir, "params.bin"), dtype=np.float32)
    params = {}
    offset = 0
    for p in spec["params"]:
        size = int(np.prod(p["shape"]))
        params[p["name"]] = torch.nn.Parameter(torch.from_numpy(flat[offset : offset + size].copy()).reshape(p["shape"]))
        offset += size
    if offset != flat.size:
        sys.exit(f"params.bin has {flat.size} floats, the spec {offset}")

    def act(z, a):
        if a["kind"] == "leaky":
            return F.leaky_relu(z, a["alpha"])
        if a["kind"] == "silu":
            return F.silu(z)
        return z

    def run(x):
        t = {spec["input"]["name"]: x}
        for layer in spec["layers"]:
            op = layer["op"]
            if op == "conv":
                k = layer["kernel"]
                z = F.conv2d(t[layer["input"]], params[layer["weight"]], params[layer["bias"]] if layer.get("bias") else None, stride=layer["stride"], padding=k // 2)
                if layer.get("residual"):
                    z = z + t[layer["residual"]]
                out = act(z, layer["act"])
            elif op == "act":
                out = act(t[layer["input"]], layer["act"])
            elif op == "add":
                out = act(t[layer["inputs"][0]] + t[layer["inputs"][1]], layer["act"])
            elif op == "concat":
                out = torch.cat([t[n] for n in layer["inputs"]], dim=1)
            elif op == "upsample":
                out = F.interpolate(t[layer["input"]], scale_factor=2, mode="nearest")
            else:
                sys.exit(f"unknown layer op {op}")
            t[layer["output"]] = out
        return t[spec["output"]]

    inp = spec["input"]
    b = a.batch
    x = torch.from_numpy(np.fromfile(os.path.join(a.dir, "x.bin"), dtype=np.float32)).reshape(b, inp["channels"], inp["height"], inp["width"])
    y_ref = np.fromfile(os.path.join(a.dir, "y.bin"), dtype=np.float32)
    target = torch.from_numpy(np.fromfile(os.path.join(a.dir, "target.bin"), dtype=np.float32)).reshape(b, -1, inp["height"], inp["width"])
    with torch.no_grad():
        y = run(x).numpy().ravel()
    max_diff = float(np.max(np.abs(y - y_ref)))

    opt = torch.optim.Adam(list(params.values()), lr=1e-3)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.mean(torch.abs(run(x) - target))
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - t0) * 1000
        if i >= a.warmup:
            times.append(ms)
    print(json.dumps({"stepMs": times, "forwardMaxAbsDiff": max_diff, "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": b}))


if __name__ == "__main__":
    main()
