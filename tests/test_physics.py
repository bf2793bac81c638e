"""The virtual board's physical model, on its own."""

import pytest

from hemlas.boards import load_board
from hemlas.sim.physics import Cell, Circuit, Loads, solve_terminal


@pytest.mark.parametrize("board", ["virtual", "esp32-devkitc", "esp32c3"])
def test_loaded_voltage_sags_more_as_the_cell_empties(board):
    cfg = load_board(board)["battery"]
    load = Loads(base_ma=40, conductance=1 / 8.2)
    sags = []
    for soc in (1.0, 0.5, 0.1, 0.03, 0.005):
        cell = Cell(cfg, soc)
        loaded, _ = solve_terminal(cell, load)
        sags.append((cell.ocv_mv() - loaded) / cell.ocv_mv())
    assert sags == sorted(sags), "internal resistance grows as the cell empties"
    assert sags[-1] > 3 * sags[0]


def test_lithium_voltage_is_flat_until_near_the_end():
    cfg = load_board("virtual")["battery"]
    full, half, tenth = (Cell(cfg, soc).ocv_mv() for soc in (1.0, 0.5, 0.1))
    assert full - tenth < 250  # why voltage alone warns late
    assert half > 3600


def test_bolt_travels_in_the_board_time_and_stalls_at_the_end():
    board = load_board("virtual")
    circuit = Circuit.for_board(board, 0.0)
    circuit.bolt.set_drive(0.0, 1, 1.0)
    circuit.advance(0.3)
    assert 0.3 < circuit.bolt.position < 0.7
    circuit.advance(1.0)
    assert circuit.bolt.at_locked_end()
    stall_ma = circuit.bolt.motor_ma
    assert stall_ma > board["motor"]["stall_ma"], "pushing on the end stop is a stall"
    circuit.bolt.set_drive(1.0, -1, 1.0)
    circuit.advance(1.2)
    running_ma = circuit.bolt.motor_ma
    assert running_ma == pytest.approx(board["motor"]["run_ma"])


def test_a_jam_blocks_the_bolt():
    circuit = Circuit.for_board(load_board("virtual"), 0.0)
    circuit.bolt.set_jam(0.4)
    circuit.bolt.set_drive(0.0, 1, 1.0)
    circuit.advance(2.0)
    assert circuit.bolt.position == pytest.approx(0.4)
    assert not circuit.bolt.at_locked_end()
    circuit.bolt.set_drive(2.0, -1, 1.0)  # backing off from the obstruction is free
    circuit.advance(2.1)
    assert circuit.bolt.position < 0.3


def test_charge_drains_with_current():
    board = load_board("virtual")
    circuit = Circuit.for_board(board, 0.0)
    circuit.base_ma = 3600.0
    circuit.advance(2.0)  # 3.6 A for 2 s is 2 mAh
    assert circuit.cell.used_mah == pytest.approx(2.0, rel=0.02)
    assert circuit.cell.soc == pytest.approx(1 - 2.0 / board["battery"]["capacity_mah"], rel=1e-6)


def test_soc_for_a_loaded_reading_inverts_the_model():
    circuit = Circuit.for_board(load_board("virtual"), 0.0)
    soc = circuit.soc_for_loaded_mv(2950)
    assert circuit.loaded_mv_under_test_load(soc) == pytest.approx(2950, abs=2)


def test_each_power_state_draws_its_board_current():
    from hemlas.sim.pins import PinBank

    board = load_board("esp32c3")
    power = board["power"]
    pins = PinBank(board, 0.0, lambda pin: None)
    cell = pins.circuit.cell

    def drawn_mah(seconds, at):  # x10: mA over a tenth of an hour
        before = cell.used_mah
        pins.advance(at + seconds)
        return cell.used_mah - before

    assert 10 * drawn_mah(360, 0) == pytest.approx(power["active_ma"], rel=1e-3)  # awake, radio idle
    pins.set_radio(True, 0, 360, interval_ms=500)  # advertising at 500 ms: a fifth of the 100 ms figure
    assert 10 * drawn_mah(360, 360) == pytest.approx(power["active_ma"] + power["adv_ma"] / 5, rel=1e-3)
    pins.set_radio(False, 1, 720)
    assert 10 * drawn_mah(360, 720) == pytest.approx(power["active_ma"] + power["conn_ma"], rel=1e-3)
    pins.set_sleep(True, 1080)  # deep sleep: the radio is off with the CPU
    assert 10 * drawn_mah(360, 1080) == pytest.approx(power["sleep_ua"] / 1000, rel=1e-3)
    pins.set_sleep(False, 1440)
    pins.set_powered(False, 1440)  # the battery is out
    assert 10 * drawn_mah(360, 1440) == 0


@pytest.mark.parametrize("board", ["virtual", "esp32-devkitc", "esp32c3"])
def test_an_itemised_sleep_current_adds_up_to_the_boards_figure(board):
    """The board file's sleep_ua is the one figure the model draws asleep; where the board
    itemises it (sleep_parts_ua: chip, regulator, divider, knock sensor), the parts must add up,
    or the power table's breakdown would not be the current the battery sees."""
    power = load_board(board)["power"]
    parts = power.get("sleep_parts_ua")
    if parts is not None:
        assert sum(parts.values()) == pytest.approx(power["sleep_ua"], abs=1e-6)


def test_the_knock_sensors_budget_is_a_rate_its_low_power_mode_has():
    """The LIS2DW12's low-power modes sample at 1.6-200 Hz (faster needs high-performance mode,
    ~90 uA): a board that asks for more in low power gets 200 Hz and a budget for a mode that
    never runs. The sensor's figure is the one the sleep current itemises."""
    board = load_board("esp32c3")
    accel = board["accel"]
    assert accel["odr_hz"] <= 200
    assert board["power"]["sleep_parts_ua"]["knock_sensor"] == accel["ua"]


def test_a_long_sleep_integrates_in_few_steps_and_as_exactly_as_small_ones(monkeypatch):
    """A minute's deep sleep is integrated when the lock wakes, inside the wake: in 2 ms steps
    that took ~0.3 s of the host's time, which the board model then charged at full current as
    the chip's start-up (boot_ms is 50 on the c3): 100 uA of a 390 uA budget that no chip
    spends. With the motor off a step may be long; the charge must come out the same."""
    import hemlas.sim.physics as physics

    board = load_board("esp32c3")
    calls = []
    real_solve = physics.solve_terminal
    monkeypatch.setattr(physics, "solve_terminal", lambda *a: calls.append(1) or real_solve(*a))

    coarse = Circuit.for_board(board, 0.0)
    coarse.base_ma = board["power"]["sleep_ua"] / 1000
    coarse.advance(57.0)
    assert len(calls) < 200, f"{len(calls)} steps for a 57 s sleep"

    fine = Circuit.for_board(board, 0.0)
    fine.base_ma = coarse.base_ma
    t = 0.0
    while t < 57.0:  # the reference: the small step throughout
        t = min(57.0, t + physics._STEP_S)
        fine.advance(t)
    assert coarse.cell.used_mah == pytest.approx(fine.cell.used_mah, rel=1e-9)
    assert coarse.supply_mv == pytest.approx(fine.supply_mv, rel=1e-6)

    # the motor running still moves in small steps: a bolt's travel is not skipped
    moving = Circuit.for_board(board, 0.0)
    moving.bolt.set_drive(0.0, 1, 1.0)
    calls.clear()
    moving.advance(0.1)
    assert len(calls) >= 0.1 / physics._STEP_S
