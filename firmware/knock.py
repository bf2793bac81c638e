# The knock sensor: ST's LIS2DW12 accelerometer on the door leaf, on I2C (board["accel"]).
# Registers and bits from ST's lis2dw12_reg.h and the datasheet (DS11880); docs/knock.md.
# The part watches the door while the chip sleeps: its wake-up function drives INT1 (open
# drain, active low, latched) when the slope of a sample (the high-pass path) passes the
# threshold, and INT1 wakes the chip. A rap rings at tens of Hz for tens of ms, so the part
# samples at 200 Hz, the fastest its low-power modes run: at 50 Hz some raps fall between samples.
# For the door (door.py): the wake-up sees the low-pass path less the door's rest vector (the
# user offsets, CTRL7 USR_OFF_ON_WU), so a slowly swinging leaf wakes it too, which the slope
# does not; the FIFO runs continuous-to-FIFO, so after a wake it holds the 32 samples (160 ms)
# up to the wake-up, however long the chip took to boot; a single tap on Z over the blow
# threshold is latched (TAP_SRC), a blow's size kept for a chip that was asleep through it.

import asyncio
import time

from micropython import const

_WHO_AM_I = const(0x0F)
_PART_ID = const(0x44)
_CTRL1 = const(0x20)  # ODR 7-4, MODE 3-2 (00 low power), LP_MODE 1-0 (00: mode 1, 12-bit)
_CTRL2 = const(0x21)  # BOOT 7, SOFT_RESET 6, BDU 3, IF_ADD_INC 2
_CTRL3 = const(0x22)  # PP_OD 5, LIR 4, H_LACTIVE 3
_CTRL4_INT1 = const(0x23)  # INT1_WU 5
_CTRL6 = const(0x25)  # FS 5-4
_WAKE_UP_THS = const(0x34)  # WK_THS 5-0, 1 LSB = full scale / 64
_WAKE_UP_DUR = const(0x35)  # WAKE_DUR 6-5 (1 LSB = 1 / ODR)
_WAKE_UP_SRC = const(0x38)  # WU_IA 3; reading it releases a latched INT1
_CTRL7 = const(0x3F)  # INTERRUPTS_ENABLE 5, USR_OFF_ON_WU 3, USR_OFF_W 2
_OUT_X_L = const(0x28)
_FIFO_CTRL = const(0x2E)  # FMode 7-5 (0 bypass, 3 continuous-to-FIFO), FTH 4-0
_FIFO_SAMPLES = const(0x2F)  # Diff 5-0: unread samples
_TAP_THS_Z = const(0x32)  # TAP_Z_EN 5, TAP_THSZ 4-0 (1 LSB = full scale / 32)
_TAP_SRC = const(0x39)  # TAP_IA 6; reading it releases a latched tap
_ALL_INT_SRC = const(0x3B)  # reading it releases every latched source
_X_OFS_USR = const(0x3C)  # then Y, Z: two's complement, 15.6 mg a LSB with USR_OFF_W
_OFS_UG = const(15625)  # USR_OFF_W 1: 15.625 mg (lis2dw12_reg.h LIS2DW12_LSb_15mg6)
_WATCH = const(0x2C)  # CTRL7: INTERRUPTS_ENABLE | USR_OFF_ON_WU | USR_OFF_W
_CONT_TO_FIFO = const(0x60)
_TAP_Z_EN = const(0x20)
_INT1_WU_TAP = const(0x60)  # INT1_SINGLE_TAP | INT1_WU
_TAP_IA = const(0x40)
_IF_ADD_INC = const(0x04)
_SOFT_RESET = const(0x40)
_INT_OPEN_DRAIN_LOW_LATCHED = const(0x38)  # PP_OD | LIR | H_LACTIVE
_WU_IA = const(0x08)
_ODR_CODES = {50: 0x4, 100: 0x5, 200: 0x6}  # low power: codes 7-9 would run at 200 Hz too
_FS_CODES = {2: 0, 4: 1, 8: 2, 16: 3}


