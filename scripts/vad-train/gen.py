#!/usr/bin/env python3
"""Synthetic labelled VAD training audio for cxb (numpy only, plus the espeak-ng, flite and sox CLIs).

Mimics the vad-dev generator description: TTS call-centre speech, pauses, background noise at
0-20 dB SNR, non-speech tone/click/music events labelled non-speech, telephone channel
(optional 300-3400 band-pass, gain with clipping, 16k->8k, mu-law) or a 16 kHz wideband channel.
Labels: from the clean speech track, 10 ms frames within 40 dB of the utterance's loudest frame,
gaps < 100 ms filled, runs < 50 ms dropped.

Usage: gen.py OUTDIR --n N --seed S --rate {8000,16000} [--prefix P]
Writes OUTDIR/P-NNNN.wav and OUTDIR/P-NNNN.scv.
"""
import argparse, os, subprocess, sys, tempfile, wave

import numpy as np

SR = 16000
FR = 160  # 10 ms at 16 kHz

NAMES = ["Oliver", "Priya", "Tom", "Grace", "Ahmed", "Sofia", "Daniel", "Mei", "Carlos", "Hannah", "Ravi", "Zoe",
         "Patrick", "Fatima", "Jonas", "Emily", "Kwame", "Laura", "Ivan", "Nora"]
CITIES = ["Manchester", "Denver", "Glasgow", "Austin", "Bristol", "Seattle", "Cardiff", "Phoenix", "Norwich", "Toronto",
          "Belfast", "Chicago", "York", "Miami", "Oxford", "Portland"]
THINGS = ["internet", "account", "parcel", "mortgage", "insurance claim", "prescription", "tv package", "refund",
          "delivery", "password", "credit card", "broadband", "water bill", "appointment"]
MONTHS = ["March", "May", "June", "August", "September", "October", "December", "February"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Saturday", "Sunday"]
DIG = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]
TEMPLATES = [
    "Hello, this is {name} from the {thing} team, is now a good time?",
    "My reference number is {digits}.",
    "I was charged twice for my {thing} this month.",
    "Could you spell your surname for me please?",
    "The engineer will arrive on {day} between {h} and {h2}.",
    "Your balance is {n} pounds and {n2} pence.",
    "I moved to {city} last {month} and nothing has arrived.",
    "Thank you for calling, all of our advisers are busy right now.",
    "Press one for billing, two for technical support, or stay on the line.",
    "Can I take your date of birth please?",
    "It was the {n}th of {month}, I remember because it was raining.",
    "I've been waiting on hold for almost {n} minutes.",
    "Let me just check that for you, bear with me a second.",
    "The postcode is {a} {n3} {b}, that's right.",
    "Is there anything else I can help you with today?",
    "I need to cancel my {thing} before {day}.",
    "Sorry, the line is really bad, could you say that again?",
    "We can offer you a discount of {n} percent for twelve months.",
    "My daughter set up the {thing} but she lives in {city} now.",
    "The last four digits of the card are {digits4}.",
    "Your call may be recorded for training and quality purposes.",
    "Okay, so I'll book that in for {day} the {n}th.",
    "I don't really understand why the {thing} costs {n} dollars more.",
    "Right, and what's the best number to reach you on?",
    "{name} said someone would call me back within an hour.",
    "We have sent a text message to the number ending {digits4}.",
    "Is that {name} with two {a}s?",
    "I'm calling from {city} about the {thing} I ordered in {month}.",
    "According to our records the payment was received on {day}.",
    "Please say or enter your account number followed by the hash key.",
]
BACK = ["Yes.", "No.", "Okay.", "Mm hmm.", "Uh huh.", "Right.", "Sure.", "Great.", "Yeah.", "Hello?", "Sorry?",
        "Alright.", "Thank you.", "Perfect.", "Cheers.", "Exactly.", "Hang on.", "Oh.", "Really?", "Goodbye."]

ESPEAK_LANGS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
                "en-us-nyc"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
                   "Annie", "Andrea", "Belinda", "Max", "Michael", "Paul", "Tony", "Mr serious", "Storm", "aunty",
                   "edward", "john", "steph", "iven", "quincy", "Diogo", "Kaukovalta", "Alex", "Andy", "Denis",
                   "Gene", "Jacky", "Lee", "Mario", "Marco", "RicishayMax", "Victor", "anika", "linda", "zac"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]


