"""FaceMatcher (1:N, margin, neighbour ratio, live add/remove, threads) and FaceVoter: pure
numpy, no data."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from vision.face_config import FaceRecognitionConfig
from vision.face_matcher import FaceMatcher, FaceVoter, accept_rule, vote
from vision.face_types import FaceMatch, MatchReason


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _at_distance(base: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A vector exactly ``distance`` away from ``base`` (orthogonal offset)."""
    d = _unit(seed)
    d -= (d @ base) * base
    d /= np.linalg.norm(d)
    return (base + distance * d).astype(np.float32)


def test_distances_equal_numpy_euclidean() -> None:
    matcher = FaceMatcher(threshold=0.4, margin=0.05)
    gallery = np.stack([_unit(i) for i in range(50)])
    matcher.add(1, gallery[:20])
    matcher.add(2, gallery[20:])
    probe = _unit(999)
    dist, ids = matcher.distances(probe)
    np.testing.assert_allclose(dist, np.linalg.norm(gallery - probe, axis=1), atol=1e-5)
    assert ids.tolist() == [1] * 20 + [2] * 30


def test_empty_gallery_refuses() -> None:
    match = FaceMatcher(0.4, 0.05).match(_unit(0))
    assert not match.accepted and match.identity_id is None
    assert match.reason is MatchReason.NO_TEMPLATES and math.isinf(match.distance)


@pytest.mark.parametrize(
    ("d_best", "d_second", "reason"),
    [
        (0.20, 0.60, MatchReason.ACCEPTED),
        (0.20, 0.27, MatchReason.AMBIGUOUS),  # margin 0.07 < 0.08
        (0.20, 0.29, MatchReason.ACCEPTED),  # margin 0.09
        (0.45, 0.90, MatchReason.ABOVE_THRESHOLD),
    ],
)
def test_threshold_and_margin(d_best: float, d_second: float, reason: MatchReason) -> None:
    probe = _unit(0)
    matcher = FaceMatcher(threshold=0.40, margin=0.08)
    matcher.add(7, _at_distance(probe, d_best, 1))
    matcher.add(8, _at_distance(probe, d_second, 2))
    match = matcher.match(probe)
    assert match.identity_id == 7
    assert match.distance == pytest.approx(d_best, abs=1e-4)
    assert match.second_distance == pytest.approx(d_second, abs=1e-4)
    assert match.reason is reason
    assert match.accepted is (reason is MatchReason.ACCEPTED)


def test_margin_is_to_second_identity_not_second_template() -> None:
    probe = _unit(0)
    matcher = FaceMatcher(threshold=0.40, margin=0.08)
    # Two near-identical templates of the same person must not make the match ambiguous.
    matcher.add(7, np.stack([_at_distance(probe, 0.20, 1), _at_distance(probe, 0.21, 2)]))
    matcher.add(8, _at_distance(probe, 0.70, 3))
    match = matcher.match(probe)
    assert match.accepted and match.second_distance == pytest.approx(0.70, abs=1e-4)


def test_several_templates_best_one_wins() -> None:
    probe = _unit(0)
    matcher = FaceMatcher(threshold=0.40, margin=0.05)
    matcher.add(7, np.stack([_at_distance(probe, 0.9, 1), _at_distance(probe, 0.25, 2)]))
    matcher.add(8, _at_distance(probe, 0.5, 3))
    match = matcher.match(probe)
    assert match.identity_id == 7 and match.accepted


def test_live_add_and_remove() -> None:
    probe = _unit(0)
    matcher = FaceMatcher(threshold=0.40, margin=0.05)
    matcher.add(1, _at_distance(probe, 0.8, 1))
    assert not matcher.match(probe).accepted
    matcher.add(2, _at_distance(probe, 0.1, 2))
    assert matcher.match(probe).identity_id == 2
    assert 2 in matcher and matcher.identity_count == 2
    assert matcher.remove(2) == 1
    assert 2 not in matcher and matcher.template_count == 1
    match = matcher.match(probe)
    assert match.identity_id == 1 and not match.accepted
    assert matcher.remove(42) == 0


