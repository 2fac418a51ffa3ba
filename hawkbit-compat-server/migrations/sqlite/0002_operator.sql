-- Operator accounts for the management API (SQLite; twin of ../postgres/0002_operator.sql).
-- Passwords are stored as PHC strings (argon2id), never in clear.
CREATE TABLE operator (
    operator_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    CONSTRAINT operator_username_key UNIQUE (username)
);
