"""The engine: samples in (in chunks of any size), events and the session summary out.

Stages, each in its own module: ``resample`` (uniform grid) -> ``velocity`` (stillness and
vertical speed) -> ``reps`` (moves, reps, phase boundaries) -> ``orientation`` (mount, tilt)
-> ``metrics`` (legs, asymmetry, flags). A set is closed once no rep-sized motion has been
seen for ``set_gap_s``; every decision uses a fixed look-ahead on the data's own time grid,
so feeding a recording whole or in pieces gives the same reps.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from itertools import pairwise
from statistics import median
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensor.engine.kernels import SCAN_DONE, SCAN_NO_ROOM
from sensor.engine.lockout import LockoutDetector, detector_of
from sensor.engine.metrics import asymmetry, flag_reps, leg_for_set, per_leg
from sensor.engine.options import AnalysisOptions, EngineParams
from sensor.engine.orientation import angles_deg, tilt_per_rep, unit, window_sums
from sensor.engine.reps import (
    Move,
    RepCandidate,
    comes_back,
    comes_back_evenly,
    cycle_detrended,
    find_moves,
    moving,
    pair_moves,
    phase_indices,
    rep_cycle,
    rep_sized,
    steady,
    trim_ran_on,
    unreturned,
)
from sensor.engine.resample import GridResampler
from sensor.engine.velocity import (
    VelocityTracker,
    rest_to_rest_speed,
    rest_to_rest_speed_tilted,
)
from sensor.events import Event, RepDone, SetDone
from sensor.samples import FloatArray, Samples
from sensor.summary import Leg, Mount, Rep, SessionSummary, SetResult

_MIN_MOVE_M = 0.03  # runs smaller than this are noise (walking bob, tremor)
_PAIRABLE_M = 0.05  # moves at least this big take part in pairing
_HIP_ROTATION_DEG = 15.0  # a hip mount rotates with the pelvis; a bar barely does


@dataclass(frozen=True)
class Trace:
    """The engine's signals on its uniform grid, for plots: seconds, m/s, m, degrees."""

    t_s: FloatArray
    speed_mps: FloatArray
    position_m: FloatArray
    tilt_deg: FloatArray | None = None


