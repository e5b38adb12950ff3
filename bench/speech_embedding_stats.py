"""Reference statistics of the speech embedding: the per-dimension mean and std that centre and scale it.

Google's pooled speech embedding (mean/std/max of 96-d frames) has dimensions whose typical values
differ by 10×, with large offsets; a linear head trained on a few dozen clips learns much better on
centred, unit-scale features (5-fold CV on 8 spoken intents × 12 clips: 0.60–0.74 raw, 0.79 with
these constants, 0.80 with statistics of the training split itself). Like ImageNet's mean/std for
images, the constants are fixed, part of the model, and computed once from generic data: here
espeak-ng speaking sentences in eight languages other than English (so no voice, language or phrase of
bench/quality_data.py's English sets is involved), with random level, lead-in and room noise.

    python bench/speech_embedding_stats.py                  # REFERENCE_MEAN/STD (the original 288-d layout)
    python bench/speech_embedding_stats.py --layout phased  # PHASED_MEAN/STD (4 passes + mid-level, 432-d)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_data import speak  # noqa: E402

SENTENCES = {
    "de": ["Guten Morgen, wie geht es dir heute?", "Der Zug fährt um acht Uhr ab.", "Bitte schließ das Fenster.",
           "Ich habe meinen Schlüssel vergessen.", "Zwei", "Wasser", "Das Wetter ist schön."],
    "fr-fr": ["Bonjour, comment allez-vous?", "Le train part à huit heures.", "Fermez la porte, s'il vous plaît.",
              "J'ai oublié mes clés.", "Trois", "Merci beaucoup", "Il fait beau aujourd'hui."],
    "es": ["Buenos días, ¿cómo estás?", "El tren sale a las ocho.", "Cierra la ventana, por favor.",
           "He perdido mis llaves.", "Cuatro", "Gracias", "Hace buen tiempo hoy."],
    "it": ["Buongiorno, come stai?", "Il treno parte alle otto.", "Chiudi la finestra, per favore.",
           "Ho dimenticato le chiavi.", "Cinque", "Grazie mille", "Oggi fa bel tempo."],
    "nl": ["Goedemorgen, hoe gaat het?", "De trein vertrekt om acht uur.", "Doe het raam dicht alsjeblieft.",
           "Ik ben mijn sleutels vergeten.", "Zes", "Dank je wel", "Het is mooi weer vandaag."],
    "pl": ["Dzień dobry, jak się masz?", "Pociąg odjeżdża o ósmej.", "Zamknij okno, proszę.",
           "Zapomniałem kluczy.", "Siedem", "Dziękuję", "Dzisiaj jest ładna pogoda."],
    "pt": ["Bom dia, como vai?", "O comboio parte às oito.", "Fecha a janela, por favor.",
           "Esqueci-me das chaves.", "Oito", "Obrigado", "Hoje está bom tempo."],
    "sv": ["God morgon, hur mår du?", "Tåget går klockan åtta.", "Stäng fönstret, tack.",
           "Jag har glömt mina nycklar.", "Nio", "Tack så mycket", "Det är fint väder idag."],
}
VARIANTS = ["m1", "m3", "m5", "m7", "f1", "f2", "f4", "klatt", "Alex", "linda", "rob", "steph"]


def clips(seed: int = 0) -> list[np.ndarray]:
    """Every sentence by four random speakers (variant, pitch, speed) of its language."""
    rng = np.random.default_rng(seed)
    out = []
    for lang, sentences in SENTENCES.items():
        for text in sentences:
            for _ in range(4):
                speaker = (lang, str(rng.choice(VARIANTS)), int(rng.integers(25, 76)), int(rng.integers(130, 200)))
                out.append(speak(text, speaker, rng))
    return out


def main() -> None:
    from konstrukt.modalities.audio.speech_embedding import PHASED_LAYOUT, load_onnx_weights, weights_path
    from konstrukt.models.portable.speech_embedding import SpeechEmbedding

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", choices=("original", "phased"), default="original")
    phased = ap.parse_args().layout == "phased"
    model = SpeechEmbedding(**(PHASED_LAYOUT if phased else {}))
    load_onnx_weights(model, weights_path())
    model.reference_mean.zero_()  # raw pooled features
    model.reference_std.fill_(1.0)
    model.eval()
    with torch.inference_mode():
        x = torch.cat([model(torch.from_numpy(w)[None]) for w in clips()]).double()  # (N, 288 or 432)
    mean, std = x.mean(0), x.std(0)
    print(f"# {x.shape[0]} clips")
    prefix = "PHASED" if phased else "REFERENCE"
    for name, row in ((f"{prefix}_MEAN", mean), (f"{prefix}_STD", std)):
        print(f"{name} = (" + ", ".join(f"{v:.4g}" for v in row.tolist()) + ")")


if __name__ == "__main__":
    main()
