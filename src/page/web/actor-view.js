// One actor's training data, as the studio's Training Data tab showed it: the grid, ratings
// by click or key on one image or a selection, details and the full image, the actor's
// problems, and scan / audit / sync / delete of it.
import { html } from "htm/preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { graphql } from "./api.js";
import { ImageGrid, useGridLayout } from "./image-grid.js";
import { DetailsPanel, Lightbox } from "./image-details.js";
import { useActorImages } from "./image-pages.js";
import { useActorChanges } from "./live.js";
import { DeleteDialog, startAudit, startScan, SyncDialog } from "./operations.js";
import {
  formatBytes,
  formatTime,
  imageFigures,
  ratingOf,
  ratings,
  StatusBar,
  statusClass,
  statuses,
  toast,
  useStableHandler,
} from "./ui.js";

const rateMutation = `mutation Rate($name: String!, $filenames: [String!]!, $rating: Rating!) {
  rateImages(name: $name, filenames: $filenames, rating: $rating) {
    __typename ... on ImageOperationPayload { actor { statistics { ${imageFigures} } } } ... on Error { message }
  }
}`;

/** The chips' choice as the service's `TrainingImageFilterInput` (null: every image). */
function imageFilterOf(status, rating) {
  const filter = {};
  if (status === "UNCHECKED") filter.checked = false;
  else if (status) filter.status = [status];
  if (rating) filter.rating = [rating];
  return Object.keys(filter).length ? filter : null;
}

const isTyping = (target) => target instanceof HTMLElement && (target.matches("input, select, textarea") || target.isContentEditable);
/** Space and Enter belong to a focused button or link, not to the grid. */
const isControl = (target) => target instanceof HTMLElement && target.matches("button, a[href], summary");

