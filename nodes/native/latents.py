"""The pack's AUDIOGEN_LATENT <-> ComfyUI's LATENT dict (plain torch).

A LATENT is ``{"samples": (batch, latent_dim, frames), "type": "audio"}`` plus, when some
frames are to be kept, ComfyUI's ``noise_mask`` (batch or 1, 1, frames), 1 = regenerate: the
shape ComfyUI's samplers interpolate to a 1-D latent. The exact waveform length of each item
rides along under ``keys.SAMPLES`` and is used only while the latent still has the frames and
batch it was recorded for (LatentConcat or LatentCut change them; then every item decodes to
its whole length).
"""

from __future__ import annotations

import torch

from audiogen_core.conditioning.timegrid import TimeGrid
from audiogen_core.sampling.latent import AudioLatent

from . import keys


def empty(batch: int, channels: int, frames: int, num_samples: list[int], grid: TimeGrid) -> dict:
    """A LATENT of zeros whose items decode to ``num_samples`` samples each."""
    samples = torch.zeros(batch, channels, frames)
    return {"samples": samples, "type": "audio", keys.SAMPLES: _info(frames, num_samples, grid)}


def _info(frames: int, num_samples: list[int], grid: TimeGrid) -> dict:
    return {
        "frames": frames,
        "num_samples": [int(n) for n in num_samples],
        "frame_rate": grid.frame_rate,
        "sample_rate": grid.sample_rate,
    }


def to_comfy(latent: AudioLatent) -> dict:
    """A LATENT holding the same frames (and noise mask) as ``latent``."""
    samples = latent.latent.float().clone()
    grid = TimeGrid(frame_rate=latent.frame_rate, sample_rate=latent.sample_rate)
    out = {
        "samples": samples,
        "type": "audio",
        keys.SAMPLES: _info(int(samples.shape[-1]), latent.num_samples, grid),
    }
    if latent.noise_mask is not None:
        out["noise_mask"] = torch.as_tensor(latent.noise_mask, dtype=torch.float32)[:, None, :]
    return out


def from_comfy(latent: dict, default_grid: TimeGrid) -> AudioLatent:
    """An AUDIOGEN_LATENT from a LATENT made by any ComfyUI sampler or latent node; on
    ``default_grid`` unless the LATENT says which grid it is on."""
    if not isinstance(latent, dict) or "samples" not in latent:
        raise ValueError("expected a LATENT (a dict with samples)")
    samples = latent["samples"]
    if samples.dim() != 3:
        raise ValueError(
            f"this LATENT is shaped {tuple(samples.shape)}, not (batch, channels, frames): it "
            "is not AudioGen latent audio (an image or another audio model's latent?)"
        )
    batch, frames = int(samples.shape[0]), int(samples.shape[-1])
    recorded = latent.get(keys.SAMPLES)
    recorded = recorded if isinstance(recorded, dict) else {}
    grid = default_grid
    if "frame_rate" in recorded and "sample_rate" in recorded:
        grid = TimeGrid(int(recorded["frame_rate"]), int(recorded["sample_rate"]))
    full = frames * grid.samples_per_frame
    num_samples = [full] * batch
    if recorded.get("frames") == frames and len(recorded.get("num_samples", ())) == batch:
        num_samples = [int(n) for n in recorded["num_samples"]]
    covering = [min(grid.frames_covering(n), frames) for n in num_samples]
    lengths = torch.tensor(covering, dtype=torch.int64)
    mask = latent.get("noise_mask")
    if mask is not None:
        mask = _frame_mask(mask, batch, frames)
    return AudioLatent(
        latent=samples.float().cpu(),
        lengths=lengths,
        num_samples=num_samples,
        frame_rate=grid.frame_rate,
        sample_rate=grid.sample_rate,
        noise_mask=mask,
    )


def _frame_mask(mask: torch.Tensor, batch: int, frames: int) -> torch.Tensor:
    """A LATENT noise mask as the pack's (batch or 1, frames)."""
    mask = torch.as_tensor(mask, dtype=torch.float32).cpu()
    if mask.dim() == 3:
        mask = mask[:, 0]
    if mask.dim() != 2 or mask.shape[-1] != frames or mask.shape[0] not in (1, batch):
        raise ValueError(
            f"this LATENT's noise_mask is shaped {tuple(mask.shape)}; an AudioGen latent of "
            f"{batch} x {frames} frames takes (1 or {batch}, 1, {frames})"
        )
    return mask
