"""Golden parity checks of the generator: DiT forward (a), adapter and durations (b), the
sampling loop (c) and the schedules (f). The model checks take the ``operations`` to build with.

Each model is built from the case's ``generator_config`` alone and loaded with the case's
weights, so the same checks run on fixture sets with other sizes and seeds.
"""

from __future__ import annotations

import re

import torch
from golden_io import GoldenCase, assert_scaled_close

from audiogen_core.conditioning.alignment import align, expand_by_duration
from audiogen_core.conditioning.encoded import condition
from audiogen_core.models.adapter import frames_mask, local_latent_frames
from audiogen_core.models.derived_buffers import derived_buffer_keys, reset_derived_buffers
from audiogen_core.models.generator import DashengAudioGenerator
from audiogen_core.models.ops import PlainOps
from audiogen_core.sampling.euler import euler_sample
from audiogen_core.sampling.guidance import dit_inputs
from audiogen_core.sampling.sampler import sample
from audiogen_core.sampling.schedules import (
    evaluated_steps,
    sigma_schedule,
    timesteps_from_sigmas,
)

K_FLOAT = 1e-4  # tolerance relative to each output's recorded max_abs (float32)
OPTIONAL_KEYS = {"dummy_param"}  # absent from the fixtures, unused by the model


def load_generator(case: GoldenCase, operations=PlainOps) -> DashengAudioGenerator:
    model = DashengAudioGenerator.from_config(case.meta["generator_config"], operations).eval()
    missing, unexpected = model.load_state_dict(case.weights, strict=False)
    assert not unexpected, f"{case.name}: unexpected checkpoint keys {unexpected}"
    required = set(missing) - OPTIONAL_KEYS - derived_buffer_keys(model)
    assert not required, f"{case.name}: keys missing from the checkpoint {sorted(required)}"
    reset_derived_buffers(model)
    return model


def _close(case: GoldenCase, name: str, ours: torch.Tensor, expected_name: str | None = None):
    expected_name = expected_name or name
    assert_scaled_close(
        ours,
        case.outputs[expected_name],
        case.max_abs(expected_name),
        K_FLOAT,
        f"{case.name}: {expected_name}",
    )


def _exact(case: GoldenCase, name: str, ours: torch.Tensor) -> None:
    expected = case.outputs[name]
    assert ours.dtype == expected.dtype, f"{case.name}: {name} {ours.dtype}, not {expected.dtype}"
    assert torch.equal(ours.cpu(), expected), f"{case.name}: {name}\n{ours}\n!=\n{expected}"


def check_dit_forward(case: GoldenCase, operations=PlainOps) -> None:
    model = load_generator(case, operations)
    i = case.inputs
    with torch.no_grad():
        velocity = model.backbone(
            i["x"],
            i["timestep"],
            i["time_aligned_context"],
            i["context"],
            i["x_mask"],
            i["context_mask"],
        )
    _close(case, "velocity", velocity)


def check_adapter_duration(case: GoldenCase, operations=PlainOps) -> None:
    model = load_generator(case, operations)
    t5_hidden, t5_mask = case.inputs["t5_hidden"], case.inputs["t5_mask"]
    with torch.no_grad():
        projected = model.content_encoder.text_encoder.proj(t5_hidden)
    adapted = model.adapt_content(t5_hidden, t5_mask)
    cond = model.condition(t5_hidden, t5_mask)
    local_frames = local_latent_frames(
        adapted.local_duration_log,
        t5_mask,
        model.frame_rate,
        model.frame_resolution,
        model.duration_offset,
    )
    # The conditioning keeps the tokens up to the longest valid prompt.
    assert torch.equal(cond.local_frames, local_frames[:, : cond.context.shape[1]])
    num_frames = int(cond.latent_lengths.max())
    latent_mask = frames_mask(cond.latent_lengths, num_frames)

    _close(case, "content_projected", projected)
    _exact(case, "instruction_mask", model.instruction(t5_hidden.shape[0])[1])
    _close(case, "adapter_content", adapted.content)
    _close(case, "global_duration_log", adapted.global_duration_log)
    _close(case, "local_duration_log", adapted.local_duration_log)
    # Exact, sign of the padded tokens' -0.0 included.
    _exact(case, "local_latent_duration", local_frames)
    assert torch.equal(
        torch.signbit(local_frames), torch.signbit(case.outputs["local_latent_duration"])
    ), f"{case.name}: signs of local_latent_duration differ"
    _exact(case, "global_latent_duration", cond.latent_lengths)
    _exact(case, "latent_mask", latent_mask)
    _close(
        case,
        "time_aligned_content_expanded",
        expand_by_duration(adapted.content, t5_mask, local_frames, latent_mask),
    )
    _close(case, "context", cond.context)
    _exact(case, "context_mask", cond.context_mask)
    # Text-to-audio's time-aligned input: the learned dummy embedding on every frame.
    _close(
        case,
        "time_aligned_content",
        model.dummy_ta_embed.detach().expand(t5_hidden.shape[0], num_frames, -1),
    )


def _check_each_evaluation(case: GoldenCase, model: DashengAudioGenerator, cond, args) -> None:
    """Replay every recorded DiT evaluation on the recorded latents (localises a drift)."""
    noise = case.inputs["noise"]
    guidance = args["guidance_scale"] > 1.0
    constants = model.prepare(dit_inputs(model, cond, noise.shape[-1], guidance), noise.shape[-1])
    sigmas = sigma_schedule(args["num_steps"], args["sway_sampling_coef"])
    timesteps = timesteps_from_sigmas(sigmas)
    latent = noise
    for k in range(len(timesteps)):
        prefix = f"debug.step{k}"
        _exact(case, f"{prefix}.timestep", timesteps[k])
        x_in = torch.cat([latent, latent]) if guidance else latent
        with torch.no_grad():
            dit_out = model.backbone.velocity(x_in, timesteps[k], constants)
        _close(case, f"{prefix}.dit_out", dit_out)
        latent = case.outputs[f"{prefix}.latent"]


