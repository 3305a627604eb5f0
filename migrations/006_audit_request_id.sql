-- The id of the API request that made a change (X-Request-Id: the client's, or one the gateway generated), so an
-- audit record can be matched with the request's log line on the gateway that answered it. NULL for records written
-- before this migration and for changes that came from no API request.
--
-- The column is this gateway's own: it does not replicate (REPLICATED_TABLES lists it under localColumns). A
-- follower of the previous release refuses a row with a column it does not know, so replicating it would stop
-- replication between the two releases of a pair in the middle of a rolling upgrade. A follower's copy of a record
-- therefore carries no request id; the leader's does.
ALTER TABLE audit_log ADD COLUMN request_id TEXT CHECK (request_id IS NULL OR length(request_id) BETWEEN 1 AND 128);
