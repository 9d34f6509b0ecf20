"""Mixer DSP (audiogen_core/media/mixing.py and loudness.py) on real and synthetic audio.

Real audio is made on the fly: speech with espeak-ng, music (plucked chords) and pink noise with
sox. Loudness and true peak are cross-checked against ffmpeg's ebur128 meter. Tests needing one
of these programs are skipped, naming the Debian package, when it is not installed.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import welch

from audiogen_core.media.loudness import normalize_loudness
from audiogen_core.media.mixing import (
    Ducking,
    Layer,
    MixSettings,
    ducking_gain,
    format_report,
    measure,
    mix,
    normalize,
    true_peak_dbtp,
)
from audiogen_core.media.resampling import resample

SR = 48000
PACKAGES = {"espeak-ng": "espeak-ng", "sox": "sox", "ffmpeg": "ffmpeg"}
SPEECH_TEXT = "Welcome to the harbour at dawn where the fishing boats are coming home"
CHORDS = ["C3 E4", "F3 A4", "G3 B4", "C3 G4", "A2 C4", "D3 F4", "G2 D4", "C3 E4"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {PACKAGES[name]})")
    return path


def _read(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, always_2d=True, dtype="float32")
    return audio.T.copy(), rate


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    """espeak-ng speech, mono 22.05 kHz, about 4 s."""
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run([_tool("espeak-ng"), "-w", str(path), SPEECH_TEXT], check=True)
    return _read(path)


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> tuple[np.ndarray, int]:
    """sox plucked chords, one a second, stereo 44.1 kHz, 8 s."""
    path = tmp_path_factory.mktemp("audio") / "music.wav"
    chains: list[str] = []
    for chord in CHORDS:
        chains += [":", "synth", "1", *(f"pluck {note}" for note in chord.split())]
    args = " ".join(chains[1:]).split()
    subprocess.run([_tool("sox"), "-n", "-r", "44100", "-c", "2", str(path), *args], check=True)
    return _read(path)


@pytest.fixture(scope="module")
def noise(tmp_path_factory) -> tuple[np.ndarray, int]:
    """sox pink noise, mono 48 kHz, 5 s; the same noise on every run (-R), so the comparison
    with ffmpeg's meter does not depend on a random draw."""
    path = tmp_path_factory.mktemp("audio") / "noise.wav"
    args = ["-R", "-n", "-r", "48000", "-c", "1", str(path)]
    args += ["synth", "5", "pinknoise", "vol", "0.3"]
    subprocess.run([_tool("sox"), *args], check=True)
    return _read(path)


@pytest.fixture
def clip(request) -> tuple[np.ndarray, int]:
    return request.getfixturevalue(request.param)


REAL_CLIPS = pytest.mark.parametrize("clip", ["speech", "music", "noise"], indirect=True)


