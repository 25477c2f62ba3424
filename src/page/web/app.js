// The Training Data page: routes by the URL's hash (#/ the actors, #/actor/{name} one
// actor, #/trash and #/trash/{name} the trash), asks once for the API token when the service is bound off loopback, and keeps
// the jobs tray and messages on every view.
import { html, render } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { needsToken, setApiToken, settings } from "./api.js";
import { ActorView } from "./actor-view.js";
import { ActorsView } from "./actors-view.js";
import { JobsTray } from "./jobs.js";
import { TrashView } from "./trash-view.js";
import { Toasts } from "./ui.js";

function routeOf(hash) {
  const trash = /^#\/trash(?:\/(.+))?$/.exec(hash);
  if (trash) return { trash: true, actor: trash[1] ? decodeURIComponent(trash[1]) : null };
  const match = /^#\/actor\/(.+)$/.exec(hash);
  return match ? { actor: decodeURIComponent(match[1]) } : { actor: null };
}

function viewOf(route, open) {
  if (route.trash) return html`<${TrashView} key=${`trash/${route.actor}`} actorName=${route.actor} />`;
  if (route.actor) return html`<${ActorView} key=${route.actor} name=${route.actor} />`;
  return html`<${ActorsView} open=${open} />`;
}

function TokenForm() {
  const [value, setValue] = useState("");
  return html`<main class="token-gate">
    <form
      onSubmit=${(event) => {
        event.preventDefault();
        if (value.trim()) setApiToken(value.trim());
      }}
    >
      <h1>API token</h1>
      <p>This service listens beyond this machine, so changes and images need its <code>API_TOKEN</code>. It is kept in this tab only.</p>
      <input type="password" autocomplete="off" aria-label="API token" value=${value} onInput=${(event) => setValue(event.currentTarget.value)} autofocus />
      <button class="primary" type="submit">Continue</button>
    </form>
  </main>`;
}

function App() {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  const [asking, setAsking] = useState(needsToken);
  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    const onToken = () => setAsking(needsToken());
    window.addEventListener("hashchange", onHash);
    window.addEventListener("api-token-changed", onToken);
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("api-token-changed", onToken);
    };
  }, []);
  useEffect(() => {
    const place = route.trash ? ["Trash", route.actor].filter(Boolean).join(" of ") : route.actor;
    document.title = place ? `${place} · Training Data` : "Training Data · actor-manifests";
  }, [route]);
  const open = (name) => {
    location.hash = `#/actor/${encodeURIComponent(name)}`;
  };
  return html`
    <header class="app-header">
      <a href="#/" class="brand"><span class="logo">◧</span> Training Data</a>
      <span class="muted small">${settings.storageMode === "s3-only" ? "S3 only" : "local disk + S3"}</span>
      <span class="spacer"></span>
      <a href="#/trash" class="small" aria-current=${route.trash ? "page" : undefined}>Trash</a>
      <a href="/graphql" class="muted small" target="_blank" rel="noopener">GraphiQL ↗</a>
    </header>
    ${asking ? html`<${TokenForm} />` : viewOf(route, open)}
    <${JobsTray} />
    <${Toasts} />
  `;
}

const root = document.getElementById("app");
root.replaceChildren();
render(html`<${App} />`, root);
