// An actor's images as a virtualized grid of thumbnails, each with its status badge and
// rating. Smooth with 1,000 images and more: the grid is as tall as all its rows, but only
// the rows on screen (and a few either side) are in the DOM, laid out from the grid's
// measured width; rows not loaded yet show as placeholders and ask for their page. A tile
// re-renders only when its own image, selection or focus changes.
import { html } from "htm/preact";
import { Component, createRef } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { thumbnailUrl, useImageSource } from "./api.js";
import { ratingOf, StatusBadge, statusOf } from "./ui.js";

/** Pixels between tiles, across and down. */
const gap = 10;
/** Rows kept in the DOM above and below the screen, so a quick scroll finds tiles ready. */
const overscanRows = 2;

/**
 * The grid's geometry for `count` images of about `tileSize` pixels: columns, tile size,
 * the rows on screen (the page scrolls, not the grid), a `ref` for the grid's element and
 * `reveal(index)`, which scrolls the page so the image's row is in view.
 */
export function useGridLayout(tileSize, count) {
  const element = useRef(null);
  const [width, setWidth] = useState(0);
  const [rows, setRows] = useState({ first: 0, last: -1 });
  const columns = Math.max(1, Math.floor((width + gap) / (tileSize + gap)));
  const tileWidth = width ? (width - gap * (columns - 1)) / columns : tileSize;
  const tileHeight = Math.round((tileWidth * 4) / 3);
  const rowHeight = tileHeight + gap;
  const rowCount = Math.ceil(count / columns);
  const geometry = useRef(null);
  geometry.current = { rowHeight, rowCount, columns, tileHeight };

  const measure = useCallback(() => {
    const node = element.current;
    if (!node) return;
    const { rowHeight, rowCount } = geometry.current;
    const top = node.getBoundingClientRect().top;
    const first = Math.max(0, Math.floor(-top / rowHeight) - overscanRows);
    const last = Math.min(rowCount - 1, Math.floor((innerHeight - top) / rowHeight) + overscanRows);
    setRows((current) => (current.first === first && current.last === last ? current : { first, last }));
  }, []);

  // Rows, tile size or the content above the grid may have changed with any render.
  useLayoutEffect(measure);
  useEffect(() => {
    addEventListener("scroll", measure, { passive: true });
    addEventListener("resize", measure);
    return () => {
      removeEventListener("scroll", measure);
      removeEventListener("resize", measure);
    };
  }, [measure]);

  const observer = useRef(null);
  const ref = useCallback((node) => {
    observer.current?.disconnect();
    element.current = node;
    if (!node) return;
    setWidth(node.clientWidth);
    observer.current = new ResizeObserver(([entry]) => setWidth(entry.contentRect.width));
    observer.current.observe(node);
  }, []);

  const reveal = useCallback((index) => {
    const node = element.current;
    if (!node) return;
    const { rowHeight, columns, tileHeight } = geometry.current;
    const top = node.getBoundingClientRect().top + scrollY + Math.floor(index / columns) * rowHeight;
    // The sticky header and selection bar cover the top of the page (page.css's scroll-padding-top).
    const covered = Number.parseFloat(getComputedStyle(document.documentElement).scrollPaddingTop) || 0;
    if (top < scrollY + covered) scrollTo({ top: top - covered });
    else if (top + tileHeight > scrollY + innerHeight) scrollTo({ top: top + tileHeight + gap - innerHeight });
  }, []);

  return { ref, columns, tileWidth, tileHeight, rowHeight, rowCount, rows, reveal };
}

function Thumbnail({ url, alt }) {
  const source = useImageSource(url);
  return source ? html`<img src=${source} alt=${alt} decoding="async" draggable="false" />` : html`<div class="thumb-wait"></div>`;
}

class Tile extends Component {
  element = createRef();

  shouldComponentUpdate(next) {
    const now = this.props;
    return (
      next.image !== now.image ||
      next.selected !== now.selected ||
      next.focused !== now.focused ||
      next.tabbable !== now.tabbable ||
      next.width !== now.width
    );
  }

  componentDidMount() {
    this.takeFocus();
  }

  componentDidUpdate() {
    this.takeFocus();
  }

