// Frontend extension of comfyui-audiogen (served through WEB_DIRECTORY).
//
// 1. ComfyUI's audio player is attached only to its own audio nodes by name (frontend 1.27,
//    with ComfyUI 0.3.64), also for a V3 node returning ui.PreviewAudio. Adding a hidden
//    `audioUI` input of type AUDIO_UI to the mixer's definition makes the frontend build the
//    same player for it; it then plays the `ui.audio` files the mixer returns.
// 2. The frontend does not render a custom node's ui.PreviewText (`ui.text`), so the predicted
//    duration, the seeds, the edited ranges and lengths, the video length and the loudness
//    report are written into a read-only text box.
// Both widgets are added after the node's own widgets and are never serialized, so they do not
// shift the saved widget values. The text is shown again from ComfyUI's stored node outputs
// when a workflow tab is reopened, as ComfyUI does for its own audio player.

import { app } from "../../scripts/app.js";

const PLAYER_NODES = new Set(["AudioGenMixer"]);
const INFO_NODES = new Set([
  "AudioGenTextEncode",
  "AudioGenSampler",
  "AudioGenRegenerateRange",
  "AudioGenExtend",
  "AudioGenDurationFromVideo",
  "AudioGenMixer",
]);
const INFO_WIDGET = "audiogen_info";

function addInfoWidget(node) {
  const box = document.createElement("textarea");
  box.readOnly = true;
  box.rows = 2;
  box.className = "comfy-multiline-input";
  box.style.opacity = "0.8";
  box.placeholder = "Shown after the node runs.";
  const widget = node.addDOMWidget(INFO_WIDGET, "audiogen_info", box, {
    getValue: () => box.value,
    setValue: (value) => {
      box.value = value ?? "";
    },
  });
  widget.serialize = false;
  widget.options.serialize = false;
  return widget;
}

function showInfo(node, lines) {
  const widget = node.widgets?.find((w) => w.name === INFO_WIDGET);
  if (widget && lines) widget.value = lines.join("\n");
}

app.registerExtension({
  name: "AudioGen.NodeDisplays",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (PLAYER_NODES.has(nodeData.name)) {
      nodeData.input.required.audioUI = ["AUDIO_UI", {}];
    }
    if (INFO_NODES.has(nodeData.name)) {
      const onExecuted = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (message) {
        onExecuted?.apply(this, arguments);
        showInfo(this, message?.text);
      };
    }
  },

  nodeCreated(node) {
    if (INFO_NODES.has(node.comfyClass)) addInfoWidget(node);
  },

  onNodeOutputsUpdated(nodeOutputs) {
    for (const [nodeId, output] of Object.entries(nodeOutputs ?? {})) {
      const node = output?.text && app.graph?.getNodeById(Number(nodeId));
      if (node && INFO_NODES.has(node.comfyClass)) showInfo(node, output.text);
    }
  },
});
