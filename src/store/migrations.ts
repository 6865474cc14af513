// Versioned schema migrations: PRAGMA user_version holds the number applied. Append only:
// a released migration is never edited, a change is a new entry. Keys are plain rowid
// aliases, not AUTOINCREMENT: that would write sqlite_sequence on every insert.

export const MIGRATIONS: readonly string[] = [
  // 1: runs, step results, SOP snapshots, cooldowns, audit ledger
  `
  CREATE TABLE sop_snapshots (
    hash TEXT PRIMARY KEY,
    definition TEXT NOT NULL          -- JSON of the SOP a run started with
  );
  CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    sop_name TEXT NOT NULL,
    sop_hash TEXT NOT NULL REFERENCES sop_snapshots(hash),
    status TEXT NOT NULL,
    current_step INTEGER NOT NULL,
    total_steps INTEGER NOT NULL,
    trigger_source TEXT NOT NULL,
    trigger_topic TEXT,
    trigger_payload TEXT,
    trigger_timestamp TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    waiting_since TEXT,
    -- what the current step is doing: gate (waiting approval), executing (built-in
    -- action), external (waiting for a reported result); null once finished
    phase TEXT,
    approved INTEGER NOT NULL DEFAULT 0, -- the current step's gate was passed
    attempt INTEGER NOT NULL DEFAULT 0,  -- retries of the current step so far
    reason TEXT
  );
  CREATE INDEX runs_active ON runs(status) WHERE status IN ('running', 'waiting_approval');
  CREATE INDEX runs_sop ON runs(sop_name, seq);
  CREATE TABLE step_results (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    output TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step_number)
  ) WITHOUT ROWID;
  CREATE TABLE cooldowns (
    sop_name TEXT PRIMARY KEY,
    last_finished_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    sop_name TEXT,
    run_id TEXT,
    step_number INTEGER,
    actor TEXT,
    detail TEXT
  );
  CREATE INDEX ledger_run ON ledger(run_id) WHERE run_id IS NOT NULL;
  `,
  // 2: webhook idempotency keys and cron schedule state
  `
  CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,          -- JSON of the first answer
    expires_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX idempotency_expiry ON idempotency_keys(expires_ms);
  CREATE TABLE cron_state (
    schedule TEXT PRIMARY KEY,       -- the normalised cron expression
    last_fire_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 3: idempotency keys belong to the webhook path they came with. A stored key takes the
  // path from its stored answer; one whose answer names none could never match and goes.
  `
  CREATE TABLE idempotency_keys_by_path (
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    response TEXT NOT NULL,          -- JSON of the first answer
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (path, key)
  ) WITHOUT ROWID;
  INSERT INTO idempotency_keys_by_path (path, key, response, expires_ms)
    SELECT json_extract(response, '$.path'), key, response, expires_ms FROM idempotency_keys
    WHERE CASE WHEN json_valid(response) THEN json_type(response, '$.path') = 'text' ELSE 0 END;
  DROP TABLE idempotency_keys;
  ALTER TABLE idempotency_keys_by_path RENAME TO idempotency_keys;
  CREATE INDEX idempotency_expiry ON idempotency_keys(expires_ms);
  `,
  // 4: the upstream outbox: run events for the upstream broker, written in the transaction
  // of the change they announce and deleted once the broker acknowledged them. The writer
  // hands out ids in order itself (store/outbox.ts), so no AUTOINCREMENT either.
  `
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,             -- below <prefix>/<gateway_id>/
    payload TEXT NOT NULL
  );
  `,
];
