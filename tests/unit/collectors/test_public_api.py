"""The collectors package's public names: a change here is a change for the lead's wiring."""

from __future__ import annotations

import collectors


def test_public_names() -> None:
    assert set(collectors.__all__) == {
        "SANDBOX_LABEL",
        "CgroupLocator",
        "CgroupNotFoundError",
        "CgroupPaths",
        "Clock",
        "Collector",
        "CollectorConfig",
        "CollectorError",
        "CollectorStateError",
        "ContainerGoneError",
        "ContainerInfo",
        "ContainerLister",
        "DockerSdkPort",
        "SystemClock",
        "lifecycle_event",
    }
    for name in collectors.__all__:
        assert getattr(collectors, name) is not None
