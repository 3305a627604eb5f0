-- The translation log: one row per translated connection, in its own file beside the daemon's store.
-- Kept small because there are tens of millions of rows: addresses are their 4 or 16 bytes (the family follows
-- from the length), times are integer milliseconds, the protocol is its IANA number, and cluster, mapping and
-- boot names are interned in `names`. The gateway is the file's owner, not a column.

CREATE TABLE names (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

-- Append-only: a record is written here once, whole, when its connection ends. Most connections last seconds;
-- while open they live in the small open_translations. Closing by UPDATE of a big table instead rewrote the row
-- in place and moved it in an index, and was the writer's main cost (41,842 events/s at 10 million rows).
--
-- Ids are the exports' identity and break ties in the API's pages: the store allocates them (meta next_id, never
-- lowered, so pruning the newest rows cannot bring an id back), once, when the connection is first seen; the record
-- keeps its id when it moves here, so a client never meets one connection under two ids. Ids are not in start
-- order (a record written from its end event gets its id late), so pages go by (start_ms, id): every index below
-- ends with start_ms, and SQLite appends the id, so within a bucket an index walks that order.
-- Conntrack id and boot are not kept: they only matter while a destroy may still come.
CREATE TABLE translations (
  id INTEGER PRIMARY KEY,
  cluster INTEGER NOT NULL,
  mapping INTEGER NOT NULL,
  protocol INTEGER NOT NULL,
  pod_address BLOB NOT NULL,
  pod_port INTEGER NOT NULL,
  destination_address BLOB NOT NULL,
  destination_port INTEGER NOT NULL,
  egress_address BLOB NOT NULL,
  egress_port INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  -- 1 kernel, 2 gateway-restarted, 3 log-interrupted (rows.ts END_REASONS).
  end_reason INTEGER NOT NULL,
  -- NULL when the end came without counters.
  original_packets INTEGER,
  original_bytes INTEGER,
  reply_packets INTEGER,
  reply_bytes INTEGER
);

-- The reverse lookups (egress IP, port, time) and (pod, time), led by the ten minutes the connection started in
-- (start_ms / 600000; the store's queries repeat this expression exactly). Led by the address alone, every insert
-- would land on a random page of an index of hundreds of megabytes, and each batch would rewrite thousands of
-- pages: measured, 27,000 inserts a second at 2 million rows against 85,000 with the hour first. With the bucket,
-- inserts touch only the current bucket's part of the index; a lookup seeks once per bucket of its (bounded)
-- window. Ten minutes rather than an hour: at 10 million records a day the hour's part grew to thousands of
-- pages, most of them dirtied by every commit (measured at 10 million rows: whole records stored 42,000 → 93,000
-- a second, commit() 58,000 → 66,000 events a second); a 4-hour look-back is then 25 seeks instead of 5.
CREATE INDEX translations_by_egress ON translations (start_ms / 600000, egress_address, egress_port, start_ms);
CREATE INDEX translations_by_pod ON translations (start_ms / 600000, pod_address, start_ms);
-- Range scans (destination queries within a bounded range) and retention.
CREATE INDEX translations_by_start ON translations (start_ms);

-- Connections still open (a few thousand to a few hundred thousand rows): what a destroy closes, what a lookup
-- finds however long ago it started, what is reloaded at start and what an earlier boot left behind.
CREATE TABLE open_translations (
  id INTEGER PRIMARY KEY,
  boot INTEGER NOT NULL,
  conntrack_id INTEGER NOT NULL,
  cluster INTEGER NOT NULL,
  mapping INTEGER NOT NULL,
  protocol INTEGER NOT NULL,
  pod_address BLOB NOT NULL,
  pod_port INTEGER NOT NULL,
  destination_address BLOB NOT NULL,
  destination_port INTEGER NOT NULL,
  egress_address BLOB NOT NULL,
  egress_port INTEGER NOT NULL,
  start_ms INTEGER NOT NULL
);
CREATE INDEX open_translations_by_egress ON open_translations (egress_address, egress_port, start_ms);

CREATE TABLE gaps (
  id INTEGER PRIMARY KEY,
  gateway TEXT NOT NULL,
  from_ms INTEGER NOT NULL,
  to_ms INTEGER,
  reason TEXT NOT NULL CHECK (reason IN ('not-running', 'disk-full', 'store-error'))
);
CREATE INDEX gaps_open ON gaps (to_ms) WHERE to_ms IS NULL;

-- The spool position, the next id and the longest connection seen, written in the same transaction as the rows.
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value ANY
) WITHOUT ROWID;
