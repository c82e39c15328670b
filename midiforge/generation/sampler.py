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
from midiforge.settings import setting

BASS_PROGRAM = 32  # the bass role's GM program in the token stream (midiforge.data.vocab.ROLE_PROGRAMS)


@dataclass
class SamplingConfig:
    """How to turn logits into tokens (the help of each field is also its command-line option's)."""

    temperature: float = setting(1.0, "Sampling temperature.")
    # Dynamics are sampled apart from the notes: a cooler pitch choice need not flatten the dynamics.
    velocity_temperature: float = setting(1.0, "Temperature of the velocities alone (dynamics): above 1 widens "
                                               "them, below 1 evens them out.")
    top_k: int = setting(0, "Top-k sampling (0 = off).")
    top_p: float = setting(0.95, "Nucleus sampling (1.0 = off).")
    repetition_penalty: float = setting(1.0, ">1 discourages repeated pitches.")  # within repetition_window
    repetition_window: int = 32
    no_repeat_ngram_size: int = 0  # 0 = off; forbids repeating any n-gram of pitch tokens
    seed: int | None = setting(None, "Seed for reproducible output.")


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
    #: Per bar, the velocities the generated notes may take (lowest, highest), or None: a song's
    #: phrase dynamics, or a part that plays at another part's loudness (the drums under the band)
    #: without being told its notes.
    velocity_ranges: list[tuple[int, int] | None] = field(default_factory=list)


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
    #: The first bar's first note starts at this grid step (a pickup of the bar's last beats);
    #: None: ``downbeat_start`` decides (step 0, or no rule)
    first_onset: int | None = None
    bass_on_downbeat: bool = False  # every bar's bass plays on beat 1 (with a chord plan: the root)
    #: GM program -> bars in a row the part may rest (a song's melody and comping never drop out)
    rests_at_most: dict[int, int] = field(default_factory=dict)


@dataclass
class Generated:
    """One request's output: its tokens (prompt excluded) and whether its token budget stopped it.

    A row stopped by its budget (the model's window) may end inside a bar, however few tokens
    short of the budget its output is (a trailing unfinished note is stripped); a row that wrote
    its bars, or its EOS, is whole.
    """

    tokens: list[int]
    cut: bool = False