def text(rng):
    if rng.random() < 0.28:
        return BACK[rng.integers(len(BACK))]
    t = TEMPLATES[rng.integers(len(TEMPLATES))]
    L = "ABCDEFGHJKLMNPRSTW"
    return t.format(name=NAMES[rng.integers(len(NAMES))], city=CITIES[rng.integers(len(CITIES))],
                    thing=THINGS[rng.integers(len(THINGS))], month=MONTHS[rng.integers(len(MONTHS))],
                    day=DAYS[rng.integers(len(DAYS))], n=int(rng.integers(2, 99)), n2=int(rng.integers(1, 99)),
                    n3=int(rng.integers(1, 9)), h=int(rng.integers(8, 12)), h2=int(rng.integers(1, 6)),
                    a=L[rng.integers(len(L))], b=L[rng.integers(len(L))] + L[rng.integers(len(L))],
                    digits=" ".join(DIG[rng.integers(len(DIG))] for _ in range(int(rng.integers(4, 8)))),
                    digits4=" ".join(DIG[rng.integers(10)] for _ in range(4)))


def read_wav(path):
    with wave.open(path, "rb") as w:
        n = w.getnframes(); sr = w.getframerate(); ch = w.getnchannels()
        x = np.frombuffer(w.readframes(n), dtype=np.int16).astype(np.float64) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(1)
    return sr, x


def talker(rng):
    if rng.random() < 0.55:
        return dict(engine="espeak-ng", voice=ESPEAK_LANGS[rng.integers(len(ESPEAK_LANGS))] + "+" +
                    ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))], speed=int(rng.integers(120, 211)),
                    pitch=int(rng.integers(20, 81)))
    v = FLITE_VOICES[rng.integers(len(FLITE_VOICES))]
    base = 150 if v == "slt" else 100
    return dict(engine="flite", voice=v, stretch=float(rng.uniform(0.8, 1.3)), f0=int(base * rng.uniform(0.75, 1.45)))


def synth(tk, txt, tmp):
    raw = os.path.join(tmp, "raw.wav"); out = os.path.join(tmp, "u16.wav")
    if tk["engine"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", tk["voice"], "-s", str(tk["speed"]), "-p", str(tk["pitch"]), "-w", raw, txt]
    else:
        cmd = ["flite", "-voice", tk["voice"], "--setf", f"duration_stretch={tk['stretch']:.3f}", "--setf",
               f"int_f0_target_mean={tk['f0']}", "-t", txt, "-o", raw]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["sox", raw, "-r", str(SR), "-c", "1", "-b", "16", out], check=True, stderr=subprocess.DEVNULL)
    return read_wav(out)[1]


def fft_filter(x, gain_fn):
    n = len(x); N = 1 << int(np.ceil(np.log2(n + 1)))
    X = np.fft.rfft(x, N); f = np.fft.rfftfreq(N, 1 / SR)
    return np.fft.irfft(X * gain_fn(f), N)[:n]


def colored(rng, n, kind):
    w = rng.standard_normal(n)
    if kind == "white":
        return w
    if kind == "pink":
        return fft_filter(w, lambda f: 1 / np.sqrt(np.maximum(f, 20)))
    if kind == "brown":
        return fft_filter(w, lambda f: 1 / np.maximum(f, 15))
    raise ValueError(kind)


def norm(x):
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def music(rng, n):
    t = np.arange(n) / SR; y = np.zeros(n)
    pos = 0; root = rng.integers(45, 60)
    while pos < n:
        d = int(SR * rng.uniform(0.25, 0.7)); seg = slice(pos, min(n, pos + d)); tt = t[seg] - t[pos]
        env = np.minimum(1, tt / 0.02) * np.exp(-tt * rng.uniform(0.5, 4))
        chord = root + np.array([0, [3, 4][rng.integers(2)], 7]) + rng.choice([0, 5, 7, -5])
        mel = root + 12 + rng.choice([0, 2, 4, 5, 7, 9, 11, 12])
        for k, m in enumerate(list(chord) + [mel]):
            f = 440 * 2 ** ((m - 69) / 12); a = 1.0 if k == 3 else 0.6
            for h in range(1, 5):
                if f * h < 7000:
                    y[seg] += a / h ** 1.5 * env * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 6.3))
        pos += d
    return y


def noise(rng, kind, n):
    if kind in ("white", "pink"):
        return norm(colored(rng, n, kind))
    if kind == "car":
        b = norm(fft_filter(colored(rng, n, "brown"), lambda f: 1 / (1 + (f / rng.uniform(150, 400)) ** 4)))
        f0 = rng.uniform(25, 60); t = np.arange(n) / SR
        hum = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 5))
        return norm(b + rng.uniform(0.2, 0.6) * norm(hum))
    if kind == "music":
        return norm(music(rng, n))
    if kind == "comfort":
        tilt = rng.uniform(-1.5, 0.5)
        w = norm(fft_filter(rng.standard_normal(n), lambda f: (np.maximum(f, 50) / 1000) ** tilt))
        gate = np.zeros(n); pos = 0; on = rng.random() < 0.5
        while pos < n:
            d = int(SR * rng.uniform(0.2, 2.0)); gate[pos:pos + d] = 1.0 if on else rng.uniform(0, 0.15); on = not on
            pos += d
        gate = np.convolve(gate, np.ones(80) / 80, "same")
        return norm(w * gate)
    raise ValueError(kind)


