"""A Whisper-style log-mel front-end: 16 kHz audio -> STFT -> 80 Slaney mel bins -> log, clamp, scale.

    python -m labs.lab11_multimodal.audio         # frame arithmetic and a spectrogram of a chirp
    curl -s localhost:8011/audio/logmel -d '{"signal": "vowels"}'

    frames = samples / hop   (centre-padded STFT, last frame dropped: 30 s -> 480 000 samples -> 3000 frames)
    tokens = frames / 2      (the encoder's second conv has stride 2: 1500 tokens per 30 s, 50 per second)
    Slaney mel:  m(f) = 3 f / 200 below 1 kHz;  m(f) = 15 + 27 ln(f / 1000) / ln 6.4 above
    filter k:    a triangle over mel points k, k+1, k+2 (in Hz), scaled by 2 / (f_{k+2} - f_k) (equal area)
    log-mel:     L = log10(max(M, 1e-10));  L = max(L, max(L) - 8);  L = (L + 4) / 4

Speech comes from Debian's espeak-ng where it is installed; without it, `synth` makes test signals
(a chirp, a chord, a vowel sequence with formants) so the front-end always has something to show.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
N_FFT = 400       # 25 ms windows
HOP = 160         # 10 ms hop -> 100 frames per second
N_MELS = 80
CHUNK_S = 30
CONV_STRIDE = 2
MAX_SECONDS = 30


class AudioError(ValueError):
    """Audio that cannot be decoded or is out of bounds (a 4xx for the service)."""


class SpeechUnavailable(RuntimeError):
    """espeak-ng is not installed."""


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3                       # 66.67 Hz per mel on the linear part
    logstep = math.log(6.4) / 27.0         # 27 mels per factor 6.4 (1 kHz -> 6.4 kHz) on the log part
    return np.where(f < 1000.0, f / f_sp, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, logstep = 200.0 / 3, math.log(6.4) / 27.0
    return np.where(m < 15.0, m * f_sp, 1000.0 * np.exp(logstep * (m - 15.0)))


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles, equally spaced in mel, each with unit area in Hz."""
    fmax = sr / 2 if fmax is None else fmax
    fft_hz = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]          # (n_mels + 2, bins): distance of each bin to each edge
    rising = -ramps[:-2] / widths[:-1, None]          # 0 at the left edge, 1 at the centre
    falling = ramps[2:] / widths[1:, None]            # 1 at the centre, 0 at the right edge
    weights = np.maximum(0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def power_spectrogram(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """|STFT|^2 with a periodic Hann window, reflect-padded by n_fft/2 on each side; last frame dropped."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="reflect",
                      return_complex=True)
    return (spec[:, :-1].abs() ** 2).double().numpy()


def log_mel(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    mel = mel_filterbank(n_mels=n_mels) @ power_spectrogram(audio)
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)        # keep 80 dB of dynamic range below the peak
    return (logm + 4.0) / 4.0                         # roughly into [-1, 1]


def pad_or_trim(audio: np.ndarray, seconds: int = CHUNK_S) -> np.ndarray:
    n = seconds * SAMPLE_RATE
    return audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))


def chunk_arithmetic(seconds: float = CHUNK_S, sr: int = SAMPLE_RATE, hop: int = HOP) -> dict:
    samples = int(seconds * sr)
    frames = samples // hop
    tokens = frames // CONV_STRIDE
    return {"seconds": seconds, "sample_rate": sr, "samples": samples, "hop": hop, "n_fft": N_FFT,
            "frames": frames, "encoder_tokens": tokens, "tokens_per_second": tokens / seconds,
            "mel_values": frames * N_MELS}


# --- getting audio in ------------------------------------------------------------------------------

def read_wav(blob: bytes) -> np.ndarray:
    """PCM WAV (8/16/32-bit, any channels, any rate) -> mono float32 at 16 kHz."""
    try:
        with wave.open(io.BytesIO(blob)) as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if n / max(rate, 1) > MAX_SECONDS:
                raise AudioError(f"audio is {n / rate:.1f} s long; at most {MAX_SECONDS} s")
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a PCM WAV file: {exc}") from exc
    if width not in (1, 2, 4) or not 1 <= channels <= 8 or not 4000 <= rate <= 192_000:
        raise AudioError(f"unsupported WAV: {width * 8}-bit, {channels} channels, {rate} Hz")
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    x = np.frombuffer(raw[: len(raw) - len(raw) % (width * channels)], dtype=dtype).astype(np.float64)
    x = (x - 128) / 128 if width == 1 else x / float(2 ** (8 * width - 1))
    x = x.reshape(-1, channels).mean(1)
    if len(x) < N_FFT:
        raise AudioError(f"audio has {len(x)} samples; at least {N_FFT} needed")
    if rate != SAMPLE_RATE:
        g = math.gcd(rate, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, rate // g)
    return x.astype(np.float32)


def write_wav(audio: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def espeak() -> str | None:
    return shutil.which("espeak-ng")


def speak(text: str) -> np.ndarray:
    """Text -> speech with espeak-ng (22.05 kHz WAV), read back at 16 kHz."""
    exe = espeak()
    if exe is None:
        raise SpeechUnavailable("espeak-ng is not installed (apt-get install espeak-ng); "
                                "send a WAV or a synthetic signal instead")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-w", str(out), "--", text], check=True, capture_output=True, timeout=30)
        return read_wav(out.read_bytes())


SIGNALS = ("chirp", "chord", "vowels")


def synth(name: str, seconds: float = 2.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Generated fallbacks: a log chirp 100 Hz -> 6 kHz, a C-major chord, and /a/ /i/ /u/ on 120 Hz."""
    t = np.arange(int(seconds * sr)) / sr
    if name == "chirp":
        f0, f1 = 100.0, 6000.0
        k = math.log(f1 / f0) / seconds
        x = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    elif name == "chord":
        x = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0)) / 3
    elif name == "vowels":
        x = np.concatenate([_vowel(f1, f2, seconds / 3, sr) for f1, f2 in ((730, 1090), (270, 2290), (300, 870))])
    else:
        raise AudioError(f"unknown signal {name!r}; one of {', '.join(SIGNALS)}")
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _vowel(f1: float, f2: float, seconds: float, sr: int, f0: float = 120.0) -> np.ndarray:
    """Harmonics of f0 weighted by two formant resonances: a crude source-filter vowel."""
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for h in range(1, int(4000 / f0)):
        f = h * f0
        gain = 1 / (1 + ((f - f1) / 90) ** 2) + 0.7 / (1 + ((f - f2) / 110) ** 2)
        x += gain * np.sin(2 * np.pi * f * t)
    return x


if __name__ == "__main__":
    print(chunk_arithmetic())
    logm = log_mel(synth("chirp"))
    print(f"chirp: log-mel {logm.shape}, range {logm.min():.2f}..{logm.max():.2f}; espeak-ng: {espeak() or 'missing'}")
