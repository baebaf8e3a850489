import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { GraphBuilder, floatAttr, openSession, tensor } from './graph.js';
import { convParams, inferShapes, leaky, LINEAR, macsPerSample, paramLayout, type NetSpec } from './layers.js';

describe('GraphBuilder', () => {
  it('builds a graph onnxruntime runs (attributes, shared constants, fresh names)', async () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', ['n', 3]);
    const a = g.node('LeakyRelu', [x], 'a', { alpha: 0.5 });
    const b = g.node('Mul', [a, g.float([2], [])], 'a'); // same prefix: gets a fresh name
    expect(b).not.toBe(a);
    expect(g.float([2], [])).toBe(g.float([2], [])); // small constants are shared
    const y = g.node('ReduceSum', [b, g.int64([1])], 'y', { keepdims: 0 });
    const z = g.node('Elu', [y], 'z', { alpha: floatAttr(1) });
    g.output(z, ['n']);
    const session = await openSession(g.build(), { threads: 1 });
    const out = await session.run({ x: tensor(new Float32Array([1, -2, 3, -4, 5, 6]), [2, 3]) });
    // row 0: 2·(1 − 1 + 3) = 6; row 1: 2·(−2 + 5 + 6) = 18; Elu keeps positives
    expect(Array.from(out.z.data as Float32Array)).toEqual([6, 18]);
    await session.release();
  });

  it('refuses a duplicate input name', () => {
    const g = new GraphBuilder('t');
    g.input('x', [1]);
    expect(() => g.input('x', [1])).toThrow(/already used/);
  });
});

describe('network specs', () => {
  const base = (): NetSpec => ({
    input: { name: 'x', channels: 3, height: 8, width: 8 },
    output: 'y',
    params: [...convParams('a', 3, 4, 3, leaky()), ...convParams('b', 4, 2, 1)],
    layers: [
      { op: 'conv', input: 'x', output: 'h', weight: 'a.w', bias: 'a.b', kernel: 3, stride: 2, act: leaky() },
      { op: 'upsample', input: 'h', output: 'u' },
      { op: 'conv', input: 'u', output: 'y', weight: 'b.w', bias: 'b.b', kernel: 1, stride: 1, act: LINEAR },
    ],
  });

  it('infers shapes, the parameter layout and multiply-adds', () => {
    const shapes = inferShapes(base());
    expect(shapes.get('h')).toEqual([4, 4, 4]);
    expect(shapes.get('u')).toEqual([4, 8, 8]);
    expect(shapes.get('y')).toEqual([2, 8, 8]);
    expect(paramLayout(base()).map((p) => [p.name, p.offset, p.size])).toEqual([
      ['a.w', 0, 108],
      ['a.b', 108, 4],
      ['b.w', 112, 8],
      ['b.b', 120, 2],
    ]);
    expect(macsPerSample(base())).toBe(4 * 4 * 4 * 27 + 2 * 64 * 4);
  });

  it('reports inconsistencies as BAD_INPUT naming the layer', () => {
    const check = (mutate: (s: NetSpec) => void, pattern: RegExp): void => {
      const s = base();
      mutate(s);
      let error: unknown;
      try {
        inferShapes(s);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RagarError);
      expect((error as RagarError).code).toBe('BAD_INPUT');
      expect((error as RagarError).message).toMatch(pattern);
    };
    check((s) => (s.layers[2] = { ...s.layers[2], input: 'nope' } as NetSpec['layers'][number]), /layer 2 .*unknown tensor "nope"/);
    check((s) => (s.params[2].shape = [2, 5, 1, 1]), /weight "b.w" has shape \[2,5,1,1\]/);
    check((s) => (s.output = 'u2'), /output "u2"/);
    check((s) => s.params.push(...convParams('unused', 1, 1, 1)), /"unused.w" is not used/);
    check((s) => (s.layers[0] = { ...s.layers[0], kernel: 2 } as NetSpec['layers'][number]), /kernel must be odd/);
    check((s) => s.layers.push({ op: 'concat', inputs: ['h', 'u'], output: 'c' }), /spatial sizes differ/);
  });
});
