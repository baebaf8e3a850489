import { describe, expect, it } from 'vitest';
import { ERROR_CODES, exitCodeOf, InputError, NotFoundError, RagarError, type ErrorCode } from './errors.js';

describe('error codes', () => {
  it('give every code an exit status: 2 for usage, 130 for an interruption, 1 for the rest', () => {
    expect(exitCodeOf('USAGE')).toBe(2);
    expect(exitCodeOf('ABORTED')).toBe(130);
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect([1, 2, 130]).toContain(exitCodeOf(code));
      expect(ERROR_CODES[code].meaning.length).toBeGreaterThan(0);
    }
    expect(exitCodeOf('NOT_FOUND')).toBe(1);
    for (const remote of ['UNREACHABLE', 'REMOTE', 'BAD_RESPONSE', 'TIMEOUT'] as const) expect(exitCodeOf(remote)).toBe(1);
  });

  it('carry their code, name and cause; the default is INTERNAL', () => {
    const cause = new Error('low-level');
    const e = new RagarError('what went wrong', 'CORRUPT', { cause });
    expect([e.code, e.name, e.message, e.cause]).toEqual(['CORRUPT', 'RagarError', 'what went wrong', cause]);
    expect(new RagarError('x').code).toBe('INTERNAL');
    expect(new InputError('a.csv', 3, 'bad')).toMatchObject({ code: 'BAD_INPUT', message: 'a.csv:3: bad' });
    expect(new NotFoundError('no user')).toMatchObject({ code: 'NOT_FOUND' });
  });
});
