import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { RagarError } from '../../util/errors.js';

const require = createRequire(import.meta.url);

/** Where one style's artwork comes from, and under what licence. */
export interface StyleSource {
  /** Style name used in the dataset, e.g. `openmoji`. */
  name: string;
  /** npm package that ships the artwork. */
  package: string;
  license: string;
  /** File format of the artwork. */
  format: 'svg' | 'png' | 'webp';
  description: string;
}

/**
 * The styles the emoji-styles benchmark can draw from: real design teams' artwork shipped in npm
 * packages. Apple's set is deliberately absent (its licence forbids this use).
 */
export const STYLE_SOURCES: readonly StyleSource[] = [
  { name: 'openmoji', package: 'openmoji', license: 'CC-BY-SA-4.0', format: 'svg', description: 'OpenMoji colour, outlined flat' },
  { name: 'noto', package: 'emoji-datasource-google', license: 'Apache-2.0 (Noto Emoji artwork; package MIT)', format: 'png', description: 'Google Noto Color Emoji, 64 px PNG' },
  { name: 'twemoji', package: 'emoji-datasource-twitter', license: 'CC-BY-4.0 (Twemoji artwork; package MIT)', format: 'png', description: 'Twitter Twemoji, 64 px PNG' },
  { name: 'fluent-flat', package: 'fluentui-emoji', license: 'MIT', format: 'svg', description: 'Microsoft Fluent Emoji, flat' },
  { name: 'fluent-color', package: 'fluentui-emoji', license: 'MIT', format: 'svg', description: 'Microsoft Fluent Emoji, colour (gradients)' },
  { name: 'fluent-3d', package: '@lobehub/fluent-emoji-3d', license: 'MIT', format: 'webp', description: 'Microsoft Fluent Emoji, 3D renders' },
];

/** Names of all known styles. */
export const ALL_STYLES = STYLE_SOURCES.map((s) => s.name);

/** One emoji concept with its text and the artwork file of each style that draws it. */
export interface EmojiConcept {
  /** Canonical code point key: upper-case hex joined by `-`, without FE0F. */
  key: string;
  emoji: string;
  name: string;
  group: string;
  subgroup: string;
  /** Unicode/CLDR tags, OpenMoji tags and emojilib keywords, de-duplicated, sorted. */
  tags: string[];
  /** Style name → absolute path of the artwork file. */
  files: Record<string, string>;
}

/** Canonical key of a code point sequence: `1f3f3-fe0f-200d-1f308` → `1F3F3-200D-1F308`. */
export function canonicalKey(hex: string): string {
  return hex
    .toUpperCase()
    .split(/[-_ ]/)
    .filter((part) => part && part !== 'FE0F')
    .join('-');
}

/** Fluent's file slug for an emoji name: `one o’clock` → `one-oclock`. */
export function fluentSlug(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[’'‘“”".!]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function packageDir(name: string): string {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch (err) {
    throw new RagarError(`npm package ${name} is not installed (run npm install)`, 'NOT_FOUND', { cause: err });
  }
}

interface OpenMojiEntry {
  emoji: string;
  hexcode: string;
  group: string;
  subgroups: string;
  annotation: string;
  tags: string;
  openmoji_tags: string;
  skintone: string;
}

interface DatasourceEntry {
  unified: string;
  image: string;
  has_img_google?: boolean;
  has_img_twitter?: boolean;
}

function splitTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
}

/** Groups that are not drawable concepts (skin-tone swatches, hair components, private extras). */
const EXCLUDED_GROUPS = new Set(['component', 'extras-openmoji', 'extras-unicode']);

/**
 * Join the emoji concepts across the installed style packages by code point (Fluent by CLDR
 * name). Concepts with skin-tone modifiers are left out; each concept lists the files of the
 * styles that draw it.
 *
 * @example
 * const concepts = loadEmojiCatalog();
 * concepts.filter((c) => Object.keys(c.files).length >= 4).length; // > 800
 */
