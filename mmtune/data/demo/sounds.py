"""The demo's sounds: a synthesized one-second waveform per row (noise bands, hum, bursts,
chirps, tones; sometimes the tell-tale sound), and its MFCCs."""

from __future__ import annotations

import math

import numpy as np

from mmtune.data.demo.difficulty import Difficulty

__all__ = ["DEFAULT_MFCC", "SOUND_GROUP", "mfcc", "waveform"]

# Audio front end, as a typical speech/scene MFCC set-up.
SAMPLE_RATE = 16_000
DURATION_S = 1.0
FRAME = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 40
N_COEFFS = 13  # per time segment
DEFAULT_MFCC = 104

# Sound groups (sound-alikes), by class id: other twins than the pictures'.
SOUND_GROUP = {
    0: "flow",
    4: "flow",
    1: "hum",
    7: "hum",
    2: "roar",
    8: "roar",
    5: "chatter",
    6: "chatter",
    3: "voice",
}

Rng = np.random.Generator


def _t() -> np.ndarray:
    return np.arange(int(SAMPLE_RATE * DURATION_S)) / SAMPLE_RATE


def _band_noise(rng: Rng, lo: float, hi: float, tilt: float = 0.0) -> np.ndarray:
    """Gaussian noise band-limited to [lo, hi] Hz with a 1/f**tilt slope, unit RMS."""
    n = int(SAMPLE_RATE * DURATION_S)
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec *= ((f >= lo) & (f <= hi)) / np.maximum(f, 1.0) ** (tilt / 2)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _tone(f: np.ndarray | float, start: float, dur: float, attack: float = 0.01) -> np.ndarray:
    """A tone (frequency in Hz, constant or per sample) with a smooth on/off envelope."""
    t = _t()
    f = np.broadcast_to(np.asarray(f, float), t.shape)
    phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    env = np.clip(np.minimum(t - start, start + dur - t) / attack, 0, 1)
    return np.sin(phase) * env


def _sound_base(group: str, v: np.random.Generator, rng: Rng) -> np.ndarray:
    """The background of a sound group; ``v`` draws the video's character, ``rng`` the row's."""
    t = _t()
    if group == "flow":  # wind and water: tilted low noise, slow gusts
        tilt, hi, rate = v.uniform(0.8, 1.6), v.uniform(2000, 4000), v.uniform(0.3, 1.0)
        gust = 1 + 0.5 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3))
        return _band_noise(rng, 30, hi, tilt) * gust
    if group == "hum":  # mains hum, ventilation, traffic rumble
        f0 = v.choice([50.0, 60.0]) * v.uniform(0.98, 1.02)
        hum = sum(_tone(f0 * k, -1, 3) / k for k in range(1, 6)) * v.uniform(0.5, 1.0)
        return hum + _band_noise(rng, 150, v.uniform(1000, 2000), 0.5) * 0.6
    if group == "roar":  # surf or crowd: broadband noise in slow swells
        rate = v.uniform(0.25, 0.6)
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3)) ** 2
        return _band_noise(rng, v.uniform(200, 400), v.uniform(5000, 7000), 0.2) * swell
    if group == "chatter":  # many short random bursts over a low bed
        x = _band_noise(rng, 50, 800, 1.0) * 0.3
        for _ in range(int(v.uniform(15, 30) * DURATION_S)):
            start, dur = rng.uniform(0, DURATION_S), rng.uniform(0.02, 0.08)
            x += _tone(rng.uniform(v.uniform(600, 900), 3500), start, dur, 0.005) * rng.uniform(
                0.3, 1
            )
        return x
    # voice: a talking teacher, harmonics of a wandering f0 in syllables
    f0 = v.uniform(100, 220) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    syll = np.clip(np.sin(2 * np.pi * v.uniform(3, 5) * t + rng.uniform(0, 6.3)), 0, 1)
    formant = v.uniform(500, 900)
    voice = sum(
        _tone(f0 * k, -1, 3) * np.exp(-(((k * 160 - formant) / 600) ** 2)) for k in range(1, 12)
    )
    return voice * syll + _band_noise(rng, 50, 4000, 1.0) * 0.1


