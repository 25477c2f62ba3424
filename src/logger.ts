import pino from "pino";

/** Where messages for humans go; the CLI prints them, the server logs them, tests collect them. */
export interface Logger {
  /** `fields` are for a structured log (the service's JSON lines); a plain log prints the message alone. */
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The service's log (SPEC.md §9): JSON lines (pino) when stderr is not a terminal, so a log
 * shipper reads fields, not prose; on a terminal, the same lines as text with a timestamp.
 */
export function serviceLogger(): Logger {
  if (process.stderr.isTTY) {
    const line = (level: string) => (message: string) => console.error(`${new Date().toISOString()} ${level}${message}`);
    return { info: line(""), warn: line("warning: "), error: line("error: ") };
  }
  // Synchronous writes: `serve` exits right after its last line.
  const log = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
  return {
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}
