// Several eval runs side by side: the forgetting table (downstream gain next to retention forgetting, per suite).
// `?ids=evrun-a,evrun-b` picks the runs; without it, every finished run of the team measured against a base.
import { api, el, frame, num, pct, section, showError, table } from "./api.js";
import { barChart } from "./charts.js";

const main = frame("Forgetting table");

function signed(value) {
  return value === null || value === undefined ? "–" : `${value >= 0 ? "+" : ""}${value.toFixed(1)}`;
}

async function runs() {
  const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean);
  if (ids.length) return Promise.all(ids.map((id) => api(`/v1/eval_runs/${encodeURIComponent(id)}`)));
  const page = await api("/v1/eval_runs?limit=100");
  return page.data.filter((run) => run.comparison).reverse();
}

async function load() {
  const picked = await runs();
  const compared = picked.filter((run) => run.comparison);
  if (!compared.length) {
    main.replaceChildren(el("h1", {}, "Forgetting table"), el("p", { class: "empty" }, "No finished eval run against a base yet."));
    return;
  }
  const downstream = [...new Set(compared.flatMap((r) => Object.keys(r.comparison.downstream)))];
  const retention = [...new Set(compared.flatMap((r) => Object.keys(r.comparison.retention)))];
  const label = (run) => (run.adapter ? `${run.model} + ${run.adapter}` : run.model);
  const header = [
    "Run",
    "Model",
    "Base",
    ...downstream.map((s) => `${s} (gain, pts)`),
    ...retention.map((s) => `${s} (drop, pts)`),
    "Gain",
    "Forgetting",
    "Forgetting (rel.)",
  ];
  const rows = compared.map((run) => {
    const c = run.comparison;
    return el(
      "tr",
      { "data-id": run.id },
      el("td", {}, el("a", { href: `/ui/eval_runs/${run.id}` }, run.id)),
      el("td", {}, label(run)),
      el("td", {}, run.base),
      downstream.map((s) => el("td", {}, c.downstream[s] ? `${pct(c.downstream[s].tuned)} (${signed(c.downstream[s].gain)})` : "–")),
      retention.map((s) => el("td", {}, c.retention[s] ? `${pct(c.retention[s].tuned)} (${signed(-c.retention[s].drop)})` : "–")),
      el("td", { class: "gain" }, `${signed(c.gain)} pts`),
      el("td", { class: "forgetting" }, `${num(c.forgetting_abs, 1)} pts`),
      el("td", {}, pct(c.forgetting_rel)),
    );
  });
  main.replaceChildren(
    el("h1", {}, "Forgetting table"),
    el("p", { class: "hint" }, "Accuracy of each tuned model, with the change against its base in points: the gain on the downstream suites, the drop on the retention suites."),
    section("Runs", table(header, rows, { id: "forgetting" })),
    el(
      "div",
      { class: "charts" },
      barChart(
        "Gain and forgetting per run (points)",
        compared.map((r) => r.id.slice(-6)),
        [
          { name: "gain", values: compared.map((r) => r.comparison.gain) },
          { name: "forgetting", values: compared.map((r) => r.comparison.forgetting_abs) },
        ],
        "points",
      ),
    ),
  );
}

load().catch((error) => showError(main, error));
