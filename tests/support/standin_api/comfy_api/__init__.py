"""Stand-in for ComfyUI's ``comfy_api`` package (test code only; see latest/)."""
