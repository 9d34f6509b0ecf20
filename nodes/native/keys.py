"""Names under which the DiT's inputs travel in ComfyUI's CONDITIONING and LATENT dicts.

ComfyUI hands every entry of a conditioning's dict to the model's ``extra_conds``; these names
are prefixed so that they cannot collide with ComfyUI's own entries (``mask``, ``area``, ...).
"""

CONTEXT_MASK = "audiogen_context_mask"  # (b, tokens) int64, 1 = a valid token
TIME_ALIGNED = "audiogen_time_aligned"  # (b, frames or 1, channels): the DiT's per-frame input
LENGTHS = "audiogen_lengths"  # (b,) int64: valid latent frames of each item
FRAMES = "audiogen_frames"  # int: the latent length the conditioning was laid out for

# In a LATENT dict: the exact waveform length of each item (a set duration need not be a
# whole number of frames), with the frame count and batch it belongs to.
SAMPLES = "audiogen_num_samples"