def ffmpeg_meter(waveform, sample_rate: int, folder: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from ffmpeg's ebur128 filter, printed to 0.1 dB."""
    path = folder / "metered.wav"
    sf.write(path, np.asarray(waveform, dtype=np.float32).T, sample_rate, subtype="FLOAT")
    command = [_tool("ffmpeg"), "-nostats", "-hide_banner", "-i", str(path)]
    command += ["-af", "ebur128=peak=true", "-f", "null", "-"]
    log = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    summary = log[log.rindex("Summary:") :]
    loudness = re.search(r"I:\s+(\S+) LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(\S+) dBFS", summary)
    assert loudness and peak, f"unexpected ffmpeg summary:\n{summary}"
    return float(loudness.group(1)), float(peak.group(1))


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def window_gain_db(processed: np.ndarray, dry: np.ndarray, start: int, end: int) -> float:
    return 10 * math.log10(np.sum(processed[:, start:end] ** 2) / np.sum(dry[:, start:end] ** 2))


# Loudness and true peak ------------------------------------------------------------------------


def test_loudness_calibration_ebu_tech_3341():
    """EBU Tech 3341 case 1: stereo 1 kHz sine at -23 dBFS reads -23.0 LUFS."""
    amplitude = 10 ** (-23 / 20)
    sine = tone(1000, 20, SR, amplitude)
    report = measure(np.stack([sine, sine]), SR)
    assert report["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert report["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.05)
    assert report["duration_s"] == 20.0


def test_true_peak_reads_between_samples():
    """A 12 kHz sine sampled 45 degrees off its crests: samples at -9.03 dB, true peak -6.02."""
    n = np.arange(SR)
    sine = 0.5 * np.sin(2 * np.pi * 12000 * n / SR + np.pi / 4)
    taper = np.hanning(960)  # soft ends: an abrupt start would ring above the crests
    sine[:480] *= taper[:480]
    sine[-480:] *= taper[480:]
    report = measure(sine, SR)
    assert report["sample_peak_dbfs"] == pytest.approx(-9.03, abs=0.01)
    assert report["true_peak_dbtp"] == pytest.approx(-6.02, abs=0.05)
    assert true_peak_dbtp(torch.from_numpy(sine), SR) == report["true_peak_dbtp"]


@REAL_CLIPS
def test_measure_agrees_with_ffmpeg(clip, tmp_path):
    audio, rate = clip
    ours = measure(audio, rate)
    loudness, peak = ffmpeg_meter(audio, rate, tmp_path)
    assert abs(ours["integrated_lufs"] - loudness) <= 0.2, (ours, loudness)
    assert abs(ours["true_peak_dbtp"] - peak) <= 0.2, (ours, peak)
    assert ours["duration_s"] == audio.shape[1] / rate


@REAL_CLIPS
def test_normalize_reaches_target_cross_checked(clip, tmp_path):
    audio, rate = clip
    out = normalize(audio, rate, target_lufs=-23.0, true_peak_dbtp=-1.0)
    ours = measure(out, rate)
    loudness, peak = ffmpeg_meter(out, rate, tmp_path)
    assert abs(ours["integrated_lufs"] + 23.0) <= 0.05
    assert abs(loudness + 23.0) <= 0.5
    assert ours["true_peak_dbtp"] <= -1.0 and peak <= -1.0


@pytest.mark.parametrize(
    ("clip", "target"), [("speech", -16.0), ("music", -9.0), ("noise", -12.0)], indirect=["clip"]
)
def test_limiter_reaches_loud_target_under_ceiling(clip, target, tmp_path):
    """Targets that need 3 to 8 dB of peak limiting: reached, and never over -1 dBTP."""
    audio, rate = clip
    out, info = normalize_loudness(audio.astype(np.float64), rate, target, -1.0, 12.0)
    ours = measure(out, rate)
    loudness, peak = ffmpeg_meter(out, rate, tmp_path)
    assert info.target_reached and info.note == "" and info.limiting_db > 2.0
    assert abs(ours["integrated_lufs"] - target) <= 0.1
    assert abs(loudness - target) <= 0.5
    assert ours["true_peak_dbtp"] <= -1.0 and ours["sample_peak_dbfs"] <= -1.0
    assert peak <= -1.0


def test_ceiling_wins_over_target_without_limiter(speech, caplog):
    audio, rate = speech
    with caplog.at_level(logging.WARNING):
        out = normalize(audio, rate, target_lufs=-12.0, true_peak_dbtp=-1.0)
    report = measure(out, rate)
    assert -1.01 <= report["true_peak_dbtp"] <= -1.0
    assert report["integrated_lufs"] < -13.0
    assert "not reached" in caplog.text


def test_limiter_only_touches_the_peaks():
    """A quiet tone with one loud click: the tone far from the click gets only the static gain."""
    audio = tone(1000, 4, SR, 0.05)
    click = slice(2 * SR, 2 * SR + 480)
    audio[click] += 0.9 * np.random.default_rng(0).uniform(-1, 1, 480)
    out, info = normalize_loudness(audio[None, :], SR, -14.0, -1.0, 24.0)
    loud = np.abs(audio) > 0.01  # skip zero crossings, where the ratio is ill-defined
    ratio_db = 20 * np.log10(np.abs(out[0][loud]) / np.abs(audio[loud]))
    untouched = np.zeros(len(audio), bool)
    untouched[: int(1.95 * SR)] = untouched[int(3.3 * SR) :] = True
    assert info.limiting_db > 10.0
    assert np.abs(ratio_db[untouched[loud]] - info.gain_db).max() < 0.01
    assert ratio_db.max() < info.gain_db + 1e-6  # the limiter only ever turns down
    assert true_peak_dbtp(out, SR) <= -1.0


def test_short_clip_measured_as_one_block():
    """A 200 ms tone measures what the same tone measures over 2 s (documented behaviour)."""
    short = measure(tone(1000, 0.2, SR), SR)["integrated_lufs"]
    long = measure(tone(1000, 2.0, SR), SR)["integrated_lufs"]
    assert short == pytest.approx(long, abs=0.1)


def test_silence_is_minus_infinity_and_left_alone():
    silence = np.zeros((2, SR), np.float32)
    report = measure(silence, SR)
    assert report["integrated_lufs"] == report["true_peak_dbtp"] == -math.inf
    assert np.array_equal(normalize(silence, SR), silence)


def test_normalize_returns_the_kind_it_was_given(noise):
    audio, rate = noise
    as_tensor = normalize(torch.from_numpy(audio), rate, -23.0)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    assert as_tensor.shape == audio.shape
    mono = normalize(audio[0].astype(np.float64), rate, -23.0)
    assert isinstance(mono, np.ndarray) and mono.dtype == np.float64 and mono.ndim == 1
    assert np.allclose(mono, as_tensor.numpy()[0], atol=1e-6)


# Resampling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rates", [(48000, 16000), (16000, 44100), (22050, 48000)])
def test_resampling_keeps_a_tone(rates):
    source_rate, target_rate = rates
    out = resample(tone(1000, 2, source_rate), source_rate, target_rate)
    assert len(out) == 2 * target_rate
    middle = out[target_rate // 4 : -target_rate // 4]  # away from the edges
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle)), n=8 * len(middle)))
    peak_hz = spectrum.argmax() * target_rate / (8 * len(middle))
    level_db = 20 * math.log10(np.sqrt(np.mean(middle**2)) / (0.5 / math.sqrt(2)))
    assert abs(peak_hz - 1000) < 0.5
    assert abs(level_db) < 0.1


