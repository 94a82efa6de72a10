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

    // Name and expiry are checked as they are typed and before submit, with
    // the server's rules and messages (data-rule-*, data-error-* from
    // apikeys.forms.KeyForm); the error shows next to the field.
    const problemOf = (input) => {
      const text = input.value.trim();
      const d = input.dataset;
      if ("expiryDays" in d) {
        if (text === "") return "";
        if (!/^[+-]?\d+(\.0*)?$/.test(text)) return d.errorInvalid;
        const n = Number(text);
        if (n < Number(d.ruleMin)) return d.errorMin;
        if (n > Number(d.ruleMax)) return d.errorMax;
        return "";
      }
      if (text === "") return d.errorRequired;
      const length = [...text].length;
      if (length < Number(d.ruleMin)) return d.errorMin.replace("{n}", length);
      if (length > Number(d.ruleMax)) return d.errorMax.replace("{n}", length);
      if (!new RegExp(d.rulePattern, "u").test(text)) return d.errorPattern;
      return "";
    };
    const checked = [...form.querySelectorAll("[data-rule-min]")];
    const show = (input, message) => {
      const field = input.closest(".field");
      const id = `${input.id}-error`;
      let error = document.getElementById(id);
      if (!error && message) {
        error = document.createElement("p");
        error.className = "error";
        error.id = id;
        field.append(error);
      }
      if (error) {
        error.textContent = message;
        error.hidden = !message;
      }
      field.classList.toggle("invalid", Boolean(message));
      const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== id);
      if (message) {
        input.setAttribute("aria-invalid", "true");
        described.push(id);
      } else {
        input.removeAttribute("aria-invalid");
      }
      input.setAttribute("aria-describedby", described.join(" "));
    };
    checked.forEach((input) => {
      // Expiry: as one types (the preview goes, the reason comes). Name: once
      // one leaves it, then as one corrects it.
      const live = "expiryDays" in input.dataset;
      let touched = live;
      input.addEventListener("input", () => { if (touched) show(input, problemOf(input)); });
      input.addEventListener("blur", () => {
        touched = true;
        show(input, problemOf(input));
      });
    });

    // A double click posts once; the server also refuses a repeated nonce.
    form.addEventListener("submit", (event) => {
      const bad = checked.filter((input) => {
        const message = problemOf(input);
        show(input, message);
        return Boolean(message);
      });
      if (bad.length) {
        event.preventDefault();
        bad[0].focus();
        return;
      }
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
