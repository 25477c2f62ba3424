// Small pieces every view uses: sync status and rating vocabulary, figures, dialogs, toasts, plans.
import { html } from "htm/preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { humanSize } from "./human-size.js";

/**
 * A handler whose identity never changes but which always runs the latest `handler`: grid
 * tiles skip re-rendering, so a handler they hold must not close over old state.
 */
export function useStableHandler(handler) {
  const latest = useRef(handler);
  latest.current = handler;
  return useCallback((...args) => latest.current(...args), []);
}

/** The counts and bytes every view shows of an actor or a group (GraphQL `ImageStatistics`). */
export const imageFigures =
  "totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes";

/** SPEC.md §2's statuses, in the order the page lists them; null is "not checked yet". */
export const statuses = [
  { value: "SYNCED", label: "Synced", short: "synced", count: "syncedCount", icon: "⇄" },
  { value: "LOCAL_ONLY", label: "Local only", short: "local", count: "localOnlyCount", icon: "⬆" },
  { value: "S3_ONLY", label: "S3 only", short: "S3", count: "s3OnlyCount", icon: "⬇" },
  { value: "OUT_OF_SYNC", label: "Out of sync", short: "differs", count: "outOfSyncCount", icon: "≠" },
  { value: "MISSING", label: "Missing", short: "missing", count: "missingCount", icon: "∅" },
  { value: null, label: "Not checked", short: "unchecked", count: "uncheckedCount", icon: "?" },
];

export function statusOf(value) {
  return statuses.find((status) => status.value === value) ?? statuses[statuses.length - 1];
}

export const ratings = [
  { value: "GOOD", good: true, label: "Good", icon: "✓", count: "goodCount", key: "g" },
  { value: "BAD", good: false, label: "Bad", icon: "✕", count: "badCount", key: "b" },
  { value: "UNRATED", good: null, label: "Unrated", icon: "–", count: "unratedCount", key: "u" },
];

export function ratingOf(good) {
  return ratings.find((rating) => rating.good === good) ?? ratings[2];
}

export function statusClass(value) {
  return `status-${(value ?? "unchecked").toLowerCase().replace(/_/g, "-")}`;
}

export function StatusBadge({ status, long }) {
  const info = statusOf(status);
  return html`<span class="badge ${statusClass(status)}" title=${info.label}>${info.icon} ${long ? info.label : info.short}</span>`;
}

/** Bytes as the API and the CLI write them (`human-size.js` is served from src/human-size.ts). */
export function formatBytes(bytes) {
  return bytes == null ? "—" : humanSize(bytes);
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function formatTime(iso) {
  if (!iso) return "never";
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const steps = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return relative.format(Math.round(value), "year");
}

/** A horizontal bar with a segment per status, as wide as its share of the images. */
export function StatusBar({ statistics }) {
  const total = statistics.totalCount || 1;
  return html`<div class="status-bar" title=${statuses.map((s) => `${statistics[s.count] ?? 0} ${s.label.toLowerCase()}`).join(", ")}>
    ${statuses.map((status) => {
      const count = statistics[status.count] ?? 0;
      return count > 0 ? html`<span class=${statusClass(status.value)} style=${{ width: `${(100 * count) / total}%` }}></span>` : null;
    })}
  </div>`;
}

/** A modal dialog: Escape or the backdrop closes it. */
export function Dialog({ title, onClose, children, wide }) {
  useEffect(() => {
    const onKey = (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        onClose();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [onClose]);
  return html`<div class="backdrop" onClick=${(event) => event.target === event.currentTarget && onClose()}>
    <div class="dialog ${wide ? "wide" : ""}" role="dialog" aria-modal="true" aria-label=${title}>
      <header><h2>${title}</h2><button class="icon" aria-label="Close" onClick=${onClose}>✕</button></header>
      ${children}
    </div>
  </div>`;
}

/** What an operation would do (or did): its totals and each step, with bytes. */
export function PlanView({ totals, steps, empty }) {
  if (!steps?.length) return html`<p class="plan-empty">${empty ?? "Nothing to do: everything is in place."}</p>`;
  const risky = (step) => step.overwrite || /delete/i.test(step.kind);
  return html`<div class="plan">
    ${totals ? html`<p class="plan-summary">${totals.summary}</p>` : null}
    <table>
      <thead><tr><th>Image</th><th>Step</th><th class="num">Bytes</th><th>Why</th></tr></thead>
      <tbody>
        ${steps.map(
          (step) => html`<tr class=${risky(step) ? "risky" : ""}>
            <td class="mono">${step.filename}</td>
            <td>${step.kind}${step.overwrite ? " (overwrites)" : ""}${step.error ? html` <span class="error">${step.error}</span>` : null}</td>
            <td class="num">${formatBytes(step.bytes)}</td>
            <td class="muted">${step.reason}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

const toastListeners = new Set();

/** Shows a short message at the bottom of the page (errors stay until dismissed). */
export function toast(message, kind = "info") {
  const entry = { id: Math.random(), message, kind };
  for (const listener of toastListeners) listener(entry);
}

export function Toasts() {
  const [entries, setEntries] = useState([]);
  useEffect(() => {
    const listener = (entry) => {
      setEntries((current) => [...current, entry]);
      if (entry.kind !== "error") setTimeout(() => setEntries((current) => current.filter((e) => e !== entry)), 4000);
    };
    toastListeners.add(listener);
    return () => toastListeners.delete(listener);
  }, []);
  return html`<div class="toasts" role="status">
    ${entries.map(
      (entry) => html`<div class="toast ${entry.kind}" key=${entry.id}>
        <span>${entry.message}</span>
        <button class="icon" aria-label="Dismiss" onClick=${() => setEntries((current) => current.filter((e) => e !== entry))}>✕</button>
      </div>`,
    )}
  </div>`;
}