def test_resampling_keeps_the_noise_spectrum_below_nyquist(noise):
    audio, rate = noise
    out = resample(audio, rate, 16000)
    freqs, before = welch(audio[0], rate, nperseg=4800)  # 10 Hz bins at both rates
    _, after = welch(out[0], 16000, nperseg=1600)
    band = (freqs[: len(after)] > 20) & (freqs[: len(after)] < 0.9 * 8000)
    change_db = 10 * np.log10(after[band] / before[: len(after)][band])
    assert np.abs(change_db).max() < 0.1


def test_resample_keeps_kind_and_device():
    audio = torch.from_numpy(tone(1000, 1, 16000)).to(torch.float32)
    out = resample(audio, 16000, 48000)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (48000,)


# Layers: offsets, pan, fades, mute/solo, length ------------------------------------------------


def impulse(rate: int, seconds: float = 0.5, at: int = 0) -> np.ndarray:
    audio = np.zeros((1, round(seconds * rate)), np.float32)
    audio[0, at] = 0.5
    return audio


@pytest.mark.parametrize("offset_s", [0.0, 0.25, 1 / 3, 0.1234567, 2.0])
def test_offset_lands_on_the_exact_sample(offset_s):
    result = mix([Layer(impulse(SR), SR, offset_s=offset_s)], MixSettings(SR, channels=1))
    out = result.waveform[0].numpy()
    position = round(offset_s * SR)
    assert out[position] == 0.5 and np.count_nonzero(out) == 1
    assert len(out) == position + SR // 2


def test_offset_after_trim_and_resampling():
    """An impulse 50 ms into a 16 kHz source, trimmed to the layer start, lands at 0.25 s."""
    layer = Layer(impulse(16000, at=800), 16000, offset_s=0.25, trim_start_s=0.05)
    out = mix([layer], MixSettings(44100, channels=1)).waveform[0].numpy()
    assert np.abs(out).argmax() == round(0.25 * 44100)


