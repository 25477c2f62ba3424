// Following changes made elsewhere (another tab, a job, a mutation from a script): one
// `actorChanged` subscription per tab, shared by the views on screen, each told at most once
// per short window that an actor it shows changed, so it re-reads instead of going stale.
import { useEffect } from "preact/hooks";
import { subscribe } from "./api.js";
import { useStableHandler } from "./ui.js";

const changesSubscription = "subscription ActorChanges { actorChanged { name } }";

/** A job touching many actors sends a burst of events: a view re-reads once per window. */
const coalesceMs = 250;
/** Views come and go on navigation: the stream outlives a moment without listeners. */
const lingerMs = 2000;
const retryMs = { first: 1000, most: 30_000 };

/** Each listener gets an actor's name, or null when changes may have been missed. */
const listeners = new Set();
let stream = null;
let stopTimer = null;

function notify(name) {
  for (const listener of listeners) listener(name);
}

async function follow(signal) {
  let delay = retryMs.first;
  while (!signal.aborted) {
    try {
      for await (const data of subscribe(changesSubscription, {}, signal)) {
        delay = retryMs.first;
        notify(data.actorChanged.name);
      }
    } catch {
      // A broken stream is followed again below; a refused token has already sent the page to the token form.
    }
    if (signal.aborted) return;
    await new Promise((resume) => setTimeout(resume, delay));
    delay = Math.min(delay * 2, retryMs.most);
    // Whatever changed while the stream was down was not announced: every view re-reads.
    if (!signal.aborted) notify(null);
  }
}

function listen(listener) {
  listeners.add(listener);
  clearTimeout(stopTimer);
  if (!stream) {
    stream = new AbortController();
    follow(stream.signal);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size) return;
    stopTimer = setTimeout(() => {
      if (listeners.size || !stream) return;
      stream.abort();
      stream = null;
    }, lingerMs);
  };
}

/**
 * Calls `onChange()` when the actor named (any actor when `name` is null) changed anywhere,
 * this tab included, at most once per `coalesceMs`.
 */
export function useActorChanges(name, onChange) {
  const handler = useStableHandler(onChange);
  useEffect(() => {
    let timer = null;
    const stop = listen((changed) => {
      if (name !== null && changed !== null && changed !== name) return;
      timer ??= setTimeout(() => {
        timer = null;
        handler();
      }, coalesceMs);
    });
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, [name, handler]);
}
