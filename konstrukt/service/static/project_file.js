// A project as one file: Import project on the projects page (Download project is a plain link).
// Uses api() and showError() from app.js; every action is the REST call the API documents.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
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
