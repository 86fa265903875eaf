"""Resident profiles: the parameters of a daily rhythm and how often things go wrong."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProfileName(StrEnum):
    """The kinds of resident the simulator knows."""

    INDEPENDENT = "independent"
    DEMENTIA = "dementia"
    FRAIL = "frail"
    POOR_ADHERENCE = "poor_adherence"


@dataclass(frozen=True, slots=True)
class Profile:
    """One resident type. Clock times are minutes after local midnight (Europe/Amsterdam).

    `*_per_day` / `*_per_night` are probabilities of the episode on a given day or night.
    """

    name: ProfileName
    # rhythm (hidden truth; the care plan states rounded values, see homes.py)
    wake_min: int
    wake_sd_min: int
    weekend_shift_min: int
    bed_min: int
    bed_sd_min: int
    night_toilet_mean: float  # expected toilet trips per night
    toilet_trip_max_min: int
    outings_per_day: float  # expected daytime outings
    slow: float  # multiplies durations of moving about
    # care plan as the nurse would write it
    night_window: tuple[str, str]
    wake_deadline_after_min: int  # care plan "out of bed by" = usual wake + this
    doses: tuple[str, ...]
    dose_window_min: int
    # incidents
    fall_per_day: float
    night_fall_share: float
    night_exit_per_night: float
    not_up_per_day: float
    not_eating_per_day: float
    miss_dose: float  # chance a dose is simply not taken
    # benign look-alikes
    sleep_in_sunday: float
    long_bath_per_day: float
    visitor_per_day: float
    evening_outing_per_day: float
    early_walker_share: float  # share of residents who go out at 06:30 every morning
    late_dose: float
    restless_per_night: float
    meal_out_per_day: float


PROFILES: dict[ProfileName, Profile] = {
    ProfileName.INDEPENDENT: Profile(
        name=ProfileName.INDEPENDENT,
        wake_min=7 * 60,
        wake_sd_min=20,
        weekend_shift_min=40,
        bed_min=23 * 60,
        bed_sd_min=25,
        night_toilet_mean=0.7,
        toilet_trip_max_min=8,
        outings_per_day=1.2,
        slow=1.0,
        night_window=("23:30", "07:00"),
        wake_deadline_after_min=120,
        doses=("08:00", "20:00"),
        dose_window_min=75,
        fall_per_day=0.004,
        night_fall_share=0.3,
        night_exit_per_night=0.0,
        not_up_per_day=0.01,
        not_eating_per_day=0.005,
        miss_dose=0.02,
        sleep_in_sunday=0.6,
        long_bath_per_day=0.15,
        visitor_per_day=0.3,
        evening_outing_per_day=0.25,
        early_walker_share=0.6,
        late_dose=0.08,
        restless_per_night=0.0,
        meal_out_per_day=0.12,
    ),
    ProfileName.DEMENTIA: Profile(
        name=ProfileName.DEMENTIA,
        wake_min=8 * 60,
        wake_sd_min=35,
        weekend_shift_min=20,
        bed_min=21 * 60 + 45,
        bed_sd_min=40,
        night_toilet_mean=1.6,
        toilet_trip_max_min=14,
        outings_per_day=0.5,
        slow=1.3,
        night_window=("22:00", "07:30"),
        wake_deadline_after_min=90,
        doses=("08:30", "12:30", "17:30", "20:30"),
        dose_window_min=45,
        fall_per_day=0.01,
        night_fall_share=0.4,
        night_exit_per_night=0.12,
        not_up_per_day=0.03,
        not_eating_per_day=0.05,
        miss_dose=0.08,
        sleep_in_sunday=0.3,
        long_bath_per_day=0.04,
        visitor_per_day=0.6,
        evening_outing_per_day=0.08,
        early_walker_share=0.0,
        late_dose=0.15,
        restless_per_night=0.35,
        meal_out_per_day=0.05,
    ),
    ProfileName.FRAIL: Profile(
        name=ProfileName.FRAIL,
        wake_min=8 * 60 + 15,
        wake_sd_min=25,
        weekend_shift_min=15,
        bed_min=21 * 60 + 30,
        bed_sd_min=25,
        night_toilet_mean=2.2,
        toilet_trip_max_min=15,
        outings_per_day=0.25,
        slow=1.8,
        night_window=("22:00", "07:30"),
        wake_deadline_after_min=90,
        doses=("09:00", "13:00", "18:00"),
        dose_window_min=45,
        fall_per_day=0.04,
        night_fall_share=0.4,
        night_exit_per_night=0.0,
        not_up_per_day=0.04,
        not_eating_per_day=0.03,
        miss_dose=0.04,
        sleep_in_sunday=0.3,
        long_bath_per_day=0.2,
        visitor_per_day=0.8,
        evening_outing_per_day=0.03,
        early_walker_share=0.0,
        late_dose=0.12,
        restless_per_night=0.05,
        meal_out_per_day=0.02,
    ),
    ProfileName.POOR_ADHERENCE: Profile(
        name=ProfileName.POOR_ADHERENCE,
        wake_min=7 * 60 + 45,
        wake_sd_min=35,
        weekend_shift_min=50,
        bed_min=23 * 60,
        bed_sd_min=35,
        night_toilet_mean=0.9,
        toilet_trip_max_min=8,
        outings_per_day=0.9,
        slow=1.1,
        night_window=("23:30", "07:00"),
        wake_deadline_after_min=120,
        doses=("08:00", "13:00", "18:00", "22:00"),
        dose_window_min=75,
        fall_per_day=0.006,
        night_fall_share=0.3,
        night_exit_per_night=0.0,
        not_up_per_day=0.015,
        not_eating_per_day=0.02,
        miss_dose=0.22,
        sleep_in_sunday=0.6,
        long_bath_per_day=0.1,
        visitor_per_day=0.3,
        evening_outing_per_day=0.2,
        early_walker_share=0.0,
        late_dose=0.25,
        restless_per_night=0.0,
        meal_out_per_day=0.1,
    ),
}

PROFILE_CYCLE: tuple[ProfileName, ...] = (
    ProfileName.INDEPENDENT,
    ProfileName.DEMENTIA,
    ProfileName.FRAIL,
    ProfileName.POOR_ADHERENCE,
)
"""Homes get profiles in this order (home 1 independent, home 2 dementia, ...)."""
