"""ST's LIS2DW12 accelerometer at register level: the virtual board's knock sensor (wired to
the board by sim/door.py), written from ST's register header, never from the firmware.

Sources. "reg.h"/"reg.c": ST's lis2dw12-pid driver (github.com/STMicroelectronics/lis2dw12-pid,
lis2dw12_reg.h and lis2dw12_reg.c at d0a476d): register addresses, bit fields, enums and the
raw-to-mg conversions. "DS": datasheet DS11880 (LIS2DW12); "AN": application note AN5038. Only
the first page of each could be read here (the DS's features: "50 nA in power-down mode, below
1 uA in active low-power mode", "down to 1.3 mg RMS in low-power mode"); their other facts used
here are the ones ST's driver comments and ST's answers on its community forum quote. Where
none of these says, the choice is named "assumed" or "not read here" below.

Model, pure (time is passed in, as in physics.py):
- Samples at the ODR (CTRL1 ODR[3:0], MODE[1:0]; reg.h lis2dw12_odr_t: 1 is 12.5 Hz in
  high-performance mode and 1.6 Hz "LP_ONLY"; codes 7-9 run at 200 Hz in low-power mode: the
  DS's ODR table, not read here),
  each one the source's acceleration at that instant plus Gaussian noise, clipped at the full
  scale (CTRL6 FS) and quantized: 12 bits in low-power mode 1, else 14, left-justified in 16
  (reg.c lis2dw12_from_fs2_to_mg: (raw >> 2) * 0.244; _lp1_: (raw >> 4) * 0.976, i.e. 0.061 mg
  per raw LSB at +-2 g, doubling with each full scale). Power-down (ODR 0) samples nothing.
  Point samples: no anti-aliasing filter is modelled (assumed: a low-power-mode sample is one
  short conversion; the DS gives low-power noise in mg RMS, not per root hertz).
- Wake-up (AN: "wake-up interrupt"): the wake-up function sees the high-pass path unless
  USR_OFF_ON_WU is set (ST forum, "LIS2DTW12 wake up filter", 2021: "USR_OFF_ON_WU was set to 0
  so the filter path for the wake-up function was high pass even if FDS was 0"). With BW_FILT 00
  the high-pass is the slope filter, (a[n] - a[n-1]) / 2 (the formula ST gives for its slope
  filter in AN5130, for the LSM6DS3TR-C; assumed for this part); BW_FILT 01/10/11 a first-order high-pass at
  ODR/4, /10, /20 (reg.h lis2dw12_bw_filt_t). An axis whose |filtered| exceeds WK_THS x FS/64
  (reg.c wkup_threshold_set: "1 LSB = FS_XL / 64") for more than WAKE_DUR samples ("1 LSb =
  1 / ODR") is a wake-up: WU_IA and the axis bits in WAKE_UP_SRC, WU_IA in STATUS and ALL_INT_SRC.
  The event rises when the threshold is crossed upward (ST forum, same thread: "the interrupt
  rises when the ... threshold is down to up crossed (for a specific duration)"). Latched (CTRL3
  LIR, reg.h LIS2DW12_INT_LATCHED) it holds until WAKE_UP_SRC or ALL_INT_SRC is read; pulsed it
  ends when the filtered data fall below the threshold. The first sample after power-down has
  no predecessor: the filter starts from it (assumed; no start-up spike).
- INT1 shows the wake-up when CTRL4 INT1_WU routes it and CTRL7 INTERRUPTS_ENABLE is set (reg.c
  pin_int1_route_set sets interrupts_enable exactly when an embedded function is routed to a pad).
  CTRL3 H_LACTIVE 1 is active low, PP_OD 1 open drain (reg.h lis2dw12_h_lactive_t, _pp_od_t):
  int1_pad() is the level the part drives, or None when its open drain is released. At the
  defaults (push-pull, active high) an idle INT1 drives low.
- The FIFO, the user-offset wake-up path and single tap: sim/lis2dw12_fifo.py (its sources).
- Not modelled: double tap, 6D, free-fall, activity/inactivity (SLEEP_ON), single-conversion
  mode (MODE 10: never samples here), user offsets on the outputs (USR_OFF_ON_OUT), HP
  reference mode, self-test, INT2 and DRDY on a pad. The temperature reads 25 degC.
"""

from __future__ import annotations

import math
import random

