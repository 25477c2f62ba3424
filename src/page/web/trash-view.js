// The trash (SPEC.md §7, "Losers are kept"): what repairs and deletions kept instead of
// destroying, filterable by actor and side, paged; restore of one item or a selection (and,
// when something now occupies an item's place, restore moving the occupant to the trash after
// a confirmation); and emptying a selection or everything older than an age, always after
// the dry run's list of what goes for good.
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { graphql } from "./api.js";
import { useActorChanges } from "./live.js";
import { payloadOrThrow } from "./operations.js";
import { PlanDialog } from "./plan-dialog.js";
import { Dialog, formatBytes, formatTime, toast } from "./ui.js";

const itemFields = "id actorName filename side origin md5 bytes trashedAt originalLocation trashLocation versionId";

const trashQuery = `query TrashPage($actorName: String, $side: TrashSide, $after: String) {
  trash(actorName: $actorName, side: $side, first: 50, after: $after) {
    totalCount totalBytes
    pageInfo { hasNextPage endCursor }
    nodes { ${itemFields} }
  }
}`;

const restoreMutation = `mutation RestoreTrash($ids: [Int!]!, $overwrite: Boolean) {
  restoreTrash(ids: $ids, overwrite: $overwrite) {
    __typename
    ... on RestoreTrashPayload { restored { id } failed { error item { id filename } } }
    ... on TrashPlaceOccupiedError { locations }
    ... on Error { message }
  }
}`;

const emptyMutation = `mutation EmptyTrash($ids: [Int!], $olderThan: DateTime, $all: Boolean, $dryRun: Boolean) {
  emptyTrash(ids: $ids, olderThan: $olderThan, all: $all, dryRun: $dryRun) {
    __typename
    ... on EmptyTrashPayload { bytes emptied { ${itemFields} } failed { error item { id filename } } }
    ... on Error { message }
  }
}`;

/** Why an item is in the trash, in the words of SPEC.md §7. */
const origins = {
  REPAIR: { label: "Repair loser", title: "A repair replaced it with the other side's content" },
  DELETE: { label: "Deleted", title: "A deletion removed it" },
  RESTORE: { label: "Moved out by a restore", title: "A restore put a trashed item back in its place" },
};
const sides = { LOCAL: "Local", S3: "S3" };

const day = 24 * 60 * 60 * 1000;
const ages = [
  { value: "1", label: "Trashed more than a day ago" },
  { value: "7", label: "Trashed more than 7 days ago" },
  { value: "30", label: "Trashed more than 30 days ago" },
  { value: "all", label: "Everything in the trash" },
];

const failures = (failed) => failed.map((failure) => `${failure.item.filename}: ${failure.error}`).join("; ");

const variablesOf = (criteria) => ({ actorName: criteria.actor.trim() || null, side: criteria.side || null });

