// The list of actors: search, the API's filters, counts by status and rating across the
// matching actors, sorting by column, and the actions on all actors.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { graphql, settings } from "./api.js";
import { useActorChanges } from "./live.js";
import { PruneDialog, startAudit, startScan, SyncDialog } from "./operations.js";
import { formatBytes, formatTime, imageFigures, ratings, StatusBar, statusClass, statuses, toast } from "./ui.js";

const actorsQuery = `query ActorList($filter: ActorFilterInput, $orderBy: ActorOrderInput, $after: String) {
  actors(filter: $filter, orderBy: $orderBy, first: 100, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { name characterId descriptor age gender lastCheckedAt statistics { ${imageFigures} } problems { file } }
  }
  stats(filter: $filter) { actorCount images { ${imageFigures} } }
}`;

const facetsQuery = `{ stats { byDescriptor { key actorCount } byGender { key actorCount } } }`;

const ratingFilters = {
  any: {},
  unrated: { hasUnrated: true },
  bad: { badCount: { gt: 0 } },
  noBad: { badCount: { eq: 0 } },
};

const columns = [
  { label: "Actor", field: "NAME" },
  { label: "Images", field: "IMAGE_COUNT", numeric: true },
  { label: "Sync status" },
  { label: "Good", field: "GOOD_COUNT", numeric: true },
  { label: "Bad / unrated", numeric: true },
  { label: "Size", field: "SIZE", numeric: true },
  { label: "Checked", field: "LAST_CHECKED" },
];

// Kept between visits: coming back from an actor finds the list as it was left.
let remembered = {
  search: "",
  withStatus: [],
  rating: "any",
  gender: "",
  descriptor: "",
  goodBelow: "",
  order: { field: "NAME", descending: false },
};

function filterOf(criteria) {
  const filter = { ...ratingFilters[criteria.rating] };
  if (criteria.search.trim()) filter.nameContains = criteria.search.trim();
  if (criteria.withStatus.length) filter.withStatus = criteria.withStatus;
  if (criteria.gender) filter.gender = criteria.gender;
  if (criteria.descriptor) filter.descriptor = criteria.descriptor;
  if (criteria.goodBelow !== "") filter.goodCount = { lt: Number(criteria.goodBelow) };
  return filter;
}

