"""Grammar-constrained CTC decoding, on constructed probability arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vision.plate_ctc import GrammarCtcDecoder
from vision.plate_engines import CtcPlateDecoder, TextLine
from vision.plate_grammar import PLATE_ALPHABET, PLATE_LAYOUTS, is_valid_plate

# A recogniser table as PP-OCR has it: blank first, plate characters mixed with others
# (O and I, a look-alike of 皖, shop-sign characters, the separator dot).
TABLE = ["blank", "院", "O", "I", "·", "便", "利", "店", ":", *PLATE_ALPHABET]
COL = {c: i for i, c in enumerate(TABLE)}

Frame = dict[str, float]


def softmax_rows(frames: list[Frame], pad: int = 3) -> np.ndarray:
    """(1, T, classes): each frame's listed probabilities, the rest of its mass on blank.

    ``pad`` blank frames go before and after, as around a real plate crop.
    """
    blank: list[Frame] = [{}] * pad
    rows = blank + frames + blank
    probs = np.full((len(rows), len(TABLE)), 1e-6)
    for t, row in enumerate(rows):
        for ch, p in row.items():
            probs[t, COL[ch]] = p
        probs[t, 0] = max(0.0, 1.0 - sum(row.values()))
    return (probs / probs.sum(axis=1, keepdims=True))[None]


def spaced(text: str, p: float = 0.95) -> list[Frame]:
    """One confident frame per character with a blank frame after each."""
    frames: list[Frame] = []
    for ch in text:
        frames += [{ch: p}, {}]
    return frames


@pytest.fixture(scope="module")
def decoder() -> CtcPlateDecoder:
    return CtcPlateDecoder(TABLE)


def test_a_plate_read_cleanly_is_left_alone(decoder: CtcPlateDecoder) -> None:
    (line,) = decoder.decode(softmax_rows(spaced("皖AYL375")))
    assert line.text == "皖AYL375"
    assert line.alternatives == ()
    assert line.char_confidences == pytest.approx([0.95] * 7, abs=1e-4)


def _with(frames: list[Frame], index: int, frame: Frame) -> list[Frame]:
    return [*frames[:index], frame, *frames[index + 1 :]]


@pytest.mark.parametrize(
    ("frames", "greedy", "plate", "forced"),
    [
        # A letter where the province belongs: the best province in its frames wins.
        (_with(spaced("皖A12345"), 0, {"A": 0.6, "皖": 0.3}), "AA12345", "皖A12345", 0.3),
        # The model's own look-alike outside the alphabet is never a candidate.
        (_with(spaced("皖A12345"), 0, {"院": 0.85, "皖": 0.05}), "A12345", "皖A12345", 0.05),
        # A digit where the issuing letter belongs (its confidence: the next test).
        (_with(spaced("皖B12345"), 2, {"8": 0.6, "B": 0.35}), "皖812345", "皖B12345", None),
        # Six characters: a faint serial character the arg-max dropped is taken back.
        (_with(spaced("皖A12345"), 12, {"5": 0.3}), "皖A1234", "皖A12345", 0.3),
        # Nine characters: a ninth (edge junk) is left out because no plate has nine.
        ([*spaced("皖A12345"), {"1": 0.6}], "皖A123451", "皖A12345", None),
        # Green small new-energy: D/F first in the serial, so a 0 there must be a D.
        (_with(spaced("皖AD12345"), 4, {"0": 0.55, "D": 0.4}), "皖A012345", "皖AD12345", 0.4),
        # Green large new-energy: D/F last, so E there must be an F.
        (_with(spaced("皖A12345F"), 14, {"E": 0.55, "F": 0.4}), "皖A12345E", "皖A12345F", 0.4),
        # ... and the last four of a small one are digits: B there must be an 8.
        (_with(spaced("皖AD12845"), 10, {"B": 0.55, "8": 0.4}), "皖AD12B45", "皖AD12845", 0.4),
        # O is never in a serial; restricting to the alphabet already reads its 0.
        (_with(spaced("皖A10345"), 6, {"O": 0.7, "0": 0.2}), "皖A10345", "皖A10345", None),
    ],
)
def test_the_grammar_repairs_what_greedy_gets_wrong(
    decoder: CtcPlateDecoder,
    frames: list[Frame],
    greedy: str,
    plate: str,
    forced: float | None,
) -> None:
    (line,) = decoder.decode(softmax_rows(frames))
    assert line.text == plate
    assert is_valid_plate(line.text)
    readings = [line.text] + [a.text for a in line.alternatives]
    assert readings[-1] == greedy  # the grammar-free reading stays available
    if forced is not None:
        # The repaired character keeps the model's own (low) probability.
        assert forced == pytest.approx(min(line.char_confidences), abs=1e-3)


def test_the_issuing_letter_counts_the_digit_it_looks_like(decoder: CtcPlateDecoder) -> None:
    # Only a letter may follow the province, so the model's 0.6 for "8" there is belief in
    # B; the serial's own characters keep their probabilities (a 0 standing for D in a
    # new-energy serial stays at the 0.4 the model gave the D, as above).
    (line,) = decoder.decode(softmax_rows(_with(spaced("皖B12345"), 2, {"8": 0.6, "B": 0.35})))
    assert line.text == "皖B12345"
    assert line.char_confidences[1] == pytest.approx(0.95, abs=1e-3)
    (other,) = decoder.decode(softmax_rows(_with(spaced("皖K12345"), 2, {"3": 0.6, "K": 0.35})))
    assert other.text == "皖K12345"
    assert other.char_confidences[1] == pytest.approx(0.35, abs=1e-3)  # 3 is no K


def test_repeated_characters_need_a_blank_between(decoder: CtcPlateDecoder) -> None:
    with_blank = [*spaced("皖A"), {"1": 0.9}, {}, {"1": 0.9}, {}, *spaced("234")]
    (line,) = decoder.decode(softmax_rows(with_blank))
    assert line.text == "皖A11234"
    # Adjacent frames of the same symbol are one character in CTC: the grammar's seventh
    # character must come from elsewhere, and not at the model's confidence.
    merged = [*spaced("皖A"), {"1": 0.9}, {"1": 0.9}, {}, *spaced("234")]
    (line,) = decoder.decode(softmax_rows(merged))
    assert is_valid_plate(line.text)
    assert line.alternatives[-1].text == "皖A1234"
    assert min(line.char_confidences) < 0.2


def test_repeat_rule_in_the_path() -> None:
    # Three frames of 1 with no blank are one character; two 1s need a blank between them.
    grammar = GrammarCtcDecoder(PLATE_ALPHABET, lead_floor=0.2)
    text = "皖A11111"
    frames = spaced("皖A") + [{"1": 0.9}, {}] * 5
    probs = softmax_rows(frames, pad=1)[0]
    plate_cols = [COL[c] for c in PLATE_ALPHABET]
    path = grammar.decode(probs[:, plate_cols], probs[:, 0])
    assert path is not None
    assert "".join(PLATE_ALPHABET[s] for s, _ in path) == text
    ones = [t for s, t in path if PLATE_ALPHABET[s] == "1"]
    assert all(b - a >= 2 for a, b in itertools.pairwise(ones))


@pytest.mark.parametrize(
    "frames",
    [
        # A shop sign: characters outside the plate alphabet.
        [{"便": 0.9}, {}, {"利": 0.9}, {}, {"店": 0.9}, {}, {"2": 0.9}, {}, {"4": 0.9}],
        # A timestamp: every digit is a plate character, but no plate is only digits.
        [*spaced("12"), {":": 0.9}, *spaced("30"), {":": 0.9}, *spaced("45")],
    ],
)
def test_text_that_is_no_plate_keeps_near_zero_characters(
    decoder: CtcPlateDecoder, frames: list[Frame]
) -> None:
    (line,) = decoder.decode(softmax_rows(frames))
    assert is_valid_plate(line.text)  # the grammar always finds some plate ...
    assert min(line.char_confidences[1:]) < 0.01  # ... but has to force characters into it


def test_six_digits_do_not_become_an_embassy_plate(decoder: CtcPlateDecoder) -> None:
    # 使123456 is a plate, and the recogniser does not floor a plate's first character;
    # a 使 the model never read must not lead a confident reading.
    (line,) = decoder.decode(softmax_rows(spaced("123456")))
    assert not line.text.startswith("使")
    assert min(line.char_confidences[1:]) < 0.01
    (line,) = decoder.decode(softmax_rows(spaced("使123456")))
    assert line.text == "使123456"


def test_too_short_for_any_plate_returns_the_greedy_reading(decoder: CtcPlateDecoder) -> None:
    (line,) = decoder.decode(softmax_rows([{"皖": 0.9}, {"A": 0.9}], pad=0))
    assert line == TextLine("皖A", line.char_confidences)


def _reference_best(probs: np.ndarray, filler: np.ndarray, layouts: list[tuple[str, ...]]) -> float:
    """Log-probability of the best CTC path whose text fits one of ``layouts``.

    A plain frame-by-frame Viterbi, one layout at a time: slow, but obviously right.
    """
    lp, lf = np.log(probs), np.log(filler)
    n_sym = lp.shape[1]
    # not_same[s, s']: entering s' straight from a frame that emitted s is allowed.
    not_same = ~np.eye(n_sym, n_sym + 1, dtype=bool)
    best = -np.inf
    for layout in layouts:
        allowed = [np.array([c in chars for c in PLATE_ALPHABET]) for chars in layout]
        # score[pos, s]: pos characters read, the last frame emitted s (index n_sym: filler).
        score = np.full((len(layout) + 1, n_sym + 1), -np.inf)
        score[0, n_sym] = 0.0
        for t in range(len(lp)):
            new = np.full_like(score, -np.inf)
            new[:, n_sym] = score.max(axis=1) + lf[t]
            new[:, :n_sym] = score[:, :n_sym] + lp[t]  # the same character goes on
            for pos, ok in enumerate(allowed):
                enter = np.where(not_same, score[pos][None, :], -np.inf).max(axis=1) + lp[t]
                new[pos + 1, :n_sym] = np.maximum(
                    new[pos + 1, :n_sym], np.where(ok, enter, -np.inf)
                )
            score = new
        best = max(best, float(score[-1].max()))
    return best


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("focus", ["", "皖A1D"])
def test_finds_the_best_plate_path(seed: int, focus: str) -> None:
    rng = np.random.default_rng(seed)
    # Peaky rows like a real CTC model's: most mass on one or two classes. With a focus,
    # only a few symbols carry mass, so the best plate must repeat characters.
    classes = [PLATE_ALPHABET.index(c) for c in focus] or list(range(len(PLATE_ALPHABET)))
    raw = np.full((14, len(PLATE_ALPHABET) + 1), 1e-9)
    raw[:, [*classes, -1]] = rng.dirichlet(np.full(len(classes) + 1, 0.2), size=14)
    probs, filler = raw[:, :-1], raw[:, -1]
    path = GrammarCtcDecoder(PLATE_ALPHABET, lead_floor=0.0).decode(probs, filler)
    assert path is not None
    text = "".join(PLATE_ALPHABET[s] for s, _ in path)
    assert is_valid_plate(text)
    best = _reference_best(probs, filler, [layout for _, layout in PLATE_LAYOUTS])
    # The decoder's text must be the one the best path reads: its own best alignment
    # scores as high as the best path over all plates.
    assert _reference_best(probs, filler, [tuple(text)]) == pytest.approx(best, abs=1e-6)


def test_a_priority_province_wins_where_the_model_hesitates() -> None:
    # A small 川 plate: the model spreads the province over look-alikes, 鄂 on top.
    frames = _with(spaced("川A019W2"), 0, {"鄂": 0.45, "皖": 0.3, "川": 0.08})
    (plain,) = CtcPlateDecoder(TABLE).decode(softmax_rows(frames))
    assert plain.text == "鄂A019W2"
    local = CtcPlateDecoder(TABLE, province_weights={"川": 120.0})
    (line,) = local.decode(softmax_rows(frames))
    assert line.text == "川A019W2"
    # The guard still sees how unsure the model was of that character.
    assert line.char_confidences[0] == pytest.approx(0.08, abs=1e-3)


def test_a_clearly_read_plate_from_elsewhere_is_left_as_read() -> None:
    frames = _with(spaced("粤B12345"), 0, {"粤": 0.97, "川": 0.0001})
    local = CtcPlateDecoder(TABLE, province_weights={"川": 120.0})
    (line,) = local.decode(softmax_rows(frames))
    assert line.text == "粤B12345"
    assert line.char_confidences[0] == pytest.approx(0.97, abs=1e-3)


def test_province_weights_name_provinces_only() -> None:
    with pytest.raises(ValueError, match="non-provinces"):
        CtcPlateDecoder(TABLE, province_weights={"A": 10.0})


def test_the_priority_decides_which_province_not_whether_one_is_there() -> None:
    # Blank frames before the plate carry a trace of 川: the prior must not stretch the
    # province over them (its confidence would then come from a blank frame).
    frames = [{"川": 0.01}, {"川": 0.01}, {"鄂": 0.5, "川": 0.3}, {}, *spaced("A12345")]
    local = CtcPlateDecoder(TABLE, province_weights={"川": 120.0})
    (line,) = local.decode(softmax_rows(frames))
    assert line.text == "川A12345"
    assert line.char_confidences[0] == pytest.approx(0.3, abs=1e-3)
