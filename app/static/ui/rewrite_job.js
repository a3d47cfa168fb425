// A rewrite job: progress and events, the report with its plots, and the row browser (expert vs rewritten target
// side by side, filtered by provenance and gate verdict, sorted by NLL, a page at a time from the output file).
import { TERMINAL, age, api, apiAll, el, eventsList, frame, num, pct, poll, progressBar, section, showError, status, table, when } from "./api.js";
import { barChart } from "./charts.js";

const main = frame("Rewrite job");
const jobId = decodeURIComponent(location.pathname.split("/").pop());
const base = `/v1/rewrite_jobs/${encodeURIComponent(jobId)}`;
const VERDICTS = ["pass", "fail", "unverifiable", "none"];

let job = null;
let events = [];
let report = null;
const browser = { source: "output", provenance: "", verdict: "", sort: "file", order: "asc", limit: 20, cursors: [null] };

const slots = {
  header: el("div", { id: "header" }),
  progress: el("div", { id: "progress" }),
  report: el("div", { id: "report" }),
  rows: el("div", { id: "rows" }),
  events: el("div", { id: "events-slot" }),
};

function renderHeader() {
  slots.header.replaceChildren(
    el("h1", {}, "Rewrite job ", el("code", {}, job.id), " ", status(job.status)),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "Strategy"), el("dd", {}, job.strategy),
      el("dt", {}, "Model"), el("dd", {}, job.adapter ? `${job.model} + ${job.adapter}` : job.model),
      el("dt", {}, "Input file"), el("dd", {}, el("code", {}, job.input_file_id)),
      el("dt", {}, "Created"), el("dd", {}, `${when(job.created_at)} (${age(job.created_at)})`),
      el("dt", {}, "Finished"), el("dd", {}, when(job.finished_at)),
      job.error ? [el("dt", {}, "Error"), el("dd", { class: "error" }, job.error.message)] : null,
    ),
  );
}

function renderProgress() {
  const c = job.row_counts;
  const p = job.progress;
  slots.progress.replaceChildren(
    section(
      "Progress",
      progressBar(p.percent, `${p.percent}% · shard ${p.shards_done}/${p.shards_total ?? "?"} · ${c.completed}/${c.total ?? "?"} rows`),
      el(
        "p",
        {},
        `${c.kept} kept, ${c.dropped} dropped. By provenance: `,
        Object.entries(c.by_provenance).map(([k, v]) => el("span", { class: `prov prov-${k}` }, `${k} ${v}`)),
      ),
    ),
  );
}

function renderReport() {
  if (!report) {
    slots.report.replaceChildren(
      section("Report", el("p", { class: "empty" }, TERMINAL.has(job.status) ? "This job wrote no report." : "The report comes when the job finishes.")),
    );
    return;
  }
  const groups = Object.keys(report.by_provenance);
  const before = report.nll_before;
  const after = report.nll_after;
  slots.report.replaceChildren(
    section(
      "Report",
      el(
        "dl",
        { class: "facts", id: "report-facts" },
        el("dt", {}, "Rows"), el("dd", {}, `${report.rows} (${report.rows_kept} kept, ${report.rows_dropped} dropped)`),
        el("dt", {}, "Acceptance rate"), el("dd", {}, pct(report.acceptance_rate)),
        el("dt", {}, "Fallback rate"), el("dd", {}, pct(report.fallback_rate)),
        el("dt", {}, "Candidates passing the gate"), el("dd", {}, `${report.candidates.passed} of ${report.candidates.sampled} (${pct(report.candidates.pass_rate)})`),
        el("dt", {}, "Distinct 2-grams"), el("dd", {}, num(report.distinct_2)),
      ),
      table(
        ["Target NLL under the base", "mean (QA)", "median (QA)", "mean (chat)", "tokens over 1 nat", "mean length (tokens)"],
        [["before (expert)", before], ["after (chosen)", after]].map(([name, side]) =>
          el("tr", {}, el("th", {}, name), el("td", {}, num(side.qa.mean)), el("td", {}, num(side.qa.median)), el("td", {}, num(side.chat.mean)), el("td", {}, pct(side.tokens_over_1nat)), el("td", {}, num(side.length_tokens.mean, 1))),
        ),
        { id: "nll-table" },
      ),
      el(
        "div",
        { class: "charts" },
        barChart("Provenance of the rows", Object.keys(report.provenance), [{ name: "rows", values: Object.values(report.provenance) }], "rows"),
        barChart(
          "Mean target NLL by provenance, before and after",
          groups,
          [
            { name: "before (expert)", values: groups.map((g) => report.by_provenance[g].nll_before.mean) },
            { name: "after (chosen)", values: groups.map((g) => report.by_provenance[g].nll_after.mean) },
          ],
          "nats / token",
        ),
      ),
    ),
  );
}

function select(id, label, value, options, onchange) {
  return el(
    "label",
    {},
    label,
    " ",
    el(
      "select",
      { id, onchange: (e) => onchange(e.target.value) },
      options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)),
    ),
  );
}

