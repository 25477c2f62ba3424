// An actor's images as a grid of thumbnails, each with its status badge and rating.
// Smooth with 1,000 tiles: a tile re-renders only when its own image, selection or focus
// changes, thumbnails load lazily, and the browser skips laying out tiles off screen
// (content-visibility in page.css).
import { html } from "htm/preact";
import { Component } from "preact";
import { thumbnailUrl, useImageSource } from "./api.js";
import { ratingOf, StatusBadge } from "./ui.js";

function Thumbnail({ url, alt }) {
  const source = useImageSource(url);
  return source ? html`<img src=${source} alt=${alt} loading="lazy" decoding="async" draggable="false" />` : html`<div class="thumb-wait"></div>`;
}

class Tile extends Component {
  shouldComponentUpdate(next) {
    const now = this.props;
    return next.image !== now.image || next.selected !== now.selected || next.focused !== now.focused || next.width !== now.width;
  }

  render({ actorName, image, index, selected, focused, width, onPick, onRate, onOpen }) {
    const rating = ratingOf(image.good);
    const rateButton = (value, icon, label) =>
      html`<button class="rate rate-${value.toLowerCase()} ${rating.value === value ? "on" : ""}" title=${label} aria-label=${`${label}: ${image.filename}`} aria-pressed=${rating.value === value}
        onClick=${(event) => {
          event.stopPropagation();
          onRate(image, value);
        }}>${icon}</button>`;
    return html`<div
      class="tile rated-${rating.value.toLowerCase()} ${selected ? "selected" : ""} ${focused ? "focused" : ""}"
      role="gridcell"
      aria-selected=${selected}
      tabindex=${focused ? 0 : -1}
      data-index=${index}
      data-filename=${image.filename}
      data-rating=${rating.value}
      onClick=${(event) => onPick(index, event)}
      onDblClick=${() => onOpen(index)}
    >
      <${Thumbnail} url=${thumbnailUrl(actorName, image, width)} alt=${image.filename} />
      <${StatusBadge} status=${image.status} />
      <div class="tile-rate">${rateButton("GOOD", "✓", "Good (G)")}${rateButton("BAD", "✕", "Bad (B)")}</div>
      <div class="tile-caption"><span>#${image.index ?? "?"}</span>${image.orphan ? html`<span title="Found on disk or in S3, not in a manifest"> orphan</span>` : null}</div>
    </div>`;
  }
}

export function ImageGrid({ actorName, images, selection, focus, tileSize, onPick, onRate, onOpen, gridRef }) {
  const width = tileSize * (window.devicePixelRatio || 1) > 256 ? 512 : 256;
  return html`<div class="grid" role="grid" aria-label="Training images" aria-multiselectable="true" ref=${gridRef} style=${{ "--tile": `${tileSize}px` }}>
    ${images.map(
      (image, index) => html`<${Tile}
        key=${image.filename}
        actorName=${actorName}
        image=${image}
        index=${index}
        selected=${selection.has(image.filename)}
        focused=${focus === index}
        width=${width}
        onPick=${onPick}
        onRate=${onRate}
        onOpen=${onOpen}
      />`,
    )}
  </div>`;
}
