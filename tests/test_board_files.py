"""Board files: BOARD goes to the unit, HOST (what only the host reads) stays on the host.

Every name the unit's board.py holds is a qstr and every value heap on the lock (issue 12's
footprint), so the unit gets the file up to the end of BOARD and the host reads both, merged."""

import ast

import pytest

from hemlas import boards
from hemlas.boards import board_names, load_board, unit_board_file
from hemlas.errors import BoardError


def _assignments(text: str) -> dict:
    """The file's top-level literals by name, read independently of hemlas.boards."""
    return {node.targets[0].id: ast.literal_eval(node.value)
            for node in ast.parse(text).body if isinstance(node, ast.Assign)}


def _host_fields(host: dict) -> list[tuple[str, ...]]:
    """HOST's fields as paths: ("chip",), ("battery", "r_curve"), ..."""
    return [(key, sub) for key, value in host.items() if isinstance(value, dict) for sub in value] + \
        [(key,) for key, value in host.items() if not isinstance(value, dict)]


@pytest.mark.parametrize("name", board_names())
def test_the_unit_gets_board_alone_and_the_host_reads_both(name):
    whole = _assignments(boards.board_path(name).read_text())
    unit = unit_board_file(name).decode()
    namespace: dict = {}
    exec(compile(unit, "board.py", "exec"), namespace)  # as the unit runs it: a plain module
    assert "HOST" not in namespace and namespace["BOARD"] == whole["BOARD"]
    host = whole.get("HOST", {})
    merged = load_board(name)
    for path in _host_fields(host):
        section = namespace["BOARD"] if len(path) == 1 else namespace["BOARD"].get(path[0], {})
        assert path[-1] not in section, f"{path} is in HOST and on the unit"
        value = merged
        for key in path:
            value = value[key]
        assert value == (host[path[0]] if len(path) == 1 else host[path[0]][path[1]])
    # Everything BOARD holds, the host reads as it is.
    for key, value in whole["BOARD"].items():
        if isinstance(value, dict):
            assert {k: merged[key][k] for k in value} == value
        else:
            assert merged[key] == value


def test_the_virtual_board_keeps_what_only_the_host_reads_off_the_unit():
    """The fields the firmware never reads (its sources name none of them as a board key)."""
    unit = _assignments(unit_board_file("virtual").decode())["BOARD"]
    assert "chip" not in unit and "r_curve" not in unit["battery"] and "winding_ohm" not in unit["motor"]
    assert "brownout_mv" not in unit["power"] and "boot_ms" not in unit["power"]
    merged = load_board("virtual")
    assert merged["chip"] == "esp32" and merged["battery"]["r_curve"][0] == (0.0, 4000)


def _board_file(tmp_path, monkeypatch, text: str) -> str:
    (tmp_path / "bench.py").write_text(text)
    monkeypatch.setattr(boards, "boards_dir", lambda: tmp_path)
    return "bench"


def test_a_field_in_both_parts_is_refused(tmp_path, monkeypatch):
    name = _board_file(tmp_path, monkeypatch, 'BOARD = {"motor": {"travel_ms": 1}}\nHOST = {"motor": {"travel_ms": 2}}\n')
    with pytest.raises(BoardError, match="motor.travel_ms in both BOARD and HOST"):
        load_board(name)
    name = _board_file(tmp_path, monkeypatch, 'BOARD = {"chip": "esp32"}\nHOST = {"chip": "esp32c3"}\n')
    with pytest.raises(BoardError, match="chip in both BOARD and HOST"):
        load_board(name)


def test_host_before_board_is_refused(tmp_path, monkeypatch):
    """The unit's file is cut at the end of BOARD: a HOST above it would go to the unit."""
    name = _board_file(tmp_path, monkeypatch, 'HOST = {"chip": "esp32"}\nBOARD = {"name": "x"}\n')
    with pytest.raises(BoardError, match=r"HOST before BOARD"):
        unit_board_file(name)


def test_a_board_without_host_is_read_whole(tmp_path, monkeypatch):
    name = _board_file(tmp_path, monkeypatch, '# a comment\nBOARD = {"name": "x", "power": {"led_ma": 5}}\n')
    assert load_board(name) == {"name": "x", "power": {"led_ma": 5}}
    assert unit_board_file(name) == b'# a comment\nBOARD = {"name": "x", "power": {"led_ma": 5}}\n'