def tones(rng, n, freqs, cadence):
    t = np.arange(n) / SR; y = sum(np.sin(2 * np.pi * f * t) for f in freqs); g = np.zeros(n); pos = 0; i = 0
    while pos < n:
        on, off = cadence[i % len(cadence)]; g[pos:pos + int(on * SR)] = 1; pos += int((on + off) * SR); i += 1
    return y * g


DTMF_LO = [697, 770, 852, 941]; DTMF_HI = [1209, 1336, 1477, 1633]


def event(rng, kind, n):
    t = np.arange(n) / SR
    if kind == "dtmf":
        y = np.zeros(n); pos = 0
        while pos < n:
            on = int(SR * rng.uniform(0.04, 0.12)); seg = slice(pos, min(n, pos + on))
            y[seg] = np.sin(2 * np.pi * rng.choice(DTMF_LO) * t[seg]) + 0.8 * np.sin(2 * np.pi * rng.choice(DTMF_HI) * t[seg])
            pos += on + int(SR * rng.uniform(0.04, 0.2))
        return y
    if kind == "clicks":
        y = np.zeros(n)
        for _ in range(int(rng.integers(3, 15))):
            p = int(rng.integers(0, max(1, n - 200))); L = int(rng.integers(8, 120))
            y[p:p + L] += rng.uniform(-1, 1) * 3 * np.exp(-np.arange(L) / (L / 4)) * rng.choice([-1, 1], L)
        return y
    if kind == "beep":
        return np.sin(2 * np.pi * 1000 * t)
    if kind == "ringback_us":
        return tones(rng, n, [440, 480], [(2.0, 4.0)])
    if kind == "ringback_uk":
        return tones(rng, n, [400, 450], [(0.4, 0.2), (0.4, 2.0)])
    if kind == "busy":
        return tones(rng, n, [480, 620], [(0.5, 0.5)])
    if kind == "music_burst":
        return music(rng, n)
    raise ValueError(kind)


EVENT_KINDS = ["dtmf", "clicks", "beep", "ringback_us", "ringback_uk", "busy", "music_burst"]
EVENT_DUR = dict(dtmf=(0.4, 2.0), clicks=(0.5, 4.0), beep=(0.3, 1.0), ringback_us=(2.0, 6.0), ringback_uk=(2.0, 6.0),
                 busy=(1.5, 4.0), music_burst=(0.5, 3.0))


def frame_energy(x):
    m = len(x) // FR
    return np.mean(x[:m * FR].reshape(m, FR) ** 2, axis=1)


def labels_for(utts, n):
    m = n // FR; lab = np.zeros(m, bool)
    for (start, u) in utts:
        e = frame_energy(u)
        if e.max() <= 0:
            continue
        sp = e > e.max() * 1e-4
        f0 = start // FR
        for k in np.nonzero(sp)[0]:
            if f0 + k < m:
                lab[f0 + k] = True
    # fill gaps < 100 ms (10 frames), drop runs < 50 ms (5 frames)
    idx = np.nonzero(lab)[0]
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= 10:
            lab[a:b] = True
    out = lab.copy(); k = 0
    while k < m:
        if lab[k]:
            j = k
            while j < m and lab[j]:
                j += 1
            if j - k < 5:
                out[k:j] = False
            k = j
        else:
            k += 1
    return out


def ulaw(x):
    """G.711 mu-law encode+decode of int16 samples (table-exact like the reference codec)."""
    BIAS = 0x84
    s = x.astype(np.int32); sign = s < 0; mag = np.minimum(np.abs(s), 32635) + BIAS
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7; exp = np.clip(exp, 0, 7)
    mant = (mag >> (exp + 3)) & 0x0F
    dec = (((mant << 3) + BIAS) << exp) - BIAS
    return np.where(sign, -dec, dec).astype(np.int16)


def lowpass_decimate(x):
    k = np.arange(-63, 64); h = 0.5 * np.sinc(k * 0.46 * 2 / 2 * 2 / 2) * np.hamming(127)
    h = np.sinc(k * 0.9 / 2) * 0.9 / 2 * np.hamming(127); h /= h.sum()
    return np.convolve(x, h, "same")[::2]


