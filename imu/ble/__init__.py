"""Bluetooth LE streaming on bleak: scanning, connecting (with reconnection), timing,
the BleSource live source and the recorder. Only this package imports bleak.

- `imu.ble.scanner`: find supported sensors nearby.
- `imu.ble.stream.BleSource`: a LiveSource (imu.sources) streaming from one sensor,
  reconnecting with back-off when the link drops.
- `imu.ble.timing`: sample times from device clocks and arrival times, losses, gaps.
- `imu.ble.recorder`: record a BleSource into a .pmrec file.
- `imu.ble.emulator`: an emulated BlueZ (private dbus-daemon) with virtual sensors of
  every profile, for tests and the demo.
"""
