/**
 * Versioned schema migrations. Each entry upgrades the schema by one version; the applied
 * version lives in SQLite's `user_version` pragma. Never edit a released migration: add one.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** All migrations in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'datasets, images, items, users, interactions, tasks, splits',
    sql: `
CREATE TABLE datasets (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  created_at TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',
  license TEXT,
  source TEXT
);
CREATE TABLE images (
  hash TEXT PRIMARY KEY,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  channels INTEGER NOT NULL,
  format TEXT NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE TABLE items (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]',
  grp TEXT,
  subgroup TEXT,
  concept TEXT,
  style TEXT,
  attributes TEXT NOT NULL DEFAULT '{}',
  image_hash TEXT REFERENCES images(hash),
  UNIQUE (dataset_id, external_id)
);
CREATE INDEX items_concept ON items(dataset_id, concept, style);
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  attributes TEXT NOT NULL DEFAULT '{}',
  UNIQUE (dataset_id, external_id)
);
CREATE TABLE interactions (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
  ts INTEGER NOT NULL,
  rating REAL,
  position INTEGER NOT NULL
);
CREATE INDEX interactions_user ON interactions(user_id, ts, position);
CREATE INDEX interactions_item ON interactions(item_id);
CREATE INDEX interactions_dataset ON interactions(dataset_id);
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  reference_item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
  target_item_id INTEGER REFERENCES items(id) ON DELETE CASCADE,
  split TEXT,
  attributes TEXT NOT NULL DEFAULT '{}',
  UNIQUE (dataset_id, external_id)
);
CREATE TABLE splits (
  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  entity TEXT NOT NULL CHECK (entity IN ('user', 'concept', 'item')),
  key TEXT NOT NULL,
  split TEXT NOT NULL,
  PRIMARY KEY (dataset_id, entity, key)
);
`,
  },
  {
    version: 2,
    description: 'embedding cache: one vector per (item, field, model)',
    sql: `
CREATE TABLE embedding_models (
  model_id TEXT PRIMARY KEY,
  modality TEXT NOT NULL,
  dim INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE embeddings (
  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
  field TEXT NOT NULL CHECK (field IN ('image', 'text')),
  model_id TEXT NOT NULL REFERENCES embedding_models(model_id),
  vector BLOB NOT NULL,
  PRIMARY KEY (item_id, field, model_id)
);
`,
  },
  {
    version: 3,
    description: 'the service: durable generation jobs, hashed API keys, study votes',
    sql: `
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL DEFAULT '',
  idempotency_key TEXT,
  request TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  progress TEXT NOT NULL DEFAULT '{}',
  result TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  runs INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  UNIQUE (owner, idempotency_key)
);
CREATE INDEX jobs_status ON jobs(status, created_at);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE study_votes (
  id INTEGER PRIMARY KEY,
  dataset TEXT NOT NULL,
  user_id TEXT NOT NULL,
  reference TEXT NOT NULL,
  condition_a TEXT NOT NULL,
  condition_b TEXT NOT NULL,
  job_a TEXT NOT NULL,
  job_b TEXT NOT NULL,
  winner TEXT NOT NULL CHECK (winner IN ('a', 'b')),
  voter TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
`,
  },
];

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