export function TrashView({ actorName }) {
  const [criteria, setCriteria] = useState({ actor: actorName ?? "", side: "" });
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [selection, setSelection] = useState(() => new Set());
  const [dialog, setDialog] = useState(null);
  const variables = variablesOf(criteria);
  // After a restore or an empty: the same criteria, asked again.
  const reload = () => setCriteria((current) => ({ ...current }));
  // A repair or deletion anywhere (another tab, a job, a CLI run) may have trashed something.
  useActorChanges(null, reload);

  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      graphql(trashQuery, variablesOf(criteria)).then(
        (data) => {
          if (!current) return;
          setResult(data.trash);
          setError(null);
          setSelection((chosen) => new Set(data.trash.nodes.filter((item) => chosen.has(item.id)).map((item) => item.id)));
        },
        (failure) => {
          if (!current) return;
          setResult(null);
          setError(failure.message);
        },
      );
    }, 150);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [criteria]);

  const loadMore = async () => {
    const data = await graphql(trashQuery, { ...variables, after: result.pageInfo.endCursor });
    setResult({ ...data.trash, nodes: [...result.nodes, ...data.trash.nodes] });
  };

  const restore = async (ids, overwrite = false) => {
    const answer = (await graphql(restoreMutation, { ids, overwrite })).restoreTrash;
    if (answer.__typename === "TrashPlaceOccupiedError") return answer;
    const payload = payloadOrThrow(answer);
    if (payload.restored.length) toast(`Restored ${payload.restored.length} item(s) to where they came from`);
    if (payload.failed.length) toast(`Not restored: ${failures(payload.failed)}`, "error");
    reload();
    return null;
  };
  const restoreOrAsk = (ids) =>
    restore(ids).then(
      (occupied) => occupied && setDialog({ kind: "occupied", ids, occupied }),
      (failure) => toast(failure.message, "error"),
    );

  const items = result?.nodes ?? [];
  const chosen = items.filter((item) => selection.has(item.id));
  const toggle = (id) => {
    const next = new Set(selection);
    next.has(id) ? next.delete(id) : next.add(id);
    setSelection(next);
  };
  const allChosen = items.length > 0 && chosen.length === items.length;

  return html`<main class="trash-view">
    <section class="actor-head">
      <a href=${actorName ? `#/actor/${encodeURIComponent(actorName)}` : "#/"} class="back">← ${actorName ? actorName : "Actors"}</a>
      <div class="title">
        <h1>Trash</h1>
        <div class="muted small">Losers of repairs and deleted files, kept with their MD5 until the trash is emptied.</div>
      </div>
    </section>

    <section class="toolbar" aria-label="Filters">
      <label class="inline">Actor <input type="search" class="search" placeholder="Every actor (name, then Enter)" value=${criteria.actor} onChange=${(event) => setCriteria({ ...criteria, actor: event.currentTarget.value })} /></label>
      <label class="inline">Side
        <select value=${criteria.side} onChange=${(event) => setCriteria({ ...criteria, side: event.currentTarget.value })}>
          <option value="">Local and S3</option>
          <option value="LOCAL">Local files</option>
          <option value="S3">S3 objects</option>
        </select>
      </label>
      <span class="spacer"></span>
      ${result ? html`<span class="trash-total"><strong>${result.totalCount}</strong> item(s) · ${formatBytes(result.totalBytes)}</span>` : null}
    </section>

    <section class="selection-bar ${chosen.length ? "" : "idle"}" aria-label="Selection">
      <span>${chosen.length ? html`<strong>${chosen.length}</strong> selected` : "Nothing selected"}</span>
      <button class="primary" disabled=${!chosen.length} onClick=${() => restoreOrAsk(chosen.map((item) => item.id))}>Restore selected</button>
      <button class="danger-quiet" disabled=${!chosen.length} onClick=${() => setDialog({ kind: "empty", items: chosen })}>Delete selected for good…</button>
      <span class="spacer"></span>
      <button class="danger-quiet" onClick=${() => setDialog({ kind: "empty", items: null })}>Empty trash…</button>
    </section>

    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <table class="actors trash">
      <thead>
        <tr>
          <th><input type="checkbox" aria-label="Select every item shown" checked=${allChosen} disabled=${!items.length} onChange=${() => setSelection(allChosen ? new Set() : new Set(items.map((item) => item.id)))} /></th>
          <th>Actor</th><th>Image</th><th>Side</th><th class="num">Size</th><th>MD5</th><th>Why</th><th>Trashed</th><th><span class="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (
            item,
          ) => html`<tr key=${item.id} class="trash-row ${selection.has(item.id) ? "selected" : ""}" data-trash-id=${item.id} data-filename=${item.filename}>
            <td><input type="checkbox" aria-label=${`Select ${item.filename} (${sides[item.side]})`} checked=${selection.has(item.id)} onChange=${() => toggle(item.id)} /></td>
            <td><a href=${`#/actor/${encodeURIComponent(item.actorName)}`}>${item.actorName}</a></td>
            <td class="mono" title=${`From ${item.originalLocation}\nKept at ${item.trashLocation ?? `version ${item.versionId}`}`}>${item.filename}</td>
            <td class="side"><span class="badge side-${item.side.toLowerCase()}">${sides[item.side]}</span></td>
            <td class="num size">${formatBytes(item.bytes)}</td>
            <td class="mono small md5">${item.md5 ?? html`<span class="muted">unknown</span>`}</td>
            <td class="origin" title=${origins[item.origin].title}>${origins[item.origin].label}</td>
            <td class="muted small" title=${new Date(item.trashedAt).toLocaleString()}>${formatTime(item.trashedAt)}</td>
            <td><button class="restore" aria-label=${`Restore ${item.filename} (${sides[item.side]})`} onClick=${() => restoreOrAsk([item.id])}>Restore</button></td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${result && items.length === 0 ? html`<p class="empty">The trash holds nothing${variables.actorName || variables.side ? " that matches" : ""}.</p>` : null}
    ${result?.pageInfo.hasNextPage ? html`<button class="more" onClick=${loadMore}>Show more (${items.length} of ${result.totalCount})</button>` : null}

    ${
      dialog?.kind === "occupied"
        ? html`<${OccupiedDialog} occupied=${dialog.occupied} count=${dialog.ids.length} restore=${() => restore(dialog.ids, true)} onClose=${() => setDialog(null)} />`
        : null
    }
    ${
      dialog?.kind === "empty"
        ? html`<${EmptyDialog}
          items=${dialog.items}
          onClose=${() => setDialog(null)}
          onDone=${() => {
            setSelection(new Set());
            reload();
          }}
        />`
        : null
    }
  </main>`;
}

/** The service refused a restore because something is in the way: say where, and offer to trash it. */
function OccupiedDialog({ occupied, count, restore, onClose }) {
  const [confirmed, setConfirmed] = useState(false);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState(null);
  const confirmRef = useRef(null);
  useEffect(() => confirmRef.current?.focus(), []);
  const run = async () => {
    setRunning(true);
    try {
      const still = await restore();
      if (still) throw new Error(still.message);
      onClose();
    } catch (failure) {
      setError(failure.message);
      setRunning(false);
    }
  };
  return html`<${Dialog} title="Something is already there" onClose=${onClose} wide>
    <div class="occupied" role="alert">
      <p>Nothing was restored: ${occupied.locations.length > 1 ? "these places hold" : "this place holds"} something now.</p>
      <ul>${occupied.locations.map((location) => html`<li class="mono">${location}</li>`)}</ul>
      <p class="muted">Restoring anyway moves what is there now to the trash (it can be restored in its turn).</p>
      ${error ? html`<p class="error">${error}</p>` : null}
    </div>
    <footer>
      <label class="confirm"><input ref=${confirmRef} type="checkbox" checked=${confirmed} onChange=${(event) => setConfirmed(event.currentTarget.checked)} /> Yes, move the current one${occupied.locations.length > 1 ? "s" : ""} to the trash</label>
      <button onClick=${onClose}>Cancel</button>
      <button class="danger" disabled=${!confirmed || running} onClick=${run}>${running ? "Working…" : `Restore ${count > 1 ? `${count} items ` : ""}and move the current one to trash`}</button>
    </footer>
  <//>`;
}