from .lis2dw12_fifo import ALL_SINGLE_TAP, FIFO_CTRL, FIFO_SAMPLES, TAP_SRC, FifoAndTap

WHO_AM_I, LIS2DW12_ID = 0x0F, 0x44  # reg.h LIS2DW12_WHO_AM_I, LIS2DW12_ID
I2C_ADDRESSES = (0x18, 0x19)  # reg.h LIS2DW12_I2C_ADD_L/_H 0x31/0x33 are 8-bit: (addr << 1) | R
CTRL1, CTRL2, CTRL3, CTRL4_INT1_PAD_CTRL, CTRL6 = 0x20, 0x21, 0x22, 0x23, 0x25
STATUS, OUT_X_L, OUT_Z_H = 0x27, 0x28, 0x2D
WAKE_UP_THS, WAKE_UP_DUR, STATUS_DUP, WAKE_UP_SRC, ALL_INT_SRC, CTRL7 = 0x34, 0x35, 0x37, 0x38, 0x3B, 0x3F
# reg.h: what the user writes (CTRL1..CTRL6, FIFO_CTRL, TAP_THS..FREE_FALL, the offsets, CTRL7);
# the rest are outputs, and addresses the header names nothing at are reserved.
WRITABLE = frozenset((0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x2E, *range(0x30, 0x37), 0x3C, 0x3D, 0x3E, 0x3F))
# Power-on: every user register 0 but CTRL2, IF_ADD_INC (reg.h bit 2) set (the DS's register
# map, not read here: the header gives no defaults; reg.c reset_set "restore the default values").
_DEFAULTS = {CTRL2: 0x04}
_CTRL2_BOOT, _CTRL2_SOFT_RESET, _CTRL2_IF_ADD_INC, _CTRL2_BDU = 0x80, 0x40, 0x04, 0x08
_CTRL3_PP_OD, _CTRL3_LIR, _CTRL3_H_LACTIVE = 0x20, 0x10, 0x08
_CTRL4_INT1_WU = 0x20
_CTRL6_FDS = 0x08
_CTRL7_INTERRUPTS_ENABLE = 0x20
_STATUS_DRDY, _STATUS_WU_IA = 0x01, 0x40
_SRC_WU_IA, _SRC_AXES = 0x08, (0x04, 0x02, 0x01)  # WAKE_UP_SRC: WU_IA, X_WU, Y_WU, Z_WU
_ALL_WU_IA = 0x02
# CTRL1 ODR[3:0] -> Hz: high-performance mode, and low-power (reg.h lis2dw12_odr_t).
_ODR_HP = (0, 12.5, 12.5, 25, 50, 100, 200, 400, 800, 1600)
_ODR_LP = (0, 1.6, 12.5, 25, 50, 100, 200, 200, 200, 200)
_FS_G = (2, 4, 8, 16)  # CTRL6 FS[1:0]: reg.h lis2dw12_fs_t
_HP_DIVIDER = (None, 4, 10, 20)  # BW_FILT: 00 the slope filter, then ODR/4, /10, /20


