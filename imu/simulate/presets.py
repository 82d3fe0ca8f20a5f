"""Named session scripts shipped with the package (imu/simulate/presets/*.toml)."""

from __future__ import annotations

from pathlib import Path

from imu.simulate.script import ScriptError, SessionScript, load_script

PRESET_DIR = Path(__file__).resolve().parent / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    return PRESET_DIR / f"{name}.toml"


def load_preset(name: str) -> SessionScript:
    """A shipped preset by name."""
    path = preset_path(name)
    if not path.is_file():
        raise ScriptError(name, "no such preset.", hint=f"presets: {', '.join(preset_names())}.")
    return load_script(path)


def resolve_script(spec: str | Path) -> SessionScript:
    """A script file (.toml / .json) if one exists at spec, else a preset of that name."""
    p = Path(spec)
    if p.is_file():
        return load_script(p)
    if p.suffix.lower() in (".toml", ".json") or len(p.parts) > 1:
        raise ScriptError(str(p), "no such script file.",
                          hint=f"or give a preset name: {', '.join(preset_names())}.")
    return load_preset(str(spec))


def preset_summary(name: str) -> str:
    """One line: the preset's description (or its name)."""
    sc = load_preset(name)
    return sc.description or sc.name
