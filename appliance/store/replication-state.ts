import { sql, type Db } from "./database.js";

/** The newest leadership epoch this gateway has seen, and the leader of it (replication's own state, kept in the store). */
export function replicationState(db: Db): { epoch: number; leader: string | null } {
  return sql(db, "SELECT epoch, leader FROM replication_state WHERE id = 1").get() as { epoch: number; leader: string | null };
}

export function setReplicationState(db: Db, epoch: number, leader: string | null): void {
  sql(db, "UPDATE replication_state SET epoch = ?, leader = ? WHERE id = 1").run(epoch, leader);
}
