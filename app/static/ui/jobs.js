// The jobs page: rewrite jobs, fine-tuning jobs and eval runs with status, progress and age; live while running.
import { TERMINAL, age, api, el, frame, num, poll, progressBar, section, showError, status, table } from "./api.js";

const main = frame("Jobs");
let running = false;

function rewriteRow(job) {
  const c = job.row_counts;
  const label = `${job.progress.percent}% · ${c.completed}/${c.total ?? "?"} rows`;
  return el(
    "tr",
    { "data-id": job.id },
    el("td", {}, el("a", { href: `/ui/rewrite_jobs/${job.id}` }, job.id)),
    el("td", {}, status(job.status)),
    el("td", {}, progressBar(job.progress.percent, label)),
    el("td", {}, job.strategy),
    el("td", {}, job.adapter ? `${job.model} + ${job.adapter}` : job.model),
    el("td", {}, c.kept, " kept / ", c.dropped, " dropped"),
    el("td", { title: String(job.created_at) }, age(job.created_at)),
  );
}

function fineTuneRow(job) {
  const p = job.progress || {};
  const percent = job.status === "succeeded" ? 100 : p.steps ? (100 * (p.step || 0)) / p.steps : 0;
  return el(
    "tr",
    { "data-id": job.id },
    el("td", {}, el("a", { href: `/ui/fine_tuning/jobs/${job.id}` }, job.id)),
    el("td", {}, status(job.status)),
    el("td", {}, progressBar(percent, p.steps ? `step ${p.step || 0}/${p.steps}` : job.status)),
    el("td", {}, job.method.type),
    el("td", {}, job.model),
    el("td", {}, job.fine_tuned_model || "–"),
    el("td", {}, age(job.created_at)),
  );
}

function evalRow(run) {
  const c = run.comparison;
  return el(
    "tr",
    { "data-id": run.id },
    el("td", {}, el("input", { type: "checkbox", class: "pick", value: run.id, disabled: !c })),
    el("td", {}, el("a", { href: `/ui/eval_runs/${run.id}` }, run.id)),
    el("td", {}, status(run.status)),
    el("td", {}, run.adapter ? `${run.model} + ${run.adapter}` : run.model),
    el("td", {}, run.base || "–"),
    el("td", {}, run.suites.join(", ")),
    el("td", {}, c ? `${num(c.gain, 1)} pts` : "–"),
    el("td", {}, c ? `${num(c.forgetting_abs, 1)} pts` : "–"),
    el("td", {}, age(run.created_at)),
  );
}

function compareButton() {
  return el(
    "button",
    {
      type: "button",
      id: "compare",
      onclick: () => {
        const ids = [...document.querySelectorAll("input.pick:checked")].map((box) => box.value);
        location.assign("/ui/forgetting" + (ids.length ? "?ids=" + ids.join(",") : ""));
      },
    },
    "Forgetting table of the selected runs",
  );
}

async function load() {
  const [rewrites, fineTunes, evals] = await Promise.all([
    api("/v1/rewrite_jobs?limit=50"),
    api("/v1/fine_tuning/jobs?limit=50"),
    api("/v1/eval_runs?limit=50"),
  ]);
  const picked = new Set([...document.querySelectorAll("input.pick:checked")].map((box) => box.value));
  main.replaceChildren(
    el("h1", {}, "Jobs"),
    section(
      "Rewrite jobs",
      rewrites.data.length
        ? table(["Job", "Status", "Progress", "Strategy", "Model", "Rows", "Created"], rewrites.data.map(rewriteRow), { id: "rewrite-jobs" })
        : el("p", { class: "empty" }, "No rewrite jobs yet."),
    ),
    section(
      "Fine-tuning jobs",
      fineTunes.data.length
        ? table(["Job", "Status", "Progress", "Method", "Model", "Fine-tuned model", "Created"], fineTunes.data.map(fineTuneRow), { id: "fine-tuning-jobs" })
        : el("p", { class: "empty" }, "No fine-tuning jobs yet."),
    ),
    section(
      "Eval runs",
      evals.data.length
        ? [
            table(["", "Run", "Status", "Model", "Base", "Suites", "Gain", "Forgetting", "Created"], evals.data.map(evalRow), { id: "eval-runs" }),
            compareButton(),
          ]
        : el("p", { class: "empty" }, "No eval runs yet."),
    ),
  );
  for (const box of document.querySelectorAll("input.pick")) box.checked = picked.has(box.value);
  running = [...rewrites.data, ...fineTunes.data, ...evals.data].some((job) => !TERMINAL.has(job.status));
}

load().then(
  () => poll(load, () => running, 3000),
  (error) => showError(main, error),
);
