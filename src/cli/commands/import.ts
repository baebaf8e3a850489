import type { Command } from 'commander';

/** Placeholder until the importers land (replaced in the same change). */
export function registerImportCommands(_dataset: Command): void {}
/** Placeholder until the Debian fetcher lands (replaced in the same change). */
export function registerFetchCommand(_dataset: Command): void {}
