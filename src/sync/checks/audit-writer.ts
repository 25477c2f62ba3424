import { confirmUnchangedAudits, writeActorAudits, type ActorAuditWrite } from "../../db/audit-writes.ts";
import type { Db } from "../../db/store.ts";
import type { HashCache } from "../hashing/hash-cache.ts";
import { TickBatch } from "../concurrency.ts";

type UnchangedConfirmation = Parameters<typeof confirmUnchangedAudits>[1][number];

type Outcome = { outcome: "written" | "stale"; checkedAt: string } | { checkedAt: string } | null;

/**
 * Writes the actors whose audits finish in the same turn of the event loop in one transaction (each actor in a
 * savepoint of its own with its own revision check), with the hash cache's new rows: a
 * commit per actor costs more than the audit of an unchanged actor does.
 */
export class AuditWriter {
  private readonly batch: TickBatch<{ write: ActorAuditWrite } | { confirmation: UnchangedConfirmation }, Outcome>;

  constructor(db: Db, hashCache: HashCache) {
    this.batch = new TickBatch((items) => {
      const checkedAt = new Date().toISOString();
      const writes = items.flatMap((item) => ("write" in item ? [item.write] : []));
      const confirmations = items.flatMap((item) => ("confirmation" in item ? [item.confirmation] : []));
      const [outcomes, confirmed] = db.$client.transaction(() => {
        hashCache.flush();
        return [writeActorAudits(db, writes, checkedAt), confirmUnchangedAudits(db, confirmations, checkedAt)] as const;
      })();
      let w = 0;
      let c = 0;
      return items.map((item) => ("write" in item ? { outcome: outcomes[w++]!, checkedAt } : confirmed[c++] ? { checkedAt } : null));
    });
  }

  write(write: ActorAuditWrite): Promise<{ outcome: "written" | "stale"; checkedAt: string }> {
    return this.batch.add({ write }) as Promise<{ outcome: "written" | "stale"; checkedAt: string }>;
  }

  /** Marks an unchanged actor checked now; null when its rows changed meanwhile (audit it in full). */
  confirm(confirmation: UnchangedConfirmation): Promise<{ checkedAt: string } | null> {
    return this.batch.add({ confirmation }) as Promise<{ checkedAt: string } | null>;
  }
}
