// Connection snippets (templates/apikeys/_snippets.html): tabs and Copy. No framework.
"use strict";

(() => {
  // The Clipboard API exists only in secure contexts (https, localhost); a
  // console self-hosted on plain http falls back to the older copy command.
  function copyWithCommand(text) {
    const focused = document.activeElement;
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", ""); // no on-screen keyboard on touch devices
    area.style.position = "fixed";
    area.style.top = "0";
    area.style.left = "-9999px";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (err) {
      copied = false;
    }
    area.remove();
    if (focused instanceof HTMLElement) focused.focus();
    return copied ? Promise.resolve() : Promise.reject(new Error("The browser refused to copy."));
  }

  // Shared with other pages, e.g. to copy a newly created key: resolves once copied.
  window.copyText = function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => copyWithCommand(text));
    }
    return copyWithCommand(text);
  };

  function setUpSnippets(root) {
    const tabs = [...root.querySelectorAll('[role="tab"]')];
    const panels = tabs.map((tab) => document.getElementById(tab.getAttribute("aria-controls")));
    const select = (index, focus) => {
      tabs.forEach((tab, i) => {
        const selected = i === index;
        tab.setAttribute("aria-selected", String(selected));
        tab.tabIndex = selected ? 0 : -1;
        panels[i].hidden = !selected;
      });
      if (focus) tabs[index].focus();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(i, false));
      // Arrow keys move between tabs (WAI-ARIA tabs pattern); Tab moves into the panel.
      tab.addEventListener("keydown", (event) => {
        const last = tabs.length - 1;
        const target = { ArrowRight: i === last ? 0 : i + 1, ArrowLeft: i === 0 ? last : i - 1, Home: 0, End: last }[event.key];
        if (target === undefined) return;
        event.preventDefault();
        select(target, true);
      });
    });
    const initial = tabs.findIndex((tab) => tab.getAttribute("aria-selected") === "true");
    select(Math.max(initial, 0), false);

    root.querySelectorAll("[data-snippet-copy]").forEach((button) => {
      const source = button.closest('[role="tabpanel"]').querySelector("[data-snippet-source]");
      const label = button.textContent;
      let timer;
      const show = (text) => {
        button.textContent = text;
        window.clearTimeout(timer);
        timer = window.setTimeout(() => { button.textContent = label; }, 2000);
      };
      button.addEventListener("click", () => {
        window.copyText(source.value).then(() => show("Copied"), () => show("Copy failed"));
      });
      button.hidden = false;
    });
  }

  document.querySelectorAll("[data-snippets]").forEach(setUpSnippets);
})();
