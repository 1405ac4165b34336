"""Settings: defaults, SESSIONS_* variables, validation with clear messages."""

import ipaddress
import os

import pytest

from impl.config import SETTINGS, Config, default_db_path


def test_defaults_match_the_contract():
    c = Config()
    assert (c.idle_timeout, c.absolute_timeout, c.touch_interval) == (1800, 86400, 60)
    assert c.max_body_bytes == 64 * 1024
    assert c.trusted_proxies == () and c.https is False


def test_environment_overrides_defaults():
    c = Config.from_env(
        {
            "SESSIONS_IDLE_TIMEOUT": "4",
            "SESSIONS_TOUCH_INTERVAL": "1.5",
            "SESSIONS_HTTPS": "yes",
            "SESSIONS_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
            "UNRELATED": "x",
        }
    )
    assert c.idle_timeout == 4.0 and c.touch_interval == 1.5 and c.https is True
    assert c.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(("idle", "touch", "effective"), [(4, 60, 2), (60, 60, 30), (120, 60, 60), (10, 0, 0)])
def test_touch_interval_is_capped_at_half_the_idle_timeout(idle, touch, effective):
    assert Config(idle_timeout=idle, touch_interval=touch).touch_interval == effective


def test_to_env_round_trips():
    c = Config(db="/tmp/x.db", idle_timeout=5, touch_interval=1, trusted_proxies=(ipaddress.ip_network("::1"),))
    assert Config.from_env(c.to_env()) == c


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"idle_timeout": "0"}, "--idle-timeout must be positive"),
        ({"absolute_timeout": "-1"}, "--absolute-timeout must be positive"),
        ({"touch_interval": "-1"}, "--touch-interval must not be negative"),
        ({"scrypt_n": "1000"}, "--scrypt-n must be a power of two"),
        ({"idle_timeout": "soon"}, "--idle-timeout: 'soon' is not a valid number"),
        ({"https": "maybe"}, "--https-cookies: 'maybe' is not a valid yes/no value"),
        ({"header_timeout": "0"}, "--header-timeout must be positive"),
        ({"body_timeout": "-1"}, "--body-timeout must be positive"),
        ({"trusted_proxies": "proxy.local"}, "not an IP address"),
        ({"colour": "blue"}, "unknown setting"),
    ],
)
def test_invalid_settings_are_refused_with_a_clear_message(settings, message):
    with pytest.raises(ValueError, match=message):
        Config.from_mapping(settings)


def test_default_database_is_in_the_per_user_data_folder():
    assert default_db_path({"XDG_DATA_HOME": "/data/me"}) == "/data/me/sessions-reference/sessions.db"
    # The XDG specification ignores a relative value: the current folder must never matter.
    home = os.path.expanduser("~")
    expected = os.path.join(home, ".local", "share", "sessions-reference", "sessions.db")
    assert default_db_path({"XDG_DATA_HOME": "relative/dir"}) == expected
    assert default_db_path({}) == expected
    assert os.path.isabs(Config().db)


def test_every_setting_is_declared_once_with_a_flag_or_a_variable_and_help():
    for s in SETTINGS:
        assert s.help and (s.flag or s.env), s.name
        assert "_" not in (s.flag or ""), s.flag
    flags = [s.flag for s in SETTINGS if s.flag]
    variables = [name for s in SETTINGS for name in (s.env, *s.aliases) if name]
    assert len(flags) == len(set(flags)) and len(variables) == len(set(variables))


def test_the_database_has_one_name_and_its_old_variable_still_works():
    assert Config.from_env({"SESSIONS_DB_PATH": "/data/old.db"}).db == "/data/old.db"
    assert Config.from_env({"SESSIONS_DB": "/data/new.db", "SESSIONS_DB_PATH": "/data/old.db"}).db == "/data/new.db"
    assert Config(db="/data/x.db").to_env()["SESSIONS_DB"] == "/data/x.db"


def test_the_command_line_beats_the_environment_which_beats_the_default():
    environ = {"SESSIONS_IDLE_TIMEOUT": "40", "SESSIONS_THREADS": "3"}
    c = Config.from_env(environ, {"idle_timeout": 50.0})
    assert (c.idle_timeout, c.threads, c.absolute_timeout) == (50.0, 3, 86400)


def test_a_setting_without_a_flag_is_refused_by_its_variable_name():
    with pytest.raises(ValueError, match="SESSIONS_MAX_BODY_BYTES must be at least 1024"):
        Config.from_env({"SESSIONS_MAX_BODY_BYTES": "10"})