def test_constant_power_pan():
    rng = np.random.default_rng(1)
    source = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    for pan in np.linspace(-1, 1, 9):
        out = mix([Layer(source, SR, pan=float(pan))], MixSettings(SR)).waveform.numpy()
        angle = (pan + 1) * np.pi / 4
        np.testing.assert_allclose(out[0], source * np.cos(angle), atol=1e-7)
        np.testing.assert_allclose(out[1], source * np.sin(angle), atol=1e-7)
        np.testing.assert_allclose(out[0] ** 2 + out[1] ** 2, source**2, rtol=1e-5, atol=1e-12)
    centre = mix([Layer(source, SR)], MixSettings(SR)).waveform.numpy()
    assert 20 * math.log10(np.abs(centre[0]).max() / np.abs(source).max()) == pytest.approx(
        -3.0103, abs=1e-3
    )


def test_stereo_pan_is_a_constant_power_balance():
    rng = np.random.default_rng(2)
    source = (0.1 * rng.standard_normal((2, SR))).astype(np.float32)
    centre = mix([Layer(source, SR)], MixSettings(SR)).waveform.numpy()
    assert np.array_equal(centre, source)
    right = mix([Layer(source, SR, pan=1.0)], MixSettings(SR)).waveform.numpy()
    assert np.abs(right[0]).max() < 1e-7
    np.testing.assert_allclose(right[1], source[1] * math.sqrt(2), rtol=1e-6)
    half = mix([Layer(source, SR, pan=-0.5)], MixSettings(SR)).waveform.numpy()
    gains = np.sqrt(np.mean(half**2, axis=1) / np.mean(source**2, axis=1))
    assert gains @ gains == pytest.approx(2.0)


def test_mono_output_folds_stereo_down():
    source = np.stack([np.full(SR, 0.2), np.full(SR, 0.4)]).astype(np.float32)
    out = mix([Layer(source, SR, pan=0.7)], MixSettings(SR, channels=1)).waveform.numpy()
    np.testing.assert_allclose(out, np.full((1, SR), 0.3), rtol=1e-6)


def test_equal_power_fades():
    ones = np.full((1, SR), 0.25, np.float32)
    out = (
        mix([Layer(ones, SR, fade_in_s=0.1, fade_out_s=0.2)], MixSettings(SR, channels=1))
        .waveform[0]
        .numpy()
    )
    rise, fall = np.arange(4800), np.arange(9600)
    assert out[0] == 0.0
    np.testing.assert_allclose(out[:4800], 0.25 * np.sin(np.pi / 2 * rise / 4800), atol=1e-7)
    np.testing.assert_allclose(out[-9600:], 0.25 * np.cos(np.pi / 2 * fall / 9600), atol=1e-7)
    np.testing.assert_allclose(out[4800:-9600], 0.25)
    assert out[2400] == pytest.approx(0.25 / math.sqrt(2), rel=1e-6)  # -3 dB halfway


def test_equal_power_crossfade_keeps_power():
    """A fade-out and a fade-in over the same 0.2 s: gain_a^2 + gain_b^2 == 1 throughout."""
    ones = np.ones((1, SR), np.float32) * 0.5
    a = Layer(ones, SR, fade_out_s=0.2)
    b = Layer(ones, SR, offset_s=0.8, fade_in_s=0.2)
    settings = MixSettings(SR, channels=1)
    a.solo = True
    gain_a = mix([a, b], settings).waveform[0].numpy() / 0.5
    a.solo, b.solo = False, True
    gain_b = mix([a, b], settings).waveform[0].numpy() / 0.5
    overlap = slice(int(0.8 * SR), SR)
    np.testing.assert_allclose(gain_a[overlap] ** 2 + gain_b[overlap] ** 2, 1.0, atol=1e-6)