def _sound_cue(label: int, rng: Rng) -> np.ndarray:
    """The tell-tale sound of ``label`` at a random moment (zeros for CLASSROOM)."""
    t = _t()
    start = rng.uniform(0.05, 0.45)
    x = np.zeros_like(t)
    if label == 0:  # FOREST: a bird's rising chirps
        for k in range(int(rng.integers(3, 6))):
            s = start + k * 0.1
            x += _tone(3000 + 2000 * np.clip((t - s) / 0.06, 0, 1), s, 0.06, 0.005)
    elif label == 4:  # RIVER: bubbling low tones
        for _ in range(int(rng.integers(12, 20))):
            s = start + rng.uniform(0, 0.45)
            x += _tone(rng.uniform(250, 600) * (1 + np.clip((t - s) / 0.03, 0, 1)), s, 0.03, 0.003)
    elif label == 1:  # CITY: a car horn
        x = np.sum([_tone(420.0 * k, start, 0.45) / k for k in range(1, 4)], axis=0)
    elif label == 7:  # GROCERY-STORE: scanner beeps
        for k in range(int(rng.integers(2, 4))):
            x += _tone(2400.0, start + k * 0.15, 0.1, 0.003)
    elif label == 2:  # BEACH: a seagull's falling cry
        for k in range(2):
            s = start + k * 0.25
            f = 1800 - 900 * np.clip((t - s) / 0.2, 0, 1)
            x += _tone(f, s, 0.2) + 0.5 * _tone(2 * f, s, 0.2)
    elif label == 8:  # FOOTBALL-MATCH: the referee's trilled whistle
        x = _tone(3200 + 150 * np.sin(2 * np.pi * 30 * t), start, 0.45)
    elif label == 5:  # JUNGLE: an insect's buzz
        x = _tone(6000.0, start, 0.5) * (0.5 + 0.5 * np.sin(2 * np.pi * 40 * t))
    elif label == 6:  # RESTAURANT: clinking glasses
        for _ in range(int(rng.integers(3, 5))):
            s = start + rng.uniform(0, 0.4)
            decay = np.exp(-np.clip(t - s, 0, None) / 0.05)
            x += (_tone(4500.0, s, 0.2, 0.001) + 0.6 * _tone(7100.0, s, 0.2, 0.001)) * decay
    return x


def waveform(label: int, video: int, seed: int, rng: Rng, d: Difficulty) -> np.ndarray:
    group = SOUND_GROUP[label]
    v = np.random.default_rng([seed, 3, sorted(set(SOUND_GROUP.values())).index(group), video])
    x = _sound_base(group, v, rng)
    x = x / (np.sqrt(np.mean(x**2)) + 1e-12)
    if rng.random() < d.cue:
        x = x + _sound_cue(label, rng) * rng.uniform(0.6, 1.2)
    if d.sound_noise:  # a noisy room: broadband noise with its own tilt, at a random level
        x = x + _band_noise(rng, 30, 7000, rng.uniform(0, 2)) * d.sound_noise * rng.uniform(
            0.3, 1.5
        )
    return x * 10 ** (rng.uniform(-9, 3) / 20) + rng.normal(0, 0.01, x.shape)


def _mel_filterbank(n_mels: int) -> np.ndarray:
    """Triangular filters on the HTK mel scale, shape (n_mels, N_FFT // 2 + 1)."""

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(20.0), mel(SAMPLE_RATE / 2), n_mels + 2))
    f = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)))


def mfcc(wave: np.ndarray, n_features: int = DEFAULT_MFCC) -> np.ndarray:
    """MFCCs of a waveform at :data:`SAMPLE_RATE`, averaged over time segments.

    STFT (25 ms Hann frames, 10 ms hop) -> power -> 40 mel bands -> log ->
    DCT-II. The frames are split into ``S`` equal segments and each
    coefficient averaged per segment; the result is segment by segment, 13
    coefficients each for the default 104 (= 13 x 8).

    >>> mfcc(np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).shape
    (104,)
    """
    segments = max(1, round(n_features / N_COEFFS))
    coeffs = math.ceil(n_features / segments)
    if coeffs > N_MELS:
        segments, coeffs = math.ceil(n_features / N_MELS), N_MELS
        coeffs = math.ceil(n_features / segments)
    n_frames = 1 + (len(wave) - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = wave[idx] * np.hanning(FRAME)
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2
    logmel = np.log(power @ _mel_filterbank(N_MELS).T + 1e-6)
    k = np.arange(N_MELS)
    dct = np.cos(np.pi / N_MELS * (k[None, :] + 0.5) * np.arange(coeffs)[:, None])
    dct *= np.sqrt(2 / N_MELS)
    dct[0] /= np.sqrt(2)
    cep = logmel @ dct.T  # (frames, coeffs)
    parts = [p.mean(axis=0) for p in np.array_split(cep, segments)]
    return np.concatenate(parts)[:n_features]
