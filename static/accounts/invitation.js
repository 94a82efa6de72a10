// The invitation page: the link's secret comes in the fragment (#…), which
// the browser never sends to the server. Keep it in this tab's
// sessionStorage, so it survives a detour through the login page, drop it
// from the address bar, and put it in the page's form. On the opening page
// (a GET) post it at once, so the server can say what the invitation is.
"use strict";

(() => {
  const form = document.querySelector("[data-invitation-form]");
  if (!form) return;
  const key = `invitation:${form.dataset.invitationId}`;
  const fragment = window.location.hash.slice(1);
  if (fragment) {
    window.sessionStorage.setItem(key, fragment);
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  const secret = window.sessionStorage.getItem(key);
  const field = form.querySelector("[data-invitation-secret]");
  if (secret && field) {
    field.value = secret;
    if (form.hasAttribute("data-invitation-open")) form.requestSubmit();
  } else {
    const missing = form.querySelector("[data-no-secret]");
    if (missing) missing.hidden = false;
    const opening = form.querySelector("[data-opening]");
    if (opening) opening.hidden = true;
  }
})();
