import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import type { BackwardMode } from './autodiff.js';
import type { ConvBackward } from './emit.js';
import { gradCheck, randomArray } from './gradcheck.testing.js';
import { convParams, leaky, LINEAR, SILU, type Activation, type Layer, type NetSpec, type ParamSpec } from './layers.js';
import { OnnxNet } from './net.js';

/**
 * Each layer's backward pass against central finite differences. Every case wraps the layer under
 * test between 1×1 "pre" convs (whose gradients flow only through the layer's input gradient) and
 * a 1×1 "post" conv, so both the layer's own parameter gradients and its input gradient are checked.
 */

const SIZE = 6;
const BATCH = 2;
const A = leaky(0.2);

interface Case {
  name: string;
  channels: number;
  conditions?: { name: string; channels: number }[];
  /** Finite-difference step when the default (1e-3 for piecewise-linear activations) is too small for float32 round-off. */
  eps?: number;
  layers: Layer[];
  params: ParamSpec[];
  act: Activation;
}

function conv(name: string, input: string, output: string, inCh: number, outCh: number, k: number, stride: number, act: Activation, residual?: string): { layer: Layer; params: ParamSpec[] } {
  return {
    layer: { op: 'conv', input, output, weight: `${name}.w`, bias: `${name}.b`, kernel: k, stride, act, residual },
    params: convParams(name, inCh, outCh, k, act),
  };
}

/** x(3) → pre (1×1, 3→c) → [op] → t (c') → post (1×1, c'→2) → y */
function wrap(name: string, act: Activation, c: number, op: (h: string) => { layers: Layer[]; params: ParamSpec[]; out: string; outCh: number }): Case {
  const pre = conv('pre', 'x', 'h', 3, c, 1, 1, LINEAR);
  const mid = op('h');
  const post = conv('post', mid.out, 'y', mid.outCh, 2, 1, 1, LINEAR);
  return { name, act, channels: 3, layers: [pre.layer, ...mid.layers, post.layer], params: [...pre.params, ...mid.params, ...post.params] };
}

function cases(act: Activation): Case[] {
  const one = (l: { layer: Layer; params: ParamSpec[] }, out: string, outCh: number) => ({ layers: [l.layer], params: l.params, out, outCh });
  return [
    wrap('conv 3×3 stride 1 (c < o)', act, 3, (h) => one(conv('op', h, 't', 3, 5, 3, 1, act), 't', 5)),
    wrap('conv 3×3 stride 1 (c > o)', act, 5, (h) => one(conv('op', h, 't', 5, 3, 3, 1, act), 't', 3)),
    wrap('conv 3×3 stride 2', act, 3, (h) => one(conv('op', h, 't', 3, 4, 3, 2, act), 't', 4)),
    wrap('conv 1×1', act, 3, (h) => one(conv('op', h, 't', 3, 4, 1, 1, act), 't', 4)),
    wrap('conv 3×3 + residual', act, 4, (h) => one(conv('op', h, 't', 4, 4, 3, 1, act, h), 't', 4)),
    wrap('act', act, 3, (h) => ({ layers: [{ op: 'act', input: h, output: 't', act }], params: [], out: 't', outCh: 3 })),
    wrap('add', act, 3, (h) => {
      const other = conv('side', 'x', 'h2', 3, 3, 3, 1, LINEAR);
      return { layers: [other.layer, { op: 'add', inputs: [h, 'h2'], output: 't', act }], params: other.params, out: 't', outCh: 3 };
    }),
    wrap('concat', act, 3, (h) => {
      const other = conv('side', 'x', 'h2', 3, 2, 3, 1, act);
      return { layers: [other.layer, { op: 'concat', inputs: [h, 'h2'], output: 't' }], params: other.params, out: 't', outCh: 5 };
    }),
    wrap('upsample', act, 3, (h) => {
      const down = conv('down', h, 'h2', 3, 3, 3, 2, act);
      return { layers: [down.layer, { op: 'upsample', input: 'h2', output: 't' }], params: down.params, out: 't', outCh: 3 };
    }),
    { ...wrap('groupnorm', act, 4, (h) => ({ layers: [{ op: 'groupnorm', input: h, output: 't', groups: 2, eps: 1e-5 }], params: [], out: 't', outCh: 4 })), eps: 1e-2 },
    {
      eps: 1e-2,
      // FiLM from a condition vector through a 1×1 "MLP", after group normalisation
      ...wrap('film', act, 4, (h) => {
        const mlp = conv('mlp', 'c', 'm1', 3, 5, 1, 1, act);
        const mod = conv('mod', 'm1', 'mod', 5, 8, 1, 1, LINEAR);
        return {
          layers: [{ op: 'groupnorm', input: h, output: 'n', groups: 2, eps: 1e-5 }, mlp.layer, mod.layer, { op: 'film', input: 'n', mod: 'mod', output: 't' }],
          params: [...mlp.params, ...mod.params],
          out: 't',
          outCh: 4,
        };
      }),
      conditions: [{ name: 'c', channels: 3 }],
    },
  ];
}