class Engine:
    """Streaming analysis of one session. Not thread-safe; one per sensor."""

    def __init__(
        self,
        options: AnalysisOptions | None = None,
        params: EngineParams | None = None,
        *,
        live: bool = True,
    ) -> None:
        """``live`` adds the low-latency ``LockoutReached`` events (not needed offline)."""
        self.options = options or AnalysisOptions()
        self.live = live
        self.p = params or EngineParams()
        # the de-drifted speed's pairing: its phases need not be steady (``_pairing``)
        self._p_unsteady = replace(self.p, max_back_fraction=math.inf)
        self._resampler = GridResampler(self.p.grid_rate_hz, self.p.max_gap_s)
        self._tracker: VelocityTracker | None = None
        self._with_gyro: bool | None = None
        self._sets: list[SetResult] = []
        self._region_start = 0
        self._ups: list[int] = []  # the rep-sized rises of the regions emitted (grid samples)
        # (n_final, region start, final) of the last _close_sets call that changed nothing
        self._idle_state: tuple[int, int, bool] | None = None
        self._idle_n = -1  # its n_final when it was not final: feed skips the call until then
        self._mount: Mount | None = self.options.mount
        self._leg_anchor: tuple[int, Leg] | None = None  # (set index, leg) set live
        self._rotations: list[float] = []
        self._n_in = 0
        self._t_first = math.nan
        self._t_end: FloatArray = np.full(1, math.nan)  # the last block's times
        self._digest_t = hashlib.sha256()  # two streams, so chunking cannot change the id
        self._digest_a = hashlib.sha256()
        self._finished = False
        self._lockout: LockoutDetector | None = None  # live: detector_of(self), once looked up
        self._lockout_args: tuple[FloatArray, ...] | None = None  # its kernel's, once started

    @property
    def _t(self) -> VelocityTracker:
        if self._tracker is None:
            raise RuntimeError("the engine has seen no samples yet")
        return self._tracker

    # -- input ---------------------------------------------------------------------------

    def feed(self, samples: Samples) -> list[Event]:
        """Add a block of samples (time after the previous block's). Returns new events."""
        t_s = samples.t_s
        n = t_s.shape[0]
        tr = self._tracker
        if tr is None or self._finished or (samples.gyro_dps is not None) is not self._with_gyro:
            if n == 0:
                return []
            tr = self._first_block(samples)
        elif n == 0:
            return []
        self._n_in += n
        self._t_end = t_s  # (its last one is the session's end so far)
        try:  # a contiguous array is its own buffer (numpy's stubs do not say it is one)
            self._digest_t.update(t_s)  # type: ignore[arg-type]
            self._digest_a.update(samples.acc_g)  # type: ignore[arg-type]
        except ValueError:  # "ndarray is not C-contiguous": hash the C-order copy
            self._rehash(t_s, samples.acc_g)
        # resampled straight into the tracker's raw buffer (grown when they do not fit); live,
        # the lockout detector scans the new rows in the same compiled call once it has
        # started (its first block, and a block too long for its buffers, go through
        # push_values)
        lockout = self._lockout_args
        rows, gap, at = tr.grid_buffers()
        k_from, n_grid, i, what = self._resampler.push_into(samples, rows, gap, at, lockout)
        if n_grid < 0:
            rows, gap, at = tr.grid_buffers(-n_grid)
            k_from, n_grid, i, what = self._resampler.push_into(samples, rows, gap, at, lockout)
        if not n_grid:
            return []
        tr.grid_written(k_from, n_grid)
        events = self._close_sets(final=False) if tr.speed.n != self._idle_n else []
        if not self.live:
            return events
        det = self._lockout
        if events and det is not None:  # sets closed: the detector's next lockout is a new set
            det.sets_closed(len(self._sets))
        if det is None or lockout is None or what == SCAN_NO_ROOM:
            det = det or self._detector()
            events += det.push_values(k_from, rows[at : at + n_grid],
                                      sets_closed=len(self._sets), leg_of_set=self._leg)
            self._lockout_args = det.kernel_args()  # (new after its first block, or growing)
        elif what != SCAN_DONE:  # a lockout (the detector's events ran in the kernel)
            events += det.scanned(k_from, n_grid, i, what, leg_of_set=self._leg)
        return events

    def _first_block(self, samples: Samples) -> VelocityTracker:
        """The checks ``feed`` leaves out once a block has come: the first block (not empty)
        makes the tracker and starts the clock; every block must have the gyro or none; no
        block after ``finish``."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if self._tracker is not None:
            raise ValueError("every block must have the gyro, or none")
        self._with_gyro = samples.has_gyro
        self._t_first = float(samples.t_s[0])
        self._tracker = VelocityTracker(self.p, self._with_gyro)
        return self._tracker

    def _rehash(self, t_s: FloatArray, acc_g: FloatArray) -> None:
        """``feed``'s digests when a block's array is strided: the times went in unless they
        were the strided one."""
        if not t_s.flags.c_contiguous:
            self._digest_t.update(np.ascontiguousarray(t_s).data)
        self._digest_a.update(np.ascontiguousarray(acc_g).data)

    def _detector(self) -> LockoutDetector:
        self._lockout = detector_of(self)
        return self._lockout

    def finish(self) -> list[Event]:
        """End of the stream: decide everything still open."""
        if self._finished or self._tracker is None:
            self._finished = True
            return []
        block = self._resampler.flush()
        if block is not None:
            self._tracker.push(block.k, block.values, block.gap)
        self._tracker.finish()
        events = self._close_sets(final=True)
        self._finished = True
        return events

    def set_leg(self, leg: Leg) -> None:
        """Live: the set in progress (or the next one) is on ``leg``; later sets alternate."""
        self._leg_anchor = (len(self._sets), leg)

    def end_set(self) -> list[Event]:
        """Live: the user ended the set; close what has been seen so far."""
        if self._tracker is None:
            return []
        n = self._tracker.n_final
        moves, _ = self._moves(n, final=True)
        if not moves:
            return []
        end = moves[-1].i1
        events = self._emit_region(self._region_start, end, moves)
        self._region_start = end
        self._idle_n = -1
        return events

    # -- sets ----------------------------------------------------------------------------

    def _moves(self, n: int, final: bool) -> tuple[list[Move], int]:
        """The final moves from the region's start to ``n``, and where the first move that
        is not final yet starts (``n`` if none)."""
        rs = self._region_start
        moves = self._moves_in(self._t.speed.data[rs:n], rs)
        merge = round(self.p.merge_gap_s * self.p.grid_rate_hz)
        pending = n
        if not final:
            # a move still running at the edge (or close enough to merge) is not final
            while moves and moves[-1].i1 + merge >= n:
                pending = moves.pop().i0
        return moves, pending

    def _close_sets(self, final: bool) -> list[Event]:
        tr = self._t
        n = tr.n_final
        state = (n, self._region_start, final)
        if state == self._idle_state:
            return []  # nothing new since a call that found nothing to do
        events = self._close_sets_at(n, final)
        self._idle_state = state if not events and self._region_start == state[1] else None
        self._idle_n = n if self._idle_state is not None and not final else -1
        return events

    def _close_sets_at(self, n: int, final: bool) -> list[Event]:
        tr = self._t
        gap = round(self.p.set_gap_s * self.p.grid_rate_hz)
        events: list[Event] = []
        moves, pending = self._moves(n, final)
        big = [m for m in moves if abs(m.disp_m) >= 0.7 * self.p.min_range_m]
        # the starts of the rep-sized rises of the regions emitted and among big[: k + 1]
        ups = list(self._ups)
        first = 0  # moves[first:] start at or after the region's start
        region_big: list[Move] = []  # big[: k + 1] from the region's start
        for k, m in enumerate(big):
            region_big.append(m)
            if m.sign > 0 and m.disp_m >= self.p.min_range_m:
                ups.append(m.i0)
            after = big[k + 1] if k + 1 < len(big) else None
            # (a move still running may be a big one: the set is not over before it is)
            nxt = after.i0 if after is not None else (math.inf if final else pending)
            if nxt - m.i1 < gap:
                continue
            wait = gap + self._way_back_n(region_big, after)
            if nxt - m.i1 >= wait and nxt - m.i1 >= self._cycles_n(ups):
                while first < len(moves) and moves[first].i0 < self._region_start:
                    first += 1
                last = first  # moves are in time order: the region's are moves[first:last]
                while last < len(moves) and moves[last].i1 <= m.i1:
                    last += 1
                region = moves[first:last]
                a = self._quiet_start(self._region_start, region_big[0].i0 - gap)
                if a > self._region_start:  # (read from a rest: as when fed in chunks)
                    region = self._moves_in(tr.speed.data[a : m.i1], a)
                events += self._emit_region(a, m.i1, region)
                self._region_start = m.i1
                self._ups = list(ups)  # (a later call, fed in chunks, starts from them)
                region_big = []
        if not big:
            # nothing rep-sized for a while: move on to a rest well before whatever comes
            # next (where the region will start anyway: ``_quiet_start``)
            self._region_start = self._quiet_start(self._region_start, pending - gap)
        return events

    def _way_back_n(self, big: list[Move], nxt: Move | None) -> float:
        """Grid samples the descent after the last of a region's big moves ``big``, a rise
        with none seen after it, is still to take: the region's median from a rep-sized
        rise's end to its descent's end (the hold and the descent; a slow descent can read
        as rest, and the set is not over before the bar is down), at most ``set_gap_s``.
        0 when the last move is not a rep-sized rise alike in size to the region's paired
        ones, or when the next big move, ``nxt`` (None: not seen yet), is over
        ``set_end_ratio`` times their size (standing up: the set is over). (Rises only: a
        set of bottom-start lifts ends with a descent, and its last rise has one to come.)"""
        p = self.p
        last = big[-1] if big else None
        if last is None or last.disp_m < p.min_range_m:
            return 0.0
        spans, sizes = [], []
        for x, y in pairwise(big[:-1]):
            if x.disp_m >= p.min_range_m and y.sign < 0:
                spans.append(y.i1 - x.i1)
                sizes.append(x.disp_m)
        if not spans:
            return 0.0
        size = median(sizes)
        if not 1 / p.rep_range_ratio <= last.disp_m / size <= p.rep_range_ratio or (
            nxt is not None and abs(nxt.disp_m) > p.set_end_ratio * size
        ):
            return 0.0
        return min(float(median(spans)), p.set_gap_s * p.grid_rate_hz)

    def _quiet_start(self, a: int, cut: int) -> int:
        """Where a region that starts at grid sample ``a`` and has nothing rep-sized before
        ``cut + set_gap`` is read from: its last rest before ``cut`` (``a`` if none). Fed
        whole or in chunks, the same: what came before is not the region's."""
        if cut - a <= 0:
            return a
        idx = np.flatnonzero(self._t.still.data[a:cut])
        return a + int(idx[-1]) if idx.size else a

    def _cycles_n(self, ups: list[int]) -> float:
        """Grid samples of ``set_gap_cycles`` rep cycles of the rises starting at ``ups`` (the
        rep-sized rises so far, every set's): a slow pause set whose descents the stillness test
        took for rest shows nothing rep-sized from one rise to the next, 8-9 s apart. 0 with
        fewer than three such rises."""
        if len(ups) < 3:
            return 0.0
        cycle = float(median(np.diff(ups).tolist()))
        if cycle > self.p.max_cycle_s * self.p.grid_rate_hz:
            return 0.0
        return self.p.set_gap_cycles * cycle

    def _pairing(
        self, moves: list[Move], speed: FloatArray | None = None, a: int = 0, *,
        ran_on: bool = False,
    ) -> list[RepCandidate]:
        """The reps that the better of the two pairings (rise first, descent first) finds in
        ``moves``: rise first unless descent first has more pairs.

        With ``speed`` (the region's plain speed, from grid sample ``a``):
        - descent first must also keep as many reps once both are checked (``_checked``):
          stepping up off the bench after a set pairs with the set's last descent, so raw
          pairs alone can pick the wrong start and lose the set's first rep;
        - a last descent that ran on is trimmed (``_trimmed``), and with ``ran_on`` so is
          one that was too big to pair (``_ran_on``).
        Without it (a de-drifted speed) neither: that speed is too far from rest to tell
        where a rep ended, and its checked reps too loose to choose on (junk after a set
        pairs into one more). Nor are its rises and descents held to ``steady``: it chooses
        on raw pairs, and taking the junk after a set out of one pairing and not the other
        flipped that choice (plain seed 6 lost a set's last rep)."""
        quiet = self._t.quiet.data
        pm = [m for m in moves if abs(m.disp_m) >= _PAIRABLE_M]
        # only the plain speed's phases must be steady (see above)
        p = self.p if speed is not None else self._p_unsteady
        bottom = pair_moves(pm, quiet, p, top_start=False)
        top = pair_moves(pm, quiet, p, top_start=True)
        if len(top) > len(bottom):
            reps_top = self._checked(top, speed, a)
            if speed is None or len(reps_top) >= len(self._checked(bottom, speed, a)):
                return reps_top
        if ran_on and speed is not None:
            bottom = sorted(bottom + self._ran_on(pm, bottom), key=lambda c: c.rise.i0)
        return self._checked(bottom, speed, a)

    def _checked(
        self, cands: list[RepCandidate], speed: FloatArray | None, a: int
    ) -> list[RepCandidate]:
        """The candidates that come back to where they started (trimmed to a rep first when
        their descent ran on, given ``speed``), then consistent in posture. One that came
        back only after its descent ran on into a further move down (slumping after the
        last rep) is taken trimmed if it is too long for its set untrimmed."""
        reps: list[RepCandidate] = []
        short: list[RepCandidate | None] = []  # each rep's trimmed version, if it has one
        trims = [None if speed is None else self._trimmed(c, speed, a) for c in cands]
        some = [t for t in trims if t is not None]
        back = self._returning(cands + some)  # (all at once: the candidates', the trims')
        trim_back = iter(back[len(cands) :])
        for c, t, c_back in zip(cands, trims, back[: len(cands)], strict=True):
            trimmed = t if t is not None and next(trim_back) else None
            if c_back:
                reps.append(c)
                short.append(trimmed)
            elif trimmed is not None:
                reps.append(trimmed)
                short.append(None)
        return self._consistent(reps, short)

    def _ran_on(self, pm: list[Move], cands: list[RepCandidate]) -> list[RepCandidate]:
        """Rises left unpaired because the descent right after them is over ``pair_ratio``
        times bigger: the rep's descent ran on into setting the bar down, with no pause
        between (``_trimmed`` then finds where the rep ended)."""
        paired = {c.rise.i0 for c in cands}
        max_gap = self.p.max_hold_s * self.p.grid_rate_hz
        return [
            RepCandidate(r, f, top_start=False)
            for r, f in pairwise(pm)
            if r.sign > 0 and f.sign < 0 and r.i0 not in paired
            and self.p.min_range_m <= r.disp_m and -f.disp_m > self.p.pair_ratio * r.disp_m
            and steady(r, self.p)
            and f.i0 - r.i1 <= max_gap
        ]

    def _trimmed(self, c: RepCandidate, speed: FloatArray, a: int) -> RepCandidate | None:
        """``c`` trimmed to the rep when its descent ran on (``trim_ran_on``); ``speed`` is
        the region's, from grid sample ``a``."""
        lo, hi = c.fall.i0, c.fall.i1
        return trim_ran_on(c, speed[lo - a : hi - a], self._t.still.data[lo:hi + 3],
                           self._t.dt_s, self.p)

    def _emit_region(self, a: int, b: int, moves: list[Move]) -> list[Event]:
        """The sets of the region [a, b) (grid samples) with its ``moves``: the reps of the
        plain speed, with the ways back the stillness test missed (``_with_ways_back``); the
        de-drifted speed's instead when they explain more; on the plain speed, a last
        descent that ran straight on into setting the bar down (``_ran_on``)."""
        speed, moves, cands = self._with_ways_back(a, b, moves)
        groups = self._groups(cands, moves)
        alt = self._detrended(speed, a, moves)
        alt_moves = [] if alt is None else self._moves_in(alt, a)
        if alt is not None and self._rises(alt_moves) > sum(map(len, groups)):
            # the de-drifted speed wins when its sets hold more reps, and every rep of the
            # plain speed's among them (it finds the reps drift hid, and loses none); each of
            # its reps has a rise of its own, so with no more rises than that it cannot
            alt_groups = self._drift_checked(
                self._groups(self._pairing(alt_moves), alt_moves), [c for g in groups for c in g]
            )
            alt_reps = [c for g in alt_groups for c in g]
            if len(alt_reps) > sum(map(len, groups)) and all(
                any(_overlap(c.rise, d.rise) for d in alt_reps) for g in groups for c in g
            ):
                speed, groups = alt, alt_groups
        pm = [m for m in moves if abs(m.disp_m) >= _PAIRABLE_M]
        if speed is not alt and self._ran_on(pm, []):
            # the plain speed kept: a last rise whose descent ran straight on into setting
            # the bar down (the de-drifted speed did not explain more reps without it)
            more = self._groups(self._pairing(moves, speed, a, ran_on=True), moves)
            if sum(map(len, more)) > sum(map(len, groups)):
                groups = more
        events: list[Event] = []
        for group in groups:
            s = self._build_set(group, speed, a)
            self._sets.append(s)
            events += [RepDone(s.index, s.leg, r) for r in s.reps]
            events.append(SetDone(s))
        return events

    def _rises(self, moves: list[Move]) -> int:
        """How many of ``moves`` are rises of a rep's size (``rep_sized``, as pairing
        requires): at most this many reps pair from them."""
        return sum(1 for m in moves if m.sign > 0 and rep_sized(m.disp_m, self.p))

    def _drift_checked(
        self, groups: list[list[RepCandidate]], plain: list[RepCandidate]
    ) -> list[list[RepCandidate]]:
        """The de-drifted speed's sets, checked for what de-drifting can make up: a set must
        come back evenly (``comes_back_evenly``), and a rep it alone shows (no rep of the
        plain speed's ``plain`` overlaps it) must accelerate (``moving``, on ``_activity``);
        sets left too small are dropped."""
        out = []
        for g in groups:
            if not comes_back_evenly([c.rise.disp_m for c in g], [c.fall.disp_m for c in g],
                                     self.p.drift_set_return_ratio):
                continue
            seen = [any(_overlap(c.rise, d.rise) for d in plain) for c in g]
            if all(seen):  # (the activity is read only when it matters)
                out.append(g)
                continue
            keep = moving([self._activity(c) for c in g], seen,
                          self.p.drift_rep_activity_ratio)
            kept = [c for c, k in zip(g, keep, strict=True) if k]
            if len(kept) >= self.p.min_reps_per_set:
                out.append(kept)
        return out

    def _activity(self, c: RepCandidate) -> float:
        """How much rep ``c`` accelerates: the 90th percentile of the low-passed
        acceleration's activity (g^2) from its first move's start to its second's end."""
        lo, hi = _bounds(c)
        return float(np.percentile(self._t.act_a.data[lo:hi], 90))

    def _with_ways_back(
        self, a: int, b: int, moves: list[Move]
    ) -> tuple[FloatArray, list[Move], list[RepCandidate]]:
        """Region [a, b)'s plain speed and moves with the ways back the stillness test missed
        filled in: between two moves in one direction (``_unseen_returns``), then after the
        last rep-sized one (``_tail_window``); and the reps they pair into."""
        speed, moves = self._unseen_returns(self._t.speed.data[a:b], a, moves)
        cands = self._pairing(moves, speed, a)
        tail = self._tail_window(b, moves, cands)
        filled = None if tail is None else self._returned(speed, a, *tail)
        if filled is None and tail is not None:
            # the way back is read from rest to rest: again, up to the window's last rest (by
            # its end the bar may be rolling off)
            last, hi = tail
            rests = np.flatnonzero(self._t.still.data[last.i1 : hi])
            if rests.size and last.i1 + int(rests[-1]) + 1 < hi:
                filled = self._returned(speed, a, last, last.i1 + int(rests[-1]) + 1)
        if filled is None:
            return speed, moves, cands
        moves = self._moves_in(filled, a)
        return filled, moves, self._pairing(moves, filled, a)

    def _unseen_returns(
        self, speed: FloatArray, a: int, moves: list[Move]
    ) -> tuple[FloatArray, list[Move]]:
        """A region's speed (from grid sample ``a``) and moves, with each way back that the
        stillness test missed between two moves in one direction (``unreturned``) filled
        in (``_returned``). One at a time: a move that a filled-in return cuts short (drift
        had run it into the next) is judged again at its new size."""
        tried: set[int] = set()
        while True:
            pm = [m for m in moves if abs(m.disp_m) >= _PAIRABLE_M]
            todo = [(m, n.i1) for m, n in unreturned(pm, self.p) if m.i0 not in tried]
            if not todo:
                return speed, moves
            m, hi = todo[0]
            tried.add(m.i0)
            filled = self._returned(speed, a, m, hi)
            if filled is not None:
                speed, moves = filled, self._moves_in(filled, a)

    def _returned(self, speed: FloatArray, a: int, m: Move, hi: int) -> FloatArray | None:
        """A copy of ``speed`` (from grid sample ``a``; lengthened when ``hi`` is past its
        end) with the way back after move ``m`` that the stillness test missed: from ``m``'s
        end to ``hi``, two rests, integrated with no zero-velocity update between, with one
        gravity (``rest_to_rest_speed``) or one per orientation
        (``rest_to_rest_speed_tilted``), whichever comes back nearer ``m``'s size (it did
        come back: one reads long, the other short). None when that is less than
        1/``pair_ratio`` or more than ``pair_ratio`` times ``m``."""
        tr, p = self._t, self.p
        lo = m.i1
        still = tr.still.data
        merge = round(p.merge_gap_s * p.grid_rate_hz)
        best: tuple[float, FloatArray, Move] | None = None
        for v in (
            rest_to_rest_speed(tr.norm.data[lo:hi], still[lo:hi], tr.dt_s),
            rest_to_rest_speed_tilted(tr.acc_lp.data, tr.norm.data, still, lo, hi,
                                      dt_s=tr.dt_s, params=p),
        ):
            back = [x for x in find_moves(v, tr.dt_s, _MIN_MOVE_M, merge) if x.sign != m.sign]
            r = max(back, key=lambda x: abs(x.disp_m), default=None)
            if r is None:
                continue
            off = abs(math.log(abs(r.disp_m / m.disp_m)))
            if off <= math.log(p.pair_ratio) and (best is None or off < best[0]):
                best = (off, v, r)
        if best is None:
            return None
        _, v, r = best
        out = np.concatenate([speed, tr.speed.data[a + speed.size : hi]])
        # only the way back: the tracker's speed around it is anchored at each rest
        out[lo + r.i0 - a : lo + r.i1 - a] = v[r.i0 : r.i1]
        return out

    def _tail_window(
        self, b: int, moves: list[Move], cands: list[RepCandidate]
    ) -> tuple[Move, int] | None:
        """The window after the region's last rep-sized move in the direction the reps
        start with, when the pairing left it alone and nothing after it comes back by a
        rep's share (a last rise with no descent seen): up to 1.5 times the reps' median
        first-half end to second-half end, at most ``set_gap_s`` (the data there is final),
        past the region's end ``b`` and up to the next pairable move. None: no such move."""
        p, tr = self.p, self._t
        if len(cands) < 2:
            return None
        top = cands[0].top_start
        lead = -1 if top else 1
        firsts = [c.fall if top else c.rise for c in cands]
        seconds = [c.rise if top else c.fall for c in cands]
        k = next((k for k in range(len(moves) - 1, -1, -1)
                  if moves[k].sign == lead and abs(moves[k].disp_m) >= p.min_range_m), None)
        if k is None or moves[k].i0 <= firsts[-1].i0:
            return None
        last = moves[k]
        med = median(f.disp_m for f in firsts)
        if not 1 / p.rep_range_ratio <= last.disp_m / med <= p.rep_range_ratio or comes_back(
            moves[k + 1 :], lead, abs(last.disp_m) / p.pair_ratio
        ):
            return None
        span = float(median(s.i1 - f.i1 for f, s in zip(firsts, seconds, strict=True)))
        reach = min(round(1.5 * span), round(p.set_gap_s * p.grid_rate_hz))
        hi = min(last.i1 + reach, tr.n_final)
        if hi > b:
            after = [m for m in self._moves_in(tr.speed.data[b:hi], b)
                     if abs(m.disp_m) >= _PAIRABLE_M]
            hi = after[0].i0 if after else hi
        hi = max(hi, b)
        return (last, hi) if hi > last.i1 else None

    def _groups(
        self, cands: list[RepCandidate], moves: list[Move] | None = None
    ) -> list[list[RepCandidate]]:
        """The sets among a region's reps (paired from ``moves``): split at long pauses,
        each set's reps alike (walking's are not), and enough of them."""
        groups = (self._consistent(split) for split in self._split(cands, moves))
        return [g for g in groups if len(g) >= self.p.min_reps_per_set]

    def _moves_in(self, speed: FloatArray, a: int) -> list[Move]:
        """The moves of ``speed``, a region's speed that starts at grid sample ``a``."""
        merge = round(self.p.merge_gap_s * self.p.grid_rate_hz)
        return [_shifted(m, a) for m in find_moves(speed, self._t.dt_s, _MIN_MOVE_M, merge)]

    def _detrended(self, speed: FloatArray, a: int, moves: list[Move]) -> FloatArray | None:
        """A region's ``speed`` (from grid sample ``a``) less its mean over one rep cycle
        (None: no regular cycle).

        The speed is de-drifted only between rests, and a set can have none (short holds;
        a hip mount whose norm error follows its orientation) or false ones (a slow
        eccentric on a bar with no gyro). Over a whole cycle the hips or the bar come back
        to where they were, so a cycle's mean speed is drift. Rests longer than
        ``keep_rest_s`` (or a cycle) are rests and stay at zero.
        """
        period = rep_cycle(moves, _PAIRABLE_M)
        rate = self.p.grid_rate_hz
        if period is None or not self.p.min_cycle_s * rate <= period <= self.p.max_cycle_s * rate:
            return None
        tr = self._t
        keep = min(period, round(self.p.keep_rest_s * rate))
        return cycle_detrended(speed, tr.still.data[a : a + speed.size], period, keep)

    def _returning(self, cands: list[RepCandidate]) -> list[bool]:
        """Does each rep end in the orientation it started in (sitting down, say, does not)?
        Within ``max_return_deg`` of its posture just before its start (``_postures``), over
        the end of its descent or just after it (a lift with no rest between reps, a curl
        say, is already turning into the next rep after)."""
        if not cands:
            return []
        acc = self._t.acc_lp.data
        settle = self._settle
        a = np.array([min(c.rise.i0, c.fall.i0) for c in cands], dtype=np.int64)
        b = np.minimum([max(c.rise.i1, c.fall.i1) for c in cands], acc.shape[0] - 1)  # (the end)
        # before the start, against up to the end and after it: (2, k)
        off = angles_deg(self._postures(a), np.stack([self._postures(b),
                                                      window_sums(acc, b, settle + 1)]))
        near = off <= self.p.max_return_deg
        back: list[bool] = (near[0] | near[1]).tolist()
        return back

    @property
    def _settle(self) -> int:
        """Grid samples of rest that show the posture before a rep (0.3 s)."""
        return round(0.3 * self.p.grid_rate_hz)

    def _postures(self, idx: NDArray[np.int64]) -> FloatArray:
        """The posture up to each grid sample in ``idx``: the low-passed acceleration (g)
        summed over the ``_settle`` samples before it and it, gravity in the sensor's frame
        (its direction is the sensor's orientation there), shape ``(*idx.shape, 3)``."""
        return window_sums(self._t.acc_lp.data, idx - self._settle, self._settle + 1)

    def _consistent(
        self, cands: list[RepCandidate], short: list[RepCandidate | None] | None = None
    ) -> list[RepCandidate]:
        """Drop candidates far from the region's median rep: in range, in duration, or in
        the posture they start from (the sensor's orientation then: every rep of a set
        starts from the same one; standing up after it does not), unless they start from
        the last kept rep's end with no rest between. A candidate too long with a shorter
        version in ``short`` (its descent trimmed) that is not is taken so."""
        if len(cands) < 3:
            return cands
        med = median(c.rise.disp_m for c in cands)
        r = self.p.rep_range_ratio
        long = self.p.rep_duration_ratio * median(_span(c) for c in cands)
        if short is not None:
            cands = [c if t is None or _span(c) <= long or _span(t) > long else t
                     for c, t in zip(cands, short, strict=True)]
        starts = [_bounds(c)[0] for c in cands]
        posed = (self._posture_off(starts) <= self.p.max_posture_deg).tolist()
        kept: list[RepCandidate] = []
        for c, start, pose in zip(cands, starts, posed, strict=True):
            if not (med / r <= c.rise.disp_m <= med * r and _span(c) <= long):
                continue
            # one that starts where the last kept ended, not from rest, starts from that
            # rep's last move: no posture to compare (a curl's arc tilts the reading)
            if pose or (kept and start - _bounds(kept[-1])[1] <= self._settle
                        and not self._rested(start)):
                kept.append(c)
        return kept

    def _rested(self, i: int) -> bool:
        """Is there a still sample among the ``_settle`` grid samples before ``i``?"""
        return bool(self._t.still.data[max(0, i - self._settle) : i].any())

    def _posture_off(self, starts: list[int]) -> FloatArray:
        """How far (deg) the posture (``_postures``) before each of these grid samples is
        from their median posture."""
        u = unit(self._postures(np.asarray(starts, dtype=np.int64)))
        ranked = np.sort(u, axis=0)  # the median (np.median's arithmetic, a tenth of its cost)
        h = ranked.shape[0] // 2
        med = ranked[h] if ranked.shape[0] % 2 else (ranked[h - 1] + ranked[h]) / 2
        return angles_deg(u, med)

    def _split(
        self, cands: list[RepCandidate], moves: list[Move] | None = None
    ) -> list[list[RepCandidate]]:
        """Reps into sets: a pause longer than ``set_gap_s`` (or than ``missed_cycles`` of
        the set's own rep cycle, so that one rep missed in a slow pause set does not cut
        it in two) ends a set. A missed rep is a rep: a pause that holds a move over
        ``set_end_ratio`` times the set's median rise (standing up after it) is not one."""
        gap = self.p.set_gap_s * self.p.grid_rate_hz
        groups: list[list[RepCandidate]] = []
        for c in cands:
            first = _bounds(c)[0]
            if groups:
                g = groups[-1]
                last = _bounds(g[-1])[1]
                pause = float(first - last)
                if pause >= gap and len(g) >= 2 and not self._left_set(g, moves, last, first):
                    # (the set's cycle only when it matters)
                    cycle = float(median(np.diff([_bounds(x)[0] for x in g]).tolist()))
                    pause -= max(0.0, self.p.missed_cycles * cycle - gap)
                if pause < gap:
                    g.append(c)
                    continue
            groups.append([c])
        return groups

    def _left_set(
        self, group: list[RepCandidate], moves: list[Move] | None, lo: int, hi: int
    ) -> bool:
        """Is there a move between grid samples ``lo`` and ``hi`` over ``set_end_ratio``
        times the median rise of ``group`` (the athlete stood up: the set is over)?"""
        if not moves:
            return False
        big = self.p.set_end_ratio * median(c.rise.disp_m for c in group)
        return any(lo <= m.i0 and m.i1 <= hi and abs(m.disp_m) > big for m in moves)

    def leg_of_set(self, index: int) -> Leg:
        """The leg of set ``index``: the options, or the leg set live and alternation."""
        return self._leg(index)

    def _leg(self, index: int) -> Leg:
        if self._leg_anchor is not None and index >= self._leg_anchor[0]:
            j, leg = self._leg_anchor
            return leg if (index - j) % 2 == 0 else leg.other
        return leg_for_set(index, self.options.first_leg, self.options.legs)

    def _build_set(self, group: list[RepCandidate], speed: FloatArray, a: int) -> SetResult:
        """The set of ``group``'s reps; ``speed`` is their region's, from grid sample ``a``."""
        tr = self._t
        acc_lp = tr.acc_lp.data
        frac = self.p.phase_fraction
        step = self.p.hold_flat_mps2 / self.p.grid_rate_hz
        flat_min = round(self.p.hold_flat_s * self.p.grid_rate_hz)
        ph = [
            phase_indices(
                speed, RepCandidate(_shifted(c.rise, -a), _shifted(c.fall, -a), c.top_start),
                frac, flat_step_mps=step, flat_min=flat_min,
                band_steps=min(self.p.hold_band_m, 0.1 * c.rise.disp_m) * self.p.grid_rate_hz,
            ).shifted(a)
            for c in group
        ]
        top_start = group[0].top_start
        settle = self._settle
        spans = [(int(x.start), int(x.lockout), int(x.bottom)) for x in ph]
        starts, lockouts = np.array([s[:2] for s in spans], dtype=np.int64).T
        rotations = angles_deg(self._postures(starts), acc_lp[lockouts]).tolist()
        self._rotations += rotations
        if self._mount is None:
            med = median(rotations)
            self._mount = Mount.HIP if med > _HIP_ROTATION_DEG else Mount.BAR
        tilts = tilt_per_rep(acc_lp, spans, settle) if self._mount is Mount.HIP else None
        fields: list[dict[str, Any]] = []  # each rep's, for its two constructions
        t = tr.t_of
        for i, (c, x) in enumerate(zip(group, ph, strict=True)):
            nxt = ph[i + 1] if i + 1 < len(ph) else None
            if top_start:
                hold = (t(nxt.descent) - t(x.lockout)) if nxt else 0.0
                bottom: float | None = t(x.start) - t(x.bottom)
            else:
                hold = t(x.descent) - t(x.lockout)
                bottom = (t(nxt.start) - t(x.bottom)) if nxt else None
            fields.append(
                dict(
                    index=i,
                    t_start=t(x.start),
                    t_lockout=t(x.lockout),
                    t_descent=t(x.descent),
                    t_bottom=t(x.bottom),
                    concentric_s=t(x.lockout) - t(x.start),
                    hold_s=hold,
                    eccentric_s=t(x.bottom) - t(x.descent),
                    peak_speed_mps=x.peak_mps,
                    range_m=c.rise.disp_m,
                    bottom_s=bottom,
                    tilt_deg=tilts[i] if tilts is not None else None,
                )
            )
        flags = flag_reps(
            [Rep(**f) for f in fields],
            pause_s=self.options.pause_s,
            bounce_hold_s=self.p.bounce_hold_s,
            meant_to_hold_s=self.p.meant_to_hold_s,
            tilt_threshold_deg=self.options.tilt_threshold_deg if tilts is not None else None,
        )
        reps = [Rep(**f, flags=fl) for f, fl in zip(fields, flags, strict=True)]
        index = len(self._sets)
        set_flags = ("top_start",) if top_start else ()
        return SetResult(index, self._leg(index), tuple(reps), set_flags)

    # -- output --------------------------------------------------------------------------

    @property
    def sets(self) -> tuple[SetResult, ...]:
        return tuple(self._sets)

    @property
    def mount(self) -> Mount:
        return self._mount or Mount.HIP

    def summary(self, session_id: str | None = None, source: str | None = None) -> SessionSummary:
        """The session so far (call after ``finish()`` for the final one)."""
        legs = per_leg(self._sets)
        duration = float(self._t_end[-1]) - self._t_first if self._n_in > 1 else 0.0
        rate = (self._n_in - 1) / duration if duration > 0 else None
        return SessionSummary(
            session_id=session_id or self.content_id(),
            mount=self.mount,
            sets=tuple(self._sets),
            legs=legs,
            asymmetry=asymmetry(
                legs, self.options.asymmetry_threshold_pct, self.p.noise_floor_sd_s
            ),
            pause_target_s=self.options.pause_s,
            sampling_rate_hz=rate,
            has_gyro=self._with_gyro,
            duration_s=duration,
            source=source,
        )

    def content_id(self) -> str:
        """A session id derived from the samples themselves: the same data, the same id."""
        both = self._digest_t.hexdigest() + self._digest_a.hexdigest()
        return hashlib.sha256(both.encode()).hexdigest()[:16]

    def trace(self) -> Trace:
        tr = self._tracker
        if tr is None:
            empty = np.empty(0)
            return Trace(empty, empty, empty, None)
        n = tr.n_final
        t_s = np.asarray(tr.t_of(0) + np.arange(n) * tr.dt_s, dtype=np.float64)
        return Trace(t_s, tr.speed.data.copy(), tr.position_m())


def _overlap(m: Move, n: Move) -> bool:
    """Do two moves share a grid sample?"""
    return m.i0 < n.i1 and n.i0 < m.i1


def _shifted(m: Move, d: int) -> Move:
    """``m`` with its grid indices moved by ``d``."""
    return Move(m.sign, m.i0 + d, m.i1 + d, m.peak_mps, m.disp_m, m.back_m)


def _bounds(c: RepCandidate) -> tuple[int, int]:
    """[first move's start, second move's end) in grid samples."""
    return min(c.rise.i0, c.fall.i0), max(c.rise.i1, c.fall.i1)


def _span(c: RepCandidate) -> int:
    """Grid samples from the first move's start to the second's end."""
    lo, hi = _bounds(c)
    return hi - lo


def analyze(
    samples: Samples,
    options: AnalysisOptions | None = None,
    *,
    session_id: str | None = None,
    source: str | None = None,
    params: EngineParams | None = None,
) -> SessionSummary:
    """Analyse a whole recording at once (the same engine as live, fed in one block)."""
    engine = Engine(options, params, live=False)
    engine.feed(samples)
    engine.finish()
    return engine.summary(session_id=session_id or samples.metadata.get("session_id"),
                          source=source)