export function ActorsView({ open }) {
  const [criteria, setCriteria] = useState(remembered);
  const [result, setResult] = useState(null);
  const [facets, setFacets] = useState({ byDescriptor: [], byGender: [] });
  const [dialog, setDialog] = useState(null);
  const update = (change) => setCriteria((current) => (remembered = { ...current, ...change }));

  useEffect(() => {
    graphql(facetsQuery).then(
      (data) => setFacets(data.stats),
      () => {},
    );
  }, []);

  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      graphql(actorsQuery, { filter: filterOf(criteria), orderBy: criteria.order }).then(
        (data) => current && setResult({ ...data, nodes: data.actors.nodes }),
        (error) => toast(error.message, "error"),
      );
    }, 150);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [criteria]);

  // An actor changed (here, in another tab, by a job or a script): the same criteria, asked again.
  useActorChanges(null, () => setCriteria((current) => ({ ...current })));

  const loadMore = async () => {
    const data = await graphql(actorsQuery, {
      filter: filterOf(criteria),
      orderBy: criteria.order,
      after: result.actors.pageInfo.endCursor,
    });
    setResult({ ...data, nodes: [...result.nodes, ...data.actors.nodes] });
  };
  const toggleStatus = (value) =>
    update({
      withStatus: criteria.withStatus.includes(value) ? criteria.withStatus.filter((s) => s !== value) : [...criteria.withStatus, value],
    });
  const sortBy = (field) =>
    update({ order: { field, descending: criteria.order.field === field ? !criteria.order.descending : field !== "NAME" } });
  const images = result?.stats.images;
  const run = (start) => start().catch((error) => toast(error.message, "error"));

  return html`<main class="actors-view">
    <section class="toolbar">
      <input type="search" class="search" placeholder="Search actors by name or id…" value=${criteria.search} onInput=${(event) => update({ search: event.currentTarget.value })} aria-label="Search actors" autofocus />
      <select aria-label="Rating" value=${criteria.rating} onChange=${(event) => update({ rating: event.currentTarget.value })}>
        <option value="any">Any rating</option>
        <option value="unrated">Has unrated images</option>
        <option value="bad">Has bad images</option>
        <option value="noBad">No bad images</option>
      </select>
      <select aria-label="Gender" value=${criteria.gender} onChange=${(event) => update({ gender: event.currentTarget.value })}>
        <option value="">Any gender</option>
        ${facets.byGender.filter((g) => g.key).map((g) => html`<option value=${g.key}>${g.key} (${g.actorCount})</option>`)}
      </select>
      <select aria-label="Descriptor" value=${criteria.descriptor} onChange=${(event) => update({ descriptor: event.currentTarget.value })}>
        <option value="">Any descriptor</option>
        ${facets.byDescriptor.filter((d) => d.key).map((d) => html`<option value=${d.key}>${d.key.replace(/_/g, " ")} (${d.actorCount})</option>`)}
      </select>
      <label class="inline">Fewer than <input type="number" min="0" class="narrow" aria-label="Fewer than this many good images" value=${criteria.goodBelow} onInput=${(event) => update({ goodBelow: event.currentTarget.value })} placeholder="—" /> good</label>
      <span class="spacer"></span>
      <button onClick=${() => run(() => startScan(null))} title="List every actor's folder and S3 prefix (stat only)">Scan all</button>
      <button onClick=${() => run(() => startAudit(null))} title="Verify content: MD5s of local files against S3">Audit all</button>
      <button class="primary" onClick=${() => setDialog("sync")}>Sync all…</button>
      ${settings.storageMode === "mirrored" ? html`<button onClick=${() => setDialog("prune")}>Prune local…</button>` : null}
    </section>

    ${
      images
        ? html`<section class="summary" aria-label="Counts">
          <span class="summary-total"><strong>${result.stats.actorCount}</strong> actors · <strong>${images.totalCount}</strong> images · ${formatBytes(images.totalSizeBytes)}</span>
          ${statuses
            .filter((s) => s.value)
            .map(
              (
                status,
              ) => html`<button class="chip ${statusClass(status.value)} ${criteria.withStatus.includes(status.value) ? "on" : ""}" aria-pressed=${criteria.withStatus.includes(status.value)} onClick=${() => toggleStatus(status.value)} title="Only actors with an image ${status.label.toLowerCase()}">
              ${status.icon} ${status.label} <strong>${images[status.count]}</strong>
            </button>`,
            )}
          <span class="chip status-unchecked">? Not checked <strong>${images.uncheckedCount}</strong></span>
          <span class="divider"></span>
          ${ratings.map((rating) => html`<span class="chip rating">${rating.icon} ${rating.label} <strong>${images[rating.count]}</strong></span>`)}
        </section>`
        : null
    }

    <table class="actors">
      <thead>
        <tr>
          ${columns.map(
            (
              column,
            ) => html`<th class=${column.numeric ? "num" : ""} aria-sort=${criteria.order.field === column.field ? (criteria.order.descending ? "descending" : "ascending") : undefined}>
              ${column.field ? html`<button class="sort" onClick=${() => sortBy(column.field)}>${column.label}${criteria.order.field === column.field ? (criteria.order.descending ? " ↓" : " ↑") : ""}</button>` : column.label}
            </th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${result?.nodes.map((actor) => html`<${ActorRow} key=${actor.name} actor=${actor} open=${open} />`)}
      </tbody>
    </table>
    ${result && result.nodes.length === 0 ? html`<p class="empty">No actor matches.</p>` : null}
    ${result?.actors.pageInfo.hasNextPage ? html`<button class="more" onClick=${loadMore}>Show more (${result.nodes.length} of ${result.actors.totalCount})</button>` : null}
    ${dialog === "sync" ? html`<${SyncDialog} actorName=${null} onClose=${() => setDialog(null)} />` : null}
    ${dialog === "prune" ? html`<${PruneDialog} onClose=${() => setDialog(null)} />` : null}
  </main>`;
}

function ActorRow({ actor, open }) {
  const s = actor.statistics;
  const parts = [actor.descriptor?.replace(/_/g, " "), actor.age, actor.gender].filter((part) => part != null);
  return html`<tr class="actor-row" tabindex="0" data-actor=${actor.name} onClick=${() => open(actor.name)} onKeyDown=${(event) => event.key === "Enter" && open(actor.name)}>
    <td>
      <a href=${`#/actor/${encodeURIComponent(actor.name)}`} class="actor-name" onClick=${(event) => event.stopPropagation()}>${actor.name}</a>
      ${actor.problems.length ? html`<span class="problem-flag" title=${actor.problems.map((p) => p.file).join("\n")}>⚠ ${actor.problems.length}</span>` : null}
      <div class="muted small">${parts.join(" · ")}</div>
    </td>
    <td class="num">${s.totalCount}</td>
    <td class="bar-cell"><${StatusBar} statistics=${s} /></td>
    <td class="num good">${s.goodCount}</td>
    <td class="num"><span class="bad">${s.badCount}</span> / <span class="muted">${s.unratedCount}</span></td>
    <td class="num">${formatBytes(s.totalSizeBytes)}</td>
    <td class="muted small">${formatTime(actor.lastCheckedAt)}</td>
  </tr>`;
}
