// One actor's training data, as the studio's Training Data tab showed it: the grid, ratings
// by click or key on one image or a selection, details and the full image, the actor's
// problems, and scan / audit / sync / delete of it.
import { html } from "htm/preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { graphql } from "./api.js";
import { ImageGrid } from "./image-grid.js";
import { DetailsPanel, Lightbox } from "./image-details.js";
import { useJobFinished } from "./jobs.js";
import { DeleteDialog, startAudit, startScan, SyncDialog } from "./operations.js";
import { formatBytes, formatTime, imageFigures, ratingOf, ratings, StatusBar, statusClass, statuses, toast, useStableHandler } from "./ui.js";

// Pages of 500 (the API's largest): the first answer brings the actor and its first 500
// images in one request, so an actor of 1,000 images is on screen after one round trip.
const actorPageQuery = `query ActorPage($name: String!, $after: String) {
  actor(name: $name) {
    name characterId descriptor age gender lastCheckedAt manifestUpdatedAt
    statistics { ${imageFigures} }
    problems { file jsonPath reason }
    trainingImages(first: 500, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { filename index status good sizeBytes md5 checkedAt modifiedAt prompt localPath s3Url viewUrl orphan generation { type generatedAt } }
    }
  }
}`;

const rateMutation = `mutation Rate($name: String!, $filenames: [String!]!, $rating: Rating!) {
  rateImages(name: $name, filenames: $filenames, rating: $rating) {
    __typename ... on ImageOperationPayload { actor { statistics { ${imageFigures} } } } ... on Error { message }
  }
}`;

const isTyping = (target) => target instanceof HTMLElement && (target.matches("input, select, textarea") || target.isContentEditable);

