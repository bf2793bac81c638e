"""The LIS2DW12's FIFO, its user-offset wake-up path and its single-tap function (the part of
the model sim/lis2dw12.py leaves out of its own module): what the door events need.

Sources, as in sim/lis2dw12.py ("reg.h"/"reg.c": ST's lis2dw12-pid driver at d0a476d):
- FIFO_CTRL (0x2E) FTH[4:0], FMode[7:5]: 0 bypass, 1 FIFO, 3 continuous-to-FIFO, 4 bypass-to-
  continuous, 6 continuous (reg.h lis2dw12_fmode_t); FIFO_SAMPLES (0x2F) Diff[5:0] unread
  samples, FIFO_OVR bit 6, FIFO_FTH bit 7 (reg.h lis2dw12_fifo_samples_t); 32 levels of X, Y,
  Z (DS: "32-level FIFO"). Read through OUT_X_L..OUT_Z_H, oldest first, while the FIFO is not
  bypassed; bypass empties it. FIFO mode stops when full; continuous overwrites the oldest.
  Continuous-to-FIFO runs as continuous until the trigger, then as FIFO mode: full already,
  it stops, holding the 32 samples up to the trigger's. The trigger here is the wake-up event
  (assumed: the DS's list of trigger sources was not read here). That the part keeps mostly the
  samples before the threshold crossing is what a bench found on a real LIS2DW12 (Tlera's
  Sasquatch motion logger, github.com/kriswiner/Sasquatch-STM32WB5MMG, RobustMotionEventLogger
  readme: "most of the FIFO could describe the known stationary state before the threshold
  crossing"). Bypass-to-continuous: empty until the trigger, then continuous.
- CTRL7 USR_OFF_ON_WU (bit 3): the wake-up sees the low-pass path less the user offset instead
  of the high-pass path (reg.h lis2dw12_usr_off_on_wu_t: LIS2DW12_HP_FEED 0, _USER_OFFSET_FEED
  1); X/Y/Z_OFS_USR (0x3C-0x3E) two's complement, "in the range [-127 127]", weight by
  USR_OFF_W (bit 2): 0.977 mg or 15.6 mg (reg.c usr_offset_x_set; reg.h lis2dw12_usr_off_w_t).
  The offset is subtracted from the sample (assumed: it is a "correction"). The low-pass path's
  own filter (LPF1) is not modelled: the wake-up sees the sample.
- Single tap (WAKE_UP_THS SINGLE_DOUBLE_TAP 0): on an axis enabled in TAP_THS_Z (TAP_X/Y/Z_EN
  bits 7-5), the slope-filtered data over TAP_THSx[4:0] (1 LSB = FS/32: "0.063 g" a step at
  +-2 g, assumed from drivers' comments) that fall back under it within SHOCK (INT_DUR[1:0]:
  0 is 4/ODR, else 8/ODR a LSB, reg.c tap_shock_set) is a tap: TAP_SRC (0x39) TAP_IA 6,
  SINGLE_TAP 5, TAP_SIGN 3 (1: negative), X/Y/Z_TAP 2-0; ALL_INT_SRC SINGLE_TAP bit 2; INT1
  with CTRL4 INT1_SINGLE_TAP (bit 6). A tap is followed by QUIET (INT_DUR[3:2]: 0 is 2/ODR,
  else 4/ODR a LSB) in which none is seen. Latched (LIR) until TAP_SRC or ALL_INT_SRC is read;
  pulsed, it shows for one sample. Double tap, TAP_PRIOR and 4D/6D: not modelled.
"""

from __future__ import annotations

FIFO_CTRL, FIFO_SAMPLES, TAP_THS_X, TAP_THS_Y, TAP_THS_Z, INT_DUR, TAP_SRC = 0x2E, 0x2F, 0x30, 0x31, 0x32, 0x33, 0x39
X_OFS_USR = 0x3C
FIFO_DEPTH = 32
BYPASS, FIFO, CONTINUOUS_TO_FIFO, BYPASS_TO_CONTINUOUS, CONTINUOUS = 0, 1, 3, 4, 6
_CTRL7_USR_OFF_ON_WU, _CTRL7_USR_OFF_W = 0x08, 0x04
_CTRL4_INT1_SINGLE_TAP = 0x40
_TAP_IA, _SINGLE_TAP, _TAP_SIGN = 0x40, 0x20, 0x08
_TAP_AXES = ((0x80, 0x04), (0x40, 0x02), (0x20, 0x01))  # (TAP_THS_Z enable bit, TAP_SRC axis bit) X Y Z
_FIFO_OVR, _FIFO_FTH = 0x40, 0x80
ALL_SINGLE_TAP = 0x04