function specOf(c: Case): NetSpec {
  return { input: { name: 'x', channels: c.channels, height: SIZE, width: SIZE }, conditions: c.conditions, output: 'y', layers: c.layers, params: c.params };
}

const nets: OnnxNet[] = [];
afterAll(async () => {
  for (const n of nets) await n.dispose();
});

async function check(c: Case, mode: BackwardMode, convBackward: ConvBackward): Promise<void> {
  const net = new OnnxNet(specOf(c), { seed: 11, mode, convBackward });
  nets.push(net);
  const x = randomArray(new Rng(4), BATCH * c.channels * SIZE * SIZE);
  const smooth = c.act.kind !== 'leaky';
  const conds = Object.fromEntries((c.conditions ?? []).map((k, i) => [k.name, randomArray(new Rng(9 + i), BATCH * k.channels)]));
  const r = await gradCheck(net, x, BATCH, { samplesPerParam: 12, eps: c.eps ?? (smooth ? 1e-2 : 1e-3), kinks: !smooth, conds });
  const bad = r.checked.filter((e) => e.error > 1e-2);
  expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
  // every parameter tensor got a non-zero gradient somewhere
  expect(r.checked.length).toBeGreaterThan(0);
}

describe.each([
  ['leaky', A],
  ['silu', SILU],
  ['linear', LINEAR],
] as const)('layer backward passes match finite differences (%s)', (_label, act) => {
  for (const c of cases(act)) {
    it(c.name, async () => {
      await check(c, 'saved', 'shared');
    });
  }
});

describe('other backward variants match finite differences', () => {
  for (const c of cases(SILU).filter((x) => x.name.startsWith('conv'))) {
    it(`${c.name}, separate conv backward`, async () => {
      await check(c, 'saved', 'separate');
    });
    it(`${c.name}, recompute mode`, async () => {
      await check(c, 'recompute', 'shared');
    });
  }
});

describe('input gradient', () => {
  it('matches finite differences of the input (for a discriminator passing gradients to a generator)', async () => {
    const c = cases(SILU).find((x) => x.name === 'film')!;
    const net = new OnnxNet(specOf(c), { seed: 5, inputGradient: true });
    nets.push(net);
    const rng = new Rng(21);
    const x = randomArray(rng, BATCH * c.channels * SIZE * SIZE);
    const conds = { c: randomArray(rng, BATCH * 3) };
    const y = await net.forward(x, BATCH, conds);
    const dY = randomArray(rng, y.length);
    const { grads, dx } = await net.backwardWithInput(dY);
    expect(grads.length).toBe(net.paramCount);
    expect(dx.length).toBe(x.length);
    const loss = async (input: Float32Array): Promise<number> => {
      const out = await net.predict(input, BATCH, conds);
      let s = 0;
      for (let i = 0; i < out.length; i++) s += out[i] * dY[i];
      return s;
    };
    const eps = 1e-2;
    for (const i of [0, 7, 33, 101, x.length - 1]) {
      const plus = x.slice();
      plus[i] += eps;
      const minus = x.slice();
      minus[i] -= eps;
      const numeric = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      expect(Math.abs(dx[i] - numeric)).toBeLessThan(1e-2 * Math.max(1, Math.abs(numeric)));
    }
  });

  it('is refused for a network built without it, and a missing condition is named', async () => {
    const c = cases(SILU).find((x) => x.name === 'film')!;
    const net = new OnnxNet(specOf(c), { seed: 5 });
    nets.push(net);
    const x = new Float32Array(BATCH * c.channels * SIZE * SIZE);
    await expect(net.forward(x, BATCH)).rejects.toThrow(/condition "c" is missing/);
    await net.forward(x, BATCH, { c: new Float32Array(BATCH * 3) });
    await expect(net.backwardWithInput(new Float32Array(BATCH * 2 * SIZE * SIZE))).rejects.toThrow(/inputGradient/);
  });
});
