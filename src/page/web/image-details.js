// What a curator wants at hand about one image: its details beside the grid, and the full
// image one click (or Enter) away in a viewer that rates and steps through the grid too.
import { html } from "htm/preact";
import { useEffect } from "preact/hooks";
import { thumbnailUrl, useImageSource } from "./api.js";
import { formatBytes, formatTime, ratingOf, ratings, StatusBadge } from "./ui.js";

function RatingButtons({ image, onRate }) {
  const current = ratingOf(image.good).value;
  return html`<div class="rating-buttons" role="group" aria-label="Rating">
    ${ratings.map(
      (
        rating,
      ) => html`<button class="rate-${rating.value.toLowerCase()} ${current === rating.value ? "on" : ""}" aria-pressed=${current === rating.value} onClick=${() => onRate(image, rating.value)} title=${`${rating.label} (${rating.key.toUpperCase()})`}>
        ${rating.icon} ${rating.label}
      </button>`,
    )}
  </div>`;
}

function Detail({ label, children }) {
  return html`<div class="detail"><dt>${label}</dt><dd>${children}</dd></div>`;
}

const keys = [
  ["←↑→↓", "move"],
  ["Shift+arrows", "extend the selection"],
  ["Space", "select or unselect"],
  ["Ctrl+A", "select all"],
  ["Esc", "clear the selection"],
  ["G", "good"],
  ["B", "bad"],
  ["U", "unrated"],
  ["Enter", "open the full image"],
  ["Delete", "delete…"],
];

/** The grid's keys, always on screen beside it. */
function KeyHelp() {
  return html`<dl class="key-help small" aria-label="Keyboard">${keys.map(([key, does]) => html`<dt><kbd>${key}</kbd></dt><dd>${does}</dd>`)}</dl>`;
}

export function DetailsPanel({ actorName, image, onRate, onOpen }) {
  const preview = useImageSource(image ? thumbnailUrl(actorName, image, 512) : "");
  if (!image)
    return html`<aside class="details empty"><p class="muted">Select an image to see its prompt and details.</p><${KeyHelp} /></aside>`;
  return html`<aside class="details" aria-label="Image details">
    <button class="preview" onClick=${onOpen} title="Open the full image (Enter)">${preview ? html`<img src=${preview} alt=${image.filename} />` : null}</button>
    <h3 class="mono">${image.filename}</h3>
    <div class="row"><${StatusBadge} status=${image.status} long /> <button class="link" onClick=${onOpen}>Open full image ↗</button></div>
    <${RatingButtons} image=${image} onRate=${onRate} />
    <dl>
      <${Detail} label="Size">${formatBytes(image.sizeBytes)}<//>
      <${Detail} label="MD5"><span class="mono small">${image.md5 ?? "not hashed yet"}</span><//>
      <${Detail} label="Checked">${image.checkedAt ? html`<span title=${image.checkedAt}>${formatTime(image.checkedAt)}</span>` : "never"}<//>
      <${Detail} label="Modified">${image.modifiedAt ? html`<span title=${image.modifiedAt}>${formatTime(image.modifiedAt)}</span>` : "—"}<//>
      <${Detail} label="Generation">${image.generation ? html`${image.generation.type}${image.generation.generatedAt ? html` · <span title=${image.generation.generatedAt}>${formatTime(image.generation.generatedAt)}</span>` : null}` : "—"}<//>
      <${Detail} label="Local">${image.localPath ? html`<span class="mono small">${image.localPath}</span>` : "—"}<//>
      <${Detail} label="S3">${image.s3Url ? html`<span class="mono small break">${image.s3Url}</span>` : "—"}<//>
    </dl>
    <h4>Prompt</h4>
    <p class="prompt">${image.prompt ?? html`<span class="muted">No prompt recorded.</span>`}</p>
    <${KeyHelp} />
  </aside>`;
}

/** The full image over the page: ←/→ step, G/B/U rate, Escape closes. */
export function Lightbox({ actorName, image, position, count, onRate, onStep, onClose }) {
  const source = useImageSource(image.viewUrl);
  useEffect(() => {
    const onKey = (event) => {
      const key = event.key.toLowerCase();
      const rating = ratings.find((r) => r.key === key);
      if (key === "escape") onClose();
      else if (key === "arrowleft") onStep(-1);
      else if (key === "arrowright") onStep(1);
      else if (rating && !event.ctrlKey && !event.metaKey) onRate(image, rating.value);
      else return;
      event.preventDefault();
      event.stopPropagation();
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [image, onRate, onStep, onClose]);
  return html`<div class="lightbox" role="dialog" aria-modal="true" aria-label=${image.filename} onClick=${(event) => event.target === event.currentTarget && onClose()}>
    <header>
      <span class="mono">${actorName} / ${image.filename}</span>
      <span class="muted">${position + 1} of ${count}</span>
      <${StatusBadge} status=${image.status} long />
      <${RatingButtons} image=${image} onRate=${onRate} />
      <button class="icon" aria-label="Close" onClick=${onClose}>✕</button>
    </header>
    <button class="step prev" aria-label="Previous image" onClick=${() => onStep(-1)}>‹</button>
    ${source ? html`<img class="full" src=${source} alt=${image.filename} />` : html`<p class="muted">Loading…</p>`}
    <button class="step next" aria-label="Next image" onClick=${() => onStep(1)}>›</button>
    ${image.prompt ? html`<footer class="prompt">${image.prompt}</footer>` : null}
  </div>`;
}
