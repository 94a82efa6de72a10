// Database API keys and admin keys: the create form's live expiry date and extra collection
// rows, and the reveal page's Copy button. No framework.
"use strict";

(() => {
  // The create form ---------------------------------------------------------

  const form = document.querySelector("[data-key-form]");
  if (form) {
    const days = form.querySelector("[data-expiry-days]");
    const preview = form.querySelector("[data-expiry-preview]");
    if (days && preview) {
      const formatter = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
      const show = () => {
        const text = days.value.trim();
        if (text === "") {
          preview.textContent = "The key never expires.";
          return;
        }
        const n = Number(text);
        if (!Number.isInteger(n) || n < 1 || n > 3650) {
          preview.textContent = "";
          return;
        }
        const when = new Date(Date.now() + n * 86400000);
        const time = document.createElement("time");
        time.dateTime = when.toISOString();
        time.textContent = formatter.format(when);
        preview.replaceChildren("The key expires on ", time, " (UTC).");
      };
      days.addEventListener("input", show);
      show();
    }

    const rows = form.querySelector("[data-collection-rows]");
    const add = form.querySelector("[data-add-collection]");
    if (rows && add) {
      add.hidden = false;
      add.addEventListener("click", () => {
        const template = rows.querySelector("[data-new-collection]:last-of-type") || rows.querySelector("[data-new-collection]");
        if (!template) return;
        const row = template.cloneNode(true);
        row.querySelector("input").value = "";
        row.querySelector("select").value = "r";
        rows.append(row);
        row.querySelector("input").focus();
      });
    }

    // A double click posts once; the server also refuses a repeated nonce.
    form.addEventListener("submit", () => {
      const button = form.querySelector("[data-submit-once]");
      if (button) window.setTimeout(() => { button.disabled = true; }, 0);
    });

    // Restored from the back/forward cache, the form would carry a used nonce.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) window.location.reload();
    });
  }

  // The reveal page -----------------------------------------------------------

  const reveal = document.querySelector("[data-reveal]");
  if (reveal) {
    const secret = reveal.querySelector("[data-secret]");
    const copy = reveal.querySelector("[data-copy-secret]");
    if (secret && copy && window.copyText) {
      const label = copy.textContent;
      let timer;
      copy.addEventListener("click", () => {
        window.copyText(secret.textContent.trim()).then(
          () => { copy.textContent = "Copied"; },
          () => { copy.textContent = "Copy failed: select the key and copy it"; },
        );
        window.clearTimeout(timer);
        timer = window.setTimeout(() => { copy.textContent = label; }, 2000);
      });
      copy.hidden = false;
    }
    // "Test connection": GET / at the cluster's endpoint with the new key,
    // straight from the browser (the data plane allows CORS), as Qdrant
    // Cloud's CLI checks that a new key works.
    const test = reveal.querySelector("[data-test-connection]");
    const result = reveal.querySelector("[data-test-result]");
    if (secret && test && result) {
      test.hidden = false;
      test.addEventListener("click", async () => {
        test.disabled = true;
        result.hidden = false;
        result.className = "test-result";
        result.textContent = `GET ${test.dataset.url} …`;
        try {
          const response = await fetch(test.dataset.url, {
            headers: { "api-key": secret.textContent.trim() },
            cache: "no-store",
            credentials: "omit",
          });
          const body = await response.text();
          result.classList.add(response.ok ? "ok" : "bad");
          result.textContent = `${response.status} ${response.statusText}\n${body}`;
        } catch (err) {
          result.classList.add("bad");
          result.textContent = `Could not reach ${test.dataset.url}: is the data plane running? (${err.message})`;
        } finally {
          test.disabled = false;
        }
      });
    }
    // Leaving the page forgets the key, so the back/forward cache keeps no
    // copy of it; coming back shows the key's page, which cannot show it.
    window.addEventListener("pagehide", () => {
      reveal.replaceChildren();
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) window.location.replace(reveal.dataset.goneUrl);
    });
  }
})();
