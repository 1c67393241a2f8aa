"""Which files a user's node command names on this machine, to go into the node image."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pytest_dchaos.backends.docker.backend import command_mounts
from pytest_dchaos.backends.swarm.backend import SwarmBackend
from pytest_dchaos.cluster.running import ClusterPlan
from pytest_dchaos.errors import HarnessError


def test_a_script_goes_in_with_its_folder_and_the_interpreter_is_the_images(
        tmp_path: Path) -> None:
    script = tmp_path / "nodes" / "node.py"
    script.parent.mkdir()
    script.write_text("")
    assert command_mounts(("/usr/bin/python3", str(script), "--fast")) == [str(script.parent)]


def test_a_file_in_a_top_level_folder_goes_in_alone() -> None:
    # Mounting all of /tmp read-only would take the node's own /tmp away.
    script = Path(tempfile.mkstemp(prefix="dchaos-node-", suffix=".py", dir="/tmp")[1])
    try:
        assert command_mounts(("python3", str(script))) == [str(script)]
    finally:
        script.unlink()


def test_words_that_are_not_paths_here_are_left_as_they_are(tmp_path: Path) -> None:
    assert command_mounts(("python3", "-m", "my.node", "--port", "7000")) == []
    assert command_mounts((str(tmp_path / "missing.py"),)) == []


def test_a_folder_covers_what_lies_in_it(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "x.py").write_text("")
    (tmp_path / "node").write_text("")
    assert command_mounts((str(tmp_path / "node"), str(tmp_path / "lib" / "x.py"),
                           str(tmp_path / "lib"))) == [str(tmp_path)]


def test_swarm_refuses_a_node_command_naming_files_here_before_it_starts_anything(
        tmp_path: Path) -> None:
    script = tmp_path / "nodes" / "node.py"
    script.parent.mkdir()
    script.write_text("")
    plan = ClusterPlan(run_id="r", node_ids=("n1",), command=("python3", str(script)),
                       workdir=tmp_path / "w", seed=1)
    with pytest.raises(HarnessError, match=rf"names files on this machine \({script.parent}\), "
                                           "which the swarm's other machines do not have"):
        SwarmBackend().provision(plan)
    assert not (tmp_path / "w").exists()