/**
 * Empties the chosen `items`, or (items null) everything older than an age: the dry run
 * lists what goes for good, and the run deletes exactly the items that list showed.
 */
function EmptyDialog({ items, onClose, onDone }) {
  const planned = useRef([]);
  const scopeOf = ({ age }) => {
    if (items) return { ids: items.map((item) => item.id) };
    if (age === "all") return { all: true };
    return { olderThan: new Date(Date.now() - Number(age) * day).toISOString() };
  };
  const plan = async (values) => {
    const payload = payloadOrThrow((await graphql(emptyMutation, { ...scopeOf(values), dryRun: true })).emptyTrash);
    planned.current = payload.emptied.map((item) => item.id);
    const summary = `${payload.emptied.length} item(s), ${formatBytes(payload.bytes)}, deleted for good`;
    const steps = payload.emptied.map((item) => ({
      filename: `${item.actorName}/${item.filename}`,
      kind: `delete ${sides[item.side].toLowerCase()}`,
      bytes: item.bytes,
      reason: `${origins[item.origin].label} ${formatTime(item.trashedAt)}${item.md5 ? ` · MD5 ${item.md5}` : ""}`,
    }));
    return { totals: { summary }, groups: steps.length ? [{ title: "Trash", steps }] : [] };
  };
  const run = async () => {
    if (!planned.current.length) return;
    const payload = payloadOrThrow((await graphql(emptyMutation, { ids: planned.current, dryRun: false })).emptyTrash);
    toast(`Deleted ${payload.emptied.length} item(s) for good (${formatBytes(payload.bytes)})`);
    if (payload.failed.length) toast(`Not deleted: ${failures(payload.failed)}`, "error");
    onDone();
  };
  return html`<${PlanDialog}
    title=${items ? `Delete ${items.length} trashed item(s) for good` : "Empty the trash"}
    intro="A dry run first: this is what would be deleted for good. Nothing can bring it back."
    options=${items ? [] : [{ name: "age", label: "What to delete", choices: ages }]}
    initial=${{ age: "30" }}
    plan=${plan}
    run=${run}
    runLabel=${(count) => `Delete ${count} item(s) for good`}
    confirm=${(count) => `Yes, delete these ${count} item(s) for good`}
    onClose=${onClose}
  />`;
}
