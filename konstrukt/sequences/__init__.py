"""Sequence runs: a recording → text (typed keys, spoken digits, gesture strings), trained with CTC
and measured in character error rate. See docs/sequences.md.

data (text labels, alphabet, event windows, grouped splits) → models (per-frame networks from the
signal/audio building blocks) → ctc (greedy / beam decoding; portable) → training (the CTC loop)
→ metrics (CER, WER, edit operations) → run (the run folder, evaluate, predict).
"""
