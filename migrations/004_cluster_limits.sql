-- Per-cluster grants and limits that the admin sets: which destinations the cluster's mappings may exclude from
-- translation (a JSON list of canonical prefixes, empty by default, so no tenant can exempt its traffic without a
-- grant), and quota overrides (NULL: the daemon's limits.clusterDefaults apply).
--
-- Mappings stored before this migration keep their excludedDestinations even where no grant covers them; the
-- next write of such a set needs the grant. Granting here automatically would have legitimised exemptions that
-- were never reviewed.

ALTER TABLE clusters ADD COLUMN excludable_destinations TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clusters ADD COLUMN quota_mappings INTEGER CHECK (quota_mappings IS NULL OR quota_mappings BETWEEN 1 AND 1000000);
ALTER TABLE clusters ADD COLUMN quota_routes INTEGER CHECK (quota_routes IS NULL OR quota_routes BETWEEN 1 AND 1000000);
ALTER TABLE clusters ADD COLUMN quota_destinations INTEGER CHECK (quota_destinations IS NULL OR quota_destinations BETWEEN 1 AND 1000000);

-- The new columns replicate: the changelog triggers are generated from REPLICATED_TABLES, which lists them (the
-- migrator recreates the clusters triggers of a database created before).
--
-- Audit retention deletes old records on every gateway by itself (appliance/store/audit-retention.ts), on its own
-- clock and limits. Replicating those deletions would copy up to a whole batch of changelog rows per pruning pass
-- into every follower's history, and a follower would delete records its own retention still keeps. So audit_log
-- has no delete trigger (its spec says `deletesStayLocal`); inserts and updates still replicate, so every gateway
-- holds the same records, each pruned locally.