class Sampler:
    """Generates a batch of requests together, one backend step per token."""

    def __init__(self, backend: Backend, grammar: Grammar) -> None:
        self.backend = backend
        self.g = grammar
        self._bar_chords = _BarChordMasks.build(grammar)

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
                "first_onset": np.asarray([r.first_onset if r.first_onset is not None else 0 if r.downbeat_start
                                           else -1 for r in reqs], np.int64),
                "bass_down": np.asarray([r.bass_on_downbeat and BASS_PROGRAM in g.programs for r in reqs], bool),
                "rest_limit": np.asarray([[r.rests_at_most.get(p, -1) for p in programs] or [-1] for r in reqs],
                                         np.int64)}

    # ---------------------------------------------------------------- the loop
    def generate(self, reqs: list[Request], cfg: SamplingConfig) -> list[list[int]]:
        """Return the generated tokens (prompt excluded) of each request."""
        return [row.tokens for row in self.generate_rows(reqs, cfg)]

    def generate_rows(self, reqs: list[Request], cfg: SamplingConfig) -> list[Generated]:
        """Generate every request; each row tells whether its budget cut it (see :class:`Generated`)."""
        g, B = self.g, len(reqs)
        rng = np.random.default_rng(cfg.seed)
        masks = self._static_masks(reqs)
        plans = _PlanTables.build(g, reqs)
        st = _State.fresh(B, len(g.programs), plans.n_spans)
        prompts = [list(r.prompt) for r in reqs]
        # Feed the common prompt length in one call; the rest of longer prompts is forced token by
        # token inside the loop, so every row's cache always holds exactly its own sequence.
        # A backend that feeds ragged prompts at once (the fused ONNX decoder) gets them whole.
        ragged = getattr(self.backend, "ragged_prefill", False)
        common = max(len(p) for p in prompts) if ragged else min(len(p) for p in prompts)
        state = self.backend.start(B)
        if common > min(len(p) for p in prompts):
            logits, state = self.backend.prefill(prompts, state)
        else:
            logits, state = self.backend.step(np.asarray([p[:common] for p in prompts], np.int64), state)
        pending = _Pending([p[common:] for p in prompts], g.pad_id)
        for b, p in enumerate(prompts):
            st.replay(g, b, p[:common])
        st.bars_at_start = st.bar + pending.count(g.type_idx == g.T_BAR)  # bars still to force are prompt bars
        # Each row stops at its own budget (prompt + max_tokens); every row's cache grows by one token
        # a step, so the loop never runs past the longest row's budget (the model's window).
        stop_at = pending.length + np.asarray([r.max_tokens for r in reqs]) - 1
        max_tokens = int(stop_at.max()) + 1
        out = np.zeros((B, max_tokens), np.int64)  # generated tokens, row b's first n_out[b]
        n_out = np.zeros(B, np.int64)
        cut = np.zeros(B, bool)  # rows stopped by their budget, not by finishing their bars
        n_bars = np.asarray([r.n_bars for r in reqs])
        max_pos = np.asarray([r.steps_per_bar for r in reqs])
        tables = self._step_tables(masks, max_pos)
        needs_history = cfg.repetition_penalty != 1.0 or cfg.no_repeat_ngram_size > 1
        recent = np.full((B, max(cfg.repetition_window, 1)), -1, np.int64) if needs_history else None
        rows = np.arange(B)
        allowed = self._allowed(st, masks, tables, plans, n_bars, max_pos)
        for t in range(max_tokens):
            tok = _sample(logits, allowed, cfg, rng, recent, g)
            forced = pending.force(tok)
            # Finishing: EOS, or a Bar that would start one bar too many.
            bars_done = st.bar - st.bars_at_start
            finishing = (tok == g.eos_id) | ((g.type_idx[tok] == g.T_BAR) & (bars_done >= n_bars))
            out_of_budget = (t >= stop_at) & ~finishing
            finishing |= out_of_budget
            live = ~st.done & ~forced
            cut |= live & out_of_budget
            keep = live & ~finishing
            out[rows[keep], n_out[keep]] = tok[keep]
            n_out += keep
            st.done |= live & finishing
            if st.done.all():
                break
            tok = np.where(st.done, g.pad_id, tok)
            if ragged:  # rows grow on their own there: finished ones stop
                self.backend.hold(state, st.done)
            # One step after the other: a decoder thread that overlapped the next step's masks
            # gained nothing, since it needs the GIL to start the step while the masks hold it,
            # and its two handoffs cost 0.4 ms a step (benchmarks/bench_sampler.py).
            logits, state = self.backend.step(tok[:, None].astype(np.int64), state)
            st.update(g, tok, masks["mono"])
            if recent is not None:
                recent[:, :-1] = recent[:, 1:]
                recent[:, -1] = np.where(g.is_pitch[tok] & ~forced, tok, -1)
            allowed = self._allowed(st, masks, tables, plans, n_bars, max_pos)
        return [Generated(g.strip_incomplete(out[b, : n_out[b]].tolist()), bool(cut[b])) for b in range(B)]

    def _step_tables(self, masks, max_pos: np.ndarray) -> dict[str, np.ndarray]:
        """Per-row masks precomputed for every grammar state, so a step only gathers rows.

        ``base[b, type]``: what the grammar allows after a token of ``type``, and the request's
        fixed rules (meter, parts); ``pos[b, pos + 1]``: Position tokens strictly after ``pos``
        and inside row b's bar (non-Position tokens always pass).
        """
        g = self.g
        base = g.next_ok[None, :, :] & masks["static_ok"][:, None, :]
        last = np.arange(-1, int(max_pos.max()) + 1)[None, :, None]  # the current position, -1 = none yet
        pos = ~g.is_position | ((g.value > last) & (g.value < max_pos[:, None, None]))
        return {"base": base, "pos": pos}

    def _allowed(self, st: _State, masks, tables, plans: _PlanTables, n_bars, max_pos) -> np.ndarray:
        g, rows = self.g, np.arange(len(st.done))
        # Grammar and fixed rules; Position strictly increases inside a bar and stays inside it.
        pos_row = np.minimum(st.pos + 1, tables["pos"].shape[1] - 1)  # pos >= -1
        allowed = tables["base"][rows, st.last_type]
        allowed &= tables["pos"][rows, pos_row]
        # Programs: only the parts asked for; a monophonic part once per position.
        if g.has_programs:
            allowed[:, masks["program_ids"]] &= ~st.mono_used
            allowed[:, masks["program_ids"]] &= (masks["voices"] == 0) | (st.voices < masks["voices"])
        # Pitches: register/key of the current part, then the asked chord.
        pitch_rows = np.nonzero(g.next_is_pitch[st.last_type])[0]
        if len(pitch_rows):
            prog_j = np.maximum(st.prog[pitch_rows], 0)
            allowed[pitch_rows] &= masks["pitch_by_prog"][pitch_rows, prog_j] | ~(g.is_pitch | g.is_drum_pitch)
            if plans.any:
                self._follow_chords(allowed, st, plans, pitch_rows, prog_j, max_pos)
        # Chord token after each Bar: forced when asked, else any chord in key.
        chord_rows = np.nonzero(g.next_is_chord[st.last_type])[0]
        if len(chord_rows):
            bar_i = st.bar[chord_rows] - st.bars_at_start[chord_rows] - 1
            bar_i = np.minimum(np.maximum(bar_i, 0), plans.bar_chord.shape[1] - 1)
            forced = plans.bar_chord[chord_rows, bar_i]
            free = forced < 0
            allowed[chord_rows] &= ~g.is_chord | (masks["chord_ok"][chord_rows] & free[:, None])
            allowed[chord_rows[~free], forced[~free]] = True
        # Velocities: the bar's asked range, where the plan asks one.
        if plans.bar_velocity is not None:
            bar_v = np.clip(st.bar - st.bars_at_start - 1, 0, plans.bar_velocity.shape[1] - 1)
            allowed &= plans.bar_velocity[np.arange(len(bar_v)), bar_v]
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
        limit = masks["rest_limit"]
        if (limit >= 0).any():  # a part comes back before its rest gets too long
            owed = (limit >= 0) & (bars_done >= 1)[:, None] & ~st.in_bar & (st.rest_bars >= limit)  # [B, P]
            must = owed.any(axis=1)
            allowed[must] &= g.type_idx != g.T_BAR
            allowed[must, g.eos_id] = False
            now = owed & ~st.mono_used  # the next note written is an owed part's
            rows = now.any(axis=1)
            if rows.any():
                ids = masks["program_ids"]
                allowed[np.ix_(rows, ids)] &= now[rows]
        first = masks["first_onset"]
        opens = (first >= 0) & (bars_done == 1) & (st.pos < 0)  # first bar: its first note where asked
        if opens.any():
            at = first[opens, None]
            allowed[opens] &= ~(g.is_position & (g.value != at)) & (g.type_idx != g.T_BAR)
            allowed[opens, g.eos_id] = False
        allowed[st.done] = False
        allowed[st.done, g.pad_id] = True
        # Safety: a row with nothing allowed may end.
        empty = ~allowed.any(axis=1)
        allowed[empty, g.eos_id] = True
        return allowed

    def _follow_chords(self, allowed, st: _State, plans: _PlanTables, rows, prog_j, max_pos) -> None:
        """Pitches of parts that follow the asked chords: that span's chord tones (or its root for
        the first note of a ``root`` part in the span), unless that would leave no pitch at all."""
        g = self.g
        mode = plans.mode[rows, prog_j]
        rows, prog_j = rows[mode > 0], prog_j[mode > 0]
        if not len(rows):
            return
        t_grid = (st.bar[rows] - st.bars_at_start[rows] - 1) * max_pos[rows] + np.maximum(st.pos[rows], 0)
        span = np.maximum((plans.starts[rows] <= t_grid[:, None]).sum(axis=1) - 1, 0)
        active = plans.active[rows, span]
        # Where the plan asks nothing, ``follow_model`` plans follow the chord the model wrote for the bar.
        chord = st.bar_chord[rows]
        model = ~active & plans.follow_model[rows] & (chord >= 0)
        model &= self._bar_chords.valid[np.maximum(chord, 0)]
        keep = active | model
        rows, prog_j, span, chord, model = rows[keep], prog_j[keep], span[keep], chord[keep], model[keep]
        seen = np.where(model, st.model_span_bar[rows, prog_j] == st.bar[rows], st.span_seen[rows, prog_j, span])
        use_root = (plans.mode[rows, prog_j] == ROOT) & ~seen
        chord = np.maximum(chord, 0)
        tones = np.where(model[:, None], self._bar_chords.tones[chord], plans.tone_mask[rows, span])
        roots = np.where(model[:, None], self._bar_chords.roots[chord], plans.root_mask[rows, span])
        chord_mask = np.where(use_root[:, None], roots, tones)
        fits = (allowed[rows] & chord_mask & g.is_pitch).any(axis=1)
        rows, prog_j, span, model = rows[fits], prog_j[fits], span[fits], model[fits]
        allowed[rows] &= chord_mask[fits]
        st.span_seen[rows[~model], prog_j[~model], span[~model]] = True
        st.model_span_bar[rows[model], prog_j[model]] = st.bar[rows[model]]


