"""Virtual sensor of the open profile (imu.devices.open_profile)."""

from __future__ import annotations

from imu.ble.emulator.bluez import LINK_MTU
from imu.ble.emulator.feed import Packet
from imu.ble.emulator.peripheral import (AttError, CharDef, ServiceDef, VirtualPeripheral,
                                         battery_service, device_information_service)
from imu.devices import open_profile as op

ACC_RANGES_G = (2, 4, 8, 16)
GYR_RANGES_DPS = (125, 250, 500, 1000, 2000)


class VirtualOpenSensor(VirtualPeripheral):
    profile = op.PROFILE
    advertised_uuids = (op.SERVICE_UUID,)

    def __init__(self, spec) -> None:
        super().__init__(spec)
        max_spn = (LINK_MTU - 3 - op.HEADER.size) // op.BYTES_PER_SAMPLE
        self.capabilities = op.OpenCapabilities(tuple(spec.rates_hz), ACC_RANGES_G,
                                                GYR_RANGES_DPS, max_spn)
        self.config = op.OpenConfig(100 if 100 in spec.rates_hz else spec.rates_hz[0], 16, 2000,
                                    op.batch_size(100, max_spn))

    def services(self) -> list[ServiceDef]:
        return [ServiceDef(op.SERVICE_UUID, (CharDef(op.DATA_UUID, ("notify",)),
                                             CharDef(op.CONFIG_UUID, ("read", "write")),
                                             CharDef(op.CAPABILITIES_UUID, ("read",)))),
                battery_service(), device_information_service()]

    async def read(self, uuid: str) -> bytes:
        if uuid == op.CONFIG_UUID:
            return self.config.encode()
        if uuid == op.CAPABILITIES_UUID:
            return self.capabilities.encode()
        return await super().read(uuid)

    async def write(self, uuid: str, value: bytes, with_response: bool) -> None:
        if uuid != op.CONFIG_UUID:
            raise AttError(0x03)
        if len(value) != op.CONFIG.size:
            raise AttError(0x0D)
        cfg = op.OpenConfig.decode(value)
        caps = self.capabilities
        if (cfg.rate_hz not in caps.rates_hz or cfg.acc_range_g not in caps.acc_ranges_g
                or cfg.gyr_range_dps not in caps.gyr_ranges_dps
                or not 1 <= cfg.samples_per_notification <= caps.max_samples_per_notification):
            raise AttError(0x13)  # value not allowed
        self.config = cfg
        if self.streaming:
            self._start()

    def subscription_changed(self, uuid: str, enabled: bool) -> None:
        if uuid == op.DATA_UUID:
            if enabled:
                self._start()
            else:
                self.streaming = False

    def _start(self) -> None:
        c = self.config
        self.start_feed(c.rate_hz, c.acc_range_g, c.gyr_range_dps, c.samples_per_notification)

    def emit(self, packet: Packet) -> None:
        t_us = int(round(float(packet.time_s[0]) * 1e6))
        self.notify(op.DATA_UUID, op.encode_frame(int(packet.seq[0]), t_us, packet.acc_counts,
                                                  packet.gyr_counts))
