import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * What the proxy does to a request `decide` picked:
 * - an S3 error answer (`status`, `code`): 503 SlowDown, 500 InternalError, …;
 * - `reset: "request"`: the connection is destroyed before any answer (ECONNRESET);
 * - `reset: "answer"`: forwarded (the server acts on it), then the connection is destroyed instead of answering;
 * - `reset: "body"`: forwarded, then the connection is destroyed halfway through the answer's body;
 * - `stall: true`: forwarded, half the answer's body is sent, then nothing more until the proxy stops
 *   (a transfer caught in flight, e.g. for a process killed mid-download).
 */
export type Fault = { status: number; code: string; message?: string } | { reset: "request" | "answer" | "body" } | { stall: true };

export interface SeenRequest {
  method: string;
  /** Path and query as sent, e.g. `/bucket?list-type=2&prefix=…`. */
  url: string;
  /** The SDK's `amz-sdk-request: attempt=N; max=M` header: 1 for a first try, 2+ for retries. */
  attempt: number;
}

export interface FaultProxy {
  endpoint: string;
  /** Every request seen, faulted or forwarded. */
  seen: SeenRequest[];
  faults: number;
  /** Answers now held halfway by a `stall` fault. */
  stalled: number;
  stop(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of s3rver that answers the requests `decide` picks with
 * an S3 error (503 SlowDown, 500 InternalError, …) and forwards the rest unchanged. The
 * Host header is forwarded as sent, so SigV4 signatures made for the proxy still verify.
 * It exercises the SDK's real retry path, which a mocked `send` never does.
 */
export async function startFaultProxy(target: string, decide: (request: SeenRequest) => Fault | null): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const proxy: FaultProxy = { endpoint: "", seen: [], faults: 0, stalled: 0, stop: async () => {} };
  const server = createServer((req: IncomingMessage, res) => {
    const attempt = Number(/attempt=(\d+)/.exec(String(req.headers["amz-sdk-request"] ?? ""))?.[1] ?? 1);
    const seen: SeenRequest = { method: req.method ?? "GET", url: req.url ?? "/", attempt };
    proxy.seen.push(seen);
    const fault = decide(seen);
    if (fault && "reset" in fault && fault.reset === "request") {
      proxy.faults += 1;
      req.socket.destroy();
      return;
    }
    if (fault && "status" in fault) {
      proxy.faults += 1;
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message><RequestId>fault-proxy</RequestId></Error>`;
      res.writeHead(fault.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const upstream = request(
      { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (fault && "reset" in fault && fault.reset === "answer") {
          proxy.faults += 1;
          answer.resume();
          res.socket?.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!fault) {
          answer.pipe(res);
          return;
        }
        proxy.faults += 1;
        cutHalfway(answer, res, () => {
          if ("stall" in fault) proxy.stalled += 1;
          else res.socket?.destroy();
        });
      },
    );
    upstream.on("error", (error) => {
      if (res.headersSent) return; // cut on purpose (a reset or stall fault)
      res.writeHead(502);
      res.end(String(error));
    });
    req.pipe(upstream);
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

/** Forwards the first half of the answer's body (by its Content-Length), then calls `cut`. */
function cutHalfway(answer: IncomingMessage, res: ServerResponse, cut: () => void): void {
  const length = Number(answer.headers["content-length"] ?? 0);
  let left = Math.floor(length / 2);
  let done = false;
  answer.on("data", (chunk: Buffer) => {
    if (done) return;
    if (chunk.length < left) {
      res.write(chunk);
      left -= chunk.length;
      return;
    }
    done = true;
    res.write(chunk.subarray(0, left), () => cut());
    answer.destroy();
  });
  answer.on("end", () => {
    if (!done) {
      done = true;
      cut();
    }
  });
}
