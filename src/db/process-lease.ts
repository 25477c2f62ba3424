/**
 * Process leases (SPEC.md §7, several processes): every process that writes through holds a
 * row in `process_leases`, renewed by a heartbeat. Intents, actor locks and jobs carry their
 * owner's id; another process may settle or take them over only once that owner is gone.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { eq } from "drizzle-orm";
import { processLeases, type ProcessLeaseRow } from "./schema.ts";
import type { Db } from "./store.ts";

/** How often a lease is renewed, and how long it lasts unrenewed (an event loop blocked that long loses it). */
export const heartbeatMs = 2_000;
export const leaseMs = 60_000;

/** This process's lease on one database connection, taken on first use and dropped when the store closes. */
export class ProcessLease {
  readonly ownerId = randomUUID();
  readonly pid = process.pid;
  readonly host = hostname();
  readonly command: string;
  private readonly startedAt = new Date().toISOString();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    command: string,
  ) {
    this.command = command.slice(0, 200);
    this.renew();
    this.heartbeat = setInterval(() => this.beat(), heartbeatMs);
    this.heartbeat.unref();
  }

  /** Pushes the expiry on; writes the row again if another process took this one for gone. */
  private renew(): void {
    const expiresAt = Date.now() + leaseMs;
    this.db
      .insert(processLeases)
      .values({ ownerId: this.ownerId, pid: this.pid, host: this.host, command: this.command, startedAt: this.startedAt, expiresAt })
      .onConflictDoUpdate({ target: processLeases.ownerId, set: { expiresAt } })
      .run();
  }

  private beat(): void {
    if (!this.db.$client.open) {
      clearInterval(this.heartbeat);
      return;
    }
    try {
      this.renew();
    } catch {
      // A database busy past its timeout: the next beat tries again, well within the lease.
    }
  }

  release(): void {
    clearInterval(this.heartbeat);
    this.db.delete(processLeases).where(eq(processLeases.ownerId, this.ownerId)).run();
  }
}

const leases = new WeakMap<Db, ProcessLease>();

/** The lease of this process on `db`, taken now if it has none yet (read-only runs never take one). */
export function leaseOf(db: Db): ProcessLease {
  let lease = leases.get(db);
  if (!lease) {
    lease = new ProcessLease(db, process.argv.slice(2).join(" ") || "node");
    leases.set(db, lease);
  }
  return lease;
}

/** Drops this process's lease on `db`, if it took one (the store is closing). */
export function releaseLease(db: Db): void {
  leases.get(db)?.release();
  leases.delete(db);
}

/** Whether the process holding `lease` still runs: not expired, and, on this host, its pid alive. */
export function leaseIsLive(lease: ProcessLeaseRow, now = Date.now()): boolean {
  return lease.expiresAt > now && (lease.host !== hostname() || processRuns(lease.pid));
}

/**
 * Owner ids whose process still runs; leases of gone processes are removed on the way, so
 * what they held (locks, intents, jobs) is seen as orphaned by every reader.
 */
export function liveOwnerIds(db: Db): Set<string> {
  const rows = db.select().from(processLeases).all();
  const gone = rows.filter((row) => !leaseIsLive(row));
  for (const row of gone) db.delete(processLeases).where(eq(processLeases.ownerId, row.ownerId)).run();
  return new Set(rows.filter((row) => !gone.includes(row)).map((row) => row.ownerId));
}

/** The lease row of `ownerId`, if it is there. */
export function leaseById(db: Db, ownerId: string): ProcessLeaseRow | null {
  return db.select().from(processLeases).where(eq(processLeases.ownerId, ownerId)).get() ?? null;
}

/** Whether a process of this machine runs under `pid` (its temporary files and leases are still in use). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
