-- Initial schema. Addresses and prefixes are stored in canonical text form (what the API shows) and, for
-- prefixes, as fixed-width big-endian BLOBs so that overlap checks are index range scans.

CREATE TABLE revision (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);

CREATE TABLE egress_ips (
  address     TEXT PRIMARY KEY,
  family      INTEGER NOT NULL CHECK (family IN (4, 6)),
  description TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

CREATE TABLE clusters (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- A source range belongs to exactly one cluster (enforced by the service layer's overlap check).
CREATE TABLE cluster_source_ranges (
  cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  cidr        TEXT NOT NULL PRIMARY KEY,
  family      INTEGER NOT NULL CHECK (family IN (4, 6)),
  range_start BLOB NOT NULL,
  range_end   BLOB NOT NULL
);
CREATE INDEX cluster_source_ranges_by_start ON cluster_source_ranges (family, range_start);
CREATE INDEX cluster_source_ranges_by_cluster ON cluster_source_ranges (cluster);

-- An egress IP is an identity at the firewall: it may be granted to one cluster only (PRIMARY KEY).
CREATE TABLE cluster_egress_ips (
  address TEXT NOT NULL PRIMARY KEY REFERENCES egress_ips (address) ON DELETE RESTRICT,
  cluster TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE
);
CREATE INDEX cluster_egress_ips_by_cluster ON cluster_egress_ips (cluster);

CREATE TABLE tokens (
  id          TEXT PRIMARY KEY,
  cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  description TEXT NOT NULL DEFAULT '',
  hash        BLOB NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);
CREATE INDEX tokens_by_cluster ON tokens (cluster);

CREATE TABLE mappings (
  cluster               TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  name                  TEXT NOT NULL,
  source_cidr           TEXT NOT NULL UNIQUE,
  family                INTEGER NOT NULL CHECK (family IN (4, 6)),
  range_start           BLOB NOT NULL,
  range_end             BLOB NOT NULL,
  egress_ip             TEXT NOT NULL REFERENCES egress_ips (address) ON DELETE RESTRICT,
  destinations          TEXT NOT NULL DEFAULT '[]',
  excluded_destinations TEXT NOT NULL DEFAULT '[]',
  labels                TEXT NOT NULL DEFAULT '{}',
  created_at            TEXT NOT NULL,
  updated_at            TEXT NOT NULL,
  PRIMARY KEY (cluster, name)
);
CREATE INDEX mappings_by_start ON mappings (family, range_start);
CREATE INDEX mappings_by_egress_ip ON mappings (egress_ip);

CREATE TABLE routes (
  cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  prefix      TEXT NOT NULL UNIQUE,
  family      INTEGER NOT NULL CHECK (family IN (4, 6)),
  range_start BLOB NOT NULL,
  range_end   BLOB NOT NULL,
  via         TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (cluster, prefix)
);
CREATE INDEX routes_by_start ON routes (family, range_start);

CREATE TABLE audit_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  revision   INTEGER NOT NULL,
  at         TEXT NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  resource   TEXT NOT NULL,
  before     TEXT,
  after      TEXT
);
CREATE INDEX audit_log_by_revision ON audit_log (revision);

-- Addresses this daemon put on an interface (single-gateway mode), so that it only ever removes its own.
CREATE TABLE owned_addresses (
  address   TEXT NOT NULL,
  interface TEXT NOT NULL,
  PRIMARY KEY (address, interface)
);
