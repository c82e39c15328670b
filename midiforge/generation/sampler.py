"""Batched, grammar-constrained sampling over any :class:`~midiforge.generation.backends.Backend`.

Everything here is numpy on small [B, V] arrays, so one step costs one backend call plus a few
vectorised mask operations; the same code drives PyTorch and onnxruntime.

Constraints are masks, never composition: the model chooses every token; rules only forbid what
would be undecodable (grammar), out of key (``key_lock``), out of register, a second note at once in
a monophonic part, or a chord tone other than the chord the user asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from midiforge.generation.backends import Backend
from midiforge.generation.grammar import Grammar
from midiforge.music.chords import ALL_CHORDS

BASS_PROGRAM = 32  # the bass role's GM program in the token stream (midiforge.data.vocab.ROLE_PROGRAMS)
MELODY_PROGRAM = 73  # the melody role's


@dataclass
class SamplingConfig:
    """How to turn logits into tokens."""

    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 0.95  # 1.0 = off
    repetition_penalty: float = 1.0  # >1 discourages recently used pitches
    repetition_window: int = 32
    no_repeat_ngram_size: int = 0  # 0 = off; forbids repeating any n-gram of pitch tokens
    seed: int | None = None


@dataclass
class PartRules:
    """Per-program rules: pitch register and monophony."""

    low: int = 0
    high: int = 127
    monophonic: bool = False
    max_voices: int = 0  # notes at once (0 = any): a comping part voices chords, it does not cluster


@dataclass
class ChordPlan:
    """Asked chords on the grid: start (in grid steps from the first generated bar) and pitch classes."""

    starts: list[int]
    pitch_classes: list[frozenset[int] | None]  # None: this span is not constrained
    roots: list[int]
    chord_token_ids: list[int]  # one per bar: the Chord token forced after its Bar token (-1: model's choice)
    follow_programs: dict[int, str] = field(default_factory=dict)  # program -> "tones" | "root"
    #: Where a span asks nothing (pitch_classes None), the following parts play the chord the
    #: model itself wrote for the bar: the chord track, the bass and the bar's marker agree.
    follow_model: bool = False


@dataclass
class Request:
    """One sequence to generate."""

    prompt: list[int]
    n_bars: int
    steps_per_bar: int = 16
    key_pcs: frozenset[int] | None = None  # key lock
    parts: dict[int, PartRules] = field(default_factory=dict)  # program -> rules; others forbidden
    chords: ChordPlan | None = None
    timesig_id: int | None = None  # the only TimeSig token allowed (the asked meter)
    max_tokens: int = 4096
    #: False for a chunk of a longer piece: it starts with a Bar (never continues the context's
    #: last bar) and finishes on the Bar after ``n_bars`` bars (no EOS), so chunks meet at bar lines.
    may_end: bool = True
    real_chords: bool = False  # every bar names a chord (no ``Chord_N``)
    downbeat_start: bool = False  # the first bar has a note on beat 1 (no pickup, no silent start)
    bass_on_downbeat: bool = False  # every bar's bass plays on beat 1 (with a chord plan: the root)
    melody_rests_at_most: int | None = None  # a song's melody is silent for at most this many bars in a row


class Sampler:
    """Generates a batch of requests together, one backend step per token."""

    def __init__(self, backend: Backend, grammar: Grammar) -> None:
        self.backend = backend
        self.g = grammar

    # ---------------------------------------------------------------- masks built once per call
    def _static_masks(self, reqs: list[Request]) -> dict[str, np.ndarray]:
        g, B, V = self.g, len(reqs), self.g.vocab_size
        programs = g.programs  # sorted programs in the vocabulary
        prog_ok = np.zeros((B, V), bool)  # which Program tokens each request may use
        pitch_by_prog = np.zeros((B, max(len(programs), 1), V), bool)
        mono = np.zeros((B, max(len(programs), 1)), bool)
        voices = np.zeros((B, max(len(programs), 1)), np.int64)
        for b, r in enumerate(reqs):
            for j, prog in enumerate(programs):
                rules = r.parts.get(prog)
                if rules is None and r.parts:
                    continue
                rules = rules or PartRules(0, 127, False)
                if g.has_programs:
                    prog_ok[b, g.program_id[prog]] = True
                if prog < 0:  # the drum part plays drum sounds only
                    pitch_by_prog[b, j] = g.is_drum_pitch
                    continue
                ok = g.is_pitch & (g.value >= rules.low) & (g.value <= rules.high)
                if r.key_pcs is not None:
                    ok &= np.isin(g.value % 12, list(r.key_pcs)) | ~g.is_pitch
                pitch_by_prog[b, j] = ok
                mono[b, j] = rules.monophonic
                voices[b, j] = rules.max_voices
        chord_tok_ok = np.ones((B, V), bool)
        no_chord = g.is_chord & np.asarray([pcs is None for pcs in g.chord_pcs])
        for b, r in enumerate(reqs):
            if r.key_pcs is not None:
                chord_tok_ok[b] = g.chord_in_key_mask(r.key_pcs)
            if r.real_chords:
                chord_tok_ok[b] &= ~no_chord
        timesig_ok = np.ones((B, V), bool)
        for b, r in enumerate(reqs):
            if r.timesig_id is not None:
                timesig_ok[b] = ~g.is_timesig
                timesig_ok[b, r.timesig_id] = True
        prog_tok_ok = ~g.is_program | prog_ok  # Program tokens of parts not asked for are never allowed
        return {"pitch_by_prog": pitch_by_prog, "mono": mono, "voices": voices, "chord_ok": chord_tok_ok,
                "static_ok": timesig_ok & prog_tok_ok,  # meter and asked parts, fixed per request
                "program_ids": np.asarray([g.program_id[p] for p in programs], np.int64),
                "may_end": np.asarray([r.may_end for r in reqs], bool),
                "downbeat": np.asarray([r.downbeat_start for r in reqs], bool),
                "bass_down": np.asarray([r.bass_on_downbeat and BASS_PROGRAM in g.programs for r in reqs], bool),
                "melody_rest": np.asarray([-1 if r.melody_rests_at_most is None or MELODY_PROGRAM not in g.programs
                                           else r.melody_rests_at_most for r in reqs], np.int64)}

    # ---------------------------------------------------------------- the loop
    def generate(self, reqs: list[Request], cfg: SamplingConfig) -> list[list[int]]:
        """Return the generated tokens (prompt excluded) of each request."""
        g, B = self.g, len(reqs)
        rng = np.random.default_rng(cfg.seed)
        masks = self._static_masks(reqs)
        st = _State.fresh(B, len(g.programs))
        prompts = [list(r.prompt) for r in reqs]
        # Feed the common prompt length in one call; the rest of longer prompts is forced token by
        # token inside the loop, so every row's cache always holds exactly its own sequence.
        common = min(len(p) for p in prompts)
        state = self.backend.start(B)
        logits, state = self.backend.step(np.asarray([p[:common] for p in prompts], np.int64), state)
        pending = [p[common:] for p in prompts]
        for b, p in enumerate(prompts):
            st.replay(g, b, p[:common])
        st.bars_at_start = st.bar.copy()
        for b in range(B):  # bars still to be forced count as prompt bars
            st.bars_at_start[b] += sum(1 for tok in pending[b] if g.type_idx[tok] == g.T_BAR)
        out: list[list[int]] = [[] for _ in range(B)]
        # Each row stops at its own budget (prompt + max_tokens); every row's cache grows by one token
        # a step, so the loop never runs past the longest row's budget (the model's window).
        stop_at = np.asarray([len(p) + r.max_tokens for p, r in zip(pending, reqs, strict=True)]) - 1
        max_tokens = int(stop_at.max()) + 1
        n_bars = np.asarray([r.n_bars for r in reqs])
        max_pos = np.asarray([r.steps_per_bar for r in reqs])
        needs_history = cfg.repetition_penalty != 1.0 or cfg.no_repeat_ngram_size > 1
        recent = np.full((B, max(cfg.repetition_window, 1)), -1, np.int64) if needs_history else None
        for t in range(max_tokens):
            forced = np.asarray([bool(q) for q in pending])
            allowed = self._allowed(reqs, st, masks, n_bars, max_pos)
            tok = _sample(logits, allowed, cfg, rng, recent, g)
            for b in np.nonzero(forced)[0]:
                tok[b] = pending[b].pop(0)
            # Finishing: EOS, or a Bar that would start one bar too many.
            bars_done = st.bar - st.bars_at_start
            finishing = (tok == g.eos_id) | ((g.type_idx[tok] == g.T_BAR) & (bars_done >= n_bars))
            finishing |= t >= stop_at
            finishing &= ~forced
            for b in np.nonzero(~st.done & ~forced)[0]:
                if finishing[b]:
                    st.done[b] = True
                else:
                    out[b].append(int(tok[b]))
            if st.done.all():
                break
            tok = np.where(st.done, g.pad_id, tok)
            st.update(g, tok, masks["mono"])
            if recent is not None:
                recent[:, :-1] = recent[:, 1:]
                recent[:, -1] = np.where(g.is_pitch[tok] & ~forced, tok, -1)
            logits, state = self.backend.step(tok[:, None].astype(np.int64), state)
        return [g.strip_incomplete(seq) for seq in out]

    def _allowed(self, reqs, st: _State, masks, n_bars, max_pos) -> np.ndarray:
        g = self.g
        allowed = g.next_ok[st.last_type].copy()  # [B, V] grammar
        # Position strictly increases inside a bar and stays inside the bar.
        pos_ok = ~g.is_position | ((g.value[None, :] > st.pos[:, None]) & (g.value[None, :] < max_pos[:, None]))
        allowed &= pos_ok
        allowed &= masks["static_ok"]
        # Programs: only the parts asked for; a monophonic part once per position.
        if g.has_programs:
            allowed[:, masks["program_ids"]] &= ~st.mono_used
            allowed[:, masks["program_ids"]] &= (masks["voices"] == 0) | (st.voices < masks["voices"])
        # Pitches: register/key of the current part, then the asked chord.
        pitch_rows = np.nonzero(g.next_is_pitch[st.last_type])[0]
        if len(pitch_rows):
            prog_j = np.maximum(st.prog[pitch_rows], 0)
            allowed[pitch_rows] &= masks["pitch_by_prog"][pitch_rows, prog_j] | ~(g.is_pitch | g.is_drum_pitch)
            for b in pitch_rows:
                plan = reqs[b].chords
                if plan is None:
                    continue
                prog = g.programs[max(st.prog[b], 0)] if g.programs else -1
                mode = plan.follow_programs.get(prog)
                if mode is None:
                    continue
                t_grid = (st.bar[b] - st.bars_at_start[b] - 1) * max_pos[b] + max(st.pos[b], 0)
                k = max(int(np.searchsorted(plan.starts, t_grid, side="right")) - 1, 0)
                tones, root, span = plan.pitch_classes[k], plan.roots[k], (prog, k)
                if tones is None and plan.follow_model and st.bar_chord[b] >= 0:
                    tones = g.chord_pcs[st.bar_chord[b]]
                    root, span = ALL_CHORDS[g.value[st.bar_chord[b]]].root_pc, (prog, -int(st.bar[b]))
                if tones is None:
                    continue
                pcs = {root} if (mode == "root" and st.first_in_span(b, span)) else tones
                chord_mask = ~g.is_pitch | np.isin(g.value % 12, list(pcs))
                if (allowed[b] & chord_mask & g.is_pitch).any():
                    allowed[b] &= chord_mask
                    st.mark_span(b, span)
        # Chord token after each Bar: forced when asked, else any chord in key.
        chord_rows = np.nonzero(g.next_is_chord[st.last_type])[0]
        for b in chord_rows:
            plan = reqs[b].chords
            bar_i = int(st.bar[b] - st.bars_at_start[b]) - 1
            forced = -1 if plan is None else plan.chord_token_ids[min(max(bar_i, 0), len(plan.chord_token_ids) - 1)]
            if forced >= 0:
                allowed[b] &= ~g.is_chord
                allowed[b, forced] = True
            else:
                allowed[b] &= ~g.is_chord | masks["chord_ok"][b]
        # No EOS before the asked number of bars; the Bar that would exceed is allowed (it ends the piece).
        bars_done = st.bar - st.bars_at_start
        allowed[:, g.eos_id] &= (bars_done >= n_bars) & masks["may_end"]
        opening = (bars_done == 0) & ~masks["may_end"]  # a chunk opens with its first Bar
        allowed[opening] &= g.type_idx == g.T_BAR
        if masks["bass_down"].any():  # beat 1 of every bar: the bass before anything moves on
            j = g.programs.index(BASS_PROGRAM)
            waiting = masks["bass_down"] & (bars_done >= 1) & ((st.pos < 0) | ((st.pos == 0) & ~st.mono_used[:, j]))
            allowed[waiting] &= ~(g.is_position & ((g.value != 0) | (st.pos[waiting, None] == 0)))
            allowed[waiting] &= g.type_idx != g.T_BAR
            allowed[waiting, g.eos_id] = False
        if (masks["melody_rest"] >= 0).any():  # the melody comes back before its rest gets too long
            j = g.programs.index(MELODY_PROGRAM)
            silent = (masks["melody_rest"] >= 0) & (bars_done >= 1) & ~st.in_bar[:, j]
            must = silent & (st.rest_bars >= masks["melody_rest"])
            allowed[must] &= g.type_idx != g.T_BAR
            allowed[must, g.eos_id] = False
            now = must & ~st.mono_used[:, j]  # the next note written is the melody's
            melody_ok = allowed[now, g.program_id[MELODY_PROGRAM]]
            allowed[np.ix_(now, masks["program_ids"])] = False
            allowed[now, g.program_id[MELODY_PROGRAM]] = melody_ok
        downbeat = masks["downbeat"] & (bars_done == 1) & (st.pos < 0)  # first bar: a note on beat 1
        if downbeat.any():
            allowed[downbeat] &= ~(g.is_position & (g.value != 0)) & (g.type_idx != g.T_BAR)
            allowed[downbeat, g.eos_id] = False
        allowed[st.done] = False
        allowed[st.done, g.pad_id] = True
        # Safety: a row with nothing allowed may end.
        empty = ~allowed.any(axis=1)
        allowed[empty, g.eos_id] = True
        return allowed


@dataclass
class _State:
    last_type: np.ndarray
    bar: np.ndarray
    pos: np.ndarray
    prog: np.ndarray
    mono_used: np.ndarray
    done: np.ndarray
    spans_seen: list[set[tuple[int, int]]]
    bars_at_start: np.ndarray
    bar_chord: np.ndarray  # the Chord token of the current bar (-1 before it)
    in_bar: np.ndarray  # [B, programs] the part has played in the current bar
    voices: np.ndarray  # [B, programs] notes of the part at the current position
    rest_bars: np.ndarray  # [B] whole bars in a row the melody has been silent

    @classmethod
    def fresh(cls, B: int, n_prog: int) -> _State:
        z = np.zeros(B, np.int64)
        return cls(
            last_type=z.copy(),
            bar=z.copy(),
            pos=np.full(B, -1, np.int64),
            prog=np.full(B, -1, np.int64),
            mono_used=np.zeros((B, max(n_prog, 1)), bool),
            done=np.zeros(B, bool),
            spans_seen=[set() for _ in range(B)],
            bars_at_start=z.copy(),
            bar_chord=np.full(B, -1, np.int64),
            in_bar=np.zeros((B, max(n_prog, 1)), bool),
            voices=np.zeros((B, max(n_prog, 1)), np.int64),
            rest_bars=z.copy(),
        )

    def replay(self, g: Grammar, b: int, tokens: list[int]) -> None:
        for tok in tokens:
            self._apply(g, b, int(tok))

    def _apply(self, g: Grammar, b: int, tok: int) -> None:
        t = g.type_idx[tok]
        self.last_type[b] = t
        if g.is_chord[tok]:
            self.bar_chord[b] = tok
        if t == g.T_BAR:
            if self.bar[b] > 0 and MELODY_PROGRAM in g.programs:
                j = g.programs.index(MELODY_PROGRAM)
                self.rest_bars[b] = 0 if self.in_bar[b, j] else self.rest_bars[b] + 1
            self.bar[b] += 1
            self.pos[b] = -1
            self.mono_used[b] = False
            self.bar_chord[b] = -1
            self.in_bar[b] = False
            self.voices[b] = 0
        elif t == g.T_POSITION:
            self.pos[b] = g.value[tok]
            self.mono_used[b] = False
            self.voices[b] = 0
        elif t == g.T_PROGRAM:
            self.prog[b] = g.program_index[tok]
            self.in_bar[b, g.program_index[tok]] = True
            self.voices[b, g.program_index[tok]] += 1

    def update(self, g: Grammar, toks: np.ndarray, mono: np.ndarray) -> None:
        types = g.type_idx[toks]
        self.last_type = types
        is_bar, is_pos, is_prog = types == g.T_BAR, types == g.T_POSITION, types == g.T_PROGRAM
        if is_bar.any() and MELODY_PROGRAM in g.programs:
            j = g.programs.index(MELODY_PROGRAM)
            closing = is_bar & (self.bar > 0)
            self.rest_bars = np.where(closing, np.where(self.in_bar[:, j], 0, self.rest_bars + 1), self.rest_bars)
        self.in_bar[is_bar] = False
        self.bar += is_bar
        self.bar_chord = np.where(is_bar, -1, np.where(g.is_chord[toks], toks, self.bar_chord))
        self.pos = np.where(is_bar, -1, np.where(is_pos, g.value[toks], self.pos))
        self.mono_used[is_bar | is_pos] = False
        self.voices[is_bar | is_pos] = 0
        prog_j = g.program_index[toks]
        self.prog = np.where(is_prog, prog_j, self.prog)
        rows = np.nonzero(is_prog)[0]
        if len(rows):
            self.mono_used[rows, prog_j[rows]] |= mono[rows, prog_j[rows]]
            self.in_bar[rows, prog_j[rows]] = True
            self.voices[rows, prog_j[rows]] += 1

    def first_in_span(self, b: int, key: tuple[int, int]) -> bool:
        return key not in self.spans_seen[b]

    def mark_span(self, b: int, key: tuple[int, int]) -> None:
        self.spans_seen[b].add(key)


def _sample(
    logits: np.ndarray, allowed: np.ndarray, cfg: SamplingConfig, rng: np.random.Generator, recent, g: Grammar
) -> np.ndarray:
    x = np.where(allowed, logits, np.float32(-np.inf)).astype(np.float32, copy=False)
    if recent is not None and cfg.repetition_penalty != 1.0:
        rows, cols = np.nonzero(recent >= 0)
        toks = recent[rows, cols]
        vals = x[rows, toks]
        x[rows, toks] = np.where(vals > 0, vals / cfg.repetition_penalty, vals * cfg.repetition_penalty)
    if recent is not None and cfg.no_repeat_ngram_size > 1:
        _ban_repeated_ngrams(x, recent, cfg.no_repeat_ngram_size)
    if cfg.temperature <= 0:
        return np.argmax(x, axis=1)
    x /= cfg.temperature
    x -= x.max(axis=1, keepdims=True)
    p = np.exp(x)
    if (cfg.top_k and cfg.top_k < p.shape[1]) or cfg.top_p < 1.0:
        # One descending sort gives both cut-offs: keep probabilities >= the last kept value.
        desc = -np.sort(-p, axis=1)
        n_keep = np.full(p.shape[0], p.shape[1])
        if cfg.top_p < 1.0:
            cum = np.cumsum(desc, axis=1)
            n_keep = (cum - desc < cfg.top_p * cum[:, -1:]).sum(axis=1)
        if cfg.top_k:
            n_keep = np.minimum(n_keep, cfg.top_k)
        threshold = desc[np.arange(p.shape[0]), np.maximum(n_keep, 1) - 1][:, None]
        p = np.where(p >= threshold, p, 0.0)
    cum = np.cumsum(p, axis=1)
    u = rng.random(p.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), p.shape[1] - 1)


def _ban_repeated_ngrams(x: np.ndarray, recent: np.ndarray, n: int) -> None:
    """Forbid a pitch that would repeat an n-gram already in the recent pitch history."""
    for b in range(x.shape[0]):
        hist = [int(t) for t in recent[b] if t >= 0]
        if len(hist) < n:
            continue
        tail = tuple(hist[-(n - 1) :])
        for i in range(len(hist) - n + 1):
            if tuple(hist[i : i + n - 1]) == tail:
                x[b, hist[i + n - 1]] = -np.inf
