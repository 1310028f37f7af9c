"""What the user asks of the analysis, and the engine's tuning constants (units in names)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sensor.summary import Leg, Mount


@dataclass(frozen=True)
class AnalysisOptions:
    """User-facing options: the ``analyze`` flags.

    ``mount`` None means detect it. ``legs`` overrides the alternation that starts with
    ``first_leg``; sets past the end of the list keep alternating from its last leg.
    ``first_leg_given`` says whether the user chose ``first_leg`` (or ``legs``): when not, a
    recording that names its first leg (``# first_leg=`` from ``hipthrust record --leg``)
    decides.
    """

    mount: Mount | None = None
    first_leg: Leg = Leg.LEFT
    first_leg_given: bool = True
    legs: tuple[Leg, ...] | None = None
    pause_s: float | None = None
    asymmetry_threshold_pct: float = 15.0
    tilt_threshold_deg: float = 7.0


def with_recording_defaults(
    options: AnalysisOptions, metadata: Mapping[str, str]
) -> AnalysisOptions:
    """The options, with the first leg a recording names when the user named none."""
    named = metadata.get("first_leg", "").strip().lower()
    if options.first_leg_given or options.legs or named not in {leg.value for leg in Leg}:
        return options
    return replace(options, first_leg=Leg(named))


@dataclass(frozen=True)
class EngineParams:
    """Tuning constants. Tuned on simulator seeds 1000-1199; reported on others."""

    grid_rate_hz: float = 50.0  # every input is resampled to this uniform grid
    max_gap_s: float = 1.0  # longer gaps in the input break the motion (treated as rest)
    lowpass_cutoff_hz: float = 5.0  # zero-phase FIR on the grid
    lowpass_taps: int = 21
    still_cutoff_hz: float = 3.0  # heavier low-pass for the stillness detector (tremor out)
    still_taps: int = 41
    zupt_speed_mps: float = 0.05  # a still run anchors the speed only if reached under this
    zupt_peak_fraction: float = 0.7  # ... or under this fraction of the peak speed ...
    zupt_recent_s: float = 0.6  # ... over this much of the motion before it (a steady move
    # looks still: no acceleration, but its speed is all it has had for a while)
    zupt_long_rest_s: float = 2.0  # a still run this long is a rest whatever the speed says
    zupt_max_motion_s: float = 5.0  # and any still run ends a motion longer than this
    zupt_settled_s: float = 0.6  # a still run this long (0: off) is a rest when what
    zupt_onward_s: float = 0.3  # follows it over this long speeds up the way the speed goes
    # by still_level_g (a braking half whose start read as rest; a steady move brakes next)
    zupt_turn_deg: float = 10.0  # the check is for sensors that barely rotate (bar mounts)
    gravity_local_deg: float = 30.0  # orientation scale of the local gravity-error fit
    gravity_obs: int = 40  # still observations kept for the gravity-norm error model
    gravity_obs_gap_s: float = 0.1  # a motion's rests are observed this far from it
    gravity_ridge: float = 0.002  # the model's ridge per unit of weight (see fit_gravity_error)
    rest_window_s: float = 0.4  # centred window of the stillness detector
    rest_ratio: float = 15.0  # still when the norm's activity < ratio x noise floor ...
    still_norm_min_g2: float = 2e-4  # ... or under this (g^2: 14 mg rms; tremor in a hold)
    still_acc_min_g2: float = 2e-3  # ... and the vector's (orientation sway) under this
    still_turn_deg: float = 2.5  # ... and turned less than this across the window
    still_level_g: float = 0.01  # ... and the norm within this of the surrounding seconds
    still_level_away_deg: float = 30.0  # (turned further than this from them, scale and
    # bias errors read gravity's norm differently: then the norm of their quiet moments -
    # norm variance under hold_quiet_g2, turned less than still_level_quiet_turn_deg - ...
    still_level_near_deg: float = 10.0  # ... that point within this of its direction)
    still_level_quiet_turn_deg: float = 1.25  # (across a 0.25 s bin)
    still_level_steady_deg: float = 5.0  # (turned further than this from them, the level
    # that at least still_level_steady_bins bins pointing its way hold within
    still_level_steady_g: float = 0.002  # this of one another, when there is one: a hip
    still_level_steady_bins: int = 3  # turns 30 deg between the bottom and the lockout)
    still_level_steady_s: float = 12.0  # (those bins from this long before to 2 s after:
    # a short lockout has too few bins, and the set's earlier lockouts point its way too
    still_level_steady_back_turn_deg: float = 0.3  # ... those before the 2 s turning less
    # than this across: a set's reps brake through the same levels, turning a little more)
    still_level_rest_bins: int = 12  # (turned less, the level that at least this many bins
    # pointing its way hold within still_level_steady_g, from still_level_rest_s before to
    still_level_rest_s: float = 60.0  # 2 s after, when there is one: a set's rests are
    # short, and the surrounding seconds' median is a slow move's level; 0 bins: off)
    still_gyro_min_dps2: float = 5.0  # ... and the gyro's under this ((deg/s)^2)
    still_gyro_level_dps: float = 3.0  # ... and the gyro within this of its bias (deg/s;
    # a lockout held on one leg sways the pelvis a few tenths of a degree at ~1 Hz: 2-4 deg/s)
    gyro_bias_min_s: float = 2.0  # still time in a noise block needed to re-learn the bias
    gyro_track_deg: float = 10.0  # a motion's gyro must carry gravity's direction from its
    # first sample to its last within this, or the norm alone gives its vertical acceleration
    gyro_track_dps: float = 100.0  # ... and turn no faster than this (2 deg per grid step)
    min_rest_s: float = 0.2  # shorter still runs do not anchor the integration
    noise_block_s: float = 20.0  # the noise floor is re-estimated per block of this length
    baseline_s: float = 0.5  # rest used for the gravity baseline at each end of a motion
    motion_edge_s: float = 0.4  # a motion's gentle start and end reach this far into rests
    motion_edge_g: float = 0.002  # ... while their vertical acceleration is over this
    motion_edge_fraction: float = 0.05  # ... and over this fraction of the motion's peak
    phase_fraction: float = 0.05  # the spec's 5 % of peak concentric speed
    hold_flat_mps2: float = 0.1  # a hold's speed changes slower than this (m/s per s) ...
    hold_flat_s: float = 0.2  # ... for at least this long (its level is drift to take off)
    hold_band_m: float = 0.02  # else a hold lasts until the position leaves this band (or 10 %)
    min_range_m: float = 0.10  # smallest rep (rise) that counts
    max_range_m: float = 1.2
    min_phase_s: float = 0.25  # shortest concentric or eccentric
    max_concentric_s: float = 6.0
    max_eccentric_s: float = 8.0
    max_hold_s: float = 15.0
    quiet_check_s: float = 2.5  # a pause in a rep longer than this must be quiet ...
    min_quiet_hold: float = 0.5  # ... for this fraction of its middle half
    hold_quiet_g2: float = 4e-4  # quiet: activity under this (g^2, 20 mg rms; tremor is)
    pair_ratio: float = 1.8  # descent/rise ranges must agree within this factor
    max_back_fraction: float = 0.1  # a rise or descent goes back this much of itself at most
    max_return_deg: float = 20.0  # a rep ends within this angle of its starting orientation
    max_posture_deg: float = 30.0  # and starts within this of the set's median start's
    rep_range_ratio: float = 1.6  # a rep's range vs the set's median so far
    rep_duration_ratio: float = 1.7  # and its duration (rise and descent) at most this x
    # (a de-drifted descent drifting on through a 1 s pause at the floor reads 1.62 x)
    min_cycle_s: float = 1.2  # a set's rep cycle (rise to rise) is within these bounds
    # (a fast row's is 2 s, and drift can split its rises 1.4 s apart; walking's steps: 0.5 s)
    max_cycle_s: float = 12.0  # (a pause set: 2 s up, 3 s held, 3.3 s down, 1.5 s at the
    # bottom is a 10 s cycle)
    keep_rest_s: float = 1.5  # de-drifting a set over its cycle keeps rests this long
    drift_rep_activity_ratio: float = 0.15  # a rep only the de-drifted speed shows moves:
    # its acceleration's activity is at least this x its set's other reps' (drift does not
    # accelerate: a slow sway after the last rep reads 0.01-0.1 x, true reps 0.2-5 x)
    drift_set_return_ratio: float = 1.5  # a set the de-drifted speed shows comes back: its
    # reps' median descent / rise ratio is within this (shuffling between sets reads 1.7 x)
    merge_gap_s: float = 0.6  # same-direction moves closer than this are one phase
    set_gap_s: float = 8.0  # no rep-sized motion for this long ends a set
    set_gap_cycles: float = 1.2  # ... nor for this many of the set's rep cycles, if longer
    missed_cycles: float = 2.5  # nor does a pause of fewer of the set's rep cycles than this
    set_end_ratio: float = 2.5  # ... unless a move in it is over this x the set's median rise
    min_reps_per_set: int = 3  # two "reps" alone are more often setup or walking than a set
    bounce_hold_s: float = 0.35  # a hold shorter than this is a bounce (the 5 % boundaries
    # already give a touch-and-go lockout 0.15-0.3 s of "hold")
    meant_to_hold_s: float = 0.8  # a set whose median hold is at least this was meant to hold
    noise_floor_sd_s: float = 0.05  # per-rep timing noise floor used by the asymmetry test