class Lis2dw12(FifoAndTap):
    """One part, powered. source(t) -> (x, y, z) in mg is the acceleration it sits in."""

    def __init__(self, source, now: float, noise_mg: float = 2.0, seed: int = 1):
        self.source = source
        self.noise_mg = noise_mg
        self._random = random.Random(seed)
        self.reserved_writes: list[int] = []  # DS: writing a reserved register may damage the part
        self.power_on(now)

    def power_on(self, now: float) -> None:
        """Power-on reset (also SOFT_RESET): the user registers at their defaults."""
        self.regs = bytearray(0x40)
        for reg, value in _DEFAULTS.items():
            self.regs[reg] = value
        self.out = [0, 0, 0]  # raw 16-bit outputs, X Y Z
        self._held: list[int] | None = None  # BDU: outputs frozen from a low byte to its high byte
        self._drdy = False
        self._odr = self._period = 0.0
        self._next_t: float | None = None
        self._over = 0  # consecutive samples above the wake-up threshold
        self._active = 0  # WAKE_UP_SRC bits of a wake-up in progress (pulsed mode's view)
        self._latched = 0  # WAKE_UP_SRC bits held for a read (latched mode)
        self._reset_fifo_and_tap()
        self._fifo_out: list[int] | None = None  # the FIFO sample a burst of OUT reads is taking
        if not hasattr(self, "pad_changes"):
            self.pad_changes: list[tuple[float, int | None]] = []  # INT1 (time, level), for the board
            self._pad = self.int1_pad()
        self._restart_sampling(now)
        self._pad_update(now)

    # ---- what the configuration means --------------------------------------------------

    def odr_hz(self) -> float:
        ctrl1 = self.regs[CTRL1]
        odr, mode = ctrl1 >> 4, (ctrl1 >> 2) & 3
        if odr >= len(_ODR_HP) or mode > 1:  # single conversion and the reserved mode: no stream
            return 0.0
        return float((_ODR_HP if mode == 1 else _ODR_LP)[odr])

    def full_scale_mg(self) -> float:
        return _FS_G[(self.regs[CTRL6] >> 4) & 3] * 1000.0

    def _resolution_bits(self) -> int:
        return 12 if self.regs[CTRL1] & 0x0F == 0 else 14  # MODE 00, LP_MODE 00: low-power mode 1

    def mg_per_lsb(self) -> float:
        """mg per raw 16-bit LSB: 0.061 at +-2 g (reg.c: 0.244 per 14-bit LSB), at any resolution."""
        return 0.061 * self.full_scale_mg() / 2000.0

    def wake_threshold_mg(self) -> float:
        return (self.regs[WAKE_UP_THS] & 0x3F) * self.full_scale_mg() / 64

    def _wake_dur(self) -> int:
        return (self.regs[WAKE_UP_DUR] >> 5) & 3

    def int1_pad(self) -> int | None:
        """The level INT1 drives now: 0 or 1, or None for a released open drain."""
        ctrl3 = self.regs[CTRL3]
        routed = self._flags() & _SRC_WU_IA and self.regs[CTRL4_INT1_PAD_CTRL] & _CTRL4_INT1_WU
        shown = (routed or self._tap_on_int1()) and self.regs[CTRL7] & _CTRL7_INTERRUPTS_ENABLE
        level = int(bool(shown)) ^ int(bool(ctrl3 & _CTRL3_H_LACTIVE))
        if ctrl3 & _CTRL3_PP_OD and level:
            return None  # open drain: only pulls low; the board's pull-up makes the high
        return level

    def _flags(self) -> int:
        """WAKE_UP_SRC as it reads now."""
        return self._latched if self.regs[CTRL3] & _CTRL3_LIR else self._active

    # ---- time --------------------------------------------------------------------------

    def _restart_sampling(self, now: float) -> None:
        """A new ODR starts a new sample clock (and the filters afresh); the same one runs on."""
        odr = self.odr_hz()
        if odr == self._odr:
            return
        self._odr = odr
        self._prev, self._hp = None, [0.0, 0.0, 0.0]
        self._period = 1.0 / odr if odr else 0.0
        self._next_t = now + self._period if odr else None

    def advance(self, now: float) -> None:
        """Take every sample due by now."""
        while self._next_t is not None and self._next_t <= now:
            self._sample(self._next_t)
            self._next_t += self._period

    def _sample(self, t: float) -> None:
        fs = self.full_scale_mg()
        lsb = self.mg_per_lsb()
        step = 1 << (16 - self._resolution_bits())
        data = [self._raw(min(max(value + self._random.gauss(0.0, self.noise_mg), -fs), fs), lsb, step)
                for value in self.source(t)]
        sample_mg = [raw * lsb for raw in data]
        filtered = self._high_pass(sample_mg)
        if self.regs[CTRL6] & _CTRL6_FDS:  # the high-pass path on the outputs too
            data = [self._raw(value, lsb, step) for value in filtered]
        self.out = data
        self._drdy = True
        self._fifo_write(data)  # before the wake-up: the trigger's own sample is stored
        self._tap(filtered)
        self._wake_up(self._wake_up_input(sample_mg, filtered), t)

    @staticmethod
    def _raw(mg: float, lsb: float, step: int) -> int:
        """mg as the 16-bit output: quantized to the resolution, saturated at the full scale."""
        return min(max(int(round(mg / lsb / step)) * step, -32768), 32768 - step)

    def _high_pass(self, mg: list[float]) -> list[float]:
        prev, self._prev = self._prev or mg, mg
        divider = _HP_DIVIDER[self.regs[CTRL6] >> 6]
        if divider is None:  # the slope filter
            return [(a - b) / 2 for a, b in zip(mg, prev)]
        alpha = 1.0 / (1.0 + 2 * math.pi / divider)  # first order, cut-off ODR / divider
        self._hp = [alpha * (h + a - b) for h, a, b in zip(self._hp, mg, prev)]
        return self._hp

    def _wake_up(self, filtered: list[float], t: float) -> None:
        threshold = self.wake_threshold_mg()
        axes = 0
        for bit, value in zip(_SRC_AXES, filtered):
            if abs(value) > threshold:
                axes |= bit
        self._over = self._over + 1 if axes else 0
        if self._over > self._wake_dur():
            if self._over == self._wake_dur() + 1:
                self._fifo_trigger()
                if self.regs[CTRL3] & _CTRL3_LIR:
                    self._latched |= _SRC_WU_IA | axes  # crossed upward, for long enough: held
            self._active = _SRC_WU_IA | axes
        else:
            self._active = 0
        self._pad_update(t)

    def _pad_update(self, t: float) -> None:
        pad = self.int1_pad()
        if pad != self._pad:
            self._pad = pad
            self.pad_changes.append((t, pad))

    # ---- the serial interface ----------------------------------------------------------

    def read(self, reg: int, n: int, now: float) -> bytes:
        """A read of n bytes from reg (one I2C transaction), auto-incrementing with IF_ADD_INC."""
        self.advance(now)
        out = bytearray()
        for i in range(n):
            address = reg + i if self.regs[CTRL2] & _CTRL2_IF_ADD_INC else reg
            out.append(self._read_one(address & 0xFF))
        self._pad_update(now)
        return bytes(out)

    def _read_one(self, reg: int) -> int:
        if OUT_X_L <= reg <= OUT_Z_H and self.fifo_mode():  # not bypassed: the FIFO's oldest
            if reg == OUT_X_L or self._fifo_out is None:
                self._fifo_out = self._fifo_pop()
            raw = (self._fifo_out or [0, 0, 0])[(reg - OUT_X_L) // 2] & 0xFFFF
            if reg == OUT_Z_H:
                self._fifo_out = None
            return raw >> 8 if reg % 2 else raw & 0xFF
        if OUT_X_L <= reg <= OUT_Z_H:
            if self.regs[CTRL2] & _CTRL2_BDU and self._held is None and reg % 2 == 0:
                self._held = list(self.out)  # BDU: this axis' high byte comes from the same sample
            values = self._held if self._held is not None else self.out
            raw = values[(reg - OUT_X_L) // 2] & 0xFFFF
            if reg % 2:
                self._held = None
                self._drdy = False
                return raw >> 8
            return raw & 0xFF
        if reg == WHO_AM_I:
            return LIS2DW12_ID
        if reg in (STATUS, STATUS_DUP):
            drdy = _STATUS_DRDY if self._drdy else 0
            return drdy | (_STATUS_WU_IA if reg == STATUS and self._flags() & _SRC_WU_IA else 0)
        if reg in (WAKE_UP_SRC, ALL_INT_SRC):
            flags = self._flags()
            self._latched = 0  # reading either source register clears a latched wake-up
            if reg == WAKE_UP_SRC:
                return flags
            tap = self._read_tap_src()  # ALL_INT_SRC clears a latched tap too
            return (_ALL_WU_IA if flags & _SRC_WU_IA else 0) | (ALL_SINGLE_TAP if tap else 0)
        if reg == TAP_SRC:
            return self._read_tap_src()
        if reg == FIFO_SAMPLES:
            return self._fifo_samples()
        if reg in WRITABLE:
            return self.regs[reg]
        return 0  # temperature (25 degC), the 6D source, reserved addresses

    def write(self, reg: int, data: bytes, now: float) -> None:
        self.advance(now)
        for i, value in enumerate(data):
            address = reg + i if self.regs[CTRL2] & _CTRL2_IF_ADD_INC else reg
            if address not in WRITABLE:
                if not 0x0D <= address <= 0x3F or address in range(0x10, 0x20):
                    self.reserved_writes.append(address)
                continue  # outputs are read-only
            if address == CTRL2 and value & _CTRL2_SOFT_RESET:
                self.power_on(now)  # the bit clears itself once the registers are reset
                continue
            old = self.regs[address]
            self.regs[address] = value & ~_CTRL2_BOOT if address == CTRL2 else value
            if address == FIFO_CTRL:
                self._fifo_ctrl_written(old)
        self._restart_sampling(now)
        self._pad_update(now)

