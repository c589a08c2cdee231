"""Configuration: the demo community by default, a YAML file, env overrides, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from errors import ConfigError
from settings import load_settings

COMMUNITY_YAML = """
community:
  name: 海景花园
  zones:
    - {id: P1, name: 地下一层, capacity: 120}
  gates:
    - {id: north-in, kind: vehicle, direction: in, zone: P1,
       camera: {source: "rtsp://10.0.0.5/stream1", fps: 5}}
    - {id: north-out, kind: vehicle, direction: out, zone: P1}
access:
  anti_passback: hard
"""


def test_without_a_file_the_demo_community_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    settings = load_settings()
    assert {g.id for g in settings.community.gates} == {"main-in", "main-out", "ped-1"}
    assert {(z.id, z.capacity) for z in settings.community.zones} == {("A", 40), ("B", 20)}
    assert settings.gate("ped-1").kind == "pedestrian"  # type: ignore[union-attr]
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_yaml_file_describes_the_community(tmp_path: Path) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(COMMUNITY_YAML, encoding="utf-8")
    settings = load_settings(path)
    assert settings.community.name == "海景花园"
    assert settings.gate("north-in").camera.fps == 5  # type: ignore[union-attr]
    assert settings.access.anti_passback == "hard"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(COMMUNITY_YAML, encoding="utf-8")
    monkeypatch.setenv("PARKGATE_CONFIG", str(path))
    monkeypatch.setenv("PARKGATE_ACCESS__ANTI_PASSBACK", "off")
    monkeypatch.setenv("PARKGATE_API__PORT", "9001")
    settings = load_settings()
    assert settings.access.anti_passback == "off"
    assert settings.api.port == 9001
    assert settings.community.name == "海景花园"


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("access:\n  anti_pasback: hard\n", "unknown key 'access.anti_pasback'"),
        ("colour: red\n", "unknown key 'colour'"),
        (
            "community:\n  name: x\n  zones: [{id: A, capacity: 1}]\n"
            "  gates: [{id: g, kind: vehicle, direction: in, zone: Z}]\n",
            "names zone 'Z'",
        ),
        (
            "community:\n  name: x\n  zones: [{id: A, capacity: 1}, {id: A, capacity: 2}]\n"
            "  gates: []\n",
            "duplicate zone id",
        ),
        ("access:\n  anti_passback: sometimes\n", "access.anti_passback"),
        ("- just\n- a list\n", "mapping"),
        ("access: [unclosed\n", "not valid"),
    ],
    ids=["typo", "unknown-top", "gate-zone", "dup-zone", "bad-literal", "list", "syntax"],
)
def test_bad_files_are_refused_naming_key_and_file(
    tmp_path: Path, yaml_text: str, needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_production_refuses_insecure_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PARKGATE_SECRET_KEY"):
        load_settings(None, environment="production", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="camera API keys"):
        load_settings(
            None,
            environment="production",
            secret_key="x" * 40,
            camera_api_keys={"gate-cam": "short"},
        )
    ok = load_settings(None, environment="production", secret_key="x" * 40, data_dir=tmp_path)
    assert ok.signing_key() == "x" * 40


def test_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings(None, data_dir=tmp_path).signing_key()
    again = load_settings(None, data_dir=tmp_path).signing_key()
    assert first == again and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
