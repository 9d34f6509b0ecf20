// Live token count of the AudioGen Caption Composer, against the text encoder's 512 tokens.
//
// While the user types, the views are sent (debounced) to the pack's route
// POST /audiogen/token_count (nodes/routes.py), which counts them with the tokenizer file of
// the text encoder the composer feeds (found by following the graph to the text encoder
// loader), end token included: the exact count. When the route finds no tokenizer file (or
// the server cannot be reached) the count is estimated here and marked as an estimate.
// The line turns amber near the limit and red past it, where the end of the prompt is cut off.
// The count widget is added after the node's own widgets and is never serialized.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const COMPOSER = "AudioGenCaptionComposer";
const LOADER = "AudioGenTextEncoderLoader";
const VIEWS = ["caption", "speech", "asr", "sfx", "music", "env"];
const LIMIT = 512;
const NEAR = 0.9; // amber from 90 % of the limit
const DEBOUNCE_MS = 300;
const COUNT_WIDGET = "audiogen_token_count";
const COLOURS = { ok: "", near: "#e0a030", over: "#ff5050" };

// The estimate: the tags' tokens in flan-t5's vocabulary, about 0.28 tokens per letter or
// digit and 1.5 per punctuation mark (fitted on English prompts and prose), one per other
// character, plus the end token. On average within 20 % of the exact count (English prompts
// with flan-t5), worse for text full of symbols or in other scripts: hence "estimate".
const TAG_TOKENS = { caption: 7, speech: 8, asr: 8, sfx: 8, music: 6, env: 7 };

function composedViews(views) {
  return VIEWS.filter((view) => views[view]?.trim());
}

function estimateTokens(views) {
  let letters = 0;
  let marks = 0;
  let others = 0;
  for (const view of composedViews(views)) {
    for (const ch of views[view].trim()) {
      if (/[A-Za-z0-9]/.test(ch)) letters += 1;
      else if (/\s/.test(ch)) continue;
      else if (/[\x21-\x7e]/.test(ch)) marks += 1;
      else others += 1;
    }
  }
  const tags = composedViews(views).reduce((sum, view) => sum + TAG_TOKENS[view], 0);
  return 1 + tags + Math.ceil(0.28 * letters + 1.5 * marks + others);
}

// The folder name on the text encoder loader that encodes this composer's prompt, else on any
// text encoder loader in the graph, else null (the route then uses the first folder found).
// Links are followed with getOutputNodes / getInputNode, which every frontend offers (newer
// ones deprecate reading output.links and input.link).
function textEncoderName(node) {
  const graph = node.graph ?? app.graph;
  const loaderValue = (loader) =>
    loader?.widgets?.find((w) => w.name === "text_encoder")?.value ?? null;
  for (const encode of node.getOutputNodes(0) ?? []) {
    const slot = encode.findInputSlot("text_encoder");
    const loader = slot >= 0 ? encode.getInputNode(slot) : null;
    if (loader?.comfyClass === LOADER) return loaderValue(loader);
  }
  const anyLoader = (graph._nodes ?? []).find((n) => n.comfyClass === LOADER);
  return loaderValue(anyLoader);
}

function viewsOf(node) {
  const views = {};
  for (const view of VIEWS) {
    const value = node.widgets?.find((w) => w.name === view)?.value;
    views[view] = typeof value === "string" ? value : "";
  }
  return views;
}

async function exactCount(views, textEncoder) {
  try {
    const response = await api.fetchApi("/audiogen/token_count", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ views, text_encoder: textEncoder }),
    });
    if (!response.ok) return { exact: false, reason: `the server answered ${response.status}` };
    return await response.json();
  } catch {
    return { exact: false, reason: "the server could not be reached" };
  }
}

function show(node, count, exact, detail) {
  const line = node.__audiogenTokenLine;
  if (!line) return;
  const level = count > LIMIT ? "over" : count >= NEAR * LIMIT ? "near" : "ok";
  let text = `${exact ? "" : "~"}${count} / ${LIMIT} tokens`;
  if (!exact) text += " (estimate)";
  if (level === "over") text += ": the end is cut off";
  line.textContent = text;
  line.title = exact
    ? `Counted with the tokenizer of ${detail}, end token included.`
    : `Estimated: ${detail ?? "no tokenizer file was found"}.`;
  line.dataset.level = level;
  line.style.color = COLOURS[level];
  line.style.fontWeight = level === "ok" ? "" : "bold";
}

async function update(node) {
  const views = viewsOf(node);
  const request = (node.__audiogenTokenRequest ?? 0) + 1;
  node.__audiogenTokenRequest = request;
  const answer = await exactCount(views, textEncoderName(node));
  // A slower answer to an older request must not overwrite a newer one.
  if (node.__audiogenTokenRequest !== request) return;
  if (answer.exact) show(node, answer.count, true, answer.tokenizer);
  else show(node, estimateTokens(views), false, answer.reason);
}

function scheduleUpdate(node) {
  clearTimeout(node.__audiogenTokenTimer);
  node.__audiogenTokenTimer = setTimeout(() => update(node), DEBOUNCE_MS);
}

function addCountWidget(node) {
  const line = document.createElement("div");
  line.style.cssText = "font-size: 12px; padding: 2px 6px; opacity: 0.9; white-space: nowrap;";
  line.textContent = `0 / ${LIMIT} tokens`;
  node.__audiogenTokenLine = line;
  const widget = node.addDOMWidget(COUNT_WIDGET, "audiogen_token_count", line, {
    getValue: () => undefined,
    setValue: () => {},
    getMinHeight: () => 20,
    getMaxHeight: () => 20,
  });
  widget.serialize = false;
  widget.options.serialize = false;
  widget.computeSize = () => [0, 20];

  for (const view of VIEWS) {
    const textWidget = node.widgets?.find((w) => w.name === view);
    if (!textWidget) continue;
    // The text box (widget.element; newer frontends deprecate its old name inputEl).
    textWidget.element?.addEventListener?.("input", () => scheduleUpdate(node));
    // Newer frontends may render the box themselves: their changes arrive via the callback.
    const callback = textWidget.callback;
    textWidget.callback = function () {
      scheduleUpdate(node);
      return callback?.apply(this, arguments);
    };
  }
}

app.registerExtension({
  name: "AudioGen.TokenCount",

  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== COMPOSER) return;
    // A loaded workflow sets the texts without input events; links change the text encoder.
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const result = onConfigure?.apply(this, arguments);
      scheduleUpdate(this);
      return result;
    };
    const onConnectionsChange = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function () {
      const result = onConnectionsChange?.apply(this, arguments);
      scheduleUpdate(this);
      return result;
    };
  },

  nodeCreated(node) {
    if (node.comfyClass === LOADER) {
      // Another text encoder folder may count differently: recount every composer.
      const widget = node.widgets?.find((w) => w.name === "text_encoder");
      const callback = widget?.callback;
      if (widget) {
        widget.callback = function () {
          const graph = node.graph ?? app.graph;
          for (const other of graph._nodes ?? []) {
            if (other.comfyClass === COMPOSER) scheduleUpdate(other);
          }
          return callback?.apply(this, arguments);
        };
      }
    }
    if (node.comfyClass !== COMPOSER) return;
    addCountWidget(node);
    scheduleUpdate(node);
  },
});
