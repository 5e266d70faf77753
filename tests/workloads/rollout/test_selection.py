"""Stable wave selection: the same devices on every plan, growing a wave only adds devices,
percentages are shares of any population, and collection waves take their members first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.rollout import Wave, WaveSelector, device_bucket
from workloads.rollout.selection import bucket_of_point, device_point


def fleet(count: int, prefix: str = "") -> list[str]:
    return [f"GUID:{prefix}{n:08X}-1111-2222-3333-444444444444" for n in range(count)]


def percent(value: float, soak: int = 0) -> Wave:
    return Wave(percent=value, soak=soak)


def collections(*ids: str) -> Wave:
    return Wave(collections=ids, soak=0)


FLEET = fleet(20_000)
smsids = st.lists(st.sampled_from(FLEET), min_size=1, max_size=200, unique=True)
percents = st.integers(min_value=1, max_value=10_000).map(lambda bp: bp / 100)


def picked(selector: WaveSelector, devices: list[str], through: int) -> set[str]:
    return {d for d in devices if selector.admitted(d, frozenset(), through)}


@given(devices=smsids, low=percents, high=percents, salt=st.text(min_size=1, max_size=20))
def test_growing_a_percentage_only_adds_devices(
    devices: list[str], low: float, high: float, salt: str
) -> None:
    low, high = min(low, high), max(low, high)
    smaller = picked(WaveSelector([percent(low)], salt), devices, 1)
    larger = picked(WaveSelector([percent(high)], salt), devices, 1)
    assert smaller <= larger


@given(
    devices=smsids,
    thresholds=st.lists(st.integers(1, 9_000), min_size=3, max_size=3, unique=True),
    grow=st.integers(1, 1_000),
    which=st.integers(0, 2),
)
def test_raising_one_wave_moves_devices_only_to_earlier_waves(
    devices: list[str], thresholds: list[int], grow: int, which: int
) -> None:
    ordered = sorted(thresholds)
    raised = list(ordered)
    ceiling = ordered[which + 1] - 1 if which < 2 else 10_000
    raised[which] = min(ceiling, raised[which] + grow)
    before = WaveSelector([percent(t / 100) for t in ordered], "s")
    after = WaveSelector([percent(t / 100) for t in raised], "s")
    for device in devices:
        old, new = before.wave_of(device, frozenset()), after.wave_of(device, frozenset())
        assert new <= old
        if new != old:
            assert new == which + 1


@given(devices=smsids, salt=st.text(min_size=1, max_size=20), value=percents)
def test_same_salt_same_picks_whatever_the_order_and_case(
    devices: list[str], salt: str, value: float
) -> None:
    first = WaveSelector([percent(value)], salt)
    second = WaveSelector([percent(value)], salt)
    forwards = [first.wave_of(d, frozenset()) for d in devices]
    backwards = [second.wave_of(d, frozenset()) for d in reversed(devices)]
    assert forwards == backwards[::-1]
    assert [second.wave_of(f"  {d.lower()} ", frozenset()) for d in devices] == forwards


def test_another_salt_picks_other_devices() -> None:
    devices = FLEET[:2_000]
    one = picked(WaveSelector([percent(10)], "one"), devices, 1)
    two = picked(WaveSelector([percent(10)], "two"), devices, 1)
    assert one != two
    # Independent draws: the overlap is about 10% of 10%, far from all of it.
    assert len(one & two) < len(one) // 3


def test_percentages_are_close_to_uniform() -> None:
    selector = WaveSelector([percent(1), percent(10), percent(50)], "uniform")
    stages = [selector.wave_of(d, frozenset()) for d in FLEET]
    counts = [stages.count(stage) for stage in (1, 2, 3, 4)]
    expected = [0.01, 0.09, 0.40, 0.50]
    for count, share in zip(counts, expected, strict=True):
        # 20,000 draws: a binomial's standard deviation is at most 71; allow 5 of them.
        assert abs(count - share * len(FLEET)) < 360, counts
    deciles = [0] * 10
    for device in FLEET:
        deciles[device_bucket("uniform", device) // 1_000] += 1
    assert all(abs(count - 2_000) < 250 for count in deciles), deciles


def test_a_percentage_is_a_share_of_any_subpopulation() -> None:
    # Half the fleet (say, the eligible devices) gets about the same share.
    eligible = FLEET[::2]
    chosen = picked(WaveSelector([percent(25)], "sub"), eligible, 1)
    assert abs(len(chosen) - 0.25 * len(eligible)) < 300


def test_collection_waves_take_their_members_not_already_in_an_earlier_wave() -> None:
    selector = WaveSelector(
        [collections("PS100020"), percent(30), collections("PS100021", "PS100022")], "mixed"
    )
    low = next(d for d in FLEET if device_bucket("mixed", d) < 3_000)
    high = next(d for d in FLEET if device_bucket("mixed", d) >= 3_000)
    assert selector.wave_of(low, frozenset({"PS100020", "PS100022"})) == 1
    assert selector.wave_of(low, frozenset({"PS100022"})) == 2  # the percentage wave came first
    assert selector.wave_of(high, frozenset({"PS100022"})) == 3
    assert selector.wave_of(high, frozenset({"PS100099"})) == 4  # the final stage
    assert selector.final_stage == 4


def test_admission_through_nothing_and_everything() -> None:
    selector = WaveSelector([percent(1)], "edge")
    devices = FLEET[:500]
    assert picked(selector, devices, 0) == set()
    assert picked(selector, devices, 2) == set(devices)
    assert picked(selector, devices, 1) < set(devices)


@settings(max_examples=200)
@given(point=st.integers(min_value=0, max_value=2**64 - 1))
def test_buckets_cover_exactly_zero_to_ten_thousand(point: int) -> None:
    assert 0 <= bucket_of_point(point) < 10_000


def test_the_hash_is_sha256_of_salt_nul_smsid() -> None:
    # Pinned: plans and rollouts in flight depend on it never changing.
    smsid = "GUID:00000000-0000-0000-0000-000000000001"
    assert device_point("golden", smsid) == 0x568B76D03EAD5D75
    assert device_point("golden", smsid.lower()) == 0x568B76D03EAD5D75
    assert device_bucket("golden", smsid) == 3380  # floor(0x568b... * 10000 / 2**64)
