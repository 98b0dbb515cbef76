import io
import math
import wave

import numpy as np
import pytest
from scipy.signal import get_window

from labs.lab11_multimodal import audio


def test_slaney_mel_scale_at_known_points():
    np.testing.assert_allclose(audio.hz_to_mel([0, 200, 1000, 6400]), [0, 3, 15, 42], atol=1e-9)
    f = np.random.default_rng(0).uniform(0, 8000, 100)
    np.testing.assert_allclose(audio.mel_to_hz(audio.hz_to_mel(f)), f, rtol=1e-10)


def reference_filterbank(sr, n_fft, n_mels):
    """Independent construction: each triangle drawn with np.interp between its three edges in Hz."""
    fft_hz = np.arange(n_fft // 2 + 1) * sr / n_fft
    m_max = 15 + 27 * math.log(sr / 2 / 1000) / math.log(6.4) if sr / 2 >= 1000 else sr / 2 * 3 / 200
    mels = np.linspace(0, m_max, n_mels + 2)
    hz = np.array([m * 200 / 3 if m < 15 else 1000 * 6.4 ** ((m - 15) / 27) for m in mels])
    fb = np.zeros((n_mels, len(fft_hz)))
    for k in range(n_mels):
        lo, c, hi = hz[k], hz[k + 1], hz[k + 2]
        fb[k] = np.interp(fft_hz, [lo, c, hi], [0, 1, 0], left=0, right=0) * 2 / (hi - lo)
    return fb


@pytest.mark.parametrize("sr,n_fft,n_mels", [(16000, 400, 80), (16000, 400, 128), (22050, 2048, 40),
                                             (8000, 256, 20), (44100, 1024, 64)])
def test_filterbank_matches_an_independent_construction(sr, n_fft, n_mels):
    ours = audio.mel_filterbank(sr, n_fft, n_mels)
    np.testing.assert_allclose(ours, reference_filterbank(sr, n_fft, n_mels), atol=1e-12)


def test_whisper_filterbank_shape_and_area():
    fb = audio.mel_filterbank()
    assert fb.shape == (80, 201)
    assert (fb >= 0).all() and (fb.sum(1) > 0).all()


@pytest.mark.parametrize("seed", range(3))
def test_stft_power_matches_numpy_fft_framing(seed):
    x = np.random.default_rng(seed).normal(size=4000 + 37 * seed).astype(np.float32)
    ours = audio.power_spectrogram(x)
    padded = np.pad(x.astype(np.float64), 200, mode="reflect")
    n_frames = 1 + (len(padded) - 400) // 160
    win = get_window("hann", 400, fftbins=True)          # periodic Hann, as torch.hann_window
    frames = np.stack([padded[i * 160: i * 160 + 400] * win for i in range(n_frames)], axis=1)
    ref = np.abs(np.fft.rfft(frames, axis=0)) ** 2
    np.testing.assert_allclose(ours, ref[:, :-1], rtol=1e-3, atol=1e-3)


def test_log_mel_pipeline_against_numpy():
    x = np.random.default_rng(1).normal(size=16000).astype(np.float32) * 0.1
    mel = reference_filterbank(16000, 400, 80) @ audio.power_spectrogram(x)
    ref = np.log10(np.maximum(mel, 1e-10))
    ref = (np.maximum(ref, ref.max() - 8) + 4) / 4
    out = audio.log_mel(x)
    assert out.shape == (80, 100)
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_thirty_second_chunk_arithmetic():
    c = audio.chunk_arithmetic()
    assert (c["samples"], c["frames"], c["encoder_tokens"], c["tokens_per_second"]) == (480000, 3000, 1500, 50.0)
    assert audio.log_mel(audio.pad_or_trim(np.zeros(100, dtype=np.float32))).shape == (80, 3000)


def test_a_chirp_climbs_through_the_mel_bins():
    logm = audio.log_mel(audio.synth("chirp"))
    peaks = logm.argmax(0)
    assert peaks[10] < peaks[100] < peaks[-10]


def _wav(x, sr, width=2, channels=1):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes((np.repeat(x, channels) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def test_read_wav_round_trip_and_resampling():
    x = audio.synth("chord", 0.5)
    np.testing.assert_allclose(audio.read_wav(audio.write_wav(x)), x, atol=1e-4)
    t = np.arange(22050) / 22050
    y = audio.read_wav(_wav(0.5 * np.sin(2 * np.pi * 440 * t), 22050, channels=2))
    assert len(y) == 16000
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(spectrum.argmax() * 16000 / len(y) - 440) < 2


@pytest.mark.parametrize("blob", [b"", b"RIFF....WAVEfmt ", b"not audio at all"])
def test_bad_wav_is_an_audio_error(blob):
    with pytest.raises(audio.AudioError):
        audio.read_wav(blob)


def test_too_short_and_too_long_are_refused():
    with pytest.raises(audio.AudioError, match="at least"):
        audio.read_wav(_wav(np.zeros(100), 16000))
    with pytest.raises(audio.AudioError, match="at most"):
        audio.read_wav(_wav(np.zeros(16000 * 31), 16000))


@pytest.mark.skipif(audio.espeak() is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_espeak_speech_has_speech_like_energy():
    x = audio.speak("the quick brown fox")
    assert 0.5 < len(x) / audio.SAMPLE_RATE < 5
    logm = audio.log_mel(x)
    assert logm[:40].mean() > logm[60:].mean()      # speech energy sits in the low mel bins
