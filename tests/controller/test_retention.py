"""Which SecurityAlerts retention deletes: expired ones, then the surplus over the cap, tier by
tier (closed, acknowledged, open), the rules holding the most alerts first, oldest first."""

from __future__ import annotations

import datetime
import random

from hypothesis import given
from hypothesis import strategies as st

from audithound.controller import retention

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(hours=24)


def alert(name: str, hours_ago: float, workflow: str = "open", rule: str = "r") -> retention.Stored:
    return retention.Stored(
        name, NOW - datetime.timedelta(hours=hours_ago), workflow, rule, f"v-{name}"
    )


def doomed(
    alerts: list[retention.Stored],
    *,
    ttl: datetime.timedelta | None,
    cap: int | None,
    budget: int = 1000,
) -> list[str]:
    """One pass as the retainer runs it, over two listings of the same alerts."""
    found = retention.census(alerts, now=NOW, ttl=ttl, budget=budget)
    shares = retention.quotas(found.kept, cap=cap, budget=budget - len(found.expired))
    chosen = retention.select(alerts, shares, now=NOW, ttl=ttl)
    return found.expired + [name for name, _ in chosen]


def test_time_to_live_deletes_every_older_alert_whatever_its_state() -> None:
    alerts = [alert("old-open", 30), alert("old-closed", 25, "closed"), alert("new", 1)]
    assert doomed(alerts, ttl=DAY, cap=None) == ["old-open", "old-closed"]


def test_cap_gives_up_closed_then_acknowledged_then_open_oldest_first() -> None:
    alerts = [
        alert("open-old", 9),
        alert("ack-new", 1, "acknowledged"),
        alert("closed-new", 2, "closed"),
        alert("ack-old", 8, "acknowledged"),
        alert("open-new", 0.5),
        alert("closed-old", 7, "closed"),
    ]
    assert doomed(alerts, ttl=None, cap=2) == ["closed-old", "closed-new", "ack-old", "ack-new"]


def test_a_flooding_rule_gives_up_its_own_alerts_before_a_quiet_rule_loses_any() -> None:
    # Two real impersonation alerts, then 1,200 from a rule an anonymous flood set off.
    quiet = [alert(f"impersonation-{i}", 48 - i, rule="impersonation") for i in range(2)]
    noisy = [alert(f"exec-{i}", 24 - i / 100, rule="exec") for i in range(1200)]
    gone = doomed(quiet + noisy, ttl=None, cap=1000)
    assert len(gone) == 202
    assert all(name.startswith("exec-") for name in gone)
    # The flood's oldest go first.
    assert set(gone) == {f"exec-{i}" for i in range(202)}


def test_rules_are_cut_down_to_an_equal_level_when_all_are_large() -> None:
    alerts = [
        alert(f"{rule}-{i}", i, rule=rule) for rule, n in (("a", 6), ("b", 4)) for i in range(n)
    ]
    alerts.append(alert("c-0", 0, rule="c"))
    gone = doomed(alerts, ttl=None, cap=7)
    # a 6 -> 3 and b 4 -> 3 keep the most they can; c keeps its single alert.
    assert sorted(gone) == ["a-3", "a-4", "a-5", "b-3"]


def test_closed_alerts_of_a_quiet_rule_go_before_open_alerts_of_a_noisy_one() -> None:
    alerts = [alert("quiet-closed", 1, "closed", rule="quiet")]
    alerts += [alert(f"noisy-{i}", 10 + i, rule="noisy") for i in range(3)]
    assert doomed(alerts, ttl=None, cap=3) == ["quiet-closed"]


def test_an_unknown_workflow_state_counts_as_open() -> None:
    alerts = [alert("odd", 9, "triaged"), alert("closed", 1, "closed")]
    assert doomed(alerts, ttl=None, cap=1) == ["closed"]


def test_one_pass_deletes_at_most_its_budget_expired_first() -> None:
    alerts = [alert(f"old-{i}", 48 + i) for i in range(4)] + [alert(f"n-{i}", i) for i in range(6)]
    found = retention.census(alerts, now=NOW, ttl=DAY, budget=3)
    assert (len(found.expired), found.expired_total, found.total) == (3, 4, 10)
    shares = retention.quotas(found.kept, cap=2, budget=0)
    assert shares == {}
    found = retention.census(alerts, now=NOW, ttl=None, budget=3)
    assert sum(retention.quotas(found.kept, cap=2, budget=3).values()) == 3


def test_nothing_goes_under_the_limits() -> None:
    alerts = [alert("a", 1), alert("b", 2, "closed")]
    assert doomed(alerts, ttl=datetime.timedelta(days=30), cap=2) == []
    assert doomed(alerts, ttl=None, cap=None) == []


def test_selection_keeps_the_oldest_whatever_the_listing_order() -> None:
    alerts = [alert(f"a-{i:03}", i / 10) for i in range(500)]
    shuffled = random.Random(7).sample(alerts, len(alerts))
    chosen = retention.select(shuffled, {(2, "r"): 7}, now=NOW, ttl=None)
    assert [name for name, _ in chosen] == [f"a-{i:03}" for i in range(499, 492, -1)]
    assert chosen[0][1] == "v-a-499"


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 60), min_size=1),
    st.integers(0, 500),
)
def test_fair_share_takes_from_the_largest_and_removes_exactly_what_is_asked(
    counts: dict[str, int], remove: int
) -> None:
    share = retention.fair_share(counts, remove)
    assert sum(share.values()) == min(remove, sum(counts.values()))
    kept = {rule: counts[rule] - share.get(rule, 0) for rule in counts}
    assert all(0 <= n <= counts[rule] for rule, n in kept.items())
    for rule, given_up in share.items():
        # A rule gave up alerts only while it held at least as many as any other.
        assert given_up > 0
        assert kept[rule] >= max(kept.values()) - 1


def test_stored_reads_an_alert_as_the_api_returns_it() -> None:
    item = {
        "metadata": {
            "name": "r-1",
            "creationTimestamp": "2026-11-28T11:00:00Z",
            "resourceVersion": "42",
            "labels": {"audithound.io/rule": "label-rule"},
        },
        "spec": {"workflowStatus": "acknowledged"},
    }
    assert retention.stored(item) == retention.Stored(
        "r-1",
        datetime.datetime(2026, 11, 28, 11, 0, tzinfo=datetime.UTC),
        "acknowledged",
        "label-rule",
        "42",
    )
    # The detection time orders alerts created within the same second; the spec names the
    # rule in full (a label is cut at 63 characters).
    item["spec"]["detectedTime"] = "2026-11-28T11:00:00.250000Z"
    item["spec"]["rule"] = {"name": "spec-rule"}
    found = retention.stored(item)
    assert found.created == datetime.datetime(2026, 11, 28, 11, 0, 0, 250000, tzinfo=datetime.UTC)
    assert found.rule == "spec-rule"