  /** Keyboard focus follows the focused image, unless the user is elsewhere on the page. */
  takeFocus() {
    const element = this.element.current;
    const active = document.activeElement;
    if (this.props.focused && element && active !== element && (active === document.body || active?.closest(".grid")))
      element.focus({ preventScroll: true });
  }

  render({ actorName, image, index, selected, focused, tabbable, width, onPick, onRate, onOpen, onFocusTile }) {
    const rating = ratingOf(image.good);
    const rateButton = (value, icon, label) =>
      html`<button class="rate rate-${value.toLowerCase()} ${rating.value === value ? "on" : ""}" tabindex="-1" title=${label} aria-label=${`${label}: ${image.filename}`} aria-pressed=${rating.value === value}
        onClick=${(event) => {
          event.stopPropagation();
          onRate(image, value);
        }}>${icon}</button>`;
    return html`<div
      ref=${this.element}
      class="tile rated-${rating.value.toLowerCase()} ${selected ? "selected" : ""} ${focused ? "focused" : ""}"
      role="gridcell"
      aria-selected=${selected}
      aria-label=${`${image.filename}: ${statusOf(image.status).label.toLowerCase()}, ${rating.label.toLowerCase()}`}
      tabindex=${tabbable ? 0 : -1}
      data-index=${index}
      data-filename=${image.filename}
      data-rating=${rating.value}
      onClick=${(event) => onPick(index, event)}
      onDblClick=${() => onOpen(index)}
      onFocus=${() => onFocusTile(index)}
    >
      <${Thumbnail} url=${thumbnailUrl(actorName, image, width)} alt=${image.filename} />
      <${StatusBadge} status=${image.status} />
      <div class="tile-rate">${rateButton("GOOD", "✓", "Good (G)")}${rateButton("BAD", "✕", "Bad (B)")}</div>
      <div class="tile-caption"><span>#${image.index ?? "?"}</span>${image.orphan ? html`<span title="Found on disk or in S3, not in a manifest"> orphan</span>` : null}</div>
    </div>`;
  }
}

/**
 * `images` are the loaded ones of `count`; `onNeed(n)` asks for the first n to be loaded
 * when rows past the loaded ones come on screen.
 */
export function ImageGrid({ actorName, images, count, layout, selection, focus, onPick, onRate, onOpen, onFocusTile, onNeed }) {
  const { columns, tileWidth, tileHeight, rowHeight, rowCount, rows } = layout;
  const width = tileWidth * (window.devicePixelRatio || 1) > 256 ? 512 : 256;
  const last = Math.min(rows.last, rowCount - 1);
  const shownFrom = rows.first * columns;
  const shownTo = Math.min(count, (last + 1) * columns);
  // One tile is in the page's tab order: the focused one, or the first on screen.
  const tabbable = focus !== null && focus >= shownFrom && focus < shownTo ? focus : shownFrom;

  useEffect(() => {
    if (shownTo > images.length) onNeed(shownTo);
  }, [shownTo, images.length, onNeed]);

  const rowElements = [];
  for (let row = rows.first; row <= last; row++) {
    const cells = [];
    for (let index = row * columns; index < Math.min(count, (row + 1) * columns); index++) {
      const image = images[index];
      cells.push(
        image
          ? html`<${Tile}
              key=${image.filename}
              actorName=${actorName}
              image=${image}
              index=${index}
              selected=${selection.has(image.filename)}
              focused=${focus === index}
              tabbable=${tabbable === index}
              width=${width}
              onPick=${onPick}
              onRate=${onRate}
              onOpen=${onOpen}
              onFocusTile=${onFocusTile}
            />`
          : html`<div key=${`pending-${index}`} class="tile-pending" role="gridcell" aria-busy="true" data-index=${index}></div>`,
      );
    }
    rowElements.push(
      html`<div key=${row} class="grid-row" role="row" aria-rowindex=${row + 1} style=${{ top: `${row * rowHeight}px`, gridTemplateColumns: `repeat(${columns}, ${tileWidth}px)`, gridAutoRows: `${tileHeight}px`, gap: `${gap}px` }}>${cells}</div>`,
    );
  }
  return html`<div class="grid" role="grid" aria-label="Training images" aria-multiselectable="true" aria-rowcount=${rowCount} aria-colcount=${columns} ref=${layout.ref} style=${{ height: `${Math.max(0, rowCount * rowHeight - gap)}px` }}>
    ${rowElements}
  </div>`;
}
