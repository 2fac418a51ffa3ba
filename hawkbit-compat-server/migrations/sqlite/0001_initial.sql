-- Initial schema (SQLite). Must stay semantically identical to ../postgres/0001_initial.sql:
-- same tables, columns, constraints and version number.
-- Conventions: singular table names, `<table>_id` primary keys, times as INTEGER milliseconds
-- since the Unix epoch, booleans as INTEGER 0/1 (the portable subset of sqlx's Any driver).

CREATE TABLE target (
    target_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    controller_id      TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    description        TEXT    NOT NULL DEFAULT '',
    security_token     TEXT    NOT NULL,
    request_attributes INTEGER NOT NULL DEFAULT 1,
    last_poll_at       INTEGER,
    created_at         INTEGER NOT NULL,
    CONSTRAINT target_controller_id_key UNIQUE (controller_id)
);

CREATE TABLE target_attribute (
    target_id  INTEGER NOT NULL REFERENCES target (target_id) ON DELETE CASCADE,
    attr_key   TEXT    NOT NULL,
    attr_value TEXT    NOT NULL,
    PRIMARY KEY (target_id, attr_key)
);

CREATE TABLE software_module (
    software_module_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    version            TEXT    NOT NULL,
    module_type        TEXT    NOT NULL,
    vendor             TEXT    NOT NULL DEFAULT '',
    description        TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    CONSTRAINT software_module_name_version_type_key UNIQUE (name, version, module_type)
);

CREATE TABLE software_module_metadata (
    software_module_id INTEGER NOT NULL REFERENCES software_module (software_module_id) ON DELETE CASCADE,
    meta_key           TEXT    NOT NULL,
    meta_value         TEXT    NOT NULL,
    target_visible     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (software_module_id, meta_key)
);

CREATE TABLE artifact (
    artifact_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    software_module_id INTEGER NOT NULL REFERENCES software_module (software_module_id) ON DELETE CASCADE,
    filename           TEXT    NOT NULL,
    sha1               TEXT    NOT NULL,
    md5                TEXT    NOT NULL,
    sha256             TEXT    NOT NULL,
    size               INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    CONSTRAINT artifact_module_filename_key UNIQUE (software_module_id, filename)
);

CREATE TABLE distribution_set (
    distribution_set_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL,
    version             TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    CONSTRAINT distribution_set_name_version_key UNIQUE (name, version)
);

CREATE TABLE distribution_set_module (
    distribution_set_id INTEGER NOT NULL REFERENCES distribution_set (distribution_set_id) ON DELETE CASCADE,
    software_module_id  INTEGER NOT NULL REFERENCES software_module (software_module_id),
    PRIMARY KEY (distribution_set_id, software_module_id)
);

CREATE TABLE action (
    action_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id           INTEGER NOT NULL REFERENCES target (target_id) ON DELETE CASCADE,
    distribution_set_id INTEGER NOT NULL REFERENCES distribution_set (distribution_set_id),
    action_type         TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    active              INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX action_target_active_idx ON action (target_id, active);

CREATE TABLE action_status (
    action_status_id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id        INTEGER NOT NULL REFERENCES action (action_id) ON DELETE CASCADE,
    status           TEXT    NOT NULL,
    code             INTEGER,
    messages         TEXT    NOT NULL,
    occurred_at      INTEGER NOT NULL
);
CREATE INDEX action_status_action_idx ON action_status (action_id, action_status_id);
