-- Configuration replication between the gateways of a group (see docs/operator-guide.md, "Replication").
-- Every change to a replicated table is captured by a trigger into the changelog, tagged with the revision
-- of the write that made it, so a leader can ship exactly the row changes of each revision to its followers
-- and a follower can replay them in the same order. BLOB columns travel as hex.

CREATE TABLE changelog (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  revision INTEGER NOT NULL,
  tbl      TEXT NOT NULL,
  op       TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
  pk       TEXT NOT NULL,
  row      TEXT
);
CREATE INDEX changelog_by_revision ON changelog (revision);

-- The leadership epoch each revision was written in: two gateways agree on history up to revision R only if
-- they agree on R's epoch. A diverged follower is re-seeded from a snapshot instead of replaying.
CREATE TABLE revision_epochs (
  revision INTEGER PRIMARY KEY,
  epoch    INTEGER NOT NULL
);
INSERT INTO revision_epochs (revision, epoch) SELECT value, 0 FROM revision;

CREATE TABLE replication_state (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  epoch  INTEGER NOT NULL,
  leader TEXT
);
INSERT INTO replication_state (id, epoch, leader) VALUES (1, 0, NULL);

-- The changelog triggers (one AFTER INSERT, UPDATE and DELETE per replicated table) are generated from
-- REPLICATED_TABLES (appliance/store/replicated-tables.ts) and installed by the migrator after the SQL migrations
-- (appliance/store/changelog-triggers.ts). They used to be written out here and redefined by 004; a database
-- created that way holds exactly the generated text.
