import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

const COLOURS = ['#e63946', '#457b9d', '#2a9d8f', '#f4a261', '#6d597a', '#ffb703', '#8ecae6', '#3a5a40'];
const SHAPES = ['circle', 'square', 'triangle', 'ring', 'diamond', 'bar'] as const;
const THINGS = ['dress', 'jacket', 'skirt', 'shirt', 'hat', 'scarf', 'boots', 'bag'];

/** One fixture item's image: a coloured shape on white, 48×48. */
async function itemPng(colour: string, shape: (typeof SHAPES)[number]): Promise<Buffer> {
  const body =
    shape === 'circle'
      ? `<circle cx="24" cy="24" r="16" fill="${colour}"/>`
      : shape === 'square'
        ? `<rect x="8" y="8" width="32" height="32" fill="${colour}"/>`
        : shape === 'triangle'
          ? `<polygon points="24,6 42,40 6,40" fill="${colour}"/>`
          : shape === 'ring'
            ? `<circle cx="24" cy="24" r="14" fill="none" stroke="${colour}" stroke-width="6"/>`
            : shape === 'diamond'
              ? `<polygon points="24,4 44,24 24,44 4,24" fill="${colour}"/>`
              : `<rect x="4" y="18" width="40" height="12" fill="${colour}"/>`;
  return sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><rect width="48" height="48" fill="white"/>${body}</svg>`)).png().toBuffer();
}

/**
 * Write a small PMG-Bench fixture (the unified JSON of PMG's processed datasets) to `dir`:
 * `images/iNN.png` (48 items: 8 colours × 6 shapes, captions naming colour, shape and a
 * garment) and `test.json` with `users` samples, each user's history leaning to one colour
 * family, the target a further item. Returns the JSON file's path.
 *
 * @example
 * const file = await writePmgFixture('/tmp/pmg', 8);
 */
export async function writePmgFixture(dir: string, users = 8): Promise<string> {
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  const items: { item_id: string; caption: string; image_path: string }[] = [];
  for (let c = 0; c < COLOURS.length; c++) {
    for (let s = 0; s < SHAPES.length; s++) {
      const id = `i${String(c * SHAPES.length + s).padStart(2, '0')}`;
      fs.writeFileSync(path.join(dir, 'images', `${id}.png`), await itemPng(COLOURS[c], SHAPES[s]));
      items.push({ item_id: id, caption: `a ${['red', 'blue', 'teal', 'orange', 'purple', 'yellow', 'sky', 'green'][c]} ${SHAPES[s]} ${THINGS[(c + s) % THINGS.length]}`, image_path: `images/${id}.png` });
    }
  }
  const samples = [];
  for (let u = 0; u < users; u++) {
    // history: the user's colour in four shapes, a neighbour colour twice; target: another colour's item
    const own = u % COLOURS.length;
    const next = (own + 1) % COLOURS.length;
    const n = SHAPES.length;
    const history = [own * n, own * n + 1, own * n + 2, own * n + 3, next * n, next * n + 1].map((i) => items[i]);
    const target = items[((own + 3) % COLOURS.length) * n + (u % n)];
    samples.push({
      user_id: `u${u}`,
      history_item_ids: history.map((h) => h.item_id),
      history_items_info: history,
      target_item_id: target.item_id,
      target_item_info: target,
      user_style: `${items[own * SHAPES.length].caption.split(' ')[1]}, bold`,
    });
  }
  const file = path.join(dir, 'test.json');
  fs.writeFileSync(file, JSON.stringify(samples, null, 1));
  return file;
}
