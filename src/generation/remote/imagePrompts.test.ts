import { describe, expect, it } from 'vitest';
import { buildPrompt, selectImagePrompts } from './imagePrompts.js';

const img = () => Buffer.alloc(1);

describe('image-prompt weights from retrieval weights', () => {
  it('keeps the top-k by weight in history order, folds the rest in proportion, skips zero weights and items without image', () => {
    const s = selectImagePrompts(
      [
        { item: 'x', weight: 0.1, image: img },
        { item: 'y', weight: 0.4, image: img },
        { item: 'z', weight: 0, image: img },
        { item: 'n', weight: 0.2, image: null },
        { item: 'w', weight: 0.3, image: img },
      ],
      2,
    );
    expect(s.prompts.map((p) => p.item)).toEqual(['y', 'w']);
    expect(s.prompts[0].share).toBeCloseTo(0.4 / 0.7, 12);
    expect(s.prompts[1].share).toBeCloseTo(0.3 / 0.7, 12);
    expect(s.folded).toEqual([{ item: 'x', retrievalWeight: 0.1 }]);
    expect(s.withoutImage).toEqual(['n']);
  });

  it('gives equal shares for uniform weights, nothing for an empty history, and breaks ties by history order', () => {
    expect(selectImagePrompts([{ item: 'a', weight: 0.25, image: img }, { item: 'b', weight: 0.25, image: img }, { item: 'c', weight: 0.25, image: img }, { item: 'd', weight: 0.25, image: img }], 2).prompts.map((p) => [p.item, p.share])).toEqual([['a', 0.5], ['b', 0.5]]);
    expect(selectImagePrompts([], 4)).toEqual({ prompts: [], folded: [], withoutImage: [] });
    expect(() => selectImagePrompts([{ item: 'a', weight: Number.NaN, image: img }], 1)).toThrow(/weight NaN/);
    expect(() => selectImagePrompts([], 0)).toThrow(/limit/);
  });

  it('builds the prompt from the reference text and keywords without repeats', () => {
    expect(buildPrompt(' grinning face ', ['Face', 'flat', '', 'pastel'])).toBe('grinning face, flat, pastel');
    expect(buildPrompt('', ['flat'])).toBe('flat');
  });
});
