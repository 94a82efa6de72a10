// Vector Console: small progressive enhancements, no framework.
"use strict";

// Follows a cluster's status while it is changing (provisioning, restarts),
// so the page updates without a manual reload.
function followClusterStatus(head) {
  const url = head.dataset.clusterStatus;
  // No operation runs in these (NOT_READY: a node is down outside one).
  const settled = new Set(["HEALTHY", "NOT_READY", "FAILED_TO_CREATE", "FAILED_TO_UPDATE", "SUSPENDED"]);
  const render = (s) => {
    const badge = head.querySelector("[data-phase-badge]");
    badge.textContent = s.phase_label;
    badge.className = "badge phase-" + s.phase.toLowerCase();
    head.dataset.phase = s.phase;
    head.querySelector("[data-phase-reason]").textContent = s.reason;
    // Every place that tells the operation's progress (head, banner, notices) says the same.
    document.querySelectorAll("[data-operation-progress]").forEach((progress) => {
      progress.textContent = s.operation ? s.operation.progress : "";
    });
    // Granular access just turned on: the key sections change, so show them.
    if (head.dataset.jwtRbac === "false" && s.jwt_rbac) window.location.reload();
    const version = document.querySelector("[data-version]");
    if (version) version.textContent = s.version || "—";
    // The operation the banner tells of is over: reload, so it offers what is possible now.
    if (!s.operation && document.querySelector("[data-reload-when-settled]")) window.location.reload();
    const up = document.querySelector("[data-nodes-up]");
    if (up) up.textContent = s.nodes_up;
    const list = document.querySelector("[data-nodes]");
    if (list) {
      list.replaceChildren(...s.nodes.map((n) => {
        const li = document.createElement("li");
        const dot = document.createElement("span");
        dot.className = "dot state-" + n.state.toLowerCase();
        const label = document.createElement("span");
        label.className = "muted";
        label.textContent = " " + n.state_label + (n.detail ? " · " + n.detail : "");
        li.dataset.node = n.name;
        li.dataset.state = n.state;
        li.append(dot, n.name, label);
        return li;
      }));
    }
    document.dispatchEvent(new CustomEvent("cluster:status", { detail: s }));
  };
  const tick = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 404 && head.dataset.phase === "DELETING") {
        window.location.assign(head.dataset.clusterList);
        return;
      }
      if (response.ok) {
        const status = await response.json();
        const wasSettled = settled.has(head.dataset.phase);
        render(status);
        if (settled.has(status.phase) && !wasSettled) {
          document.dispatchEvent(new CustomEvent("cluster:settled", { detail: status }));
        }
      }
    } catch (err) {
      // Offline for a moment: keep the last state and try again.
    }
    // Real nodes can go down at any moment: a settled qdrant cluster is still
    // followed every 2 s, so a node killed by hand shows within seconds.
    const idle = head.dataset.runtime === "qdrant" ? 2000 : 10000;
    const delay = settled.has(head.dataset.phase) ? idle : 1000;
    window.setTimeout(tick, delay);
  };
  window.setTimeout(tick, 1000);
}

document.querySelectorAll("[data-cluster-status]").forEach(followClusterStatus);

// Below 768 px the sidebar's navigation folds behind a Menu button (issue 14).
// Without this script the button stays hidden and the links show.
document.querySelectorAll("[data-sidebar]").forEach((sidebar) => {
  const toggle = sidebar.querySelector("[data-nav-toggle]");
  const nav = sidebar.querySelector("nav");
  if (!toggle || !nav) return;
  const set = (open) => {
    sidebar.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.hidden = false;
  sidebar.dataset.navCollapsible = "";
  toggle.addEventListener("click", () => set(toggle.getAttribute("aria-expanded") !== "true"));
  sidebar.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && sidebar.classList.contains("open")) {
      set(false);
      toggle.focus();
    }
  });
});

// A box that scrolls sideways (code, wide tables) can be scrolled by keyboard:
// it takes focus when it holds nothing focusable itself.
const scrollBoxes = () => {
  document.querySelectorAll("pre, .table-scroll, .card > .table").forEach((box) => {
    if ((box.hasAttribute("tabindex") && !("scrollFocus" in box.dataset)) || box.querySelector("a, button, input, select, textarea")) return;
    if (box.scrollWidth > box.clientWidth) {
      box.tabIndex = 0;
      box.dataset.scrollFocus = "";
    } else if ("scrollFocus" in box.dataset) {
      box.removeAttribute("tabindex");
      delete box.dataset.scrollFocus;
    }
  });
};
scrollBoxes();
window.addEventListener("resize", scrollBoxes);

// The header's menus (<details>): Escape or a click elsewhere closes them.
document.querySelectorAll("details.menu").forEach((menu) => {
  const summary = menu.querySelector("summary");
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      menu.open = false;
      summary.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
});
