-- Lets the reconciler ask cheaply whether anything the data plane is built from (mappings, routes, egress IPs)
-- changed since its last pass, so that writes which do not touch the data plane cost it nothing.
CREATE INDEX changelog_by_table ON changelog (tbl, revision);