export function ActorView({ name }) {
  const [actor, setActor] = useState(null);
  const [images, setImages] = useState([]);
  const [missing, setMissing] = useState(false);
  const [statusFilter, setStatusFilter] = useState(null);
  const [ratingFilter, setRatingFilter] = useState(null);
  const [selection, setSelection] = useState(() => new Set());
  const [focus, setFocus] = useState(null);
  const [anchor, setAnchor] = useState(null);
  const [viewing, setViewing] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [tileSize, setTileSize] = useState(() => Number(localStorage.getItem("tile-size")) || 168);
  const gridRef = useRef(null);

  const load = useCallback(async () => {
    try {
      let after = null;
      let loaded = [];
      do {
        const { actor: found } = await graphql(actorPageQuery, { name, after });
        if (!found) return setMissing(true);
        if (after === null) setActor(found);
        const page = found.trainingImages;
        loaded = [...loaded, ...page.nodes];
        setImages(loaded);
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      } while (after);
    } catch (error) {
      toast(error.message, "error");
    }
  }, [name]);

  useEffect(() => {
    load();
  }, [load]);
  useJobFinished(useCallback((job) => (job.changedActors?.includes(name) || !job.changedActors?.length) && load(), [name, load]));

  const visible = useMemo(
    () => images.filter((image) => (statusFilter === null || (image.status ?? "UNCHECKED") === statusFilter) && (ratingFilter === null || ratingOf(image.good).value === ratingFilter)),
    [images, statusFilter, ratingFilter],
  );
  const focused = focus !== null ? visible[focus] : undefined;
  const targets = () => (selection.size ? [...selection] : focused ? [focused.filename] : []);

  /** Sets the rating, or clears it when every image named has it already (a toggle). */
  const rate = useCallback(
    async (filenames, value) => {
      const chosen = new Set(filenames);
      const before = images.filter((image) => chosen.has(image.filename));
      const wanted = ratings.find((r) => r.value === value);
      const rating = before.every((image) => ratingOf(image.good).value === value) && value !== "UNRATED" ? "UNRATED" : value;
      const good = ratings.find((r) => r.value === rating).good;
      const apply = (goodOf) => setImages((current) => current.map((image) => (chosen.has(image.filename) ? { ...image, good: goodOf(image) } : image)));
      apply(() => good);
      try {
        const result = (await graphql(rateMutation, { name, filenames, rating })).rateImages;
        if (result.message !== undefined) throw new Error(result.message);
        setActor((current) => ({ ...current, statistics: result.actor.statistics }));
      } catch (error) {
        const previous = new Map(before.map((image) => [image.filename, image.good]));
        apply((image) => previous.get(image.filename));
        toast(`Could not mark ${filenames.length} image(s) ${wanted.label.toLowerCase()}: ${error.message}`, "error");
      }
    },
    [images, name],
  );

  const rateTile = useStableHandler((image, value) => rate(selection.has(image.filename) && selection.size > 1 ? [...selection] : [image.filename], value));

  const pick = useStableHandler((index, event) => {
    const filename = visible[index].filename;
    if (event.shiftKey && anchor !== null) {
      const [from, to] = anchor < index ? [anchor, index] : [index, anchor];
      setSelection(new Set(visible.slice(from, to + 1).map((image) => image.filename)));
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

  useEffect(() => {
    if (focus === null) return;
    const tile = gridRef.current?.querySelector(`[data-index="${focus}"]`);
    tile?.scrollIntoView({ block: "nearest" });
    tile?.focus({ preventScroll: true });
  }, [focus]);

  useEffect(() => {
    if (viewing !== null || dialog) return undefined;
    const onKey = (event) => {
      if (isTyping(event.target) || event.altKey) return;
      const key = event.key.toLowerCase();
      const columns = gridRef.current ? getComputedStyle(gridRef.current).gridTemplateColumns.split(" ").length : 1;
      const moves = { arrowleft: -1, arrowright: 1, arrowup: -columns, arrowdown: columns, home: -Infinity, end: Infinity };
      const rating = ratings.find((r) => r.key === key);
      if (key in moves && visible.length) {
        const next = Math.max(0, Math.min(visible.length - 1, (focus ?? -1) + moves[key]));
        if (event.shiftKey) {
          const start = anchor ?? focus ?? next;
          const [from, to] = start < next ? [start, next] : [next, start];
          setSelection(new Set(visible.slice(from, to + 1).map((image) => image.filename)));
          setAnchor(start);
        }
        setFocus(next);
      } else if (key === " " && focused) {
        const next = new Set(selection);
        next.has(focused.filename) ? next.delete(focused.filename) : next.add(focused.filename);
        setSelection(next);
        setAnchor(focus);
      } else if (key === "a" && (event.ctrlKey || event.metaKey)) setSelection(new Set(visible.map((image) => image.filename)));
      else if (key === "escape") setSelection(new Set());
      else if (key === "enter" && focus !== null) setViewing(focus);
      else if (key === "delete" && targets().length) setDialog("delete");
      else if (rating && !event.ctrlKey && !event.metaKey && targets().length) rate(targets(), rating.value);
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  if (missing) return html`<main class="actor-view"><p class="empty">No actor named ${name}. <a href="#/">Back to all actors</a></p></main>`;
  if (!actor) return html`<main class="actor-view"><p class="loading">Loading ${name}…</p></main>`;
  const s = actor.statistics;
  const run = (start) => start().catch((error) => toast(error.message, "error"));
  const chosen = targets();
  const chip = (active, onClick, className, content) => html`<button class="chip ${className} ${active ? "on" : ""}" aria-pressed=${active} onClick=${onClick}>${content}</button>`;
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
      </div>
    </section>
    <${StatusBar} statistics=${s} />

    ${actor.problems.length
      ? html`<section class="problems" role="alert">
          <strong>⚠ ${actor.problems.length} file(s) about this actor could not be read.</strong> Images are shown from the folder and S3; the file is not overwritten until fixed.
          <ul>${actor.problems.map((p) => html`<li><span class="mono">${p.file}</span>${p.jsonPath ? html` at <span class="mono">${p.jsonPath}</span>` : null}: ${p.reason}</li>`)}</ul>
        </section>`
      : null}

    <section class="toolbar">
      ${chip(statusFilter === null && ratingFilter === null, () => {
        setStatusFilter(null);
        setRatingFilter(null);
      }, "", html`All <strong>${s.totalCount}</strong>`)}
      ${statuses.map((status) => {
        const value = status.value ?? "UNCHECKED";
        const count = s[status.count];
        return count ? chip(statusFilter === value, () => setStatusFilter(statusFilter === value ? null : value), statusClass(status.value), html`${status.icon} ${status.label} <strong>${count}</strong>`) : null;
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
      <button class="link" onClick=${() => setSelection(new Set(visible.map((image) => image.filename)))}>Select all ${visible.length}</button>
      <button class="link" disabled=${!selection.size} onClick=${() => setSelection(new Set())}>Clear</button>
    </section>

    <div class="workspace">
      <${ImageGrid} actorName=${name} images=${visible} selection=${selection} focus=${focus} tileSize=${tileSize} onPick=${pick} onRate=${rateTile} onOpen=${setViewing} gridRef=${gridRef} />
      <${DetailsPanel} actorName=${name} image=${focused} onRate=${(image, value) => rate([image.filename], value)} onOpen=${() => setViewing(focus)} />
    </div>
    ${visible.length === 0 && images.length > 0 ? html`<p class="empty">No image matches these filters.</p>` : null}

    ${viewing !== null && visible[viewing]
      ? html`<${Lightbox}
          actorName=${name}
          image=${visible[viewing]}
          position=${viewing}
          count=${visible.length}
          onRate=${(image, value) => rate([image.filename], value)}
          onStep=${(step) => {
            const next = (viewing + step + visible.length) % visible.length;
            setViewing(next);
            setFocus(next);
          }}
          onClose=${() => setViewing(null)}
        />`
      : null}
    ${dialog === "sync" ? html`<${SyncDialog} actorName=${name} onClose=${() => setDialog(null)} />` : null}
    ${dialog === "delete"
      ? html`<${DeleteDialog}
          actorName=${name}
          filenames=${chosen}
          onClose=${() => setDialog(null)}
          onDone=${() => {
            setSelection(new Set());
            setFocus(null);
            load();
          }}
        />`
      : null}
  </main>`;
}
