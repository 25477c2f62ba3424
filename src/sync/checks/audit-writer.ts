import { confirmUnchangedAudits, writeActorAudits, type ActorAuditWrite } from "../../db/audit-writes.ts";
import type { Db } from "../../db/store.ts";
import type { HashCache } from "../hashing/hash-cache.ts";

/**
 * Writes the actors whose audits finish in the same turn of the event loop in one
 * transaction (each actor in a savepoint of its own with its own revision check), with
 * the hash cache's new rows: a commit per actor costs more than the audit of an
 * unchanged actor does.
 */
export class AuditWriter {
  private queue: {
    write: ActorAuditWrite;
    resolve(value: { outcome: "written" | "stale"; checkedAt: string }): void;
    reject(error: unknown): void;
  }[] = [];
  private confirmations: {
    confirmation: UnchangedConfirmation;
    resolve(value: { checkedAt: string } | null): void;
    reject(error: unknown): void;
  }[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly hashCache: HashCache,
  ) {}

  write(write: ActorAuditWrite): Promise<{ outcome: "written" | "stale"; checkedAt: string }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /** Marks an unchanged actor checked now; null when its rows changed meanwhile (audit it in full). */
  confirm(confirmation: UnchangedConfirmation): Promise<{ checkedAt: string } | null> {
    return new Promise((resolve, reject) => {
      this.confirmations.push({ confirmation, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    const confirmations = this.confirmations.splice(0);
    const checkedAt = new Date().toISOString();
    let outcomes: ("written" | "stale")[];
    let confirmed: boolean[];
    try {
      [outcomes, confirmed] = this.db.$client.transaction(() => {
        this.hashCache.flush();
        return [
          writeActorAudits(
            this.db,
            batch.map((item) => item.write),
            checkedAt,
          ),
          confirmUnchangedAudits(
            this.db,
            confirmations.map((item) => item.confirmation),
            checkedAt,
          ),
        ] as const;
      })();
    } catch (error) {
      for (const item of [...batch, ...confirmations]) item.reject(error);
      return;
    }
    for (const [i, item] of batch.entries()) item.resolve({ outcome: outcomes[i]!, checkedAt });
    for (const [i, item] of confirmations.entries()) item.resolve(confirmed[i] ? { checkedAt } : null);
  }
}

type UnchangedConfirmation = Parameters<typeof confirmUnchangedAudits>[1][number];
