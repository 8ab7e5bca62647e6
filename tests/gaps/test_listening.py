"""Speech is listened for only where the session rules read it (``gaps.speech_scope = "rules"``).

Real clips (speech laid into pink noise from the shared corpus), real decoding, the real model.
Expected values come from the clips' labels and from hand-made sessions, never from the code
under test; the "whole" runs are the same detector listening everywhere, as before this change.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from media.gaps.qc import analyse
from media.gaps.session import check_session, listening_windows, resume_id
from media.gaps.settings import GapSettings
from media.gaps.speech import Window
from media.gaps.synth import ClipSpec, make_clip
from media.model import Event, Session

from .conftest import AUDIO, SPEECH_FILES, TOLERANCE, need_shared
from .test_session import gap, rec


def _windows(result):
    return [(e.start, e.end, e.detail["reason"]) for e in result.events if e.kind == "speech_window"]


def test_windows_of_a_session_follow_the_rules():
    # a 40 s file, a chained 60 s file, a 100 s gap, a 60 s file with a 20 s stop in it (packet scan)
    a, b = rec("a.mp4", 0, 40), rec("b.mp4", 40, 60)
    c = rec("c.mp4", 200, 60, [Event(kind="discontinuity", start=20.0, end=40.0)])
    windows = listening_windows([a, b, c], [gap(b, c)], GapSettings())
    # the opening window (60 s) runs on into the chained file; the resume windows last 30 s,
    # the one after the in-file stop runs past the end of c (60 s) and is cut there
    assert windows[a.path] == [Window(0.0, 40.0, "opening", "opening")]
    assert windows[b.path] == [Window(0.0, 20.0, "opening", "opening")]
    assert windows[c.path] == [
        Window(0.0, 30.0, "resume", resume_id(c.start)),
        Window(40.0, 60.0, "resume", resume_id(c.start + timedelta(seconds=40))),
    ]
    # a continuation nobody reads speech in still has its (empty) entry
    d = rec("d.mp4", 100, 60)
    assert listening_windows([a, b, d], [], GapSettings())[d.path] == []


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory):
    need_shared(AUDIO)
    path = tmp_path_factory.mktemp("listening") / "speech.mp4"
    spec = ClipSpec(duration=34, ambient_db=-45.0, seed=8, speech=[
        (2.0, str(AUDIO / SPEECH_FILES[0])), (10.0, str(AUDIO / SPEECH_FILES[1])), (20.0, str(AUDIO / SPEECH_FILES[2]))])
    return path, make_clip(path, spec)


def test_speech_is_heard_only_inside_its_windows(speech_clip):
    path, labels = speech_clip
    whole = analyse(path)
    inside = analyse(path, listen=[Window(9.0, 17.0, "resume", "x")])
    # outside the window nothing is reported; inside, the speech laid in at 10 s is found
    assert inside.speech and all(9.0 - 0.05 <= a and b <= 17.0 + 0.05 for a, b in inside.speech)
    (label,) = [(a, b) for a, b in labels["speech"] if 9.0 < a < 17.0]
    assert any(a <= label[0] + TOLERANCE and b > label[0] for a, b in inside.speech)
    assert _windows(inside) == [(9.0, 17.0, "resume")]
    # it listened for about 8 s, and ran the model on no more than that
    assert 7.9 <= inside.stats["speech_listened_s"] <= 8.2
    assert inside.stats["speech_model_windows"] <= 8.2 * 16000 / 512
    assert whole.stats["speech_model_windows"] > 3 * inside.stats["speech_model_windows"]
    # listening everywhere reports no windows: the whole file was heard
    assert _windows(whole) == [] and whole.stats["speech_listened_s"] > 33
    # the other findings do not depend on where it listens
    others = lambda r: [(e.kind, e.start, e.end) for e in r.events if e.kind not in ("speech", "speech_window")]  # noqa: E731
    assert others(inside) == others(whole)


def test_whole_scope_ignores_the_windows(speech_clip):
    path, _ = speech_clip
    result = analyse(path, GapSettings(speech_scope="whole"), listen=[Window(9.0, 17.0, "resume", "x")])
    assert _windows(result) == [] and result.stats["speech_listened_s"] > 33


@pytest.fixture(scope="module")
def stopped_clips(tmp_path_factory):
    """Two clips with 3 s of pictures dropped at 8 s (a stop, not known before decoding): one with
    speech laid in at 12 s, after the resume, one with speech only before the stop."""
    need_shared(AUDIO)
    out = tmp_path_factory.mktemp("stops")
    spoken = ClipSpec(duration=26, ambient_db=-45.0, seed=11, drop=[(8.0, 11.0)],
                      speech=[(0.5, str(AUDIO / SPEECH_FILES[1])), (12.0, str(AUDIO / SPEECH_FILES[2]))])
    silent = ClipSpec(duration=26, ambient_db=-45.0, seed=12, drop=[(8.0, 11.0)],
                      speech=[(0.5, str(AUDIO / SPEECH_FILES[1]))])
    clips = {}
    for name, spec in (("spoken", spoken), ("silent", silent)):
        path = out / f"{name}.mp4"
        clips[name] = (path, make_clip(path, spec))
    return clips


@pytest.mark.parametrize("name, flagged", [("spoken", False), ("silent", True)])
def test_a_stop_found_while_decoding_opens_a_window(stopped_clips, name, flagged):
    path, labels = stopped_clips[name]
    r = rec(path.name, 0, 26).model_copy(update={"path": str(path)})
    settings = GapSettings()
    # an opening window shorter than the clip, so that the resume's window is the pass's own
    early = [Window(0.0, 8.0, "opening", "opening")]
    result = analyse(path, settings, recording=r, listen=early)
    (drop,) = [e for e in result.events if e.kind == "dropped_frames"]
    assert abs(drop.end - 11.0) <= TOLERANCE
    resumed = [(a, b) for a, b, why in _windows(result) if why == "resume"]
    assert resumed and abs(resumed[0][0] - drop.end) < 0.01
    heard_after = [(a, b) for a, b in result.speech if a >= drop.end]
    laid_after = [(a, b) for a, b in labels["speech"] if a > 11.0]
    assert bool(heard_after) == bool(laid_after)
    session = Session(id="s1", device="CAM1", recordings=[r], gaps=[])
    kinds = [e.kind for e in check_session(session, {r.path: result.speech}, settings,
                                           file_events={r.path: result.events})]
    assert ("unexplained_interruption" in kinds) == flagged


def test_a_stop_that_grows_keeps_one_window(tmp_path):
    """Drops that merge into a stop already past ``stop_min_duration`` move its one resume window
    to the latest resume: one ``speech_window`` per stop, not one per merge."""
    need_shared(AUDIO)
    path = tmp_path / "grown.mp4"
    make_clip(path, ClipSpec(duration=26, ambient_db=-45.0, seed=13, drop=[(8.0, 11.0), (11.2, 13.0)],
                             speech=[(0.5, str(AUDIO / SPEECH_FILES[1]))]))
    r = rec(path.name, 0, 26).model_copy(update={"path": str(path)})
    result = analyse(path, GapSettings(), recording=r, listen=[Window(0.0, 8.0, "opening", "opening")])
    (drop,) = [e for e in result.events if e.kind == "dropped_frames"]  # one stop, 8 s to 13 s
    assert abs(drop.start - 8.0) <= TOLERANCE and abs(drop.end - 13.0) <= TOLERANCE
    resumed = [(a, b) for a, b, why in _windows(result) if why == "resume"]
    assert len(resumed) == 1 and abs(resumed[0][0] - drop.end) < 0.01, resumed
