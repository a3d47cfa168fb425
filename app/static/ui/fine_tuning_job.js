// A fine-tuning job: the loss curve per step (with validation loss where the job logs one), checkpoints, events
// and the resulting model.
import { TERMINAL, age, api, apiAll, el, eventsList, frame, num, poll, progressBar, section, showError, status, table, when } from "./api.js";
import { lineChart } from "./charts.js";

const main = frame("Fine-tuning job");
const jobId = decodeURIComponent(location.pathname.split("/").pop());
const base = `/v1/fine_tuning/jobs/${encodeURIComponent(jobId)}`;
const VALIDATION = ["eval_loss", "validation_loss", "valid_loss", "val_loss"];

let job = null;
let events = [];

function curve(metrics, key) {
  return metrics.filter((m) => typeof m[key] === "number").map((m) => [m.step, m[key]]);
}

function charts(metrics) {
  const loss = [{ name: "training loss", points: curve(metrics, "train_loss") }];
  for (const key of VALIDATION) {
    const points = curve(metrics, key);
    if (points.length) loss.push({ name: `validation loss (${key})`, points });
  }
  const reward = curve(metrics, "reward");
  const accuracy = curve(metrics, "mean_token_accuracy");
  const plots = [
    lineChart("Loss per step", loss.filter((s) => s.points.length), "step", "loss"),
    reward.length ? lineChart("Mean reward per step", [{ name: "reward", points: reward }], "step", "reward") : null,
    accuracy.length ? lineChart("Token accuracy per step", [{ name: "mean token accuracy", points: accuracy }], "step", "accuracy") : null,
  ].filter(Boolean);
  return plots.length ? el("div", { class: "charts", id: "curves" }, plots) : el("p", { class: "empty" }, "No step logged yet.");
}

async function modelSection() {
  if (!job.fine_tuned_model) return section("Resulting model", el("p", { class: "empty" }, job.status === "succeeded" ? "–" : "The model comes when the job succeeds."));
  const model = await api(`/v1/models/${encodeURIComponent(job.fine_tuned_model)}`).catch(() => null);
  const lineage = (model && model.lineage) || {};
  return section(
    "Resulting model",
    el(
      "dl",
      { class: "facts", id: "model" },
      el("dt", {}, "Model"), el("dd", {}, el("code", {}, job.fine_tuned_model)),
      model ? [el("dt", {}, "Kind"), el("dd", {}, model.kind), el("dt", {}, "Parent"), el("dd", {}, model.parent || "–")] : null,
      Object.entries(lineage).map(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]),
      el("dt", {}, "Trained tokens"), el("dd", {}, job.trained_tokens ?? "–"),
    ),
  );
}

async function render() {
  const metrics = events.filter((e) => e.type === "metrics" && typeof e.data.step === "number").map((e) => e.data);
  const checkpoints = await api(`${base}/checkpoints?limit=100`);
  const p = job.progress || {};
  const percent = job.status === "succeeded" ? 100 : p.steps ? (100 * (p.step || 0)) / p.steps : 0;
  main.replaceChildren(
    el("h1", {}, "Fine-tuning job ", el("code", {}, job.id), " ", status(job.status)),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "Method"), el("dd", {}, job.method.type),
      el("dt", {}, "Model"), el("dd", {}, job.model),
      el("dt", {}, "Training file"), el("dd", {}, el("code", {}, job.training_file)),
      el("dt", {}, "Hyperparameters"), el("dd", {}, el("code", {}, JSON.stringify(job.hyperparameters))),
      el("dt", {}, "Created"), el("dd", {}, `${when(job.created_at)} (${age(job.created_at)})`),
      el("dt", {}, "Finished"), el("dd", {}, when(job.finished_at)),
      job.error ? [el("dt", {}, "Error"), el("dd", { class: "error" }, job.error.message)] : null,
    ),
    section("Progress", progressBar(percent, p.steps ? `step ${p.step || 0}/${p.steps}` : job.status)),
    section("Curves", charts(metrics)),
    section(
      "Checkpoints",
      checkpoints.data.length
        ? table(
            ["Checkpoint", "Step", "Model", "Metrics", "Created"],
            checkpoints.data.map((c) =>
              el(
                "tr",
                {},
                el("td", {}, el("code", {}, c.id)),
                el("td", {}, c.step_number),
                el("td", {}, el("code", {}, c.fine_tuned_model_checkpoint)),
                el("td", {}, Object.entries(c.metrics).map(([k, v]) => `${k} ${num(v)}`).join(", ")),
                el("td", {}, when(c.created_at)),
              ),
            ),
            { id: "checkpoints" },
          )
        : el("p", { class: "empty" }, "No checkpoint yet."),
    ),
    await modelSection(),
    section("Events", eventsList(events)),
  );
}

async function refresh() {
  job = await api(base);
  const fresh = await apiAll(`${base}/events` + (events.length ? `?after=${encodeURIComponent(events[events.length - 1].id)}` : ""));
  events.push(...fresh);
  await render();
}

refresh().then(
  () => poll(refresh, () => !TERMINAL.has(job.status)),
  (error) => showError(main, error),
);
