from __future__ import annotations

import pytest

from sandbox import labels as lb
from sandbox.exceptions import InvalidSandboxRequest


def test_user_labels_may_not_impersonate_ours() -> None:
    with pytest.raises(InvalidSandboxRequest, match="reserved"):
        lb.check_user_labels({"sandguard.policy_id": "pol-fake"})


@pytest.mark.parametrize(
    "labels",
    [{"": "x"}, {"k" * 200: "v"}, {"k": "v" * 2000}, {f"k{i}": "v" for i in range(100)}, {"k": 1}],
)
def test_bad_labels_are_refused_with_the_reason(labels: dict[str, object]) -> None:
    with pytest.raises(InvalidSandboxRequest) as info:
        lb.check_user_labels(labels)  # type: ignore[arg-type]
    assert info.value.field == "labels"


def test_ours_win_over_the_users() -> None:
    base = lb.manager_labels("m1", "host-a", {"run": "r1"})
    out = lb.sandbox_labels(
        base,
        name="n",
        policy_id="pol-1",
        policy_name="default",
        network_policy="none",
        expires_at=5,
        user={"team": "a"},
    )
    assert out[lb.SANDBOX] == "1" and out[lb.MANAGER] == "m1" and out[lb.POLICY_ID] == "pol-1"
    assert out["team"] == "a" and out["run"] == "r1" and out[lb.EXPIRES_AT] == "5"


def test_no_labels_is_fine() -> None:
    assert lb.check_user_labels(None) == {}