class FifoAndTap:
    """Mixed into Lis2dw12 (sim/lis2dw12.py): its regs, CTRL3 LIR and sample clock."""

    regs: bytearray

    def _reset_fifo_and_tap(self) -> None:
        self.fifo: list[list[int]] = []
        self._fifo_stopped = False  # FIFO mode (or continuous-to-FIFO after its trigger) full
        self._triggered = False  # continuous-to-FIFO / bypass-to-continuous: the trigger came
        self._tap_over = [0, 0, 0]  # samples each axis has been over the tap threshold
        self._tap_quiet = 0  # samples left of the quiet window after a tap
        self._tap_latched = self._tap_active = 0

    def fifo_mode(self) -> int:
        return self.regs[FIFO_CTRL] >> 5

    def _fifo_write(self, data: list[int]) -> None:
        """Store a sample as the FIFO's mode says (called for every sample the part takes)."""
        mode = self.fifo_mode()
        if mode == BYPASS or (mode == BYPASS_TO_CONTINUOUS and not self._triggered):
            return
        stops = mode == FIFO or (mode == CONTINUOUS_TO_FIFO and self._triggered)
        if len(self.fifo) >= FIFO_DEPTH:
            if stops:
                self._fifo_stopped = True
                return
            self.fifo.pop(0)  # continuous: the oldest goes
        self.fifo.append(list(data))

    def _fifo_trigger(self) -> None:
        """The wake-up event: continuous-to-FIFO stops once full (it is, if it ran a while)."""
        if not self._triggered:
            self._triggered = True
            if self.fifo_mode() == CONTINUOUS_TO_FIFO and len(self.fifo) >= FIFO_DEPTH:
                self._fifo_stopped = True

    def _fifo_ctrl_written(self, old: int) -> None:
        if self.regs[FIFO_CTRL] >> 5 == BYPASS or old >> 5 != self.regs[FIFO_CTRL] >> 5:
            self.fifo, self._fifo_stopped, self._triggered = [], False, False

    def _fifo_samples(self) -> int:
        level = min(len(self.fifo), FIFO_DEPTH)
        over = _FIFO_OVR if self._fifo_stopped or (len(self.fifo) >= FIFO_DEPTH and self.fifo_mode() != BYPASS) else 0
        fth = _FIFO_FTH if level > (self.regs[FIFO_CTRL] & 0x1F) else 0
        return level | over | fth

    def _fifo_pop(self) -> list[int] | None:
        """The oldest stored sample, as OUT_X_L..OUT_Z_H read it (None: the FIFO is bypassed)."""
        if self.fifo_mode() == BYPASS:
            return None
        if not self.fifo:
            return [0, 0, 0]  # empty (assumed: the DS's reading of an empty FIFO was not read)
        sample = self.fifo.pop(0)
        self._fifo_stopped = False  # room again: FIFO mode takes the next samples
        return sample

    # ---- the user-offset path ---------------------------------------------------------

    def user_offset_mg(self) -> list[float]:
        weight = 15.625 if self.regs[0x3F] & _CTRL7_USR_OFF_W else 0.977
        return [((value ^ 0x80) - 0x80) * weight for value in self.regs[X_OFS_USR:X_OFS_USR + 3]]

    def _wake_up_input(self, sample_mg: list[float], high_passed: list[float]) -> list[float]:
        if not self.regs[0x3F] & _CTRL7_USR_OFF_ON_WU:
            return high_passed
        return [value - offset for value, offset in zip(sample_mg, self.user_offset_mg())]

    # ---- single tap -------------------------------------------------------------------

    def _tap_threshold_mg(self, axis: int) -> float:
        return (self.regs[TAP_THS_X + axis] & 0x1F) * self.full_scale_mg() / 32  # type: ignore[attr-defined]

    def _shock_samples(self) -> int:
        shock = self.regs[INT_DUR] & 3
        return 8 * shock if shock else 4

    def _quiet_samples(self) -> int:
        quiet = (self.regs[INT_DUR] >> 2) & 3
        return 4 * quiet if quiet else 2

    def _tap(self, slope: list[float]) -> None:
        self._tap_active = 0
        if self._tap_quiet:
            self._tap_quiet -= 1
            return
        for axis, (enable, bit) in enumerate(_TAP_AXES):
            threshold = self._tap_threshold_mg(axis)
            if not self.regs[TAP_THS_Z] & enable or not threshold:
                continue
            if abs(slope[axis]) > threshold:
                self._tap_over[axis] += 1
                self._tap_sign = slope[axis] < 0
                continue
            over, self._tap_over[axis] = self._tap_over[axis], 0
            if 0 < over <= self._shock_samples():  # over and back within the shock window
                self._tap_active = _TAP_IA | _SINGLE_TAP | bit | (_TAP_SIGN if self._tap_sign else 0)
                if self.regs[0x22] & 0x10:  # CTRL3 LIR
                    self._tap_latched |= self._tap_active
                self._tap_quiet = self._quiet_samples()
                self._tap_over = [0, 0, 0]
                return

    def _tap_flags(self) -> int:
        return self._tap_latched if self.regs[0x22] & 0x10 else self._tap_active

    def _tap_on_int1(self) -> bool:
        return bool(self._tap_flags() & _TAP_IA and self.regs[0x23] & _CTRL4_INT1_SINGLE_TAP)

    def _read_tap_src(self) -> int:
        flags = self._tap_flags()
        self._tap_latched = 0
        return flags