export function loadEmojiCatalog(styles: readonly string[] = ALL_STYLES): EmojiConcept[] {
  for (const s of styles) {
    if (!ALL_STYLES.includes(s)) {
      throw new RagarError(`unknown style ${JSON.stringify(s)} (known: ${ALL_STYLES.join(', ')})`, 'BAD_INPUT');
    }
  }
  const openmojiDir = packageDir('openmoji');
  const entries = JSON.parse(
    fs.readFileSync(path.join(openmojiDir, 'data', 'openmoji.json'), 'utf8'),
  ) as OpenMojiEntry[];
  const emojilib = JSON.parse(
    fs.readFileSync(path.join(packageDir('emojilib'), 'dist', 'emoji-en-US.json'), 'utf8'),
  ) as Record<string, string[]>;
  const emojilibByKey = new Map<string, string[]>();
  for (const [emoji, words] of Object.entries(emojilib)) {
    const hex = [...emoji].map((c) => c.codePointAt(0)!.toString(16)).join('-');
    emojilibByKey.set(canonicalKey(hex), words);
  }

  const lookups = new Map<string, (key: string, name: string) => string | undefined>();
  const want = new Set(styles);
  if (want.has('openmoji')) {
    const dir = path.join(openmojiDir, 'color', 'svg');
    const byKey = new Map(fs.readdirSync(dir).map((f) => [canonicalKey(f.replace(/\.svg$/, '')), path.join(dir, f)]));
    lookups.set('openmoji', (key) => byKey.get(key));
  }
  for (const [style, pkg, flag, sub] of [
    ['noto', 'emoji-datasource-google', 'has_img_google', 'google'],
    ['twemoji', 'emoji-datasource-twitter', 'has_img_twitter', 'twitter'],
  ] as const) {
    if (!want.has(style)) continue;
    const dir = packageDir(pkg);
    const data = JSON.parse(fs.readFileSync(path.join(dir, 'emoji.json'), 'utf8')) as DatasourceEntry[];
    const byKey = new Map<string, string>();
    for (const e of data) {
      if (!e[flag]) continue;
      const file = path.join(dir, 'img', sub, '64', e.image);
      if (fs.existsSync(file)) byKey.set(canonicalKey(e.unified), file);
    }
    lookups.set(style, (key) => byKey.get(key));
  }
  for (const [style, folder] of [
    ['fluent-flat', 'flat'],
    ['fluent-color', 'modern'],
  ] as const) {
    if (!want.has(style)) continue;
    const dir = path.join(packageDir('fluentui-emoji'), 'icons', folder);
    const files = new Set(fs.readdirSync(dir));
    lookups.set(style, (_key, name) => {
      const slug = fluentSlug(name);
      for (const candidate of [`${slug}.svg`, `${slug}-default.svg`]) {
        if (files.has(candidate)) return path.join(dir, candidate);
      }
      return undefined;
    });
  }
  if (want.has('fluent-3d')) {
    const dir = path.join(packageDir('@lobehub/fluent-emoji-3d'), 'assets');
    const byKey = new Map(fs.readdirSync(dir).map((f) => [canonicalKey(f.replace(/\.webp$/, '')), path.join(dir, f)]));
    lookups.set('fluent-3d', (key) => byKey.get(key));
  }

  const seen = new Set<string>();
  const concepts: EmojiConcept[] = [];
  for (const e of entries) {
    if (e.skintone !== '' || EXCLUDED_GROUPS.has(e.group)) continue;
    const key = canonicalKey(e.hexcode);
    if (seen.has(key)) continue;
    seen.add(key);
    const files: Record<string, string> = {};
    for (const style of styles) {
      const file = lookups.get(style)!(key, e.annotation);
      if (file) files[style] = file;
    }
    const tags = new Set<string>([...splitTags(e.tags), ...splitTags(e.openmoji_tags)]);
    for (const w of emojilibByKey.get(key) ?? []) tags.add(w.replace(/_/g, ' ').toLowerCase());
    tags.delete(e.annotation.toLowerCase());
    concepts.push({
      key,
      emoji: e.emoji,
      name: e.annotation,
      group: e.group,
      subgroup: e.subgroups,
      tags: [...tags].sort(),
      files,
    });
  }
  return concepts;
}
