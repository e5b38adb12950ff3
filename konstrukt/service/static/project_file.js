// A project as one file: Import project on the projects page (Download project is a plain link),
// and the imported settings offered on the project page.
// Uses api() and showError() from app.js; every action is the REST call the API documents.
"use strict";

// An imported project that has not trained yet offers its file's settings, exactly as they came
// (same pipeline, config and seed: the same result as where it was exported).
async function offerCarriedSettings(box) {
  const pid = document.body.dataset.project;
  const [project, carried] = await Promise.all([api("GET", `/api/projects/${pid}`), api("GET", `/api/projects/${pid}/settings`)]);
  const keys = Object.entries(carried.config);
  if (project.job_count > 0 || (carried.pipeline === "auto" && !keys.length)) return;
  const shown = keys.map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  const button = el("button", { type: "button", class: "primary small", id: "train-carried" }, "Train with these settings");
  button.onclick = async () => {
    button.disabled = true;
    try { const job = await api("POST", `/api/projects/${pid}/jobs`, { pipeline: carried.pipeline, config: carried.config }); location.href = `/jobs/${job.id}`; }
    catch (err) { button.disabled = false; showError(box, err); }
  };
  box.replaceChildren(el("div", { class: "notice ok" },
    el("p", {}, `This project came with settings: recipe ${carried.pipeline}${shown ? `; ${shown}` : ""}.`),
    carried.notes.length ? el("p", { class: "small" }, carried.notes.join(" ")) : null, button));
}

document.addEventListener("DOMContentLoaded", () => {
  const carried = document.querySelector("#carried-settings");
  if (carried) offerCarriedSettings(carried).catch(err => showError(carried, err));
  const form = document.querySelector("#import-project");
  if (!form) return;
  const box = document.querySelector("#import-report"), button = form.querySelector("button");
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const file = form.querySelector('input[type="file"]').files[0];
    if (!file) return;
    const body = new FormData();
    body.append("file", file, file.name);
    button.disabled = true; button.textContent = "Importing…"; box.replaceChildren();
    try {
      const out = await api("POST", "/api/projects/import", body);
      location.href = `/projects/${out.project.id}`;
    } catch (err) {
      showError(box, err);  // refused: nothing was stored; the problems name each member and the fix
      button.disabled = false; button.textContent = "Import project";
    }
  });
});
