// The API client every page shares: the team's key lives in this tab's sessionStorage and goes out only as the
// Authorization header (never in a URL, never logged). Also the small DOM helpers the pages build with.
const KEY = "rewriter.apiKey";
export const TERMINAL = new Set(["completed", "failed", "cancelled", "succeeded"]);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function hasKey() {
  return Boolean(sessionStorage.getItem(KEY));
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function logout() {
  sessionStorage.removeItem(KEY);
  location.assign("/ui/login");
}

function toLogin() {
  location.assign("/ui/login?next=" + encodeURIComponent(location.pathname + location.search));
}

// GET a /v1 path with the stored key (or `key`); the parsed JSON, or an ApiError carrying the API's message.
export async function api(path, key = sessionStorage.getItem(KEY)) {
  if (!key) {
    toLogin();
    throw new ApiError(401, "No API key: log in first.");
  }
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, (body.error && body.error.message) || response.statusText);
  }
  return body;
}

// Every page of a cursor list (`after` = the last id), oldest first for events.
export async function apiAll(path, max = 2000) {
  const items = [];
  let after = null;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(path + sep + "limit=100" + (after ? "&after=" + encodeURIComponent(after) : ""));
    items.push(...page.data);
    if (!page.has_more || items.length >= max) return items;
    after = page.last_id;
  }
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function age(unix) {
  if (!unix) return "–";
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function when(unix) {
  return unix ? new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–";
}

export function num(value, digits = 3) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

export function pct(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)}%`;
}

export function status(value) {
  return el("span", { class: `status status-${value}` }, value);
}

export function progressBar(percent, label) {
  const fill = el("div", { class: "progress-fill" });
  fill.style.width = `${Math.min(100, percent || 0)}%`; // through the CSSOM: the CSP forbids inline style attributes
  return el("div", { class: "progress", title: label }, fill, el("span", { class: "progress-label" }, label));
}

export function section(title, ...children) {
  return el("section", {}, el("h2", {}, title), ...children);
}

export function table(headers, rows, attrs = {}) {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

// The page frame: the nav, then `main` filled by the page; requires a key (else the login page).
export function frame(title) {
  if (!hasKey()) {
    toLogin();
    throw new ApiError(401, "No API key: log in first.");
  }
  document.title = `${title} · Rewriter`;
  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    el("a", { href: "/ui/jobs", class: "brand" }, "Rewriter"),
    el("a", { href: "/ui/jobs" }, "Jobs"),
    el("a", { href: "/ui/forgetting" }, "Forgetting table"),
    el("button", { type: "button", class: "link", id: "logout", onclick: logout }, "Log out"),
  );
  return main;
}

// A failed load: 404 reads "Not found" with the API's message (another team's id answers exactly this).
export function showError(main, error) {
  const title = error.status === 404 ? "Not found" : `Error ${error.status || ""}`.trim();
  main.replaceChildren(el("div", { class: "error", id: "error" }, el("h1", {}, title), el("p", {}, error.message)));
}

export function eventsList(events) {
  return el(
    "ol",
    { class: "events", id: "events" },
    events.map((e) =>
      el(
        "li",
        { class: `event level-${e.level}` },
        el("time", {}, when(e.created_at)),
        " ",
        el("span", {}, e.message),
      ),
    ),
  );
}

// Poll `load` every `ms` while `running()` holds; each load re-renders its page.
export function poll(load, running, ms = 2000) {
  const tick = async () => {
    try {
      await load();
    } catch (error) {
      console.warn("refresh failed", error.status);
    }
    if (running()) setTimeout(tick, ms);
  };
  if (running()) setTimeout(tick, ms);
}
