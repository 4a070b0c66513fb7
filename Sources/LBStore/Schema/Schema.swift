/// The database schema as an ordered list of forward-only migrations.
///
/// `migrations[i]` takes a database from `user_version` i to i + 1. A released migration is never
/// edited; a change to the schema is a new entry at the end.
enum Schema {
    /// Marks a file as ours (`PRAGMA application_id`): "LBS1" in ASCII.
    static let applicationID: Int32 = 0x4C42_5331

    static var currentVersion: Int { migrations.count }

    static let migrations: [String] = [
        // 1: the registry, the event log and the balancer's own state.
        """
        CREATE TABLE backends (
            id            INTEGER PRIMARY KEY,
            url           TEXT NOT NULL UNIQUE,
            weight        INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 0),
            admin_state   TEXT NOT NULL DEFAULT 'enabled'
                          CHECK (admin_state IN ('enabled', 'drained', 'disabled')),
            health        TEXT NOT NULL DEFAULT 'unknown' CHECK (health IN ('up', 'down', 'unknown')),
            health_since  INTEGER NOT NULL,
            added_at      INTEGER NOT NULL,
            removed_at    INTEGER
        );
        CREATE TABLE events (
            id          INTEGER PRIMARY KEY,
            at          INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            backend_id  INTEGER REFERENCES backends(id),
            request_id  TEXT,
            attempt     INTEGER,
            detail      TEXT
        );
        CREATE INDEX events_at ON events(at);
        CREATE TABLE balancer_state (
            id               INTEGER PRIMARY KEY CHECK (id = 1),
            cursor           INTEGER NOT NULL DEFAULT 0,
            last_start       INTEGER,
            last_clean_stop  INTEGER,
            saved_at         INTEGER
        );
        INSERT INTO balancer_state (id) VALUES (1);
        """,
        // 2: compact health history: one row per run of equal check results.
        """
        CREATE TABLE health_runs (
            id              INTEGER PRIMARY KEY,
            backend_id      INTEGER NOT NULL REFERENCES backends(id),
            passed          INTEGER NOT NULL CHECK (passed IN (0, 1)),
            first_at        INTEGER NOT NULL,
            last_at         INTEGER NOT NULL,
            count           INTEGER NOT NULL CHECK (count >= 1),
            latency_min_ms  REAL NOT NULL,
            latency_max_ms  REAL NOT NULL,
            latency_sum_ms  REAL NOT NULL,
            last_error      TEXT
        );
        CREATE INDEX health_runs_backend_first ON health_runs(backend_id, first_at);
        CREATE INDEX health_runs_last ON health_runs(last_at);
        """,
        // 3: per-backend and per-kind event look-ups, and where each backend came from.
        """
        CREATE INDEX events_backend_at ON events(backend_id, at);
        CREATE INDEX events_kind_at ON events(kind, at);
        ALTER TABLE backends ADD COLUMN origin TEXT NOT NULL DEFAULT 'runtime'
            CHECK (origin IN ('config', 'runtime'));
        """,
        // 4: a counter bumped by every change an operator can make to the registry, so the daemon
        // can tell its own health writes apart from changes it must reload.
        """
        ALTER TABLE balancer_state ADD COLUMN registry_version INTEGER NOT NULL DEFAULT 0;
        CREATE TRIGGER backends_inserted AFTER INSERT ON backends BEGIN
            UPDATE balancer_state SET registry_version = registry_version + 1 WHERE id = 1;
        END;
        CREATE TRIGGER backends_changed AFTER UPDATE OF url, weight, admin_state, removed_at, origin ON backends BEGIN
            UPDATE balancer_state SET registry_version = registry_version + 1 WHERE id = 1;
        END;
        CREATE TRIGGER backends_deleted AFTER DELETE ON backends BEGIN
            UPDATE balancer_state SET registry_version = registry_version + 1 WHERE id = 1;
        END;
        """,
        // 5: structured facts on events (cause, evidence, actor) for post-incident questions, the
        // per-backend-per-kind look-up they need, and the values the configuration last declared.
        """
        ALTER TABLE events ADD COLUMN data TEXT;
        CREATE INDEX events_backend_kind_at ON events(backend_id, kind, at);
        ALTER TABLE backends ADD COLUMN config_weight INTEGER;
        ALTER TABLE backends ADD COLUMN config_admin_state TEXT;
        """,
        // 6: admin changes by backend, action and time, so the latest add, removal, weight or
        // origin of a backend before any instant is one index seek however long its history
        // (`lbctl backends --at`, `lbctl why`). The action is `data.action`, else the detail's first
        // word (rows written before v5); `Store.eventActionSQL` must match this expression exactly.
        """
        CREATE INDEX events_backend_action_at ON events(backend_id,
            coalesce(CASE WHEN json_valid(data) THEN json_extract(data, '$.action') END,
                     substr(detail, 1, instr(detail || ' ', ' ') - 1)),
            at) WHERE kind = 'admin_change';
        """,
        // 7: how many occurrences a row stands for. What comes by the thousand (the balancer's own
        // error answers, refused client requests) is written as one row per second with its exact
        // count; every reader sums this column rather than counting rows. Older rows count 1.
        """
        ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1);
        """,
        // 8: the daemons that use the database (one, or a fleet sharing PostgreSQL), each by its
        // instance name, the instance that wrote each event and health run (NULL before v8), and
        // each instance's own view of each backend's health (`backends.health` is the latest
        // written by any). A daemon on PostgreSQL writes into a local file first, its outbox: how
        // far it has been sent is in `outbox_marks`.
        """
        CREATE TABLE instances (
            name          TEXT PRIMARY KEY,
            host          TEXT NOT NULL,
            pid           INTEGER NOT NULL,
            listen        TEXT NOT NULL,
            version       TEXT NOT NULL,
            started_at    INTEGER NOT NULL,
            heartbeat_at  INTEGER NOT NULL,
            stopped_at    INTEGER
        );
        ALTER TABLE events ADD COLUMN instance TEXT;
        ALTER TABLE health_runs ADD COLUMN instance TEXT;
        CREATE INDEX events_instance_at ON events(instance, at);
        CREATE TABLE backend_health (
            backend_id  INTEGER NOT NULL REFERENCES backends(id),
            instance    TEXT NOT NULL,
            health      TEXT NOT NULL CHECK (health IN ('up', 'down', 'unknown')),
            since       INTEGER NOT NULL,
            PRIMARY KEY (backend_id, instance)
        );
        CREATE TABLE outbox_marks (
            name   TEXT PRIMARY KEY,
            value  INTEGER NOT NULL
        );
        """,
        // 9: each daemon's health runs of a backend as a series of their own, in time order: the
        // readers of health history seek a series' runs in a window, and the run before it.
        """
        CREATE INDEX health_runs_series ON health_runs(backend_id, instance, first_at);
        """,
        // 10: every per-backend setting lives in the registry (`BackendSetting`): the backup mark
        // and the backend's own limits, each beside the value the configuration last declared
        // (NULL: not declared), under the rule weight and admin state follow. A change to any of
        // them is a registry change the daemons reload.
        """
        ALTER TABLE backends ADD COLUMN backup INTEGER NOT NULL DEFAULT 0 CHECK (backup IN (0, 1));
        ALTER TABLE backends ADD COLUMN max_connections INTEGER CHECK (max_connections >= 1);
        ALTER TABLE backends ADD COLUMN connect_timeout_ms INTEGER CHECK (connect_timeout_ms >= 1);
        ALTER TABLE backends ADD COLUMN response_timeout_ms INTEGER CHECK (response_timeout_ms >= 1);
        ALTER TABLE backends ADD COLUMN tls_verify INTEGER NOT NULL DEFAULT 1 CHECK (tls_verify IN (0, 1));
        ALTER TABLE backends ADD COLUMN config_backup INTEGER;
        ALTER TABLE backends ADD COLUMN config_max_connections INTEGER;
        ALTER TABLE backends ADD COLUMN config_connect_timeout_ms INTEGER;
        ALTER TABLE backends ADD COLUMN config_response_timeout_ms INTEGER;
        ALTER TABLE backends ADD COLUMN config_tls_verify INTEGER;
        DROP TRIGGER backends_changed;
        CREATE TRIGGER backends_changed AFTER UPDATE OF url, weight, admin_state, removed_at, origin, backup,
                max_connections, connect_timeout_ms, response_timeout_ms, tls_verify ON backends BEGIN
            UPDATE balancer_state SET registry_version = registry_version + 1 WHERE id = 1;
        END;
        """,
    ]
}