#: ``ChordPlan.follow_programs`` modes as numbers (0: the part does not follow the chords)
TONES, ROOT = 1, 2


@dataclass
class _PlanTables:
    """Every request's :class:`ChordPlan` as padded arrays, so a step needs no per-row Python."""

    any: bool  # some request follows chords
    starts: np.ndarray  # [B, K] span starts in grid steps (padded with a huge value)
    active: np.ndarray  # [B, K] the span is constrained (its pitch classes are not None)
    tone_mask: np.ndarray  # [B, K, V] pitches of the span's chord tones (non-pitches pass)
    root_mask: np.ndarray  # [B, K, V] pitches of the span's root (non-pitches pass)
    mode: np.ndarray  # [B, n_programs] 0, TONES or ROOT
    bar_chord: np.ndarray  # [B, bars] the Chord token forced after each Bar (-1: model's choice)
    follow_model: np.ndarray  # [B] ChordPlan.follow_model
    bar_velocity: np.ndarray | None  # [B, bars, V] allowed in each bar (False: a velocity out of range); None: no ranges

    @property
    def n_spans(self) -> int:
        return self.starts.shape[1]

    @classmethod
    def build(cls, g: Grammar, reqs: list[Request]) -> _PlanTables:
        B, V = len(reqs), g.vocab_size
        plans = [r.chords for r in reqs]
        K = max([len(p.starts) for p in plans if p is not None] + [1])
        n_bars = max([len(p.chord_token_ids) for p in plans if p is not None] + [1])
        starts = np.full((B, K), np.iinfo(np.int64).max, np.int64)
        starts[:, 0] = 0
        active = np.zeros((B, K), bool)
        tone_mask = np.ones((B, K, V), bool)
        root_mask = np.ones((B, K, V), bool)
        mode = np.zeros((B, max(len(g.programs), 1)), np.int64)
        bar_chord = np.full((B, n_bars), -1, np.int64)
        pcs_of = g.value % 12
        for b, plan in enumerate(plans):
            if plan is None:
                continue
            starts[b, : len(plan.starts)] = plan.starts
            for k, pcs in enumerate(plan.pitch_classes):
                if pcs is not None:
                    active[b, k] = True
                    tone_mask[b, k] = ~g.is_pitch | np.isin(pcs_of, list(pcs))
                    root_mask[b, k] = ~g.is_pitch | (pcs_of == plan.roots[k])
            for j, prog in enumerate(g.programs or [-1]):
                follow = plan.follow_programs.get(prog)
                mode[b, j] = 0 if follow is None else ROOT if follow == "root" else TONES
            ids = list(plan.chord_token_ids) or [-1]
            bar_chord[b, : len(ids)] = ids
            bar_chord[b, len(ids) :] = ids[-1]  # past the plan: its last bar's chord
        follow_model = np.asarray([p is not None and p.follow_model for p in plans], bool)
        return cls(bool(mode.any()), starts, active, tone_mask, root_mask, mode, bar_chord, follow_model,
                   _velocity_masks(g, plans, n_bars))