class KnockSensor:
    """The driver, on the hardware layer's bus and INT1 pin (hw.Hardware.knock_bus, knock_int)."""

    def __init__(self, cfg, i2c, int_pin):
        self._cfg = cfg
        self._addr = cfg["addr"]
        self._i2c = i2c
        self._int = self.pin = int_pin
        self._flag = asyncio.ThreadSafeFlag()
        self.buf = bytearray(6)  # one sample's bytes, X Y Z: read into, never allocated per read
        self.mg = [0, 0, 0]  # that sample in mg
        self.rest = [0, 0, 0]  # mg: the door at rest, as the user offsets hold it
        self.blow_mg = cfg["blow_mg"]  # the tap threshold: a blow on the leaf, not a knock
        self.mg_lsb = cfg["fs_g"] * 61  # per 2000 raw LSB: 0.061 mg at +-2 g (ST's lis2dw12_reg.c)

    def _write(self, reg, value):
        self._i2c.writeto_mem(self._addr, reg, bytes((value,)))

    def _read(self, reg):
        return self._i2c.readfrom_mem(self._addr, reg, 1)[0]

    def start(self, keep=False):
        """Check the part and set it watching; OSError if it does not answer. keep: it is set
        already (a wake from deep sleep: its latched interrupt says what woke the chip)."""
        if self._read(_WHO_AM_I) != _PART_ID:
            raise OSError(19)  # ENODEV: another part at the address
        if keep:  # the part's registers kept the rest vector the firmware measured
            for i in range(3):
                self.rest[i] = ((self._read(_X_OFS_USR + i) ^ 0x80) - 0x80) * _OFS_UG // 1000
        else:
            self._configure()
        # After the set-up: a soft reset drives INT1 low a moment (push-pull, active high).
        self._int.irq(self._on_int, self._int.IRQ_FALLING)

    def _configure(self):
        cfg = self._cfg
        self._write(_CTRL2, _SOFT_RESET)
        self._write(_CTRL2, _IF_ADD_INC)
        self._write(_CTRL6, _FS_CODES[cfg["fs_g"]] << 4)
        self._write(_CTRL3, _INT_OPEN_DRAIN_LOW_LATCHED)  # released: GPIO2 reads high
        lsb_mg = cfg["fs_g"] * 1000 // 64
        self._write(_WAKE_UP_THS, max(1, min(63, cfg["wake_mg"] // lsb_mg)))
        self._write(_WAKE_UP_DUR, 0)  # one sample over the threshold: a rap is short
        self._write(_TAP_THS_Z, _TAP_Z_EN | max(1, min(31, self.blow_mg * 32 // (cfg["fs_g"] * 1000))))
        self._write(_CTRL4_INT1, _INT1_WU_TAP)
        self._write(_CTRL1, _ODR_CODES[cfg["odr_hz"]] << 4)  # low-power mode 1
        time.sleep_ms(20)  # a few samples at 200 Hz: the door at rest, to subtract
        self.read_mg()
        for i in range(3):
            v = self.mg[i] * 1000
            ofs = max(-127, min(127, (abs(v) + _OFS_UG // 2) // _OFS_UG * (1 if v >= 0 else -1)))
            self._write(_X_OFS_USR + i, ofs & 0xFF)
            self.rest[i] = ofs * _OFS_UG // 1000
        self._write(_CTRL7, _WATCH)
        self.rearm()

    def _on_int(self, _pin):
        self._flag.set()

    def pending(self):
        """INT1 is held low: a wake-up the firmware has not read (it may have woken the chip)."""
        return self._int.value() == 0

    async def wait(self):
        await self._flag.wait()

    def clear(self):
        """Read (and so release) the latched wake-up; True if it was one."""
        return bool(self._read(_WAKE_UP_SRC) & _WU_IA)

    def tapped(self):
        """Read (and release) the latched tap: a blow over the blow threshold."""
        return bool(self._read(_TAP_SRC) & _TAP_IA)

    def stored(self):
        """How many samples the FIFO holds (each read_mg() takes the oldest)."""
        return self._read(_FIFO_SAMPLES) & 0x3F

    def read_mg(self):
        """One sample into self.mg (X, Y, Z in mg): the FIFO's oldest, or the newest when
        the FIFO is bypassed."""
        buf, mg = self.buf, self.mg
        self._i2c.readfrom_mem_into(self._addr, _OUT_X_L, buf)
        for i in range(3):
            raw = buf[2 * i] | buf[2 * i + 1] << 8
            mg[i] = (raw - 65536 if raw & 0x8000 else raw) * self.mg_lsb // 2000

    def bypass(self):
        """The FIFO emptied and off: read_mg() reads the newest sample."""
        self._write(_FIFO_CTRL, 0)

    def rearm(self):
        """Watch again: the FIFO restarted (through bypass, which empties it) as continuous-to-
        FIFO, every latched source released (so INT1 too)."""
        self._write(_FIFO_CTRL, 0)
        self._write(_FIFO_CTRL, _CONT_TO_FIFO)
        self._read(_ALL_INT_SRC)