export function ActorView({ name }) {
  const [statusFilter, setStatusFilter] = useState(null);
  const [ratingFilter, setRatingFilter] = useState(null);
  const filter = useMemo(() => imageFilterOf(statusFilter, ratingFilter), [statusFilter, ratingFilter]);
  const { actor, images, total, missing, loaded, pages } = useActorImages(name, filter);
  const [selection, setSelection] = useState(() => new Set());
  const [focus, setFocus] = useState(null);
  const [anchor, setAnchor] = useState(null);
  const [viewing, setViewing] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [tileSize, setTileSize] = useState(() => Number(localStorage.getItem("tile-size")) || 168);
  const layout = useGridLayout(tileSize, total);

  const complain = (error) => toast(error.message, "error");
  // Another tab, a job or a script changed this actor: its figures and loaded images are read again.
  useActorChanges(name, () => pages.refresh().catch(complain));
  // Positions are the filtered list's: a new filter starts a new list.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the list changes
  useEffect(() => {
    setFocus(null);
    setAnchor(null);
  }, [pages]);

  const focused = focus !== null ? images[focus] : undefined;
  const targets = () => (selection.size ? [...selection] : focused ? [focused.filename] : []);
  /** The filenames of positions from..to (loading the pages between first). */
  const range = async (from, to) => {
    const all = await pages.ensureLoaded(Math.max(from, to) + 1);
    const [low, high] = from < to ? [from, to] : [to, from];
    return new Set(all.slice(low, high + 1).map((image) => image.filename));
  };
  const selectAll = () => pages.ensureLoaded(total).then((all) => setSelection(new Set(all.map((image) => image.filename))), complain);

  /** Sets the rating, or clears it when every image named has it already (a toggle); one request. */
  const rate = async (filenames, value) => {
    const chosen = new Set(filenames);
    const before = new Map(images.filter((image) => chosen.has(image.filename)).map((image) => [image.filename, image.good]));
    const wanted = ratings.find((r) => r.value === value);
    const rating = [...before.values()].every((good) => ratingOf(good).value === value) && value !== "UNRATED" ? "UNRATED" : value;
    const good = ratings.find((r) => r.value === rating).good;
    pages.change((image) => (chosen.has(image.filename) ? { ...image, good } : image));
    try {
      const result = (await pages.writing(graphql(rateMutation, { name, filenames, rating }))).rateImages;
      if (result.message !== undefined) throw new Error(result.message);
      pages.change(
        (image) => image,
        (current) => ({ ...current, statistics: result.actor.statistics }),
      );
    } catch (error) {
      pages.change((image) => (before.has(image.filename) ? { ...image, good: before.get(image.filename) } : image));
      toast(`Could not mark ${filenames.length} image(s) ${wanted.label.toLowerCase()}: ${error.message}`, "error");
    }
  };

  const rateTile = useStableHandler((image, value) =>
    rate(selection.has(image.filename) && selection.size > 1 ? [...selection] : [image.filename], value),
  );
  const focusTile = useStableHandler((index) => index !== focus && setFocus(index));
  const need = useStableHandler((count) => pages.ensureLoaded(count).catch(complain));

  const pick = useStableHandler((index, event) => {
    const filename = images[index].filename;
    if (event.shiftKey && anchor !== null) {
      range(anchor, index).then(setSelection, complain);
    } else if (event.ctrlKey || event.metaKey) {
      const next = new Set(selection);
      next.has(filename) ? next.delete(filename) : next.add(filename);
      setSelection(next);
      setAnchor(index);
    } else {
      setSelection(new Set([filename]));
      setAnchor(index);
    }
    setFocus(index);
  });

  // biome-ignore lint/correctness/useExhaustiveDependencies: follows the focus only
  useEffect(() => {
    if (focus === null) return;
    layout.reveal(focus);
    if (focus >= images.length) need(focus + 1);
  }, [focus]);

  useEffect(() => {
    if (viewing !== null || dialog) return undefined;
    const onKey = (event) => {
      if (isTyping(event.target) || event.altKey) return;
      const key = event.key.toLowerCase();
      if ((key === " " || key === "enter") && isControl(event.target)) return;
      const columns = layout.columns;
      const moves = { arrowleft: -1, arrowright: 1, arrowup: -columns, arrowdown: columns, home: -Infinity, end: Infinity };
      const rating = ratings.find((r) => r.key === key);
      if (key in moves && total) {
        const next = Math.max(0, Math.min(total - 1, (focus ?? -1) + moves[key]));
        if (event.shiftKey) {
          const start = anchor ?? focus ?? next;
          range(start, next).then(setSelection, complain);
          setAnchor(start);
        }
        setFocus(next);
      } else if (key === " " && focused) {
        const next = new Set(selection);
        next.has(focused.filename) ? next.delete(focused.filename) : next.add(focused.filename);
        setSelection(next);
        setAnchor(focus);
      } else if (key === "a" && (event.ctrlKey || event.metaKey)) selectAll();
      else if (key === "escape") setSelection(new Set());
      else if (key === "enter" && focused) setViewing(focus);
      else if (key === "delete" && targets().length) setDialog("delete");
      else if (rating && !event.ctrlKey && !event.metaKey && targets().length) rate(targets(), rating.value);
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  if (missing)
    return html`<main class="actor-view"><p class="empty">No actor named ${name}. <a href="#/">Back to all actors</a></p></main>`;
  if (!actor) return html`<main class="actor-view"><p class="loading">Loading ${name}…</p></main>`;
  const s = actor.statistics;
  const run = (start) => start().catch(complain);
  const chosen = targets();
  const chip = (active, onClick, className, content) =>
    html`<button class="chip ${className} ${active ? "on" : ""}" aria-pressed=${active} onClick=${onClick}>${content}</button>`;
  const setSize = (size) => {
    setTileSize(size);
    localStorage.setItem("tile-size", String(size));
  };

  return html`<main class="actor-view">
    <section class="actor-head">
      <a href="#/" class="back" title="All actors">← Actors</a>
      <div class="title">
        <h1>${actor.name}</h1>
        <div class="muted small">
          ${[actor.characterId && `#${actor.characterId}`, actor.descriptor?.replace(/_/g, " "), actor.age, actor.gender].filter(Boolean).join(" · ")}
          ${" · "}${s.totalCount} images · ${formatBytes(s.totalSizeBytes)} · checked ${formatTime(actor.lastCheckedAt)}
        </div>
      </div>
      <div class="actions">
        <button onClick=${() => run(() => startScan(name))} title="List the folder and S3 prefix (stat only)">Scan</button>
        <button onClick=${() => run(() => startAudit(name))} title="Verify content: local MD5s against S3">Audit</button>
        <button class="primary" onClick=${() => setDialog("sync")}>Sync…</button>
        <a class="button" href=${`#/trash/${encodeURIComponent(name)}`} title="What repairs and deletions of this actor kept">Trash</a>
      </div>
    </section>
    <${StatusBar} statistics=${s} />

    ${
      actor.problems.length
        ? html`<section class="problems" role="alert">
          <strong>⚠ ${actor.problems.length} file(s) about this actor could not be read.</strong> Images are shown from the folder and S3; the file is not overwritten until fixed.
          <ul>${actor.problems.map((p) => html`<li><span class="mono">${p.file}</span>${p.jsonPath ? html` at <span class="mono">${p.jsonPath}</span>` : null}: ${p.reason}</li>`)}</ul>
        </section>`
        : null
    }

    <section class="toolbar">
      ${chip(
        statusFilter === null && ratingFilter === null,
        () => {
          setStatusFilter(null);
          setRatingFilter(null);
        },
        "",
        html`All <strong>${s.totalCount}</strong>`,
      )}
      ${statuses.map((status) => {
        const value = status.value ?? "UNCHECKED";
        const count = s[status.count];
        return count
          ? chip(
              statusFilter === value,
              () => setStatusFilter(statusFilter === value ? null : value),
              statusClass(status.value),
              html`${status.icon} ${status.label} <strong>${count}</strong>`,
            )
          : null;
      })}
      <span class="divider"></span>
      ${ratings.map((rating) => chip(ratingFilter === rating.value, () => setRatingFilter(ratingFilter === rating.value ? null : rating.value), "rating", html`${rating.icon} ${rating.label} <strong>${s[rating.count]}</strong>`))}
      <span class="spacer"></span>
      <label class="inline small">Size <input type="range" min="96" max="320" step="8" value=${tileSize} onInput=${(event) => setSize(Number(event.currentTarget.value))} aria-label="Thumbnail size" /></label>
    </section>

    <section class="selection-bar ${chosen.length ? "" : "idle"}" aria-label="Selection">
      <span>${selection.size > 1 ? html`<strong>${selection.size}</strong> selected` : focused ? html`<span class="mono small">${focused.filename}</span>` : "Nothing selected"}</span>
      ${ratings.map((rating) => html`<button class="rate-${rating.value.toLowerCase()}" disabled=${!chosen.length} onClick=${() => rate(chosen, rating.value)} title=${`Mark ${rating.label.toLowerCase()} (${rating.key.toUpperCase()})`}>${rating.icon} ${rating.label}</button>`)}
      <button disabled=${!chosen.length} onClick=${() => setDialog("delete")} class="danger-quiet">Delete…</button>
      <span class="spacer"></span>
      <button class="link select-all" onClick=${selectAll} disabled=${!total}>Select all ${total}</button>
      <button class="link" disabled=${!selection.size} onClick=${() => setSelection(new Set())}>Clear</button>
    </section>

    <div class="workspace">
      <${ImageGrid} actorName=${name} images=${images} count=${total} layout=${layout} selection=${selection} focus=${focus} onPick=${pick} onRate=${rateTile} onOpen=${setViewing} onFocusTile=${focusTile} onNeed=${need} />
      <${DetailsPanel} actorName=${name} image=${focused} onRate=${(image, value) => rate([image.filename], value)} onOpen=${() => setViewing(focus)} />
    </div>
    ${loaded && total === 0 && filter ? html`<p class="empty">No image matches these filters.</p>` : null}

    ${
      viewing !== null && images[viewing]
        ? html`<${Lightbox}
          actorName=${name}
          image=${images[viewing]}
          position=${viewing}
          count=${total}
          onRate=${(image, value) => rate([image.filename], value)}
          onStep=${(step) => {
            const next = (viewing + step + total) % total;
            pages.ensureLoaded(next + 1).then(() => {
              setViewing(next);
              setFocus(next);
            }, complain);
          }}
          onClose=${() => setViewing(null)}
        />`
        : null
    }
    ${dialog === "sync" ? html`<${SyncDialog} actorName=${name} onClose=${() => setDialog(null)} />` : null}
    ${
      dialog === "delete"
        ? html`<${DeleteDialog}
          actorName=${name}
          filenames=${chosen}
          onClose=${() => setDialog(null)}
          onDone=${() => {
            setSelection(new Set());
            setFocus(null);
            pages.refresh().catch(complain);
          }}
        />`
        : null
    }
  </main>`;
}
