-- Tags, target types, saved target filters with auto-assignment, hardware compatibility of
-- distribution sets, rollouts, and per-device configuration (SQLite; twin of
-- ../postgres/0004_rollouts.sql).

CREATE TABLE target_tag (
    target_tag_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    colour        TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    CONSTRAINT target_tag_name_key UNIQUE (name)
);

CREATE TABLE target_tag_assignment (
    target_tag_id INTEGER NOT NULL REFERENCES target_tag (target_tag_id) ON DELETE CASCADE,
    target_id     INTEGER NOT NULL REFERENCES target (target_id) ON DELETE CASCADE,
    PRIMARY KEY (target_tag_id, target_id)
);
CREATE INDEX target_tag_assignment_target_idx ON target_tag_assignment (target_id);

CREATE TABLE target_type (
    target_type_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    CONSTRAINT target_type_name_key UNIQUE (name)
);

ALTER TABLE target ADD COLUMN target_type_id INTEGER REFERENCES target_type (target_type_id) ON DELETE SET NULL;
ALTER TABLE target ADD COLUMN target_group TEXT;

-- Saved queries. auto_assign_ds_id: the distribution set every matching target gets.
CREATE TABLE target_filter (
    target_filter_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name                    TEXT    NOT NULL,
    query                   TEXT    NOT NULL,
    auto_assign_ds_id       INTEGER REFERENCES distribution_set (distribution_set_id) ON DELETE SET NULL,
    auto_assign_action_type TEXT,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    CONSTRAINT target_filter_name_key UNIQUE (name)
);

-- Supported hardware revisions; a distribution set without rows runs on any hardware.
CREATE TABLE distribution_set_hw_revision (
    distribution_set_id INTEGER NOT NULL REFERENCES distribution_set (distribution_set_id) ON DELETE CASCADE,
    hw_revision         TEXT    NOT NULL,
    PRIMARY KEY (distribution_set_id, hw_revision)
);

CREATE TABLE rollout (
    rollout_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    target_filter_query TEXT    NOT NULL,
    distribution_set_id INTEGER NOT NULL REFERENCES distribution_set (distribution_set_id),
    action_type         TEXT    NOT NULL,
    forced_time         INTEGER,
    start_at            INTEGER,
    status              TEXT    NOT NULL,
    approval_remark     TEXT,
    approval_required   INTEGER NOT NULL DEFAULT 0,
    total_targets       INTEGER NOT NULL DEFAULT 0,
    created_by          TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CONSTRAINT rollout_name_key UNIQUE (name)
);
CREATE INDEX rollout_status_idx ON rollout (status);

-- Thresholds are percentages of the group's targets. success_action: nextgroup | pause;
-- error_action: pause. error_threshold NULL: no error condition.
CREATE TABLE rollout_group (
    rollout_group_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id          INTEGER NOT NULL REFERENCES rollout (rollout_id) ON DELETE CASCADE,
    position            INTEGER NOT NULL,
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    target_filter_query TEXT    NOT NULL DEFAULT '',
    target_percentage   REAL    NOT NULL,
    success_threshold   INTEGER NOT NULL,
    success_action      TEXT    NOT NULL,
    error_threshold     INTEGER,
    error_action        TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    total_targets       INTEGER NOT NULL DEFAULT 0,
    skipped_incompatible INTEGER NOT NULL DEFAULT 0,
    next_triggered      INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CONSTRAINT rollout_group_position_key UNIQUE (rollout_id, position)
);

-- Which targets a group holds. A target is in at most one group per rollout. skipped = 1: the
-- target was incompatible with the distribution set when its group started.
CREATE TABLE rollout_target (
    rollout_id       INTEGER NOT NULL REFERENCES rollout (rollout_id) ON DELETE CASCADE,
    rollout_group_id INTEGER NOT NULL REFERENCES rollout_group (rollout_group_id) ON DELETE CASCADE,
    target_id        INTEGER NOT NULL REFERENCES target (target_id) ON DELETE CASCADE,
    skipped          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, target_id)
);
CREATE INDEX rollout_target_group_idx ON rollout_target (rollout_group_id, target_id);

-- Actions remember what created them. The unique index is the last line of defence against two
-- server instances assigning the same rollout group to a target twice; assignment_key does the
-- same for auto-assignments ('auto:<ds>:<target>').
ALTER TABLE action ADD COLUMN rollout_group_id INTEGER REFERENCES rollout_group (rollout_group_id) ON DELETE SET NULL;
ALTER TABLE action ADD COLUMN assignment_key TEXT;
ALTER TABLE action ADD COLUMN forced_time INTEGER;
CREATE UNIQUE INDEX action_rollout_group_target_key ON action (rollout_group_id, target_id);
CREATE UNIQUE INDEX action_assignment_key ON action (assignment_key);
CREATE INDEX action_rollout_group_status_idx ON action (rollout_group_id, status);
CREATE INDEX action_target_ds_idx ON action (target_id, distribution_set_id);

-- Configuration key/values. Every change of a scope is a new revision of that scope; the
-- newest revision is current. scope: tenant (scope_id 0), filter (target_filter_id), target
-- (target_id). entries: JSON {"key": {"value": "...", "secret": bool}}.
CREATE TABLE config_revision (
    config_revision_id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope              TEXT    NOT NULL,
    scope_id           INTEGER NOT NULL,
    revision           INTEGER NOT NULL,
    entries            TEXT    NOT NULL,
    created_by         TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    CONSTRAINT config_revision_scope_key UNIQUE (scope, scope_id, revision)
);

-- Per device: the revision of its merged configuration (bumped whenever the merge changes) and
-- what the device last reported.
CREATE TABLE target_config_state (
    target_id        INTEGER PRIMARY KEY REFERENCES target (target_id) ON DELETE CASCADE,
    revision         INTEGER NOT NULL,
    config_hash      TEXT    NOT NULL,
    applied_revision INTEGER NOT NULL DEFAULT 0,
    applied_error    TEXT,
    applied_at       INTEGER,
    updated_at       INTEGER NOT NULL
);
