"""The report's disk use beside the quota (issue 15)."""

from __future__ import annotations

from reporting.reports import disk_summary


def test_use_beside_the_quota_from_the_newest_sample() -> None:
    policy = {"resource_limits": {"disk_mb": 400}}  # /work 275 + /tmp 100
    recent = [{"disk_usage_mb": 300.0}, {"disk_usage_mb": 10.0}]  # newest first
    assert disk_summary(policy, recent) == {"usage_mb": 300.0, "quota_mb": 375, "used_percent": 80.0}


def test_unknown_policy_or_no_samples_say_so() -> None:
    assert disk_summary(None, []) == {"usage_mb": None, "quota_mb": None, "used_percent": None}
    assert disk_summary({"resource_limits": {"disk_mb": 1024}}, []) == {
        "usage_mb": None,
        "quota_mb": 960,
        "used_percent": None,
    }
