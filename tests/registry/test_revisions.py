"""The registry finds its schema current without Alembic (registry/migrate.py): the newest
revision is read from the scripts' names, so the scripts must keep the naming it reads."""

from __future__ import annotations

import subprocess
import sys

from alembic.config import Config
from alembic.script import ScriptDirectory

from forwardpass.registry import migrate


def test_the_newest_script_by_name_is_alembics_one_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == [migrate.head()]
    for script in scripts.walk_revisions():
        assert script.path is not None
        assert script.path.split("/")[-1].startswith(f"{script.revision}_"), script.path


def test_a_current_registry_opens_without_importing_alembic(tmp_path) -> None:
    """What each CLI command and server start saves; an older registry is still migrated
    (tests/registry/test_run_timeout.py opens one at 0005)."""
    code = (
        "import sys; from pathlib import Path; from forwardpass.registry import Registry; "
        "from forwardpass.settings import Settings; "
        "Registry.open(Settings(data_dir=Path(sys.argv[1]))).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    first = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() != b"[]"  # an empty registry: created by its migrations
    again = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == b"[]"