def make_file(rng, tmp, rate):
    dur = rng.uniform(9, 13); n = int(dur * SR)
    talkers = [talker(rng)] + ([talker(rng)] if rng.random() < 0.2 else [])
    speech = np.zeros(n); utts = []
    pos = int(SR * rng.uniform(0.05, 1.5))
    setup = None
    if rng.random() < 0.25:
        # call set-up tone at the start, speech only after it
        ek = ["ringback_us", "ringback_uk", "busy"][rng.integers(3)]
        st = int(SR * rng.uniform(0.05, 0.3)); ed = int(SR * rng.uniform(2.0, 6.0))
        setup = (ek, st, ed)
        pos = st + ed + int(SR * rng.uniform(0.2, 1.0))
    while pos < n - SR * 0.5:
        tk = talkers[rng.integers(len(talkers))]
        u = synth(tk, text(rng), tmp)
        e = frame_energy(u)
        if len(e) == 0 or e.max() <= 0:
            continue
        act = e > e.max() * 1e-4
        lvl = rng.uniform(-32, -14)
        u = u * 10 ** (lvl / 20) / np.sqrt(np.mean(e[act]) + 1e-20)
        u = u[:n - pos]
        speech[pos:pos + len(u)] += u; utts.append((pos, u))
        r = rng.random()
        pause = rng.uniform(0.12, 0.4) if r < 0.35 else rng.uniform(0.4, 1.5) if r < 0.8 else rng.uniform(1.5, 3.0)
        pos += len(u) + int(SR * pause)
    lab = labels_for(utts, n)
    m = len(lab)
    sp_pow = np.mean(frame_energy(speech)[lab]) if lab.any() else 1e-4
    kind = ["white", "pink", "car", "music", "comfort"][rng.integers(5)]
    snr = rng.uniform(0, 20)
    y = speech + noise(rng, kind, n) * np.sqrt(sp_pow / 10 ** (snr / 10))
    y += rng.standard_normal(n) * 10 ** (rng.uniform(-75, -60) / 20)
    if setup is not None:
        ek, st, ed = setup
        ev = event(rng, ek, ed)
        y[st:st + ed] += ev / (np.sqrt(np.mean(ev ** 2)) + 1e-12) * 10 ** (rng.uniform(-34, -12) / 20)
    for _ in range(int(rng.integers(0, 4))):
        ek = EVENT_KINDS[rng.integers(len(EVENT_KINDS))]
        ed = int(SR * rng.uniform(*EVENT_DUR[ek])); ed = min(ed, n - 1)
        gaps = np.nonzero(~lab)[0]
        if rng.random() < 0.7 and len(gaps):
            st = int(gaps[rng.integers(len(gaps))]) * FR - int(rng.uniform(0, 0.3) * ed)
        else:
            st = int(rng.integers(0, n - ed))
        st = max(0, min(st, n - ed))
        ev = event(rng, ek, ed)
        lvl = 10 ** (rng.uniform(-34, -12) / 20)
        y[st:st + ed] += ev / (np.sqrt(np.mean(ev ** 2)) + 1e-12) * lvl
    if rate == 8000:
        if rng.random() < 0.5:
            y = fft_filter(y, lambda f: 1 / np.sqrt(1 + (300 / np.maximum(f, 1)) ** 8) / np.sqrt(1 + (f / 3400) ** 12))
    else:
        if rng.random() < 0.3:
            y = fft_filter(y, lambda f: 1 / np.sqrt(1 + (50 / np.maximum(f, 1)) ** 4) / np.sqrt(1 + (f / 7000) ** 12))
    y *= 10 ** (rng.uniform(-6, 4) / 20)
    y = np.clip(y, -1, 32767 / 32768)
    if rate == 8000:
        y = lowpass_decimate(y)
    pcm = np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)
    if rate == 8000 or rng.random() < 0.3:
        pcm = ulaw(pcm)
    return pcm, lab


def write_scv(path, fid, lab):
    parts = [fid]; k = 0; m = len(lab)
    while k < m:
        j = k
        while j < m and lab[j] == lab[k]:
            j += 1
        parts += [f"{k * 0.01:.3f}", f"{j * 0.01:.3f}", str(int(lab[k]))]; k = j
    open(path, "w").write(",".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out"); ap.add_argument("--n", type=int, default=10); ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=int, default=8000); ap.add_argument("--prefix", default="tr")
    ap.add_argument("--start", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.start, a.start + a.n):
            fid = f"{a.prefix}-{i:04d}"
            wp = os.path.join(a.out, fid + ".wav")
            if os.path.exists(wp) and os.path.exists(os.path.join(a.out, fid + ".scv")):
                continue
            rng = np.random.default_rng([a.seed, i, a.rate])
            pcm, lab = make_file(rng, tmp, a.rate)
            with wave.open(wp + ".tmp", "wb") as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(a.rate); w.writeframes(pcm.tobytes())
            os.replace(wp + ".tmp", wp)
            write_scv(os.path.join(a.out, fid + ".scv"), fid, lab)
            print(fid, flush=True)


if __name__ == "__main__":
    main()