def test_a_fade_longer_than_its_layer_is_shortened():
    ones = np.full((1, 4800), 0.25, np.float32)
    out = mix([Layer(ones, SR, fade_in_s=1.0)], MixSettings(SR, channels=1)).waveform[0].numpy()
    np.testing.assert_allclose(out, 0.25 * np.sin(np.pi / 2 * np.arange(4800) / 4800), atol=1e-7)


def constant(value: float, seconds: float) -> np.ndarray:
    return np.full((1, round(seconds * SR)), value, np.float32)


@pytest.mark.parametrize(
    ("flags", "first_second", "after"),
    [
        ({}, 0.6, 0.2),
        ({"b": "mute"}, 0.4, 0.0),
        ({"a": "solo"}, 0.1, 0.0),
        ({"a": "solo", "c": "solo"}, 0.4, 0.0),
        ({"a": "solo", "b": "mute"}, 0.1, 0.0),
        ({"a": "solo mute"}, 0.0, 0.0),  # a muted layer stays silent even when soloed
    ],
)
def test_mute_and_solo(flags, first_second, after):
    layers = {"a": Layer(constant(0.1, 1), SR), "b": Layer(constant(0.2, 2), SR)}
    layers["c"] = Layer(constant(0.3, 1), SR)
    for name, words in flags.items():
        for word in words.split():
            setattr(layers[name], word, True)
    out = mix(list(layers.values()), MixSettings(SR, channels=1)).waveform[0].numpy()
    assert len(out) == 2 * SR  # muting or soloing never changes the length
    np.testing.assert_allclose(out[:SR], first_second, atol=1e-6)
    np.testing.assert_allclose(out[SR:], after, atol=1e-6)


def test_fixed_duration_pads_and_trims_exactly(noise):
    audio, rate = noise  # 5 s at 48 kHz
    cut = mix([Layer(audio, rate)], MixSettings(SR, channels=1, duration_s=2.5)).waveform
    assert cut.shape == (1, 120000)
    np.testing.assert_array_equal(cut[0].numpy(), audio[0, :120000])
    padded = mix([Layer(audio, rate)], MixSettings(SR, channels=1, duration_s=7.25)).waveform
    assert padded.shape == (1, 348000)
    assert not padded[0, 240000:].any()
    odd = mix([Layer(audio, rate)], MixSettings(44100, duration_s=1 / 3)).waveform
    assert odd.shape == (2, 14700)


def test_master_fade_out_ends_in_silence(noise):
    audio, rate = noise
    out = mix([Layer(audio, rate)], MixSettings(SR, duration_s=2.0, fade_out_s=0.5)).waveform
    tail = np.abs(out[:, -48:].numpy()).max()
    assert tail < 0.01 * np.abs(audio).max()


# Ducking ---------------------------------------------------------------------------------------


def test_ducking_gain_follows_attack_hold_and_release():
    key = np.zeros((1, 4 * SR))
    key[0, SR : 2 * SR] = tone(1000, 1, SR)
    ducking = Ducking(0, depth_db=12, attack_s=0.05, release_s=0.2, hold_s=0.1)
    gain_db = 20 * np.log10(ducking_gain(key, SR, ducking))

    def at(seconds: float) -> float:
        return float(gain_db[round(seconds * SR)])

    assert np.abs(gain_db[:SR]).max() == 0.0
    assert at(1.0 + 0.05) == pytest.approx(-12 * (1 - math.exp(-1)), abs=0.3)  # one attack
    assert at(1.0 + 5 * 0.05) < -11.9
    assert at(2.1) == pytest.approx(-12.0, abs=0.01)  # key gone, hold not yet over
    release_start = 2.0 + 0.01 + 0.1  # key end + detector window + hold
    assert at(release_start + 0.2) == pytest.approx(-12 * math.exp(-1), abs=0.3)
    assert at(release_start + 5 * 0.2) > -0.1


