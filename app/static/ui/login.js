// The login page: the key is checked against the API once, then kept in this tab's sessionStorage.
import { ApiError, api, setKey } from "./api.js";

const form = document.getElementById("login");
const problem = document.getElementById("login-error");

function next() {
  const target = new URLSearchParams(location.search).get("next") || "";
  return target.startsWith("/ui/") ? target : "/ui/jobs"; // only pages of this site: no open redirect
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("key").value.trim();
  problem.hidden = true;
  try {
    await api("/v1/rewrite_jobs?limit=1", key);
  } catch (error) {
    problem.textContent = error instanceof ApiError && error.status === 401 ? "That key is not valid." : error.message;
    problem.hidden = false;
    return;
  }
  setKey(key);
  location.assign(next());
});
