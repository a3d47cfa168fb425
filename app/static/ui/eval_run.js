// An eval run: per-suite accuracy against the base, the downstream gain and the forgetting of the retention suites.
import { TERMINAL, age, api, apiAll, el, eventsList, frame, num, pct, poll, section, showError, status, table, when } from "./api.js";
import { barChart } from "./charts.js";

const main = frame("Eval run");
const runId = decodeURIComponent(location.pathname.split("/").pop());
const base = `/v1/eval_runs/${encodeURIComponent(runId)}`;
let run = null;

// Suites, then the team's held-out files (by file id) and harness tasks (by name): the keys of the results.
function names() {
  return run.results ? Object.keys(run.results) : [...run.suites, ...(run.files || []).map((f) => f.file_id)];
}

function suiteRows() {
  const c = run.comparison || { downstream: {}, retention: {} };
  return names().map((suite) => {
    const tuned = run.results && run.results[suite];
    const before = run.base_results && run.base_results[suite];
    const kind = suite in c.downstream ? "downstream" : suite in c.retention ? "retention" : "–";
    const delta = tuned && before ? 100 * (tuned.accuracy - before.accuracy) : null;
    return el(
      "tr",
      { "data-suite": suite },
      el("th", {}, suite),
      el("td", {}, kind),
      el("td", {}, tuned ? pct(tuned.accuracy) : "–"),
      el("td", {}, before ? pct(before.accuracy) : "–"),
      el("td", { class: delta === null ? "" : delta >= 0 ? "up" : "down" }, delta === null ? "–" : `${delta >= 0 ? "+" : ""}${delta.toFixed(1)} pts`),
      el("td", {}, tuned ? tuned.n : "–"),
    );
  });
}

async function refresh() {
  run = await api(base);
  const events = await apiAll(`${base}/events`);
  const c = run.comparison;
  const suites = names();
  main.replaceChildren(
    el("h1", {}, "Eval run ", el("code", {}, run.id), " ", status(run.status)),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "Model"), el("dd", {}, run.adapter ? `${run.model} + ${run.adapter}` : run.model),
      el("dt", {}, "Base"), el("dd", {}, run.base || "–"),
      el("dt", {}, "Rows per suite"), el("dd", {}, run.n),
      el("dt", {}, "Created"), el("dd", {}, `${when(run.created_at)} (${age(run.created_at)})`),
      run.error ? [el("dt", {}, "Error"), el("dd", { class: "error" }, run.error.message)] : null,
    ),
    c
      ? el(
          "dl",
          { class: "facts headline", id: "headline" },
          el("dt", {}, "Gain (downstream, mean)"), el("dd", {}, `${num(c.gain, 1)} pts`),
          el("dt", {}, "Forgetting (retention, mean drop)"), el("dd", {}, `${num(c.forgetting_abs, 1)} pts (${pct(c.forgetting_rel)} of the base)`),
        )
      : null,
    section("Accuracy per suite, file and harness task", table(["Suite / file / task", "Kind", "Accuracy", "Base", "Change", "Rows"], suiteRows(), { id: "suites" })),
    run.results
      ? el(
          "div",
          { class: "charts" },
          barChart(
            "Accuracy per suite",
            suites,
            [
              { name: run.adapter ? `${run.model} + adapter` : run.model, values: suites.map((s) => run.results[s] && 100 * run.results[s].accuracy) },
              run.base_results ? { name: `base (${run.base})`, values: suites.map((s) => run.base_results[s] && 100 * run.base_results[s].accuracy) } : null,
            ].filter(Boolean),
            "accuracy (%)",
          ),
        )
      : null,
    el("p", {}, el("a", { href: `/ui/forgetting?ids=${encodeURIComponent(run.id)}` }, "Open in the forgetting table")),
    section("Events", eventsList(events)),
  );
}

refresh().then(
  () => poll(refresh, () => !TERMINAL.has(run.status)),
  (error) => showError(main, error),
);
