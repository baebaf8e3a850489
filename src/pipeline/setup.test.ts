import { describe, expect, it } from 'vitest';
import { checkpointWarning } from './setup.js';

describe('checkpointWarning (weights still being trained)', () => {
  it('names the folder of a checkpoint in progress (training: null) and says nothing for finished weights', () => {
    expect(checkpointWarning('/w/ragar', { format: 'x', training: null })).toMatch(/^\/w\/ragar holds a training checkpoint, not finished weights/);
    expect(checkpointWarning('/w/ragar', { format: 'x', training: { steps: 10 } })).toBeNull();
    expect(checkpointWarning('/w/ragar', { format: 'x' })).toBeNull();
  });
});
