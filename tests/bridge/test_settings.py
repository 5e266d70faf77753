"""Connector settings: TOML plus environment, one error listing every problem, no secret leaks."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.settings import EXAMPLES, ConfigError, ConnectorSettings
from workloads.errors import CobridgeError

PASSWORD = "hunter2-Pa55"
ATTACH_CODE = "ATTACH-7f3c9b1e"
MINIMAL = """\
[site]
db = "mssql://svc:{password}@sql.corp.example.com/CM_PS1"
[cloud]
connector_url = "https://cloud.example.com:8444"
ca_file = "/etc/cobridge/root.pem"
attach_code = "{code}"
"""

Write = Callable[[str], Path]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("COBRIDGE_CONNECTOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def _write(text: str) -> Path:
        path = tmp_path / "connector.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def minimal(extra: str = "") -> str:
    return MINIMAL.format(password=PASSWORD, code=ATTACH_CODE) + extra


def problems(path: Path | None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        ConnectorSettings.load(path)
    error = caught.value
    # No exception chained to it could carry a secret into a traceback.
    assert error.__cause__ is None
    assert error.__context__ is None
    assert PASSWORD not in str(error)
    assert ATTACH_CODE not in str(error)
    return error.problems


def test_the_example_loads_as_it_is_and_states_the_defaults(write: Write) -> None:
    text = ConnectorSettings.example_toml()
    settings = ConnectorSettings.load(write(text))
    defaults = ConnectorSettings.model_validate(
        {"site": {"db": "site.db"}, "cloud": tomllib.loads(text)["cloud"]}
    )
    assert settings.sync == defaults.sync
    assert settings.observability == defaults.observability
    assert settings.data_dir == defaults.data_dir
    assert settings.site.db.get_secret_value() == EXAMPLES["site.db"]
    assert settings.site.hierarchy_id == EXAMPLES["site.hierarchy_id"]
    assert str(settings.cloud.ca_file) == EXAMPLES["cloud.ca_file"]
    # Commented: every section and optional key is explained to the admin.
    for line in ("[site]", "[cloud]", "[sync]", "[state]", "[observability]", "# attach_code"):
        assert line in text
    assert sum(1 for line in text.splitlines() if line.startswith("#")) >= 25


def test_defaults_of_a_minimal_file(write: Write) -> None:
    settings = ConnectorSettings.load(write(minimal()))
    sync = settings.sync
    assert (sync.interval_seconds, sync.batch_size, sync.in_flight) == (60, 1000, 4)
    assert (sync.delete_guard_count, sync.delete_guard_percent) == (500, 10)
    assert (settings.observability.metrics_host, settings.observability.metrics_port) == (
        "127.0.0.1",
        9464,
    )
    assert settings.state_url().get_backend_name() == "sqlite"
    assert settings.state_url().database == str(settings.data_dir / "connector-state.db")
    assert settings.site.url().drivername == "mssql+pyodbc"
    assert settings.site.read_scope().collection_id is None
    assert settings.site.read_scope().agent_only is False


def test_environment_overrides_single_keys_and_keeps_the_rest(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(minimal("[sync]\ninterval_seconds = 5\nbatch_size = 100\n"))
    monkeypatch.setenv("COBRIDGE_CONNECTOR_SYNC__BATCH_SIZE", "2000")
    monkeypatch.setenv("COBRIDGE_CONNECTOR_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COBRIDGE_CONNECTOR_SITE__UPLOAD_SCOPE", "agent_only")
    monkeypatch.setenv("COBRIDGE_CONNECTOR_CONFIG", str(path))  # the CLI's, not a setting
    settings = ConnectorSettings.load(path)
    assert (settings.sync.interval_seconds, settings.sync.batch_size) == (5, 2000)
    assert settings.data_dir == tmp_path / "d"
    assert settings.site.read_scope().agent_only is True
    assert settings.cloud.connector_url == "https://cloud.example.com:8444"


def test_environment_alone_is_a_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBRIDGE_CONNECTOR_SITE__DB", "data/site.db")
    monkeypatch.setenv("COBRIDGE_CONNECTOR_CLOUD__CONNECTOR_URL", "https://c.example")
    monkeypatch.setenv("COBRIDGE_CONNECTOR_CLOUD__CA_FILE", "root.pem")
    settings = ConnectorSettings.load(None)
    assert settings.site.url().get_backend_name() == "sqlite"


def test_every_problem_is_listed_once_with_key_and_fix(write: Write) -> None:
    path = write(
        "data_dri = 'x'\n"
        "[site]\n"
        f'db = "mssql://svc:{PASSWORD}@sql/CM_PS1"\n'
        'hierarchy_id = "bad id"\n'
        'upload_scope = "collection"\n'
        "[cloud]\n"
        'connector_url = "http://cloud.example.com"\n'
        "[sync]\n"
        "intervall = 5\n"
        "batch_size = 9000\n"
        'in_flight = "many"\n'
        "delete_guard_percent = -1\n"
        "[observability]\n"
        'log_level = "verbose"\n'
    )
    found = problems(path)
    assert "sync.batch_size: 9000 is above 5000 -> use at most 5000" in found
    assert "sync.intervall: unknown key -> did you mean sync.interval_seconds?" in found
    assert "data_dri: unknown key -> did you mean data_dir?" in found
    assert "sync.in_flight: 'many' is not a whole number -> use a whole number" in found
    assert "sync.delete_guard_percent: -1 is below 0 -> use at least 0" in found
    assert (
        'cloud.ca_file: missing -> add ca_file = "/etc/cobridge/service-root.pem" under [cloud]'
        in found
    )
    expected_keys = {
        "site.hierarchy_id",
        "site.collection_id",
        "cloud.connector_url",
        "cloud.ca_file",
        "observability.log_level",
    }
    keys = {line.split(":")[0] for line in found}
    assert expected_keys <= keys
    assert len(found) == 10, found
    assert all(" -> " in line for line in found)


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ("[sync]\nbatch_size = 0\n", "sync.batch_size: 0 is below 1 -> use at least 1"),
        ("[sync]\ninterval_seconds = 0\n", "sync.interval_seconds: 0 is not above 0"),
        (
            "[observability]\nmetrics_port = 70000\n",
            "observability.metrics_port: 70000 is above 65535",
        ),
        ("[site]\nsync = 5\n", "site.sync: unknown key -> remove it (known: db, hierarchy_id,"),
        ("[synk]\nbatch_size = 1\n", "synk: unknown key -> did you mean sync?"),
        ("[state]\nbogus = 1\n", "state.bogus: unknown key -> remove it (known: db)"),
        ('[site]\nupload_scope = "all"\ncollection_id = "PS100014"\n', None),
    ],
)
def test_single_problems(write: Write, extra: str, line: str | None) -> None:
    text = (
        minimal(extra)
        if not extra.startswith("[site]")
        else minimal().replace("[site]\n", extra, 1)
    )
    found = problems(write(text))
    if line is None:
        assert found == [
            "site.collection_id: set, but upload_scope is 'all' -> set upload_scope = "
            '"collection" to upload only that collection, or remove it'
        ]
    else:
        assert len(found) == 1
        assert found[0].startswith(line), found


def test_scope_and_hierarchy(write: Write) -> None:
    text = minimal().replace(
        "[site]\n", '[site]\nupload_scope = "collection"\ncollection_id = "PS100014"\n'
    )
    settings = ConnectorSettings.load(write(text))
    assert settings.site.read_scope().collection_id == "PS100014"
    assert settings.hierarchy_for("from-site") == "from-site"
    pinned = ConnectorSettings.load(
        write(text.replace("[site]\n", '[site]\nhierarchy_id = "h1"\n'))
    )
    assert pinned.hierarchy_for(None) == "h1"
    assert pinned.hierarchy_for("h1") == "h1"
    with pytest.raises(
        ConfigError, match=r"site\.hierarchy_id: 'h1' but the site database records 'h2'"
    ):
        pinned.hierarchy_for("h2")
    with pytest.raises(ConfigError, match=r"site.hierarchy_id: missing.* -> add hierarchy_id"):
        settings.hierarchy_for(None)


def test_plain_http_only_when_allowed(write: Write) -> None:
    text = minimal().replace("https://cloud", "http://cloud")
    assert problems(write(text))[0].startswith("cloud.connector_url: plain http:// would send")
    allowed = ConnectorSettings.load(
        write(text.replace("[cloud]\n", "[cloud]\nallow_http = true\n"))
    )
    assert allowed.cloud.connector_url == "http://cloud.example.com:8444"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "connector.toml"
    found = problems(path)
    assert found == [
        f"{path}: the file does not exist -> pass the right --config path, "
        "or start from ConnectorSettings.example_toml()"
    ]
    assert issubclass(ConfigError, CobridgeError)


def test_toml_syntax_errors_give_line_and_column_but_not_the_line(write: Write) -> None:
    found = problems(write(minimal("[sync]\nbatch_size = 5\n\n[sync]\n")))
    assert len(found) == 1
    assert (
        ": line 10, column 6: Cannot declare ('sync',) twice -> fix the TOML syntax there"
        in found[0]
    )
    unterminated = problems(write(minimal(f'[state]\ndb = "postgresql://u:{PASSWORD}@h/x')))
    assert "line 8 (end of file): Unterminated string" in unterminated[0]


def test_secrets_never_appear_in_repr_dumps_or_summary(write: Write) -> None:
    settings = ConnectorSettings.load(
        write(minimal(f'[state]\ndb = "postgresql://cb:{PASSWORD}@db.example.com/cb"\n'))
    )
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.summary())]
    shown += [repr(settings.site.url()), repr(settings.state_url())]
    for text in shown:
        assert PASSWORD not in text
        assert ATTACH_CODE not in text
    # ...while the connector can still use them.
    assert settings.cloud.attach_code is not None
    assert settings.cloud.attach_code.get_secret_value() == ATTACH_CODE
    assert settings.site.url().password == PASSWORD
    assert settings.summary()["site"] == "mssql database 'CM_PS1' on sql.corp.example.com as svc"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("site.db", f"nosuchdb://svc:{PASSWORD}@sql/CM_PS1"),
        ("site.db", f"mssql://svc:{PASSWORD}@sql:port/CM_PS1"),
        ("site.db", f"://svc:{PASSWORD}@sql/CM_PS1"),
        ("state.db", f"postgresql://u:{PASSWORD}@h:port/x"),
        ("state.db", f"mysql://u:{PASSWORD}@h/x"),
        ("state.db", f"::{PASSWORD}::"),
        ("cloud.attach_code", ATTACH_CODE * 6),
        ("cloud.attach_code", PASSWORD[:5]),
    ],
)
def test_invalid_secrets_are_reported_without_their_value(
    write: Write, key: str, value: str
) -> None:
    section, name = key.split(".")
    data = tomllib.loads(minimal())
    data.setdefault(section, {})[name] = value
    text = "".join(
        f"[{s}]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items()) for s, keys in data.items()
    )
    found = problems(write(text))  # asserts the password and the code are absent
    assert len(found) == 1, found
    assert found[0].startswith(f"{key}: ")
    assert value not in found[0]
    assert " -> " in found[0]


@pytest.mark.parametrize("value", ["12345678", "true"])
def test_secrets_of_the_wrong_type_are_not_echoed(write: Write, value: str) -> None:
    text = minimal().replace(f'attach_code = "{ATTACH_CODE}"', f"attach_code = {value}")
    found = problems(write(text))
    assert found == ['cloud.attach_code: the value is not text -> quote it: attach_code = "..."']


def test_a_section_that_is_not_a_table(write: Write) -> None:
    found = problems(write("sync = 5\n" + minimal()))
    assert found == ["sync: not a table -> write it as a [sync] section with its keys below it"]


def test_environment_problems_name_the_variable(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBRIDGE_CONNECTOR_SYNC__BATCH_SIZE", "9000")
    monkeypatch.setenv("COBRIDGE_CONNECTOR_DATADIR", "/tmp/x")
    monkeypatch.setenv("COBRIDGE_CONNECTOR_CLOUD__ATTACH_CODE", "abc")
    found = problems(write(minimal()))
    assert (
        "sync.batch_size (COBRIDGE_CONNECTOR_SYNC__BATCH_SIZE): 9000 is above 5000 -> use at most 5000"
        in found
    )
    assert (
        "COBRIDGE_CONNECTOR_DATADIR: not a connector setting -> "
        "did you mean COBRIDGE_CONNECTOR_DATA_DIR?" in found
    )
    assert any(
        line.startswith("cloud.attach_code (COBRIDGE_CONNECTOR_CLOUD__ATTACH_CODE)")
        for line in found
    )
    assert len(found) == 3


def test_a_section_variable_that_is_not_json(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBRIDGE_CONNECTOR_SYNC", "fast")
    assert problems(write(minimal())) == [
        "sync (COBRIDGE_CONNECTOR_SYNC): not valid JSON -> "
        "set one key per variable, COBRIDGE_CONNECTOR_SYNC__<KEY>"
    ]