def _velocity_masks(g: Grammar, plans: list[ChordPlan | None], n_bars: int) -> np.ndarray | None:
    """``[B, bars, V]``: every token allowed, but velocities outside each bar's asked range (a range
    that holds no level of the codec keeps the level nearest its middle); None when no plan asks."""
    asked = [p.velocity_ranges if p is not None else [] for p in plans]
    if not any(asked):
        return None
    masks = np.ones((len(plans), max([n_bars] + [len(a) for a in asked]), g.vocab_size), bool)
    levels = g.velocity_value
    codec_levels = levels[g.is_velocity]
    for b, ranges in enumerate(asked):
        for k, bounds in enumerate(ranges):
            if bounds is None:
                continue
            lo, hi = bounds
            inside = g.is_velocity & (levels >= lo) & (levels <= hi)
            if not inside.any():
                nearest = codec_levels[np.abs(codec_levels - (lo + hi) / 2).argmin()]
                inside = g.is_velocity & (levels == nearest)
            masks[b, k] = ~g.is_velocity | inside
        if ranges:
            masks[b, len(ranges):] = masks[b, len(ranges) - 1]  # past the plan: its last bar's range
    return masks


@dataclass
class _BarChordMasks:
    """For every Chord token (indexed by token id): its tones and its root as pitch masks."""

    valid: np.ndarray  # [V] a Chord token with pitch classes (not ``N``)
    tones: np.ndarray  # [V, V] pitches of its tones (non-pitches pass)
    roots: np.ndarray  # [V, V] pitches of its root (non-pitches pass)

    @classmethod
    def build(cls, g: Grammar) -> _BarChordMasks:
        V = g.vocab_size
        valid = np.zeros(V, bool)
        tones = np.ones((V, V), bool)
        roots = np.ones((V, V), bool)
        pcs_of = g.value % 12
        for tok in np.nonzero(g.is_chord)[0]:
            pcs = g.chord_pcs[tok]
            if pcs is None:
                continue
            valid[tok] = True
            tones[tok] = ~g.is_pitch | np.isin(pcs_of, list(pcs))
            roots[tok] = ~g.is_pitch | (pcs_of == ALL_CHORDS[g.value[tok]].root_pc)
        return cls(valid, tones, roots)