def check_generate(case: GoldenCase, operations=PlainOps) -> None:
    model = load_generator(case, operations)
    t5_hidden, t5_mask = case.inputs["t5_hidden"], case.inputs["t5_mask"]
    cond = condition(model, t5_hidden, t5_mask)
    _check_sampling(case, model, cond)


def check_generate_time_aligned(case: GoldenCase, operations=PlainOps) -> None:
    """generate() with every item time-aligned (spec 6.4b): the model's own timing."""
    assert case.meta["non_tensor_args"]["time_aligned"], f"{case.name}: not a time-aligned case"
    model = load_generator(case, operations)
    t5_hidden, t5_mask = case.inputs["t5_hidden"], case.inputs["t5_mask"]
    text_cond = condition(model, t5_hidden, t5_mask)
    local_frames = case.outputs["debug.local_latent_duration"]
    _exact(case, "debug.local_latent_duration", text_cond.local_frames)
    assert torch.equal(torch.signbit(text_cond.local_frames), torch.signbit(local_frames)), (
        f"{case.name}: signs of local_latent_duration differ"
    )
    cond = align(model, text_cond)
    _close(case, "debug.time_aligned_content_expanded", cond.time_aligned)
    _close(case, "debug.time_aligned_content", cond.time_aligned)
    _check_sampling(case, model, cond)

    guidance = case.meta["non_tensor_args"]["guidance_scale"] > 1.0
    constants_inputs = _dit_inputs(model, cond, case.inputs["noise"].shape[-1], guidance)
    for name, ours in constants_inputs.items():
        check = _exact if ours.dtype == torch.bool else _close
        check(case, f"debug.dit_{name}", ours)


def _dit_inputs(model, cond, num_frames: int, guidance: bool) -> dict[str, torch.Tensor]:
    """What the sampler hands the DiT, captured from its prepare() call."""
    seen = {}

    def prepare(frames, time_aligned_context, context, x_mask, context_mask):
        seen.update(
            time_aligned_context=time_aligned_context,
            context=context,
            x_mask=x_mask,
            context_mask=context_mask,
        )

    original = model.backbone.prepare
    model.backbone.prepare = prepare
    try:
        model.prepare(dit_inputs(model, cond, num_frames, guidance), num_frames)
    finally:
        model.backbone.prepare = original
    return seen


def _check_sampling(case: GoldenCase, model: DashengAudioGenerator, cond) -> None:
    args = case.meta["non_tensor_args"]
    t5_hidden, t5_mask = case.inputs["t5_hidden"], case.inputs["t5_mask"]
    noise = case.inputs["noise"]

    _exact(case, "debug.global_latent_duration", cond.latent_lengths)
    assert noise.shape[-1] == int(cond.latent_lengths.max()), f"{case.name}: predicted length"
    _exact(case, "debug.latent_mask", frames_mask(cond.latent_lengths, noise.shape[-1]))
    _close(case, "debug.adapter_content", model.adapt_content(t5_hidden, t5_mask).content)
    _close(case, "debug.context", cond.context)
    _exact(case, "debug.context_mask", cond.context_mask)
    _exact(case, "debug.sigmas", sigma_schedule(args["num_steps"], args["sway_sampling_coef"]))
    _check_each_evaluation(case, model, cond, args)

    progress = []
    latent = sample(
        model,
        cond,
        noise,
        steps=args["num_steps"],
        guidance=args["guidance_scale"],
        sway=args["sway_sampling_coef"],
        callback=lambda step, total: progress.append((step, total)),
    )
    _close(case, "latent", latent)
    evaluations = len(evaluated_steps(case.outputs["debug.sigmas"]))
    assert progress == [(s, evaluations) for s in range(1, evaluations + 1)], progress


def _parse_schedule(tag: str) -> tuple[int, float]:
    """``n{steps}.sway{coef:+.2f}`` or ``n{steps}.linear`` -> (steps, coef)."""
    match = re.fullmatch(r"n(\d+)\.(?:sway([+-]\d+\.\d+)|linear)", tag)
    assert match, f"unrecognised schedule tag {tag!r}"
    return int(match.group(1)), float(match.group(2) or 0.0)


def check_schedules(case: GoldenCase) -> None:
    tags = case.meta["non_tensor_args"]["combos"]
    assert tags, f"{case.name}: no schedules listed"
    for tag in tags:
        steps, coef = _parse_schedule(tag)
        sigmas = sigma_schedule(steps, coef)
        _exact(case, f"{tag}.sigmas", sigmas)
        _exact(case, f"{tag}.timesteps", timesteps_from_sigmas(sigmas))
        _exact(case, f"{tag}.timesteps_int", timesteps_from_sigmas(sigmas).long())

    euler = [n for n in case.outputs if n.startswith("euler.")]
    assert euler, f"{case.name}: no Euler result recorded"
    velocity = case.inputs["velocity"]
    for name in euler:
        match = re.fullmatch(r"euler\.(sway[+-]\d+\.\d+|linear)\.(n\d+)\.result", name)
        assert match, f"unrecognised Euler output {name!r}"
        steps, coef = _parse_schedule(f"{match.group(2)}.{match.group(1)}")
        sigmas = sigma_schedule(steps, coef)
        result = euler_sample(lambda x, t: velocity, case.inputs["sample"], sigmas)
        _exact(case, name, result)
