// Nothing destructive runs from the page without its plan on screen first: every such
// operation (sync, delete, prune) opens this dialog, which asks the service for a dry run
// with the chosen options, shows what would be copied, overwritten and deleted, and runs
// only on an explicit click (deletions also behind a confirming checkbox).
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Dialog, PlanView } from "./ui.js";

/**
 * `options`: [{ name, label, choices: [{ value, label }] }]; `plan(values)` resolves to
 * `{ totals, groups: [{ title, steps }] }`; `run(values)` does it; `confirm` is the sentence
 * the user ticks before a deletion.
 */
export function PlanDialog({ title, intro, options = [], initial = {}, plan, run, runLabel, confirm, onClose }) {
  const [values, setValues] = useState(() =>
    Object.fromEntries(options.map((option) => [option.name, initial[option.name] ?? option.choices[0].value])),
  );
  const [planned, setPlanned] = useState(null);
  const [error, setError] = useState(null);
  const [confirmed, setConfirmed] = useState(false);
  const [running, setRunning] = useState(false);
  // The plan is asked again when the options change, not when the caller re-renders.
  const planOf = useRef(plan);
  planOf.current = plan;

  useEffect(() => {
    let current = true;
    setPlanned(null);
    setError(null);
    setConfirmed(false);
    planOf.current(values).then(
      (result) => current && setPlanned(result),
      (failure) => current && setError(failure.message),
    );
    return () => {
      current = false;
    };
  }, [values]);

  const stepCount = planned ? planned.groups.reduce((sum, group) => sum + group.steps.length, 0) : 0;
  const ready = planned && !running && (!confirm || confirmed);
  const start = async () => {
    setRunning(true);
    try {
      await run(values);
      onClose();
    } catch (failure) {
      setError(failure.message);
      setRunning(false);
    }
  };

  return html`<${Dialog} title=${title} onClose=${onClose} wide>
    ${intro ? html`<p class="muted">${intro}</p>` : null}
    ${
      options.length
        ? html`<div class="options">
          ${options.map(
            (option) => html`<label>
              ${option.label}
              <select value=${values[option.name]} onChange=${(event) => setValues({ ...values, [option.name]: event.currentTarget.value })}>
                ${option.choices.map((choice) => html`<option value=${choice.value}>${choice.label}</option>`)}
              </select>
            </label>`,
          )}
        </div>`
        : null
    }
    <section class="plan-body" aria-live="polite">
      ${error ? html`<p class="error">${error}</p>` : null}
      ${!planned && !error ? html`<p class="muted">Working out the plan (a dry run: nothing changes)…</p>` : null}
      ${planned?.totals && planned.groups.length > 1 ? html`<p class="plan-summary">${planned.totals.summary}</p>` : null}
      ${planned?.groups.map(
        (group) => html`<div class="plan-group" key=${group.title}>
          ${planned.groups.length > 1 ? html`<h3>${group.title}</h3>` : null}
          <${PlanView} totals=${planned.groups.length > 1 ? null : planned.totals} steps=${group.steps} />
        </div>`,
      )}
      ${planned && planned.groups.length === 0 ? html`<${PlanView} steps=${[]} />` : null}
    </section>
    <footer>
      ${
        confirm && planned
          ? html`<label class="confirm"><input type="checkbox" checked=${confirmed} onChange=${(event) => setConfirmed(event.currentTarget.checked)} /> ${confirm(stepCount)}</label>`
          : null
      }
      <button onClick=${onClose}>Cancel</button>
      <button class=${confirm ? "danger" : "primary"} disabled=${!ready} onClick=${start}>${running ? "Working…" : runLabel(stepCount)}</button>
    </footer>
  <//>`;
}
