-- Egress policies: a mapping's own (mapping = its name) or the cluster's default for mappings without one
-- (mapping = ''). The policy is canonical JSON (mode, defaultAction, rules), validated by the service before it is
-- stored. A policy is not bound to its mapping's row by a foreign key: a declarative PUT of the cluster's mappings
-- deletes and re-inserts every row, which would cascade into the policies; the service removes the policy of a
-- mapping that goes away instead.
CREATE TABLE egress_policies (
  cluster    TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  mapping    TEXT NOT NULL,
  policy     TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (cluster, mapping)
);

-- The admin's floors: what no policy may allow. scope '*' is the global floor (every new connection from the
-- inside); otherwise a cluster's name (cluster names are DNS labels, so '*' cannot be one). rules is canonical JSON.
CREATE TABLE policy_floors (
  scope      TEXT NOT NULL PRIMARY KEY,
  rules      TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