@pytest.mark.parametrize("listen", ["solo music", "mute key"])
def test_ducking_real_speech_over_music(speech, music, listen):
    """While espeak speech plays the music is down by the depth; five releases later it is back.

    The ducked music is heard alone, by soloing it or by muting the key: the key drives the
    ducker either way, so this renders exactly the music path of the mix.
    """
    voice, voice_rate = speech
    chords, chords_rate = music
    ducking = Ducking(0, depth_db=12, threshold_db=-40, attack_s=0.05, release_s=0.25, hold_s=0.3)
    key = Layer(voice, voice_rate, offset_s=1.0, mute=listen == "mute key")
    bed = Layer(chords, chords_rate, solo=listen == "solo music")
    settings = MixSettings(SR)
    ducked = mix([key, bed], settings, ducking).waveform.numpy()
    dry = mix([Layer(chords, chords_rate)], settings).waveform.numpy()

    audible = np.flatnonzero(np.abs(resample(voice[0], voice_rate, SR)) > 10 ** (-40 / 20))
    speech_on, speech_off = SR + audible[0], SR + audible[-1]
    step = SR // 20  # 50 ms windows
    during = [
        window_gain_db(ducked, dry, start, start + step)
        for start in range(speech_on + round(5 * 0.05 * SR), speech_off - step, step)
    ]
    restored = round(speech_off + (0.01 + 0.3 + 5 * 0.25) * SR)
    after = [
        window_gain_db(ducked, dry, start, start + step)
        for start in range(restored, ducked.shape[1] - step, step)
    ]
    before = window_gain_db(ducked, dry, 0, SR - step)
    assert len(during) > 40 and len(after) > 10
    assert max(abs(gain + 12.0) for gain in during) <= 1.0, during
    assert max(abs(gain) for gain in after) <= 0.5, after
    assert abs(before) < 1e-3


# A whole mix -----------------------------------------------------------------------------------


def test_real_mix_meets_target_cross_checked(speech, music, noise, tmp_path):
    """Speech (22.05 kHz mono), music (44.1 kHz stereo) and noise (48 kHz mono) to -16 LUFS."""
    layers = [
        Layer(*speech, offset_s=1.0, name="voice"),
        Layer(*music, gain_db=-3.0, fade_out_s=1.0, name="music"),
        Layer(*noise, gain_db=-10.0, pan=-0.5, fade_in_s=0.5, name="sea"),
    ]
    settings = MixSettings(SR, target_lufs=-16.0, max_limiting_db=6.0)
    result = mix(layers, settings, Ducking(0, depth_db=10))
    out = result.waveform
    assert out.dtype == torch.float32 and out.shape == (2, 8 * SR)  # music is the longest
    loudness, peak = ffmpeg_meter(out.numpy(), SR, tmp_path)
    report = result.report
    assert abs(report["integrated_lufs"] + 16.0) <= 0.1 and abs(loudness + 16.0) <= 0.5
    assert report["true_peak_dbtp"] <= -1.0 and report["sample_peak_dbfs"] <= -1.0
    assert peak <= -1.0
    assert report["target_reached"] is True
    names = [layer["name"] for layer in report["layers"]]
    assert names == ["layer 'voice'", "layer 'music'", "layer 'sea'"]
    assert "LUFS" in format_report(report) and "48 kHz stereo" in format_report(report)


def test_loud_mix_without_target_is_turned_down_not_clipped(music):
    audio, rate = music
    layers = [Layer(audio, rate, gain_db=20.0), Layer(audio, rate, gain_db=20.0, offset_s=0.01)]
    result = mix(layers, MixSettings(SR, true_peak_dbtp=-1.0))
    assert result.report["true_peak_dbtp"] <= -1.0
    assert float(result.waveform.abs().max()) < 10 ** (-1 / 20)
    assert result.report["gain_db"] < -20 and "turned down" in result.report["note"]
    assert result.report["target_reached"] is None


def test_unreachable_target_is_reported(speech):
    result = mix([Layer(*speech)], MixSettings(SR, target_lufs=-10.0))
    report = result.report
    assert report["target_reached"] is False and report["true_peak_dbtp"] <= -1.0
    assert "not reached" in report["note"] and "not reached" in format_report(report)


def test_silent_mix_is_reported_not_amplified():
    result = mix([Layer(np.zeros((1, SR), np.float32), SR)], MixSettings(SR, target_lufs=-16.0))
    assert not result.waveform.any()
    assert result.report["integrated_lufs"] == -math.inf
    assert result.report["target_reached"] is False


