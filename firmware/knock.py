# The knock sensor: ST's LIS2DW12 accelerometer on the door leaf, on I2C (board["accel"]).
# Registers and bits from ST's lis2dw12_reg.h and the datasheet (DS11880); docs/knock.md.
# The part watches the door while the chip sleeps: its wake-up function drives INT1 (open
# drain, active low, latched) when the slope of a sample (the high-pass path) passes the
# threshold, and INT1 wakes the chip. A rap rings at tens of Hz for tens of ms, so the part
# samples at 200 Hz, the fastest its low-power modes run: at 50 Hz some raps fall between samples.

import asyncio

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
_CTRL7 = const(0x3F)  # INTERRUPTS_ENABLE 5
_IF_ADD_INC = const(0x04)
_SOFT_RESET = const(0x40)
_INT_OPEN_DRAIN_LOW_LATCHED = const(0x38)  # PP_OD | LIR | H_LACTIVE
_INT1_WU = const(0x20)
_INTERRUPTS_ENABLE = const(0x20)
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

    def _write(self, reg, value):
        self._i2c.writeto_mem(self._addr, reg, bytes((value,)))

    def _read(self, reg):
        return self._i2c.readfrom_mem(self._addr, reg, 1)[0]

    def start(self, keep=False):
        """Check the part and set it watching; OSError if it does not answer. keep: it is set
        already (a wake from deep sleep: its latched interrupt says what woke the chip)."""
        if self._read(_WHO_AM_I) != _PART_ID:
            raise OSError(19)  # ENODEV: another part at the address
        self._int.irq(self._on_int, self._int.IRQ_FALLING)
        if keep:
            return
        cfg = self._cfg
        self._write(_CTRL2, _SOFT_RESET)
        self._write(_CTRL2, _IF_ADD_INC)
        self._write(_CTRL6, _FS_CODES[cfg["fs_g"]] << 4)
        self._write(_CTRL3, _INT_OPEN_DRAIN_LOW_LATCHED)  # released: GPIO2 reads high
        lsb_mg = cfg["fs_g"] * 1000 // 64
        self._write(_WAKE_UP_THS, max(1, min(63, cfg["wake_mg"] // lsb_mg)))
        self._write(_WAKE_UP_DUR, 0)  # one sample over the threshold: a rap is short
        self._write(_CTRL4_INT1, _INT1_WU)
        self._write(_CTRL7, _INTERRUPTS_ENABLE)
        self._write(_CTRL1, _ODR_CODES[cfg["odr_hz"]] << 4)  # low-power mode 1

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
