"""A fetch's partitions reach the handler with the policies first: a worker catching up on
a backlog judges a sandbox's first samples by its policy, not by the default (the flaky
SASL_SSL round trip: a flood's one pids event counted under the default threshold)."""

from __future__ import annotations

from faust.types import TP

from processors.faust_batch import BatchingApp

NS = "t-order."


def test_the_policies_partitions_go_first_and_the_rest_keep_their_fetch_order() -> None:
    app = BatchingApp("t-order", broker="kafka://127.0.0.1:9", autodiscover=False)
    app.deliver_first([NS + "sandguard.policies"])
    fetched = {
        TP(NS + "sandguard.metrics", 0): ["m0"],
        TP(NS + "sandguard.processes", 1): ["p1"],
        TP(NS + "sandguard.policies", 1): ["pol1"],
        TP(NS + "sandguard.metrics", 1): ["m1"],
        TP(NS + "sandguard.policies", 0): ["pol0"],
    }
    order = [recs[0] for _, recs in app.in_delivery_order(fetched)]
    assert order == ["pol1", "pol0", "m0", "p1", "m1"]


def test_without_a_first_topic_the_fetch_order_stands() -> None:
    app = BatchingApp("t-order-none", broker="kafka://127.0.0.1:9", autodiscover=False)
    fetched = {TP(NS + "b", 0): [1], TP(NS + "a", 0): [2]}
    assert [recs[0] for _, recs in app.in_delivery_order(fetched)] == [1, 2]