def test_replace_all() -> None:
    matcher = FaceMatcher(0.4, 0.05)
    matcher.add(1, _unit(1))
    matcher.replace_all([(5, np.stack([_unit(5), _unit(6)])), (6, _unit(7))])
    assert matcher.template_count == 3 and 1 not in matcher
    assert matcher.match(_unit(7)).identity_id == 6


@pytest.mark.parametrize(
    "bad", [np.zeros(127, np.float32), np.full(128, np.nan, np.float32), np.zeros((0, 128))]
)
def test_add_refuses_malformed_embeddings(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        FaceMatcher(0.4, 0.05).add(1, bad)


@pytest.mark.parametrize(("threshold", "margin"), [(0.0, 0.05), (2.5, 0.05), (0.4, -0.1)])
def test_matcher_refuses_bad_operating_point(threshold: float, margin: float) -> None:
    with pytest.raises(ValueError):
        FaceMatcher(threshold, margin)


def test_concurrent_add_remove_match() -> None:
    """Writers and readers at once: no exception, no torn gallery, correct final state."""
    matcher = FaceMatcher(threshold=0.40, margin=0.0)
    anchor = _unit(0)
    matcher.add(0, anchor)
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for i in range(200):
                identity = base + i
                matcher.add(identity, np.stack([_unit(identity), _unit(identity + 10_000)]))
                if i % 2:
                    matcher.remove(identity)
        except BaseException as err:
            errors.append(err)

    def reader() -> None:
        try:
            for _ in range(400):
                match = matcher.match(anchor)
                # The anchor is never removed: it must always be the accepted identity.
                assert match.identity_id == 0 and match.accepted
                dist, ids = matcher.distances(anchor)
                assert dist.shape == ids.shape
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (1_000, 2_000)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert matcher.identity_count == 1 + 2 * 100
    assert matcher.template_count == 1 + 2 * 100 * 2


def _accepted(identity: int) -> FaceMatch:
    return FaceMatch(identity, 0.2, 0.6, True, MatchReason.ACCEPTED)


def _refused(identity: int | None = None) -> FaceMatch:
    return FaceMatch(identity, 0.5, 0.6, False, MatchReason.ABOVE_THRESHOLD)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([_accepted(1)] * 3, 1),
        ([_accepted(1)] * 2, None),
        ([_accepted(1), None, _refused(1), _accepted(1), _accepted(1)], 1),
        ([_accepted(1), _accepted(2), _accepted(1), _accepted(1)], None),  # conflict in window
        ([_accepted(1), None, None, None, None, None, _accepted(1), _accepted(1)], None),
        ([_refused(1)] * 5, None),
    ],
)
def test_voter_three_of_five(frames: list[FaceMatch | None], expected: int | None) -> None:
    assert vote(frames, required=3, window=5).identity_id == expected


def test_voter_conflict_leaves_window() -> None:
    voter = FaceVoter(required=2, window=3)
    for match in (_accepted(2), _accepted(1), _accepted(1)):
        result = voter.update(match)
    assert result.conflict and result.identity_id is None
    result = voter.update(_accepted(1))  # the other identity has left the window
    assert result.identity_id == 1 and not result.conflict
    voter.reset()
    assert voter.result().frames == 0


def test_voter_refuses_bad_window() -> None:
    with pytest.raises(ValueError):
        FaceVoter(required=4, window=3)


# -- neighbour ratio (lookalike-aware threshold) ---------------------------------------------


def _orthonormal(count: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(128, count)))
    return q.T.astype(np.float32)


