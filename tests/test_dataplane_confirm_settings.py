"""DATAPLANE_CONFIRM_SECONDS, the bound on the read-your-writes wait, is parsed
strictly: read from the settings module itself, so a change of its default,
bound or parser there is what these tests see."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.test_settings import environment  # noqa: F401 - the fixture that loads console/settings.py


@pytest.mark.parametrize("value, expected", [(None, 2.0), ("0", 0.0), ("0.5", 0.5), ("30", 30.0)])
def test_it_reads_a_bound_from_0_to_30_seconds(environment, value, expected):  # noqa: F811
    settings = environment() if value is None else environment(DATAPLANE_CONFIRM_SECONDS=value)
    assert settings["DATAPLANE_CONFIRM_SECONDS"] == expected


@pytest.mark.parametrize("value, message", [("soon", "must be a number"), ("-1", "must not be negative"),
                                            ("31", "must be from 0 to 30 seconds"),
                                            ("nan", "must be from 0 to 30 seconds")])
def test_it_refuses_a_malformed_bound(environment, value, message):  # noqa: F811
    with pytest.raises(ImproperlyConfigured, match=f"DATAPLANE_CONFIRM_SECONDS {message}"):
        environment(DATAPLANE_CONFIRM_SECONDS=value)
