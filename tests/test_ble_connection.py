"""Reconnection back-off (pure) and a canary for the bleak / bleak-retry-connector API we use."""

import inspect

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import (BleakBluetoothNotAvailableError, BleakDBusError, BleakDeviceNotFoundError,
                       BleakError, BleakGATTProtocolError)
import bleak_retry_connector

from imu.ble.bleak_link import gatt_error
from imu.ble.connection import ReconnectPolicy, reconnect_delay_s
from imu.ble.errors import bluez_hint


def test_backoff_doubles_up_to_the_cap():
    delays = [reconnect_delay_s(i, None) for i in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_a_device_that_is_not_advertising_is_asked_less_often():
    missing = BleakDeviceNotFoundError("AA:BB:CC:DD:EE:FF", "not found")
    assert reconnect_delay_s(0, missing) == 2.0
    assert reconnect_delay_s(5, missing) == 10.0
    assert reconnect_delay_s(0, missing, ReconnectPolicy(not_found_min_s=3.0)) == 3.0


def test_gatt_errors_keep_the_att_code_and_say_to_pair():
    refused = gatt_error("write", "u", BleakGATTProtocolError(0x13))
    assert refused.att_code == 0x13 and "value not allowed" in str(refused)
    not_paired = gatt_error("write", "u", BleakDBusError("org.bluez.Error.NotPermitted",
                                                         ["Not paired"]))
    assert not_paired.att_code == 0x05 and "pair" in str(not_paired).lower()
    other = gatt_error("read", "u", BleakError("Not connected"))
    assert other.att_code is None and "Not connected" in str(other)


def test_stack_failures_are_explained():
    assert "systemctl start bluetooth" in bluez_hint(
        BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["no bluez"]))
    assert "bluetoothctl" in bluez_hint(BleakBluetoothNotAvailableError("No Bluetooth adapters "
                                                                        "found.", None))
    assert "system D-Bus" in bluez_hint(FileNotFoundError(2, "No such file"))


@pytest.mark.parametrize("func, params", [
    (BleakScanner.discover, {"timeout", "return_adv"}),
    (BleakScanner.__init__, {"detection_callback"}),
    (BleakClient.__init__, {"disconnected_callback", "pair", "timeout"}),
    (BleakClient.start_notify, {"char_specifier", "callback"}),
    (BleakClient.write_gatt_char, {"char_specifier", "data", "response"}),
    (bleak_retry_connector.establish_connection,
     {"client_class", "device", "name", "disconnected_callback", "max_attempts", "pair"}),
])
def test_library_api_we_rely_on_is_still_there(func, params):
    """Canary: fails when an upgrade of bleak or bleak-retry-connector renames what we call."""
    assert params <= set(inspect.signature(func).parameters)


def test_gatt_protocol_error_exposes_its_code():
    assert int(BleakGATTProtocolError(0x05).code) == 0x05