def _lookalike_gallery(
    d_best: float, neighbour: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe P, resident template A with |P-A| = d_best, and a lookalike resident B with
    |A-B| = neighbour and |P-B| = sqrt(d_best² + neighbour²) (orthogonal offsets)."""
    base, u, w = _orthonormal(3, 11)
    probe = base
    a = probe + d_best * u
    b = a + neighbour * w
    return probe, a.astype(np.float32), b.astype(np.float32)


@pytest.mark.parametrize(
    ("d_best", "neighbour", "ratio", "reason"),
    [
        (0.30, 0.40, 0.90, MatchReason.ACCEPTED),  # 0.30 < 0.9 * 0.40 = 0.36
        (0.30, 0.32, 0.90, MatchReason.AMBIGUOUS),  # 0.30 >= 0.9 * 0.32 = 0.288
        (0.30, 0.32, None, MatchReason.ACCEPTED),  # ratio off: the old rule accepts
        (0.30, 0.32, 1.00, MatchReason.ACCEPTED),  # 0.30 < 1.0 * 0.32
        (0.45, 1.00, 0.90, MatchReason.ACCEPTED),  # a resident without lookalike
        (0.55, 1.00, 0.90, MatchReason.ABOVE_THRESHOLD),  # the threshold still applies
    ],
)
def test_neighbour_ratio(
    d_best: float, neighbour: float, ratio: float | None, reason: MatchReason
) -> None:
    probe, a, b = _lookalike_gallery(d_best, neighbour)
    matcher = FaceMatcher(threshold=0.50, margin=0.0, neighbour_ratio=ratio)
    matcher.add(7, a)
    matcher.add(8, b)
    match = matcher.match(probe)
    assert match.identity_id == 7
    assert match.distance == pytest.approx(d_best, abs=1e-4)
    assert match.second_distance == pytest.approx(math.hypot(d_best, neighbour), abs=1e-4)
    assert match.reason is reason
    assert match.accepted is (reason is MatchReason.ACCEPTED)


def test_neighbour_is_another_identity_not_own_template() -> None:
    probe, a, b = _lookalike_gallery(0.30, 0.60)
    own = _at_distance(a, 0.05, 5)  # a second photo of the same resident, very close to A
    matcher = FaceMatcher(threshold=0.50, margin=0.0, neighbour_ratio=0.9)
    matcher.add(7, np.stack([a, own]))
    matcher.add(8, b)
    neighbours, ids = matcher.neighbour_distances()
    assert ids.tolist() == [7, 7, 8]
    assert neighbours[0] == pytest.approx(0.60, abs=1e-4)
    assert matcher.match(probe).accepted


def test_single_identity_has_no_neighbour() -> None:
    probe, a, _ = _lookalike_gallery(0.30, 0.60)
    matcher = FaceMatcher(threshold=0.50, margin=0.08, neighbour_ratio=0.9)
    matcher.add(7, a)
    assert math.isinf(float(matcher.neighbour_distances()[0][0]))
    assert matcher.match(probe).accepted


def test_live_lookalike_enrolment_tightens_and_removal_restores() -> None:
    probe, a, b = _lookalike_gallery(0.30, 0.32)
    matcher = FaceMatcher(threshold=0.50, margin=0.0, neighbour_ratio=0.9)
    matcher.add(7, a)
    matcher.add(9, _at_distance(a, 1.0, 6))
    assert matcher.match(probe).accepted
    matcher.add(8, b)  # a lookalike of resident 7 moves in
    assert matcher.match(probe).reason is MatchReason.AMBIGUOUS
    assert matcher.remove(8) == 1  # ... and moves out: 7's neighbour is recomputed
    assert matcher.match(probe).accepted
    assert matcher.neighbour_distances()[0][0] == pytest.approx(
        float(np.linalg.norm(a - _at_distance(a, 1.0, 6))), abs=1e-4
    )


def _brute_neighbours(templates: np.ndarray, ids: np.ndarray) -> np.ndarray:
    dist = np.linalg.norm(templates[:, None, :] - templates[None, :, :], axis=2)
    dist[ids[:, None] == ids[None, :]] = np.inf
    return dist.min(axis=1)


@pytest.mark.parametrize("block_rows", [1, 7, 256])
def test_incremental_neighbours_equal_brute_force(
    block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vision.face_matcher._BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(3)
    gallery = {i: rng.normal(0, 0.09, (int(rng.integers(1, 4)), 128)).astype(np.float32)
               for i in range(40)}
    live = FaceMatcher(0.5, 0.08, neighbour_ratio=0.9)
    for identity, templates in gallery.items():
        live.add(identity, templates)
    live.add(3, rng.normal(0, 0.09, (2, 128)).astype(np.float32))  # more photos later
    for identity in (0, 5, 17, 39):
        live.remove(identity)
    templates = live._gallery.templates
    ids = live._gallery.identity_ids
    expected = _brute_neighbours(templates, ids)
    np.testing.assert_allclose(live.neighbour_distances()[0], expected, rtol=1e-4)
    loaded = FaceMatcher(0.5, 0.08, neighbour_ratio=0.9)
    loaded.replace_all((int(i), templates[ids == i]) for i in np.unique(ids))
    reloaded = _brute_neighbours(loaded._gallery.templates, loaded._gallery.identity_ids)
    np.testing.assert_allclose(loaded.neighbour_distances()[0], reloaded, rtol=1e-4)
    np.testing.assert_allclose(np.sort(reloaded), np.sort(expected), rtol=1e-4)


def test_accept_rule_is_what_match_decides() -> None:
    """bench.faces sweeps accept_rule; it must be exactly the rule match() applies."""
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 0.09, (30, 128)).astype(np.float32)
    # Centres ~1.3 apart: a ratio of 0.36 (~0.47) binds just below the threshold 0.5.
    matcher = FaceMatcher(0.5, 0.0, neighbour_ratio=0.36)
    matcher.replace_all((i, centres[i]) for i in range(30))
    neighbours, _ = matcher.neighbour_distances()
    decided = 0
    reasons = set()
    for k in range(200):
        probe = centres[k % 30] + rng.normal(0, 0.04, 128).astype(np.float32)
        match = matcher.match(probe)
        dist, _ = matcher.distances(probe)
        best = int(np.argmin(dist))
        rule = accept_rule(match.distance, match.second_distance, float(neighbours[best]),
                           0.5, 0.0, 0.36)
        assert bool(rule) is match.accepted
        decided += match.accepted
        reasons.add(match.reason)
    # Accepted, above threshold and refused by the ratio alone were all exercised.
    assert reasons == {MatchReason.ACCEPTED, MatchReason.ABOVE_THRESHOLD, MatchReason.AMBIGUOUS}


def test_from_config_and_bad_ratio() -> None:
    config = FaceRecognitionConfig()
    matcher = FaceMatcher.from_config(config)
    assert (matcher.threshold, matcher.margin, matcher.neighbour_ratio) == (
        config.threshold, config.margin, config.neighbour_ratio
    )
    assert FaceMatcher(0.5, 0.08).neighbour_ratio == config.neighbour_ratio  # same default
    off = FaceMatcher.from_config(config.model_copy(update={"neighbour_ratio": None}))
    assert off.neighbour_ratio is None
    for bad in (0.0, -0.5):
        with pytest.raises(ValueError):
            FaceMatcher(0.5, 0.08, neighbour_ratio=bad)


@pytest.mark.parametrize(("ratio", "valid"), [(None, True), (0.92, True), (0.0, False),
                                              (-1.0, False), (3.0, False)])
def test_config_neighbour_ratio_bounds(ratio: float | None, valid: bool) -> None:
    if valid:
        assert FaceRecognitionConfig(neighbour_ratio=ratio).neighbour_ratio == ratio
    else:
        with pytest.raises(ValueError):
            FaceRecognitionConfig(neighbour_ratio=ratio)
