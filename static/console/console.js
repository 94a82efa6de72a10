// Vector Console: small progressive enhancements, no framework.
"use strict";

// Follows a cluster's status while it is changing (provisioning, restarts),
// so the page updates without a manual reload.
function followClusterStatus(head) {
  const url = head.dataset.clusterStatus;
  const settled = new Set(["HEALTHY", "FAILED_TO_CREATE", "FAILED_TO_UPDATE", "SUSPENDED"]);
  const render = (s) => {
    const badge = head.querySelector("[data-phase-badge]");
    badge.textContent = s.phase_label;
    badge.className = "badge phase-" + s.phase.toLowerCase();
    head.dataset.phase = s.phase;
    head.querySelector("[data-phase-reason]").textContent = s.reason;
    const progress = head.querySelector("[data-operation-progress]");
    if (progress) progress.textContent = s.operation ? s.operation.progress : "";
    // Granular access just turned on: the key sections change, so show them.
    if (head.dataset.jwtRbac === "false" && s.jwt_rbac) window.location.reload();
    const version = document.querySelector("[data-version]");
    if (version) version.textContent = s.version || "—";
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

// Region options follow the chosen cloud provider on the create-cluster form.
const provider = document.getElementById("id_cloud_provider");
const region = document.getElementById("id_region");
if (provider && region) {
  const labels = Object.fromEntries([...provider.options].map((o) => [o.value, o.textContent]));
  const sync = () => {
    const wanted = labels[provider.value];
    [...region.querySelectorAll("optgroup")].forEach((group) => {
      const show = group.label === wanted;
      group.hidden = !show;
      group.disabled = !show;
    });
    const chosen = region.selectedOptions[0];
    if (!chosen || chosen.parentElement.label !== wanted) {
      const first = region.querySelector(`optgroup[label="${CSS.escape(wanted)}"] option`);
      if (first) region.value = first.value;
    }
  };
  provider.addEventListener("change", sync);
  sync();
}
