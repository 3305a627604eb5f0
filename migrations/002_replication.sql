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

CREATE TRIGGER egress_ips_changelog_insert AFTER INSERT ON egress_ips BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'egress_ips', 'upsert',
    json_object('address', NEW.address), json_object('address', NEW.address, 'family', NEW.family, 'description', NEW.description, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER egress_ips_changelog_update AFTER UPDATE ON egress_ips BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'egress_ips', 'upsert',
    json_object('address', NEW.address), json_object('address', NEW.address, 'family', NEW.family, 'description', NEW.description, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER egress_ips_changelog_delete AFTER DELETE ON egress_ips BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'egress_ips', 'delete',
    json_object('address', OLD.address), NULL);
END;

CREATE TRIGGER clusters_changelog_insert AFTER INSERT ON clusters BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'clusters', 'upsert',
    json_object('name', NEW.name), json_object('name', NEW.name, 'description', NEW.description, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER clusters_changelog_update AFTER UPDATE ON clusters BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'clusters', 'upsert',
    json_object('name', NEW.name), json_object('name', NEW.name, 'description', NEW.description, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER clusters_changelog_delete AFTER DELETE ON clusters BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'clusters', 'delete',
    json_object('name', OLD.name), NULL);
END;

CREATE TRIGGER cluster_source_ranges_changelog_insert AFTER INSERT ON cluster_source_ranges BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'cluster_source_ranges', 'upsert',
    json_object('cidr', NEW.cidr), json_object('cluster', NEW.cluster, 'cidr', NEW.cidr, 'family', NEW.family, 'range_start', hex(NEW.range_start), 'range_end', hex(NEW.range_end)));
END;

CREATE TRIGGER cluster_source_ranges_changelog_update AFTER UPDATE ON cluster_source_ranges BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'cluster_source_ranges', 'upsert',
    json_object('cidr', NEW.cidr), json_object('cluster', NEW.cluster, 'cidr', NEW.cidr, 'family', NEW.family, 'range_start', hex(NEW.range_start), 'range_end', hex(NEW.range_end)));
END;

CREATE TRIGGER cluster_source_ranges_changelog_delete AFTER DELETE ON cluster_source_ranges BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'cluster_source_ranges', 'delete',
    json_object('cidr', OLD.cidr), NULL);
END;

CREATE TRIGGER cluster_egress_ips_changelog_insert AFTER INSERT ON cluster_egress_ips BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'cluster_egress_ips', 'upsert',
    json_object('address', NEW.address), json_object('address', NEW.address, 'cluster', NEW.cluster));
END;

CREATE TRIGGER cluster_egress_ips_changelog_update AFTER UPDATE ON cluster_egress_ips BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'cluster_egress_ips', 'upsert',
    json_object('address', NEW.address), json_object('address', NEW.address, 'cluster', NEW.cluster));
END;

CREATE TRIGGER cluster_egress_ips_changelog_delete AFTER DELETE ON cluster_egress_ips BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'cluster_egress_ips', 'delete',
    json_object('address', OLD.address), NULL);
END;

CREATE TRIGGER tokens_changelog_insert AFTER INSERT ON tokens BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'tokens', 'upsert',
    json_object('id', NEW.id), json_object('id', NEW.id, 'cluster', NEW.cluster, 'description', NEW.description, 'hash', hex(NEW.hash), 'created_at', NEW.created_at, 'revoked_at', NEW.revoked_at));
END;

CREATE TRIGGER tokens_changelog_update AFTER UPDATE ON tokens BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'tokens', 'upsert',
    json_object('id', NEW.id), json_object('id', NEW.id, 'cluster', NEW.cluster, 'description', NEW.description, 'hash', hex(NEW.hash), 'created_at', NEW.created_at, 'revoked_at', NEW.revoked_at));
END;

CREATE TRIGGER tokens_changelog_delete AFTER DELETE ON tokens BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'tokens', 'delete',
    json_object('id', OLD.id), NULL);
END;

CREATE TRIGGER mappings_changelog_insert AFTER INSERT ON mappings BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'mappings', 'upsert',
    json_object('cluster', NEW.cluster, 'name', NEW.name), json_object('cluster', NEW.cluster, 'name', NEW.name, 'source_cidr', NEW.source_cidr, 'family', NEW.family, 'range_start', hex(NEW.range_start), 'range_end', hex(NEW.range_end), 'egress_ip', NEW.egress_ip, 'destinations', NEW.destinations, 'excluded_destinations', NEW.excluded_destinations, 'labels', NEW.labels, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER mappings_changelog_update AFTER UPDATE ON mappings BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'mappings', 'upsert',
    json_object('cluster', NEW.cluster, 'name', NEW.name), json_object('cluster', NEW.cluster, 'name', NEW.name, 'source_cidr', NEW.source_cidr, 'family', NEW.family, 'range_start', hex(NEW.range_start), 'range_end', hex(NEW.range_end), 'egress_ip', NEW.egress_ip, 'destinations', NEW.destinations, 'excluded_destinations', NEW.excluded_destinations, 'labels', NEW.labels, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER mappings_changelog_delete AFTER DELETE ON mappings BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'mappings', 'delete',
    json_object('cluster', OLD.cluster, 'name', OLD.name), NULL);
END;

CREATE TRIGGER routes_changelog_insert AFTER INSERT ON routes BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'routes', 'upsert',
    json_object('cluster', NEW.cluster, 'prefix', NEW.prefix), json_object('cluster', NEW.cluster, 'prefix', NEW.prefix, 'family', NEW.family, 'range_start', hex(NEW.range_start), 'range_end', hex(NEW.range_end), 'via', NEW.via, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER routes_changelog_update AFTER UPDATE ON routes BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'routes', 'upsert',
    json_object('cluster', NEW.cluster, 'prefix', NEW.prefix), json_object('cluster', NEW.cluster, 'prefix', NEW.prefix, 'family', NEW.family, 'range_start', hex(NEW.range_start), 'range_end', hex(NEW.range_end), 'via', NEW.via, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
END;

CREATE TRIGGER routes_changelog_delete AFTER DELETE ON routes BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'routes', 'delete',
    json_object('cluster', OLD.cluster, 'prefix', OLD.prefix), NULL);
END;

CREATE TRIGGER audit_log_changelog_insert AFTER INSERT ON audit_log BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'audit_log', 'upsert',
    json_object('id', NEW.id), json_object('id', NEW.id, 'revision', NEW.revision, 'at', NEW.at, 'actor', NEW.actor, 'action', NEW.action, 'resource', NEW.resource, 'before', NEW.before, 'after', NEW.after));
END;

CREATE TRIGGER audit_log_changelog_update AFTER UPDATE ON audit_log BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'audit_log', 'upsert',
    json_object('id', NEW.id), json_object('id', NEW.id, 'revision', NEW.revision, 'at', NEW.at, 'actor', NEW.actor, 'action', NEW.action, 'resource', NEW.resource, 'before', NEW.before, 'after', NEW.after));
END;

CREATE TRIGGER audit_log_changelog_delete AFTER DELETE ON audit_log BEGIN
  INSERT INTO changelog (revision, tbl, op, pk, row) VALUES ((SELECT value FROM revision WHERE id = 1), 'audit_log', 'delete',
    json_object('id', OLD.id), NULL);
END;
