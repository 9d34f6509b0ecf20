"""Golden checks for the audio tokenizer: case d (decode) and case e (encode).

The tokenizer is built from the sidecar config on the meta device and receives the fixture
weights the way the real loader does: derived buffers (windows, mel filterbanks) are left out of
the state dict and recomputed, so the check also proves they are not needed from a checkpoint.
"""

from __future__ import annotations

import torch
from golden_io import GoldenCase, assert_scaled_close

from audiogen_core.models.audio_tokenizer import DashengAudioTokenizer
from audiogen_core.models.derived_buffers import derived_buffer_keys, reset_derived_buffers
from audiogen_core.models.ops import PlainOps

K = 1e-4


def build_tokenizer(
    config: dict,
    weights: dict[str, torch.Tensor],
    include_encoder: bool = True,
    operations=PlainOps,
) -> DashengAudioTokenizer:
    """Meta-device build, assign-load of the learned weights, derived buffers recomputed."""
    with torch.device("meta"):
        model = DashengAudioTokenizer.from_config(config, include_encoder, operations)
    derived = derived_buffer_keys(model)
    expected = set(model.state_dict()) - derived
    state = {k: v for k, v in weights.items() if k in expected}
    assert set(state) == expected, f"fixture lacks {sorted(expected - set(state))}"
    model.load_state_dict(state, strict=False, assign=True)
    reset_derived_buffers(model)
    return model.eval()


def check_decode(case: GoldenCase, operations=PlainOps) -> None:
    model = build_tokenizer(
        case.meta["tokenizer_config"], case.weights, include_encoder=False, operations=operations
    )
    latent = case.inputs["latent"].transpose(1, 2)  # the reference's latents are time-major
    with torch.no_grad():
        upsampled = model.upsample(latent)
        backbone_out = model.decoder.backbone(upsampled)
        head_linear = model.decoder.head.out(backbone_out)
    checks = {
        "debug.upsampled": upsampled,
        "debug.vocos_backbone_out": backbone_out,
        "debug.head_linear_out": head_linear,
        "waveform": model.decode(latent),
    }
    for name, ours in checks.items():
        assert_scaled_close(ours, case.outputs[name], case.max_abs(name), K, f"{case.name} {name}")


def check_encode(case: GoldenCase, operations=PlainOps) -> None:
    model = build_tokenizer(case.meta["tokenizer_config"], case.weights, operations=operations)
    waveform = case.inputs["waveform"]
    # The reference's embeddings are time-major, ours channels-first.
    checks = {"embeddings": model.encode(waveform).transpose(1, 2)}
    if "embeddings_item1_alone" in case.outputs:
        checks["embeddings_item1_alone"] = model.encode(waveform[1:2]).transpose(1, 2)
    if "debug.semantic_emb" in case.outputs:
        checks.update(_encode_intermediates(model, waveform))
    for name, ours in checks.items():
        assert_scaled_close(ours, case.outputs[name], case.max_abs(name), K, f"{case.name} {name}")


def _encode_intermediates(
    model: DashengAudioTokenizer, waveform: torch.Tensor
) -> dict[str, torch.Tensor]:
    semantic = model.encoder.model
    with torch.no_grad():
        log_mel_db = semantic.front_end(waveform)
        after_bn = semantic.init_bn(log_mel_db)
        acoustic_log_mel = model.encoder.front_end(waveform)
        return {
            "debug.semantic_logmel_db": log_mel_db,
            "debug.semantic_after_bn": after_bn.unsqueeze(1),
            "debug.semantic_emb": semantic.transform(after_bn),
            "debug.acoustic_logmel": acoustic_log_mel,
            "debug.acoustic_emb": model.encoder.acoustic(acoustic_log_mel),
        }