# Bad input -------------------------------------------------------------------------------------


def _nan_audio() -> np.ndarray:
    audio = np.zeros((1, 100), np.float32)
    audio[0, 50] = np.nan
    return audio


GOOD = np.zeros((1, 1000), np.float32)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (Layer(_nan_audio(), SR, name="fx"), r"layer 'fx': contains NaN or infinite"),
        (Layer(np.full((2, 10), np.inf, np.float32), SR), "layer 0: contains NaN or infinite"),
        (Layer(np.zeros((1, 0), np.float32), SR), "has no samples"),
        (Layer(np.zeros(1000, np.int16), SR), "samples must be floats"),
        (Layer(np.zeros((1000, 2), np.float32), SR), r"looks like \[samples, channels\]"),
        (Layer(np.zeros((6, 1000), np.float32), SR), "1 or 2 channels"),
        (Layer(np.zeros((1, 2, 1000), np.float32), SR), r"waveform\[i\]"),
        (Layer(GOOD, 0), "sample_rate must be between"),
        (Layer(GOOD, 44100.5), "whole number of Hz"),
        (Layer(GOOD, SR, gain_db=100.0), "gain_db must be between -60 and 60"),
        (Layer(GOOD, SR, gain_db=float("nan")), "gain_db must be between"),
        (Layer(GOOD, SR, pan=1.5), "pan must be between -1 and 1"),
        (Layer(GOOD, SR, offset_s=-1.0), "offset_s must be between 0"),
        (Layer(GOOD, SR, offset_s=float("inf")), "offset_s must be between 0"),
        (Layer(GOOD, SR, trim_start_s=1.0), "trimming leaves no audio"),
        (Layer(GOOD, SR, trim_start_s=0.01, trim_end_s=0.005), "trimming leaves no audio"),
        (Layer(GOOD, SR, fade_in_s=-0.1), "fade_in_s must be between 0"),
    ],
)
def test_bad_layers_are_refused_clearly(layer, message):
    with pytest.raises(ValueError, match=message):
        mix([layer], MixSettings(SR))


@pytest.mark.parametrize(
    ("settings", "ducking", "message"),
    [
        (MixSettings(sample_rate=0), None, "output sample_rate must be between"),
        (MixSettings(channels=6), None, "output channels must be 1"),
        (MixSettings(target_lufs=5.0), None, "target_lufs must be between -70 and 0"),
        (MixSettings(true_peak_dbtp=3.0), None, "true_peak_dbtp must be between -60 and 0"),
        (MixSettings(max_limiting_db=40.0), None, "max_limiting_db must be between 0 and 24"),
        (MixSettings(duration_s=0.0), None, "duration_s must be between"),
        (MixSettings(), Ducking(key_index=3), "key_index 3 does not name a layer"),
        (MixSettings(), Ducking(key_index=0, depth_db=-6.0), "depth_db must be between 0"),
        (MixSettings(), Ducking(key_index=0, release_s=-1.0), "release_s must be between 0"),
    ],
)
def test_bad_settings_are_refused_clearly(settings, ducking, message):
    with pytest.raises(ValueError, match=message):
        mix([Layer(GOOD, SR)], settings, ducking)


def test_no_layers_is_refused():
    with pytest.raises(ValueError, match="at least one layer"):
        mix([], MixSettings())


def test_layers_at_different_rates_are_resampled_not_refused():
    layers = [Layer(tone(1000, 1, 16000)[None], 16000), Layer(tone(500, 1, 44100)[None], 44100)]
    out = mix(layers, MixSettings(SR)).waveform
    assert out.shape == (2, SR)


def test_measure_refuses_bad_waveforms():
    with pytest.raises(ValueError, match="NaN or infinite"):
        measure(_nan_audio(), SR)
    with pytest.raises(ValueError, match="whole number of Hz"):
        measure(GOOD, 16000.5)
    with pytest.raises(ValueError, match="target_lufs must be between"):
        normalize(GOOD, SR, target_lufs=12.0)
