// Frontend extension of comfyui-audiogen (served through WEB_DIRECTORY): what the pack's nodes
// report is shown on the nodes themselves, after every run, cached or not.
//
// 1. Info box: the frontend does not render a custom node's ui.text, so the predicted
//    duration, the seeds, the events a timeline was read as, the cuts, the loudness report...
//    are written into a read-only text box. A node's error is written there too (newer
//    frontends show only a toast, with the text behind "View details").
// 2. Take player: Decode and Mixer return every take (batch item) as a labelled preview file
//    (ui.audiogen_takes, see nodes/display.py); the node plays the take picked in its selector.
// 3. Cached runs: ComfyUI re-sends ui results only for output nodes. When a prompt ends, the
//    page reads its /history entry, which holds every node's ui, and shows it. After a page
//    reload the newest history entry of the same workflow is shown the same way (only for the
//    graph the page reopens: a workflow opened later starts empty, like ComfyUI's own previews).
// The widgets are added after the node's own widgets and never serialized, so saved widget
// values keep their positions. Only API that both ComfyUI 0.3.64's frontend (1.27) and newer
// ones (1.58) offer without deprecation warnings is used.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const INFO_NODES = new Set([
  "AudioGenTextEncode",
  "AudioGenSampler",
  "AudioGenTimedPrompt",
  "AudioGenTimelineFromText",
  "AudioGenCutsFromVideo",
  "AudioGenRegenerateRange",
  "AudioGenExtend",
  "AudioGenDurationFromVideo",
  "AudioGenMixer",
]);
const PLAYER_NODES = new Set(["AudioGenDecode", "AudioGenMixer"]);
const TAKES = "audiogen_takes"; // the ui key of nodes/display.py
const HISTORY_DEPTH = 32; // prompts searched for a reloaded workflow's last results
let reopened = false; // whether the page's first graph was configured

function addWidget(node, name, element, height) {
  const options = { getValue: () => undefined, setValue: () => {}, serialize: false };
  if (height) Object.assign(options, { getMinHeight: () => height, getMaxHeight: () => height });
  const widget = node.addDOMWidget(name, name, element, options);
  widget.serialize = false;
  return widget;
}

function addInfoBox(node) {
  const box = document.createElement("textarea");
  box.readOnly = true;
  box.rows = 3;
  box.className = "comfy-multiline-input";
  box.style.opacity = "0.85";
  box.placeholder = "Shown after the node runs.";
  node.__audiogenInfo = box;
  addWidget(node, "audiogen_info", box);
}

function addTakePlayer(node) {
  const box = document.createElement("div");
  box.style.cssText = "display: flex; flex-direction: column; gap: 4px;";
  const select = document.createElement("select");
  select.title = "The take to play: its seed and length";
  select.style.cssText =
    "width: 100%; font-size: 12px; background: var(--comfy-input-bg); color: var(--input-text);";
  select.append(new Option("Takes are playable after the node runs.", ""));
  select.disabled = true;
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.style.cssText = "width: 100%; height: 32px;";
  select.addEventListener("change", () => {
    audio.src = select.value;
  });
  box.append(select, audio);
  node.__audiogenTakes = { select, audio };
  addWidget(node, "audiogen_takes", box, 68);
}

function fileURL({ filename, subfolder, type }) {
  return api.apiURL(`/view?${new URLSearchParams({ filename, subfolder, type })}`);
}

function showTakes(node, takes) {
  const player = node.__audiogenTakes;
  if (!player || !takes?.length) return;
  const { select, audio } = player;
  const picked = select.selectedIndex;
  select.replaceChildren(...takes.map((take) => new Option(take.label, fileURL(take))));
  select.disabled = takes.length < 2;
  // The same take stays picked across runs (a new batch of the same size).
  if (picked > 0 && picked < takes.length) select.selectedIndex = picked;
  audio.src = select.value;
}

function show(node, output) {
  if (!node || !output) return;
  if (node.__audiogenInfo && output.text) node.__audiogenInfo.value = output.text.join("\n");
  if (output[TAKES]) showTakes(node, output[TAKES]);
}

function showError(node, message) {
  if (!node?.__audiogenInfo) return;
  node.__audiogenInfo.value = `Error: ${message}`;
}

function nodeById(id) {
  return app.graph?.getNodeById(Number(id)) ?? null;
}

async function historyOf(path) {
  try {
    const response = await api.fetchApi(path);
    return response.ok ? await response.json() : {};
  } catch {
    return {}; // the server is gone: nothing to restore
  }
}

// Every node's ui of a finished prompt, as the server keeps it (cached nodes included).
async function showPrompt(promptId) {
  const entry = (await historyOf(`/history/${encodeURIComponent(promptId)}`))[promptId];
  for (const [id, output] of Object.entries(entry?.outputs ?? {})) show(nodeById(id), output);
}

// After a page reload: the newest results of this workflow that the server still has.
async function showLatest() {
  const graph = app.graph;
  if (!graph?.id) return;
  const ours = (graph._nodes ?? []).filter((n) => n.__audiogenInfo || n.__audiogenTakes);
  if (!ours.length) return;
  const entries = Object.values(await historyOf(`/history?max_items=${HISTORY_DEPTH}`));
  const shown = new Set();
  for (const entry of entries.reverse()) {
    const [, , prompt, extra] = entry.prompt ?? [];
    if (extra?.extra_pnginfo?.workflow?.id !== graph.id || app.graph !== graph) continue;
    for (const node of ours) {
      const output = entry.outputs?.[String(node.id)];
      const ran = prompt?.[node.id];
      if (shown.has(node) || !output || ran?.class_type !== node.comfyClass) continue;
      show(node, output);
      shown.add(node);
    }
  }
}

app.registerExtension({
  name: "AudioGen.NodeDisplays",

  setup() {
    let promptId = null;
    api.addEventListener("execution_start", ({ detail }) => {
      promptId = detail?.prompt_id ?? null;
    });
    // The end of a prompt: the server has written its history entry.
    api.addEventListener("executing", ({ detail }) => {
      if (detail == null && promptId) showPrompt(promptId);
    });
    api.addEventListener("execution_error", ({ detail }) => {
      showError(nodeById(detail?.node_id), detail?.exception_message);
    });
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!INFO_NODES.has(nodeData.name) && !PLAYER_NODES.has(nodeData.name)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      onExecuted?.apply(this, arguments);
      show(this, output);
    };
  },

  nodeCreated(node) {
    if (PLAYER_NODES.has(node.comfyClass)) addTakePlayer(node);
    if (INFO_NODES.has(node.comfyClass)) addInfoBox(node);
  },

  // The first graph a page shows is the one it had before the reload.
  afterConfigureGraph() {
    if (reopened) return;
    reopened = true;
    showLatest();
  },

  // A workflow tab reopened: the frontend hands back the outputs it kept.
  onNodeOutputsUpdated(nodeOutputs) {
    for (const [id, output] of Object.entries(nodeOutputs ?? {})) show(nodeById(id), output);
  },
});
