"""The listener that turns a style's bars, as they are sampled, into bars the player can play."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from midiforge.errors import MidiforgeError
from midiforge.live.notes import LiveBar, bars_of, beats_per_bar, notes_from_score


class LiveFeed:
    """A :class:`~midiforge.generation.styles.BarListener` that turns one piece's bars into
    :class:`LiveBar` s, in order, as soon as they are final.

    Bars arrive out of order (a song's repeated section is announced at every place it appears
    while the section in between is still being sampled); they are released in song order. A
    bar is released once none of its notes can still change: a monophonic part's note is cut
    where the next note starts, so a note that may sustain into bars not yet generated waits.
    When generation ends, :meth:`close` gets the finished score and releases whatever is left of
    it, so the whole file is always heard. Iterating the feed blocks until the next bar is
    released, and ends after :meth:`close`.
    """

    def __init__(self, row: int = 0) -> None:
        self.row = row
        self.started = False  # did the style announce the piece? (plugins may not)
        self.cancelled = False
        self._cond = threading.Condition()
        self._tokens: dict[int, list[int]] = {}
        self._released: list[LiveBar] = []
        self._render: Any = None
        self._n_bars = 0
        self._rendered = 0  # bars rendered at the last look
        self._closed = False
        self._error: BaseException | None = None

    # -- BarListener
    def piece(self, row: int, n_bars: int, render: Any) -> None:
        self.raise_if_cancelled()
        if row == self.row:
            with self._cond:
                self.started, self._render, self._n_bars = True, render, n_bars

    def bars(self, row: int, first_bar: int, bars: list[list[int]]) -> None:
        self.raise_if_cancelled()
        if row != self.row:
            return
        with self._cond:
            for offset, tokens in enumerate(bars):
                self._tokens[first_bar + offset] = tokens
            self._release()

    def cancel(self) -> None:
        """Playback stopped (Ctrl-C, a port error): make the generator stop at its next chunk."""
        self.cancelled = True

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise MidiforgeError("live playback was stopped; generation cancelled")

    def close(self, error: BaseException | None = None, final_score: Any = None) -> None:
        """Generation ended: release the rest of ``final_score`` (the piece as written), or
        hand ``error`` to the player."""
        with self._cond:
            if error is None and final_score is not None and self.started:
                notes, _ = notes_from_score(final_score)
                self._released += bars_of(notes, beats_per_bar(final_score), first_bar=len(self._released))
            self._closed, self._error = True, error
            self._cond.notify_all()

    # -- releasing
    def _release(self) -> None:
        done = len(self._released)
        known = done
        while known in self._tokens:
            known += 1
        final = known >= self._n_bars
        if known == done or (known == self._rendered and not final):
            return  # nothing new since the last look
        self._rendered = known
        score = self._render([t for bar in range(known) for t in self._tokens[bar]])
        notes, _ = notes_from_score(score)
        bar_beats = beats_per_bar(score)
        end = known * bar_beats
        # A note that reaches the last known bar line may go on in the next bar (the render cuts it
        # there); it is settled only once its key is struck again (which ends it) or the piece ends.
        last_start: dict[tuple[int, int], float] = {}
        for note in notes:
            key = (note.channel, note.pitch)
            last_start[key] = max(last_start.get(key, 0.0), note.start)
        for bar in bars_of(notes, bar_beats, first_bar=done):
            if bar.end > end + 1e-9:
                break
            settled = all(n.start + n.duration < end - 1e-9 or last_start[(n.channel, n.pitch)] > n.start
                          for n in bar)
            if not (final or settled):
                break
            self._released.append(bar)
        self._cond.notify_all()

    def __iter__(self) -> Iterator[LiveBar]:
        sent = 0
        while True:
            with self._cond:
                while sent >= len(self._released) and not self._closed:
                    self._cond.wait()
                if self._error is not None:
                    raise self._error
                if sent >= len(self._released):
                    return
                bar = self._released[sent]
            sent += 1
            yield bar