class _Pending:
    """The rest of longer prompts, forced token by token, as one padded array."""

    def __init__(self, rests: list[list[int]], pad: int) -> None:
        self.longest = max(len(r) for r in rests)
        self.tokens = np.full((len(rests), max(self.longest, 1)), pad, np.int64)
        for b, rest in enumerate(rests):
            self.tokens[b, : len(rest)] = rest
        self.length = np.asarray([len(r) for r in rests], np.int64)
        self.next = np.zeros(len(rests), np.int64)

    def count(self, which: np.ndarray) -> np.ndarray:
        """Per row, how many of its pending tokens are ``which`` (a [V] bool table)."""
        return (which[self.tokens] & (np.arange(self.tokens.shape[1]) < self.length[:, None])).sum(axis=1)

    def force(self, tok: np.ndarray) -> np.ndarray:
        """Overwrite ``tok`` with each row's next pending token; return which rows were forced."""
        forced = self.next < self.length
        if forced.any():
            rows = np.nonzero(forced)[0]
            tok[rows] = self.tokens[rows, self.next[rows]]
            self.next += forced
        return forced


@dataclass
class _State:
    last_type: np.ndarray
    bar: np.ndarray
    pos: np.ndarray
    prog: np.ndarray
    mono_used: np.ndarray
    done: np.ndarray
    span_seen: np.ndarray  # [B, n_programs, spans]: a note of that part was placed in that chord span
    model_span_bar: np.ndarray  # [B, n_programs]: the bar in which it followed the model's own chord last
    bars_at_start: np.ndarray
    bar_chord: np.ndarray  # the Chord token of the current bar (-1 before it)
    in_bar: np.ndarray  # [B, programs] the part has played in the current bar
    voices: np.ndarray  # [B, programs] notes of the part at the current position
    rest_bars: np.ndarray  # [B, programs] whole bars in a row each part has been silent

    @classmethod
    def fresh(cls, B: int, n_prog: int, n_spans: int = 1) -> _State:
        z = np.zeros(B, np.int64)
        return cls(
            last_type=z.copy(),
            bar=z.copy(),
            pos=np.full(B, -1, np.int64),
            prog=np.full(B, -1, np.int64),
            mono_used=np.zeros((B, max(n_prog, 1)), bool),
            done=np.zeros(B, bool),
            span_seen=np.zeros((B, max(n_prog, 1), n_spans), bool),
            model_span_bar=np.full((B, max(n_prog, 1)), -1, np.int64),
            bars_at_start=z.copy(),
            bar_chord=np.full(B, -1, np.int64),
            in_bar=np.zeros((B, max(n_prog, 1)), bool),
            voices=np.zeros((B, max(n_prog, 1)), np.int64),
            rest_bars=np.zeros((B, max(n_prog, 1)), np.int64),
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
            if self.bar[b] > 0:
                self.rest_bars[b] = np.where(self.in_bar[b], 0, self.rest_bars[b] + 1)
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
        if is_bar.any():
            closing = (is_bar & (self.bar > 0))[:, None]
            self.rest_bars = np.where(closing, np.where(self.in_bar, 0, self.rest_bars + 1), self.rest_bars)
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


def _sample(
    logits: np.ndarray, allowed: np.ndarray, cfg: SamplingConfig, rng: np.random.Generator, recent, g: Grammar
) -> np.ndarray:
    """One token per row: masked logits, penalties, temperature (the velocities' own), top-k, top-p
    (not on velocities), one draw."""
    x = np.where(allowed, logits, np.float32(-np.inf)).astype(np.float32, copy=False)
    if recent is not None and cfg.repetition_penalty != 1.0:
        rows, cols = np.nonzero(recent >= 0)
        toks = recent[rows, cols]
        vals = x[rows, toks]
        x[rows, toks] = np.where(vals > 0, vals / cfg.repetition_penalty, vals * cfg.repetition_penalty)
    if recent is not None and cfg.no_repeat_ngram_size > 1:
        _ban_repeated_ngrams(x, recent, cfg.no_repeat_ngram_size)
    if cfg.temperature <= 0:
        return x.argmax(axis=1)
    if cfg.temperature != 1.0:
        x /= cfg.temperature
    if cfg.velocity_temperature != cfg.temperature:  # the velocities at their own temperature
        x[:, g.is_velocity] *= cfg.temperature / cfg.velocity_temperature
    x -= x.max(axis=1, keepdims=True)
    p = np.exp(x, out=x)
    B, V = p.shape
    if (cfg.top_k and cfg.top_k < V) or cfg.top_p < 1.0:
        # One descending sort gives both cut-offs: keep probabilities >= the last kept value.
        desc = p.copy()
        desc.sort(axis=1)
        desc = desc[:, ::-1]
        if cfg.top_p < 1.0:
            cum = desc.cumsum(axis=1)
            n_keep = ((cum - desc) < cfg.top_p * cum[:, -1:]).sum(axis=1)
            # The nucleus leaves a velocity's tail alone: it is dynamics, not a wrong note, and
            # cutting it leaves a track two or three levels loud (measured: 4 levels, not 7).
            n_keep = np.where(allowed[:, g.is_velocity].any(axis=1), V, n_keep)
        else:
            n_keep = np.full(B, V)
        if cfg.top_k:
            n_keep = np.minimum(n_keep, cfg.top_k)
        threshold = desc[np.arange(B), np.maximum(n_keep, 1) - 1]
        p[p < threshold[:, None]] = 0.0
    cum = p.cumsum(axis=1)
    u = rng.random(B) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), V - 1)


def _ban_repeated_ngrams(x: np.ndarray, recent: np.ndarray, n: int) -> None:
    """Forbid a pitch that would repeat an n-gram already in the recent pitch history."""
    B, W = recent.shape
    if W < n:
        return
    # Each row's pitches (entries >= 0) in order, right-aligned: the last n-1 are the tail to match.
    valid = recent >= 0
    order = np.argsort(valid, axis=1, kind="stable")
    hist = np.take_along_axis(recent, order, axis=1)
    count = valid.sum(axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(hist, n, axis=1)  # [B, W - n + 1, n]
    tail = hist[:, W - n + 1 :]
    starts = np.arange(W - n + 1)
    match = (windows[:, :, :-1] == tail[:, None, :]).all(axis=2) & (starts[None, :] >= (W - count)[:, None])
    rows, which = np.nonzero(match)
    x[rows, windows[rows, which, -1]] = -np.inf
