"""Tests of the audio tokenizer beyond the golden cases: checkpoint layout of the full-size
model, reduced precisions, known signals through the ISTFT and the mel front-ends, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from golden_checks.audio_tokenizer import build_tokenizer
from golden_io import SHIPPED_GOLDEN_DIR, first_case

from audiogen_core.models.audio_tokenizer import DashengAudioTokenizer
from audiogen_core.models.audio_tokenizer.decoder import ISTFTHead
from audiogen_core.models.audio_tokenizer.encoder import SEMANTIC_HOP
from audiogen_core.models.audio_tokenizer.frontend import AmplitudeToDB, MelSpectrogram
from audiogen_core.models.derived_buffers import derived_buffer_keys, reset_derived_buffers

MANIFEST = json.loads((SHIPPED_GOLDEN_DIR / "manifest_tokenizer.json").read_text())
DECODE_PREFIXES = ("upsampler.", "decoder.")


@pytest.fixture(scope="module")
def decode_case():
    return first_case("case_d")


@pytest.fixture(scope="module")
def encode_case():
    return first_case("case_e_")


@pytest.fixture(scope="module")
def small(encode_case) -> DashengAudioTokenizer:
    return build_tokenizer(encode_case.meta["tokenizer_config"], encode_case.weights)


def _layout(model: torch.nn.Module) -> list[tuple[str, list[int], str]]:
    return [
        (k, list(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in model.state_dict().items()
    ]


# Full-size layout --------------------------------------------------------------------------------


def test_full_size_state_dict_matches_official_keys():
    with torch.device("meta"):
        model = DashengAudioTokenizer.from_config(MANIFEST["config"])
    expected = [(e["key"], e["shape"], e["dtype"]) for e in MANIFEST["keys"]]
    assert _layout(model) == expected
    assert all(t.is_meta for t in model.state_dict().values()), "meta build allocated memory"
    counts = MANIFEST["param_counts"]
    assert sum(p.numel() for p in model.parameters()) == counts["total_parameters"]
    assert derived_buffer_keys(model) == {
        "decoder.head.istft.window",
        "encoder.model.front_end.0.spectrogram.window",
        "encoder.model.front_end.0.mel_scale.fb",
        "encoder.front_end.mel_spec.spectrogram.window",
        "encoder.front_end.mel_spec.mel_scale.fb",
    }


def test_full_size_decode_only_is_the_decode_subset():
    with torch.device("meta"):
        model = DashengAudioTokenizer.from_config(MANIFEST["config"], include_encoder=False)
    expected = [
        (e["key"], e["shape"], e["dtype"])
        for e in MANIFEST["keys"]
        if e["key"].startswith(DECODE_PREFIXES)
    ]
    assert _layout(model) == expected
    assert (
        sum(p.numel() for p in model.parameters()) == MANIFEST["param_counts"]["decode_path_total"]
    )
    assert not model.has_encoder
    assert (model.sample_rate, model.samples_per_frame, model.frame_rate, model.latent_dim) == (
        16000,
        640,
        25,
        1280,
    )


def test_reset_derived_buffers_on_meta_lands_on_cpu_in_float32():
    with torch.device("meta"):
        model = DashengAudioTokenizer.from_config(MANIFEST["config"], include_encoder=False)
    reset_derived_buffers(model)
    window = model.decoder.head.istft.window
    assert window.device.type == "cpu" and window.dtype == torch.float32
    assert torch.equal(window, torch.hann_window(MANIFEST["config"]["istft_n_fft"]))


# Shapes and reduced precision --------------------------------------------------------------------


def _encoded_length(model, num_samples: int) -> int:
    """Latent frames ``encode`` returns: one per 4 STFT frames of 1 + N // hop."""
    return (1 + num_samples // model.config.hop_length) // 4


def test_shapes_follow_the_frame_arithmetic(small):
    latent = torch.randn(3, small.latent_dim, 5)
    assert small.decode(latent).shape == (3, 5 * small.samples_per_frame)
    for n in (small.min_encode_samples, 20800, 20959):
        emb = small.encode(0.1 * torch.randn(2, n))
        assert emb.shape == (2, small.latent_dim, _encoded_length(small, n))
        assert emb.dtype == torch.float32


def test_encode_pads_a_short_last_chunk(small):
    chunk = small.encoder.model.chunk_frames
    n = chunk * SEMANTIC_HOP  # 1 + n // hop frames: a full chunk plus one frame padded to 4
    waveform = 0.1 * torch.randn(1, n)
    with torch.no_grad():
        semantic = small.encoder.model(waveform)
    assert semantic.shape[1] == chunk // 4 + 1
    emb = small.encode(waveform)
    assert emb.shape == (1, small.latent_dim, _encoded_length(small, n))
    assert torch.isfinite(emb).all()


@pytest.mark.parametrize(
    "sizes",
    [
        {
            "embed_dim": 24,
            "depth": 1,
            "num_heads": 3,
            "decoder_embed_dim": 16,
            "decoder_depth": 3,
            "decoder_intermediate_size": 40,
            "istft_n_fft": 640,
            "istft_hop": 160,
            "upsample_tokens": 4,
            "n_mels_patch": 80,
            "hop_length": 160,
        },
        {
            "embed_dim": 16,
            "depth": 2,
            "num_heads": 2,
            "decoder_embed_dim": 16,
            "decoder_depth": 1,
            "decoder_intermediate_size": 32,
            "istft_n_fft": 1280,
            "istft_hop": 640,
            "upsample_tokens": 1,
            "n_mels_patch": 128,
            "hop_length": 320,
        },
    ],
)
def test_other_sizes_build_and_run(sizes):
    model = DashengAudioTokenizer.from_config({**MANIFEST["config"], **sizes}).eval()
    assert ("upsampler.weight" in model.state_dict()) == (sizes["upsample_tokens"] > 1)
    waveform = model.decode(torch.randn(2, sizes["embed_dim"], 3))
    assert waveform.shape == (2, 3 * sizes["istft_hop"] * sizes["upsample_tokens"])
    emb = model.encode(0.1 * torch.randn(2, 5000))
    assert emb.shape == (2, sizes["embed_dim"], (1 + 5000 // sizes["hop_length"]) // 4)


def _in_dtype(case, dtype: torch.dtype, include_encoder: bool) -> DashengAudioTokenizer:
    model = build_tokenizer(case.meta["tokenizer_config"], case.weights, include_encoder)
    model = model.to(dtype)
    reset_derived_buffers(model)  # as the loader does: derived buffers stay float32
    return model


REDUCED = [(torch.bfloat16, 5e-2), (torch.float16, 1e-2)]


@pytest.mark.parametrize(("dtype", "k"), REDUCED)
def test_reduced_precision_decode_tracks_float32(decode_case, dtype, k):
    latent = decode_case.inputs["latent"].transpose(1, 2)  # the reference's are time-major
    expected = _in_dtype(decode_case, torch.float32, False).decode(latent)
    model = _in_dtype(decode_case, dtype, False)
    assert model.dtype == dtype and model.decoder.head.istft.window.dtype == torch.float32
    waveform = model.decode(latent)
    assert waveform.dtype == torch.float32 and torch.isfinite(waveform).all()
    assert (waveform - expected).abs().max() <= k * expected.abs().max()


@pytest.mark.parametrize(("dtype", "k"), REDUCED)
def test_reduced_precision_encode_tracks_float32(encode_case, dtype, k):
    audio = encode_case.inputs["waveform"]
    expected = _in_dtype(encode_case, torch.float32, True).encode(audio)
    emb = _in_dtype(encode_case, dtype, True).encode(audio)
    assert emb.dtype == torch.float32 and torch.isfinite(emb).all()
    assert (emb - expected).abs().max() <= k * expected.abs().max()


# Known signals -----------------------------------------------------------------------------------


def _head(n_fft: int = 1280, hop: int = 320, dim: int = 8) -> ISTFTHead:
    head = ISTFTHead(dim, n_fft, hop)
    torch.nn.init.zeros_(head.out.weight)
    return head


@pytest.mark.parametrize("log_magnitude", [math.log(3.0), math.log(1000.0)])
def test_head_with_a_constant_bin_synthesises_a_cosine(log_magnitude):
    n_fft, hop = 1280, 320
    head = _head(n_fft, hop)
    bins = n_fft // 2 + 1
    k = 4 * (n_fft // math.gcd(n_fft, hop))  # k * hop / n_fft is whole: same phase every frame
    phase = 0.7
    with torch.no_grad():
        head.out.bias.zero_()
        head.out.bias[:bins] = -30.0  # every other bin: magnitude ~1e-13
        head.out.bias[k] = log_magnitude
        head.out.bias[bins + k] = phase
    frames = 9
    with torch.no_grad():
        out = head(torch.zeros(1, frames, 8))
    # One bin of magnitude A (clipped at 100) gives a cosine of amplitude 2A / n_fft in every
    # frame; overlap-adding the windowed frames and dividing by the summed squared window
    # scales each sample by sum(w) / sum(w^2) over the frames covering it.
    window = np.hanning(n_fft + 1)[:-1]
    covered = np.zeros((2, (frames - 1) * hop + n_fft))
    for f in range(frames):
        covered[0, f * hop : f * hop + n_fft] += window
        covered[1, f * hop : f * hop + n_fft] += window**2
    pad = (n_fft - hop) // 2
    gain = covered[0, pad : pad + frames * hop] / covered[1, pad : pad + frames * hop]
    n = np.arange(frames * hop) + pad
    amplitude = 2 * min(math.exp(log_magnitude), 100.0) / n_fft
    expected = amplitude * gain * np.cos(2 * np.pi * k * n / n_fft + phase)
    assert out.shape == (1, frames * hop)
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-5 * amplitude)


def test_istft_inverts_a_same_padded_stft():
    n_fft, hop, frames = 1280, 320, 11
    pad = (n_fft - hop) // 2
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((2, frames * hop))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(signal, ((0, 0), (pad, pad)), mode="reflect")
    starts = np.arange(frames) * hop
    segments = np.stack([padded[:, s : s + n_fft] for s in starts], axis=-1)  # (B, n_fft, T)
    spectrum = np.fft.rfft(segments * window[:, None], axis=1)
    istft = _head(n_fft, hop).istft
    out = istft(torch.from_numpy(spectrum).to(torch.complex64))
    np.testing.assert_allclose(out.numpy(), signal, atol=1e-5)


def _numpy_htk_mel(
    audio: np.ndarray, n_fft: int, hop: int, n_mels: int, sample_rate: int, power: float
) -> np.ndarray:
    """Textbook float64 mel spectrogram: reflect-centred STFT, periodic Hann, HTK mel."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    count = 1 + audio.shape[-1] // hop
    segments = np.stack([padded[:, i * hop : i * hop + n_fft] for i in range(count)], axis=-1)
    spectrum = np.abs(np.fft.rfft(segments * window[:, None], axis=1)) ** power
    mel = 2595.0 * np.log10(1.0 + np.array([0.0, sample_rate / 2]) / 700.0)
    edges = 700.0 * (10 ** (np.linspace(mel[0], mel[1], n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)[:, None]
    rising = (freqs - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[None, 2:] - freqs) / (edges[2:] - edges[1:-1])
    fb = np.maximum(0.0, np.minimum(rising, falling))
    return np.einsum("fm,bft->bmt", fb, spectrum)


@pytest.mark.parametrize(("n_fft", "n_mels", "power"), [(512, 64, 2.0), (1024, 128, 1.0)])
def test_mel_front_ends_match_a_numpy_computation(n_fft, n_mels, power):
    rng = np.random.default_rng(1)
    t = np.arange(8000) / 16000
    audio = np.stack(
        [
            np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(t.size),
            0.01 * rng.standard_normal(t.size),
        ]
    )
    ours = MelSpectrogram(16000, n_fft, 160, n_mels, power)(torch.from_numpy(audio).float())
    expected = _numpy_htk_mel(audio, n_fft, 160, n_mels, 16000, power)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(
        ours.double().numpy(), expected, rtol=1e-4, atol=1e-6 * expected.max()
    )


def test_decibel_floor_is_shared_by_the_batch():
    power = torch.tensor([[[1e4, 1.0]], [[1e-9, 1e-9]]])
    db = AmplitudeToDB(top_db=120.0)(power)
    assert db[0, 0].tolist() == pytest.approx([40.0, 0.0])
    assert db[1, 0].tolist() == pytest.approx([-80.0, -80.0])  # floor = 40 - 120, not -90 - 120


# Errors ------------------------------------------------------------------------------------------


def test_decode_only_tokenizer_refuses_to_encode(decode_case):
    model = build_tokenizer(
        decode_case.meta["tokenizer_config"], decode_case.weights, include_encoder=False
    )
    with pytest.raises(RuntimeError, match="without its encoder"):
        model.encode(torch.zeros(1, 16000))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: torch.zeros(1, 7, d), "transpose"),
        (lambda d: torch.zeros(d, 7), "channels-first"),
        (lambda d: torch.zeros(1, d, 0), "non-empty"),
        (lambda d: torch.zeros(1, d, 3, dtype=torch.long), "floating-point"),
    ],
)
def test_decode_rejects_bad_latents(small, make, match):
    with pytest.raises(ValueError, match=match):
        small.decode(make(small.latent_dim + 1 if match == "transpose" else small.latent_dim))


@pytest.mark.parametrize(
    ("waveform", "match"),
    [
        (torch.zeros(16000), "batch"),
        (torch.zeros(1, 1, 16000), "batch"),
        (torch.zeros(1, 16000, dtype=torch.int16), "floating-point"),
        (torch.zeros(1, 400), "at least"),
        (torch.full((1, 16000), float("nan")), "NaN"),
    ],
)
def test_encode_rejects_bad_waveforms(small, waveform, match):
    with pytest.raises(ValueError, match=match):
        small.encode(waveform)


def test_config_errors_name_the_problem():
    config = dict(MANIFEST["config"])
    del config["istft_hop"]
    with pytest.raises(ValueError, match="istft_hop"):
        DashengAudioTokenizer.from_config(config)
    with pytest.raises(ValueError, match="num_heads"):
        DashengAudioTokenizer.from_config({**MANIFEST["config"], "num_heads": 7})