function controls() {
  const provenances = Object.keys(job.row_counts.by_provenance);
  const reset = (key) => (value) => {
    browser[key] = value;
    browser.cursors = [null];
    loadRows();
  };
  return el(
    "div",
    { class: "controls" },
    select("source", "File", browser.source, [["output", "output"], ["dropped", "dropped rows"]], reset("source")),
    select("provenance", "Provenance", browser.provenance, [["", "any"], ...provenances.map((p) => [p, p])], reset("provenance")),
    select("verdict", "Gate verdict", browser.verdict, [["", "any"], ...VERDICTS.map((v) => [v, v])], reset("verdict")),
    select("sort", "Sort", browser.sort, [["file", "file order"], ["nll_before", "NLL before"], ["nll_after", "NLL after"]], reset("sort")),
    select("order", "Order", browser.order, [["asc", "ascending"], ["desc", "descending"]], reset("order")),
  );
}

function nllCell(row) {
  if (!row.nll) return el("td", {}, "–");
  const b = row.nll.original.qa;
  const a = row.nll.chosen.qa;
  return el("td", { class: "nll" }, el("span", { class: "nll-before" }, num(b)), " → ", el("span", { class: "nll-after" }, num(a)));
}

function gateCell(row) {
  const g = row.gate || {};
  return el(
    "td",
    { class: "gate" },
    el("span", { class: `verdict verdict-${g.status || "none"}` }, g.status || "none"),
    g.status ? el("div", { class: "small" }, `predicted ${g.predicted ?? "–"} · gold ${g.gold ?? "–"}`) : null,
    g.reason ? el("div", { class: "small" }, g.reason) : null,
    el("div", { class: "small" }, `${row.passed}/${row.attempts} candidates passed`),
  );
}

function rowLine(row) {
  return el(
    "tr",
    { class: "row", "data-id": row.id },
    el("td", { class: "index" }, row.index + 1),
    el("td", {}, el("code", { class: "row-id" }, row.id), el("div", { class: "question" }, row.question)),
    el("td", {}, el("span", { class: `prov prov-${row.provenance} provenance` }, row.provenance)),
    gateCell(row),
    nllCell(row),
    el("td", {}, el("pre", { class: "expert" }, row.expert ?? "(input file deleted)")),
    el("td", {}, el("pre", { class: "target" }, row.target)),
  );
}

async function loadRows() {
  if (!job.output_file_id) {
    slots.rows.replaceChildren(section("Rows", el("p", { class: "empty" }, "Rows can be browsed once the job has written its output.")));
    return;
  }
  const params = new URLSearchParams({ source: browser.source, sort: browser.sort, order: browser.order, limit: browser.limit });
  if (browser.provenance) params.set("provenance", browser.provenance);
  if (browser.verdict) params.set("verdict", browser.verdict);
  const after = browser.cursors[browser.cursors.length - 1];
  if (after) params.set("after", after);
  const body = el("div", { id: "rows-body" }, el("p", { class: "loading" }, "Loading rows…"));
  slots.rows.replaceChildren(section("Rows", controls(), body));
  let page;
  try {
    page = await api(`${base}/rows?${params}`);
  } catch (error) {
    body.replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  const first = (browser.cursors.length - 1) * browser.limit + 1;
  const pager = el(
    "div",
    { class: "pager" },
    el("button", { type: "button", id: "prev", disabled: browser.cursors.length === 1, onclick: () => { browser.cursors.pop(); loadRows(); } }, "← Previous"),
    el("span", { id: "page-info" }, page.data.length ? `Rows ${first}–${first + page.data.length - 1} of the matches` : "No rows match."),
    el("button", { type: "button", id: "next", disabled: !page.has_more, onclick: () => { browser.cursors.push(page.last_id); loadRows(); } }, "Next →"),
  );
  body.replaceChildren(
    page.data.length
      ? table(["#", "Row", "Provenance", "Gate", "NLL before → after", "Expert target", "Rewritten target"], page.data.map(rowLine), { id: "rows-table", class: "rows" })
      : el("p", { class: "empty", id: "no-rows" }, "No rows match these filters."),
    pager,
  );
}

function renderEvents() {
  slots.events.replaceChildren(section("Events", eventsList(events)));
}

async function refresh() {
  const wasDone = job && TERMINAL.has(job.status);
  job = await api(base);
  const fresh = await apiAll(`${base}/events` + (events.length ? `?after=${encodeURIComponent(events[events.length - 1].id)}` : ""));
  events.push(...fresh);
  if (job.report_file_id && !report) report = await api(`/v1/files/${job.report_file_id}/content`);
  renderHeader();
  renderProgress();
  renderReport();
  renderEvents();
  if (!wasDone && TERMINAL.has(job.status)) await loadRows();
}

async function start() {
  await refresh();
  main.replaceChildren(slots.header, slots.progress, slots.report, slots.rows, slots.events);
  if (!TERMINAL.has(job.status)) await loadRows();
  poll(refresh, () => !TERMINAL.has(job.status));
}

start().catch((error) => showError(main, error));
