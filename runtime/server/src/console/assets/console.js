// The Polis operator console. Every value from the node is put on the page as text
// (textContent, SVG attributes), never as HTML, so nothing stored in the tree can run here.
"use strict";

const state = { view: "cluster", path: "/", after: null, events: null, refreshing: false, again: false };
const SVG = "http://www.w3.org/2000/svg";

function $(id) { return document.getElementById(id); }

function el(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") element.className = value; else element.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function table(headers, rows) {
  const head = el("tr", {}, ...headers.map((h) => el("th", {}, h)));
  return el("table", {}, head, ...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, cell)))));
}

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) { showLogin(); throw new Error("not logged in"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showLogin() {
  $("login-view").hidden = false;
  $("tabs").hidden = true;
  $("logout").hidden = true;
  document.querySelectorAll(".view").forEach((view) => { view.hidden = true; });
  if (state.events) { state.events.close(); state.events = null; }
  live(false);
}

function live(on) {
  $("live").textContent = on ? "live" : "offline";
  $("live").className = on ? "live-on" : "live-off";
}

async function start() {
  try {
    const me = await api("/api/me");
    $("whoami").textContent = me.role + " on node " + me.node_id;
  } catch (error) { return; }
  $("login-view").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  show(state.view);
  listen();
}

// One live stream: each change event re-reads the view on screen. Refreshes never overlap; a
// change during one asks for another after it.
function listen() {
  if (state.events) state.events.close();
  const events = new EventSource("/api/events");
  state.events = events;
  events.addEventListener("open", () => live(true));
  events.addEventListener("change", () => refresh());
  events.addEventListener("logout", () => { events.close(); showLogin(); });
  events.addEventListener("error", () => live(false));
}

async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try { await render(state.view); } catch (error) { console.warn(error); }
  state.refreshing = false;
  if (state.again) { state.again = false; refresh(); }
}

function show(view) {
  state.view = view;
  document.querySelectorAll(".view").forEach((section) => { section.hidden = section.id !== "view-" + view; });
  document.querySelectorAll("#tabs button").forEach((button) => button.classList.toggle("active", button.dataset.view === view));
  refresh();
}

async function render(view) {
  if (view === "cluster") return renderCluster(await api("/api/cluster"));
  if (view === "tree") return renderTree();
  if (view === "sessions") return renderSessions(await api("/api/sessions"));
  if (view === "plugins") return renderPlugins(await api("/api/plugins"));
  if (view === "city") return renderCity(await api("/api/city"));
}

function renderCluster(cluster) {
  const rows = cluster.members.map((m) => [m.id, m.role, m.voter ? "voter" : "learner", m.peer_address, m.client_address,
    m.matched_index ?? "–", m.lag_entries ?? "–", el("span", { class: "health-" + m.health }, m.health)]);
  $("view-cluster").replaceChildren(
    el("div", { class: "card" }, `Node ${cluster.node_id} is ${cluster.role}; leader ${cluster.leader ?? "unknown"}, term ${cluster.term}, ` +
      `log ${cluster.last_log_index}, applied ${cluster.applied_index}` + (cluster.joint ? " (membership change in progress)" : "")),
    table(["id", "role", "kind", "peer", "client", "matched", "lag (entries)", "health"], rows),
    el("p", {}, cluster.leaders_view ? "Lag and health are the leader's replication state." :
      "Lag and other members' health are known only on the leader; open its console for them."),
    table(["znodes", "sessions", "attached here", "watches here", "last zxid"],
      [[cluster.status.znodes, cluster.status.sessions, cluster.status.attached_sessions, cluster.status.watches,
        "0x" + Number(cluster.status.last_zxid).toString(16)]]));
}

function childPath(name) { return (state.path === "/" ? "" : state.path) + "/" + name; }

function openPath(path) {
  state.path = path || "/";
  state.after = null;
  $("tree-path").value = state.path;
  refresh();
}

async function renderTree() {
  const params = new URLSearchParams({ path: state.path, format: $("tree-format").value });
  if (state.after) params.set("after", state.after);
  const page = await api("/api/tree?" + params);
  if (page.error) {
    $("tree-children").replaceChildren();
    $("tree-data").textContent = page.error;
    $("tree-stat").replaceChildren(); $("tree-acl").replaceChildren();
    $("tree-count").textContent = ""; $("tree-data-info").textContent = "";
    return;
  }
  $("tree-children").replaceChildren(...page.children.map((name) => {
    const link = el("a", { "data-name": name }, name);
    link.addEventListener("click", () => openPath(childPath(name)));
    return el("li", {}, link);
  }));
  $("tree-count").textContent = `(${page.children_total}` + (state.after ? `, after ${state.after})` : ")");
  $("tree-more").hidden = !page.next_after;
  $("tree-more").onclick = () => { state.after = page.next_after; refresh(); };
  $("tree-data").textContent = page.data.text;
  const info = `${page.data.format}, ${page.data.len} bytes`;
  $("tree-data-info").replaceChildren(info, page.data.truncated ? el("span", { class: "truncated" }, " — truncated") : "");
  $("tree-stat").replaceChildren(...Object.entries(page.stat).map(([key, value]) => el("tr", {}, el("th", {}, key), el("td", {}, value))));
  $("tree-acl").replaceChildren(...page.acl.map((entry) => el("tr", {}, el("td", {}, entry.scheme + ":" + entry.id), el("td", {}, entry.perms))));
}

function renderSessions(page) {
  const parts = [el("div", { class: "card" }, `${page.sessions_total} sessions in the cluster; ${page.attached_here} attached to this node, ` +
    `holding ${page.watches_here} watches here.`)];
  if (!page.listed) parts.push(el("p", {}, "Only administrators see the list of sessions."));
  else parts.push(table(["session", "timeout (ms)", "ephemerals", "attached here", "identities", "watches", "watched paths (first ones)"],
    page.sessions.map((s) => [s.id, s.timeout_ms, s.ephemerals, s.attached_here ? "yes" : "no", s.identities.join(", "), s.watch_count,
      s.watches.map((w) => w.kind + " " + w.path).join("\n")])));
  if (page.next_after) parts.push(el("p", {}, "More sessions follow (pages of 100)."));
  $("view-sessions").replaceChildren(...parts);
}

function renderPlugins(page) {
  const parts = [el("p", {}, "Read-only: deploy, upgrade and rollback with `polis plugin …`.")];
  if (page.plugins.length === 0) parts.push(el("p", {}, "No plugins, or none this login may read (/polis is for administrators)."));
  for (const p of page.plugins) {
    parts.push(el("div", { class: "card plugin", "data-plugin": p.name },
      el("h3", {}, `${p.name} ${p.version ?? ""}`),
      table(["state", "revision", "cursor", "lag (zxids)", "events", "failures", "dead letters"],
        [[p.state ?? "–", p.revision ?? "–", p.cursor_zxid ?? "–", p.lag_zxids ?? "–", p.processed_events ?? "–", p.failures ?? "–",
          `${p.dead_letters ?? 0} (${p.dead_letter_entries} kept)`]]),
      p.last_error ? el("p", { class: "error" }, "last error: " + p.last_error) : null,
      el("pre", {}, p.logs.map((line) => `${line.zxid} ${line.level} ${line.message}`).join("\n") || "(no log lines)")));
  }
  $("view-plugins").replaceChildren(...parts);
}

function renderCity(city) {
  const map = $("map");
  map.setAttribute("viewBox", `-10 -10 ${city.width + 20} ${city.height + 20}`);
  const shapes = [];
  for (const d of city.districts) {
    if (!d.points) continue;
    const polygon = document.createElementNS(SVG, "polygon");
    polygon.setAttribute("points", d.points);
    polygon.setAttribute("class", "state-" + d.state);
    polygon.setAttribute("data-district", d.name);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${d.name}: ${d.state}` + d.notifications.map((n) => `\n${n.msg_type} ${n.severity ?? ""} ${n.headline ?? n.event ?? ""}`).join("");
    polygon.append(title);
    shapes.push(polygon);
    const xs = d.points.split(" ").map((p) => p.split(",").map(Number));
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", xs.reduce((sum, p) => sum + p[0], 0) / xs.length - 20);
    label.setAttribute("y", xs.reduce((sum, p) => sum + p[1], 0) / xs.length);
    label.textContent = d.name;
    shapes.push(label);
  }
  map.replaceChildren(...shapes);
  const alerted = city.districts.filter((d) => d.state !== "clear");
  const side = [el("h3", {}, "Districts with alerts"),
    alerted.length === 0 ? el("p", {}, "None.") :
      table(["district", "state", "alerts", "escalations"], alerted.map((d) => [d.name, d.state,
        d.notifications.map((n) => `${n.msg_type}: ${n.headline ?? n.event ?? n.thread}`).join("\n"), d.escalations.join(", ")])),
    el("h3", {}, "Acknowledgements by alert")];
  side.push(city.threads.length === 0 ? el("p", {}, "None.") : table(["alert", "acknowledged", "pending", "escalated"],
    city.threads.map((t) => [t.thread, (t.acked || []).join(", "), (t.pending || []).join(", "), (t.escalated || []).join(", ")])));
  side.push(el("h3", {}, "Shelter capacity"));
  if (city.capacity) {
    side.push(el("div", { class: "card", id: "city-capacity" }, `City: ${city.capacity.occupancy} of ${city.capacity.capacity} places taken, ` +
      `${city.capacity.free} free` + (city.capacity.full ? " — FULL" : "")));
  }
  side.push(table(["district", "occupancy", "capacity", "free"], city.districts.filter((d) => d.capacity).map((d) =>
    [d.name, d.capacity.occupancy, d.capacity.capacity, d.capacity.free + (d.capacity.full ? " (full)" : "")])));
  $("city-side").replaceChildren(...side);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/api/login", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: $("token").value }) });
    $("token").value = "";
    if (!response.ok) { $("login-error").textContent = "The token was refused."; return; }
    $("login-error").textContent = "";
    start();
  });
  $("logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
    showLogin();
  });
  document.querySelectorAll("#tabs button").forEach((button) => button.addEventListener("click", () => show(button.dataset.view)));
  $("tree-form").addEventListener("submit", (event) => { event.preventDefault(); openPath($("tree-path").value.trim()); });
  $("tree-format").addEventListener("change", () => refresh());
  $("tree-up").addEventListener("click", () => {
    const parent = state.path.replace(/\/[^/]*$/, "");
    openPath(parent || "/");
  });
  start();
});
